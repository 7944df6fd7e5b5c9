"""Runs one trial inside a worker (a LocalPool subprocess or a Ray actor) and emits its events.

Shared by both pools so a trial behaves the same wherever it runs: the TrainingContext, the
per-trial log file, the environment variables, and how an exception becomes a status.

Events are plain tuples (picklable, no engine types) given to ``emit``:
``("started", number, at)``, ``("report", number, epoch, metrics, at)``,
``("finished", number, status, error, retryable, at)``. A failure is a client error (never
retried) when the algorithm raised :class:`algorithms.base.InputError` (bad data or
hyperparameters), else an algorithm error, which a RetryStrategy may retry.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from algorithms.base import InputError, StopTraining

LOG_NAME = "training-job.log"

Emit = Callable[[tuple[Any, ...]], None]


class WorkerContext:
    """The TrainingContext given to algorithms and user callables."""

    def __init__(
        self,
        number: int,
        emit: Emit,
        stop_event: threading.Event,
        output_dir: Path,
        channels: Mapping[str, Path],
        device: str = "cpu",
    ) -> None:
        self.number = number
        self.device = device
        self.output_dir = output_dir
        self.channels = dict(channels)
        self._emit = emit
        self._stop = stop_event

    def report(self, epoch: int, **metrics: float) -> None:
        if self._stop.is_set():
            raise StopTraining
        clean = {}
        for name, value in metrics.items():
            number = float(value)
            if not math.isnan(number):
                clean[name] = number
        self._emit(("report", self.number, int(epoch), clean, time.time()))

    def should_stop(self) -> bool:
        return self._stop.is_set()


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


def failure_of(exc: Exception) -> tuple[str, bool]:
    """(FailureReason, retryable) of a trial that raised ``exc``: bad input is a client error."""
    if isinstance(exc, InputError):
        return f"ClientError: {exc}", False
    return f"AlgorithmError: {type(exc).__name__}: {exc}", True


def execute_trial(
    job: Mapping[str, Any],
    emit: Emit,
    stop_event: threading.Event,
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
        ctx = WorkerContext(number, emit, stop_event, output_dir, channels, device)
        with redirected_output(output_dir / LOG_NAME), environment(job["environment"]):
            try:
                if job["algorithm"] is not None:
                    from algorithms import get_algorithm

                    get_algorithm(job["algorithm"]).train(job["hyperparameters"], channels, ctx)
                else:
                    load_callable(job["callable_key"])(dict(job["hyperparameters"]), ctx)
            except (Exception, StopTraining):
                traceback.print_exc()
                raise
        if stop_event.is_set():
            status = "Stopped"
    except StopTraining:
        status = "Stopped"
    except Exception as exc:
        status = "Failed"
        error, retryable = failure_of(exc)
    emit(("finished", number, status, error, retryable, time.time()))
