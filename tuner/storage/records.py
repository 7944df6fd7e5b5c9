"""Read-only snapshots of what the database holds, returned by :class:`SqlStorage`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One tuning job row."""

    name: str
    request: Mapping[str, Any]
    strategy: str
    status: str
    seed: int
    created_at: float
    last_modified_at: float
    ended_at: float | None = None
    failure_reason: str | None = None
    callable_blob: bytes | None = None
    completion: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TrainingJobRecord:
    """One training job row; ``final_value`` is the objective as reported (not oriented)."""

    number: int
    name: str
    hyperparameters: Mapping[str, str]
    status: str
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


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One reported value of one metric."""

    epoch: int
    name: str
    value: float
    at: float
