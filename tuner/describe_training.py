"""The AMT surface of one training job: DescribeTrainingJob and a ListTrainingJobs item.

A tuning job's trials are SageMaker training jobs to its callers: "Each training job launched
by a tuning job has ``TuningJobArn`` in ``DescribeTrainingJob``" (AMT.md §1). This module turns
a stored trial (:class:`~tuner.storage.records.TrainingJobRecord`) and its tuning job
(:class:`~tuner.storage.records.JobRecord`) into botocore's ``DescribeTrainingJobResponse``
(:func:`describe_training_job`) and ``TrainingJobSummary`` (:func:`training_job_list_summary`),
and reads a training job's name back into its tuning job and number
(:func:`parse_training_job_name`), so the HTTP server answers DescribeTrainingJob without
scanning every job. Pure functions: no I/O, no storage; times are timezone-aware ``datetime``
objects as in :mod:`tuner.describe`, which owns the rules shared with the tuning job's surface
(statuses, ARNs, names, cutting to AWS's shapes). ``tests/tuner/test_describe_training.py``
checks every response against the botocore model, and parses it with botocore itself.

**What the training job was given.** The definition is the request's
``TrainingJobDefinition``, or for a multi-algorithm job the entry of ``TrainingJobDefinitions``
whose ``DefinitionName`` is the trial's. ``HyperParameters`` is what the training job really
received, as :meth:`tuner.spec.model.DefinitionSpec.hyperparameters_for` builds it: the
definition's ``StaticHyperParameters``, the trial's tuned values over them, and AMT's
``_tuning_objective_metric`` (AMT.md §1: AMT injects it into every training job) naming the
definition's objective metric (:func:`tuner.describe.definition_objective`), except for a
Python callable (a ``python-callable://`` TrainingImage), which the engine calls without it.
The stored request is the resolved one (Autotune's AutoParameters already became ranges or
statics), so nothing else is needed.

**The echo.** ``AlgorithmSpecification``, ``RoleArn``, ``InputDataConfig``,
``OutputDataConfig``, ``ResourceConfig``, ``StoppingCondition``, ``VpcConfig``,
``EnableNetworkIsolation``, ``EnableInterContainerTrafficEncryption``,
``EnableManagedSpotTraining``, ``CheckpointConfig``, ``RetryStrategy`` and ``Environment`` are
"passed through to training jobs" (AMT.md §11), so they are echoed from the definition, cut to
the DescribeTrainingJobResponse member shapes with :func:`tuner.describe.split_extensions`: our
extension members (``ResourceConfig.NumGpus``, ``AllowCpuFallback``, the engine's
``CpuFallbackWarning``, ...) never appear; DescribeHyperParameterTuningJob's
``TunerExtensions`` is where they are shown. Members AWS requires and a local request may leave
out are filled as :func:`tuner.describe.complete_definition` fills them for the tuning job
(``TrainingInputMode: File``, ``S3DataType: S3Prefix``, a placeholder local ``RoleArn``, an
empty ``StoppingCondition``) and ``OutputDataConfig.S3OutputPath`` is the request's, else the
folder the training job wrote into (the parent of its output folder), as there. Our choices,
where AMT.md is silent: a definition with ``HyperParameterTuningResourceConfig`` ran on its
first (most preferred) instance configuration, as validation places it, so that is the
training job's ``ResourceConfig``; ``InstanceCount`` defaults to 1 and ``VolumeSizeInGB`` to
:data:`DEFAULT_VOLUME_SIZE_GB` (30, the SageMaker SDK's default volume size, AMT.md §14.2), as
AWS always reports both; the three ``Enable*`` booleans default to ``False`` (a SageMaker
training job's defaults), as AWS always reports them.

**Model artifacts.** AWS's ``S3ModelArtifacts`` is ``<S3OutputPath>/<job>/output/model.tar.gz``;
here nothing is packed, so it is the local folder that holds the model, which is where the
algorithms really write it: a built-in algorithm saves its model file (``xgboost-model``,
``kmeans-model.npz``, ...) directly in the training job's output folder (``ctx.output_dir``),
as does a Python callable; a script-mode job (a framework image, :mod:`tuner.script`) runs in a
SageMaker-style ``/opt/ml`` folder whose ``model/`` is ``SM_MODEL_DIR``
(:class:`tuner.script.layout.TrainingFolder`), so there it is ``<output folder>/model``. A
trial without an output folder (none is made by the coordinator) gets
``<S3OutputPath>/<training job name>``.

**Statuses.** ``TrainingJobStatus`` is :func:`tuner.describe.amt_status` (our Pending is
InProgress). ``SecondaryStatus`` follows the pairs of AMT.md §13 and the API's documentation:
``Starting`` for a Pending trial (waiting for a slot, or retried: "on retry SecondaryStatus →
Starting", AMT.md §11), ``Training`` while it runs, then ``Completed``, ``Failed`` or
``Stopped``, and ``MaxRuntimeExceeded`` for a Stopped trial whose stop reason says so (the
coordinator stops a trial that ran past its definition's ``MaxRuntimeInSeconds`` with the
reason ``"MaxRuntimeExceeded: ..."``; the API pairs that secondary status with ``Stopped``, so
a Failed trial stays ``Failed``). ``FailureReason`` is given for a Failed trial only (AWS's
field, at most 1024 characters); the reason a trial was stopped (early stopping, the user, its
runtime) is the final transition's ``StatusMessage``. ``SecondaryStatusTransitions`` is a short
list of our choice, in AWS's form: ``Starting`` (creation to start), ``Training`` (start to
end) and the final status, each with its StartTime, its EndTime once it is over, and a
message; the Starting message of a retried trial names its attempt and why it was retried.

**Times.** ``CreationTime``, ``TrainingStartTime``, ``TrainingEndTime`` are the trial's;
``LastModifiedTime`` is the latest of them. ``TrainingTimeInSeconds`` and
``BillableTimeInSeconds`` are given once the trial has ended, after it started: whole seconds
from start to end, at least 1 (the shape's minimum; nothing is billed locally, so both are the
time it ran). ``FinalMetricDataList`` has one ``{MetricName, Value, Timestamp}`` per final
metric of the trial, the objective metric first, at most 40 (the shape's maximum), non-finite
values left out (JSON cannot carry them); the Timestamp is the trial's end, else ``now``.

**Tags.** AMT propagates a tuning job's ``Tags`` to its training jobs (AMT.md §1, §2), but
DescribeTrainingJobResponse has no tags member: a training job's tags are ListTags's, keyed by
its ARN. ``tags_propagated`` is accepted for the server's sake and changes nothing here.

**Names.** The engine names training jobs ``<tuning-job>-<NNN>-<8 hex>``
(:func:`tuner.describe.training_job_name`; AMT.md §1); the number has more digits past 999.
:data:`TRAINING_JOB_NAME_PATTERN` matches that form and :func:`parse_training_job_name` also
checks the hash suffix, so a foreign name that only looks like ours is not taken for one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import PurePath
from typing import Any

from tuner.describe import (
    DEFAULT_OUTPUT_PATH,
    amt_status,
    complete_definition,
    definition_objective,
    objective_of,
    split_extensions,
    timestamp,
    training_job_arn,
    training_job_name,
    tuning_job_arn,
)
from tuner.script.frameworks import framework_of
from tuner.spec.model import CALLABLE_IMAGE_PREFIX
from tuner.spec.request_shape import shape
from tuner.status import TrialStatus
from tuner.storage.records import JobRecord, TrainingJobRecord

__all__ = [
    "TRAINING_JOB_NAME_PATTERN",
    "SecondaryStatus",
    "describe_training_job",
    "parse_training_job_name",
    "training_job_list_summary",
]

#: The botocore shapes answered here.
DESCRIBE_SHAPE = "DescribeTrainingJobResponse"
SUMMARY_SHAPE = "TrainingJobSummary"
#: ResourceConfig.VolumeSizeInGB of a definition that gave none (the SageMaker SDK's default).
DEFAULT_VOLUME_SIZE_GB = 30
#: ResourceConfig.InstanceCount of a definition that gave none.
DEFAULT_INSTANCE_COUNT = 1
#: The folder of a script-mode training job's output folder that holds its model (SM_MODEL_DIR).
SCRIPT_MODEL_FOLDER = "model"
#: The longest FailureReason and StatusMessage (DescribeTrainingJobResponse.FailureReason).
MAX_REASON_CHARS = 1024
#: The most entries of FinalMetricDataList (the shape's maximum).
MAX_FINAL_METRICS = 40
#: The stop reason's word for a trial that ran past its MaxRuntimeInSeconds (tuner.coordinator).
MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"
#: AMT's hyperparameter naming the objective metric, injected into every training job.
OBJECTIVE_HYPERPARAMETER = "_tuning_objective_metric"
#: Members of a training job definition that the training job echoes (AMT.md §11).
ECHOED_MEMBERS = (
    "AlgorithmSpecification",
    "RoleArn",
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "VpcConfig",
    "StoppingCondition",
    "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption",
    "EnableManagedSpotTraining",
    "CheckpointConfig",
    "RetryStrategy",
    "Environment",
)
#: Booleans AWS always reports, with a training job's defaults.
_DEFAULT_FLAGS = {
    "EnableNetworkIsolation": False,
    "EnableInterContainerTrafficEncryption": False,
    "EnableManagedSpotTraining": False,
}
#: Members of HyperParameterTuningResourceConfig (and of one of its InstanceConfigs) that a
#: training job's ResourceConfig has.
_RESOURCE_MEMBERS = ("InstanceType", "InstanceCount", "VolumeSizeInGB", "VolumeKmsKeyId")

#: ``<tuning-job>-<NNN>-<8 hex>``: the tuning job's name (AMT's pattern), the 1-based number
#: zero-padded to 3 digits (more past 999, never a leading zero beyond the padding), the hash.
TRAINING_JOB_NAME_PATTERN = re.compile(
    r"(?P<tuning_job>[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,31})"
    r"-(?P<number>\d{3}|[1-9]\d{3,})"
    r"-(?P<suffix>[0-9a-f]{8})"
)


class SecondaryStatus(StrEnum):
    """The SecondaryStatus values a training job of this engine passes through."""

    STARTING = "Starting"
    TRAINING = "Training"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPED = "Stopped"
    MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"


def parse_training_job_name(name: str) -> tuple[str, int] | None:
    """(tuning job name, number) of a training job name the engine gave, else None.

    The name must be exactly :func:`tuner.describe.training_job_name` of what it parses to
    (hash suffix included), so ``parse_training_job_name(training_job_name(job, n)) == (job,
    n)`` and a foreign name of the same form is None.
    """
    match = TRAINING_JOB_NAME_PATTERN.fullmatch(name)
    if match is None:
        return None
    tuning_job, number = match["tuning_job"], int(match["number"])
    if number < 1 or training_job_name(tuning_job, number) != name:
        return None
    return tuning_job, number


# -- the training job's definition ---------------------------------------------------------------


def _definition(job: JobRecord, trial: TrainingJobRecord) -> Mapping[str, Any]:
    """The definition the trial ran: its own in a multi-algorithm job, else the job's one."""
    definitions = job.request.get("TrainingJobDefinitions")
    entries = (
        [d for d in definitions if isinstance(d, Mapping)] if isinstance(definitions, list) else []
    )
    if trial.definition is not None:
        for entry in entries:
            if entry.get("DefinitionName") == trial.definition:
                return entry
    single = job.request.get("TrainingJobDefinition")
    if isinstance(single, Mapping):
        return single
    return entries[0] if entries else {}


