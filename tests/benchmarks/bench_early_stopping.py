"""Early stopping at scale: ours against Optuna's pruners and Ray Tune's schedulers, same curves.

``python tests/benchmarks/run.py early_stopping --trials 200 --repeats 10`` (seeds); extra options
in ``BENCH_ARGS``: ``--problems xgb,mlp,...`` (see :data:`surrogates.PROBLEMS`), ``--methods
a,b,...`` (keys of :data:`METHODS`), ``--parallel 1,4,8`` (trials at a time; the first is the
main table), ``--processes N`` (default 2), ``--figure PATH`` (the anytime plot; default
``tests/benchmarks/figures/early_stopping.png``, the README's). About 25 minutes on 2 cores at
200 trials, 10 seeds, six problems and parallel 1,4,8.

Every curve comes from :mod:`surrogates` (cached real xgboost and MLP curves, and a parametric
family with crossing curves, plateaus and noise), so an epoch costs nothing and each method gets
10 seeds of 100 to 300 trials in minutes.

* **Ours** run through the real coordinator, strategies and SQLite storage on the simulated pool
  (:func:`tuner.simulation.simulate`): every epoch takes one simulated second and each report
  waits for the coordinator's decision, as on the real pools.
* **Peers** see the same curves in an emulated pool with the same timing (each running trial
  reports one epoch per time step; a trial that ends is replaced at once) and answer each report
  inline: Optuna through ``study.ask``/``trial.report``/``trial.should_prune``/``study.tell``,
  Ray Tune by calling its scheduler objects' ``on_trial_add``/``on_trial_result``/
  ``on_trial_complete`` as Ray's TuneController does (Ray Tune's own loop costs about a second a
  trial here, too slow for 10 seeds of 200 trials; its synchronous HyperBandScheduler and
  HyperBandForBOHB pause trials and need that loop, so they are not measured: see the README).
  Syne Tune is not on this machine's package index.

Methods (``nostop``, full-budget random search, is the reference and always runs first; our
Random and Hyperband draw trial ``n`` from the same generator, so they see the same
configurations):

* ours: ``nostop`` (Random, early stopping Off), ``median`` (Random, Auto: AMT's median rule),
  ``hyperband`` and ``hyperband_mb`` (Hyperband, MinResource 1, MaxResource = the problem's
  epochs, reduction factor 3; ``_mb``: model-based);
* Optuna 4: ``optuna_{median,sh,hyperband}_{random,tpe}``: MedianPruner() (its defaults: 5
  startup trials, no warm-up), SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
  HyperbandPruner(min_resource=1, max_resource=R, reduction_factor=3), with RandomSampler(seed)
  or TPESampler(seed=seed);
* Ray Tune: ``ray_asha`` (ASHAScheduler(max_t=R, grace_period=1, reduction_factor=3), random
  configurations), ``ray_median`` (MedianStoppingRule(grace_period=1, min_samples_required=3)).

Measures, per seed, with the medians over seeds in the table:

* **epochs**: epochs reported, as a share of full-budget random search's (``trials * R``);
* **gap**: the quality of the best training job by AMT's rule (the best last reported value,
  stopped jobs included) against full-budget random search's, in percent (positive: worse). A
  job's quality is its noise-free loss at its last epoch (:meth:`surrogates.Problem.clean_curve`);
* **to 1%**: epochs, as a share of full-budget random search's, until the best value reported so
  far is within 1% of that search's final best ("-" if never);
* **anytime**: the quality of the best value reported so far against epochs spent, the PNG's
  median line and interquartile band.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import statistics
import tempfile
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import surrogates
from rich.table import Table

FIGURE = Path(__file__).resolve().parent / "figures" / "early_stopping.png"
GRID = np.geomspace(0.005, 1.0, 60)  # anytime curve: epochs spent as a share of nostop's
TOLERANCE = 0.01


@dataclass(frozen=True)
class TrialRun:
    """One trial as the measures need it: when it started, what it was, how far it got."""

    start: float
    hp: dict[str, Any]
    epochs: int


Configs = list[dict[str, Any]]  # full-budget random search's configurations, in trial order


# -- ours: the real coordinator on the simulated pool --------------------------------------------
def _our_kwargs(method: str, max_resource: int) -> dict[str, Any]:
    from tuner import HyperbandStrategyConfig, StrategyConfig

    if method in ("nostop", "median"):
        return {
            "strategy": "Random",
            "early_stopping_type": "Auto" if method == "median" else "Off",
        }
    config = HyperbandStrategyConfig(
        max_resource=max_resource,
        min_resource=1,
        reduction_factor=3,
        model_based=method == "hyperband_mb",
    )
    return {"strategy": "Hyperband", "strategy_config": StrategyConfig(config)}


def run_ours(
    problem: surrogates.Problem, method: str, seed: int, n: int, parallel: int, configs: Configs
) -> list[TrialRun]:
    """Our engine; ``configs`` unused: Random and Hyperband draw the same ones for the seed."""
    from tuner import HyperparameterTuner
    from tuner.simulation import simulate
    from tuner.storage import SqlStorage

    def curve(hp: dict[str, Any]) -> list[dict[str, float]]:
        return [{"loss": v} for v in problem.curve(hp)]

    tuner = HyperparameterTuner(
        curve,
        "loss",
        problem.ranges,
        objective_type="Minimize",
        max_jobs=n,
        max_parallel_jobs=parallel,
        random_seed=seed,
        static_hyperparameters={"epochs": problem.max_epochs},
        **_our_kwargs(method, problem.max_epochs),
    )
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        simulate(tuner.build_spec(job_name="bench"), curve, storage=url, n_workers=parallel)
        storage = SqlStorage(url)
        created = storage.load_job("bench").created_at
        records = sorted(storage.trials("bench"), key=lambda t: t.number)
        storage.close()
    return [
        TrialRun(t.started_at - created, _typed(problem, t.hyperparameters), t.n_reports)
        for t in records
        if t.started_at is not None
    ]


def _typed(problem: surrogates.Problem, hp: dict[str, str]) -> dict[str, Any]:
    kinds = {"Continuous": float, "Integer": lambda s: int(float(s))}
    return {name: kinds.get(rng.kind, str)(hp[name]) for name, rng in problem.ranges.items()}


# -- the peers' pool: every running trial reports one epoch per time step ------------------------
Start = Callable[[int], tuple[dict[str, Any], Any]]  # trial index -> (hp, handle)
Report = Callable[[Any, int, float], bool]  # (handle, epoch, value) -> stop now?


def emulate(
    problem: surrogates.Problem, n: int, parallel: int, start: Start, report: Report
) -> list[TrialRun]:
    """Run ``n`` trials ``parallel`` at a time with the simulated pool's timing, decided inline."""
    runs: list[TrialRun] = []
    running: list[list[Any]] = []  # [index, hp, handle, curve, epochs]
    now = 0
    while len(runs) < n or running:
        while len(running) < parallel and len(runs) < n:
            hp, handle = start(len(runs))
            runs.append(TrialRun(float(now), hp, 0))
            running.append([len(runs) - 1, hp, handle, problem.curve(hp), 0])
        now += 1
        for slot in list(running):
            index, hp, handle, curve, done = slot
            slot[4] = done = done + 1
            stop = report(handle, done, curve[done - 1]) or done >= problem.max_epochs
            if stop:
                runs[index] = TrialRun(runs[index].start, hp, done)
                running.remove(slot)
    return runs


