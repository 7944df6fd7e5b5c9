"""Statuses of tuning jobs and training jobs, and how AMT shows and counts them.

:class:`JobStatus` sits beside :class:`~strategies.base.TrialStatus` (which strategies need,
so it lives in :mod:`strategies`). Both are ``StrEnum`` with AMT's spellings, so they compare
equal to the strings stored in the database and sent over AMT's API.

AMT's surface differs from ours in one place: a training job we hold as ``Pending`` (created,
not yet started) is ``InProgress`` to AMT. :func:`amt_training_status`,
:func:`objective_status_for` and :class:`StatusCounters` are the one place that rule and
AMT's two counters are written; ``DescribeHyperParameterTuningJob``, ``tuner list`` and the
dashboard (which folds ``GROUP BY`` rows into the same counters) all use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from strategies.base import TrialStatus

__all__ = [
    "JobStatus",
    "ObjectiveStatus",
    "StatusCounters",
    "TrialStatus",
    "amt_training_status",
    "objective_status_for",
]


class JobStatus(StrEnum):
    """A tuning job's life cycle (AMT's ``HyperParameterTuningJobStatus``)."""

    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"

    @property
    def is_terminal(self) -> bool:
        """True once the job has ended (it can no longer be resumed or stopped)."""
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED)


class ObjectiveStatus(StrEnum):
    """AMT's ``ObjectiveStatus`` of a training job."""

    SUCCEEDED = "Succeeded"
    PENDING = "Pending"
    FAILED = "Failed"


_RUNNING = (TrialStatus.PENDING, TrialStatus.IN_PROGRESS)
_SCORED = (TrialStatus.COMPLETED, TrialStatus.STOPPED)


def amt_training_status(status: str) -> TrialStatus:
    """TrainingJobStatus as AMT shows it: our Pending is InProgress."""
    trial_status = TrialStatus(status)
    return TrialStatus.IN_PROGRESS if trial_status is TrialStatus.PENDING else trial_status


def objective_status_for(status: str, has_value: bool) -> ObjectiveStatus:
    """Pending while running; Succeeded once a finished job has a final objective; else Failed."""
    trial_status = TrialStatus(status)
    if trial_status in _RUNNING:
        return ObjectiveStatus.PENDING
    if trial_status in _SCORED and has_value:
        return ObjectiveStatus.SUCCEEDED
    return ObjectiveStatus.FAILED


def _status_counters() -> dict[str, int]:
    return {
        "Completed": 0,
        "InProgress": 0,
        "RetryableError": 0,
        "NonRetryableError": 0,
        "Stopped": 0,
    }


def _objective_counters() -> dict[str, int]:
    return {s.value: 0 for s in ObjectiveStatus}


@dataclass
class StatusCounters:
    """AMT's ``TrainingJobStatusCounters`` and ``ObjectiveStatusCounters``."""

    status: dict[str, int] = field(default_factory=_status_counters)
    objective: dict[str, int] = field(default_factory=_objective_counters)

    def add(self, status: str, *, retryable: bool | None, has_value: bool, count: int = 1) -> None:
        """Count ``count`` training jobs of ``status`` (a failed one by whether it may retry)."""
        shown = amt_training_status(status)
        if shown is TrialStatus.FAILED:
            self.status["RetryableError" if retryable else "NonRetryableError"] += count
        else:
            self.status[shown.value] += count
        self.objective[objective_status_for(status, has_value).value] += count

    @property
    def total(self) -> int:
        return sum(self.status.values())
