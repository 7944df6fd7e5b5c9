"""DescribeTrainingJob and ListTrainingJobs items of a tuning job's training jobs.

Hand-built records (a one-definition XGBoost request, a multi-algorithm one, a script-mode one,
a Python callable one, a bare one) in every state a training job passes through; every response
is checked against botocore's ``DescribeTrainingJobResponse`` / ``TrainingJobSummary`` with the
shared checker of ``test_response_shapes.py``, and parsed by botocore's own JSON parser.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import botocore.parsers
import botocore.session
import pytest
import yaml

from tuner.describe import (
    LOCAL_ROLE_ARN,
    describe_tuning_job,
    training_job_arn,
    training_job_name,
    tuning_job_arn,
)
from tuner.describe_training import (
    DEFAULT_VOLUME_SIZE_GB,
    TRAINING_JOB_NAME_PATTERN,
    describe_training_job,
    parse_training_job_name,
    training_job_list_summary,
)
from tuner.spec.request_shape import check_request
from tuner.status import JobStatus, TrialStatus
from tuner.storage.records import JobRecord, TrainingJobRecord

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_response_shapes import assert_shape, shape_problems  # noqa: E402  (shared checker)

ROOT = Path(__file__).resolve().parents[2]
DESCRIBE = "DescribeTrainingJobResponse"
SUMMARY = "TrainingJobSummary"
T0 = 1_700_000_000.0
NOW = T0 + 1000.0
OUT = "/tmp/tuner-output"

XGB_REQUEST: dict[str, Any] = {
    "HyperParameterTuningJobName": "xgb-job",
    "HyperParameterTuningJobConfig": {
        "Strategy": "TPE",
        "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 10, "MaxParallelTrainingJobs": 2},
        "ParameterRanges": {
            "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.1", "MaxValue": "0.5"}]
        },
    },
    "TrainingJobDefinition": {
        "AlgorithmSpecification": {
            "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            "MetricDefinitions": [{"Name": "validation:auc", "Regex": "auc:([0-9.]+)"}],
        },
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "StaticHyperParameters": {"objective": "binary:logistic", "num_round": "60"},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "ContentType": "text/csv",
                "DataSource": {"S3DataSource": {"S3Uri": "data/train.csv"}},
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/xgb/output"},
        "ResourceConfig": {
            "InstanceType": "ml.g5.xlarge",
            "InstanceCount": 1,
            "NumCpus": 1,
            "NumGpus": 0.5,
            "AllowCpuFallback": True,
            "CpuFallbackWarning": "no GPU here: the training jobs run on the CPU",
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "RetryStrategy": {"MaximumRetryAttempts": 2},
        "Environment": {"OMP_NUM_THREADS": "1"},
        "EnableNetworkIsolation": True,
        "CheckpointConfig": {"S3Uri": "s3://bucket/checkpoints"},
        "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]},
    },
    "Tags": [{"Key": "project", "Value": "demo"}],
}

MULTI_REQUEST: dict[str, Any] = {
    "HyperParameterTuningJobName": "multi-job",
    "HyperParameterTuningJobConfig": {
        "Strategy": "Random",
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
    },
    "TrainingJobDefinitions": [
        {
            "DefinitionName": "fm-one",
            "TuningObjective": {"Type": "Minimize", "MetricName": "test:rmse"},
            "HyperParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "factors_wd", "MinValue": "1", "MaxValue": "30"}
                ]
            },
            "StaticHyperParameters": {"num_factors": "10", "predictor_type": "regressor"},
            "AlgorithmSpecification": {
                "TrainingImage": "382416733822.dkr.ecr.us-east-1.amazonaws.com/factorization-machines:1",
                "TrainingInputMode": "File",
            },
            "RoleArn": "arn:aws:iam::111122223333:role/SageMakerRole",
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/multi"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
        {
            "DefinitionName": "knn-two",
            "TuningObjective": {"Type": "Minimize", "MetricName": "test:mse"},
            "HyperParameterRanges": {
                "IntegerParameterRanges": [{"Name": "k", "MinValue": "3", "MaxValue": "40"}]
            },
            "StaticHyperParameters": {"feature_dim": "784", "predictor_type": "regressor"},
            "AlgorithmSpecification": {
                "TrainingImage": "382416733822.dkr.ecr.us-east-1.amazonaws.com/knn:1",
                "TrainingInputMode": "Pipe",
            },
            "RoleArn": "arn:aws:iam::111122223333:role/SageMakerRole",
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/multi"},
            "HyperParameterTuningResourceConfig": {
                "InstanceConfigs": [
                    {"InstanceType": "ml.m4.2xlarge", "InstanceCount": 2, "VolumeSizeInGB": 50},
                    {"InstanceType": "ml.m4.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
                ],
                "CpuFallbackWarning": "runs on the CPU",
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
    ],
}

#: What a local request may leave out that AWS's response requires.
BARE_REQUEST: dict[str, Any] = {
    "HyperParameterTuningJobName": "bare",
    "HyperParameterTuningJobConfig": {
        "Strategy": "Random",
        "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
    },
    "TrainingJobDefinition": {"AlgorithmSpecification": {"AlgorithmName": "kmeans"}},
}

SCRIPT_REQUEST: dict[str, Any] = copy.deepcopy(BARE_REQUEST) | {
    "HyperParameterTuningJobName": "script",
    "TrainingJobDefinition": {
        "AlgorithmSpecification": {
            "TrainingImage": "763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-training:2.1-cpu-py310",
            "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.]+)"}],
        },
        "StaticHyperParameters": {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"src"',
        },
    },
}

CALLABLE_REQUEST: dict[str, Any] = copy.deepcopy(BARE_REQUEST) | {
    "HyperParameterTuningJobName": "api",
    "TrainingJobDefinition": {
        "AlgorithmSpecification": {
            "TrainingImage": "python-callable://mymodule:train",
            "MetricDefinitions": [{"Name": "loss", "Regex": "loss=(.*)"}],
        },
        "StaticHyperParameters": {"epochs": "3"},
    },
}


def _job(request: dict[str, Any]) -> JobRecord:
    return JobRecord(
        name=request["HyperParameterTuningJobName"],
        request=copy.deepcopy(request),
        strategy=request["HyperParameterTuningJobConfig"]["Strategy"],
        status=JobStatus.IN_PROGRESS,
        seed=0,
        created_at=T0,
        last_modified_at=T0,
    )


def _trial(
    job: JobRecord, number: int = 1, state: str = "completed", **changes: Any
) -> TrainingJobRecord:
    """A training job of ``job`` in ``state``, with ``changes`` over the state's fields."""
    name = training_job_name(job.name, number)
    base = TrainingJobRecord(
        number=number,
        name=name,
        hyperparameters={"eta": "0.25"},
        status=TrialStatus.PENDING,
        created_at=T0 + 10,
        output_dir=f"{OUT}/{name}",
    )
    started = {"started_at": T0 + 20, "worker": "w-1"}
    ended = {**started, "ended_at": T0 + 140.4, "n_reports": 5}
    metrics = {"final_metrics": {"train:auc": 0.99, "validation:auc": 0.93}, "final_value": 0.93}
    fields: dict[str, Any] = {
        "pending": {},
        "retried": {"attempt": 2, "retry_reasons": ("InternalServerError: worker lost",)},
        "in_progress": {**started, "status": TrialStatus.IN_PROGRESS},
        "completed": {**ended, **metrics, "status": TrialStatus.COMPLETED},
        "failed": {
            **ended,
            "status": TrialStatus.FAILED,
            "failure_reason": "AlgorithmError: RuntimeError('boom')",
            "retryable": False,
        },
        "stopped": {
            **ended,
            **metrics,
            "status": TrialStatus.STOPPED,
            "failure_reason": "median stopping rule: 0.5 is worse than the median 0.7 at epoch 2",
        },
        "max_runtime": {
            **ended,
            **metrics,
            "status": TrialStatus.STOPPED,
            "failure_reason": "MaxRuntimeExceeded: the training job ran longer than 600 s",
        },
        "stopped_before_start": {
            "status": TrialStatus.STOPPED,
            "ended_at": T0 + 30,
            "failure_reason": "tuning job ended: stopped by the user",
        },
    }[state]
    return replace(base, **{**fields, **changes})


