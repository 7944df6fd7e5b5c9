"""The strategy contract, run against every strategy in the registry (and model-based Hyperband).

A strategy added to ``strategies.registry.STRATEGIES`` is tested here without a new line,
unless it needs options (then :data:`OPTIONS` must name them, or the first test fails):
suggestions are valid configurations of the space; the same seed and history give the same
suggestion, in another instance and in a fresh interpreter; ``None`` comes only once the space
is exhausted; a configuration that a pending trial already has is never suggested again;
asking changes nothing in the history it was given; and on a conditional space (``active_when``)
every suggestion holds exactly its active ranges, whatever the seed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from strategies import (
    STRATEGIES,
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
    SearchSpace,
    Strategy,
    Suggestion,
    Trial,
    TrialStatus,
    build_search,
)

#: Options of the strategies that need some (as the spec's HyperbandStrategyConfig gives them).
OPTIONS: dict[str, dict[str, Any]] = {"Hyperband": {"min_resource": 1, "max_resource": 9}}
#: Variants beyond one per registry entry: id -> (strategy name, options).
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    **{name: (name, OPTIONS.get(name, {})) for name in STRATEGIES},
    "Hyperband(model-based)": ("Hyperband", {**OPTIONS["Hyperband"], "model_based": True}),
}
_NEEDS_OPTIONAL = {"TPE": "optuna"}

MIXED = SearchSpace(
    {
        "lr": ContinuousParameter(1e-4, 1.0, "Logarithmic"),
        "momentum": ContinuousParameter(0.0, 0.99),
        "layers": IntegerParameter(1, 8),
        "optimizer": CategoricalParameter(["sgd", "adam", "rmsprop"]),
    }
)
CATEGORICAL = SearchSpace(
    {
        "optimizer": CategoricalParameter(["sgd", "adam", "rmsprop"]),
        "layers": CategoricalParameter(["1", "2"]),
    }
)
TINY = SearchSpace(
    {"layers": IntegerParameter(1, 3), "optimizer": CategoricalParameter(["sgd", "adam"])}
)
TINY_CATEGORICAL = SearchSpace(
    {
        "layers": CategoricalParameter(["1", "2", "3"]),
        "optimizer": CategoricalParameter(["sgd", "adam"]),
    }
)
#: Conditional spaces: a chain (optimizer -> nesterov -> dampening) and a parent listed last.
CONDITIONAL = SearchSpace(
    {
        "momentum": ContinuousParameter(0.0, 0.99, active_when=("optimizer", ["sgd"])),
        "lr": ContinuousParameter(1e-4, 1.0, "Logarithmic"),
        "layers": IntegerParameter(1, 8, active_when=("optimizer", ["sgd", "adam"])),
        "nesterov": CategoricalParameter(["on", "off"], active_when=("optimizer", ["sgd"])),
        "dampening": IntegerParameter(0, 3, active_when=("nesterov", ["off"])),
        "optimizer": CategoricalParameter(["sgd", "adam", "rmsprop"]),
    }
)
CONDITIONAL_CATEGORICAL = SearchSpace(
    {
        "momentum": CategoricalParameter(["0.5", "0.9"], active_when=("optimizer", ["sgd"])),
        "nesterov": CategoricalParameter(["on", "off"], active_when=("optimizer", ["sgd"])),
        "dampening": CategoricalParameter(["0", "1"], active_when=("nesterov", ["off"])),
        "layers": CategoricalParameter(["1", "2"], active_when=("optimizer", ["sgd", "adam"])),
        "optimizer": CategoricalParameter(["sgd", "adam", "rmsprop"]),
    }
)

Make = Callable[[SearchSpace, int], Strategy]


@pytest.fixture(params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest) -> str:
    name = VARIANTS[request.param][0]
    if name in _NEEDS_OPTIONAL:
        pytest.importorskip(_NEEDS_OPTIONAL[name])
    return str(request.param)


@pytest.fixture
def make(variant: str) -> Make:
    name, options = VARIANTS[variant]
    return lambda space, seed: build_search(name, space, seed, options=options).strategy


@pytest.fixture
def categorical_only(variant: str) -> bool:
    return STRATEGIES[VARIANTS[variant][0]].categorical_only


def _space(categorical_only: bool) -> SearchSpace:
    return CATEGORICAL if categorical_only else MIXED


def _objective(config: Any) -> float:
    """A cheap loss over both spaces, so that model-based strategies have something to fit."""
    optimizer = {"sgd": 0.3, "adam": 0.0, "rmsprop": 0.1}[config["optimizer"]]
    layers = float(config.get("layers", 3))
    lr = float(config.get("lr", 0.01))
    return (np.log10(lr) + 2) ** 2 + (layers - 3) ** 2 / 10 + optimizer


def _history(strategy: Strategy, n: int, *, finished_every: int = 2) -> list[Trial]:
    """``n`` trials asked in turn; every ``finished_every``-th one finished with its loss."""
    history: list[Trial] = []
    for number in range(1, n + 1):
        suggestion = strategy.ask(history)
        if suggestion is None:
            break
        config = suggestion.config
        if number % finished_every == 0:
            value = _objective(config)
            curve = tuple((e, value + 1.0 / e) for e in range(1, 4))
            trial = Trial(number, config, TrialStatus.COMPLETED, value, curve, suggestion.bracket)
        else:
            trial = Trial(number, config, TrialStatus.IN_PROGRESS, bracket=suggestion.bracket)
        history.append(trial)
    return history


def _is_valid(space: SearchSpace, config: Any) -> bool:
    """Exactly the active ranges (every range, in a plain space), each with a valid value."""
    if set(config) != space.active(config):
        return False
    for name in config:
        rng, value = space.ranges[name], config[name]
        if isinstance(rng, CategoricalParameter):
            ok = value in rng.values
        elif isinstance(rng, IntegerParameter):
            ok = type(value) is int and rng.min_value <= value <= rng.max_value
        else:
            ok = isinstance(value, float) and rng.min_value <= value <= rng.max_value
        if not ok:
            return False
    return True


def test_every_strategy_that_needs_options_has_them() -> None:
    for name in STRATEGIES:
        try:
            build_search(
                name,
                MIXED if not STRATEGIES[name].categorical_only else CATEGORICAL,
                0,
                options=OPTIONS.get(name, {}),
            )
        except ImportError:
            continue  # an optional dependency: its tests skip
        except (KeyError, TypeError) as exc:
            pytest.fail(f"strategy {name!r} needs options: add them to OPTIONS ({exc!r})")


def test_suggestions_are_valid_configurations(make: Make, categorical_only: bool) -> None:
    space = _space(categorical_only)
    strategy = make(space, 0)
    for trial in _history(strategy, 6 if categorical_only else 24):
        assert _is_valid(space, trial.config), trial.config
    suggestion = strategy.ask(_history(make(space, 0), 3))
    assert isinstance(suggestion, Suggestion)
    assert suggestion.bracket is None or isinstance(suggestion.bracket, int)


def test_same_seed_and_history_give_the_same_suggestion(
    make: Make, categorical_only: bool
) -> None:
    space = _space(categorical_only)
    history = _history(make(space, 7), 5 if categorical_only else 14)
    before = list(history)
    first = make(space, 7).ask(history)
    assert make(space, 7).ask(history) == first  # another instance
    assert make(space, 7).ask(list(history)) == first
    assert history == before  # asking changed nothing


def test_same_suggestion_in_a_fresh_interpreter(variant: str, categorical_only: bool) -> None:
    space_name = "CATEGORICAL" if categorical_only else "MIXED"
    name, options = VARIANTS[variant]
    space = _space(categorical_only)
    history = _history(
        build_search(name, space, 3, options=options).strategy, 5 if categorical_only else 12
    )
    here = build_search(name, space, 3, options=options).strategy.ask(history)
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_strategy_contract import {space_name} as space
        from strategies import Trial, TrialStatus, build_search
        rows = json.loads(sys.stdin.read())
        history = [Trial(r["n"], r["c"], TrialStatus(r["s"]), r["v"], tuple(map(tuple, r["curve"])), r["b"]) for r in rows]
        s = build_search({name!r}, space, 3, options={options!r}).strategy.ask(history)
        print(json.dumps(None if s is None else [s.config, s.bracket]))
        """
    )
    rows = [
        {
            "n": t.number,
            "c": dict(t.config),
            "s": t.status.value,
            "v": t.value,
            "curve": t.curve,
            "b": t.bracket,
        }
        for t in history
    ]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    out = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(rows),
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    )
    assert json.loads(out.stdout) == (None if here is None else [dict(here.config), here.bracket])


