"""What one stopping decision costs as a job grows: at trial 10, 1,000 and 10,000.

Issue 18 asks that a report cost the same at trial 10,000 as at trial 10. The history holds
``n`` finished trials of 30 reports each; then one running trial reports epoch after epoch and
each report is decided. Measured per decision (median of ``--repeats`` rounds of 300 reports):

* ``ours``: the rule as the coordinator runs it (a TrialHistory, caches updated from the
  changes since the last decision);
* ``ours, full pass``: the same rule handed a plain list each time, so it rebuilds from every
  trial, which is what every decision cost before the caches;
* Optuna's MedianPruner and SuccessiveHalvingPruner (``pruner.prune``), in-memory storage,
  the same curves.

``--trials`` is ignored; sizes are fixed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from rich.table import Table

from strategies import HyperbandStrategy, MedianStoppingRule, Trial, TrialStatus
from strategies.history import TrialHistory
from strategies.space import ContinuousParameter, SearchSpace

SIZES = (10, 1_000, 10_000)
EPOCHS = 30
REPORTS = 300


def _curves(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return 1.0 / np.arange(1, EPOCHS + 1) + rng.normal(0, 0.05, size=(n, EPOCHS))


def _history(curves: np.ndarray) -> TrialHistory:
    return TrialHistory(
        Trial(
            i + 1,
            {"x": 0.5},
            TrialStatus.COMPLETED,
            value=float(c[-1]),
            curve=tuple((e + 1, float(v)) for e, v in enumerate(c)),
        )
        for i, c in enumerate(curves)
    )


def _ours(make_rule: Callable[[], Any], curves: np.ndarray, plain: bool) -> tuple[float, float]:
    """(seconds of the first decision, seconds per decision after it) over REPORTS reports.

    The first decision builds the rule's cache from the whole history (after a start or a
    resume); the ones after it are what a running job pays per report.
    """
    history = _history(curves)
    rule = make_rule()
    timings = []
    for k in range(REPORTS + 1):
        if k % EPOCHS == 0:  # a new running trial every EPOCHS reports
            number = len(history) + 1
            history.append(Trial(number, {"x": 0.5}, TrialStatus.IN_PROGRESS))
            curve: list[tuple[int, float]] = []
        curve.append((len(curve) + 1, 0.01))  # a good trial: decided, never stopped
        snapshot = Trial(number, {"x": 0.5}, TrialStatus.IN_PROGRESS, curve=tuple(curve))
        history.replace(number - 1, snapshot)
        started = time.perf_counter()
        rule.should_stop(snapshot, list(history) if plain else history)
        timings.append(time.perf_counter() - started)
    return _split(timings)


def _optuna(pruner_name: str, curves: np.ndarray) -> tuple[float, float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=3)
        if pruner_name == "median"
        else optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    )
    study = optuna.create_study(pruner=pruner)
    distribution = optuna.distributions.FloatDistribution(0.0, 1.0)
    study.add_trials(
        [
            optuna.trial.create_trial(
                params={"x": 0.5},
                distributions={"x": distribution},
                value=float(c[-1]),
                intermediate_values={e + 1: float(v) for e, v in enumerate(c)},
            )
            for c in curves
        ]
    )
    timings = []
    for k in range(REPORTS + 1):
        if k % EPOCHS == 0:
            trial = study.ask({"x": distribution})
        started = time.perf_counter()
        trial.report(0.01, k % EPOCHS + 1)
        trial.should_prune()
        timings.append(time.perf_counter() - started)
    return _split(timings)


def _split(timings: list[float]) -> tuple[float, float]:
    """(the slowest decision: the one that built the caches, the mean of the others)."""
    slowest = max(range(len(timings)), key=timings.__getitem__)
    return timings[slowest], statistics.mean(timings[:slowest] + timings[slowest + 1 :])


def _hyperband() -> HyperbandStrategy:
    space = SearchSpace({"x": ContinuousParameter(0.0, 1.0)})
    return HyperbandStrategy(space, seed=0, min_resource=1, max_resource=EPOCHS + 1)


METHODS: dict[str, Callable[[np.ndarray], tuple[float, float]]] = {
    "ours median rule": lambda c: _ours(MedianStoppingRule, c, plain=False),
    "ours median rule, full pass": lambda c: _ours(MedianStoppingRule, c, plain=True),
    "ours hyperband": lambda c: _ours(_hyperband, c, plain=False),
    "ours hyperband, full pass": lambda c: _ours(_hyperband, c, plain=True),
    "optuna MedianPruner": lambda c: _optuna("median", c),
    "optuna SuccessiveHalvingPruner": lambda c: _optuna("sh", c),
}


def run(args: argparse.Namespace) -> tuple[Table, dict[str, Any]]:
    first: dict[str, dict[int, float]] = {name: {} for name in METHODS}
    each: dict[str, dict[int, float]] = {name: {} for name in METHODS}
    for n in SIZES:
        curves = _curves(n)
        for name, method in METHODS.items():
            rounds = [method(curves) for _ in range(max(1, args.repeats))]
            first[name][n] = statistics.median(r[0] for r in rounds)
            each[name][n] = statistics.median(r[1] for r in rounds)
    table = Table(title=f"one stopping decision, ms (median of {args.repeats} rounds)")
    table.add_column("method")
    for n in SIZES:
        table.add_column(f"{n:,} trials", justify="right")
    for n in SIZES:
        table.add_column(f"first, {n:,}", justify="right")
    for name in METHODS:
        table.add_row(
            name,
            *(f"{1000 * each[name][n]:.3f}" for n in SIZES),
            *(f"{1000 * first[name][n]:.1f}" for n in SIZES),
        )
    data = {
        "ms_per_decision": _ms(each),
        "ms_first_decision": _ms(first),
        "epochs": EPOCHS,
        "reports": REPORTS,
    }
    return table, data


def _ms(results: dict[str, dict[int, float]]) -> dict[str, dict[str, float]]:
    return {m: {str(n): 1000 * s for n, s in r.items()} for m, r in results.items()}
