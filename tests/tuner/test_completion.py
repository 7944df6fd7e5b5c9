"""Completion criteria as tables: final values in finishing order -> the reason the job ends."""

from __future__ import annotations

import math

import pytest

from tuner.completion import CompletionCriteria, CompletionReason, CompletionTracker
from tuner.objective import Objective, ObjectiveType

MIN = Objective("loss", ObjectiveType.MINIMIZE)
MAX = Objective("auc", ObjectiveType.MAXIMIZE)


def _tracker(objective: Objective, values: list[float], **criteria) -> CompletionTracker:
    tracker = CompletionTracker(objective, CompletionCriteria(max_jobs=50, **criteria))
    for i, value in enumerate(values, 1):
        tracker.record(value, f"job-{i}")
    return tracker


@pytest.mark.parametrize(
    ("objective", "values", "criteria", "elapsed", "reason"),
    [
        (MIN, [], {}, 1e9, None),
        (MIN, [], {"max_runtime_s": 60.0}, 59.9, None),
        (MIN, [], {"max_runtime_s": 60.0}, 60.0, CompletionReason.MAX_RUNTIME),
        (MIN, [3.0, 2.0], {"target_value": 1.0}, 0.0, None),
        (MIN, [3.0, 1.0], {"target_value": 1.0}, 0.0, CompletionReason.TARGET_REACHED),
        (MAX, [0.8, 0.91], {"target_value": 0.9}, 0.0, CompletionReason.TARGET_REACHED),
        (MAX, [0.8, 0.89], {"target_value": 0.9}, 0.0, None),
        # 10 -> 9.95 improves by 0.5% only: not improving (but it becomes the reference)
        (
            MIN,
            [10.0, 9.95, 9.9],
            {"max_jobs_not_improving": 2},
            0.0,
            CompletionReason.NOT_IMPROVING,
        ),
        (MIN, [10.0, 9.95, 5.0], {"max_jobs_not_improving": 2}, 0.0, None),
        (MIN, [10.0, 11.0, 12.0], {"max_jobs_not_improving": 3}, 0.0, None),
        (MAX, [0.5, 0.6, 0.7], {"max_jobs_not_improving": 1}, 0.0, None),
        (MIN, [1.0] + [2.0] * 9, {"complete_on_convergence": True}, 0.0, None),
        (
            MIN,
            [1.0] + [2.0] * 10,
            {"complete_on_convergence": True},
            0.0,
            CompletionReason.CONVERGED,
        ),
        # the runtime limit is checked first when several criteria hold
        (
            MIN,
            [1.0],
            {"max_runtime_s": 5.0, "target_value": 2.0},
            9.0,
            CompletionReason.MAX_RUNTIME,
        ),
    ],
)
def test_completion_reason(objective, values, criteria, elapsed, reason) -> None:
    tracker = _tracker(objective, values, **criteria)
    assert tracker.reason(elapsed_s=elapsed, now=1000.0) == reason


def test_best_value_and_name_follow_the_objective_direction() -> None:
    assert (_tracker(MIN, [3.0, 1.0, 2.0]).best, _tracker(MIN, [3.0, 1.0, 2.0]).best_name) == (
        1.0,
        "job-2",
    )
    assert _tracker(MAX, [0.3, 0.9, 0.5]).best_name == "job-2"
    assert _tracker(MIN, [2.0, 2.0]).best_name == "job-1"  # the first wins ties


def test_not_finite_values_are_ignored() -> None:
    tracker = _tracker(MIN, [math.inf, 2.0, math.nan], max_jobs_not_improving=1)
    assert tracker.best == 2.0 and tracker.not_improving == 0


def test_details_carry_the_not_improving_count_and_the_convergence_time() -> None:
    tracker = _tracker(MIN, [1.0] + [2.0] * 10, complete_on_convergence=True)
    assert tracker.reason(elapsed_s=0.0, now=1234.0) is CompletionReason.CONVERGED
    assert tracker.details == {
        "NumberOfTrainingJobsObjectiveNotImproving": 10,
        "ConvergenceDetectedTime": 1234.0,
    }


def test_convergence_window_grows_with_the_budget() -> None:
    assert CompletionCriteria(max_jobs=20).convergence_window == 10
    assert CompletionCriteria(max_jobs=500).convergence_window == 100
