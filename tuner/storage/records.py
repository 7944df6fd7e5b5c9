"""Read-only snapshots of what the database holds, returned by :class:`SqlStorage`.

A multi-algorithm job's training job keeps its TrainingJobDefinitionName in its
hyperparameters' JSON under the reserved key ``_definition`` (AMT's own keys start with ``_``,
like ``_tuning_objective_metric``, so no hyperparameter of a definition can be called so): no
schema migration is needed and a one-definition job's rows are unchanged. The record shows it
as :attr:`TrainingJobRecord.definition`, never among the hyperparameters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from strategies.base import TrialStatus
from strategies.multi import DEFINITION_KEY
from tuner.status import JobStatus


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One tuning job row."""

    name: str
    request: Mapping[str, Any]
    strategy: str
    status: JobStatus
    seed: int
    created_at: float
    last_modified_at: float
    ended_at: float | None = None
    failure_reason: str | None = None
    callable_blob: bytes | None = None
    completion: Mapping[str, Any] = field(default_factory=dict)
    #: Who runs the job: None (``tuner run``, Python API) or "serve" (the HTTP API's jobs).
    runner: str | None = None
    #: The coordinator that holds the job's lease ("host:pid:token"), and until when (epoch s).
    lease_holder: str | None = None
    lease_expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class TrainingJobRecord:
    """One training job row; ``final_value`` is the objective as reported (not oriented)."""

    number: int
    name: str
    hyperparameters: Mapping[str, str]
    status: TrialStatus
    created_at: float
    final_value: float | None = None
    final_metrics: Mapping[str, float] = field(default_factory=dict)
    started_at: float | None = None
    ended_at: float | None = None
    failure_reason: str | None = None
    retryable: bool | None = None
    attempt: int = 1
    retry_reasons: tuple[str, ...] = ()
    n_reports: int = 0
    bracket: int | None = None
    worker: str | None = None
    output_dir: str | None = None
    #: TrainingJobDefinitionName (multi-algorithm jobs only).
    definition: str | None = None


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One reported value of one metric."""

    epoch: int
    name: str
    value: float
    at: float


def job_record_from_row(row: Any) -> JobRecord:
    """A JobRecord from a ``tuning_jobs`` row (``callable_blob``, ``runner`` and the lease's
    columns may be left out)."""
    return JobRecord(
        name=row.name,
        request=json.loads(row.request_json),
        strategy=row.strategy,
        status=JobStatus(row.status),
        seed=row.seed,
        created_at=row.created_at,
        last_modified_at=row.last_modified_at,
        ended_at=row.ended_at,
        failure_reason=row.failure_reason,
        callable_blob=getattr(row, "callable_blob", None),
        completion=json.loads(row.completion_json) if row.completion_json else {},
        runner=getattr(row, "runner", None),
        lease_holder=getattr(row, "lease_holder", None),
        lease_expires_at=getattr(row, "lease_expires_at", None),
    )


def training_job_record_from_row(row: Any) -> TrainingJobRecord:
    """A TrainingJobRecord from a ``training_jobs`` row."""
    hyperparameters = json.loads(row.hyperparameters_json)
    definition = hyperparameters.pop(DEFINITION_KEY, None)
    return TrainingJobRecord(
        number=row.number,
        name=row.name,
        hyperparameters=hyperparameters,
        status=TrialStatus(row.status),
        created_at=row.created_at,
        final_value=row.final_value,
        final_metrics=json.loads(row.final_metrics_json) if row.final_metrics_json else {},
        started_at=row.started_at,
        ended_at=row.ended_at,
        failure_reason=row.failure_reason,
        retryable=row.retryable,
        attempt=row.attempt,
        retry_reasons=tuple(json.loads(row.retry_reasons_json or "[]")),
        n_reports=row.n_reports,
        bracket=row.bracket,
        worker=row.worker,
        output_dir=row.output_dir,
        definition=definition,
    )
