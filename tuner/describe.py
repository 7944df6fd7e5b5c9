"""The AMT surface: stored records as AMT's Describe/List responses.

This is the one place where internal trials become AMT training jobs: statuses (our
``Pending`` shows as ``InProgress``), ObjectiveStatus, counters, ARNs, the best training job.
Shapes follow botocore's ``DescribeHyperParameterTuningJobResponse``,
``ListTrainingJobsForHyperParameterTuningJobResponse``, ``ListHyperParameterTuningJobsResponse``
and ``HyperParameterTrainingJobSummary``; ``tests/tuner/test_response_shapes.py`` checks every
response, for every example spec and every request of ``tests/corpus``, against those shapes
(unknown members, required members, types, enums, timestamps). Times are timezone-aware
``datetime`` objects, as boto3 returns them; :func:`to_json` renders them as ISO 8601 strings.

**Responses are pure AWS shapes.** DescribeHyperParameterTuningJob echoes the request's
``HyperParameterTuningJobConfig``, ``TrainingJobDefinition`` (or ``TrainingJobDefinitions``),
``WarmStartConfig`` and ``Autotune`` as AMT does, cut to AWS's shapes (:func:`split_extensions`):

* Fields of ours that AWS's structures do not have are left out of the echo: the
  ``ResourceConfig`` members ``NumCpus``, ``NumGpus``, ``AllowCpuFallback`` (and their
  snake_case spellings), the engine's ``CpuFallbackWarning``, Hyperband's ``ReductionFactor``
  and ``ModelBased``, and any other member a request may carry beside AWS's.
* A strategy of ours (``TPE``) is shown as the AMT strategy of its family, ``Bayesian``
  (``Hyperband`` for one that stops trials itself), in the echoed config and in the
  ListHyperParameterTuningJobs summary; the real name is an extension.
* Members AWS requires in a response but a local request may leave out are filled with what
  the engine used: ``Strategy`` (the job's), ``TrainingInputMode: File``,
  ``S3DataType: S3Prefix``, ``OutputDataConfig.S3OutputPath`` (the folder the training jobs
  wrote to), an empty ``StoppingCondition`` (no limit) and a placeholder local ``RoleArn``.

**Warm start.** ``WarmStartConfig`` is echoed as given. A job warm-started with
``IdenticalDataAndAlgorithm`` also has ``OverallBestTrainingJob``: the best training job of this
job and its parents (AMT gives it for that type only; a parent's summary names the parent in
``TuningJobName``). The parents are read from the same database: :func:`describe_stored_job`
does it, or give them to :func:`describe_tuning_job` as ``parents`` (without them it leaves
``OverallBestTrainingJob`` out rather than guess).

What was left out is kept, not lost: :func:`request_extensions` returns it keyed by its path in
the request (``"TrainingJobDefinition.ResourceConfig.NumGpus": 1``). ``tuner describe`` shows
it in its table, ``tuner describe NAME --json --extensions`` adds it as one top-level
``"TunerExtensions"`` block (the one member outside AWS's shape, asked for explicitly), and the
stored request as given, extensions included, is ``/api/jobs/{name}/spec`` of the dashboard.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from botocore.model import Shape

from strategies.registry import STRATEGIES
from tuner.objective import Objective, ObjectiveType
from tuner.spec.model import CALLABLE_IMAGE_PREFIX
from tuner.spec.request_shape import shape
from tuner.spec.resources import resource_config_of_tuning
from tuner.spec.warm_start import parent_names
from tuner.status import (
    JobStatus,
    ObjectiveStatus,
    StatusCounters,
    TrialStatus,
    amt_training_status,
    objective_status_for,
)
from tuner.storage.base import Storage
from tuner.storage.records import JobRecord, TrainingJobRecord

REGION = "local"
ACCOUNT = "000000000000"
#: RoleArn of a definition that gave none: required in AWS's response, unused locally.
LOCAL_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/local"
#: S3OutputPath of a definition that gave none, before a training job has written anywhere.
DEFAULT_OUTPUT_PATH = "tuner-output"
#: Members of the request that DescribeHyperParameterTuningJob echoes, as AMT does.
ECHOED_MEMBERS = (
    "HyperParameterTuningJobConfig",
    "TrainingJobDefinition",
    "TrainingJobDefinitions",
    "WarmStartConfig",
    "Autotune",
)


def tuning_job_arn(name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:hyper-parameter-tuning-job/{name.lower()}"


def training_job_arn(name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{name.lower()}"


def training_job_name(tuning_job: str, number: int) -> str:
    """AMT's ``<tuning-job>-<NNN>-<8 hex>``; the suffix is a hash, stable across resumes."""
    digest = hashlib.sha1(f"{tuning_job}/{number}".encode()).hexdigest()[:8]
    return f"{tuning_job}-{number:03d}-{digest}"


