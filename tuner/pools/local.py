"""LocalPool: warm worker subprocesses on this machine, no Ray needed.

Each worker is a fresh Python interpreter (``python -m tuner.pools.worker``) linked by a pipe
pair; a reader thread per worker turns its messages into events on one queue, which ``poll``
drains. Workers are reused across trials (AMT keeps warm pools too), which saves the
interpreter start and the imports of xgboost or torch on every trial; ``fresh_worker_per_trial``
replaces the worker after each trial for code that leaks memory or state.

Threads: unless the user set them, ``OMP_NUM_THREADS`` (and MKL/OpenBLAS's) are set in each
worker to the cores divided by the number of workers.

Stopping: ``stop`` asks the worker to end the trial at its next report (at once, if it waits
for a decision on its last one: see ``TrialSpec.wait_for_decision``); if the trial has not
ended after ``stop_grace_s`` the worker is killed (and replaced on the next submit), so a stop
always takes effect within a second. A worker that dies on its own (killed, out of memory,
segfault) ends its trial as Failed with the reason, retryable.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strategies.base import TrialStatus
from tuner.pools.base import Event, Finished, Report, Started, TrialSpec
from tuner.pools.stop_deadlines import StopDeadlines
from tuner.pools.wire import Channel

log = logging.getLogger(__name__)


def describe_exit(returncode: int | None) -> str:
    """Human words for a worker's exit status (``killed by SIGKILL``, ``exit code 3``)."""
    if returncode is None:
        return "no exit status"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = " (killed: out of memory or by another process)" if name == "SIGKILL" else ""
        return f"killed by {name}{hint}"
    return f"exit code {returncode}"


@dataclass(eq=False)
class _Worker:
    id: str
    proc: subprocess.Popen[bytes]
    channel: Channel
    current: int | None = None
    known_callables: set[str] = field(default_factory=set)
    dead: bool = False


