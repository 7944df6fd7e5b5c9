"""Learning-curve benchmark: early stopping and Hyperband against full training, Optuna and Ray Tune.

``python tests/benchmarks/run.py learning_curves [--trials N] [--repeats SEEDS]``; extra options
in ``BENCH_ARGS``: ``--quick`` (8 trials, 1 seed: a smoke run), ``--seeds N`` (overrides
``--repeats``, default 3), ``--trials N`` (trials per run; otherwise ``min(--trials, 40)``),
``--problems mlp,xgb``, ``--methods a,b,...`` (keys below; ``nostop`` always runs first, it is the
reference). Run it with ``COLUMNS=180`` or wider so that rich does not fold the table.
The default (40 trials, 3 seeds, both problems, all methods) takes about 10 minutes on 2 cores
(``--seeds 5``, as in the README, about 17);
``--quick`` about 2. Asynchronous stopping decisions depend on the order reports arrive in, so
repeated runs with the same seed differ somewhat (the configurations do not).

Problems (the training is a deterministic function of the hyperparameters, so the same
configuration gives the same curve under every engine):

* ``mlp``: a one-hidden-layer torch MLP on scikit-learn's digits (standardised, fixed 20/80
  stratified train/validation split, ``random_state=0``), AdamW, up to 30 epochs; objective
  ``validation:accuracy`` (Maximize) after every epoch. Tuned: lr (log 1e-4..1e-1), hidden units
  (int, log 16..256), weight_decay (log 1e-6..1e-2), batch_size in {16, 32, 64, 128}.
* ``xgb``: xgboost on breast_cancer (fixed 70/30 stratified split), one boosting round per
  report, up to 100 rounds; objective ``validation:logloss`` (Minimize). Tuned: eta (log
  0.01..0.5), max_depth (1..10), min_child_weight (log 0.1..10), subsample (0.5..1),
  colsample_bytree (0.3..1), lambda (log 1e-3..10). ``nthread=1``.

Methods, all with the same number of trials, 2 trials at a time, and, except model-based
Hyperband, **the same configurations in the same order**: our Random strategy's draws for the
seed (our Random and Hyperband draw trial ``n`` from the same generator), replayed into Optuna
with ``enqueue_trial`` (its sampler is ``RandomSampler(seed)`` but never gets to sample) and into
Ray Tune as a grid over the configurations' indices. So only the stopping differs.

* ``nostop``: ours, Random, early stopping Off (full training: the reference).
* ``median``: ours, Random, early stopping Auto (AMT's median rule, ``strategies.median_rule``).
* ``hyperband``: ours, Hyperband, MinResource 1, MaxResource 30 (mlp) / 100 (xgb), eta 3.
* ``hyperband_mb``: ours, model-based Hyperband (configurations from the Bayesian strategy).
* ``optuna_median``: Optuna ``MedianPruner(n_startup_trials=3, n_warmup_steps=0,
  n_min_trials=3)`` (mirrors our rule's 3 finished trials and no warm-up; Optuna compares the
  trial's best value so far with the median of completed trials' values at that step),
  ``study.optimize(n_jobs=2)`` (threads) with in-memory storage.
* ``optuna_hyperband``: Optuna ``HyperbandPruner(min_resource=1, max_resource=R,
  reduction_factor=3)``, same setting.
* ``ray_asha``: Ray Tune ``ASHAScheduler(time_attr="training_iteration", max_t=R,
  grace_period=1, reduction_factor=3)`` (Ray's default single bracket), function trainable,
  ``max_concurrent_trials=2``, ``reuse_actors=True`` (Ray's fastest setting) on
  ``ray.init(num_cpus=2)``.
* ``ray_median``: Ray Tune ``MedianStoppingRule(time_attr="training_iteration",
  grace_period=1, min_samples_required=3, min_time_slice=R + 1)``, same setting (the time
  slice keeps Ray from pausing trials while it has fewer than 3 curves: a paused function
  trainable without checkpoints restarts from scratch).

Measures (per seed; the table shows medians over seeds):

* resource: epochs or rounds reported, from each engine's own records (ours: ``n_reports``;
  Optuna: intermediate values; Ray Tune: ``training_iteration``). "trained" counts the epochs
  the training function actually finished (a trace file), which also counts the work done
  between a stop decision and the trial noticing it.
* wall: seconds from the start of the job to its end (Ray's start-up excluded).
* best final: best final objective over trials; a stopped trial's final value is its last one.
* to 0.5%: reports in time order (all trials), resource accumulated until the best value reported
  so far is first within 0.5% (relative) of the no-stopping run's best final value for that seed;
  "never" if it is not. Shown as a fraction of the no-stopping run's total resource too.

Goal (README): Hyperband reaches the quality of full-budget random search with at most a third of
its resource; the median rule saves at least 28% of the resource with a final best within 0.5% of
no stopping; each at least as good as the Optuna and Ray Tune equivalents on the same problem.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import statistics
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.table import Table

MLP_EPOCHS = 30
XGB_ROUNDS = 100
TOLERANCE = 0.005
TRACE_ENV = "LC_BENCH_TRACE"

Report = Callable[[int, float], None]


# -- training functions (shared by every engine) -------------------------------------------------
def _trace(path: str | None, step: int, value: float) -> None:
    if path:
        with open(path, "a") as f:
            f.write(f"{time.time():.6f} {step} {value!r}\n")


def mlp_core(hp: dict[str, Any], report: Report, trace: str | None = None) -> None:
    """Train the digits MLP for up to MLP_EPOCHS epochs, calling ``report(epoch, accuracy)``."""
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    torch.set_num_threads(1)
    X, y = load_digits(return_X_y=True)
    # Train on 20%: with a 70/30 split full training was within 0.5% of its best after 6% of
    # its budget (the second trial), too easy to tell the stopping methods apart.
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.8, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_tr)
    X_tr = torch.tensor(scaler.transform(X_tr), dtype=torch.float32)
    X_va = torch.tensor(scaler.transform(X_va), dtype=torch.float32)
    y_tr, y_va = torch.tensor(y_tr), torch.tensor(y_va)
    # A private generator (not torch's global one): deterministic even with Optuna's threads.
    gen = torch.Generator().manual_seed(0)
    hidden = int(hp["hidden"])

    def linear(n_in: int, n_out: int) -> torch.nn.Linear:
        layer = torch.nn.Linear(n_in, n_out)
        bound = 1.0 / math.sqrt(n_in)  # torch's default init, drawn from ``gen``
        with torch.no_grad():
            layer.weight.uniform_(-bound, bound, generator=gen)
            layer.bias.uniform_(-bound, bound, generator=gen)
        return layer

    model = torch.nn.Sequential(linear(64, hidden), torch.nn.ReLU(), linear(hidden, 10))
    opt = torch.optim.AdamW(
        model.parameters(), lr=float(hp["lr"]), weight_decay=float(hp["weight_decay"])
    )
    batch, n = int(hp["batch_size"]), len(X_tr)
    for epoch in range(1, MLP_EPOCHS + 1):
        model.train()
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(X_tr[idx]), y_tr[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(X_va).argmax(1) == y_va).float().mean().item()
        _trace(trace, epoch, accuracy)
        report(epoch, accuracy)


def xgb_core(hp: dict[str, Any], report: Report, trace: str | None = None) -> None:
    """Boost up to XGB_ROUNDS rounds on breast_cancer, calling ``report(round, logloss)``."""
    import xgboost as xgb
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    d_tr, d_va = xgb.DMatrix(X_tr, label=y_tr), xgb.DMatrix(X_va, label=y_va)
    params = {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "nthread": 1,
        "seed": 0,
        "eta": float(hp["eta"]),
        "max_depth": int(hp["max_depth"]),
        "min_child_weight": float(hp["min_child_weight"]),
        "subsample": float(hp["subsample"]),
        "colsample_bytree": float(hp["colsample_bytree"]),
        "lambda": float(hp["lambda"]),
    }

    class PerRound(xgb.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log):  # noqa: ANN001, ANN201
            value = float(evals_log["validation"]["logloss"][-1])
            _trace(trace, epoch + 1, value)
            report(epoch + 1, value)  # may raise to stop the trial
            return False

    xgb.train(
        params,
        d_tr,
        XGB_ROUNDS,
        evals=[(d_va, "validation")],
        verbose_eval=False,
        callbacks=[PerRound()],
    )


def mlp_train(hp, ctx):
    """Our engine's callable for the MLP."""
    mlp_core(
        hp, lambda e, v: ctx.report(e, **{"validation:accuracy": v}), os.environ.get(TRACE_ENV)
    )