STATES = {
    # state: (TrainingJobStatus, SecondaryStatus, the transitions' statuses)
    "pending": ("InProgress", "Starting", ["Starting"]),
    "retried": ("InProgress", "Starting", ["Starting"]),
    "in_progress": ("InProgress", "Training", ["Starting", "Training"]),
    "completed": ("Completed", "Completed", ["Starting", "Training", "Completed"]),
    "failed": ("Failed", "Failed", ["Starting", "Training", "Failed"]),
    "stopped": ("Stopped", "Stopped", ["Starting", "Training", "Stopped"]),
    "max_runtime": (
        "Stopped",
        "MaxRuntimeExceeded",
        ["Starting", "Training", "MaxRuntimeExceeded"],
    ),
    "stopped_before_start": ("Stopped", "Stopped", ["Starting", "Stopped"]),
}


def _walk_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _walk_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _walk_keys(v)}
    return set()


# -- every state, every request ------------------------------------------------------------------


@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize(
    "request_",
    [XGB_REQUEST, MULTI_REQUEST, BARE_REQUEST, SCRIPT_REQUEST, CALLABLE_REQUEST],
    ids=["xgboost", "multi", "bare", "script", "callable"],
)
def test_every_state_is_in_botocores_shape(request_: dict[str, Any], state: str) -> None:
    job = _job(request_)
    definition = "knn-two" if "TrainingJobDefinitions" in request_ else None
    trial = _trial(job, 7, state, definition=definition)
    described = describe_training_job(job, trial, now=NOW)
    assert_shape(described, DESCRIBE, f"{job.name} {state}")
    summary = training_job_list_summary(trial)
    assert_shape(summary, SUMMARY, f"{job.name} {state}")

    status, secondary, transitions = STATES[state]
    assert described["TrainingJobStatus"] == summary["TrainingJobStatus"] == status
    assert described["SecondaryStatus"] == summary["SecondaryStatus"] == secondary
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]] == transitions
    assert described["TrainingJobName"] == summary["TrainingJobName"] == trial.name
    assert described["TrainingJobArn"] == summary["TrainingJobArn"] == training_job_arn(trial.name)
    assert described["TuningJobArn"] == tuning_job_arn(job.name)
    assert described["CreationTime"] == dt.datetime.fromtimestamp(T0 + 10, tz=dt.timezone.utc)
    # Plain strings, not our enums: any JSON encoder writes them.
    assert type(described["TrainingJobStatus"]) is str
    assert type(described["SecondaryStatus"]) is str


