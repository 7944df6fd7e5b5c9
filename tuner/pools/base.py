"""The worker-pool interface the coordinator drives, and the events pools send back.

A pool runs trials somewhere (worker subprocesses, Ray actors) and streams what happens back to
the coordinator, which is the only one to write to the database. Pools never raise for a
trial's own failure: it becomes a :class:`Finished` event with status Failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from strategies.base import TrialStatus


@dataclass(frozen=True, slots=True)
class TrialSpec:
    """Everything a worker needs to run one attempt of one training job.

    ``algorithm`` names a built-in algorithm; ``script`` describes a script-mode job (a
    framework image: entry point, source, MetricDefinitions; see :mod:`tuner.script`);
    otherwise ``callable_key`` identifies the user's cloudpickled training function
    (``callable_blob``), which a pool ships to each worker once.
    ``hyperparameters`` are strings for built-in algorithms (AMT's wire form) and typed values
    for callables. With ``wait_for_decision`` (the job has a stopping rule) the trial waits
    after each report until the coordinator calls the pool's ``proceed`` or ``stop``.
    """

    job_name: str
    number: int
    attempt: int
    training_job_name: str
    hyperparameters: Mapping[str, Any]
    channels: Mapping[str, str]
    output_dir: str
    algorithm: str | None = None
    callable_key: str | None = None
    callable_blob: bytes | None = field(default=None, repr=False)
    environment: Mapping[str, str] = field(default_factory=dict)
    wait_for_decision: bool = False
    script: Mapping[str, Any] | None = None
    #: This training job's checkpoint folder (kept across its attempts; None: the
    #: ``checkpoints`` folder in output_dir), and whether the built-in algorithms save a
    #: checkpoint every epoch (the definition has a CheckpointConfig).
    checkpoint_dir: str | None = None
    checkpoint_each_epoch: bool = False

    def job_message(self, memory_limit_mb: float | None) -> dict[str, Any]:
        """The plain dict a pool sends its worker (the callable's blob travels apart)."""
        return {
            "number": self.number,
            "algorithm": self.algorithm,
            "callable_key": self.callable_key,
            "hyperparameters": dict(self.hyperparameters),
            "channels": dict(self.channels),
            "output_dir": self.output_dir,
            "environment": dict(self.environment),
            "wait_for_decision": self.wait_for_decision,
            "script": dict(self.script) if self.script is not None else None,
            "training_job_name": self.training_job_name,
            "memory_limit_mb": memory_limit_mb,
            "checkpoint_dir": self.checkpoint_dir,
            "checkpoint_each_epoch": self.checkpoint_each_epoch,
        }


@dataclass(frozen=True, slots=True)
class Started:
    """The trial began running on ``worker``."""

    number: int
    worker: str
    at: float


@dataclass(frozen=True, slots=True)
class Report:
    """The trial reported ``metrics`` for ``epoch``."""

    number: int
    epoch: int
    metrics: Mapping[str, float]
    at: float


@dataclass(frozen=True, slots=True)
class Finished:
    """The trial ended: Completed, Failed (with ``error``) or Stopped."""

    number: int
    status: TrialStatus
    at: float
    error: str | None = None
    retryable: bool = False


Event = Started | Report | Finished


class WorkerPool(Protocol):
    """Runs trials and streams their events back.

    Contract: ``submit`` is called only while ``free_slots > 0``; every submitted trial yields
    exactly one :class:`Finished` event, after its :class:`Started` and :class:`Report` events;
    ``stop`` is idempotent and ends the trial within a second (cooperatively at its next report,
    by force after a grace period), giving ``Finished(Stopped)``; ``poll`` returns the events
    that arrived within ``timeout_s`` (possibly none) and never raises for trial errors, and
    returns as soon as an event arrives. A trial submitted with ``wait_for_decision`` does not
    go past a report until ``proceed`` (go on) or ``stop`` (it ends there, never starting its
    next epoch) is called for it; the coordinator answers every report of such a trial.
    """

    @property
    def free_slots(self) -> int: ...

    def submit(self, spec: TrialSpec) -> None: ...

    def poll(self, timeout_s: float) -> list[Event]: ...

    def stop(self, number: int) -> None: ...

    def proceed(self, number: int) -> None: ...

    def shutdown(self) -> None: ...