def _image(definition: Mapping[str, Any]) -> str | None:
    algorithm = definition.get("AlgorithmSpecification")
    image = algorithm.get("TrainingImage") if isinstance(algorithm, Mapping) else None
    return image if isinstance(image, str) else None


def _statics(definition: Mapping[str, Any]) -> dict[str, str]:
    static = definition.get("StaticHyperParameters")
    if not isinstance(static, Mapping):
        return {}
    # Stored requests hold strings (validation coerces them); str() only guards the shape.
    return {str(k): v if isinstance(v, str) else str(v) for k, v in static.items()}


def _hyperparameters(
    trial: TrainingJobRecord, definition: Mapping[str, Any], objective_metric: str
) -> dict[str, str]:
    """What the training job received (as ``DefinitionSpec.hyperparameters_for`` builds it)."""
    out = _statics(definition)
    out.update({str(k): str(v) for k, v in trial.hyperparameters.items()})
    image = _image(definition)
    if image is None or not image.startswith(CALLABLE_IMAGE_PREFIX):
        out[OBJECTIVE_HYPERPARAMETER] = objective_metric
    return out


def _resource_config(definition: Mapping[str, Any]) -> dict[str, Any]:
    """ResourceConfig, or the first InstanceConfig of HyperParameterTuningResourceConfig."""
    given = definition.get("ResourceConfig")
    resources: dict[str, Any] = {}
    if isinstance(given, Mapping):
        resources = dict(given)
    else:
        tuning = definition.get("HyperParameterTuningResourceConfig")
        if isinstance(tuning, Mapping):
            configs = tuning.get("InstanceConfigs")
            first = configs[0] if isinstance(configs, list) and configs else tuning
            if isinstance(first, Mapping):
                resources = {k: first[k] for k in _RESOURCE_MEMBERS if k in first}
            if "VolumeKmsKeyId" in tuning:
                resources.setdefault("VolumeKmsKeyId", tuning["VolumeKmsKeyId"])
    resources.setdefault("InstanceCount", DEFAULT_INSTANCE_COUNT)
    resources.setdefault("VolumeSizeInGB", DEFAULT_VOLUME_SIZE_GB)
    return resources


