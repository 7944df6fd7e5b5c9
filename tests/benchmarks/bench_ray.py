"""Per-trial overhead on Ray (warm and fresh actors), the LocalPool and Ray Tune; parallel efficiency.

All engines run in the same process on the same local Ray (2 CPUs, started once, not timed):

* overhead: ``--trials`` trials (default 200) of a no-op objective (one report), two at a time;
  milliseconds of wall time per trial. Ours write every trial, report and result to SQLite.
* efficiency: 2 workers, 40 trials that each sleep 1 second (so the one-off actor boot, about half a second, weighs
  what it does in a real job rather than dominating): total trial seconds divided by
  (workers x wall seconds). 100% would be no gap at all between trials.

Goal (issue 3): overhead per trial at most a tenth of Ray Tune's; efficiency at least 95%.
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


def noop(hp, ctx):
    ctx.report(1, loss=hp["x"] ** 2)


def one_second(hp, ctx):
    time.sleep(1.0)
    ctx.report(1, loss=hp["x"] ** 2)


def _ours(fn, n: int, executor: str, fresh: bool, workdir: Path) -> tuple[float, str]:
    db = f"sqlite:///{workdir / f'{executor}-{fresh}-{time.time_ns()}.db'}"
    tuner = HyperparameterTuner(
        fn,
        "loss",
        {"x": ContinuousParameter(-1, 1)},
        objective_type="Minimize",
        max_jobs=n,
        max_parallel_jobs=2,
        random_seed=0,
        storage=db,
        output_path=workdir / "out",
        executor=executor,
        fresh_worker_per_trial=fresh,
        strategy="Random",
    )
    start = time.perf_counter()
    tuner.fit(job_name="bench")
    wall = time.perf_counter() - start
    assert tuner.describe()["TrainingJobStatusCounters"]["Completed"] == n
    return wall, db


def _ray_tune(fn_seconds: float, n: int, workdir: Path) -> float:
    from ray import tune

    def trainable(config):
        if fn_seconds:
            time.sleep(fn_seconds)
        tune.report({"loss": config["x"] ** 2})

    tuner = tune.Tuner(
        trainable,
        param_space={"x": tune.uniform(-1, 1)},
        tune_config=tune.TuneConfig(
            num_samples=n, metric="loss", mode="min", max_concurrent_trials=2
        ),
        run_config=tune.RunConfig(storage_path=str(workdir / "ray_results"), verbose=0),
    )
    start = time.perf_counter()
    results = tuner.fit()
    wall = time.perf_counter() - start
    assert len(results) == n
    return wall


def _efficiency(db: str, wall: float, workers: int = 2) -> float:
    trials = SqlStorage(db).trials("bench")
    busy = sum(t.ended_at - t.started_at for t in trials)
    return busy / (workers * wall)


def run(args: argparse.Namespace) -> tuple[Table, dict[str, Any]]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    n = args.trials
    overhead: dict[str, list[float]] = {
        "ray_warm": [],
        "ray_fresh": [],
        "local": [],
        "ray_tune": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for _ in range(args.repeats):
            overhead["ray_warm"].append(1000 * _ours(noop, n, "ray", False, workdir)[0] / n)
            overhead["ray_fresh"].append(
                1000 * _ours(noop, min(n, 50), "ray", True, workdir)[0] / min(n, 50)
            )
            overhead["local"].append(1000 * _ours(noop, n, "local", False, workdir)[0] / n)
            overhead["ray_tune"].append(1000 * _ray_tune(0.0, n, workdir) / n)
        wall, db = _ours(one_second, 40, "ray", False, workdir)
        efficiency = {"ray_warm": _efficiency(db, wall)}
        wall, db = _ours(one_second, 40, "local", False, workdir)
        efficiency["local"] = _efficiency(db, wall)
        tune_wall = _ray_tune(1.0, 40, workdir)
        efficiency["ray_tune"] = 40 * 1.0 / (2 * tune_wall)
    ray.shutdown()
    median = {k: round(statistics.median(v), 2) for k, v in overhead.items()}
    labels = {
        "ray_warm": "tuner, RayPool, warm actors",
        "ray_fresh": "tuner, RayPool, a fresh actor per trial",
        "local": "tuner, LocalPool (warm worker processes)",
        "ray_tune": "Ray Tune Tuner (function trainable)",
    }
    table = Table(
        title=f"Per-trial overhead ({n} no-op trials, 2 at a time) and parallel efficiency (40 x 1 s trials, 2 workers)"
    )
    table.add_column("engine")
    table.add_column("ms / trial", justify="right")
    table.add_column("vs Ray Tune", justify="right")
    table.add_column("efficiency", justify="right")
    for key, label in labels.items():
        eff = efficiency.get(key)
        table.add_row(
            label,
            f"{median[key]:.1f}",
            f"{median[key] / median['ray_tune']:.3f}",
            f"{100 * eff:.1f}%" if eff is not None else "-",
        )
    return table, {
        "trials": n,
        "repeats": args.repeats,
        "overhead_ms_median": median,
        "overhead_ms_runs": overhead,
        "efficiency": efficiency,
    }
