"""The coordinator's memory over a long job: resident memory every 1,000 trials.

Issue 18: a 10,000-trial job of a no-op objective must grow the coordinator's resident memory
by less than 50 MB on the local pool (Ray Tune and Optuna grow here: ray#64231, optuna#3050).
Each engine runs in a fresh Python process of its own so that one does not inflate the other:

* ``ours``: ``HyperparameterTuner`` on the LocalPool (2 warm worker processes), SQLite, Random
  search with the median rule on; each trial reports 5 epochs. A thread samples the process's
  RSS every 0.2 s; afterwards the sample at the moment the 1,000th, 2,000th ... trial ended
  (``ended_at`` in the database) is read off.
* ``optuna``: ``study.optimize`` in process with the in-memory storage (Optuna's default) and
  the MedianPruner, the same 5 reports per trial; RSS after every 1,000 trials.

``--trials`` sets the job size (default 200 from the runner: pass ``--trials 10000``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from rich.table import Table

HERE = Path(__file__).resolve().parent
EVERY = 1_000
EPOCHS = 5


def rss_mb() -> float:
    """This process's resident set size in MB, from /proc (Linux)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * 4096 / 1e6


def noop(hp: dict[str, Any], ctx: Any) -> None:
    for epoch in range(1, EPOCHS + 1):
        ctx.report(epoch, loss=hp["x"] ** 2 / epoch)


def child_ours(n: int) -> list[tuple[int, float]]:
    from tuner import ContinuousParameter, HyperparameterTuner
    from tuner.storage import SqlStorage

    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((time.time(), rss_mb()))
            time.sleep(0.2)

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'memory.db'}"
        tuner = HyperparameterTuner(
            noop,
            "loss",
            {"x": ContinuousParameter(-1, 1)},
            objective_type="Minimize",
            max_jobs=n,
            max_parallel_jobs=2,
            random_seed=0,
            storage=url,
            output_path=Path(tmp) / "out",
            strategy="Random",
            early_stopping_type="Auto",
        )
        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        tuner.fit(job_name="memory")
        done.set()
        thread.join()
        ends = sorted(t.ended_at for t in SqlStorage(url).trials("memory") if t.ended_at)
    return [(k, _rss_at(samples, ends[k - 1])) for k in range(EVERY, len(ends) + 1, EVERY)]


def _rss_at(samples: list[tuple[float, float]], moment: float) -> float:
    before = [rss for at, rss in samples if at <= moment]
    return before[-1] if before else samples[0][1]


def child_optuna(n: int) -> list[tuple[int, float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        sampler=optuna.samplers.RandomSampler(seed=0), pruner=optuna.pruners.MedianPruner()
    )
    out: list[tuple[int, float]] = []

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", -1, 1)
        for epoch in range(1, EPOCHS + 1):
            trial.report(x * x / epoch, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned
        return x * x / EPOCHS

    def every(study: Any, trial: Any) -> None:
        if (trial.number + 1) % EVERY == 0:
            out.append((trial.number + 1, rss_mb()))

    study.optimize(objective, n_trials=n, callbacks=[every])
    return out


def _measure(engine: str, n: int) -> dict[str, Any]:
    code = (
        f"import sys, json; sys.path.insert(0, {str(HERE)!r}); import bench_memory as b; "
        f"start = b.rss_mb(); rows = b.child_{engine}({n}); "
        "print(json.dumps({'start': start, 'rows': rows}))"
    )
    started = time.time()
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    data["seconds"] = round(time.time() - started, 1)
    return data


def run(args: argparse.Namespace) -> tuple[Table, dict[str, Any]]:
    n = max(args.trials, EVERY)
    results = {engine: _measure(engine, n) for engine in ("ours", "optuna")}
    table = Table(title=f"resident memory (MB) of the tuning process, {n:,} no-op trials")
    table.add_column("trials", justify="right")
    for engine in results:
        table.add_column(engine, justify="right")
    rows = {engine: dict(r["rows"]) for engine, r in results.items()}
    for k in range(EVERY, n + 1, EVERY):
        table.add_row(f"{k:,}", *(f"{rows[e].get(k, float('nan')):.0f}" for e in results))
    growth = {
        e: rows[e][max(rows[e])] - rows[e][min(rows[e])] if rows[e] else None for e in results
    }
    table.add_row(
        "growth 1,000 to end",
        *(f"{growth[e]:+.0f}" if growth[e] is not None else "-" for e in results),
    )
    return table, {"trials": n, "results": results, "growth_mb": growth}
