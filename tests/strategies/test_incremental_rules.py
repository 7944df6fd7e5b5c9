"""The stopping rules' caches give the answers a full pass over the history gives.

A job is played out at random (trials added, reports, stops, failures, retries that clear a
curve) in a TrialHistory. At every report the rule that kept its cache across calls must decide
exactly as a brand-new rule handed a plain list (which rebuilds everything), and as a
brute-force reference of the documented rule written here from the definitions.
"""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import HyperbandStrategy, MedianStoppingRule, Trial, TrialStatus
from strategies.history import ChangeFeed, TrialHistory
from strategies.sorted_values import SortedValues
from strategies.space import ContinuousParameter, SearchSpace

FINISHED = (TrialStatus.COMPLETED, TrialStatus.STOPPED)


def _median_reference(rule: MedianStoppingRule, trial: Trial, history: list[Trial]) -> bool:
    epoch = len(trial.curve)
    if epoch < rule.min_epochs:
        return False
    means = [
        sum(v for _, v in t.curve[:epoch]) / epoch
        for t in history
        if t.number != trial.number and t.status in FINISHED and len(t.curve) >= epoch
    ]
    return len(means) >= rule.min_trials and trial.curve[-1][1] > statistics.median(means)


def _play(seed: int, steps: int):  # noqa: ANN202 - a generator of (trial, history) pairs
    """A random job: yields (reporting trial, history) after each report."""
    rng = np.random.default_rng(seed)
    history = TrialHistory()
    curves: dict[int, list[tuple[int, float]]] = {}
    for _ in range(steps):
        running = [t for t in history if t.status is TrialStatus.IN_PROGRESS]
        if not running or (len(running) < 4 and rng.random() < 0.3):
            number = len(history) + 1
            curves[number] = []
            history.append(Trial(number, {"x": 0.5}, TrialStatus.IN_PROGRESS, bracket=None))
            continue
        trial = running[int(rng.integers(len(running)))]
        event = rng.random()
        index = trial.number - 1
        if event < 0.08:  # it ends, one way or another
            status = rng.choice([TrialStatus.COMPLETED, TrialStatus.STOPPED, TrialStatus.FAILED])
            history.replace(index, Trial(trial.number, {}, status, curve=trial.curve))
        elif event < 0.1:  # a retry: the curve starts again
            curves[trial.number] = []
            history.replace(index, Trial(trial.number, {}, TrialStatus.IN_PROGRESS))
        else:
            curve = curves[trial.number]
            value = float(np.round(rng.normal(1.0 / (1 + len(curve)), 0.3), 2))  # ties happen
            curve.append((len(curve) + 1, value))
            reported = Trial(trial.number, {}, TrialStatus.IN_PROGRESS, curve=tuple(curve))
            history.replace(index, reported)
            yield reported, history


@pytest.mark.parametrize("seed", range(6))
def test_median_rule_cache_matches_a_full_pass(seed: int) -> None:
    kept = MedianStoppingRule(min_trials=2)
    for trial, history in _play(seed, 1500):
        cached = kept.should_stop(trial, history) is not None
        fresh = MedianStoppingRule(min_trials=2).should_stop(trial, list(history)) is not None
        assert cached == fresh == _median_reference(kept, trial, list(history))


def _hyperband_reference(rule: HyperbandStrategy, trial: Trial, history: list[Trial]) -> bool:
    resource = len(trial.curve)
    bracket = rule.bracket_of(trial.number)
    if resource not in rule.schedule.rungs(bracket) or resource >= rule.schedule.max_resource:
        return False
    recorded = [
        t.curve[resource - 1][1]
        for t in history
        if len(t.curve) >= resource
        and t.number != trial.number
        and rule.bracket_of(t.number) == bracket
    ]
    if not recorded:
        return False
    value = trial.curve[resource - 1][1]
    return value > float(np.quantile([*recorded, value], 1 / rule.schedule.eta))


def _hyperband(seed: int) -> HyperbandStrategy:
    space = SearchSpace({"x": ContinuousParameter(0.0, 1.0)})
    return HyperbandStrategy(space, seed=seed, min_resource=1, max_resource=27)


@pytest.mark.parametrize("seed", range(6))
def test_hyperband_rung_cache_matches_a_full_pass(seed: int) -> None:
    kept, decisions = _hyperband(seed), 0
    for trial, history in _play(seed, 1500):
        cached = kept.should_stop(trial, history)
        fresh = _hyperband(seed).should_stop(trial, list(history))
        assert (cached is None) == (fresh is None)
        if len(trial.curve) < 27:
            assert (cached is not None) == _hyperband_reference(kept, trial, list(history))
        decisions += cached is not None
    assert decisions > 0  # the rungs were exercised


def test_a_new_history_object_rebuilds_the_cache() -> None:
    rule = MedianStoppingRule(min_trials=1)
    done = Trial(1, {}, TrialStatus.COMPLETED, value=1.0, curve=((1, 1.0),))
    assert rule.median_at(1, TrialHistory([done]), exclude=99) == 1.0
    other = Trial(1, {}, TrialStatus.COMPLETED, value=3.0, curve=((1, 3.0),))
    assert rule.median_at(1, TrialHistory([other]), exclude=99) == 3.0  # not the old 1.0


def test_change_feed_visits_only_what_changed() -> None:
    seen: list[int] = []
    feed = ChangeFeed(seen.clear, lambda t: seen.append(t.number))
    history = TrialHistory(Trial(n, {}, TrialStatus.IN_PROGRESS) for n in (1, 2, 3))
    feed.sync(history)
    assert seen == [1, 2, 3]
    history.replace(1, Trial(2, {}, TrialStatus.COMPLETED))
    history.replace(1, Trial(2, {}, TrialStatus.COMPLETED))
    feed.sync(history)
    assert seen == [1, 2, 3, 2]  # one visit for two changes of the same trial
    feed.sync(list(history))
    assert seen == [1, 2, 3]  # a plain list: reset, then everything


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40),
    st.floats(0.0, 1.0),
)
def test_sorted_values_order_statistics_are_numpys(values: list[float], q: float) -> None:
    sorted_values = SortedValues()
    for value in values:
        sorted_values.add(value)
    assert sorted_values.quantile(q) == float(np.quantile(values, q))
    assert sorted_values.median() == statistics.median(values)
    if len(values) > 1:
        rest = list(values)
        rest.remove(values[0])
        assert sorted_values.median(without=values[0]) == statistics.median(rest)
        assert sorted_values.count(without=values[0]) == len(values) - 1


def test_sorted_values_refuse_nan_and_missing_values() -> None:
    values = SortedValues()
    with pytest.raises(ValueError, match="NaN"):
        values.add(float("nan"))
    with pytest.raises(ValueError, match="not in"):
        values.remove(1.0)
