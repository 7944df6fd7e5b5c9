"""Time, injected: the coordinator reads every timestamp, limit and deadline from a Clock.

``now()`` is wall-clock time (seconds since the epoch) for what is stored and shown;
``monotonic()`` is for durations and deadlines, which must not jump when the system clock is
set. :class:`SystemClock` reads the machine's clocks. :class:`SimulatedClock` only moves when
told to, so a job run with it and the :class:`~tuner.pools.simulated.SimulatedPool` takes
simulated hours in real milliseconds, with every limit still exact (Syne Tune's simulator
backend keeps time the same way).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Where the coordinator reads time from."""

    def now(self) -> float:
        """Seconds since the epoch (stored timestamps)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (durations, deadlines)."""
        ...


class SystemClock:
    """The machine's clocks."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class SimulatedClock:
    """A clock that moves only when :meth:`advance` or :meth:`advance_to` is called.

    Args:
        start: The wall-clock time it starts at (seconds since the epoch).
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._start = float(start)
        self._elapsed = 0.0

    def now(self) -> float:
        return self._start + self._elapsed

    def monotonic(self) -> float:
        return self._elapsed

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds`` (negative values are refused)."""
        if seconds < 0:
            msg = f"a clock cannot go back: advance({seconds!r})"
            raise ValueError(msg)
        self._elapsed += seconds

    def advance_to(self, monotonic: float) -> None:
        """Move forward to monotonic time ``monotonic``; a time already past changes nothing."""
        self._elapsed = max(self._elapsed, float(monotonic))
