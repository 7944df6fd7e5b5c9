"""The Python API says what the SageMaker SDK v2 says where both name the same thing."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import pytest

from tuner import (
    ContinuousParameter,
    HyperparameterTuner,
    IntegerParameter,
    TuningJobCompletionCriteriaConfig,
    WarmStartTypes,
)
from tuner.errors import JobNotFoundError

#: sagemaker.tuner.HyperparameterTuner.__init__ at v2.257.6 (AMT.md 14.2), after ``estimator``.
SDK_PARAMETERS = [
    "objective_metric_name",
    "hyperparameter_ranges",
    "metric_definitions",
    "strategy",
    "objective_type",
    "max_jobs",
    "max_parallel_jobs",
    "max_runtime_in_seconds",
    "tags",
    "base_tuning_job_name",
    "warm_start_config",
    "strategy_config",
    "completion_criteria_config",
    "early_stopping_type",
    "estimator_name",
    "random_seed",
    "autotune",
    "hyperparameters_to_keep_static",
]
RANGES = {"x": ContinuousParameter(-2.0, 2.0), "n": IntegerParameter(1, 3)}


def bowl(hyperparameters, ctx) -> None:
    for epoch in range(1, 3):
        ctx.report(epoch, loss=(hyperparameters["x"] - 0.5) ** 2 + hyperparameters["n"] / epoch)


def _tuner(db: str, **kwargs) -> HyperparameterTuner:
    kwargs.setdefault("objective_type", "Minimize")
    return HyperparameterTuner(
        bowl, "loss", RANGES, max_jobs=3, max_parallel_jobs=1, storage=db, **kwargs
    )


def test_the_constructor_takes_the_sdks_parameters_in_the_sdks_order() -> None:
    parameters = list(inspect.signature(HyperparameterTuner).parameters.values())
    positional = [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == ["algorithm", *SDK_PARAMETERS]
    assert inspect.signature(HyperparameterTuner).parameters["strategy"].default == "Bayesian"
    fit = list(inspect.signature(HyperparameterTuner.fit).parameters)
    assert fit[:6] == [
        "self",
        "inputs",
        "job_name",
        "include_cls_metadata",
        "estimator_kwargs",
        "wait",
    ]


def test_completion_criteria_config_and_its_alias(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 't.db'}"
    config = TuningJobCompletionCriteriaConfig(
        max_number_of_training_jobs_not_improving=5,
        complete_on_convergence=True,
        target_objective_metric_value=0.01,
    )
    spec = _tuner(db, completion_criteria_config=config).build_spec(job_name="c1")
    criteria = spec.request["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"]
    assert criteria == {
        "TargetObjectiveMetricValue": 0.01,
        "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 5},
        "ConvergenceDetected": {"CompleteOnConvergence": "Enabled"},
    }
    assert (spec.target_objective_value, spec.max_jobs_not_improving) == (0.01, 5)
    assert spec.complete_on_convergence
    alias = _tuner(db, completion_criteria={"TargetObjectiveMetricValue": 0.01})
    assert alias.build_spec(job_name="c2").target_objective_value == 0.01
    with pytest.raises(TypeError, match="not both"):
        _tuner(db, completion_criteria=criteria, completion_criteria_config=config)


def test_tags_reach_the_request(tmp_path: Path) -> None:
    tags = [{"Key": "project", "Value": "demo"}]
    spec = _tuner(f"sqlite:///{tmp_path / 't.db'}", tags=tags).build_spec(job_name="tagged")
    assert spec.request["Tags"] == tags


def test_autotune_as_the_sdk_sends_it(datasets: dict, tmp_path: Path) -> None:
    """Every static hyperparameter not kept static becomes an AutoParameter; Autotune then
    tunes those with a recommended range (eta) and keeps the rest at their value."""
    shutil.copytree(datasets["breast_cancer"], tmp_path / "data")
    tuner = HyperparameterTuner(
        "xgboost",
        "validation:auc",
        {},
        max_jobs=2,
        autotune=True,
        hyperparameters_to_keep_static=["objective", "num_round"],
        static_hyperparameters={
            "objective": "binary:logistic",
            "num_round": 5,
            "eta": 0.3,
            "scale_pos_weight": 2,
        },
        storage=f"sqlite:///{tmp_path / 't.db'}",
    )
    inputs = {"train": tmp_path / "data/train.csv", "validation": tmp_path / "data/validation.csv"}
    spec = tuner.build_spec(inputs, job_name="auto")
    assert spec.request["Autotune"] == {"Mode": "Enabled"}
    autos = spec.request["HyperParameterTuningJobConfig"]["ParameterRanges"]["AutoParameters"]
    assert {a["Name"] for a in autos} == {"eta", "scale_pos_weight"}
    assert set(spec.space.ranges) == {"eta"}
    assert spec.static_hyperparameters["scale_pos_weight"] == "2"
    assert spec.static_hyperparameters["num_round"] == "5"


def test_the_sdks_argument_rules() -> None:
    with pytest.raises(ValueError, match="must not be empty unless autotune"):
        HyperparameterTuner(bowl, "loss", {})
    with pytest.raises(ValueError, match="only read with autotune"):
        HyperparameterTuner(bowl, "loss", RANGES, hyperparameters_to_keep_static=["x"])
    with pytest.raises(ValueError, match="twice"):
        HyperparameterTuner(
            bowl, "loss", {}, autotune=True, hyperparameters_to_keep_static=["n", "n"]
        )


def test_fit_takes_the_sdks_arguments_and_attach_finds_the_job(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 't.db'}"
    tuner = _tuner(db, random_seed=3)
    tuner.fit(None, "sdk-fit", include_cls_metadata=True, estimator_kwargs=None, wait=True)
    attached = HyperparameterTuner.attach("sdk-fit", storage=db)
    assert attached.latest_tuning_job == "sdk-fit"
    assert attached.best_training_job() == tuner.best_training_job()
    assert attached.describe()["TrainingJobStatusCounters"]["Completed"] == 3
    assert set(attached.hyperparameter_ranges) == {"x", "n"}
    assert (attached.objective_type, attached.max_jobs, attached.random_seed) == ("Minimize", 3, 3)
    child = attached.identical_dataset_and_algorithm_tuner()
    assert child.warm_start_config.type is WarmStartTypes.IDENTICAL_DATA_AND_ALGORITHM
    assert child.warm_start_config.parents == {"sdk-fit"}
    again = HyperparameterTuner.attach("sdk-fit", storage=db, algorithm=bowl)
    again.fit(job_name="sdk-again")
    assert again.describe()["TrainingJobStatusCounters"]["Completed"] == 3
    with pytest.raises(JobNotFoundError):
        HyperparameterTuner.attach("no-such-job", storage=db)