def test_a_pending_training_job(tmp_path: Path) -> None:
    job = _job(XGB_REQUEST)
    trial = _trial(job, 3, "pending")
    described = describe_training_job(job, trial, now=NOW)
    for member in (
        "TrainingStartTime",
        "TrainingEndTime",
        "TrainingTimeInSeconds",
        "BillableTimeInSeconds",
        "FinalMetricDataList",
        "FailureReason",
    ):
        assert member not in described, member
    assert described["LastModifiedTime"] == described["CreationTime"]
    (starting,) = described["SecondaryStatusTransitions"]
    assert starting["StartTime"] == described["CreationTime"]
    assert "EndTime" not in starting
    summary = training_job_list_summary(trial)
    assert "TrainingEndTime" not in summary


def test_a_retried_training_job_is_starting_again_and_says_why() -> None:
    job = _job(XGB_REQUEST)
    described = describe_training_job(job, _trial(job, 3, "retried"), now=NOW)
    (starting,) = described["SecondaryStatusTransitions"]
    assert "attempt 2" in starting["StatusMessage"]
    assert "worker lost" in starting["StatusMessage"]


def test_a_running_training_job() -> None:
    job = _job(XGB_REQUEST)
    trial = _trial(job, 2, "in_progress", final_metrics={"validation:auc": 0.8})
    described = describe_training_job(job, trial, now=NOW)
    assert described["TrainingStartTime"] == dt.datetime.fromtimestamp(T0 + 20, tz=dt.timezone.utc)
    assert described["LastModifiedTime"] == described["TrainingStartTime"]
    assert "TrainingEndTime" not in described
    assert "TrainingTimeInSeconds" not in described
    starting, training = described["SecondaryStatusTransitions"]
    assert starting["EndTime"] == training["StartTime"] == described["TrainingStartTime"]
    assert "EndTime" not in training
    # Not ended: the metrics are stamped with the time of the answer.
    (metric,) = described["FinalMetricDataList"]
    assert metric["Timestamp"] == dt.datetime.fromtimestamp(NOW, tz=dt.timezone.utc)


