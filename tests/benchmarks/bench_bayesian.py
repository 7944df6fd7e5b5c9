"""Quality and speed of the Bayesian strategy against Optuna's GPSampler, TPE and Random.

Issue 4's benchmark. Strategies:

* ``Bayesian``: ours (:class:`strategies.bayesian.BayesianStrategy`), driven through ``ask`` with
  a history of :class:`strategies.base.Trial`, exactly as the coordinator drives it;
* ``GPSampler``: Optuna's ``GPSampler`` (the anchor to beat), through Optuna's ask-and-tell;
* ``TPE``: ours (:class:`strategies.tpe.TPEStrategy`, Optuna's multivariate TPE replayed from the
  history);
* ``Random``: ours.

Problems: Branin (2-d), Hartmann6 (6-d), a mixed space (two log-scaled floats, an integer and a
categorical; known optimum 0), xgboost on breast_cancer (validation log loss, 30 rounds) and an
elastic-net SGD logistic regression on digits (validation log loss). The two real problems have
no known optimum, so they report the best value instead of regret.

Parallel mode keeps ``--parallel`` trials pending at all times and finishes the oldest first (an
asynchronous worker pool whose trials all take equally long): every strategy sees the pending
trials (ours in the history, Optuna's as ``RUNNING`` trials).

Run: ``python tests/benchmarks/run.py bayesian`` (10 seeds, 50 trials, sequential and 4
parallel) or directly, with options, ``python tests/benchmarks/bench_bayesian.py --seeds 10
--workers 2`` (``--quick`` for a smoke run). Timings are the median wall time of one suggestion
and its CPU time (``time.process_time``; steadier than wall time on a busy machine), all
libraries restricted to one thread.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from rich.table import Table

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from strategies import (  # noqa: E402
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
    RandomStrategy,
    SearchSpace,
    Trial,
    TrialStatus,
)
from strategies.bayesian import BayesianStrategy  # noqa: E402
from strategies.tpe import TPEStrategy  # noqa: E402

STRATEGIES = ("Bayesian", "GPSampler", "TPE", "Random")
PROBLEMS = ("branin", "hartmann6", "mixed", "xgboost", "digits")
CHECKPOINTS = (10, 25, 50)
TIE = 1e-3


# -- problems ---------------------------------------------------------------------------------
class Problem(NamedTuple):
    # A NamedTuple, not a dataclass: run.py loads this file without registering it in
    # sys.modules, which dataclasses need.
    name: str
    space: SearchSpace
    objective: Callable[[Mapping[str, Any]], float]
    optimum: float | None


def _branin(c: Mapping[str, Any]) -> float:
    x1, x2 = float(c["x1"]), float(c["x2"])
    b, cc, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + cc * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def _hartmann6(c: Mapping[str, Any]) -> float:
    x = np.array([float(c[f"x{i}"]) for i in range(6)])
    return float(-np.sum(_H_ALPHA * np.exp(-np.sum(_H_A * (x - _H_P) ** 2, axis=1))))


_MIXED_OFFSET = {"sgd": 0.6, "adam": 0.0, "rmsprop": 0.3}


def _mixed(c: Mapping[str, Any]) -> float:
    """A correlated bowl in log10 space plus an integer and a categorical term; minimum 0.

    Minimum at lr = 10**-2.3, weight_decay = 10**-3.7, layers = 7, optimizer = "adam".
    """
    a = (math.log10(float(c["lr"])) + 2.3) / 1.5
    b = (math.log10(float(c["weight_decay"])) + 3.7) / 2.0
    layers = (int(c["layers"]) - 7) / 4.0
    return a * a + b * b + 0.8 * a * b + layers * layers + _MIXED_OFFSET[str(c["optimizer"])]


@cache
def _breast_cancer() -> tuple[Any, Any, np.ndarray]:
    import xgboost as xgb
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xva, ytr, yva = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    return xgb.DMatrix(Xtr, ytr, nthread=1), xgb.DMatrix(Xva, yva, nthread=1), yva


def _xgboost(c: Mapping[str, Any]) -> float:
    import xgboost as xgb
    from sklearn.metrics import log_loss

    dtrain, dvalid, yva = _breast_cancer()
    params = {
        "eta": float(c["eta"]),
        "max_depth": int(c["max_depth"]),
        "min_child_weight": float(c["min_child_weight"]),
        "subsample": float(c["subsample"]),
        "objective": "binary:logistic",
        "nthread": 1,
        "seed": 0,
        "verbosity": 0,
    }
    booster = xgb.train(params, dtrain, num_boost_round=30)
    return float(log_loss(yva, booster.predict(dvalid), labels=[0, 1]))


@cache
def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    Xtr, Xva, ytr, yva = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(Xtr)
    return scaler.transform(Xtr), scaler.transform(Xva), ytr, yva


def _linear_digits(c: Mapping[str, Any]) -> float:
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import log_loss

    Xtr, Xva, ytr, yva = _digits()
    model = SGDClassifier(
        loss="log_loss",
        penalty="elasticnet",
        alpha=float(c["alpha"]),
        l1_ratio=float(c["l1_ratio"]),
        learning_rate=str(c["learning_rate"]),
        eta0=float(c["eta0"]),
        max_iter=10,
        tol=None,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(Xtr, ytr)
    return float(log_loss(yva, model.predict_proba(Xva), labels=list(range(10))))


def problem(name: str) -> Problem:
    if name == "branin":
        space = SearchSpace(
            {"x1": ContinuousParameter(-5.0, 10.0), "x2": ContinuousParameter(0.0, 15.0)}
        )
        return Problem(name, space, _branin, 0.397887)
    if name == "hartmann6":
        space = SearchSpace({f"x{i}": ContinuousParameter(0.0, 1.0) for i in range(6)})
        return Problem(name, space, _hartmann6, -3.32237)
    if name == "mixed":
        space = SearchSpace(
            {
                "lr": ContinuousParameter(1e-5, 1.0, "Logarithmic"),
                "weight_decay": ContinuousParameter(1e-6, 1e2, "Logarithmic"),
                "layers": IntegerParameter(1, 12),
                "optimizer": CategoricalParameter(["sgd", "adam", "rmsprop"]),
            }
        )
        return Problem(name, space, _mixed, 0.0)
    if name == "xgboost":
        space = SearchSpace(
            {
                "eta": ContinuousParameter(1e-3, 1.0, "Logarithmic"),
                "max_depth": IntegerParameter(1, 10),
                "min_child_weight": ContinuousParameter(1e-2, 1e2, "Logarithmic"),
                "subsample": ContinuousParameter(0.5, 1.0),
            }
        )
        return Problem(name, space, _xgboost, None)
    if name == "digits":
        space = SearchSpace(
            {
                "alpha": ContinuousParameter(1e-6, 1e-1, "Logarithmic"),
                "l1_ratio": ContinuousParameter(0.0, 1.0),
                "learning_rate": CategoricalParameter(["optimal", "invscaling", "adaptive"]),
                "eta0": ContinuousParameter(1e-4, 1.0, "Logarithmic"),
            }
        )
        return Problem(name, space, _linear_digits, None)
    msg = f"unknown problem {name!r}; choose from {PROBLEMS}"
    raise ValueError(msg)


# -- drivers ----------------------------------------------------------------------------------
def _run_ours(
    strategy: Any, prob: Problem, n_trials: int, parallel: int
) -> tuple[list[float], list[tuple[float, float]]]:
    """Ask/evaluate loop with ``parallel`` pending trials; returns values in finishing order."""
    history: list[Trial] = []
    values: list[float] = []
    ask_s: list[tuple[float, float]] = []
    pending: list[int] = []
    while len(values) < n_trials:
        while len(pending) < parallel and len(history) < n_trials:
            start, start_cpu = time.perf_counter(), time.process_time()
            config = strategy.ask(history).config
            ask_s.append((time.perf_counter() - start, time.process_time() - start_cpu))
            history.append(Trial(len(history) + 1, config, TrialStatus.PENDING))
            pending.append(len(history))
        number = pending.pop(0)
        trial = history[number - 1]
        value = prob.objective(trial.config)
        values.append(value)
        history[number - 1] = Trial(number, trial.config, TrialStatus.COMPLETED, value=value)
    return values, ask_s


def _optuna_distributions(space: SearchSpace) -> dict[str, Any]:
    import optuna.distributions as d

    out: dict[str, Any] = {}
    for name, r in space.ranges.items():
        if isinstance(r, CategoricalParameter):
            out[name] = d.CategoricalDistribution(list(r.values))
        elif isinstance(r, IntegerParameter):
            out[name] = d.IntDistribution(r.min_value, r.max_value, log=r.scale == "Logarithmic")
        else:
            out[name] = d.FloatDistribution(r.min_value, r.max_value, log=r.scale == "Logarithmic")
    return out


def _run_optuna(
    sampler: Any, prob: Problem, n_trials: int, parallel: int
) -> tuple[list[float], list[tuple[float, float]]]:
    import optuna

    study = optuna.create_study(sampler=sampler, direction="minimize")
    distributions = _optuna_distributions(prob.space)
    values: list[float] = []
    ask_s: list[tuple[float, float]] = []
    pending: list[Any] = []
    asked = 0
    while len(values) < n_trials:
        while len(pending) < parallel and asked < n_trials:
            start, start_cpu = time.perf_counter(), time.process_time()
            trial = study.ask(distributions)
            ask_s.append((time.perf_counter() - start, time.process_time() - start_cpu))
            pending.append(trial)
            asked += 1
        trial = pending.pop(0)
        value = prob.objective(trial.params)
        study.tell(trial, value)
        values.append(value)
    return values, ask_s


def run_one(task: tuple[str, str, int, int, int]) -> dict[str, Any]:
    """One (problem, strategy, seed, parallel, trials) run: best-so-far curve and ask times."""
    problem_name, strategy_name, seed, parallel, n_trials = task
    _limit_threads()
    prob = problem(problem_name)
    if strategy_name == "GPSampler":
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sampler = optuna.samplers.GPSampler(seed=seed)
        values, ask_s = _run_optuna(sampler, prob, n_trials, parallel)
    else:
        make = {"Bayesian": BayesianStrategy, "TPE": TPEStrategy, "Random": RandomStrategy}
        strategy = make[strategy_name](prob.space, seed=seed)
        values, ask_s = _run_ours(strategy, prob, n_trials, parallel)
    best = np.minimum.accumulate(np.array(values)).tolist()
    return {
        "problem": problem_name,
        "strategy": strategy_name,
        "seed": seed,
        "parallel": parallel,
        "best": best,
        "ask_ms_median": 1000 * statistics.median(wall for wall, _ in ask_s),
        "ask_cpu_ms_median": 1000 * statistics.median(cpu for _, cpu in ask_s),
    }


def _limit_threads() -> None:
    """One BLAS/OpenMP/torch thread per process, so timings compare like with like."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover
        pass
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