def _optuna_hp(trial: Any, problem: surrogates.Problem) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, rng in problem.ranges.items():
        log = str(getattr(rng, "scaling_type", "")) == "Logarithmic"
        if rng.kind == "Continuous":
            out[name] = trial.suggest_float(name, rng.min_value, rng.max_value, log=log)
        elif rng.kind == "Integer":
            out[name] = trial.suggest_int(name, int(rng.min_value), int(rng.max_value), log=log)
        else:
            out[name] = trial.suggest_categorical(name, list(rng.values))
    return out


def run_optuna(
    problem: surrogates.Problem, method: str, seed: int, n: int, parallel: int, configs: Configs
) -> list[TrialRun]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _, pruner_key, sampler_key = method.split("_")
    pruner = {
        "median": lambda: optuna.pruners.MedianPruner(),
        "sh": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=problem.max_epochs, reduction_factor=3
        ),
    }[pruner_key]()
    sampler = (
        optuna.samplers.TPESampler(seed=seed)
        if sampler_key == "tpe"
        else optuna.samplers.RandomSampler(seed=seed)
    )
    study = optuna.create_study(sampler=sampler, pruner=pruner, direction="minimize")
    if sampler_key == "random":  # our Random draws, so that only the stopping differs
        for config in configs:
            study.enqueue_trial(config)

    def start(_index: int) -> tuple[dict[str, Any], Any]:
        trial = study.ask()
        return _optuna_hp(trial, problem), trial

    def report(trial: Any, epoch: int, value: float) -> bool:
        trial.report(value, epoch)
        if epoch >= problem.max_epochs:
            study.tell(trial, value)
            return True
        if trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return True
        return False

    return emulate(problem, n, parallel, start, report)


