"""Length-prefixed pickle frames over a pipe: the LocalPool's private protocol with its workers.

A dedicated pipe pair (not stdin/stdout) carries the messages, so whatever the user's training
code prints can go to the trial's log file without corrupting the protocol.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import threading
from typing import Any, BinaryIO

_HEADER = struct.Struct("!I")


class Channel:
    """One end of a worker link: ``send`` is thread-safe; ``recv`` returns None at end of file."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._reader: BinaryIO = os.fdopen(read_fd, "rb")
        self._writer: BinaryIO = os.fdopen(write_fd, "wb")
        self._lock = threading.Lock()

    def send(self, message: Any) -> None:
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            self._writer.write(_HEADER.pack(len(payload)) + payload)
            self._writer.flush()

    def recv(self) -> Any | None:
        header = self._reader.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return None
        (size,) = _HEADER.unpack(header)
        payload = self._reader.read(size)
        if len(payload) < size:
            return None
        return pickle.loads(payload)

    def close(self) -> None:
        for f in (self._writer, self._reader):
            with contextlib.suppress(OSError):
                f.close()
