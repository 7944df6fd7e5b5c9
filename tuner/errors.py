"""The engine's exception family. Messages say what was wrong, where, and what is allowed."""

from __future__ import annotations


class TunerError(Exception):
    """Base of every error the engine raises on purpose."""


class InvalidSpecError(TunerError, ValueError):
    """A tuning job spec breaks AMT's rules; ``problems`` holds one message per problem.

    Each message starts with the field path, e.g.
    ``HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs: must be >= 1, got 0``.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid tuning job spec:\n" + "\n".join(f"  - {p}" for p in problems))


class JobNotFoundError(TunerError, LookupError):
    """No tuning job (or training job) of that name in the database."""


class JobExistsError(TunerError):
    """A tuning job of that name exists already and cannot be resumed by this request."""


class JobLeasedError(JobExistsError):
    """Another live process runs that tuning job (its coordinator holds the job's lease).

    A JobExistsError, so the command line exits 2 and the HTTP API answers ResourceInUse; the
    message names the job, the holder (host and process id) and when its lease expires.
    """


class StorageError(TunerError):
    """The database could not be read or written."""


class MissingDependencyError(TunerError, ImportError):
    """An optional package is needed for what was asked (the message says which to install)."""


class BestTrainingJobNotAvailableError(TunerError, LookupError):
    """No training job of the tuning job has a final objective value yet."""


class ExecutorLostError(TunerError):
    """The connection to the cluster that runs the trials was lost (a Ray Client ``ray://``).

    The coordinator does not reconnect: it stops there, and the tuning job stays as it was in
    the database (its finished training jobs kept, the running ones to be run again), so
    ``tuner resume NAME`` continues it once the cluster is reachable, on it or elsewhere.
    """
