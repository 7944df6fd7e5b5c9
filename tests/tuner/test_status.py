"""AMT's view of statuses: Pending shows as InProgress, and the two counters."""

from __future__ import annotations

import pytest

from tuner.pools.stop_deadlines import StopDeadlines
from tuner.status import (
    JobStatus,
    ObjectiveStatus,
    StatusCounters,
    TrialStatus,
    amt_training_status,
    objective_status_for,
)


@pytest.mark.parametrize(
    ("status", "has_value", "shown", "objective"),
    [
        ("Pending", False, "InProgress", "Pending"),
        ("InProgress", True, "InProgress", "Pending"),
        ("Completed", True, "Completed", "Succeeded"),
        ("Completed", False, "Completed", "Failed"),
        ("Stopped", True, "Stopped", "Succeeded"),
        ("Stopped", False, "Stopped", "Failed"),
        ("Failed", False, "Failed", "Failed"),
    ],
)
def test_amt_status_and_objective_status(status, has_value, shown, objective) -> None:
    assert amt_training_status(status) == shown
    assert objective_status_for(status, has_value) == objective


@pytest.mark.parametrize(
    ("rows", "status", "objective"),
    [
        ([], {}, {}),
        (
            [("Pending", None, False, 2), ("InProgress", None, False, 1)],
            {"InProgress": 3},
            {"Pending": 3},
        ),
        (
            [("Failed", True, False, 1), ("Failed", False, False, 2), ("Failed", None, False, 1)],
            {"RetryableError": 1, "NonRetryableError": 3},
            {"Failed": 4},
        ),
        (
            [
                ("Completed", None, True, 4),
                ("Stopped", None, True, 1),
                ("Completed", None, False, 1),
            ],
            {"Completed": 5, "Stopped": 1},
            {"Succeeded": 5, "Failed": 1},
        ),
    ],
)
def test_counters_fold_rows_like_amt(rows, status, objective) -> None:
    counted = StatusCounters()
    for s, retryable, has_value, count in rows:
        counted.add(s, retryable=retryable, has_value=has_value, count=count)
    zero_status = dict.fromkeys(
        ["Completed", "InProgress", "RetryableError", "NonRetryableError", "Stopped"], 0
    )
    assert counted.status == {**zero_status, **status}
    assert counted.objective == {
        **dict.fromkeys(["Succeeded", "Pending", "Failed"], 0),
        **objective,
    }
    assert counted.total == sum(r[3] for r in rows)


def test_statuses_compare_equal_to_their_stored_strings() -> None:
    assert JobStatus("Stopping") is JobStatus.STOPPING and JobStatus.STOPPING == "Stopping"
    assert [s for s in JobStatus if s.is_terminal] == ["Completed", "Failed", "Stopped"]
    assert TrialStatus.PENDING == "Pending" and ObjectiveStatus.SUCCEEDED == "Succeeded"
    with pytest.raises(ValueError, match="'Deleting' is not a valid JobStatus"):
        JobStatus("Deleting")


def test_stop_deadlines_fall_due_after_the_grace_period() -> None:
    now = [0.0]
    deadlines = StopDeadlines(0.5, clock=lambda: now[0])
    assert deadlines.request(1) and not deadlines.request(1)  # once per trial
    assert 1 in deadlines and deadlines.wait_s(10.0) == 0.5
    now[0] = 0.3
    assert deadlines.overdue() == [] and deadlines.wait_s(10.0) == pytest.approx(0.2)
    deadlines.request(2)
    now[0] = 0.5
    assert deadlines.overdue() == [1] and 1 not in deadlines and 2 in deadlines
    deadlines.discard(2)
    assert not deadlines and deadlines.wait_s(3.0) == 3.0