def xgb_train(hp, ctx):
    """Our engine's callable for xgboost."""
    xgb_core(
        hp, lambda e, v: ctx.report(e, **{"validation:logloss": v}), os.environ.get(TRACE_ENV)
    )


# -- problems ------------------------------------------------------------------------------------
def _problems() -> dict[str, dict[str, Any]]:
    from tuner import CategoricalParameter, ContinuousParameter, IntegerParameter

    log = "Logarithmic"
    return {
        "mlp": {
            "label": "MLP digits",
            "unit": "epochs",
            "core": mlp_core,
            "ours": mlp_train,
            "metric": "validation:accuracy",
            "maximize": True,
            "max_resource": MLP_EPOCHS,
            "ranges": {
                "lr": ContinuousParameter(1e-4, 1e-1, log),
                "hidden": IntegerParameter(16, 256, log),
                "weight_decay": ContinuousParameter(1e-6, 1e-2, log),
                "batch_size": CategoricalParameter(["16", "32", "64", "128"]),
            },
        },
        "xgb": {
            "label": "xgboost cancer",
            "unit": "rounds",
            "core": xgb_core,
            "ours": xgb_train,
            "metric": "validation:logloss",
            "maximize": False,
            "max_resource": XGB_ROUNDS,
            "ranges": {
                "eta": ContinuousParameter(0.01, 0.5, log),
                "max_depth": IntegerParameter(1, 10),
                "min_child_weight": ContinuousParameter(0.1, 10, log),
                "subsample": ContinuousParameter(0.5, 1.0),
                "colsample_bytree": ContinuousParameter(0.3, 1.0),
                "lambda": ContinuousParameter(1e-3, 10, log),
            },
        },
    }