def test_a_completed_training_job_with_metrics() -> None:
    job = _job(XGB_REQUEST)
    trial = _trial(job, 1, "completed")
    described = describe_training_job(job, trial, now=NOW)
    end = dt.datetime.fromtimestamp(T0 + 140.4, tz=dt.timezone.utc)
    assert described["TrainingEndTime"] == described["LastModifiedTime"] == end
    assert described["TrainingTimeInSeconds"] == described["BillableTimeInSeconds"] == 120
    # The objective metric first, then the others; stamped with the end.
    assert described["FinalMetricDataList"] == [
        {"MetricName": "validation:auc", "Value": 0.93, "Timestamp": end},
        {"MetricName": "train:auc", "Value": 0.99, "Timestamp": end},
    ]
    assert "FailureReason" not in described
    final = described["SecondaryStatusTransitions"][-1]
    assert final == {
        "Status": "Completed",
        "StartTime": end,
        "EndTime": end,
        "StatusMessage": "Training job completed",
    }
    assert training_job_list_summary(trial)["TrainingEndTime"] == end


def test_non_finite_metrics_are_left_out_and_an_empty_list_is_no_list() -> None:
    job = _job(XGB_REQUEST)
    trial = _trial(job, 1, "completed", final_metrics={"validation:auc": float("nan")})
    described = describe_training_job(job, trial, now=NOW)
    assert "FinalMetricDataList" not in described
    assert_shape(described, DESCRIBE)


def test_a_failed_training_job_has_its_reason() -> None:
    job = _job(XGB_REQUEST)
    described = describe_training_job(job, _trial(job, 4, "failed"), now=NOW)
    assert described["FailureReason"] == "AlgorithmError: RuntimeError('boom')"
    assert "boom" in described["SecondaryStatusTransitions"][-1]["StatusMessage"]
    assert "FinalMetricDataList" not in described


def test_a_long_failure_reason_is_cut_to_the_shapes_limit() -> None:
    job = _job(XGB_REQUEST)
    trial = _trial(job, 4, "failed", failure_reason="x" * 5000)
    described = describe_training_job(job, trial, now=NOW)
    assert len(described["FailureReason"]) == 1024
    assert len(described["SecondaryStatusTransitions"][-1]["StatusMessage"]) == 1024


@pytest.mark.parametrize("state", ["stopped", "max_runtime", "stopped_before_start"])
def test_a_stopped_training_job_says_why_in_its_transition_not_as_a_failure(state: str) -> None:
    job = _job(XGB_REQUEST)
    trial = _trial(job, 5, state)
    described = describe_training_job(job, trial, now=NOW)
    assert "FailureReason" not in described
    assert trial.failure_reason is not None
    why = trial.failure_reason.removeprefix("MaxRuntimeExceeded: ")
    assert why in described["SecondaryStatusTransitions"][-1]["StatusMessage"]


def test_a_training_job_stopped_before_it_started() -> None:
    job = _job(XGB_REQUEST)
    described = describe_training_job(job, _trial(job, 5, "stopped_before_start"), now=NOW)
    assert "TrainingStartTime" not in described
    assert "TrainingTimeInSeconds" not in described  # it never ran (the shape's minimum is 1)
    starting = described["SecondaryStatusTransitions"][0]
    assert starting["EndTime"] == described["TrainingEndTime"]


def test_a_max_runtime_stop_is_max_runtime_exceeded_only_when_stopped() -> None:
    job = _job(XGB_REQUEST)
    reason = "MaxRuntimeExceeded: the training job ran longer than 600 s"
    stopped = describe_training_job(job, _trial(job, 1, "max_runtime"), now=NOW)
    assert stopped["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert stopped["SecondaryStatusTransitions"][-1]["StatusMessage"] == (
        "Training job exceeded the MaxRuntimeInSeconds provided: "
        "the training job ran longer than 600 s"
    )
    failed = describe_training_job(job, _trial(job, 1, "failed", failure_reason=reason), now=NOW)
    assert failed["SecondaryStatus"] == "Failed"  # the API pairs it with Stopped only


