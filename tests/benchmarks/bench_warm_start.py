"""Warm start: does a warm-started Bayesian job reach its parent's best in fewer trials?

Issue 14's benchmark. On a problem no strategy was tuned on, a *shifted Branin* (Branin's
function moved by (1.3, -0.8) inside its usual box, so its three minima are not where the
textbook puts them), for each seed:

1. a parent Bayesian job runs 20 trials; its best value is the target;
2. a cold Bayesian job (another seed) runs until it reaches the target, at most ``--budget``
   trials (``TargetObjectiveMetricValue`` = the parent's best, the engine's own completion
   criterion);
3. a warm-started one (IdenticalDataAndAlgorithm, parent 1, same seed as the cold one) does the
   same.

Every job is a real tuning job: the coordinator, the Bayesian strategy and a SQLite database,
with training replaced by the Python objective on simulated time (:func:`tuner.simulation
.simulate`), so what is measured is the number of training jobs, not seconds. A job that
never reaches the target within the budget counts as ``budget + 1`` (shown as ``>budget``).

Run: ``python tests/benchmarks/bench_warm_start.py`` (5 seeds, budget 30; about a minute on
2 cores) or ``python tests/benchmarks/run.py warm_start``; ``--seeds N``, ``--budget N``,
``--quick`` (2 seeds, budget 10) and ``--out DIR`` (JSON written to ``DIR/warm_start.json``,
default ``benchmark-results/``).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tuner import (  # noqa: E402
    ContinuousParameter,
    HyperparameterTuner,
    WarmStartConfig,
    WarmStartTypes,
)
from tuner.simulation import simulate  # noqa: E402
from tuner.storage import SqlStorage  # noqa: E402

PARENT_TRIALS = 20
SHIFT = (1.3, -0.8)
RANGES = {"x1": ContinuousParameter(-5.0, 10.0), "x2": ContinuousParameter(0.0, 15.0)}


def shifted_branin(hp: Mapping[str, Any]) -> float:
    """Branin's function of (x1 + 1.3, x2 - 0.8): minima moved, same box."""
    x1, x2 = float(hp["x1"]) + SHIFT[0], float(hp["x2"]) + SHIFT[1]
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


def _curve(hp: Mapping[str, Any]) -> list[dict[str, float]]:
    return [{"loss": shifted_branin(hp)}]


def _tuner(seed: int, max_jobs: int, **kwargs: Any) -> HyperparameterTuner:
    return HyperparameterTuner(
        _curve,
        "loss",
        RANGES,
        strategy="Bayesian",
        objective_type="Minimize",
        max_jobs=max_jobs,
        max_parallel_jobs=1,
        random_seed=seed,
        **kwargs,
    )


def _values(db: str, name: str) -> list[float]:
    return [t.final_value for t in SqlStorage(db).trials(name) if t.final_value is not None]


def _trials_to_reach(values: list[float], target: float, budget: int) -> int:
    for i, v in enumerate(values, start=1):
        if v <= target:
            return i
    return budget + 1


def one_seed(seed: int, budget: int, directory: Path) -> dict[str, Any]:
    """Parent, cold and warm jobs of one seed, in one database."""
    db = f"sqlite:///{directory / f'seed{seed}.db'}"
    parent = _tuner(seed, PARENT_TRIALS).build_spec(job_name=f"parent-{seed}")
    simulate(parent, _curve, storage=db)
    target = min(_values(db, parent.name))
    stop = {"TargetObjectiveMetricValue": target}
    cold = _tuner(1000 + seed, budget, completion_criteria=stop).build_spec(
        job_name=f"cold-{seed}"
    )
    warm_config = WarmStartConfig(WarmStartTypes.IDENTICAL_DATA_AND_ALGORITHM, {parent.name})
    warm = _tuner(
        1000 + seed, budget, completion_criteria=stop, warm_start_config=warm_config
    ).build_spec(job_name=f"warm-{seed}")
    row: dict[str, Any] = {"seed": seed, "target": target}
    for label, spec in (("cold", cold), ("warm", warm)):
        started = time.perf_counter()
        simulate(spec, _curve, storage=db)
        values = _values(db, spec.name)
        row[label] = {
            "trials_to_target": _trials_to_reach(values, target, budget),
            "best": min(values),
            "best_after_3": min(values[:3]),
            "seconds": round(time.perf_counter() - started, 2),
        }
    return row


def _shown(n: float, budget: int) -> str:
    return f">{budget}" if n > budget else f"{n:g}"


def run(args: argparse.Namespace) -> tuple[Table, dict[str, Any]]:
    seeds = list(range(getattr(args, "seeds", 5)))
    budget = getattr(args, "budget", 30)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [one_seed(seed, budget, Path(tmp)) for seed in seeds]
    summary = {
        label: {
            "median_trials_to_target": statistics.median(
                r[label]["trials_to_target"] for r in rows
            ),
            "reached": sum(r[label]["trials_to_target"] <= budget for r in rows),
            "median_best_after_3": statistics.median(r[label]["best_after_3"] for r in rows),
        }
        for label in ("cold", "warm")
    }
    table = Table(
        title=(
            f"Warm start on shifted Branin: trials to reach the parent's best "
            f"(parent {PARENT_TRIALS} Bayesian trials; budget {budget})"
        )
    )
    for column in (
        "seed",
        "parent best",
        "cold: trials",
        "warm: trials",
        "cold: best@3",
        "warm: best@3",
    ):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            str(r["seed"]),
            f"{r['target']:.4f}",
            _shown(r["cold"]["trials_to_target"], budget),
            _shown(r["warm"]["trials_to_target"], budget),
            f"{r['cold']['best_after_3']:.4f}",
            f"{r['warm']['best_after_3']:.4f}",
        )
    table.add_row(
        "median",
        "",
        _shown(summary["cold"]["median_trials_to_target"], budget),
        _shown(summary["warm"]["median_trials_to_target"], budget),
        f"{summary['cold']['median_best_after_3']:.4f}",
        f"{summary['warm']['median_best_after_3']:.4f}",
    )
    data = {
        "benchmark": "warm_start",
        "problem": "shifted Branin (x1 + 1.3, x2 - 0.8), minimise",
        "parent_trials": PARENT_TRIALS,
        "budget": budget,
        "seeds": seeds,
        "rows": rows,
        "summary": summary,
    }
    return table, data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="2 seeds, budget 10")
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"))
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.budget = 2, 10
    started = time.time()
    table, data = run(args)
    data["seconds"] = round(time.time() - started, 1)
    Console(width=160).print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "warm_start.json"
    path.write_text(json.dumps(data, indent=2))
    print(f"wrote {path} ({data['seconds']} s)")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
