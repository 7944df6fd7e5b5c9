"""Effects with early stopping on, and effects that are not monotone (issue 16, point 1).

A stopped training job's last value (after 1 of 60 rounds, say) is not a final objective: the
effects, the importance and the readings compare only the training jobs that ran their full
budget, or, with too few of those, each job's value at a common epoch; the best training job
keeps AMT's rule. A U-shaped effect reads "best near X", never "higher is better"; a noise
parameter is not read as mattering. Histories are written straight into SQLite (exact curves
and statuses); one small real job runs the median rule on worker processes.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import re

import numpy as np
import pytest
import stored_jobs
from rich.console import Console

from tuner import ContinuousParameter, HyperparameterTuner, IntegerParameter
from tuner.objective import Objective, ObjectiveType
from tuner.reports import comparable
from tuner.reports.analytics import TuningJobAnalytics
from tuner.reports.comparable import ScoredJob
from tuner.reports.effects import numeric_effect
from tuner.reports.report import build_report
from tuner.reports.terminal import cmd_report, render_terminal
from tuner.reports.tuned_parameters import TunedParameter
from tuner.storage import SqlStorage

MINIMIZE = Objective("loss", ObjectiveType.MINIMIZE)
N_EPOCHS = 60


def _store(storage: SqlStorage, name: str, ranges, trials) -> None:
    stored_jobs.store_job(storage, name, ranges, trials, objective=MINIMIZE, max_jobs=500)


def _effects(report) -> dict:
    return {e["Parameter"]: e for e in report["Effects"]}


def _terminal(report) -> str:
    console = Console(file=io.StringIO(), width=240, record=True)
    render_terminal(report, console)
    return console.export_text()


def _slow_starters(n: int, seed: int) -> list:
    """``x`` lowers the final loss, but a high ``x`` starts slowly; ``z`` is noise.

    The loss at epoch e is ``(1 - x) + 4 x / e``: after one epoch ``1 + 3 x``, higher x worse;
    after 60, higher x better. Jobs with ``x > 0.5`` are stopped after one epoch, as the median
    rule would, so counting their last value flips the sign of x's effect.
    """
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x, z = float(rng.uniform(0, 1)), float(rng.uniform(0, 1))
        noise = float(rng.normal(0, 0.03))
        stopped = x > 0.5
        epochs = 1 if stopped else N_EPOCHS
        curve = [(1 - x) + 4 * x / e + noise for e in range(1, epochs + 1)]
        out.append(({"x": x, "z": z}, curve, "Stopped" if stopped else "Completed"))
    return out


SLOW_RANGES = {"x": ContinuousParameter(0.0, 1.0), "z": ContinuousParameter(0.0, 1.0)}


@pytest.fixture
def storage(db_url) -> SqlStorage:
    return SqlStorage(db_url)


# -- choosing the comparable jobs (pure) ----------------------------------------------------------
def _job(completed: bool, epochs: int, value_at=lambda e: float(e)) -> ScoredJob:
    curve = [(e, value_at(e)) for e in range(1, epochs + 1)]
    return ScoredJob(completed, curve[-1][1], curve)


def test_full_budget_is_the_default_rule() -> None:
    jobs = [_job(True, 60)] * 12 + [_job(False, 1)] * 8
    chosen = comparable.choose(jobs)
    assert chosen.rule == "full-budget" and chosen.indices == tuple(range(12))
    assert (chosen.jobs, chosen.of, chosen.stopped) == (12, 20, 8)
    assert "the 8 stopped early are left out" in chosen.description
    assert not comparable.needs_curves([True] * 12 + [False] * 8)


def test_too_few_full_budget_jobs_compare_at_the_largest_epoch_half_of_them_reached() -> None:
    # 3 completed (60 epochs), 37 stopped after 1..37 epochs: 40 jobs, so N = 20 must reach it.
    jobs = [_job(True, 60)] * 3 + [_job(False, k) for k in range(1, 38)]
    assert comparable.needs_curves([j.completed for j in jobs])
    chosen = comparable.choose(jobs)
    reached = sorted((max(e for e, _ in j.curve) for j in jobs), reverse=True)
    assert chosen.rule == "common-resource" and chosen.resource == reached[19] == 21
    assert chosen.jobs == sum(r >= 21 for r in reached) == 20
    assert set(chosen.values) == {21.0}  # each job's value at epoch 21, not its last one
    assert chosen.to_dict() | {"Description": None} == {
        "Rule": "common-resource",
        "Resource": 21,
        "Jobs": 20,
        "Of": 40,
        "Completed": 3,
        "Stopped": 37,
        "Description": None,
    }
    # Epochs reported sparsely: the last value at or before the common epoch counts.
    assert comparable.value_at([(1, 5.0), (10, 3.0), (20, 1.0)], 15) == 3.0


def test_without_curves_too_few_full_budget_jobs_stay_full_budget_and_say_why() -> None:
    jobs = [ScoredJob(True, 1.0)] * 3 + [ScoredJob(False, 9.0)] * 30
    chosen = comparable.choose(jobs)
    assert chosen.rule == "full-budget" and chosen.jobs == 3
    assert "no learning curves" in chosen.description
    assert comparable.choose(jobs, "last-value").jobs == 33
    with pytest.raises(ValueError, match="allowed are auto, full-budget"):
        comparable.choose(jobs, "median")


# -- planted effects with early stopping on -------------------------------------------------------
def test_stopped_jobs_early_values_do_not_flip_a_planted_effect(storage, db_url, capsys) -> None:
    trials = _slow_starters(60, seed=4)
    _store(storage, "slow", SLOW_RANGES, trials)
    analytics = TuningJobAnalytics("slow", storage)
    n_completed = sum(status == "Completed" for *_, status in trials)
    assert 20 <= n_completed <= 40

    # Counting last values, stopped or not, flips the sign: lower x looks better.
    old = _effects(build_report(analytics.snapshot(comparison="last-value")))
    assert old["x"]["Value"] > 0.3 and "higher x" not in old["x"]["Reading"]

    report = build_report(analytics.snapshot())
    effects = _effects(report)
    assert effects["x"]["Reading"] == "higher x is better" and effects["x"]["Value"] < -0.5
    assert effects["x"]["NTrials"] == n_completed
    assert effects["z"]["Finding"] == "little"
    assert report["Summary"] == "higher x is better; z has little effect"
    assert report["Comparison"] == {
        "Rule": "full-budget",
        "Resource": None,
        "Jobs": n_completed,
        "Of": 60,
        "Completed": n_completed,
        "Stopped": 60 - n_completed,
        "Description": report["Comparison"]["Description"],
    }
    assert report["Importance"]["NTrials"] == n_completed
    # The best training job keeps AMT's rule: the best last value, here a Completed job's
    # (every stopped one is worse); the top table lists jobs the same way.
    best = min(range(60), key=lambda i: trials[i][1][-1])
    assert report["BestTrainingJob"]["TrainingJobName"] == f"slow-{best + 1:03d}"
    assert report["NTrialsWithObjective"] == 60

    text = _terminal(report)
    assert f"(full-budget) {n_completed} of 60 training jobs" in text
    assert "Reading: higher x is better" in text

    args = argparse.Namespace(name=["slow"], db=db_url, json=True, html=None, csv=None)
    assert cmd_report(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["Comparison"]["Rule"] == "full-budget"
    assert data["Comparison"]["Jobs"] == n_completed


def test_too_few_completed_jobs_are_compared_at_a_common_epoch(storage) -> None:
    """5 of 40 jobs completed; the others stopped after 1..30 epochs, whatever their x."""
    rng = np.random.default_rng(8)
    trials = []
    for i in range(40):
        x, z = float(rng.uniform(0, 1)), float(rng.uniform(0, 1))
        epochs = N_EPOCHS if i < 5 else int(rng.integers(1, 31))
        noise = float(rng.normal(0, 0.03))
        curve = [(1 - x) + 4 * x / e + noise for e in range(1, epochs + 1)]
        trials.append(({"x": x, "z": z}, curve, "Completed" if i < 5 else "Stopped"))
    _store(storage, "sparse", SLOW_RANGES, trials)
    report = build_report(TuningJobAnalytics("sparse", storage).snapshot())
    reached = sorted((len(c) for _, c, _ in trials), reverse=True)
    comparison = report["Comparison"]
    assert comparison["Rule"] == "common-resource" and comparison["Resource"] == reached[19]
    assert comparison["Resource"] >= 5  # where (1 - x) + 4 x / e falls with x
    assert comparison["Jobs"] == sum(r >= reached[19] for r in reached) and comparison["Of"] == 40
    effects = _effects(report)
    assert effects["x"]["Reading"] == "higher x is better"
    assert effects["x"]["NTrials"] == comparison["Jobs"]
    assert f"at epoch {comparison['Resource']}" in _terminal(report)


# -- shapes: a U, a monotone trend and noise ------------------------------------------------------
def _bowl(n: int, seed: int) -> list:
    """eta: a U on its log scale, best at 10^-1.5 ~ 0.03 (as in the dashboard benchmark, where
    more of the range lies left of the optimum, so rho alone says "higher eta is better");
    depth: lower is better; noise: nothing."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        eta = float(10 ** rng.uniform(-4, 0))
        depth, noise = int(rng.integers(1, 11)), float(rng.uniform(0, 1))
        loss = 0.3 * (math.log10(eta) + 1.5) ** 2 + 0.06 * depth + float(rng.normal(0, 0.05))
        out.append(({"eta": eta, "depth": depth, "noise": noise}, [loss], "Completed"))
    return out


