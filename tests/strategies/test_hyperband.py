"""Hyperband (ASHA stopping variant): schedules, rung decisions on hand-made curves, resources."""

from __future__ import annotations

import pytest

from strategies import (
    ContinuousParameter,
    HyperbandSchedule,
    HyperbandStrategy,
    RandomStrategy,
    SearchSpace,
    Suggestion,
    Trial,
    TrialStatus,
    infer_max_resource,
)

SPACE = SearchSpace({"x": ContinuousParameter(0.0, 1.0)})


@pytest.mark.parametrize(
    ("min_r", "max_r", "eta", "s_max", "rungs"),
    [
        (1, 27, 3, 3, {3: [1, 3, 9], 2: [3, 9], 1: [9], 0: []}),
        (1, 30, 3, 3, {3: [1, 3, 9, 27], 2: [3, 9, 27], 1: [9, 27], 0: [27]}),
        (2, 20, 3, 2, {2: [2, 6, 18], 1: [6, 18], 0: [18]}),
        (1, 10, 2, 3, {3: [1, 2, 4, 8], 2: [2, 4, 8], 1: [4, 8], 0: [8]}),
        (5, 5, 3, 0, {0: []}),
    ],
)
def test_schedule_rungs(min_r, max_r, eta, s_max, rungs) -> None:
    schedule = HyperbandSchedule(min_r, max_r, eta)
    assert schedule.s_max == s_max
    assert {s: schedule.rungs(s) for s in range(s_max + 1)} == rungs


def test_bracket_weights_favour_aggressive_brackets() -> None:
    weights = HyperbandSchedule(1, 27, 3).bracket_weights()
    assert weights.sum() == pytest.approx(1.0)
    assert list(weights) == sorted(weights)  # s = s_max (first rung at MinResource) most often


@pytest.mark.parametrize(
    ("min_r", "max_r", "eta", "match"),
    [
        (0, 10, 3, "MinResource must be >= 1"),
        (5, 4, 3, r"MaxResource \(4\) must be >= MinResource \(5\)"),
        (1, 10, 1, "reduction factor must be >= 2"),
    ],
)
def test_schedule_validation(min_r, max_r, eta, match) -> None:
    with pytest.raises(ValueError, match=match):
        HyperbandSchedule(min_r, max_r, eta)


def _strategy(**kw) -> HyperbandStrategy:
    return HyperbandStrategy(
        SPACE,
        seed=0,
        min_resource=kw.pop("min_resource", 1),
        max_resource=kw.pop("max_resource", 9),
        **kw,
    )


def _trial(number: int, curve: list[float], status=TrialStatus.IN_PROGRESS) -> Trial:
    return Trial(
        number,
        {"x": 0.5},
        status,
        value=curve[-1] if curve else None,
        curve=tuple(enumerate(curve, 1)),
    )


def _same_bracket(strategy: HyperbandStrategy, bracket: int, n: int) -> list[int]:
    numbers = [k for k in range(1, 500) if strategy.bracket_of(k) == bracket]
    assert len(numbers) >= n
    return numbers[:n]


def test_rung_decision_keeps_the_best_third() -> None:
    strategy = _strategy(min_resource=1, max_resource=9)
    bracket = strategy.schedule.s_max  # rungs at 1 and 3
    assert strategy.schedule.rungs(bracket) == [1, 3]
    a, b, c, d = _same_bracket(strategy, bracket, 4)
    done = [
        _trial(a, [0.1], TrialStatus.STOPPED),
        _trial(b, [0.5], TrialStatus.STOPPED),
        _trial(c, [0.9], TrialStatus.STOPPED),
    ]
    # losses 0.1, 0.5, 0.9 and the new one: the cutoff is their 1/3 quantile (the best third
    # continues), as Ray's ASHA keeps rewards above the 2/3 percentile
    good, middling, bad = _trial(d, [0.05]), _trial(d, [0.6]), _trial(d, [0.95])
    assert strategy.should_stop(good, [*done, good]) is None  # cutoff 0.1
    decision = strategy.should_stop(middling, [*done, middling])  # cutoff 0.5
    assert decision is not None and not decision.completed
    assert "top 1/3 of its bracket at rung 1" in decision.reason
    assert strategy.should_stop(bad, [*done, bad]) is not None
    tied = _trial(d, [0.1])
    assert strategy.should_stop(tied, [*done, tied]) is None  # equal to the cutoff: continues