def _output_path(trial: TrainingJobRecord) -> str:
    """The folder the training job wrote into (it wrote to ``<folder>/<its name>``)."""
    return str(PurePath(trial.output_dir).parent) if trial.output_dir else DEFAULT_OUTPUT_PATH


def _echo(definition: Mapping[str, Any], trial: TrainingJobRecord) -> dict[str, Any]:
    """The definition's members a training job has, cut to AWS's shapes and completed."""
    response = shape(DESCRIBE_SHAPE)
    given: dict[str, Any] = {m: definition[m] for m in ECHOED_MEMBERS if m in definition}
    given["ResourceConfig"] = _resource_config(definition)
    echo: dict[str, Any] = {}
    for member, value in given.items():
        if value is None:
            continue
        kept, _ = split_extensions(value, response.members[member], member)
        if kept is not None:
            echo[member] = kept
    for flag, default in _DEFAULT_FLAGS.items():
        echo.setdefault(flag, default)
    complete_definition(echo, _output_path(trial))
    return echo


def _model_artifacts(
    trial: TrainingJobRecord, definition: Mapping[str, Any], s3_output_path: str
) -> str:
    """Where the trial's model lies (see the module docstring)."""
    if not trial.output_dir:
        return f"{s3_output_path.rstrip('/')}/{trial.name}"
    image = _image(definition)
    statics = _statics(definition)
    if image is not None and framework_of(image, statics) is not None:
        return str(PurePath(trial.output_dir) / SCRIPT_MODEL_FOLDER)
    return trial.output_dir