def _typed(ranges: dict[str, Any], hp: dict[str, str]) -> dict[str, Any]:
    """A stored configuration (strings) as values for Optuna and Ray Tune."""
    out: dict[str, Any] = {}
    for name, rng in ranges.items():
        raw = hp[name]
        out[name] = {"Continuous": float, "Integer": lambda s: int(float(s))}.get(rng.kind, str)(
            raw
        )
    return out


def _optuna_suggest(trial: Any, ranges: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, rng in ranges.items():
        log = str(getattr(rng, "scaling_type", "")) == "Logarithmic"
        if rng.kind == "Continuous":
            out[name] = trial.suggest_float(name, rng.min_value, rng.max_value, log=log)
        elif rng.kind == "Integer":
            out[name] = trial.suggest_int(name, int(rng.min_value), int(rng.max_value), log=log)
        else:
            out[name] = trial.suggest_categorical(name, list(rng.values))
    return out


# -- measures ------------------------------------------------------------------------------------
def _to_reach(events: list[tuple[float, float]], target: float, maximize: bool) -> int | None:
    """Resource (reports, in time order) until a value within TOLERANCE of ``target``."""
    threshold = target - abs(target) * TOLERANCE if maximize else target + abs(target) * TOLERANCE
    for used, (_, value) in enumerate(sorted(events), start=1):
        if (value >= threshold) if maximize else (value <= threshold):
            return used
    return None


def _best(values: list[float], maximize: bool) -> float | None:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return None
    return max(values) if maximize else min(values)


def _trained(trace: Path) -> int:
    return sum(1 for _ in trace.open()) if trace.exists() else 0


# -- engines -------------------------------------------------------------------------------------
def run_ours(
    problem: dict[str, Any], method: str, seed: int, n: int, workdir: Path
) -> dict[str, Any]:
    from tuner import HyperbandStrategyConfig, HyperparameterTuner, StrategyConfig
    from tuner.storage import SqlStorage

    # Random explicitly: the API's default strategy is Bayesian, whose suggestions depend on
    # the history (so on the stopping): only Random gives every method the same configurations.
    kw: dict[str, Any] = {"strategy": "Random"}
    if method == "median":
        kw["early_stopping_type"] = "Auto"
    elif method in ("hyperband", "hyperband_mb"):
        kw["strategy"] = "Hyperband"
        kw["strategy_config"] = StrategyConfig(
            HyperbandStrategyConfig(
                max_resource=problem["max_resource"],
                min_resource=1,
                reduction_factor=3,
                model_based=method == "hyperband_mb",
            )
        )
    tag = f"{problem['key']}-{method}-{seed}".replace("_", "-")  # job names: no underscores
    db = f"sqlite:///{workdir / f'{tag}.db'}"
    trace = workdir / f"{tag}.trace"
    tuner = HyperparameterTuner(
        problem["ours"],
        problem["metric"],
        problem["ranges"],
        objective_type="Maximize" if problem["maximize"] else "Minimize",
        max_jobs=n,
        max_parallel_jobs=2,
        random_seed=seed,
        storage=db,
        output_path=workdir / "out" / tag,
        executor="local",
        environment={TRACE_ENV: str(trace)},
        **kw,
    )
    start = time.perf_counter()
    tuner.fit(job_name=tag)
    wall = time.perf_counter() - start
    storage = SqlStorage(db)
    trials = storage.trials(tag)
    curves = storage.curves(tag, [problem["metric"]])
    failed = [t for t in trials if t.status == "Failed"]
    if failed:
        msg = f"{len(failed)} of {len(trials)} trials failed, e.g. {failed[0].failure_reason}"
        raise RuntimeError(msg)
    return {
        "resource": sum(t.n_reports for t in trials),
        "trained": _trained(trace),
        "wall_s": wall,
        "best_final": _best([t.final_value for t in trials], problem["maximize"]),
        "events": [(p.at, p.value) for pts in curves.values() for p in pts],
        "stopped": sum(t.status == "Stopped" for t in trials),
        "n_trials": len(trials),
        "configs": [dict(t.hyperparameters) for t in sorted(trials, key=lambda t: t.number)],
    }


def run_optuna(
    problem: dict[str, Any], method: str, seed: int, configs: list[dict[str, Any]], workdir: Path
) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if method == "optuna_median":
        pruner: Any = optuna.pruners.MedianPruner(
            n_startup_trials=3, n_warmup_steps=0, n_min_trials=3
        )
    else:
        pruner = optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=problem["max_resource"], reduction_factor=3
        )
    study = optuna.create_study(
        direction="maximize" if problem["maximize"] else "minimize",
        sampler=optuna.samplers.RandomSampler(seed=seed),
        pruner=pruner,
    )
    for config in configs:
        study.enqueue_trial(config)
    trace = workdir / f"{problem['key']}-{method}-{seed}.trace"
    events: list[tuple[float, float]] = []
    lock = threading.Lock()
    core = problem["core"]

    def objective(trial: Any) -> float:
        hp = _optuna_suggest(trial, problem["ranges"])
        last: list[float] = []

        def report(step: int, value: float) -> None:
            trial.report(value, step)
            with lock:
                events.append((time.time(), value))
            last.append(value)
            if trial.should_prune():
                raise optuna.TrialPruned

        core(hp, report, str(trace))
        return last[-1]

    start = time.perf_counter()
    study.optimize(objective, n_trials=len(configs), n_jobs=2)
    wall = time.perf_counter() - start
    trials = study.get_trials(deepcopy=False)
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    if failed:
        msg = f"{len(failed)} Optuna trials failed"
        raise RuntimeError(msg)
    finals = []
    for t in trials:
        if t.value is not None:
            finals.append(t.value)
        elif t.intermediate_values:
            finals.append(t.intermediate_values[max(t.intermediate_values)])
    return {
        "resource": sum(len(t.intermediate_values) for t in trials),
        "trained": _trained(trace),
        "wall_s": wall,
        "best_final": _best(finals, problem["maximize"]),
        "events": events,
        "stopped": sum(t.state == optuna.trial.TrialState.PRUNED for t in trials),
        "n_trials": len(trials),
    }