# -- summary ----------------------------------------------------------------------------------
def _quantiles(xs: list[float]) -> tuple[float, float, float]:
    q1, med, q3 = np.percentile(np.array(xs), [25, 50, 75])
    return float(med), float(q1), float(q3)


def summarise(runs: list[dict[str, Any]], n_trials: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in runs:
        key = f"{r['problem']}/p{r['parallel']}/{r['strategy']}"
        out.setdefault(key, {"best": [], "ask_ms": [], "ask_cpu_ms": []})
        out[key]["best"].append(r["best"])
        out[key]["ask_ms"].append(r["ask_ms_median"])
        out[key]["ask_cpu_ms"].append(r["ask_cpu_ms_median"])
    summary: dict[str, Any] = {}
    for key, v in out.items():
        name = key.split("/")[0]
        optimum = problem(name).optimum
        entry: dict[str, Any] = {"n_seeds": len(v["best"])}
        for k in CHECKPOINTS:
            if k > n_trials:
                continue
            vals = [b[k - 1] - (optimum or 0.0) for b in v["best"]]
            med, q1, q3 = _quantiles(vals)
            entry[f"at{k}"] = {"median": med, "q1": q1, "q3": q3}
        entry["ask_ms_median"] = statistics.median(v["ask_ms"])
        entry["ask_cpu_ms_median"] = statistics.median(v["ask_cpu_ms"])
        summary[key] = entry
    return summary


def verdicts(
    summary: Mapping[str, Any], problems: list[str], parallels: list[int], n_trials: int
) -> dict[str, Any]:
    """The issue's goals, per problem, from the medians of best-after-``n_trials``."""
    k = f"at{max(c for c in CHECKPOINTS if c <= n_trials)}"
    out: dict[str, Any] = {}

    def med(problem_name: str, p: int, strategy: str) -> float | None:
        entry = summary.get(f"{problem_name}/p{p}/{strategy}")
        return None if entry is None else entry[k]["median"]

    for name in problems:
        has_optimum = problem(name).optimum is not None
        v: dict[str, Any] = {}
        seq = 1
        b, g, t, r = (med(name, seq, s) for s in STRATEGIES)
        if b is not None and g is not None:
            tie = has_optimum and b <= TIE and g <= TIE
            v["vs_gpsampler"] = "tie" if tie else ("win" if b <= g else "loss")
        if b is not None and t is not None:
            v["vs_tpe"] = "win" if b < t or (has_optimum and b <= TIE and t <= TIE) else "loss"
        tb = summary.get(f"{name}/p{seq}/Bayesian", {}).get("ask_ms_median")
        tg = summary.get(f"{name}/p{seq}/GPSampler", {}).get("ask_ms_median")
        if tb is not None and tg is not None:
            v["time_vs_gpsampler"] = "ok" if tb <= tg else "slower"
        for p in parallels:
            if p == seq:
                continue
            bp, rp = med(name, p, "Bayesian"), med(name, p, "Random")
            if None not in (b, r, bp, rp) and r - b > 0:  # type: ignore[operator]
                v[f"retained_p{p}"] = (rp - bp) / (r - b)  # type: ignore[operator]
        out[name] = v
    return out


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) < 1e-3 or abs(x) >= 1e4:
        return f"{x:.1e}"
    return f"{x:.4f}" if abs(x) < 1 else f"{x:.3f}"