# -- statuses and times --------------------------------------------------------------------------


def _ended_at(trial: TrainingJobRecord) -> float | None:
    return trial.ended_at if trial.status.is_finished else None


def _secondary_status(trial: TrainingJobRecord) -> SecondaryStatus:
    status = trial.status
    if status is TrialStatus.PENDING:
        return SecondaryStatus.STARTING
    if status is TrialStatus.IN_PROGRESS:
        return SecondaryStatus.TRAINING
    if status is TrialStatus.COMPLETED:
        return SecondaryStatus.COMPLETED
    if status is TrialStatus.FAILED:
        return SecondaryStatus.FAILED
    if MAX_RUNTIME_EXCEEDED in (trial.failure_reason or ""):
        return SecondaryStatus.MAX_RUNTIME_EXCEEDED
    return SecondaryStatus.STOPPED


def _last_modified(trial: TrainingJobRecord) -> float:
    times = (trial.created_at, trial.started_at, _ended_at(trial))
    return max(t for t in times if t is not None)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."


def _final_message(trial: TrainingJobRecord, secondary: SecondaryStatus) -> str:
    reason = trial.failure_reason
    message = {
        SecondaryStatus.COMPLETED: "Training job completed",
        SecondaryStatus.FAILED: "Training job failed",
        SecondaryStatus.STOPPED: "Training job stopped",
        SecondaryStatus.MAX_RUNTIME_EXCEEDED: (
            "Training job exceeded the MaxRuntimeInSeconds provided"
        ),
    }[secondary]
    if reason and secondary is SecondaryStatus.MAX_RUNTIME_EXCEEDED:
        reason = reason.removeprefix(f"{MAX_RUNTIME_EXCEEDED}:").strip()  # said already
    return _clip(f"{message}: {reason}" if reason else message)


