"""The tuning jobs a server runs: one coordinator per job, each in a thread of its own.

A job created through the API is validated and stored before the reply goes out (its
coordinator's ``start`` writes it, so DescribeHyperParameterTuningJob right after Create finds
it), then runs in a thread of the server's process with its own worker pool and its own
connection to the database: the client may disconnect, the job goes on. The pools share the
server's worker capacity fairly (:mod:`tuner.serve.capacity`).

Restarts. Jobs created here are stored with ``runner = "serve"``. When the server stops
(Ctrl-C, SIGTERM) each coordinator finishes its loop iteration, its workers are shut down and
the job is left InProgress; when a server starts on the database it resumes every InProgress
or Stopping job whose runner is ``serve`` (the coordinator's resume: finished training jobs are
kept, the interrupted ones run again as a new attempt of the same training job, so none is
lost or counted twice). Jobs of ``tuner run`` are never resumed here: their own process runs
them. A job's coordinator holds its lease in the database (:mod:`tuner.coordinator`), so a
second server on the same database skips the jobs the first one runs.

A coordinator that raises (a bug, a database gone) ends its job Failed with the error as the
reason; the server and its other jobs go on.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuner.coordinator import Coordinator
from tuner.errors import InvalidSpecError, JobExistsError, JobLeasedError
from tuner.pools.factory import make_pool
from tuner.script import prepare_job
from tuner.serve.capacity import Capacity, SharedPool
from tuner.serve.wire import ApiError, validation_error
from tuner.spec.model import TuningJobSpec
from tuner.spec.placement import place
from tuner.spec.validation import spec_from_request
from tuner.status import JobStatus
from tuner.storage import SqlStorage

log = logging.getLogger(__name__)

RUNNER = "serve"
#: How long shutdown waits for each job's thread to end its loop iteration.
SHUTDOWN_WAIT_S = 30.0


@dataclass(frozen=True)
class RunnerConfig:
    """Where the server's jobs run and how many at once."""

    db: str
    executor: str = "local"
    ray_address: str | None = None
    max_concurrent_jobs: int = 10
    capacity: int = os.cpu_count() or 1
    base_dir: Path = dataclasses.field(default_factory=Path.cwd)
    output: Path | None = None