def timestamp(seconds: float | None) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)


def amt_status(trial: TrainingJobRecord) -> TrialStatus:
    """TrainingJobStatus: Pending is InProgress at the AMT surface."""
    return amt_training_status(trial.status)


def objective_status(trial: TrainingJobRecord) -> ObjectiveStatus:
    """Succeeded once a finished job has a final objective; Pending while running; else Failed."""
    return objective_status_for(trial.status, trial.final_value is not None)


def objective_of(job: JobRecord) -> Objective:
    """The job's objective (a multi-algorithm request: the first definition's TuningObjective)."""
    config = job.request.get("HyperParameterTuningJobConfig") or {}
    obj = config.get("HyperParameterTuningJobObjective")
    if obj is None:
        obj = job.request["TrainingJobDefinitions"][0]["TuningObjective"]
    return Objective(obj["MetricName"], ObjectiveType(obj["Type"]))


def definition_objective(job: JobRecord, definition: str | None, default: Objective) -> Objective:
    """The objective of a multi-algorithm job's definition ``definition`` (its own
    TuningObjective: the metric may differ between definitions, the Type may not); ``default``
    for a one-definition job's training jobs (``definition`` None)."""
    if definition is None:
        return default
    for d in job.request.get("TrainingJobDefinitions") or []:
        if d.get("DefinitionName") == definition and isinstance(d.get("TuningObjective"), dict):
            obj = d["TuningObjective"]
            return Objective(obj["MetricName"], ObjectiveType(obj["Type"]))
    return default


def counters(trials: Iterable[TrainingJobRecord]) -> tuple[dict[str, int], dict[str, int]]:
    """(TrainingJobStatusCounters, ObjectiveStatusCounters)."""
    counted = StatusCounters()
    for t in trials:
        counted.add(t.status, retryable=t.retryable, has_value=t.final_value is not None)
    return counted.status, counted.objective


def best_trial(
    trials: Iterable[TrainingJobRecord], objective: Objective
) -> TrainingJobRecord | None:
    """The best final objective among jobs whose objective Succeeded (the first wins ties)."""
    best: TrainingJobRecord | None = None
    for t in trials:
        if objective_status(t) is not ObjectiveStatus.SUCCEEDED or t.final_value is None:
            continue
        if best is None or objective.is_better(t.final_value, best.final_value):
            best = t
    return best


