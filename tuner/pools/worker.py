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
import os
import queue
import signal
import sys
import threading
from typing import Any

import cloudpickle

from tuner.pools.trial_runner import TrialControl, execute_trial
from tuner.pools.wire import Channel


class Worker:
    """Serves run, stop and proceed requests until told to exit or the pipe closes."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.jobs: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.blobs: dict[str, bytes] = {}
        self.callables: dict[str, Any] = {}
        self.current: int | None = None
        self.control = TrialControl()
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
            elif kind in ("stop", "proceed"):
                with self.lock:
                    if self.current != message[1]:
                        continue
                    if kind == "stop":
                        self.control.stop()
                    else:
                        self.control.proceed()

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
        with self.lock:
            self.current = job["number"]
            self.control.reset()
        try:
            execute_trial(
                job,
                self.channel.send,
                self.control,
                self._callable,
                device=job.get("device", "cpu"),
            )
        finally:
            with self.lock:
                self.current = None


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    # Ctrl-C in the terminal is for the coordinator, which stops trials cleanly (as Stopped);
    # the workers of its process group must not die of it first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    Worker(Channel(int(args[0]), int(args[1]))).serve()


if __name__ == "__main__":
    main()