def test_none_only_when_the_space_is_exhausted(make: Make, categorical_only: bool) -> None:
    if categorical_only:
        history = _history(make(TINY_CATEGORICAL, 0), 100)
        assert len(history) == 6  # every combination once, then None
        assert len({tuple(sorted(t.config.items())) for t in history}) == 6
        assert make(TINY_CATEGORICAL, 0).ask(history) is None
    else:
        assert len(_history(make(TINY, 0), 30)) == 30  # a budget larger than the space


def test_a_pending_configuration_is_never_suggested_again(
    make: Make, categorical_only: bool
) -> None:
    space = TINY_CATEGORICAL if categorical_only else TINY
    strategy = make(space, 1)
    pending: list[Trial] = []
    for number in range(1, 6):  # five of the six configurations are running
        suggestion = strategy.ask(pending)
        assert suggestion is not None
        assert suggestion.config not in [t.config for t in pending], (number, suggestion)
        pending.append(
            Trial(number, suggestion.config, TrialStatus.PENDING, bracket=suggestion.bracket)
        )


def test_different_seeds_give_different_suggestions(make: Make, categorical_only: bool) -> None:
    if categorical_only:
        pytest.skip("a grid is the same whatever the seed")
    runs: list[Sequence[Any]] = [
        [t.config for t in _history(make(MIXED, seed), 4)] for seed in (0, 1)
    ]
    assert runs[0] != runs[1]


@pytest.mark.parametrize("seed", range(4))
def test_a_conditional_space_gets_only_active_ranges(
    make: Make, categorical_only: bool, seed: int
) -> None:
    space = CONDITIONAL_CATEGORICAL if categorical_only else CONDITIONAL
    history = _history(make(space, seed), 24)
    assert history, "no suggestion at all"
    for trial in history:
        assert _is_valid(space, trial.config), trial.config
    branches = {trial.config["optimizer"] for trial in history}
    assert len(branches) >= 2, branches
    # Resume is replay: histories without the inactive keys give the same suggestion again.
    replayed = [
        Trial(t.number, dict(t.config), t.status, t.value, t.curve, t.bracket) for t in history
    ]
    assert make(space, seed).ask(history[:-3]) == make(space, seed).ask(replayed[:-3])
    if categorical_only:  # the grid: every combination that can occur, once
        # sgd: momentum x nesterov (on, or off x dampening) x layers; adam: layers; rmsprop
        assert len(history) == space.grid_size() == 2 * (1 + 2) * 2 + 2 + 1