def _drop_none(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


# -- AWS's shapes, and our extensions beside them ------------------------------------------------

_LEFT_OUT = object()


def _enum(sh: Shape) -> list[str]:
    return list(getattr(sh, "enum", None) or sh.metadata.get("enum") or [])


def split_extensions(value: Any, sh: Shape, path: str = "") -> tuple[Any, dict[str, Any]]:
    """``value`` cut to the botocore shape ``sh``, and what was cut, keyed by its path.

    A structure loses the members ``sh`` does not have, a string the enum values it does not
    allow (``Strategy: TPE``); lists and maps are walked item by item. The value given is not
    changed: containers of the result are new. Paths are written as validation messages write
    them: ``TrainingJobDefinition.ResourceConfig.NumGpus``, ``InputDataConfig[0].X``.
    """
    extensions: dict[str, Any] = {}
    kept = _split(value, sh, path, extensions)
    return (None if kept is _LEFT_OUT else kept), extensions


def _split(value: Any, sh: Shape, path: str, extensions: dict[str, Any]) -> Any:
    kind = sh.type_name
    if kind == "structure" and isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            member = sh.members.get(key)
            if member is None:
                extensions[sub] = item
                continue
            kept = _split(item, member, sub, extensions)
            if kept is not _LEFT_OUT:
                out[key] = kept
        return out
    if kind == "list" and isinstance(value, list):
        items = (_split(v, sh.member, f"{path}[{i}]", extensions) for i, v in enumerate(value))
        return [v for v in items if v is not _LEFT_OUT]
    if kind == "map" and isinstance(value, Mapping):
        pairs = ((k, _split(v, sh.value, f"{path}.{k}", extensions)) for k, v in value.items())
        return {k: v for k, v in pairs if v is not _LEFT_OUT}
    if kind == "string" and isinstance(value, str):
        enum = _enum(sh)
        if enum and value not in enum:
            extensions[path] = value
            return _LEFT_OUT
    return value


def amt_strategy(name: str) -> str:
    """The ``Strategy`` AMT's shapes allow for our strategy ``name``: itself when AMT has it,
    else its family: Hyperband for a strategy that stops trials itself, Bayesian otherwise."""
    if name in _enum(shape("HyperParameterTuningJobStrategyType")):
        return name
    entry = STRATEGIES.get(name)
    return "Hyperband" if entry is not None and entry.stops_trials else "Bayesian"


def _output_path(trials: Iterable[TrainingJobRecord]) -> str:
    """The folder the training jobs wrote to (each to ``<folder>/<training job name>``)."""
    for t in trials:
        if t.output_dir:
            return str(PurePath(t.output_dir).parent)
    return DEFAULT_OUTPUT_PATH


def complete_definition(definition: Any, output_path: str) -> None:
    """Members AWS requires in a response, filled with what the engine used (in place)."""
    if not isinstance(definition, dict):
        return
    definition.setdefault("RoleArn", LOCAL_ROLE_ARN)
    output = definition.setdefault("OutputDataConfig", {})
    if isinstance(output, dict):
        output.setdefault("S3OutputPath", output_path)
    definition.setdefault("StoppingCondition", {})
    algorithm = definition.get("AlgorithmSpecification")
    if isinstance(algorithm, dict):
        algorithm.setdefault("TrainingInputMode", "File")
    for channel in definition.get("InputDataConfig") or []:
        source = (channel.get("DataSource") or {}) if isinstance(channel, dict) else {}
        s3 = source.get("S3DataSource") if isinstance(source, dict) else None
        if isinstance(s3, dict):
            s3.setdefault("S3DataType", "S3Prefix")


def _add_objective_hyperparameter(definition: Any, metric: str) -> None:
    """AMT adds ``_tuning_objective_metric`` to the StaticHyperParameters it echoes (the
    SageMaker SDK's ``HyperparameterTuner.attach`` deletes it from there, and fails without
    it); a Python callable, which is called without it, gets none."""
    if not isinstance(definition, dict):
        return
    algorithm = definition.get("AlgorithmSpecification") or {}
    image = algorithm.get("TrainingImage") if isinstance(algorithm, dict) else None
    if isinstance(image, str) and image.startswith(CALLABLE_IMAGE_PREFIX):
        return
    statics = definition.setdefault("StaticHyperParameters", {})
    if isinstance(statics, dict):
        statics.setdefault("_tuning_objective_metric", metric)
    if isinstance(algorithm, dict):
        # The SDK's attach reads MetricDefinitions too; a built-in algorithm reports its
        # metrics itself (AMT lists the algorithm's regexes here; we have none to list).
        algorithm.setdefault("MetricDefinitions", [])


def _add_resource_config(definition: Any) -> None:
    """A ``ResourceConfig`` beside a one-instance-type ``HyperParameterTuningResourceConfig``.

    The SageMaker SDK (v2.2xx) sends the latter for every tuner, and its
    ``HyperparameterTuner.attach`` reads ``TrainingJobDefinition.ResourceConfig`` (instance
    count, type, volume) from the description, so it fails on a description without one.
    Whether AMT echoes both is not documented (AMT.md); giving both, with the same values, is
    our choice (:func:`tuner.spec.resources.resource_config_of_tuning`)."""
    if not isinstance(definition, dict) or "ResourceConfig" in definition:
        return
    derived = resource_config_of_tuning(definition.get("HyperParameterTuningResourceConfig"))
    if derived is not None:
        definition["ResourceConfig"] = derived


def _echo(job: JobRecord, output_path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request's members DescribeHyperParameterTuningJob echoes, and our extensions."""
    response = shape("DescribeHyperParameterTuningJobResponse")
    echo: dict[str, Any] = {}
    extensions: dict[str, Any] = {}
    for member in ECHOED_MEMBERS:
        if job.request.get(member) is None:
            continue
        kept, extra = split_extensions(job.request[member], response.members[member], member)
        extensions.update(extra)
        if kept is not None:
            echo[member] = kept
    config = echo.setdefault("HyperParameterTuningJobConfig", {})
    config.setdefault("Strategy", amt_strategy(job.strategy))
    if config["Strategy"] != job.strategy:
        extensions.setdefault("HyperParameterTuningJobConfig.Strategy", job.strategy)
    complete_definition(echo.get("TrainingJobDefinition"), output_path)
    _add_objective_hyperparameter(echo.get("TrainingJobDefinition"), objective_of(job).metric)
    _add_resource_config(echo.get("TrainingJobDefinition"))
    for definition in echo.get("TrainingJobDefinitions") or []:
        complete_definition(definition, output_path)
        metric = definition_objective(job, definition.get("DefinitionName"), objective_of(job))
        _add_objective_hyperparameter(definition, metric.metric)
    return echo, extensions


def request_extensions(job: JobRecord) -> dict[str, Any]:
    """What the echo of ``job``'s request leaves out of AWS's shapes, keyed by its path.

    E.g. ``{"TrainingJobDefinition.ResourceConfig.NumGpus": 1,
    "HyperParameterTuningJobConfig.Strategy": "TPE"}``; empty for a request that is AMT's.
    """
    return _echo(job, DEFAULT_OUTPUT_PATH)[1]


def training_job_summary(
    job: JobRecord, trial: TrainingJobRecord, objective: Objective
) -> dict[str, Any]:
    """One ``HyperParameterTrainingJobSummary`` (with its TrainingJobDefinitionName and its
    definition's objective metric in a multi-algorithm job)."""
    objective = definition_objective(job, trial.definition, objective)
    final = None
    if trial.final_value is not None and trial.status in (
        TrialStatus.COMPLETED,
        TrialStatus.STOPPED,
    ):
        final = {
            "Type": objective.type.value,
            "MetricName": objective.metric,
            "Value": trial.final_value,
        }
    return _drop_none(
        {
            "TrainingJobDefinitionName": trial.definition,
            "TrainingJobName": trial.name,
            "TrainingJobArn": training_job_arn(trial.name),
            "TuningJobName": job.name,
            "CreationTime": timestamp(trial.created_at),
            "TrainingStartTime": timestamp(trial.started_at),
            "TrainingEndTime": timestamp(trial.ended_at),
            "TrainingJobStatus": amt_status(trial),
            "TunedHyperParameters": dict(trial.hyperparameters),
            "FailureReason": trial.failure_reason if trial.status is TrialStatus.FAILED else None,
            "FinalHyperParameterTuningJobObjectiveMetric": final,
            "ObjectiveStatus": objective_status(trial),
        }
    )


#: A parent tuning job and its training jobs, as :func:`describe_tuning_job` takes them.
ParentRecords = tuple[JobRecord, Sequence[TrainingJobRecord]]


def is_identical_warm_start(job: JobRecord) -> bool:
    config = job.request.get("WarmStartConfig")
    return isinstance(config, Mapping) and config.get("WarmStartType") == (
        "IdenticalDataAndAlgorithm"
    )


def overall_best_training_job(
    job: JobRecord, trials: Sequence[TrainingJobRecord], parents: Sequence[ParentRecords]
) -> dict[str, Any] | None:
    """``OverallBestTrainingJob``: the best of this job and its parents (None: none has one).

    Ties go to this job, then to the parents in order, as :func:`best_trial` does.
    """
    objective = objective_of(job)
    candidates = [(job, best_trial(trials, objective))]
    candidates += [(parent, best_trial(ts, objective)) for parent, ts in parents]
    best: tuple[JobRecord, TrainingJobRecord] | None = None
    for owner, trial in candidates:
        if trial is None or trial.final_value is None:
            continue
        if best is None or objective.is_better(trial.final_value, best[1].final_value):
            best = (owner, trial)
    return training_job_summary(best[0], best[1], objective) if best else None


def parent_records(storage: Storage, job: JobRecord) -> list[ParentRecords]:
    """The parents of a warm-started ``job`` found in ``storage`` (a deleted one is skipped)."""
    out: list[ParentRecords] = []
    for name in parent_names(job.request):
        try:
            parent = storage.load_job(name)
        except LookupError:
            continue
        out.append((parent, storage.trials(parent.name)))
    return out


def describe_stored_job(storage: Storage, name: str, *, now: float) -> dict[str, Any]:
    """DescribeHyperParameterTuningJob's response for the job ``name`` of ``storage``,
    with ``OverallBestTrainingJob`` of a warm start read from its parents."""
    job = storage.load_job(name)
    return describe_tuning_job(
        job, storage.trials(job.name), now=now, parents=parent_records(storage, job)
    )


@dataclass(frozen=True)
class TrialsDigest:
    """What DescribeHyperParameterTuningJob needs of a job's training jobs: the counters, the
    best one and the folder they wrote to. :func:`digest` reads it off loaded records;
    :func:`tuner.trial_pages.digest` has the database compute it (one job of 100,000 trials
    need not be loaded to be described)."""

    status_counters: dict[str, int]
    objective_counters: dict[str, int]
    best: TrainingJobRecord | None
    output_path: str


def digest(trials: Sequence[TrainingJobRecord], objective: Objective) -> TrialsDigest:
    status_counters, objective_counters = counters(trials)
    return TrialsDigest(
        status_counters, objective_counters, best_trial(trials, objective), _output_path(trials)
    )


def describe_tuning_job(
    job: JobRecord,
    trials: Sequence[TrainingJobRecord],
    *,
    now: float,
    parents: Sequence[ParentRecords] | None = None,
) -> dict[str, Any]:
    """DescribeHyperParameterTuningJob's response for a stored job (pure AWS shape: see above).

    ``parents``: a warm start's parent jobs with their training jobs (:func:`parent_records`);
    without them (None) ``OverallBestTrainingJob`` is left out: it cannot be known.
    """
    overall = None
    if parents is not None and is_identical_warm_start(job):
        overall = overall_best_training_job(job, trials, parents)
    return describe_digested(job, digest(trials, objective_of(job)), now=now, overall_best=overall)


def describe_digested(
    job: JobRecord,
    trials: TrialsDigest,
    *,
    now: float,
    overall_best: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """:func:`describe_tuning_job` from a :class:`TrialsDigest` (and the overall best training
    job of a warm start, when it is known)."""
    objective = objective_of(job)
    best = trials.best
    end = job.ended_at if job.status.is_terminal else None
    echo, _ = _echo(job, trials.output_path)
    completion = dict(job.completion) or None
    if completion is not None and "ConvergenceDetectedTime" in completion:
        completion["ConvergenceDetectedTime"] = timestamp(completion["ConvergenceDetectedTime"])
    return _drop_none(
        {
            "HyperParameterTuningJobName": job.name,
            "HyperParameterTuningJobArn": tuning_job_arn(job.name),
            "HyperParameterTuningJobConfig": echo["HyperParameterTuningJobConfig"],
            "TrainingJobDefinition": echo.get("TrainingJobDefinition"),
            "TrainingJobDefinitions": echo.get("TrainingJobDefinitions"),
            "WarmStartConfig": echo.get("WarmStartConfig"),
            "Autotune": echo.get("Autotune"),
            "HyperParameterTuningJobStatus": job.status,
            "CreationTime": timestamp(job.created_at),
            "HyperParameterTuningEndTime": timestamp(end),
            "LastModifiedTime": timestamp(job.last_modified_at),
            "TrainingJobStatusCounters": trials.status_counters,
            "ObjectiveStatusCounters": trials.objective_counters,
            "BestTrainingJob": training_job_summary(job, best, objective) if best else None,
            "OverallBestTrainingJob": overall_best,
            "FailureReason": job.failure_reason if job.status is JobStatus.FAILED else None,
            "TuningJobCompletionDetails": completion,
            "ConsumedResources": {"RuntimeInSeconds": int(round((end or now) - job.created_at))},
        }
    )


def tuning_job_summary(job: JobRecord, trials: Sequence[TrainingJobRecord]) -> dict[str, Any]:
    """One ``HyperParameterTuningJobSummary`` of ListHyperParameterTuningJobs."""
    return tuning_job_summary_counted(job, *counters(trials))


def tuning_job_summary_counted(
    job: JobRecord, status_counters: dict[str, int], objective_counters: dict[str, int]
) -> dict[str, Any]:
    """:func:`tuning_job_summary` from the counters alone (the database may count them)."""
    config = job.request["HyperParameterTuningJobConfig"]
    end = job.ended_at if job.status.is_terminal else None
    limits, _ = split_extensions(config.get("ResourceLimits"), shape("ResourceLimits"))
    return _drop_none(
        {
            "HyperParameterTuningJobName": job.name,
            "HyperParameterTuningJobArn": tuning_job_arn(job.name),
            "HyperParameterTuningJobStatus": job.status,
            "Strategy": amt_strategy(job.strategy),
            "CreationTime": timestamp(job.created_at),
            "HyperParameterTuningEndTime": timestamp(end),
            "LastModifiedTime": timestamp(job.last_modified_at),
            "TrainingJobStatusCounters": status_counters,
            "ObjectiveStatusCounters": objective_counters,
            "ResourceLimits": limits,
        }
    )


_SORT_KEYS = ("Name", "CreationTime", "Status", "FinalObjectiveMetricValue")


def list_training_jobs(
    job: JobRecord,
    trials: Sequence[TrainingJobRecord],
    *,
    sort_by: str = "Name",
    sort_order: str = "Ascending",
    status_equals: str | None = None,
) -> list[dict[str, Any]]:
    """ListTrainingJobsForHyperParameterTuningJob's ``TrainingJobSummaries`` (all pages at once).

    As in AMT, sorting by FinalObjectiveMetricValue leaves out jobs without an objective value.
    """
    if sort_by not in _SORT_KEYS:
        msg = f"SortBy must be one of {', '.join(_SORT_KEYS)}, got {sort_by!r}"
        raise ValueError(msg)
    if sort_order not in ("Ascending", "Descending"):
        msg = f"SortOrder must be Ascending or Descending, got {sort_order!r}"
        raise ValueError(msg)
    objective = objective_of(job)
    rows = [training_job_summary(job, t, objective) for t in trials]
    if status_equals is not None:
        rows = [r for r in rows if r["TrainingJobStatus"] == status_equals]
    if sort_by == "FinalObjectiveMetricValue":
        rows = [r for r in rows if "FinalHyperParameterTuningJobObjectiveMetric" in r]
        rows.sort(key=lambda r: r["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    elif sort_by == "CreationTime":
        rows.sort(key=lambda r: r["CreationTime"])
    elif sort_by == "Status":
        rows.sort(key=lambda r: r["TrainingJobStatus"])
    else:
        rows.sort(key=lambda r: r["TrainingJobName"])
    if sort_order == "Descending":
        rows.reverse()
    return rows


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    msg = f"cannot serialise {type(value).__name__}"
    raise TypeError(msg)


def to_json(data: Any, *, indent: int | None = 2) -> str:
    """JSON text with datetimes as ISO 8601 strings."""
    return json.dumps(data, indent=indent, default=_json_default)
