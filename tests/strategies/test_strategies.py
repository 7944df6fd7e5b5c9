from __future__ import annotations

import pytest

from strategies import (
    CategoricalParameter,
    ContinuousParameter,
    GridStrategy,
    IntegerParameter,
    RandomStrategy,
    SearchSpace,
    SpaceError,
    Trial,
    TrialStatus,
)


def _space() -> SearchSpace:
    return SearchSpace(
        {
            "x": ContinuousParameter(-5.0, 5.0),
            "n": IntegerParameter(1, 100),
            "c": CategoricalParameter(["a", "b", "c"]),
        }
    )


def _history(configs, status=TrialStatus.COMPLETED) -> list[Trial]:
    return [Trial(i + 1, c, status) for i, c in enumerate(configs)]


def _run(strategy, n: int, order=None) -> list[dict]:
    history: list[Trial] = []
    for _ in range(n):
        config = strategy.ask(history).config
        history.append(Trial(len(history) + 1, config, TrialStatus.PENDING))
    return [t.config for t in history]


def test_random_same_seed_same_configs() -> None:
    assert _run(RandomStrategy(_space(), seed=3), 20) == _run(RandomStrategy(_space(), seed=3), 20)


def test_random_different_seed_differs() -> None:
    assert _run(RandomStrategy(_space(), seed=3), 5) != _run(RandomStrategy(_space(), seed=4), 5)


def test_random_draw_depends_on_trial_number_not_on_history_contents() -> None:
    """Parallelism and finishing order change the history's statuses and values, never the draw."""
    strategy = RandomStrategy(_space(), seed=11)
    configs = _run(strategy, 6)
    finished = [
        Trial(i + 1, c, TrialStatus.COMPLETED, value=float(-i)) for i, c in enumerate(configs[:5])
    ]
    running = [Trial(i + 1, c, TrialStatus.IN_PROGRESS) for i, c in enumerate(configs[:5])]
    assert strategy.ask(finished).config == strategy.ask(running).config == configs[5]


def test_random_values_are_valid() -> None:
    space = _space()
    for config in _run(RandomStrategy(space, seed=0), 200):
        assert -5.0 <= config["x"] <= 5.0
        assert isinstance(config["n"], int) and 1 <= config["n"] <= 100
        assert config["c"] in ("a", "b", "c")


def test_grid_visits_every_point_once_then_stops() -> None:
    space = SearchSpace(
        {"a": CategoricalParameter(["1", "2", "3"]), "b": CategoricalParameter(["x", "y"])}
    )
    strategy = GridStrategy(space)
    configs = _run(strategy, 6)
    assert len({tuple(sorted(c.items())) for c in configs}) == 6
    assert strategy.ask(_history(configs)) is None


def test_grid_refuses_numeric_ranges() -> None:
    with pytest.raises(SpaceError, match="categorical"):
        GridStrategy(_space())
