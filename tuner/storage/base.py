"""The storage interface the coordinator writes through, and the readers read.

Narrow on purpose (Optuna's 20-odd abstract storage methods are the warning): the coordinator
creates a job, adds trials, records their start, reports and end, restarts them for a retry,
and sets the job's status; the HTTP API server also deletes jobs and keeps resources' tags
(AddTags, ListTags, DeleteTags); everything else reads snapshots.
:class:`~tuner.storage.SqlStorage` is the implementation (SQLite or any SQLAlchemy database);
the storage contract suite in ``tests/contracts`` runs against every implementation.

Contract: returned records are immutable snapshots, never changed by later writes; names of
tuning jobs are unique without regard to case; writes inside one :meth:`Storage.batch` block
commit together or not at all; only one process writes a job at a time (its coordinator),
which the job's lease enforces: :meth:`Storage.acquire_lease` is atomic, so of two coordinators
that start on one job at once exactly one gets it, and the other is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from strategies.base import TrialStatus
from tuner.status import JobStatus
from tuner.storage.records import JobRecord, MetricPoint, TrainingJobRecord


class Storage(Protocol):
    """Tuning jobs, their training jobs and reported metrics."""

    def batch(self) -> AbstractContextManager[None]:
        """A block whose writes share one transaction (nested blocks join the outer one)."""
        ...

    def create_job(
        self,
        name: str,
        request: Mapping[str, Any],
        *,
        strategy: str,
        seed: int,
        status: JobStatus,
        now: float,
        callable_blob: bytes | None = None,
        runner: str | None = None,
    ) -> None:
        """Insert a tuning job; JobExistsError if the name is taken (in any case).

        ``runner`` says who runs it ("serve": the HTTP API server, which resumes only its own
        jobs after a restart; None: ``tuner run`` or the Python API).
        """
        ...

    def delete_job(self, name: str) -> None:
        """Delete a tuning job with its training jobs and metrics; JobNotFoundError if none.

        One transaction; the job's tags are left to the caller (they are keyed by ARN).
        """
        ...

    def load_job(self, name: str) -> JobRecord:
        """The tuning job called ``name``; JobNotFoundError if there is none."""
        ...

    def list_jobs(self) -> list[JobRecord]:
        """Every tuning job, oldest first."""
        ...

    def set_job_status(
        self,
        name: str,
        status: JobStatus,
        *,
        now: float,
        reason: str | None = None,
        ended: bool = False,
        completion: Mapping[str, Any] | None = None,
    ) -> None:
        """Change a job's status (with a failure reason, its end time, completion details)."""
        ...

    def acquire_lease(
        self,
        name: str,
        holder: str,
        *,
        now: float,
        duration_s: float,
        holder_alive: Callable[[str], bool],
    ) -> None:
        """Take the job's lease for ``holder`` until ``now + duration_s``, atomically.

        Taken when it is free, expired, already ``holder``'s, or its holder is dead
        (``holder_alive(current_holder)`` is False); otherwise JobLeasedError, naming the holder
        and until when. JobNotFoundError if there is no such job.
        """
        ...

    def renew_lease(self, name: str, holder: str, *, now: float, duration_s: float) -> bool:
        """Extend ``holder``'s lease to ``now + duration_s``; False if it is not theirs now."""
        ...

    def release_lease(self, name: str, holder: str) -> None:
        """Free the job's lease if ``holder`` holds it (otherwise, or without the job: nothing)."""
        ...

    def add_trial(
        self,
        job: str,
        number: int,
        *,
        name: str,
        hyperparameters: Mapping[str, str],
        now: float,
        output_dir: str | None = None,
        bracket: int | None = None,
    ) -> None:
        """Insert training job ``number`` of ``job`` as Pending."""
        ...

    def mark_running(self, job: str, number: int, *, worker: str, now: float) -> None:
        """The training job started on ``worker``."""
        ...

    def add_report(
        self,
        job: str,
        number: int,
        *,
        attempt: int,
        epoch: int,
        metrics: Mapping[str, float],
        at: float,
    ) -> None:
        """Append one report's metrics to the training job's ``attempt``."""
        ...

    def finish_trial(
        self,
        job: str,
        number: int,
        *,
        status: TrialStatus,
        now: float,
        final_value: float | None,
        final_metrics: Mapping[str, float],
        n_reports: int,
        failure_reason: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        """The training job ended with ``status`` (Completed, Failed or Stopped)."""
        ...

    def restart_trial(
        self, job: str, number: int, *, attempt: int, reason: str | None, now: float
    ) -> None:
        """Put a training job back to Pending for attempt ``attempt``, noting why."""
        ...

    def trials(self, job: str) -> list[TrainingJobRecord]:
        """Every training job of ``job``, ordered by number."""
        ...

    def curves(
        self, job: str, metric_names: Sequence[str] | None = None
    ) -> dict[int, list[MetricPoint]]:
        """Reported metrics of each training job's latest attempt, by training job number."""
        ...

    def set_tags(self, resource_arn: str, tags: Mapping[str, str]) -> None:
        """Add tags to a resource, overwriting the value of a key it has (the API's AddTags)."""
        ...

    def tags(self, resource_arn: str) -> dict[str, str]:
        """A resource's tags in the order their keys were first added (the API's ListTags)."""
        ...

    def delete_tags(self, resource_arn: str, keys: Sequence[str] | None = None) -> None:
        """Delete these tags of a resource (None: all of them); unknown keys are ignored."""
        ...