BOWL_RANGES = {
    "eta": ContinuousParameter(1e-4, 1.0),  # Auto: logarithmic
    "depth": IntegerParameter(1, 10),
    "noise": ContinuousParameter(0.0, 1.0),
}


def test_a_u_shaped_effect_reads_best_near_its_optimum(storage) -> None:
    _store(storage, "bowl", BOWL_RANGES, _bowl(200, seed=1))
    report = build_report(TuningJobAnalytics("bowl", storage).snapshot())
    eta = _effects(report)["eta"]
    assert eta["Value"] < -0.2 and eta["PValue"] < 0.05  # rho alone: "higher eta is better"
    assert eta["Shape"] == "nonmonotone" and eta["Finding"] == "nonmonotone"
    assert eta["BinnedEtaSquared"] > eta["Value"] ** 2 + 0.1 and eta["Better"] is None
    assert 0.016 <= eta["BestNear"] <= 0.064  # the planted optimum is 0.032
    near = re.fullmatch(r"eta matters, but not monotonically: best near ([0-9.]+)", eta["Reading"])
    assert near and float(near.group(1)) == eta["BestNear"]
    assert "higher eta" not in report["Summary"] and "lower eta" not in report["Summary"]
    depth = _effects(report)["depth"]
    assert depth["Shape"] == "monotone" and depth["Reading"].startswith("lower depth")
    assert _effects(report)["noise"]["Finding"] == "little"
    assert "eta matters, but not monotonically: best near" in report["Summary"]
    assert "binned eta^2" in _terminal(report)