def test_first_trial_at_a_rung_continues() -> None:
    strategy = _strategy()
    bracket = strategy.schedule.s_max
    (a,) = _same_bracket(strategy, bracket, 1)
    alone = _trial(a, [100.0])
    assert strategy.should_stop(alone, [alone]) is None


def test_trials_of_other_brackets_do_not_count() -> None:
    strategy = _strategy()
    s_max = strategy.schedule.s_max
    others = [_trial(n, [0.0], TrialStatus.COMPLETED) for n in _same_bracket(strategy, 0, 5)]
    (mine,) = _same_bracket(strategy, s_max, 1)
    trial = _trial(mine, [1.0])
    assert strategy.should_stop(trial, [*others, trial]) is None


def test_never_stopped_between_rungs_or_before_min_resource() -> None:
    strategy = _strategy(min_resource=3, max_resource=27)
    bracket = strategy.schedule.s_max  # rungs at 3 and 9
    numbers = _same_bracket(strategy, bracket, 4)
    history = [_trial(n, [0.0] * 5, TrialStatus.COMPLETED) for n in numbers[:3]]
    for length in (1, 2, 4, 5):
        trial = _trial(numbers[3], [9.0] * length)
        assert strategy.should_stop(trial, [*history, trial]) is None
    trial = _trial(numbers[3], [9.0] * 3)
    assert strategy.should_stop(trial, [*history, trial]) is not None


def test_always_stopped_at_max_resource() -> None:
    strategy = _strategy(max_resource=9)
    trial = _trial(1, [0.0] * 9)
    decision = strategy.should_stop(trial, [trial])
    assert decision is not None and decision.completed  # the whole budget: Completed
    assert "MaxResource (9)" in decision.reason


def test_min_resource_above_every_rung_means_no_stop_before_max() -> None:
    strategy = _strategy(min_resource=9, max_resource=9)
    trial = _trial(1, [5.0] * 8)
    assert (
        strategy.should_stop(trial, [_trial(2, [0.0] * 9, TrialStatus.COMPLETED), trial]) is None
    )


def test_configurations_are_random_and_seeded_like_random_search() -> None:
    hyperband, random = _strategy(), RandomStrategy(SPACE, seed=0)
    history: list[Trial] = []
    for _ in range(5):
        suggestion = hyperband.ask(history)
        config = suggestion.config
        assert config == random.ask(history).config
        assert suggestion.bracket == hyperband.bracket_of(len(history) + 1)
        history.append(Trial(len(history) + 1, config, TrialStatus.PENDING))


def test_brackets_are_deterministic_and_all_used() -> None:
    a, b = _strategy(), _strategy()
    brackets = [a.bracket_of(n) for n in range(1, 200)]
    assert brackets == [b.bracket_of(n) for n in range(1, 200)]
    assert set(brackets) == set(range(a.schedule.s_max + 1))


@pytest.mark.parametrize(
    ("static", "expected"),
    [
        ({"epochs": "30"}, 30),
        ({"num_epochs": "12"}, 12),
        ({"n-epochs": "5"}, 5),
        ({"numepochs": "7"}, 7),
        ({"n_epochs": "9"}, 9),
        ({"epochs": "10", "num_epochs": "99"}, 10),
        ({"num_round": "50"}, None),
        ({"epochs": "zero"}, None),
        ({"epochs": "0"}, None),
    ],
)
def test_max_resource_inferred_from_epochs(static, expected) -> None:
    assert infer_max_resource(static) == expected


def test_model_based_falls_back_to_random_until_a_rung_has_data() -> None:
    calls = []

    class Model:
        def __init__(self, space, seed):
            pass

        def ask(self, history):
            calls.append([(t.number, t.status, t.value) for t in history])
            return Suggestion({"x": 0.123})

    strategy = _strategy(model_based=True, model_factory=Model, model_min_points=3)
    few = [_trial(n, [0.5]) for n in (1, 2)]
    assert strategy.ask(few).config != {"x": 0.123}
    enough = [_trial(n, [0.1 * n, 0.2]) for n in (1, 2, 3)] + [_trial(4, [])]
    assert strategy.ask(enough).config == {"x": 0.123}
    observed = calls[-1]
    assert [s for _, s, _ in observed] == [TrialStatus.COMPLETED] * 3 + [TrialStatus.PENDING]