# -- what the training job was given -------------------------------------------------------------


def test_hyperparameters_are_what_the_training_job_received() -> None:
    job = _job(XGB_REQUEST)
    trial = _trial(job, 1, "completed", hyperparameters={"eta": "0.3", "num_round": "80"})
    described = describe_training_job(job, trial, now=NOW)
    assert described["HyperParameters"] == {
        "objective": "binary:logistic",
        "num_round": "80",  # a tuned value wins over a static one, as hyperparameters_for
        "eta": "0.3",
        "_tuning_objective_metric": "validation:auc",
    }


def test_the_echo_of_the_definition_is_cut_to_aws_shapes() -> None:
    job = _job(XGB_REQUEST)
    described = describe_training_job(job, _trial(job), now=NOW)
    definition = XGB_REQUEST["TrainingJobDefinition"]
    assert described["ResourceConfig"] == {
        "InstanceType": "ml.g5.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": DEFAULT_VOLUME_SIZE_GB,
    }
    keys = _walk_keys(described)
    assert not keys & {"NumCpus", "NumGpus", "AllowCpuFallback", "CpuFallbackWarning"}
    assert "NumGpus" not in json.dumps(described, default=str)
    assert "Tags" not in described
    assert described["AlgorithmSpecification"] == {
        "TrainingImage": definition["AlgorithmSpecification"]["TrainingImage"],
        "MetricDefinitions": definition["AlgorithmSpecification"]["MetricDefinitions"],
        "TrainingInputMode": "File",
    }
    assert described["RoleArn"] == definition["RoleArn"]
    assert described["OutputDataConfig"] == definition["OutputDataConfig"]
    assert described["StoppingCondition"] == {"MaxRuntimeInSeconds": 600}
    assert described["RetryStrategy"] == {"MaximumRetryAttempts": 2}
    assert described["Environment"] == {"OMP_NUM_THREADS": "1"}
    assert described["VpcConfig"] == definition["VpcConfig"]
    assert described["CheckpointConfig"] == definition["CheckpointConfig"]
    assert described["EnableNetworkIsolation"] is True
    assert described["EnableManagedSpotTraining"] is False
    assert described["InputDataConfig"][0]["DataSource"]["S3DataSource"] == {
        "S3Uri": "data/train.csv",
        "S3DataType": "S3Prefix",
    }
    # The stored request is not changed by the echo.
    assert job.request["TrainingJobDefinition"] == definition
    # ... and the tuning job's own Describe is as it was.
    tuning = describe_tuning_job(job, [_trial(job)], now=NOW)
    assert "NumGpus" not in tuning["TrainingJobDefinition"]["ResourceConfig"]


def test_members_aws_requires_are_filled_for_a_bare_request() -> None:
    job = _job(BARE_REQUEST)
    trial = _trial(job, 2, "completed", final_metrics={"loss": 0.1})
    described = describe_training_job(job, trial, now=NOW)
    assert_shape(described, DESCRIBE)
    assert described["RoleArn"] == LOCAL_ROLE_ARN
    assert described["OutputDataConfig"] == {"S3OutputPath": OUT}
    assert described["StoppingCondition"] == {}
    assert described["AlgorithmSpecification"] == {
        "AlgorithmName": "kmeans",
        "TrainingInputMode": "File",
    }
    assert described["ResourceConfig"] == {"InstanceCount": 1, "VolumeSizeInGB": 30}
    assert described["HyperParameters"] == {"eta": "0.25", "_tuning_objective_metric": "loss"}
    # A built-in algorithm writes its model file into the training job's folder itself.
    assert described["ModelArtifacts"] == {"S3ModelArtifacts": trial.output_dir}