class _NoPausing:
    """The one thing MedianStoppingRule asks of Ray's TuneController: trials it could pause for.

    None, so it never pauses (a paused function trainable without checkpoints would restart
    from scratch); with too few finished curves it lets the trial run on, as Ray does then.
    """

    def get_live_trials(self) -> list[Any]:
        return []


class _RayTrial:
    """What Ray's schedulers read of a trial: a hashable object with a ``trial_id``."""

    def __init__(self, trial_id: str) -> None:
        self.trial_id = trial_id

    def __repr__(self) -> str:
        return self.trial_id


def run_ray(
    problem: surrogates.Problem, method: str, seed: int, n: int, parallel: int, configs: Configs
) -> list[TrialRun]:
    from ray.tune.schedulers import ASHAScheduler, MedianStoppingRule, TrialScheduler

    np.random.seed(seed)  # noqa: NPY002 - ASHA draws each trial's bracket from numpy's global generator
    if method == "ray_asha":
        scheduler: Any = ASHAScheduler(
            time_attr="training_iteration",
            max_t=problem.max_epochs,
            grace_period=1,
            reduction_factor=3,
        )
    else:
        scheduler = MedianStoppingRule(
            time_attr="training_iteration", grace_period=1, min_samples_required=3
        )
    scheduler.set_search_properties("loss", "min")
    controller = _NoPausing()

    def start(index: int) -> tuple[dict[str, Any], Any]:  # our Random draws, as for Optuna
        trial = _RayTrial(f"t{index}")
        scheduler.on_trial_add(controller, trial)
        return dict(configs[index]), trial

    def report(trial: Any, epoch: int, value: float) -> bool:
        result = {"training_iteration": epoch, "loss": value}
        if epoch >= problem.max_epochs:
            scheduler.on_trial_complete(controller, trial, result)
            return True
        return scheduler.on_trial_result(controller, trial, result) == TrialScheduler.STOP

    return emulate(problem, n, parallel, start, report)


OURS = ("nostop", "median", "hyperband", "hyperband_mb")
OPTUNA = tuple(f"optuna_{p}_{s}" for p in ("median", "sh", "hyperband") for s in ("random", "tpe"))
RAY = ("ray_asha", "ray_median")
METHODS: dict[str, Callable[..., list[TrialRun]]] = {
    **{m: run_ours for m in OURS},
    **{m: run_optuna for m in OPTUNA},
    **{m: run_ray for m in RAY},
}


# -- measures ------------------------------------------------------------------------------------
def _events(
    problem: surrogates.Problem, runs: list[TrialRun]
) -> Iterator[tuple[float, float, float]]:
    """(time, observed, clean) of every report, in time order (ties by trial order)."""
    events = []
    for order, run in enumerate(runs):
        observed, clean = problem.curve(run.hp), problem.clean_curve(run.hp)
        events.extend(
            (run.start + k, order, observed[k - 1], clean[k - 1]) for k in range(1, run.epochs + 1)
        )
    events.sort()
    return ((t, o, c) for t, _, o, c in events)


def final_quality(problem: surrogates.Problem, runs: list[TrialRun]) -> float:
    """AMT's best training job (best last value, stopped jobs included), judged clean."""
    best = min((r for r in runs if r.epochs), key=lambda r: problem.curve(r.hp)[r.epochs - 1])
    return problem.clean_curve(best.hp)[best.epochs - 1]