def test_pure_noise_is_rarely_read_as_mattering() -> None:
    parameter = TunedParameter("noise", ContinuousParameter(0.0, 1.0))
    readings = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        x, y = rng.uniform(0, 1, 60), rng.normal(0, 1, 60)
        effect = numeric_effect(parameter, x, y, MINIMIZE, seed=seed, n_bootstrap=200)
        readings.append((effect.shape, effect.strength.value))
    nonmonotone = sum(shape == "nonmonotone" for shape, _ in readings)
    mattering = sum(strength in ("strong", "moderate") for _, strength in readings)
    assert nonmonotone <= 2 and mattering <= 3, readings


def test_a_monotone_trend_is_not_called_nonmonotone() -> None:
    parameter = TunedParameter("x", ContinuousParameter(0.0, 1.0))
    for seed in range(10):
        rng = np.random.default_rng(seed)
        x = rng.uniform(0, 1, 80)
        for y in (x + rng.normal(0, 0.2, 80), np.sqrt(x) + rng.normal(0, 0.05, 80)):
            effect = numeric_effect(parameter, x, y, MINIMIZE, seed=seed, n_bootstrap=200)
            assert effect.shape == "monotone" and effect.better == "lower", seed


# -- a real job: the median rule stops the slow starters ------------------------------------------
def slow_starter(hp, ctx):
    """Loss ``(1 - x) + 4 x / epoch`` over 10 epochs: high x starts slowly, ends best."""
    wobble = 0.01 * math.sin(977.0 * hp["z"])
    for epoch in range(1, 11):
        ctx.report(epoch, loss=(1 - hp["x"]) + 4 * hp["x"] / epoch + wobble)
        if ctx.should_stop():
            return


def test_a_real_job_with_early_stopping_reads_the_completed_jobs(db_url, tmp_path) -> None:
    tuner = HyperparameterTuner(
        slow_starter,
        "loss",
        SLOW_RANGES,
        objective_type="Minimize",
        max_jobs=30,
        max_parallel_jobs=1,
        random_seed=3,
        storage=db_url,
        output_path=tmp_path / "out",
        strategy="Random",
        early_stopping_type="Auto",
    )
    tuner.fit(job_name="real")
    analytics = TuningJobAnalytics("real", db_url)
    frame = analytics.dataframe()
    stopped = int(frame["StoppedEarly"].sum())
    assert stopped >= 8  # the median rule stopped the slow starters
    stopped_x = frame.loc[frame["StoppedEarly"], "x"]
    assert stopped_x.mean() > frame.loc[~frame["StoppedEarly"], "x"].mean()
    old = _effects(build_report(analytics.snapshot(comparison="last-value")))
    assert old["x"]["Value"] > 0.3  # counting stopped jobs: lower x looked better
    report = build_report(analytics.snapshot())
    assert report["Comparison"]["Rule"] == "full-budget"
    assert report["Comparison"]["Jobs"] == 30 - stopped
    assert _effects(report)["x"]["Reading"] == "higher x is better"
    assert _effects(report)["z"]["Finding"] == "little"
    best = tuner.best_training_job()
    assert report["BestTrainingJob"]["TrainingJobName"] == best
