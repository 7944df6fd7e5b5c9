"""The AMT surface: stored records as AMT's Describe/List responses.

This is the one place where internal trials become AMT training jobs: statuses (our
``Pending`` shows as ``InProgress``), ObjectiveStatus, counters, ARNs, the best training job.
Shapes follow botocore's ``DescribeHyperParameterTuningJobResponse``,
``ListTrainingJobsForHyperParameterTuningJobResponse`` and
``ListHyperParameterTuningJobsResponse``;
tests check them against the model. Times are timezone-aware ``datetime`` objects, as boto3
returns them; :func:`to_json` renders them as ISO 8601 strings.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tuner.objective import Objective, ObjectiveType
from tuner.status import (
    JobStatus,
    ObjectiveStatus,
    StatusCounters,
    TrialStatus,
    amt_training_status,
    objective_status_for,
)
from tuner.storage.records import JobRecord, TrainingJobRecord

REGION = "local"
ACCOUNT = "000000000000"


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
    obj = job.request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    return Objective(obj["MetricName"], ObjectiveType(obj["Type"]))


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


def training_job_summary(
    job: JobRecord, trial: TrainingJobRecord, objective: Objective
) -> dict[str, Any]:
    """One ``HyperParameterTrainingJobSummary``."""
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


def describe_tuning_job(
    job: JobRecord, trials: Sequence[TrainingJobRecord], *, now: float
) -> dict[str, Any]:
    """DescribeHyperParameterTuningJob's response for a stored job."""
    objective = objective_of(job)
    status_counters, objective_counters = counters(trials)
    best = best_trial(trials, objective)
    end = job.ended_at if job.status.is_terminal else None
    request = job.request
    completion = dict(job.completion) or None
    if completion is not None and "ConvergenceDetectedTime" in completion:
        completion["ConvergenceDetectedTime"] = timestamp(completion["ConvergenceDetectedTime"])
    return _drop_none(
        {
            "HyperParameterTuningJobName": job.name,
            "HyperParameterTuningJobArn": tuning_job_arn(job.name),
            "HyperParameterTuningJobConfig": request["HyperParameterTuningJobConfig"],
            "TrainingJobDefinition": request.get("TrainingJobDefinition"),
            "HyperParameterTuningJobStatus": job.status,
            "CreationTime": timestamp(job.created_at),
            "HyperParameterTuningEndTime": timestamp(end),
            "LastModifiedTime": timestamp(job.last_modified_at),
            "TrainingJobStatusCounters": status_counters,
            "ObjectiveStatusCounters": objective_counters,
            "BestTrainingJob": training_job_summary(job, best, objective) if best else None,
            "FailureReason": job.failure_reason if job.status is JobStatus.FAILED else None,
            "TuningJobCompletionDetails": completion,
            "ConsumedResources": {"RuntimeInSeconds": int(round((end or now) - job.created_at))},
        }
    )


def tuning_job_summary(job: JobRecord, trials: Sequence[TrainingJobRecord]) -> dict[str, Any]:
    """One ``HyperParameterTuningJobSummary`` of ListHyperParameterTuningJobs."""
    status_counters, objective_counters = counters(trials)
    config = job.request["HyperParameterTuningJobConfig"]
    end = job.ended_at if job.status.is_terminal else None
    return _drop_none(
        {
            "HyperParameterTuningJobName": job.name,
            "HyperParameterTuningJobArn": tuning_job_arn(job.name),
            "HyperParameterTuningJobStatus": job.status,
            "Strategy": config["Strategy"],
            "CreationTime": timestamp(job.created_at),
            "HyperParameterTuningEndTime": timestamp(end),
            "LastModifiedTime": timestamp(job.last_modified_at),
            "TrainingJobStatusCounters": status_counters,
            "ObjectiveStatusCounters": objective_counters,
            "ResourceLimits": config.get("ResourceLimits"),
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
