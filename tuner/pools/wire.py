"""Pickled messages over a pipe pair: the LocalPool's private protocol with its workers.

A dedicated pipe pair (not stdin/stdout) carries the messages, so whatever the user's training
code prints can go to the trial's log file without corrupting the protocol. The framing is
:class:`multiprocessing.connection.Connection`'s (length-prefixed pickles, large messages
included); this adds the lock that makes ``send`` safe from several threads (a trial's reports
and the worker's own messages) and the end of file as ``None``.
"""

from __future__ import annotations

import contextlib
import threading
from multiprocessing.connection import Connection
from typing import Any


class Channel:
    """One end of a worker link: ``send`` is thread-safe; ``recv`` returns None at end of file."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._reader = Connection(read_fd, writable=False)
        self._writer = Connection(write_fd, readable=False)
        self._lock = threading.Lock()

    def send(self, message: Any) -> None:
        with self._lock:
            self._writer.send(message)

    def recv(self) -> Any | None:
        try:
            return self._reader.recv()
        except EOFError:
            return None

    def close(self) -> None:
        for connection in (self._writer, self._reader):
            with contextlib.suppress(OSError):
                connection.close()