def anytime(
    problem: surrogates.Problem, runs: list[TrialRun], full: int
) -> tuple[np.ndarray, list[float]]:
    """The incumbent's clean value after each share of ``full`` epochs in GRID, and every step."""
    best_observed, incumbent, trace = math.inf, math.inf, []
    for _, observed, clean in _events(problem, runs):
        if observed < best_observed:
            best_observed, incumbent = observed, clean
        trace.append(incumbent)
    at = [trace[min(len(trace), max(1, int(round(g * full)))) - 1] for g in GRID]
    return np.array(at), trace


def measure(
    problem: surrogates.Problem, runs: list[TrialRun], reference: float, full: int
) -> dict[str, Any]:
    """The table's measures of one run against full-budget random search's final quality."""
    epochs = sum(r.epochs for r in runs)
    curve, trace = anytime(problem, runs, full)
    target = reference * (1 + TOLERANCE)
    reached = next((i + 1 for i, v in enumerate(trace) if v <= target), None)
    return {
        "epochs_share": epochs / full,
        "gap_pct": 100.0 * (final_quality(problem, runs) - reference) / abs(reference),
        "to_1pct_share": None if reached is None else reached / full,
        "anytime_gap_pct": (100.0 * (curve - reference) / abs(reference)).tolist(),
    }


# -- running -------------------------------------------------------------------------------------
Task = tuple[str, str, int, int, int, Configs]


def _one(task: Task) -> dict[str, Any]:
    name, method, seed, n, parallel, configs = task
    warnings.filterwarnings("ignore")
    problem = surrogates.problem(name)
    runs = METHODS[method](problem, method, seed, n, parallel, configs)
    return {"problem": name, "method": method, "seed": seed, "parallel": parallel, "runs": runs}


def _reference(problem: surrogates.Problem, runs: list[TrialRun]) -> float:
    return final_quality(problem, runs)


def _options(args: argparse.Namespace) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="BENCH_ARGS")
    parser.add_argument("--problems", default=",".join(surrogates.PROBLEMS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--parallel", default="1,4,8")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--figure", type=Path, default=FIGURE)
    opts = parser.parse_args(shlex.split(os.environ.get("BENCH_ARGS", "")))
    opts.trials, opts.seeds = args.trials, args.repeats
    opts.problems = opts.problems.split(",")
    opts.methods = ["nostop", *[m for m in opts.methods.split(",") if m != "nostop"]]
    opts.parallel = [int(p) for p in opts.parallel.split(",")]
    return opts


def _tasks(opts: argparse.Namespace, configs: dict[tuple[str, int], Configs]) -> list[Task]:
    """Every (problem, method, seed, parallelism) but the references, which ran first."""
    tasks = []
    for name in opts.problems:
        for parallel in opts.parallel:
            for method in opts.methods:
                if parallel != opts.parallel[0] and method not in OURS and method != "ray_asha":
                    continue  # the parallel tables: ours and Ray's asynchronous ASHA
                if method == "nostop":
                    continue  # full training's epochs and result do not depend on parallelism
                tasks.extend(
                    (name, method, seed, opts.trials, parallel, configs[(name, seed)])
                    for seed in range(opts.seeds)
                )
    return tasks


def _run_all(opts: argparse.Namespace) -> list[dict[str, Any]]:
    """The references first (their configurations are replayed into the peers), then the rest."""
    first = [
        (name, "nostop", seed, opts.trials, opts.parallel[0], [])
        for name in opts.problems
        for seed in range(opts.seeds)
    ]
    with ProcessPoolExecutor(opts.processes) as pool:
        references = list(pool.map(_one, first, chunksize=1))
        configs = {(r["problem"], r["seed"]): [run.hp for run in r["runs"]] for r in references}
        return references + list(pool.map(_one, _tasks(opts, configs), chunksize=1))


def _summaries(results: list[dict[str, Any]], opts: argparse.Namespace) -> list[dict[str, Any]]:
    problems = {name: surrogates.problem(name) for name in opts.problems}
    by_key = {(r["problem"], r["method"], r["seed"], r["parallel"]): r["runs"] for r in results}
    rows = []
    for (name, method, seed, parallel), runs in sorted(by_key.items()):
        problem = problems[name]
        reference_runs = by_key[(name, "nostop", seed, opts.parallel[0])]
        full = sum(r.epochs for r in reference_runs)
        measured = measure(problem, runs, _reference(problem, reference_runs), full)
        rows.append(
            {"problem": name, "method": method, "seed": seed, "parallel": parallel, **measured}
        )
    return rows


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    q = np.quantile(np.array(values, dtype=float), [0.25, 0.5, 0.75])
    return float(q[0]), float(q[1]), float(q[2])


def _aggregate(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["problem"], row["method"], row["parallel"]), []).append(row)
    out: dict[str, dict[str, Any]] = {}
    for (name, method, parallel), group in groups.items():
        reached = [r["to_1pct_share"] for r in group]
        never = sum(v is None for v in reached)
        anytime_rows = np.array([r["anytime_gap_pct"] for r in group])
        out[f"{name}/{method}/{parallel}"] = {
            "problem": name,
            "method": method,
            "parallel": parallel,
            "seeds": len(group),
            "epochs_share": _quartiles([r["epochs_share"] for r in group]),
            "gap_pct": _quartiles([r["gap_pct"] for r in group]),
            "to_1pct_share": None
            if never > len(group) / 2
            else statistics.median([math.inf if v is None else v for v in reached]),
            "never_within_1pct": never,
            "anytime_grid": GRID.tolist(),
            "anytime_gap_pct": np.quantile(anytime_rows, [0.25, 0.5, 0.75], axis=0).tolist(),
        }
    return out