# -- the adaptive bracket policy ------------------------------------------------------------------
def _full(number: int, curve: list[float], bracket: int) -> Trial:
    return Trial(
        number,
        {"x": 0.5},
        TrialStatus.COMPLETED,
        value=curve[-1],
        curve=tuple(enumerate(curve, 1)),
        bracket=bracket,
    )


def _not_exploring(strategy: HyperbandStrategy, start: int) -> int:
    """A trial number whose bracket is decided by the evidence, not drawn (EXPLORE)."""
    import numpy as np

    from strategies.hyperband import EXPLORE

    for number in range(start, start + 200):
        if np.random.default_rng([strategy.seed, number, 11]).random() >= EXPLORE:
            return number
    raise AssertionError("no such number")


def _crossing_history(n: int = 6) -> list[Trial]:
    """Full-budget trials (bracket 0, never judged) whose best final is worst at rung 1.

    MaxResource 9: rungs 1 and 3. Trial k is good early and bad at the end, except trial 1,
    the best at 9, which is the worst at 1 but already among the best at 3.
    """
    trials = [_full(1, [0.9, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.1], 0)]
    for k in range(2, n + 1):
        early = 0.1 * k / n
        trials.append(_full(k, [early, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5 + 0.01 * k], 0))
    return trials


def test_reliability_is_unknown_without_unbiased_full_budget_trials() -> None:
    from strategies.hyperband import EVIDENCE_MIN, rung_is_reliable

    strategy = _strategy(max_resource=9)
    few = _crossing_history(EVIDENCE_MIN - 1)
    assert rung_is_reliable(strategy.schedule, 1, few) is None
    # Trials judged at rung 1 (bracket s_max) are no evidence about rung 1: they survived it.
    judged = [_full(k, [0.1] * 9, strategy.schedule.s_max) for k in range(1, 10)]
    assert rung_is_reliable(strategy.schedule, 1, judged) is None


def test_a_rung_that_would_have_cut_the_best_trial_is_unreliable() -> None:
    from strategies.hyperband import rung_is_reliable

    schedule = _strategy(max_resource=9).schedule
    history = _crossing_history()
    assert rung_is_reliable(schedule, 1, history) is False  # the best at 9 is the worst at 1
    assert rung_is_reliable(schedule, 3, history) is True  # and among the best at 3


def test_adaptive_policy_picks_the_most_aggressive_reliable_bracket() -> None:
    strategy = _strategy(max_resource=9)
    s_max = strategy.schedule.s_max
    assert strategy.schedule.rungs(s_max - 1) == [3]
    history = _crossing_history()
    number = _not_exploring(strategy, len(history) + 1)
    assert strategy.choose_bracket(number, history[: number - 1]) == s_max - 1
    # when every trial agrees from the first report on, the most aggressive bracket
    agreeing = [_full(k, [0.1 * k] * 9, 0) for k in range(1, 7)]
    assert strategy.choose_bracket(_not_exploring(strategy, 7), agreeing) == s_max


def test_adaptive_policy_uses_hyperbands_proportions_until_it_knows() -> None:
    strategy = _strategy(max_resource=27)
    assert all(strategy.choose_bracket(n, []) == strategy.bracket_of(n) for n in range(1, 50))


def test_fixed_policies_and_a_bad_policy_name() -> None:
    asha = _strategy(max_resource=27, bracket_policy="asha")
    assert {asha.choose_bracket(n, []) for n in range(1, 30)} == {asha.schedule.s_max}
    hyperband = _strategy(max_resource=27, bracket_policy="hyperband")
    history = _crossing_history()
    assert all(
        hyperband.choose_bracket(n, history) == hyperband.bracket_of(n) for n in range(7, 40)
    )
    with pytest.raises(ValueError, match="bracket_policy must be one of"):
        _strategy(bracket_policy="fastest")
