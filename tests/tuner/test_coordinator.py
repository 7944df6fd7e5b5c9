"""Real tuning jobs through the Python API and the coordinator, on the LocalPool.

Limits, stops, early stopping and resume with exact timing are in test_coordinator_simulated.py.

User training functions here are plain callables; worker processes and the SQLite file are real.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tuner import (
    BestTrainingJobNotAvailableError,
    CategoricalParameter,
    ContinuousParameter,
    HyperparameterTuner,
    IntegerParameter,
    JobExistsError,
)
from tuner.storage import SqlStorage

RANGES = {
    "x": ContinuousParameter(-5.0, 5.0),
    "n": IntegerParameter(1, 4),
    "c": CategoricalParameter(["a", "b"]),
}


def quadratic(hp, ctx):
    assert isinstance(hp["x"], float) and isinstance(hp["n"], int) and isinstance(hp["c"], str)
    for epoch in range(1, hp.get("epochs", 3) + 1):
        ctx.report(
            epoch, loss=(hp["x"] - 1.0) ** 2 + hp["n"] / epoch + (0.5 if hp["c"] == "b" else 0.0)
        )


def flaky_once(hp, ctx):
    """Fails on the first attempt of each trial (a marker file per trial), then succeeds."""
    marker = ctx.output_dir / "attempted"
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("1")
        raise RuntimeError("transient failure")
    ctx.report(1, loss=hp["x"] ** 2)


def always_fails(hp, ctx):
    raise ValueError("broken training code")


def never_reports_objective(hp, ctx):
    ctx.report(1, other=1.0)


def slow(hp, ctx):
    for epoch in range(1, 100):
        ctx.report(epoch, loss=hp["x"] ** 2)
        time.sleep(0.1)


def _tuner(fn, db_url, tmp_path, **kwargs):
    defaults = {
        "objective_type": "Minimize",
        "max_jobs": 8,
        "max_parallel_jobs": 2,
        "random_seed": 3,
        "strategy": "Random",
        "storage": db_url,
        "output_path": tmp_path / "out",
    }
    ranges = kwargs.pop("ranges", RANGES)
    defaults.update(kwargs)
    return HyperparameterTuner(fn, "loss", ranges, **defaults)


def test_job_completes_with_counters_best_job_and_dataframe(db_url, tmp_path) -> None:
    tuner = _tuner(quadratic, db_url, tmp_path, max_jobs=10, max_parallel_jobs=3)
    tuner.fit(job_name="quad")
    described = tuner.describe()
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"] == {
        "Completed": 10,
        "InProgress": 0,
        "RetryableError": 0,
        "NonRetryableError": 0,
        "Stopped": 0,
    }
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 10, "Pending": 0, "Failed": 0}
    frame = tuner.analytics().dataframe()
    assert len(frame) == 10
    best_row = frame.loc[frame["FinalObjectiveValue"].idxmin()]
    assert tuner.best_training_job() == best_row["TrainingJobName"]
    assert described["BestTrainingJob"]["TrainingJobName"] == best_row["TrainingJobName"]
    # final objective = the LAST reported value (epoch 3), not the best one
    hp = described["BestTrainingJob"]["TunedHyperParameters"]
    expected = (float(hp["x"]) - 1.0) ** 2 + int(hp["n"]) / 3 + (0.5 if hp["c"] == "b" else 0.0)
    assert described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"][
        "Value"
    ] == pytest.approx(expected)
    assert list(frame.columns[:3]) == ["x", "n", "c"]
    for column in (
        "TrainingJobName",
        "TrainingJobStatus",
        "FinalObjectiveValue",
        "TrainingStartTime",
        "TrainingEndTime",
        "TrainingElapsedTimeSeconds",
    ):
        assert column in frame.columns
    names = frame["TrainingJobName"].tolist()
    assert names[0].startswith("quad-001-") and len(set(names)) == 10


def test_same_seed_same_configurations_whatever_the_parallelism(tmp_path) -> None:
    configs = []
    for parallel in (1, 4):
        tuner = _tuner(
            quadratic,
            f"sqlite:///{tmp_path}/p{parallel}.db",
            tmp_path,
            max_jobs=8,
            max_parallel_jobs=parallel,
        )
        tuner.fit(job_name="seeded")
        summaries = tuner.training_job_summaries(sort_by="Name")
        configs.append([s["TunedHyperParameters"] for s in summaries])
    assert configs[0] == configs[1]


def test_failed_trials_are_retried(db_url, tmp_path) -> None:
    tuner = _tuner(
        flaky_once,
        db_url,
        tmp_path,
        ranges={"x": ContinuousParameter(-1, 1)},
        max_jobs=3,
        max_retry_attempts=2,
    )
    tuner.fit(job_name="flaky")
    counters = tuner.describe()["TrainingJobStatusCounters"]
    assert counters["Completed"] == 3 and counters["RetryableError"] == 0


def test_failures_without_retries_are_recorded_and_job_fails(db_url, tmp_path) -> None:
    tuner = _tuner(always_fails, db_url, tmp_path, max_jobs=3)
    tuner.fit(job_name="broken")
    described = tuner.describe()
    assert described["HyperParameterTuningJobStatus"] == "Failed"
    assert "broken training code" in described["FailureReason"]
    assert described["TrainingJobStatusCounters"]["RetryableError"] == 3
    summaries = tuner.training_job_summaries()
    assert all("ValueError: broken training code" in s["FailureReason"] for s in summaries)
    with pytest.raises(BestTrainingJobNotAvailableError, match="Best training job not available"):
        tuner.best_training_job()


def test_missing_objective_metric_gives_objective_status_failed(db_url, tmp_path) -> None:
    tuner = _tuner(never_reports_objective, db_url, tmp_path, max_jobs=2)
    tuner.fit(job_name="nometric")
    described = tuner.describe()
    assert described["TrainingJobStatusCounters"]["NonRetryableError"] == 2
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 0, "Pending": 0, "Failed": 2}
    assert described["HyperParameterTuningJobStatus"] == "Failed"
    for summary in tuner.training_job_summaries():
        assert summary["TrainingJobStatus"] == "Failed"
        assert summary["FailureReason"].startswith("NoObjectiveMetric: "), summary
        assert "'loss'" in summary["FailureReason"]


def test_grid_runs_every_combination(db_url, tmp_path) -> None:
    ranges = {
        "x": CategoricalParameter(["0.5", "1.0", "2.0"]),
        "n": CategoricalParameter(["1", "2"]),
        "c": CategoricalParameter(["a"]),
    }
    tuner = _tuner(quadratic, db_url, tmp_path, ranges=ranges, strategy="Grid", max_jobs=None)
    tuner.fit(job_name="grid")
    seen = {
        tuple(sorted(s["TunedHyperParameters"].items())) for s in tuner.training_job_summaries()
    }
    assert len(seen) == 6


def test_existing_finished_job_name_is_refused(db_url, tmp_path) -> None:
    tuner = _tuner(quadratic, db_url, tmp_path, max_jobs=1)
    tuner.fit(job_name="once")
    with pytest.raises(JobExistsError, match="already exists and is Completed"):
        tuner.fit(job_name="once")


def test_stop_request_from_another_process_stops_the_job(db_url, tmp_path) -> None:
    tuner = _tuner(slow, db_url, tmp_path, max_jobs=10, ranges={"x": ContinuousParameter(-1, 1)})
    tuner.fit(job_name="stoppable", wait=False)
    time.sleep(1.0)
    SqlStorage(db_url).set_job_status("stoppable", "Stopping", now=time.time())
    tuner.wait()
    described = tuner.describe()
    assert described["HyperParameterTuningJobStatus"] == "Stopped"
    assert described["TrainingJobStatusCounters"]["Stopped"] >= 1
    assert described["TrainingJobStatusCounters"]["InProgress"] == 0


def test_closure_with_captured_state_runs_in_workers(db_url, tmp_path) -> None:
    offset = 7.5
    scale = {"value": 2.0}

    def train(hp, ctx):
        ctx.report(1, loss=scale["value"] * hp["x"] + offset, pid=float(os.getpid()))

    tuner = _tuner(train, db_url, tmp_path, ranges={"x": ContinuousParameter(0, 1)}, max_jobs=3)
    tuner.fit(job_name="closure")
    for s in tuner.training_job_summaries():
        x = float(s["TunedHyperParameters"]["x"])
        assert s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == pytest.approx(
            2.0 * x + 7.5
        )
    assert int(SqlStorage(db_url).trials("closure")[0].final_metrics["pid"]) != os.getpid()


def test_output_dir_and_log_per_training_job(db_url, tmp_path) -> None:
    tuner = _tuner(quadratic, db_url, tmp_path, max_jobs=2)
    tuner.fit(job_name="outputs")
    for trial in SqlStorage(db_url).trials("outputs"):
        assert Path(trial.output_dir) == tmp_path / "out" / trial.name
        assert (Path(trial.output_dir) / "training-job.log").exists()


@pytest.mark.slow
def test_python_api_tunes_builtin_xgboost_on_real_data(datasets, db_url, tmp_path) -> None:
    data = datasets["breast_cancer"]
    tuner = HyperparameterTuner(
        "xgboost",
        "validation:logloss",
        {"eta": ContinuousParameter(0.05, 0.5), "max_depth": IntegerParameter(2, 6)},
        objective_type="Minimize",
        max_jobs=4,
        max_parallel_jobs=2,
        random_seed=1,
        static_hyperparameters={"objective": "binary:logistic", "num_round": 20},
        storage=db_url,
        output_path=tmp_path / "out",
    )
    tuner.fit(
        {"train": data / "train.csv", "validation": f"file://{data / 'validation.csv'}"},
        job_name="api-xgb",
    )
    described = tuner.describe()
    assert described["TrainingJobStatusCounters"]["Completed"] == 4
    best = described["BestTrainingJob"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] < 0.3  # chance is 0.66
    assert described["TrainingJobDefinition"]["StaticHyperParameters"] == {
        "objective": "binary:logistic",
        "num_round": "20",
        "_tuning_objective_metric": "validation:logloss",  # AMT shows what it adds
    }
    from algorithms.xgboost import load

    model = load(tmp_path / "out" / best["TrainingJobName"])
    import numpy as np

    validation = np.loadtxt(data / "validation.csv", delimiter=",")
    accuracy = ((model.predict(validation[:, 1:]) > 0.5) == validation[:, 0]).mean()
    assert accuracy > 0.9


def test_bayesian_is_the_default_and_runs_end_to_end(db_url, tmp_path) -> None:
    tuner = HyperparameterTuner(
        quadratic,
        "loss",
        RANGES,
        objective_type="Minimize",
        max_jobs=14,
        max_parallel_jobs=2,
        random_seed=0,
        storage=db_url,
        output_path=tmp_path,
    )
    assert tuner.strategy == "Bayesian"
    tuner.fit(job_name="bayes")
    described = tuner.describe()
    assert described["HyperParameterTuningJobConfig"]["Strategy"] == "Bayesian"
    assert described["TrainingJobStatusCounters"]["Completed"] == 14
    configs = [
        tuple(sorted(s["TunedHyperParameters"].items())) for s in tuner.training_job_summaries()
    ]
    assert len(set(configs)) == 14  # never the same configuration twice
    # the optimum is x = 1, n = 1, c = "a": the model-guided trials beat the initial design
    values = [
        s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        for s in tuner.training_job_summaries(sort_by="CreationTime")
    ]
    assert min(values[7:]) < min(values[:7])


def test_tpe_strategy_runs_end_to_end(db_url, tmp_path) -> None:
    pytest.importorskip("optuna")
    tuner = _tuner(quadratic, db_url, tmp_path, strategy="TPE", max_jobs=6)
    tuner.fit(job_name="tpe")
    assert tuner.describe()["TrainingJobStatusCounters"]["Completed"] == 6


def test_a_spec_without_strategy_runs_bayesian(tmp_path) -> None:
    from tuner.api import build_request
    from tuner.spec import spec_from_request

    tuner = _tuner(quadratic, "sqlite:///x.db", tmp_path)
    request = build_request(**{**_request_kwargs(tuner), "job_name": "nostrategy"})
    del request["HyperParameterTuningJobConfig"]["Strategy"]
    assert spec_from_request(request, train_fn=quadratic).strategy == "Bayesian"


def _request_kwargs(tuner) -> dict:
    return {
        "job_name": "x",
        "algorithm_reference": "python-callable://tests.quadratic",
        "objective_metric_name": "loss",
        "objective_type": "Minimize",
        "hyperparameter_ranges": tuner.hyperparameter_ranges,
        "strategy": "Random",
        "max_jobs": 4,
        "max_parallel_jobs": 1,
        "max_runtime_in_seconds": None,
        "early_stopping_type": "Off",
        "random_seed": None,
        "static_hyperparameters": {},
        "metric_definitions": None,
        "inputs": None,
        "output_path": None,
        "max_retry_attempts": None,
        "max_training_job_runtime_in_seconds": None,
        "environment": None,
        "completion_criteria": None,
    }
