"""Report round trip of exact stopping: how long a trial waits at each report for the decision.

A trial of a job with a stopping rule waits after each report until the coordinator answers
(go on, or stop), so a stopped trial never starts another epoch. This measures what that wait
costs, as the trial sees it (``time.perf_counter`` around each ``ctx.report``), with epochs
that cost nothing:

* ``pool``: the pool alone, the caller answering each report at once (``poll`` then
  ``proceed``): the price of the hand-off itself.
* ``coordinator``: a whole tuning job with the median rule (curves that never lose to the
  median, so every report is answered "go on"): the pool, plus recording the report in SQLite and
  asking the rule.

On the LocalPool and on a local Ray (started once, not timed). ``--trials`` sets the reports per
trial (default 200); each measurement runs ``--repeats`` times; median and 95th percentile.

Goal (issue 15): well under a millisecond on the LocalPool, a few milliseconds on Ray.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import cloudpickle
from rich.table import Table

from tuner import ContinuousParameter, HyperparameterTuner
from tuner.pools import Finished, LocalPool, Report, TrialSpec, WorkerPool
from tuner.storage import SqlStorage


def timed_reports(hp, ctx):
    """Reports ``epochs`` times; each report carries how long the previous one waited."""
    waited_ms = 0.0
    for epoch in range(1, hp["epochs"] + 1):
        start = time.perf_counter()
        ctx.report(epoch, loss=1.0 / epoch, waited_ms=waited_ms)
        waited_ms = 1000 * (time.perf_counter() - start)


def _pool_waits(pool: WorkerPool, epochs: int, workdir: Path) -> list[float]:
    blob = cloudpickle.dumps(timed_reports)
    pool.submit(
        TrialSpec(
            job_name="latency",
            number=1,
            attempt=1,
            training_job_name="latency-1",
            hyperparameters={"epochs": epochs},
            channels={},
            output_dir=str(workdir / "pool"),
            callable_key=hashlib.sha1(blob).hexdigest(),
            callable_blob=blob,
            wait_for_decision=True,
        )
    )
    waits: list[float] = []
    while True:
        for event in pool.poll(5.0):
            if isinstance(event, Report):
                pool.proceed(1)
                if event.epoch > 1:
                    waits.append(event.metrics["waited_ms"])
            elif isinstance(event, Finished):
                return waits


def _coordinator_waits(executor: str, epochs: int, workdir: Path) -> list[float]:
    db = f"sqlite:///{workdir / f'{executor}-{time.time_ns()}.db'}"
    tuner = HyperparameterTuner(
        timed_reports,
        "loss",
        {"x": ContinuousParameter(-1, 1)},
        objective_type="Minimize",
        max_jobs=4,
        max_parallel_jobs=1,
        random_seed=0,
        storage=db,
        output_path=workdir / "out",
        executor=executor,
        early_stopping_type="Auto",
        static_hyperparameters={"epochs": epochs},
    )
    tuner.fit(job_name="latency")
    curves = SqlStorage(db).curves("latency", ["waited_ms"])
    assert all(len(points) == epochs for points in curves.values()), "a trial was stopped"
    return [p.value for points in curves.values() for p in points if p.epoch > 1]


def _summary(waits: list[float]) -> dict[str, float]:
    ordered = sorted(waits)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
        "reports": len(ordered),
    }


def run(args: argparse.Namespace) -> tuple[Table, dict[str, Any]]:
    import ray

    from tuner.pools.ray_pool import RayPool

    epochs = args.trials
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    samples: dict[str, list[float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            pools = {"local": lambda: LocalPool(1), "ray": lambda: RayPool(1)}
            for executor, make in pools.items():
                with make() as pool:
                    _pool_waits(pool, 5, workdir)  # warm up the worker or actor
                    for _ in range(args.repeats):
                        samples.setdefault(f"{executor}/pool", []).extend(
                            _pool_waits(pool, epochs, workdir)
                        )
                for _ in range(args.repeats):
                    samples.setdefault(f"{executor}/coordinator", []).extend(
                        _coordinator_waits(executor, epochs, workdir)
                    )
    finally:
        ray.shutdown()
    summary = {name: _summary(waits) for name, waits in samples.items()}
    table = Table(title=f"Report round trip with exact stopping, {epochs} reports per trial")
    table.add_column("pool")
    table.add_column("what answers")
    table.add_column("median ms", justify="right")
    table.add_column("p95 ms", justify="right")
    table.add_column("reports", justify="right")
    for name, s in summary.items():
        executor, answered_by = name.split("/")
        table.add_row(
            executor,
            "the caller (poll, proceed)" if answered_by == "pool" else "coordinator + SQLite",
            f"{s['median_ms']:.3f}",
            f"{s['p95_ms']:.3f}",
            str(s["reports"]),
        )
    return table, {"reports_per_trial": epochs, "repeats": args.repeats, "summary": summary}