def test_a_multi_algorithm_training_job_is_its_own_definitions() -> None:
    job = _job(MULTI_REQUEST)
    knn = _trial(
        job,
        2,
        "completed",
        definition="knn-two",
        hyperparameters={"k": "12"},
        final_metrics={"test:mse": 0.4, "test:rmse": 0.63},
    )
    fm = _trial(
        job,
        1,
        "completed",
        definition="fm-one",
        hyperparameters={"factors_wd": "3.5"},
        final_metrics={"test:mse": 0.4, "test:rmse": 0.63},
    )
    described_knn = describe_training_job(job, knn, now=NOW)
    described_fm = describe_training_job(job, fm, now=NOW)
    assert described_knn["HyperParameters"] == {
        "feature_dim": "784",
        "predictor_type": "regressor",
        "k": "12",
        "_tuning_objective_metric": "test:mse",
    }
    assert described_fm["HyperParameters"] == {
        "num_factors": "10",
        "predictor_type": "regressor",
        "factors_wd": "3.5",
        "_tuning_objective_metric": "test:rmse",
    }
    assert described_knn["FinalMetricDataList"][0]["MetricName"] == "test:mse"
    assert described_fm["FinalMetricDataList"][0]["MetricName"] == "test:rmse"
    assert described_knn["AlgorithmSpecification"]["TrainingImage"].endswith("/knn:1")
    assert described_knn["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert described_fm["AlgorithmSpecification"]["TrainingImage"].endswith(
        "/factorization-machines:1"
    )
    # HyperParameterTuningResourceConfig: its first (most preferred) instance configuration.
    assert described_knn["ResourceConfig"] == {
        "InstanceType": "ml.m4.2xlarge",
        "InstanceCount": 2,
        "VolumeSizeInGB": 50,
    }
    assert described_fm["ResourceConfig"]["InstanceType"] == "ml.m5.large"
    for described in (described_knn, described_fm):
        assert_shape(described, DESCRIBE)
        assert "DefinitionName" not in described
        assert "CpuFallbackWarning" not in _walk_keys(described)


def test_a_script_mode_model_is_in_its_model_folder() -> None:
    job = _job(SCRIPT_REQUEST)
    trial = _trial(job, 1, "completed", final_metrics={"loss": 0.2})
    described = describe_training_job(job, trial, now=NOW)
    assert described["ModelArtifacts"]["S3ModelArtifacts"] == f"{trial.output_dir}/model"
    assert described["HyperParameters"]["sagemaker_program"] == '"train.py"'
    assert described["HyperParameters"]["_tuning_objective_metric"] == "loss"


def test_a_python_callable_gets_no_objective_hyperparameter() -> None:
    job = _job(CALLABLE_REQUEST)
    described = describe_training_job(job, _trial(job), now=NOW)
    assert described["HyperParameters"] == {"epochs": "3", "eta": "0.25"}
    assert described["ModelArtifacts"]["S3ModelArtifacts"] == _trial(job).output_dir