def _starting_message(trial: TrainingJobRecord) -> str:
    if trial.attempt <= 1:
        return "Starting the training job"
    why = f": {trial.retry_reasons[-1]}" if trial.retry_reasons else ""
    return _clip(f"Restarting the training job (attempt {trial.attempt}){why}")


def _transitions(trial: TrainingJobRecord) -> list[dict[str, Any]]:
    """Starting, Training (once started) and the final status (once ended)."""
    started, ended = trial.started_at, _ended_at(trial)
    starting_end = started if started is not None else ended
    transitions = [
        _transition(
            SecondaryStatus.STARTING, trial.created_at, starting_end, _starting_message(trial)
        )
    ]
    if started is not None:
        transitions.append(
            _transition(SecondaryStatus.TRAINING, started, ended, "Training in progress.")
        )
    if ended is not None:
        secondary = _secondary_status(trial)
        transitions.append(_transition(secondary, ended, ended, _final_message(trial, secondary)))
    return transitions


def _transition(
    status: SecondaryStatus, start: float, end: float | None, message: str
) -> dict[str, Any]:
    return _drop_none(
        {
            "Status": status.value,
            "StartTime": timestamp(start),
            "EndTime": timestamp(end),
            "StatusMessage": message,
        }
    )


def _seconds(trial: TrainingJobRecord) -> int | None:
    """Whole seconds from start to end, at least 1; None before the end or without a start."""
    ended = _ended_at(trial)
    if ended is None or trial.started_at is None:
        return None
    return max(1, int(round(ended - trial.started_at)))


