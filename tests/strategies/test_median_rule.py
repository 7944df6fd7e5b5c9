"""The median stopping rule on hand-made curves whose answer is known."""

from __future__ import annotations

import pytest

from strategies import MedianStoppingRule, Trial, TrialStatus


def _trial(number: int, values: list[float], status: TrialStatus = TrialStatus.COMPLETED) -> Trial:
    curve = tuple((i + 1, v) for i, v in enumerate(values))
    return Trial(number, {}, status, value=values[-1] if values else None, curve=curve)


# Finished trials (losses): running means at epoch 1 = 1, 2, 3 -> median 2;
# at epoch 2 = 1, 2, 3 too (constant curves).
FINISHED = [_trial(1, [1.0, 1.0, 1.0]), _trial(2, [2.0, 2.0, 2.0]), _trial(3, [3.0, 3.0, 3.0])]


@pytest.mark.parametrize(
    ("curve", "stop"),
    [
        ([2.5], True),  # worse than the median 2
        ([2.0], False),  # equal: keeps running (strictly worse is needed)
        ([1.5], False),
        ([1.5, 2.5], True),  # the latest value counts, not the best
        ([2.5, 1.0], False),
    ],
)
def test_median_rule_compares_latest_value_with_median_of_running_means(curve, stop) -> None:
    rule = MedianStoppingRule()
    current = _trial(4, curve, TrialStatus.IN_PROGRESS)
    assert (rule.should_stop(current, [*FINISHED, current]) is not None) is stop


def test_running_means_not_last_values() -> None:
    # Curves that improve fast: means at epoch 2 are (10+1)/2=5.5, (10+2)/2=6, (10+3)/2=6.5.
    finished = [_trial(1, [10.0, 1.0]), _trial(2, [10.0, 2.0]), _trial(3, [10.0, 3.0])]
    rule = MedianStoppingRule()
    assert rule.median_at(2, finished, exclude=99) == pytest.approx(6.0)
    current = _trial(4, [10.0, 5.0], TrialStatus.IN_PROGRESS)
    assert rule.should_stop(current, [*finished, current]) is None  # 5 < 6 even though 5 > 3


def test_median_rule_waits_for_min_trials() -> None:
    rule = MedianStoppingRule(min_trials=3)
    current = _trial(3, [100.0], TrialStatus.IN_PROGRESS)
    assert rule.should_stop(current, [*FINISHED[:2], current]) is None


def test_running_and_failed_trials_do_not_count() -> None:
    rule = MedianStoppingRule()
    others = [
        _trial(1, [1.0], TrialStatus.IN_PROGRESS),
        _trial(2, [1.0], TrialStatus.FAILED),
        _trial(3, [1.0], TrialStatus.COMPLETED),
        _trial(4, [1.0], TrialStatus.STOPPED),
    ]
    current = _trial(5, [5.0], TrialStatus.IN_PROGRESS)
    assert rule.should_stop(current, [*others, current]) is None  # only 2 counted
    assert rule.should_stop(current, [*others, _trial(6, [1.0]), current]) is not None


def test_only_trials_that_reached_the_epoch_count() -> None:
    rule = MedianStoppingRule()
    short = [_trial(i, [1.0], TrialStatus.STOPPED) for i in range(1, 4)]
    current = _trial(9, [0.5, 9.0], TrialStatus.IN_PROGRESS)
    assert rule.should_stop(current, [*short, current]) is None  # nobody reached epoch 2


def test_min_epochs_warm_up() -> None:
    rule = MedianStoppingRule(min_epochs=2)
    current = _trial(4, [9.0], TrialStatus.IN_PROGRESS)
    assert rule.should_stop(current, [*FINISHED, current]) is None


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"min_trials": 0}, "min_trials"), ({"min_epochs": 0}, "min_epochs")]
)
def test_invalid_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        MedianStoppingRule(**kwargs)