def test_a_training_job_without_an_output_folder() -> None:
    job = _job(XGB_REQUEST)
    trial = _trial(job, 1, "pending", output_dir=None)
    described = describe_training_job(job, trial, now=NOW)
    assert (
        described["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://bucket/xgb/output/{trial.name}"
    )
    bare = _job(BARE_REQUEST)
    described = describe_training_job(bare, _trial(bare, 1, "pending", output_dir=None), now=NOW)
    assert described["OutputDataConfig"]["S3OutputPath"] == "tuner-output"
    assert_shape(described, DESCRIBE)


def test_tags_propagated_changes_nothing_in_the_response() -> None:
    job = _job(XGB_REQUEST)
    trial = _trial(job)
    assert describe_training_job(job, trial, now=NOW, tags_propagated=False) == (
        describe_training_job(job, trial, now=NOW)
    )


# -- every request of examples/ and tests/corpus -------------------------------------------------


def _sources() -> list[Path]:
    examples = ROOT / "examples"
    corpus = ROOT / "tests" / "corpus"
    found = [*examples.glob("*.json"), *examples.glob("*.yaml"), *corpus.glob("*.json")]
    return sorted(found)


@pytest.mark.parametrize("source", _sources(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_request_of_the_corpus_describes_its_training_jobs(source: Path) -> None:
    text = source.read_text()
    request = json.loads(text) if source.suffix == ".json" else yaml.safe_load(text)
    normalised, _ = check_request(request)
    normalised.setdefault("HyperParameterTuningJobConfig", {}).setdefault("Strategy", "Bayesian")
    job = _job(normalised)
    definitions = normalised.get("TrainingJobDefinitions") or []
    names = [d["DefinitionName"] for d in definitions if len(definitions) > 1] or [None]
    for definition in names:
        for state in STATES:
            trial = _trial(job, 11, state, definition=definition)
            described = describe_training_job(job, trial, now=NOW)
            assert shape_problems(described, DESCRIBE) == [], (source.name, definition, state)
            assert_shape(training_job_list_summary(trial), SUMMARY)
            assert_shape(json.loads(json.dumps(described, default=str)), DESCRIBE)


# -- botocore parses it --------------------------------------------------------------------------


def _parse(response: dict[str, Any], operation: str) -> dict[str, Any]:
    body = json.dumps(response, default=lambda d: d.timestamp()).encode()
    model = botocore.session.get_session().get_service_model("sagemaker")
    output_shape = model.operation_model(operation).output_shape
    parser = botocore.parsers.create_parser("json")
    parsed: dict[str, Any] = parser.parse(
        {"status_code": 200, "headers": {}, "body": body}, output_shape
    )
    return parsed


@pytest.mark.parametrize("state", ["completed", "failed", "max_runtime", "pending"])
def test_botocore_parses_the_response(state: str) -> None:
    job = _job(XGB_REQUEST)
    trial = _trial(job, 9, state)
    described = describe_training_job(job, trial, now=NOW)
    parsed = _parse(described, "DescribeTrainingJob")
    assert "Error" not in parsed
    assert parsed["TrainingJobName"] == trial.name
    assert parsed["TuningJobArn"] == tuning_job_arn(job.name)
    assert parsed["CreationTime"] == described["CreationTime"]
    assert parsed["HyperParameters"] == described["HyperParameters"]
    assert parsed["SecondaryStatusTransitions"] == described["SecondaryStatusTransitions"]
    if state == "completed":
        assert parsed["FinalMetricDataList"] == described["FinalMetricDataList"]
        assert parsed["TrainingTimeInSeconds"] == 120
    parsed.pop("ResponseMetadata", None)
    assert parsed == described  # every member, every value, as botocore reads them


def test_botocore_parses_a_list_of_summaries() -> None:
    job = _job(MULTI_REQUEST)
    trials = [_trial(job, n, state) for n, state in enumerate(STATES, start=1)]
    response = {"TrainingJobSummaries": [training_job_list_summary(t) for t in trials]}
    assert_shape(response, "ListTrainingJobsResponse")
    parsed = _parse(response, "ListTrainingJobs")
    parsed.pop("ResponseMetadata", None)
    assert parsed == response


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("tuning_job", ["xgb-job", "a", "job-001", "A1--b2", "x" * 32])
@pytest.mark.parametrize("number", [1, 42, 999, 1000, 1234, 123456])
def test_a_training_job_name_parses_back(tuning_job: str, number: int) -> None:
    name = training_job_name(tuning_job, number)
    assert TRAINING_JOB_NAME_PATTERN.fullmatch(name)
    assert parse_training_job_name(name) == (tuning_job, number)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "xgb-job",
        "my-training-job",
        "xgb-job-001",
        "xgb-job-001-deadbeef",  # our form, not our hash
        "xgb-job-01-deadbeef",
        "-001-deadbeef",
        "xgb-job-001-DEADBEEF",
        "xgb-job-001-deadbeef0",
        "xgb job-001-deadbeef",
    ],
)
def test_a_foreign_name_is_not_ours(name: str) -> None:
    assert parse_training_job_name(name) is None


def test_only_the_exact_spelling_of_a_number_is_ours() -> None:
    real = training_job_name("xgb-job", 42)  # xgb-job-042-<hash>
    suffix = real.rsplit("-", 1)[1]
    assert parse_training_job_name(f"xgb-job-0042-{suffix}") is None
    assert parse_training_job_name(f"xgb-job-42-{suffix}") is None
    assert parse_training_job_name(real.upper()) is None
    zero = training_job_name("xgb-job", 0)
    assert parse_training_job_name(zero) is None  # numbers start at 1
