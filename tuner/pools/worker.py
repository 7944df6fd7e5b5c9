"""The worker process of the LocalPool: runs trials one after another, kept warm between them.

Started as ``python -m tuner.pools.worker READ_FD WRITE_FD`` (a fresh interpreter, never a fork
or a multiprocessing spawn, so the user's main module is never re-run here). The user's training
callable arrives cloudpickled, by value when it was defined in ``__main__``, a notebook or a
closure. Each trial's stdout and stderr go to ``training-job.log`` in its output folder.

Imports stay light (no numpy, no SQLAlchemy) so a worker starts fast; built-in algorithms are
imported on first use and stay imported for the next trial.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import cloudpickle

from algorithms.base import InputError, StopTraining
from tuner.pools.wire import Channel

LOG_NAME = "training-job.log"


class WorkerContext:
    """The TrainingContext given to algorithms and user callables inside a worker."""

    def __init__(
        self,
        number: int,
        channel: Channel,
        stop_event: threading.Event,
        output_dir: Path,
        channels: Mapping[str, Path],
        device: str = "cpu",
    ) -> None:
        self.number = number
        self.device = device
        self.output_dir = output_dir
        self.channels = dict(channels)
        self._channel = channel
        self._stop = stop_event

    def report(self, epoch: int, **metrics: float) -> None:
        if self._stop.is_set():
            raise StopTraining
        clean = {}
        for name, value in metrics.items():
            number = float(value)
            if not math.isnan(number):
                clean[name] = number
        self._channel.send(("report", self.number, int(epoch), clean, time.time()))

    def should_stop(self) -> bool:
        return self._stop.is_set()


@contextlib.contextmanager
def _redirected_output(log_path: Path) -> Iterator[None]:
    """Point fds 1 and 2 (and sys.stdout/stderr) at the trial's log file for the block."""
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
def _environment(extra: Mapping[str, str]) -> Iterator[None]:
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


class Worker:
    """Serves run/stop requests from the pool until told to exit or the pipe closes."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.jobs: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.blobs: dict[str, bytes] = {}
        self.callables: dict[str, Any] = {}
        self.current: int | None = None
        self.stop_event = threading.Event()
        self.lock = threading.Lock()

    def listen(self) -> None:
        """Control thread: queue runs, flag stops, note callables, end on exit or EOF."""
        while True:
            message = self.channel.recv()
            if message is None:
                # The coordinator is gone (killed, crashed): nobody will read our results, so
                # end now rather than finish the trial as an orphan.
                os._exit(1)
            if message[0] == "exit":
                self.jobs.put(None)
                return
            kind = message[0]
            if kind == "init":
                _, paths, cwd = message
                for p in reversed(paths):
                    if p not in sys.path:
                        sys.path.insert(0, p)
                with contextlib.suppress(OSError):
                    os.chdir(cwd)
            elif kind == "load":
                self.blobs[message[1]] = message[2]
            elif kind == "run":
                self.jobs.put(message[1])
            elif kind == "stop":
                with self.lock:
                    if self.current == message[1]:
                        self.stop_event.set()

    def serve(self) -> None:
        threading.Thread(target=self.listen, name="control", daemon=True).start()
        self.channel.send(("ready", os.getpid()))
        while (job := self.jobs.get()) is not None:
            self.run(job)

    def _callable(self, key: str) -> Any:
        fn = self.callables.get(key)
        if fn is None:
            fn = cloudpickle.loads(self.blobs.pop(key))
            self.callables[key] = fn
        return fn

    def run(self, job: dict[str, Any]) -> None:
        number = job["number"]
        with self.lock:
            self.current = number
            self.stop_event.clear()
        self.channel.send(("started", number, time.time()))
        output_dir = Path(job["output_dir"])
        status, error, retryable = "Completed", None, False
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
            channels = {k: Path(v) for k, v in job["channels"].items()}
            ctx = WorkerContext(number, self.channel, self.stop_event, output_dir, channels)
            with _redirected_output(output_dir / LOG_NAME), _environment(job["environment"]):
                try:
                    if job["algorithm"] is not None:
                        from algorithms import get_algorithm

                        get_algorithm(job["algorithm"]).train(
                            job["hyperparameters"], channels, ctx
                        )
                    else:
                        self._callable(job["callable_key"])(dict(job["hyperparameters"]), ctx)
                except (Exception, StopTraining):
                    traceback.print_exc()
                    raise
            if self.stop_event.is_set():
                status = "Stopped"
        except StopTraining:
            status = "Stopped"
        except InputError as exc:
            status, error = "Failed", f"ClientError: {exc}"
        except Exception as exc:
            status, error, retryable = (
                "Failed",
                f"AlgorithmError: {type(exc).__name__}: {exc}",
                True,
            )
        finally:
            with self.lock:
                self.current = None
        self.channel.send(("finished", number, status, error, retryable, time.time()))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    # Ctrl-C in the terminal is for the coordinator, which stops trials cleanly (as Stopped);
    # the workers of its process group must not die of it first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    Worker(Channel(int(args[0]), int(args[1]))).serve()


if __name__ == "__main__":
    main()
