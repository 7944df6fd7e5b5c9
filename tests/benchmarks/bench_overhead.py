"""Per-trial overhead of the engine against Optuna, with a no-op objective.

Ours: the coordinator with the LocalPool (trials run in warm worker subprocesses, every trial,
report and result written to a SQLite file). Optuna: ``study.optimize`` in process with its
RDB storage on a SQLite file. Both run the same objective (one report of ``x**2``), sequentially,
in the same run. Storage share: time spent inside SqlStorage methods, measured by wrapping them.

Goal (issue 2): storage at most 2 ms per trial; whole overhead no more than Optuna's.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from tuner import ContinuousParameter, HyperparameterTuner
from tuner.storage import SqlStorage

TIMED_METHODS = (
    "add_trial",
    "mark_running",
    "add_report",
    "finish_trial",
    "set_job_status",
    "create_job",
    "load_job",
    "batch",
)


def noop(hp, ctx):
    ctx.report(1, loss=hp["x"] ** 2)


class _Timer:
    def __init__(self) -> None:
        self.seconds = 0.0


def _instrument(timer: _Timer) -> list[tuple[str, Any]]:
    """Wrap SqlStorage's write methods to add their time to ``timer``; returns the originals."""
    originals = []
    for name in TIMED_METHODS:
        original = getattr(SqlStorage, name)
        originals.append((name, original))
        if name == "batch":
            import contextlib

            def batch(self, _orig=original):
                @contextlib.contextmanager
                def timed():
                    start = time.perf_counter()
                    with _orig(self):
                        enter = time.perf_counter()
                        timer.seconds += enter - start
                        try:
                            yield
                        finally:
                            exit_start = time.perf_counter()
                    timer.seconds += time.perf_counter() - exit_start  # the commit

                return timed()

            setattr(SqlStorage, name, batch)
        else:

            def wrapper(self, *a, _orig=original, **k):
                start = time.perf_counter()
                try:
                    return _orig(self, *a, **k)
                finally:
                    timer.seconds += time.perf_counter() - start

            setattr(SqlStorage, name, wrapper)
    return originals


def run_ours(n: int, parallel: int, workdir: Path) -> dict[str, float]:
    timer = _Timer()
    originals = _instrument(timer)
    try:
        tuner = HyperparameterTuner(
            noop,
            "loss",
            {"x": ContinuousParameter(-1, 1)},
            objective_type="Minimize",
            max_jobs=n,
            max_parallel_jobs=parallel,
            random_seed=0,
            storage=f"sqlite:///{workdir / f'ours-{parallel}-{time.time_ns()}.db'}",
            output_path=workdir / "out",
            strategy="Random",
        )
        start = time.perf_counter()
        tuner.fit(job_name="overhead")
        wall = time.perf_counter() - start
    finally:
        for name, original in originals:
            setattr(SqlStorage, name, original)
    assert tuner.describe()["TrainingJobStatusCounters"]["Completed"] == n
    return {"ms_per_trial": 1000 * wall / n, "storage_ms_per_trial": 1000 * timer.seconds / n}


def run_optuna(n: int, workdir: Path) -> dict[str, float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{workdir / f'optuna-{time.time_ns()}.db'}"
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial):
        x = trial.suggest_float("x", -1, 1)
        trial.report(x * x, 1)
        return x * x

    start = time.perf_counter()
    study.optimize(objective, n_trials=n)
    wall = time.perf_counter() - start
    return {"ms_per_trial": 1000 * wall / n}


def run(args: argparse.Namespace) -> tuple[Table, dict[str, Any]]:
    n = args.trials
    results: dict[str, list[dict[str, float]]] = {
        "ours_local_1": [],
        "ours_local_2": [],
        "optuna_sqlite": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for _ in range(args.repeats):
            results["ours_local_1"].append(run_ours(n, 1, workdir))
            results["ours_local_2"].append(run_ours(n, 2, workdir))
            results["optuna_sqlite"].append(run_optuna(n, workdir))
    summary = {
        name: {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}
        for name, runs in results.items()
    }
    table = Table(
        title=f"Per-trial overhead, no-op objective, {n} trials, median of {args.repeats} runs"
    )
    table.add_column("engine")
    table.add_column("ms / trial", justify="right")
    table.add_column("storage ms / trial", justify="right")
    table.add_column("storage share", justify="right")
    labels = {
        "ours_local_1": "tuner, LocalPool, 1 worker, SQLite",
        "ours_local_2": "tuner, LocalPool, 2 workers, SQLite",
        "optuna_sqlite": "Optuna study.optimize in process, SQLite",
    }
    for name, s in summary.items():
        storage = s.get("storage_ms_per_trial")
        table.add_row(
            labels[name],
            f"{s['ms_per_trial']:.2f}",
            f"{storage:.2f}" if storage is not None else "-",
            f"{100 * storage / s['ms_per_trial']:.0f}%" if storage is not None else "-",
        )
    return table, {"trials": n, "repeats": args.repeats, "median": summary, "runs": results}
