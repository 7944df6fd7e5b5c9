"""The stopping-rule contract, run against every rule the registry can build.

Rules come from ``strategies.registry``: each early-stopping type with a rule (``Auto``: the
median rule) and each strategy that stops trials itself (Hyperband's rungs). Every rule must
be pure and replayable (the same trial and history give the same decision, from a fresh
instance too, whatever the order of the history, without changing its inputs), never stop a
trial before its first report, answer None or a :class:`StopDecision` with a reason, and never
cut short the trial that is best at every report so far (at most it ends it as Completed, at
the end of its budget).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest

from strategies import (
    EARLY_STOPPING_TYPES,
    STRATEGIES,
    ContinuousParameter,
    EarlyStopper,
    SearchSpace,
    StopDecision,
    Trial,
    TrialStatus,
    build_search,
)

SPACE = SearchSpace({"x": ContinuousParameter(0.0, 1.0)})
#: Options of the strategies that bring a rule (as in the strategy contract).
OPTIONS = {"Hyperband": {"min_resource": 1, "max_resource": 9}}


def _rules() -> dict[str, Callable[[], EarlyStopper]]:
    rules: dict[str, Callable[[], EarlyStopper]] = {}
    for kind, rule in EARLY_STOPPING_TYPES.items():
        if rule is not None:
            rules[f"early stopping {kind}"] = rule
    for name, entry in STRATEGIES.items():
        if entry.stops_trials:

            def make(name: str = name) -> EarlyStopper:
                stopper = build_search(name, SPACE, 5, options=OPTIONS.get(name, {})).stopper
                assert stopper is not None
                return stopper

            rules[f"strategy {name}"] = make
    return rules


RULES = _rules()


@pytest.fixture(params=sorted(RULES))
def make_rule(request: pytest.FixtureRequest) -> Callable[[], EarlyStopper]:
    return RULES[request.param]


def _job(seed: int, n: int = 40) -> list[Trial]:
    """Finished and running trials with noisy decreasing curves of different lengths."""
    rng = np.random.default_rng(seed)
    trials = []
    for number in range(1, n + 1):
        level = rng.uniform(0.0, 2.0)
        length = int(rng.integers(1, 10))
        curve = tuple(
            (e, float(level + 1.0 / e + rng.normal(0, 0.05))) for e in range(1, length + 1)
        )
        status = (
            TrialStatus.IN_PROGRESS
            if number > n - 4
            else rng.choice([TrialStatus.COMPLETED, TrialStatus.STOPPED])
        )
        trials.append(Trial(number, {"x": level / 2}, TrialStatus(status), curve[-1][1], curve))
    return trials


def _decisions(rule: EarlyStopper, history: list[Trial]) -> list[StopDecision | None]:
    return [rule.should_stop(t, history) for t in history if t.status is TrialStatus.IN_PROGRESS]


def test_rules_are_pure_and_replayable(make_rule) -> None:
    for seed in range(5):
        history = _job(seed)
        before = list(history)
        decisions = _decisions(make_rule(), history)
        assert _decisions(make_rule(), history) == decisions  # a fresh instance
        shuffled = list(history)
        random.Random(seed).shuffle(shuffled)
        running = [t for t in history if t.status is TrialStatus.IN_PROGRESS]
        rule = make_rule()
        assert [rule.should_stop(t, shuffled) for t in running] == decisions  # any order
        assert history == before


def test_decisions_are_none_or_a_reason(make_rule) -> None:
    seen = []
    for seed in range(10):
        for decision in _decisions(make_rule(), _job(seed)):
            assert decision is None or (
                isinstance(decision, StopDecision)
                and isinstance(decision.reason, str)
                and decision.reason
                and isinstance(decision.completed, bool)
            )
            seen.append(decision)
    assert any(d is not None for d in seen), "the rule never stopped anything"


def test_no_trial_is_stopped_before_its_first_report(make_rule) -> None:
    history = _job(0)
    fresh = Trial(len(history) + 1, {"x": 0.5}, TrialStatus.IN_PROGRESS)
    assert make_rule().should_stop(fresh, [*history, fresh]) is None


def test_the_best_trial_is_never_cut_short(make_rule) -> None:
    for seed in range(5):
        history = _job(seed)
        for length in range(1, 12):
            best = Trial(
                len(history) + 1,
                {"x": 0.0},
                TrialStatus.IN_PROGRESS,
                curve=tuple((e, -10.0 - e) for e in range(1, length + 1)),
            )
            decision = make_rule().should_stop(best, [*history, best])
            assert decision is None or decision.completed, (seed, length, decision)