def _final_metrics(
    trial: TrainingJobRecord, objective_metric: str, *, now: float
) -> list[dict[str, Any]] | None:
    """FinalMetricDataList: the objective first, finite values only, at most 40; None if none."""
    ended = _ended_at(trial)
    at = timestamp(ended if ended is not None else now)
    rows = []
    for name in sorted(trial.final_metrics, key=lambda n: n != objective_metric):
        value = trial.final_metrics[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(value):
            rows.append({"MetricName": str(name), "Value": float(value), "Timestamp": at})
    return rows[:MAX_FINAL_METRICS] or None


def _drop_none(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


# -- the responses -------------------------------------------------------------------------------


def describe_training_job(
    job: JobRecord, trial: TrainingJobRecord, *, now: float, tags_propagated: bool = True
) -> dict[str, Any]:
    """DescribeTrainingJob's response for the training job ``trial`` of the tuning job ``job``.

    Pure botocore ``DescribeTrainingJobResponse`` (see the module docstring for each member).

    Args:
        job: the tuning job that launched the training job.
        trial: the training job.
        now: the time of the answer (epoch seconds): the Timestamp of the final metrics of a
            training job that has not ended.
        tags_propagated: whether the tuning job's Tags were given to its training jobs; the
            response has no tags member (ListTags has them), so it changes nothing here.
    """
    del tags_propagated  # no member of DescribeTrainingJobResponse carries tags
    definition = _definition(job, trial)
    objective = definition_objective(job, trial.definition, objective_of(job))
    echo = _echo(definition, trial)
    ended = _ended_at(trial)
    seconds = _seconds(trial)
    reason = trial.failure_reason if trial.status is TrialStatus.FAILED else None
    output = echo.get("OutputDataConfig")
    given_path = output.get("S3OutputPath") if isinstance(output, dict) else None
    s3_output_path = str(given_path) if given_path else _output_path(trial)
    response = {
        "TrainingJobName": trial.name,
        "TrainingJobArn": training_job_arn(trial.name),
        "TuningJobArn": tuning_job_arn(job.name),
        "ModelArtifacts": {
            "S3ModelArtifacts": _model_artifacts(trial, definition, s3_output_path)
        },
        "TrainingJobStatus": amt_status(trial).value,
        "SecondaryStatus": _secondary_status(trial).value,
        "FailureReason": _clip(reason) if reason else None,
        "HyperParameters": _hyperparameters(trial, definition, objective.metric),
        "AlgorithmSpecification": echo.get("AlgorithmSpecification"),
        "RoleArn": echo.get("RoleArn"),
        "InputDataConfig": echo.get("InputDataConfig"),
        "OutputDataConfig": echo.get("OutputDataConfig"),
        "ResourceConfig": echo.get("ResourceConfig"),
        "VpcConfig": echo.get("VpcConfig"),
        "StoppingCondition": echo.get("StoppingCondition"),
        "CreationTime": timestamp(trial.created_at),
        "TrainingStartTime": timestamp(trial.started_at),
        "TrainingEndTime": timestamp(ended),
        "LastModifiedTime": timestamp(_last_modified(trial)),
        "SecondaryStatusTransitions": _transitions(trial),
        "FinalMetricDataList": _final_metrics(trial, objective.metric, now=now),
        "EnableNetworkIsolation": echo.get("EnableNetworkIsolation"),
        "EnableInterContainerTrafficEncryption": echo.get("EnableInterContainerTrafficEncryption"),
        "EnableManagedSpotTraining": echo.get("EnableManagedSpotTraining"),
        "CheckpointConfig": echo.get("CheckpointConfig"),
        "TrainingTimeInSeconds": seconds,
        "BillableTimeInSeconds": seconds,
        "Environment": echo.get("Environment"),
        "RetryStrategy": echo.get("RetryStrategy"),
    }
    return _drop_none(response)


def training_job_list_summary(trial: TrainingJobRecord) -> dict[str, Any]:
    """One botocore ``TrainingJobSummary``: an item of ListTrainingJobs."""
    summary = {
        "TrainingJobName": trial.name,
        "TrainingJobArn": training_job_arn(trial.name),
        "CreationTime": timestamp(trial.created_at),
        "TrainingEndTime": timestamp(_ended_at(trial)),
        "LastModifiedTime": timestamp(_last_modified(trial)),
        "TrainingJobStatus": amt_status(trial).value,
    }
    if "SecondaryStatus" in shape(SUMMARY_SHAPE).members:
        summary["SecondaryStatus"] = _secondary_status(trial).value
    return _drop_none(summary)