def to_markdown(
    summary: Mapping[str, Any],
    problems: list[str],
    parallels: list[int],
    strategies: list[str],
    n_trials: int,
) -> str:
    """The results as a Markdown table (median [IQR] at each checkpoint), for the README."""
    checkpoints = [k for k in CHECKPOINTS if k <= n_trials]
    head = [
        "problem",
        "parallel",
        "strategy",
        *(f"after {k}" for k in checkpoints),
        "ask ms",
        "ask CPU ms",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in problems:
        for p in parallels:
            for s in strategies:
                entry = summary.get(f"{name}/p{p}/{s}")
                if entry is None:
                    continue
                cells = [
                    f"{_fmt(entry[f'at{k}']['median'])} "
                    f"[{_fmt(entry[f'at{k}']['q1'])}, {_fmt(entry[f'at{k}']['q3'])}]"
                    for k in checkpoints
                ]
                times = [f"{entry['ask_ms_median']:.1f}", f"{entry['ask_cpu_ms_median']:.1f}"]
                row = [name, str(p), s, *cells, *times]
                lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def build_table(
    summary: Mapping[str, Any],
    verdict: Mapping[str, Any],
    problems: list[str],
    parallels: list[int],
    strategies: list[str],
    n_trials: int,
    n_seeds: int,
) -> Table:
    table = Table(
        title=(
            f"Best after 10/25/{n_trials} trials: median [IQR] over {n_seeds} seeds "
            "(regret where the optimum is known, else the value; lower is better)"
        )
    )
    table.add_column("problem")
    table.add_column("par", justify="right")
    table.add_column("strategy")
    for k in CHECKPOINTS:
        if k <= n_trials:
            table.add_column(f"after {k}", justify="right")
    table.add_column("ask ms", justify="right")
    table.add_column("CPU ms", justify="right")
    for name in problems:
        for p in parallels:
            for s in strategies:
                entry = summary.get(f"{name}/p{p}/{s}")
                if entry is None:
                    continue
                cells = []
                for k in CHECKPOINTS:
                    if k > n_trials:
                        continue
                    e = entry[f"at{k}"]
                    cells.append(f"{_fmt(e['median'])} [{_fmt(e['q1'])}, {_fmt(e['q3'])}]")
                table.add_row(
                    name,
                    str(p),
                    s,
                    *cells,
                    f"{entry['ask_ms_median']:.1f}",
                    f"{entry['ask_cpu_ms_median']:.1f}",
                )
        v = verdict.get(name, {})
        notes = ", ".join(
            f"{key}={val:.2f}" if isinstance(val, float) else f"{key}={val}"
            for key, val in v.items()
        )
        table.add_row("", "", f"[italic]{notes}[/italic]", *([""] * (len(table.columns) - 3)))
    return table


# -- entry points -----------------------------------------------------------------------------
def run(args: argparse.Namespace) -> tuple[Table, dict[str, Any]]:
    """Runner entry: ``python tests/benchmarks/run.py bayesian``."""
    quick = bool(getattr(args, "quick", False))
    n_seeds = int(getattr(args, "seeds", 2 if quick else 10))
    trials_arg = getattr(args, "trials", 50)
    n_trials = 50 if trials_arg in (None, 200) else int(trials_arg)  # 200 is run.py's default
    if quick:
        n_trials = min(n_trials, 25)
    problems = list(getattr(args, "problems", None) or PROBLEMS)
    strategies = list(getattr(args, "strategies", None) or STRATEGIES)
    parallels = list(getattr(args, "parallel", None) or [1, 4])
    workers = int(getattr(args, "workers", None) or os.cpu_count() or 1)
    # Strategies interleaved, so a busy spell on the machine slows all of them alike.
    tasks = [
        (name, s, seed, p, n_trials)
        for name in problems
        for seed in range(n_seeds)
        for p in parallels
        for s in strategies
        if not (s == "Random" and p != 1)  # Random's trial n is the same draw at any parallelism
    ]
    if workers > 1:
        # run.py loads this file without registering it in sys.modules, so the workers could not
        # unpickle our run_one; the same function from an importable copy of the module can.
        module = sys.modules.get(__name__) or importlib.import_module(__name__)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            runs = list(pool.map(module.run_one, tasks, chunksize=1))
    else:
        runs = [run_one(t) for t in tasks]
    # Random does not look at the history: its parallel runs are its sequential runs.
    runs += [
        {**r, "parallel": p}
        for r in runs
        if r["strategy"] == "Random"
        for p in parallels
        if p != 1
    ]
    summary = summarise(runs, n_trials)
    verdict = verdicts(summary, problems, parallels, n_trials)
    table = build_table(summary, verdict, problems, parallels, strategies, n_trials, n_seeds)
    data = {
        "trials": n_trials,
        "seeds": n_seeds,
        "parallel": parallels,
        "summary": summary,
        "verdicts": verdict,
        "markdown": to_markdown(summary, problems, parallels, strategies, n_trials),
        "runs": runs,
    }
    return table, data


def main(argv: list[str] | None = None) -> int:
    import json

    from rich.console import Console

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--problems", type=lambda s: s.split(","), default=None)
    parser.add_argument("--strategies", type=lambda s: s.split(","), default=None)
    parser.add_argument("--parallel", type=lambda s: [int(p) for p in s.split(",")], default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="2 seeds, 25 trials: a smoke run")
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"))
    args = parser.parse_args(argv)
    if args.quick and args.seeds == 10:
        args.seeds = 2
    started = time.time()
    table, data = run(args)
    data["seconds"] = round(time.time() - started, 1)
    data["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    Console(width=200).print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "bayesian.json"
    path.write_text(json.dumps(data, indent=2))
    print(f"wrote {path} in {data['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