class LocalPool:
    """Runs up to ``n_workers`` trials at once in warm worker subprocesses."""

    def __init__(
        self,
        n_workers: int,
        *,
        fresh_worker_per_trial: bool = False,
        stop_grace_s: float = 0.5,
        prestart: bool = True,
        python: str = sys.executable,
        threads_per_worker: int | None = None,
        gpus: list[int] | None = None,
        memory_limit_mb: float | None = None,
    ) -> None:
        if n_workers < 1:
            msg = f"n_workers must be >= 1, got {n_workers}"
            raise ValueError(msg)
        self.n_workers = n_workers
        self.fresh_worker_per_trial = fresh_worker_per_trial
        self.stop_grace_s = stop_grace_s
        self.python = python
        self.threads_per_worker = threads_per_worker or max(1, (os.cpu_count() or 1) // n_workers)
        self.gpus = list(gpus or [])
        self.memory_limit_mb = memory_limit_mb
        self.device = "cuda:0" if self.gpus else "cpu"
        self._events: queue.Queue[tuple[_Worker, Any]] = queue.Queue()
        self._idle: list[_Worker] = []
        self._running: dict[int, _Worker] = {}
        self._stop_deadlines = StopDeadlines(stop_grace_s)
        self._ids = itertools.count(1)
        self._closed = False
        if prestart:
            self._idle.extend(self._spawn() for _ in range(n_workers))

    # -- workers ---------------------------------------------------------------------------
    def _spawn(self) -> _Worker:
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        # Share the cores between parallel trials, as Ray does for its actors: without this,
        # each xgboost or torch trial starts one thread per core and they thrash each other.
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env.setdefault(var, str(self.threads_per_worker))
        number = next(self._ids)
        if self.gpus:
            # Round-robin: worker k sees one GPU, as cuda:0; fractional requests share it.
            env["CUDA_VISIBLE_DEVICES"] = str(self.gpus[(number - 1) % len(self.gpus)])
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [self.python, "-m", "tuner.pools.worker", str(to_worker_r), str(from_worker_w)],
            pass_fds=(to_worker_r, from_worker_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env=env,
            cwd=str(Path.cwd()),
        )
        os.close(to_worker_r)
        os.close(from_worker_w)
        device = f":cuda:0 (GPU {env['CUDA_VISIBLE_DEVICES']})" if self.gpus else ":cpu"
        worker = _Worker(f"local:pid{proc.pid}{device}", proc, Channel(from_worker_r, to_worker_w))
        worker.channel.send(("init", [p for p in sys.path if p], str(Path.cwd())))
        threading.Thread(target=self._read, args=(worker,), name=worker.id, daemon=True).start()
        return worker

    def _read(self, worker: _Worker) -> None:
        while True:
            try:
                message = worker.channel.recv()
            except (OSError, ValueError, EOFError):
                message = None
            if message is None:
                self._events.put((worker, ("eof",)))
                return
            self._events.put((worker, message))

    def _retire(self, worker: _Worker, *, kill: bool) -> None:
        """Take a worker out of service; kill it, or ask it to exit."""
        worker.dead = True
        if worker in self._idle:
            self._idle.remove(worker)
        try:
            if kill:
                worker.proc.kill()
            else:
                worker.channel.send(("exit",))
        except OSError:
            pass

    # -- pool interface ---------------------------------------------------------------------
    @property
    def free_slots(self) -> int:
        return 0 if self._closed else self.n_workers - len(self._running)

    def submit(self, spec: TrialSpec) -> None:
        if self.free_slots <= 0:
            msg = "submit() called with no free slot"
            raise RuntimeError(msg)
        worker = self._idle.pop() if self._idle else self._spawn()
        if spec.callable_key is not None and spec.callable_key not in worker.known_callables:
            worker.channel.send(("load", spec.callable_key, spec.callable_blob))
            worker.known_callables.add(spec.callable_key)
        worker.current = spec.number
        self._running[spec.number] = worker
        job = spec.job_message(self.memory_limit_mb)
        job["device"] = self.device
        worker.channel.send(("run", job))

    def stop(self, number: int) -> None:
        worker = self._running.get(number)
        if worker is None or not self._stop_deadlines.request(number):
            return
        with contextlib.suppress(OSError):
            worker.channel.send(("stop", number))

    def proceed(self, number: int) -> None:
        worker = self._running.get(number)
        if worker is None or number in self._stop_deadlines:
            return
        with contextlib.suppress(OSError):
            worker.channel.send(("proceed", number))

    def poll(self, timeout_s: float) -> list[Event]:
        events: list[Event] = []
        deadline = time.monotonic() + max(0.0, timeout_s)
        wait = self._stop_deadlines.wait_s(timeout_s)
        try:
            item = self._events.get(timeout=wait) if wait > 0 else self._events.get_nowait()
        except queue.Empty:
            item = None
        while item is not None:
            self._handle(*item, events)
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                item = None
        self._enforce_stop_deadlines(events)
        if not events and time.monotonic() < deadline and not self._stop_deadlines:
            # Woken early by an internal message only (ready, a late eof): keep waiting.
            return self.poll(deadline - time.monotonic())
        return events

    def _handle(self, worker: _Worker, message: Any, events: list[Event]) -> None:
        kind = message[0]
        if kind == "started":
            events.append(Started(message[1], worker.id, message[2]))
        elif kind == "report":
            _, number, epoch, metrics, at = message
            if number in self._running:
                events.append(Report(number, epoch, metrics, at))
        elif kind == "finished":
            _, number, status, error, retryable, at = message
            self._finish(worker, number, TrialStatus(status), error, retryable, at, events)
            if self.fresh_worker_per_trial:
                self._retire(worker, kill=False)
            elif not worker.dead:
                self._idle.append(worker)
        elif kind == "eof":
            worker.dead = True
            if worker in self._idle:
                self._idle.remove(worker)
            worker.channel.close()
            try:
                code = worker.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            number = worker.current
            if number is not None and self._running.get(number) is worker:
                if number in self._stop_deadlines:
                    self._finish(
                        worker, number, TrialStatus.STOPPED, None, False, time.time(), events
                    )
                else:
                    reason = f"InternalServerError: worker process died ({describe_exit(code)})"
                    self._finish(
                        worker, number, TrialStatus.FAILED, reason, True, time.time(), events
                    )

    def _finish(
        self,
        worker: _Worker,
        number: int,
        status: TrialStatus,
        error: str | None,
        retryable: bool,
        at: float,
        events: list[Event],
    ) -> None:
        if self._running.get(number) is not worker:
            return
        del self._running[number]
        self._stop_deadlines.discard(number)
        worker.current = None
        events.append(Finished(number, status, at, error, retryable))

    def _enforce_stop_deadlines(self, events: list[Event]) -> None:
        for number in self._stop_deadlines.overdue():
            worker = self._running.get(number)
            if worker is None:
                continue
            log.info("trial %s did not stop in time; killing worker %s", number, worker.id)
            self._retire(worker, kill=True)
            self._finish(worker, number, TrialStatus.STOPPED, None, False, time.time(), events)

    def shutdown(self) -> None:
        """Stop every worker: running trials are killed, idle workers asked to exit."""
        self._closed = True
        workers = list(self._idle) + list(self._running.values())
        for worker in workers:
            self._retire(worker, kill=worker.current is not None)
        for worker in workers:
            try:
                worker.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait()
        self._idle.clear()
        self._running.clear()

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