def _table(summary: dict[str, dict[str, Any]], opts: argparse.Namespace) -> Table:
    table = Table(title=f"early stopping: {opts.trials} trials, {opts.seeds} seeds, medians (IQR)")
    for column in ("problem", "method", "parallel", "epochs", "gap %", "to 1%", "never"):
        table.add_column(column, justify="left" if column in ("problem", "method") else "right")
    for row in summary.values():
        lo, mid, hi = row["epochs_share"]
        glo, gmid, ghi = row["gap_pct"]
        reach = row["to_1pct_share"]
        table.add_row(
            row["problem"],
            row["method"],
            str(row["parallel"]),
            f"{mid:.3f} ({lo:.3f}-{hi:.3f})",
            f"{gmid:+.2f} ({glo:+.2f}..{ghi:+.2f})",
            "-" if reach is None or math.isinf(reach) else f"{reach:.3f}",
            str(row["never_within_1pct"]),
        )
    return table


def plot(summary: dict[str, dict[str, Any]], opts: argparse.Namespace) -> Path:
    """The anytime curves of the main parallelism, one panel per problem."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 3
    rows_n = math.ceil(len(opts.problems) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(5 * cols, 3.6 * rows_n), squeeze=False)
    for ax, name in zip(axes.flat, opts.problems, strict=False):
        for method in opts.methods:
            row = summary.get(f"{name}/{method}/{opts.parallel[0]}")
            if row is None:
                continue
            lo, mid, hi = (np.maximum(np.array(q), 1e-3) for q in row["anytime_gap_pct"])
            style = "-" if method in OURS else ("--" if method in OPTUNA else ":")
            ax.plot(GRID, mid, style, label=method, linewidth=1.4)
            ax.fill_between(GRID, lo, hi, alpha=0.12)
        ax.set(xscale="log", yscale="log", title=surrogates.problem(name).label)
        ax.set_xlabel("epochs spent / full-budget random search's")
        ax.set_ylabel("gap to its final best, %")
        ax.axhline(100 * TOLERANCE, color="grey", linewidth=0.6)
    for ax in list(axes.flat)[len(opts.problems) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=7, fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    opts.figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(opts.figure, dpi=110)
    plt.close(fig)
    return opts.figure


def run(args: argparse.Namespace) -> tuple[Table, dict[str, Any]]:
    opts = _options(args)
    for name in opts.problems:
        surrogates.problem(name)  # builds a missing curve cache once, before the workers start
    rows = _summaries(_run_all(opts), opts)
    summary = _aggregate(rows)
    figure = plot(summary, opts)
    data = {
        "trials": opts.trials,
        "seeds": opts.seeds,
        "problems": opts.problems,
        "figure": str(figure),
        "summary": summary,
        "runs": rows,
    }
    return _table(summary, opts), data