def run_ray(
    problem: dict[str, Any], method: str, seed: int, configs: list[dict[str, Any]], workdir: Path
) -> dict[str, Any]:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, MedianStoppingRule

    if method == "ray_asha":
        scheduler: Any = ASHAScheduler(
            time_attr="training_iteration",
            max_t=problem["max_resource"],
            grace_period=1,
            reduction_factor=3,
        )
    else:
        # min_time_slice above MaxResource: with fewer than 3 finished curves Ray's rule would
        # otherwise pause the trial to give its slot to a pending one, and a function trainable
        # without checkpoints restarts from epoch 1 when resumed (seen: 1000+ epochs for 8 trials).
        scheduler = MedianStoppingRule(
            time_attr="training_iteration",
            grace_period=1,
            min_samples_required=3,
            min_time_slice=problem["max_resource"] + 1,
        )
    trace = str(workdir / f"{problem['key']}-{method}-{seed}.trace")
    core = problem["core"]
    # The configurations are replayed by index (a grid over 0..n-1, run in order), so Ray runs
    # exactly the trials the other engines run and max_concurrent_trials applies.
    replay = list(configs)

    def trainable(config: dict[str, Any]) -> None:
        from ray import tune as _tune

        hp = replay[config["index"]]
        core(hp, lambda step, v: _tune.report({"score": v, "t": time.time()}), trace)

    tuner = tune.Tuner(
        trainable,
        param_space={"index": tune.grid_search(list(range(len(replay))))},
        tune_config=tune.TuneConfig(
            num_samples=1,
            metric="score",
            mode="max" if problem["maximize"] else "min",
            scheduler=scheduler,
            max_concurrent_trials=2,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            storage_path=str(workdir / "ray_results"),
            name=f"{problem['key']}-{method}-{seed}",
            verbose=0,
        ),
    )
    start = time.perf_counter()
    grid = tuner.fit()
    wall = time.perf_counter() - start
    errors = [r.error for r in grid if r.error is not None]
    if errors:
        msg = f"{len(errors)} Ray Tune trials failed, e.g. {errors[0]}"
        raise RuntimeError(msg)
    events: list[tuple[float, float]] = []
    resource, finals, stopped = 0, [], 0
    for result in grid:
        df = result.metrics_dataframe
        resource += int(df["training_iteration"].max())
        events.extend(zip(df["t"].tolist(), df["score"].tolist(), strict=True))
        finals.append(float(df.sort_values("t")["score"].iloc[-1]))
        stopped += int(df["training_iteration"].max()) < problem["max_resource"]
    return {
        "resource": resource,
        "trained": _trained(Path(trace)),
        "wall_s": wall,
        "best_final": _best(finals, problem["maximize"]),
        "events": events,
        "stopped": stopped,
        "n_trials": len(grid),
    }


