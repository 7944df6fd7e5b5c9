"""Runs one trial inside a worker (a LocalPool subprocess or a Ray actor) and emits its events.

Shared by both pools so a trial behaves the same wherever it runs: the TrainingContext, the
per-trial log file, the environment variables, and how an exception becomes a status. What
runs is a built-in algorithm, a script-mode job (``job["script"]``: the entry point runs as a
subprocess, :class:`tuner.script.runner.ScriptTrainer`) or the user's callable.

Events are plain tuples (picklable, no engine types) given to ``emit``:
``("started", number, at)``, ``("report", number, epoch, metrics, at)``,
``("finished", number, status, error, retryable, at)``. A failure is a client error (never
retried) when the algorithm raised :class:`algorithms.base.InputError` (bad data or
hyperparameters), else an algorithm error, which a RetryStrategy may retry.

Exact stopping: when the job has a stopping rule, a trial waits after each report until the
coordinator answers (go on, or stop), as Ray Tune's function trainables and Optuna's
``should_prune`` do; so a trial the rule stops after epoch k never starts epoch k+1, and the
resource it used is exactly what the rule decided. :class:`TrialControl` is that hand-off.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from algorithms.base import InputError, StopTraining
from algorithms.checkpoints import CheckpointStore
from tuner.checkpointing import CHECKPOINTS_DIR

LOG_NAME = "training-job.log"

Emit = Callable[[tuple[Any, ...]], None]


class TrialControl:
    """What the coordinator tells a running trial: stop, or go on after a report.

    Answers are counted, not flagged, so an answer that arrives before the trial starts to wait
    for it is never lost. Shared by the worker's control thread (or the Ray actor's concurrent
    calls), which answers, and the training thread, which waits.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._stopped = False
        self._answers = 0

    def reset(self) -> None:
        """Forget the previous trial's stop and answers (a warm worker starts a new trial)."""
        with self._cond:
            self._stopped = False
            self._answers = 0

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def proceed(self) -> None:
        """The coordinator has decided on the trial's latest report: it goes on."""
        with self._cond:
            self._answers += 1
            self._cond.notify_all()

    @property
    def stopped(self) -> bool:
        return self._stopped

    def wait_for_answer(self, reports: int) -> None:
        """Block until ``reports`` reports have been answered or the trial was stopped."""
        with self._cond:
            self._cond.wait_for(lambda: self._stopped or self._answers >= reports)


class WorkerContext:
    """The TrainingContext given to algorithms and user callables.

    With ``wait_for_decision`` each :meth:`report` returns only once the coordinator decided on
    it, and raises :class:`StopTraining` at once if the decision was to stop.
    """

    def __init__(
        self,
        number: int,
        emit: Emit,
        control: TrialControl,
        output_dir: Path,
        channels: Mapping[str, Path],
        device: str = "cpu",
        *,
        wait_for_decision: bool = False,
        checkpoint_dir: Path | None = None,
        checkpoint_each_epoch: bool = False,
    ) -> None:
        self.number = number
        self.device = device
        self.output_dir = output_dir
        self.channels = dict(channels)
        #: The built-in algorithms save a checkpoint after every epoch when this is set (the
        #: training job definition has a CheckpointConfig); any code may save one at any time.
        self.checkpoint_each_epoch = checkpoint_each_epoch
        self._checkpoints = CheckpointStore(checkpoint_dir or output_dir / CHECKPOINTS_DIR)
        self._emit = emit
        self._control = control
        self._wait = wait_for_decision
        self._reports = 0

    def report(self, epoch: int, **metrics: float) -> None:
        if self._control.stopped:
            raise StopTraining
        # NaN and infinities go through: the coordinator fails a trial whose objective is one
        # (and stores only finite values).
        numbers = {name: float(value) for name, value in metrics.items()}
        self._emit(("report", self.number, int(epoch), numbers, time.time()))
        if self._wait:
            self._reports += 1
            self._control.wait_for_answer(self._reports)
            if self._control.stopped:
                raise StopTraining

    def should_stop(self) -> bool:
        return self._control.stopped

    @property
    def checkpoint_dir(self) -> Path:
        """This training job's checkpoint folder (a script-mode job gets it as
        ``SM_CHECKPOINT_DIR``, its ``/opt/ml/checkpoints``)."""
        return self._checkpoints.folder

    def save_checkpoint(self, path_or_state: Any) -> None:
        """Keep ``path_or_state`` (a ``Path`` to a file or folder, copied; anything else,
        pickled) as this training job's latest checkpoint: a retry of this training job, or
        its run after a coordinator crash, starts from it (see :meth:`load_checkpoint`)."""
        self._checkpoints.save(path_or_state)

    def load_checkpoint(self) -> Any | None:
        """This training job's latest checkpoint (the object saved, or the ``Path`` of the
        copied file or folder), or None when it has saved none."""
        return self._checkpoints.load()