class JobRunner:
    """Starts, resumes and winds down the coordinators of the server's tuning jobs."""

    def __init__(self, config: RunnerConfig) -> None:
        self.config = config
        self.capacity = Capacity(config.capacity)
        self._threads: dict[str, threading.Thread] = {}
        #: Jobs whose loop still runs (one that ended no longer counts while its workers close).
        self._live: set[str] = set()
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._started_ray = False

    @property
    def running(self) -> list[str]:
        with self._lock:
            return sorted(self._live)

    def create(self, request: Mapping[str, Any]) -> str:
        """Validate ``request``, store the job and start running it; its name.

        Raises ApiError: ValidationException (every problem of the spec, each naming its
        field), ResourceInUse (the name is taken, in any case) or ResourceLimitExceeded.
        """
        try:
            spec = spec_from_request(request, base_dir=self.config.base_dir)
        except InvalidSpecError as exc:
            raise validation_error("; ".join(exc.problems)) from None
        with self._lock:
            alive = len(self._live)
            if alive >= self.config.max_concurrent_jobs:
                raise ApiError(
                    "ResourceLimitExceeded",
                    f"The account-level service limit 'Number of concurrent hyperparameter "
                    f"tuning jobs' is {self.config.max_concurrent_jobs} Jobs, with current "
                    f"utilization of {alive} Jobs (tuner serve --max-concurrent-jobs)",
                )
            self._start(spec, resume=False)
        return spec.name

    def open(self) -> None:
        """Start what the jobs share: with the Ray executor, one Ray connection for the server
        (a pool that started Ray itself would shut it down under the other jobs' actors)."""
        if self.config.executor != "ray":
            return
        import ray

        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.config.ray_address:
                kwargs["address"] = self.config.ray_address
            ray.init(**kwargs)
            self._started_ray = True

    def resume_own_jobs(self) -> list[str]:
        """Resume the unfinished jobs this server (or an earlier one on the database) ran."""
        storage = SqlStorage(self.config.db)
        try:
            jobs = storage.list_jobs()
        finally:
            storage.close()
        resumed = []
        for job in jobs:
            if job.runner != RUNNER or job.status.is_terminal:
                continue
            try:
                spec = spec_from_request(job.request, base_dir=self.config.base_dir)
                with self._lock:
                    self._start(spec, resume=True, stopping=job.status is JobStatus.STOPPING)
            except Exception as exc:  # one broken job must not keep the others from resuming
                # _start answers a JobLeasedError as ResourceInUse: see through it.
                leased = exc if isinstance(exc, JobLeasedError) else exc.__context__
                if isinstance(leased, JobLeasedError):  # another live process runs the job
                    log.warning("not resuming tuning job %s: %s", job.name, leased)
                    continue
                log.exception("cannot resume tuning job %s", job.name)
                _fail_job(self.config.db, job.name, f"the server could not resume it: {exc}")
                continue
            resumed.append(job.name)
        return resumed

    def _start(self, spec: TuningJobSpec, *, resume: bool, stopping: bool = False) -> None:
        """Build the job's coordinator, store (or reload) the job, start its thread."""
        placement = place(spec, executor=self.config.executor, ray_address=self.config.ray_address)
        spec, warnings = prepare_job(placement.spec)
        for warning in [placement.warning, *warnings]:
            if warning:
                log.warning("tuning job %s: %s", spec.name, warning)
        storage = SqlStorage(self.config.db)
        if not resume and _name_taken(storage, spec.name):
            storage.close()
            raise ApiError(
                "ResourceInUse",
                f"A tuning job named {spec.name!r} already exists (names are "
                "unique without regard to case)",
            )
        pool = SharedPool(
            make_pool(spec, executor=self.config.executor, ray_address=self.config.ray_address),
            self.capacity,
            spec.name,
            spec.max_parallel_jobs,
        )
        coordinator = Coordinator(
            spec, storage, pool, output_root=self.config.output, runner=RUNNER
        )
        try:
            coordinator.start()
        except JobExistsError as exc:
            pool.shutdown()
            storage.close()
            raise ApiError("ResourceInUse", str(exc)) from None
        except BaseException:
            pool.shutdown()
            storage.close()
            raise
        if stopping:  # a stop asked for before the restart still holds
            storage.set_job_status(spec.name, JobStatus.STOPPING, now=time.time())
        thread = threading.Thread(
            target=self._drive,
            args=(coordinator, storage),
            name=f"tuning-job-{spec.name}",
            daemon=True,
        )
        self._threads[spec.name] = thread
        self._live.add(spec.name)
        thread.start()

    def _drive(self, coordinator: Coordinator, storage: SqlStorage) -> None:
        """Run one job's loop until it ends or the server closes (then it stays InProgress)."""
        name = coordinator.spec.name
        try:
            while not self._closing.is_set():
                if not coordinator.step():
                    coordinator.finish()
                    return
        except JobLeasedError:
            # Another process took the job over (this one stalled past its lease): it is
            # theirs now; nothing more is written here.
            log.warning("tuning job %s: another coordinator holds it now", name, exc_info=True)
        except Exception as exc:
            log.exception("tuning job %s: its coordinator failed", name)
            reason = f"the coordinator failed: {type(exc).__name__}: {exc}"
            _fail_job(self.config.db, name, reason, detail=traceback.format_exc())
        finally:
            with self._lock:
                self._live.discard(name)
            coordinator.pool.shutdown()
            storage.close()

    def shutdown(self) -> None:
        """Let every job end its loop iteration and stop its workers; the jobs stay InProgress
        in the database, for the next server to resume."""
        self._closing.set()
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(SHUTDOWN_WAIT_S)
        if self._started_ray:
            import ray

            ray.shutdown()


def _name_taken(storage: SqlStorage, name: str) -> bool:
    return any(job.name.lower() == name.lower() for job in storage.list_jobs())


def _fail_job(db: str, name: str, reason: str, detail: str | None = None) -> None:
    """Record that a job cannot go on (a separate connection: the job's own may be broken)."""
    if detail:
        log.debug("%s", detail)
    storage = SqlStorage(db)
    try:
        storage.set_job_status(name, JobStatus.FAILED, now=time.time(), reason=reason, ended=True)
    except Exception:
        log.exception("cannot record the failure of tuning job %s", name)
    finally:
        storage.close()