# -- the benchmark -------------------------------------------------------------------------------
METHODS = {
    "nostop": "ours: no early stopping",
    "median": "ours: median rule (Auto)",
    "hyperband": "ours: Hyperband",
    "hyperband_mb": "ours: Hyperband, model-based",
    "optuna_median": "Optuna MedianPruner",
    "optuna_hyperband": "Optuna HyperbandPruner",
    "ray_asha": "Ray Tune ASHAScheduler",
    "ray_median": "Ray Tune MedianStoppingRule",
}


def _options(args: argparse.Namespace) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="BENCH_ARGS")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--trials", type=int, default=None, help="trials per run (no cap)")
    parser.add_argument("--problems", default="mlp,xgb")
    parser.add_argument("--methods", default=",".join(METHODS))
    opts = parser.parse_args(shlex.split(os.environ.get("BENCH_ARGS", "")))
    trials = opts.trials or min(int(getattr(args, "trials", 40) or 40), 40)
    seeds = opts.seeds or int(getattr(args, "repeats", 3) or 3)
    if opts.quick:
        trials, seeds = min(trials, 8), (opts.seeds or 1)
    opts.trials, opts.n_seeds = trials, seeds
    opts.problems = [p for p in opts.problems.split(",") if p]
    opts.methods = ["nostop", *[m for m in opts.methods.split(",") if m and m != "nostop"]]
    unknown = [m for m in opts.methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {list(METHODS)}")
    return opts


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def _summarise(
    runs: list[dict[str, Any]], refs: list[dict[str, Any]], maximize: bool
) -> dict[str, Any]:
    ok = [(r, ref) for r, ref in zip(runs, refs, strict=True) if "error" not in r]
    if not ok:
        return {"error": runs[0].get("error", "not run") if runs else "not run"}
    reach = [r["to_reach"] if r["to_reach"] is not None else math.inf for r, _ in ok]
    gaps = []
    for r, ref in ok:
        sign = 1 if maximize else -1
        gaps.append(sign * (ref["best_final"] - r["best_final"]) / abs(ref["best_final"]))
    return {
        "seeds": len(ok),
        "resource": _median([r["resource"] for r, _ in ok]),
        "resource_vs_nostop": _median([r["resource"] / ref["resource"] for r, ref in ok]),
        "trained": _median([r["trained"] for r, _ in ok]),
        "wall_s": _median([r["wall_s"] for r, _ in ok]),
        "best_final": _median([r["best_final"] for r, _ in ok]),
        "final_gap": _median(gaps),  # relative shortfall against no stopping (>0 = worse)
        "to_reach": _median(reach),
        "to_reach_vs_nostop": _median(
            [x / ref["resource"] for x, (_, ref) in zip(reach, ok, strict=True)]
        ),
        "reached": sum(r["to_reach"] is not None for r, _ in ok),
    }


def _goals(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def get(m: str, k: str) -> float | None:
        s = summary.get(m)
        return None if s is None or "error" in s else s[k]

    out: dict[str, Any] = {}
    for hb in ("hyperband", "hyperband_mb"):
        frac = get(hb, "to_reach_vs_nostop")
        if frac is not None:
            out[f"{hb}_reaches_with_a_third"] = frac <= 1 / 3
    saving = get("median", "resource_vs_nostop")
    if saving is not None:
        out["median_saves_28pct"] = 1 - saving >= 0.28
        out["median_final_within_0.5pct"] = get("median", "final_gap") <= TOLERANCE
    pairs = {
        "median": ("optuna_median", "ray_median"),
        "hyperband": ("optuna_hyperband", "ray_asha"),
    }
    for ours, refs in pairs.items():
        for ref in refs:
            a, b = get(ours, "to_reach"), get(ref, "to_reach")
            if a is not None and b is not None:
                out[f"{ours}_to_reach_le_{ref}"] = a <= b
            a, b = get(ours, "resource"), get(ref, "resource")
            if a is not None and b is not None:
                out[f"{ours}_resource_le_{ref}"] = a <= b
            a, b = get(ours, "final_gap"), get(ref, "final_gap")
            if a is not None and b is not None:
                out[f"{ours}_final_gap_le_{ref}"] = a <= b + 1e-12
    return out


def _fmt_int(x: float) -> str:
    return "never" if math.isinf(x) else f"{x:.0f}"


def run(args: argparse.Namespace) -> tuple[Table, dict[str, Any]]:
    opts = _options(args)
    problems = _problems()
    uses_ray = any(m.startswith("ray_") for m in opts.methods)
    if uses_ray:
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    data: dict[str, Any] = {
        "trials": opts.trials,
        "seeds": opts.n_seeds,
        "parallel": 2,
        "tolerance": TOLERANCE,
        "methods": opts.methods,
        "problems": {},
    }
    table = Table(
        title=(
            f"Learning curves: {opts.trials} trials, 2 at a time, median of {opts.n_seeds} seed(s); "
            f"resource = epochs (MLP, max {MLP_EPOCHS}, validation accuracy) or boosting rounds "
            f"(xgboost, max {XGB_ROUNDS}, validation logloss) reported; gap = final best's shortfall "
            f"against no stopping; to 0.5% = resource until within 0.5% of no stopping's best"
        )
    )
    for col, justify in (
        ("problem", "left"),
        ("method", "left"),
        ("resource", "right"),
        ("vs no stop", "right"),
        ("trained", "right"),
        ("wall s", "right"),
        ("best final", "right"),
        ("gap", "right"),
        ("to 0.5%", "right"),
        ("vs no-stop total", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            for pkey in opts.problems:
                problem = dict(problems[pkey], key=pkey)
                maximize = problem["maximize"]
                per_method: dict[str, list[dict[str, Any]]] = {m: [] for m in opts.methods}
                refs: list[dict[str, Any]] = []
                for seed in range(opts.n_seeds):
                    ref = run_ours(problem, "nostop", seed, opts.trials, workdir)
                    configs = [_typed(problem["ranges"], c) for c in ref.pop("configs")]
                    for method in opts.methods:
                        if method == "nostop":
                            result = dict(ref)
                        else:
                            try:
                                if method.startswith("optuna_"):
                                    result = run_optuna(problem, method, seed, configs, workdir)
                                elif method.startswith("ray_"):
                                    result = run_ray(problem, method, seed, configs, workdir)
                                else:
                                    result = run_ours(problem, method, seed, opts.trials, workdir)
                                    ran = [
                                        _typed(problem["ranges"], c) for c in result.pop("configs")
                                    ]
                                    if method != "hyperband_mb" and ran != configs:
                                        msg = f"{method} ran other configurations than nostop"
                                        raise RuntimeError(msg)
                            except Exception as exc:  # reported as not available, not faked
                                traceback.print_exc()
                                per_method[method].append(
                                    {"seed": seed, "error": f"{type(exc).__name__}: {exc}"}
                                )
                                continue
                        events = result.pop("events")
                        result["to_reach"] = _to_reach(events, ref["best_final"], maximize)
                        result["seed"] = seed
                        result["wall_s"] = round(result["wall_s"], 2)
                        per_method[method].append(result)
                    refs.append(per_method["nostop"][-1])
                summary = {}
                for method in opts.methods:
                    summary[method] = _summarise(per_method[method], refs, maximize)
                data["problems"][pkey] = {
                    "label": problem["label"],
                    "metric": problem["metric"],
                    "objective": "Maximize" if maximize else "Minimize",
                    "max_resource": problem["max_resource"],
                    "runs": per_method,
                    "summary": summary,
                    "goals": _goals(summary),
                }
                for method in opts.methods:
                    s = summary[method]
                    if "error" in s:
                        table.add_row(
                            problem["label"],
                            METHODS[method],
                            "n/a",
                            "",
                            "",
                            "",
                            "",
                            "",
                            "",
                            f"not available: {s['error'][:60]}",
                        )
                        continue
                    reach = _fmt_int(s["to_reach"])
                    if s["reached"] < s["seeds"] and not math.isinf(s["to_reach"]):
                        reach += f" ({s['reached']}/{s['seeds']} seeds)"
                    table.add_row(
                        problem["label"],
                        METHODS[method],
                        f"{s['resource']:.0f}",
                        f"{s['resource_vs_nostop']:.2f}",
                        f"{s['trained']:.0f}",
                        f"{s['wall_s']:.1f}",
                        f"{s['best_final']:.4f}",
                        f"{100 * s['final_gap']:+.2f}%",
                        reach,
                        "never"
                        if math.isinf(s["to_reach_vs_nostop"])
                        else f"{s['to_reach_vs_nostop']:.2f}",
                    )
                table.add_section()
    finally:
        if uses_ray:
            import ray

            ray.shutdown()
    return table, data
