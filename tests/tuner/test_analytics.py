"""Analytics: the DataFrame, correlations, importance and learning curves of stored jobs.

Planted effects come from real tuning jobs of Python callables (fast on the LocalPool); exact
statuses (stopped trials) from jobs written straight into a real SQLite file; the statistics'
edge cases from hand-built arrays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pytest
import stored_jobs

import tuner
from tuner import (
    CategoricalParameter,
    ContinuousParameter,
    HyperparameterTuner,
    IntegerParameter,
    TunerError,
)
from tuner.objective import Objective, ObjectiveType
from tuner.reports.analytics import TuningJobAnalytics
from tuner.reports.effects import (
    MIN_TRIALS,
    EffectStrength,
    ImportanceMethod,
    categorical_effect,
    importance_of,
    numeric_effect,
)
from tuner.reports.tuned_parameters import TunedParameter
from tuner.storage import SqlStorage

PLANTED_RANGES = {
    "lr": ContinuousParameter(1e-4, 1e-1, "Logarithmic"),
    "noise": ContinuousParameter(0.0, 1.0),
    "depth": IntegerParameter(1, 10),
    "booster": CategoricalParameter(["gbtree", "dart", "gblinear"]),
}
MINIMIZE = Objective("loss", ObjectiveType.MINIMIZE)
MAXIMIZE = Objective("score", ObjectiveType.MAXIMIZE)


def planted_loss(hp, ctx):
    """Only lr (on its log scale) and booster matter; noise is never read; depth barely."""
    wobble = 0.3 * math.sin(7919.0 * hp["lr"] * hp["depth"])
    loss = 2.5 * math.log10(hp["lr"]) + (0.0 if hp["booster"] == "gbtree" else 3.0) + wobble
    for epoch in range(1, 4):
        ctx.report(epoch, loss=loss + 1.0 / epoch)


def planted_score(hp, ctx):
    """The same effect as a score to maximise: lower lr and gbtree are still better."""
    wobble = 0.3 * math.sin(7919.0 * hp["lr"] * hp["depth"])
    score = -2.5 * math.log10(hp["lr"]) - (0.0 if hp["booster"] == "gbtree" else 3.0) + wobble
    ctx.report(1, score=score)


def _run(fn, metric, objective_type, db_url, tmp_path, name, *, max_jobs=40, ranges=None):
    tuner_ = HyperparameterTuner(
        fn,
        metric,
        ranges or PLANTED_RANGES,
        objective_type=objective_type,
        max_jobs=max_jobs,
        max_parallel_jobs=2,
        random_seed=11,
        storage=db_url,
        output_path=tmp_path / "out",
        strategy="Random",
    )
    tuner_.fit(job_name=name)
    return tuner_


@pytest.fixture(scope="module")
def planted_db(tmp_path_factory):
    """One database with the planted job as a loss (Minimize) and as a score (Maximize)."""
    tmp = tmp_path_factory.mktemp("planted")
    url = f"sqlite:///{tmp / 'tuner.db'}"
    _run(planted_loss, "loss", "Minimize", url, tmp, "planted-min")
    _run(planted_score, "score", "Maximize", url, tmp, "planted-max")
    return url


# -- helpers for jobs written straight into storage --------------------------------------------
def store_job(
    storage: SqlStorage,
    name: str,
    ranges: Mapping[str, object],
    trials: Sequence[tuple[Mapping[str, object], Sequence[float], str]],
    *,
    objective: Objective = MINIMIZE,
    start: float = 1_700_000_000.0,
) -> None:
    """A finished job: each trial is (hyperparameters, objective curve, final status)."""
    stored_jobs.store_job(storage, name, ranges, trials, objective=objective, start=start)


# -- the DataFrame -------------------------------------------------------------------------------
def test_dataframe_keeps_amt_columns_and_adds_ours(planted_db) -> None:
    frame = TuningJobAnalytics("planted-min", planted_db).dataframe()
    assert len(frame) == 40
    assert list(frame.columns[:4]) == ["lr", "noise", "depth", "booster"]
    assert list(frame.columns[4:10]) == [
        "TrainingJobName",
        "TrainingJobStatus",
        "FinalObjectiveValue",
        "TrainingStartTime",
        "TrainingEndTime",
        "TrainingElapsedTimeSeconds",
    ]
    assert list(frame.columns[10:]) == [
        "TrialNumber",
        "EpochsReported",
        "StoppedEarly",
        "FailureReason",
        "Attempts",
        "BestSoFar",
        "TuningJobName",
        "TrainingJobDefinitionName",
    ]
    assert frame["BestSoFar"].is_monotonic_decreasing
    assert frame["BestSoFar"].iloc[-1] == frame["FinalObjectiveValue"].min()
    assert (frame["EpochsReported"] == 3).all()
    assert (frame["TuningJobName"] == "planted-min").all()


def test_best_training_job_and_csv_export(planted_db, tmp_path) -> None:
    analytics = tuner.analytics("planted-max", planted_db)
    best = analytics.best_training_job()
    frame = analytics.dataframe()
    assert best["FinalObjectiveValue"] == frame["FinalObjectiveValue"].max()
    assert best["MetricName"] == "score" and best["TuningJobName"] == "planted-max"
    path = tmp_path / "trials.csv"
    analytics.export_csv(path)
    assert list(pd.read_csv(path).columns) == list(frame.columns)


# -- planted effects -----------------------------------------------------------------------------
@pytest.mark.parametrize("job", ["planted-min", "planted-max"])
def test_correlations_recover_the_planted_effects(planted_db, job) -> None:
    effects = {e.parameter: e for e in TuningJobAnalytics(job, planted_db).correlations()}
    lr = effects["lr"]
    assert lr.scale == "Logarithmic" and lr.n_trials == 40
    assert lr.strength is EffectStrength.STRONG
    assert lr.better == "lower"  # for the loss and for the score alike
    assert lr.p_value < 1e-6
    assert lr.ci95[0] <= lr.value <= lr.ci95[1]
    assert abs(lr.value) > 0.8 and (lr.value > 0) == (job == "planted-min")
    assert lr.median_of_best < 1e-3  # the best trials sit at the low end
    booster = effects["booster"]
    assert booster.statistic == "eta_squared" and booster.better == "gbtree"
    assert booster.strength in (EffectStrength.STRONG, EffectStrength.MODERATE)
    assert sum(booster.count_by_value.values()) == 40
    assert set(booster.mean_by_value) == {"gbtree", "dart", "gblinear"}
    assert effects["noise"].strength is EffectStrength.WEAK


@pytest.mark.parametrize("method", ["fanova", "permutation"])
def test_importance_ranks_the_planted_parameter_first(planted_db, method) -> None:
    result = TuningJobAnalytics("planted-min", planted_db).importance(method=method)
    assert result.method is ImportanceMethod(method)
    assert list(result.scores)[0] == "lr"
    assert result.scores["lr"] > 0.5
    assert math.isclose(sum(result.scores.values()), 1.0)
    assert result.conclusive and result.model_r2 > 0.5 and result.n_trials == 40
    described = "FanovaImportanceEvaluator" if method == "fanova" else "permutation"
    assert described in result.description


def test_results_are_stable_for_a_fixed_seed(planted_db) -> None:
    analytics = TuningJobAnalytics("planted-min", planted_db)
    assert analytics.correlations(seed=3) == analytics.correlations(seed=3)
    assert analytics.importance(seed=3) == analytics.importance(seed=3)
    assert analytics.correlations(seed=3)[0].ci95 != analytics.correlations(seed=4)[0].ci95


def test_importance_falls_back_to_permutation_without_optuna(monkeypatch, planted_db) -> None:
    import tuner.reports.effects as module

    monkeypatch.setattr(module, "_has_optuna", lambda: False)
    result = TuningJobAnalytics("planted-min", planted_db).importance()
    assert result.method is ImportanceMethod.PERMUTATION
    assert "Optuna is not installed" in result.description
    with pytest.raises(tuner.errors.MissingDependencyError, match="pip install optuna"):
        TuningJobAnalytics("planted-min", planted_db).importance(method="fanova")


# -- statistics on hand-built samples ----------------------------------------------------------
def test_scales_follow_the_search() -> None:
    auto_log = TunedParameter("eta", ContinuousParameter(0.001, 1.0))  # Auto resolves to log
    assert auto_log.scale.value == "Logarithmic" and auto_log.scale_label == "log10(eta)"
    assert auto_log.to_scale(np.array([0.01, 0.1])) == pytest.approx([-2.0, -1.0])
    rev = TunedParameter("beta", ContinuousParameter(0.5, 0.999, "ReverseLogarithmic"))
    assert rev.to_scale(np.array([0.9, 0.99])) == pytest.approx([1.0, 2.0])
    assert rev.from_scale(rev.to_scale(np.array([0.95]))) == pytest.approx([0.95])
    linear = TunedParameter("x", ContinuousParameter(-1.0, 1.0))
    assert linear.scale.value == "Linear" and linear.scale_label == "x"


@pytest.mark.parametrize(
    ("objective", "sign", "better"),
    [(MINIMIZE, 1.0, "lower"), (MINIMIZE, -1.0, "higher"), (MAXIMIZE, 1.0, "higher")],
)
def test_better_follows_the_objective_direction(objective, sign, better) -> None:
    rng = np.random.default_rng(0)
    x = 10.0 ** rng.uniform(-4, -1, 30)
    y = sign * np.log10(x) + rng.normal(0, 0.1, 30)
    param = TunedParameter("eta", ContinuousParameter(1e-4, 1e-1, "Logarithmic"))
    effect = numeric_effect(param, x, y, objective)
    assert effect.strength is EffectStrength.STRONG and effect.better == better


def test_pure_noise_has_no_strong_effect_and_inconclusive_importance() -> None:
    rng = np.random.default_rng(1)
    params = [
        TunedParameter("a", ContinuousParameter(0.0, 1.0)),
        TunedParameter("b", CategoricalParameter(["x", "y", "z"])),
    ]
    a = rng.uniform(0, 1, 60)
    b = rng.choice(["x", "y", "z"], 60)
    y = rng.normal(0, 1, 60)
    assert numeric_effect(params[0], a, y, MINIMIZE).strength is EffectStrength.WEAK
    assert categorical_effect(params[1], list(b), y, MINIMIZE).strength is EffectStrength.WEAK
    result = importance_of(params, {"a": a, "b": b.astype(object)}, y)
    assert not result.conclusive and "may be noise" in result.note


def test_small_samples_are_inconclusive() -> None:
    param = TunedParameter("eta", ContinuousParameter(0.0, 1.0))
    x = np.linspace(0, 1, MIN_TRIALS - 1)
    effect = numeric_effect(param, x, 2 * x, MINIMIZE)
    assert effect.value == pytest.approx(1.0)  # a perfect rank correlation ...
    assert effect.strength is EffectStrength.INCONCLUSIVE  # ... still proves nothing
    cat = TunedParameter("c", CategoricalParameter(["a", "b"]))
    values = ["a", "b", "a", "b"]
    assert (
        categorical_effect(cat, values, np.array([0.0, 1.0, 0.1, 1.1]), MINIMIZE).strength
        is EffectStrength.INCONCLUSIVE
    )
    result = importance_of([param], {"eta": x}, 2 * x)
    assert not result.conclusive and "too few trials" in result.note


def test_constant_parameter_and_missing_values() -> None:
    param = TunedParameter("k", IntegerParameter(1, 5))
    effect = numeric_effect(param, np.full(10, 3.0), np.arange(10.0), MINIMIZE)
    assert effect.strength is EffectStrength.CONSTANT and effect.value is None
    x = np.array([1, 2, np.nan, 4, 5, 1, 2, 3, 4, 5], dtype=float)
    effect = numeric_effect(param, x, np.arange(10.0), MINIMIZE)
    assert effect.n_trials == 9


# -- learning curves and stopped trials ---------------------------------------------------------
def test_learning_curves_mark_stopped_trials(db_url) -> None:
    storage = SqlStorage(db_url)
    ranges = {"x": ContinuousParameter(0.0, 1.0)}
    store_job(
        storage,
        "curves",
        ranges,
        [
            ({"x": 0.1}, [3.0, 2.0, 1.0], "Completed"),
            ({"x": 0.9}, [5.0, 4.5], "Stopped"),
            ({"x": 0.5}, [4.0], "Failed"),
        ],
    )
    analytics = TuningJobAnalytics("curves", storage)
    curves = analytics.learning_curves(["loss"])
    assert list(curves.columns) == [
        "TuningJobName",
        "TrainingJobName",
        "TrialNumber",
        "TrainingJobStatus",
        "StoppedEarly",
        "MetricName",
        "Epoch",
        "Value",
        "Timestamp",
    ]
    assert len(curves) == 6
    stopped = curves[curves["StoppedEarly"]]
    assert stopped["TrialNumber"].unique().tolist() == [2] and stopped["Epoch"].max() == 2
    assert set(analytics.learning_curves()["MetricName"]) == {"loss", "other"}
    frame = analytics.dataframe()
    assert frame["FinalObjectiveValue"].tolist()[:2] == [1.0, 4.5]
    assert math.isnan(frame["FinalObjectiveValue"].tolist()[2])
    assert frame["StoppedEarly"].tolist() == [False, True, False]


# -- several jobs together ---------------------------------------------------------------------
def test_jobs_sharing_a_space_are_analysed_together(db_url) -> None:
    storage = SqlStorage(db_url)
    ranges = {"x": ContinuousParameter(0.0, 1.0), "c": CategoricalParameter(["a", "b"])}
    rng = np.random.default_rng(5)

    def trials(n: int, offset: float) -> list:
        out = []
        for _ in range(n):
            x, c = float(rng.uniform()), str(rng.choice(["a", "b"]))
            out.append(({"x": x, "c": c}, [offset + x + (0.5 if c == "b" else 0.0)], "Completed"))
        return out

    store_job(storage, "parent", ranges, trials(10, 0.0), start=1_700_000_000.0)
    store_job(storage, "child", ranges, trials(10, -1.0), start=1_700_000_100.0)
    together = TuningJobAnalytics("child", storage, include=["parent"])
    assert together.job_names == ["parent", "child"]  # creation order
    frame = together.dataframe()
    assert len(frame) == 20 and frame["TuningJobName"].tolist() == ["parent"] * 10 + ["child"] * 10
    assert frame["BestSoFar"].is_monotonic_decreasing
    best = together.best_training_job()  # OverallBestTrainingJob
    assert best["TuningJobName"] == "child"
    assert best["FinalObjectiveValue"] == frame["FinalObjectiveValue"].min()
    effects = {e.parameter: e for e in together.correlations()}
    assert effects["x"].n_trials == 20 and effects["x"].better == "lower"
    assert effects["c"].better == "a"
    assert together.importance().n_trials == 20
    assert len(TuningJobAnalytics("child", storage).dataframe()) == 10


def test_jobs_with_different_objectives_are_refused(db_url) -> None:
    storage = SqlStorage(db_url)
    ranges = {"x": ContinuousParameter(0.0, 1.0)}
    store_job(storage, "loss-job", ranges, [({"x": 0.5}, [1.0], "Completed")])
    store_job(storage, "score-job", ranges, [({"x": 0.5}, [1.0], "Completed")], objective=MAXIMIZE)
    with pytest.raises(TunerError, match="objectives differ"):
        TuningJobAnalytics("loss-job", storage, include=["score-job"])


def test_the_first_published_import_paths_keep_working(planted_db) -> None:
    """``tuner.analytics(...)`` and ``from tuner.analytics import ...`` in one process."""
    import tuner.analytics
    from tuner.analytics import MIN_TRIALS as published_min_trials
    from tuner.analytics import TuningJobAnalytics as Published

    assert Published is TuningJobAnalytics and published_min_trials == MIN_TRIALS
    assert isinstance(tuner.analytics("planted-max", planted_db), TuningJobAnalytics)
    assert tuner.TuningJobAnalytics is TuningJobAnalytics