@contextlib.contextmanager
def redirected_output(log_path: Path) -> Iterator[None]:
    """Point fds 1 and 2 (so sys.stdout/stderr and child processes too) at the trial's log."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "ab", buffering=0) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


@contextlib.contextmanager
def environment(extra: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block and restore the previous values after."""
    before = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


#: How many of the innermost traceback frames a FailureReason names (AMT caps it at 1,024).
REASON_FRAMES = 3


def address_space_bytes() -> int:
    """This process's current virtual size (VmSize in /proc/self/status; 0 where unknown)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@contextlib.contextmanager
def memory_limit(limit_mb: float | None) -> Iterator[None]:
    """Let the block add at most ``limit_mb`` (ResourceConfig.MaxMemoryInMB) to this process's
    address space, and lift the cap after it (only the soft limit is lowered, so a warm worker
    can raise it again for its next training job).

    The cap is the worker's own address space plus the limit, not the limit alone: a Ray
    worker maps gigabytes before any training code runs (8.6 GB here, with the object
    store), and a cap below that fails every allocation of Ray's own threads, which hangs the
    actor instead of failing the trial."""
    if limit_mb is None:
        yield
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = address_space_bytes() + int(limit_mb * 1024 * 1024)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def failure_of(exc: Exception, memory_limit_mb: float | None = None) -> tuple[str, bool]:
    """(FailureReason, retryable) of a trial that raised ``exc``: bad input is a client error.

    An error of the training code carries the innermost frames of its traceback (file name,
    line, function), so the reason says where it happened; the whole traceback is in the
    training job's log."""
    if isinstance(exc, InputError):
        return f"ClientError: {exc}", False
    if isinstance(exc, MemoryError) and memory_limit_mb is not None:
        # Not retryable: the same training job asks for the same memory again.
        return (
            f"OutOfMemory: the training job needed more than its {memory_limit_mb:g} MB "
            "(ResourceConfig.MaxMemoryInMB)",
            False,
        )
    frames = traceback.extract_tb(exc.__traceback__)[-REASON_FRAMES:]
    where = "; ".join(f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in frames)
    reason = f"AlgorithmError: {type(exc).__name__}: {exc}"
    return (f"{reason} (at {where})" if where else reason), True


def execute_trial(
    job: Mapping[str, Any],
    emit: Emit,
    control: TrialControl,
    load_callable: Callable[[str], Callable[..., Any]],
    *,
    device: str = "cpu",
) -> None:
    """Run ``job`` (the dict a pool sends) to its end; never raises for the trial's own errors."""
    number = job["number"]
    emit(("started", number, time.time()))
    output_dir = Path(job["output_dir"])
    status, error, retryable = "Completed", None, False
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        channels = {k: Path(v) for k, v in job["channels"].items()}
        ctx = WorkerContext(
            number,
            emit,
            control,
            output_dir,
            channels,
            device,
            wait_for_decision=bool(job.get("wait_for_decision")),
            checkpoint_dir=Path(job["checkpoint_dir"]) if job.get("checkpoint_dir") else None,
            checkpoint_each_epoch=bool(job.get("checkpoint_each_epoch")),
        )
        limit = job.get("memory_limit_mb")
        with (
            redirected_output(output_dir / LOG_NAME),
            environment(job["environment"]),
            memory_limit(limit),
        ):
            try:
                if job.get("script") is not None:
                    from tuner.script.runner import ScriptTrainer

                    trainer = ScriptTrainer(
                        job["script"], training_job_name=str(job.get("training_job_name") or "")
                    )
                    trainer.train(job["hyperparameters"], channels, ctx)
                elif job["algorithm"] is not None:
                    from algorithms import get_algorithm

                    get_algorithm(job["algorithm"]).train(job["hyperparameters"], channels, ctx)
                else:
                    load_callable(job["callable_key"])(dict(job["hyperparameters"]), ctx)
            except StopTraining:
                # A stop is not a crash: one plain line in the log, not a traceback.
                sys.stderr.write("training stopped: the tuning job asked it to stop\n")
                raise
            except Exception:
                traceback.print_exc()
                raise
        if control.stopped:
            status = "Stopped"
    except StopTraining:
        status = "Stopped"
    except Exception as exc:
        status = "Failed"
        error, retryable = failure_of(exc, job.get("memory_limit_mb"))
    emit(("finished", number, status, error, retryable, time.time()))
