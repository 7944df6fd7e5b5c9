"""The one list of strategies and early-stopping types: names, constructors and traits.

Spec validation (which ``Strategy`` values a request may name, which rules apply to each), the
Python API (its default), the CLI and the coordinator (what to build) all read this module; no
other place lists strategy names. A strategy name builds a :class:`Search`: the
:class:`~strategies.base.Strategy` and the stopping rule it brings with it, if any (Hyperband's
rungs), so the coordinator never has to ask which concrete strategy it holds.

Options are what a request configures beyond the name (``HyperbandStrategyConfig``), passed as a
plain mapping so that this package stays free of the request format.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from strategies.base import EarlyStopper, Strategy
from strategies.median_rule import MedianStoppingRule
from strategies.space import SearchSpace

StrategyOptions = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Search:
    """What a strategy name builds: the strategy, and the stopping rule that comes with it."""

    strategy: Strategy
    stopper: EarlyStopper | None = None


@dataclass(frozen=True, slots=True)
class StrategyEntry:
    """One strategy: how to build it and the traits spec validation needs.

    Attributes:
        name: The ``HyperParameterTuningJobConfig.Strategy`` value.
        build: ``(space, seed, options) -> Search``.
        summary: One line for help texts.
        amt: True for AMT's own values, False for ours (accepted as an extension).
        categorical_only: Takes only categorical ranges and runs each combination once (Grid).
        stops_trials: Brings its own early stopping, so early stopping Auto is refused with it.
        options_field: The ``StrategyConfig`` member that configures it, if any.
    """

    name: str
    build: Callable[[SearchSpace, int, StrategyOptions], Search]
    summary: str
    amt: bool = True
    categorical_only: bool = False
    stops_trials: bool = False
    options_field: str | None = None


def _random(space: SearchSpace, seed: int, options: StrategyOptions) -> Search:
    from strategies.random_search import RandomStrategy

    return Search(RandomStrategy(space, seed=seed))


def _grid(space: SearchSpace, seed: int, options: StrategyOptions) -> Search:
    from strategies.grid import GridStrategy

    return Search(GridStrategy(space))


def _bayesian_strategy(space: SearchSpace, seed: int) -> Strategy:
    from strategies.bayesian import BayesianStrategy

    return BayesianStrategy(space, seed=seed)


def _bayesian(space: SearchSpace, seed: int, options: StrategyOptions) -> Search:
    return Search(_bayesian_strategy(space, seed))


def _tpe(space: SearchSpace, seed: int, options: StrategyOptions) -> Search:
    from strategies.tpe import TPEStrategy

    return Search(TPEStrategy(space, seed=seed))


def _hyperband(space: SearchSpace, seed: int, options: StrategyOptions) -> Search:
    """Hyperband is a strategy (bracket and configuration) and its own stopper (rungs)."""
    from strategies.hyperband import HyperbandStrategy

    model_based = bool(options.get("model_based", False))
    strategy = HyperbandStrategy(
        space,
        seed=seed,
        min_resource=int(options["min_resource"]),
        max_resource=int(options["max_resource"]),
        reduction_factor=int(options.get("reduction_factor", 3)),
        model_based=model_based,
        model_factory=_bayesian_strategy if model_based else None,
    )
    return Search(strategy, stopper=strategy)


STRATEGIES: dict[str, StrategyEntry] = {
    entry.name: entry
    for entry in (
        StrategyEntry("Bayesian", _bayesian, "Gaussian-process Bayesian optimisation"),
        StrategyEntry("Random", _random, "independent draws on each range's scale"),
        StrategyEntry(
            "Hyperband",
            _hyperband,
            "asynchronous successive halving over Hyperband's brackets",
            stops_trials=True,
            options_field="HyperbandStrategyConfig",
        ),
        StrategyEntry(
            "Grid", _grid, "every combination of the categorical ranges", categorical_only=True
        ),
        StrategyEntry("TPE", _tpe, "Optuna's tree-structured Parzen estimator", amt=False),
    )
}

#: The strategy when a request names none: AMT's (and the SageMaker SDK's) default.
DEFAULT_STRATEGY = "Bayesian"

#: AMT's ``TrainingJobEarlyStoppingType`` values -> the stopping rule each one means.
EARLY_STOPPING_TYPES: dict[str, Callable[[], EarlyStopper] | None] = {
    "Off": None,
    "Auto": MedianStoppingRule,
}


def strategy_names(*, amt_only: bool = False) -> tuple[str, ...]:
    """Every strategy name, AMT's first; ``amt_only`` leaves ours out."""
    return tuple(name for name, e in STRATEGIES.items() if e.amt or not amt_only)


def get_strategy(name: str) -> StrategyEntry:
    """The entry called ``name``; ValueError listing the names when there is none."""
    entry = STRATEGIES.get(name)
    if entry is None:
        msg = f"unknown strategy {name!r}; available: {', '.join(STRATEGIES)}"
        raise ValueError(msg)
    return entry


def build_search(
    name: str,
    space: SearchSpace,
    seed: int,
    *,
    options: StrategyOptions | None = None,
    early_stopping: str = "Off",
) -> Search:
    """The strategy called ``name`` and the stopping rule to use with it.

    A strategy that stops trials itself keeps its own rule; otherwise ``early_stopping`` (an
    :data:`EARLY_STOPPING_TYPES` key) chooses one.
    """
    search = get_strategy(name).build(space, seed, options or {})
    if search.stopper is not None:
        return search
    if early_stopping not in EARLY_STOPPING_TYPES:
        msg = (
            f"unknown early stopping type {early_stopping!r}; "
            f"available: {', '.join(EARLY_STOPPING_TYPES)}"
        )
        raise ValueError(msg)
    make_stopper = EARLY_STOPPING_TYPES[early_stopping]
    return Search(search.strategy, make_stopper() if make_stopper is not None else None)
