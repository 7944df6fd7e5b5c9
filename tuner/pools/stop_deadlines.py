"""Stop requests with a grace period, shared by the pools that run real processes.

A stop is cooperative first (the trial ends at its next report) and forced after
``grace_s`` (the worker or actor is killed), so a stop always takes effect within a second.
This keeps the deadlines: which trials were asked to stop, how long ``poll`` may wait before
one falls due, and which are overdue.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class StopDeadlines:
    """Deadlines of trials asked to stop, by trial number."""

    def __init__(self, grace_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace_s = grace_s
        self._clock = clock
        self._deadlines: dict[int, float] = {}

    def __contains__(self, number: object) -> bool:
        return number in self._deadlines

    def __bool__(self) -> bool:
        return bool(self._deadlines)

    def request(self, number: int) -> bool:
        """Start the grace period of ``number``; False if it was already asked to stop."""
        if number in self._deadlines:
            return False
        self._deadlines[number] = self._clock() + self.grace_s
        return True

    def discard(self, number: int) -> None:
        """The trial ended: forget its deadline."""
        self._deadlines.pop(number, None)

    def wait_s(self, timeout_s: float) -> float:
        """How long ``poll`` may wait: ``timeout_s``, or less when a deadline falls due first."""
        if not self._deadlines:
            return timeout_s
        return min(timeout_s, max(0.0, min(self._deadlines.values()) - self._clock()))

    def overdue(self) -> list[int]:
        """Trials whose grace period is over (forgotten here: the caller ends them)."""
        now = self._clock()
        late = [n for n, deadline in self._deadlines.items() if now >= deadline]
        for number in late:
            del self._deadlines[number]
        return late
