"""The coordinator's in-memory mirror of one job's trials, and the snapshots strategies see.

The coordinator is the only writer to the database, so a mirror kept next to its writes cannot
drift from the rows; it saves a read per event. The book also keeps, in step with every change:
the immutable :class:`~strategies.base.Trial` snapshots handed to strategies and stopping rules
(oriented for minimisation, in a :class:`~strategies.history.TrialHistory` that logs which
changed, so the rules update their caches instead of rescanning), and the count of trials in
each status (the progress display).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from strategies.base import StopDecision, Trial, TrialStatus
from strategies.history import TrialHistory
from strategies.space import SearchSpace
from tuner.objective import Objective


@dataclass
class TrialState:
    """One trial as the coordinator tracks it (the database row mirrored in memory)."""

    number: int
    name: str
    tuned: dict[str, str]
    bracket: int | None = None
    status: TrialStatus = TrialStatus.PENDING
    attempt: int = 1
    curve: list[tuple[int, float]] = field(default_factory=list)
    last_metrics: dict[str, float] = field(default_factory=dict)
    last_value: float | None = None
    n_reports: int = 0
    submitted: float | None = None  # clock.monotonic() when handed to the pool
    started: float | None = None  # clock.monotonic() when it started: the runtime limit
    stop: StopDecision | None = None  # why the coordinator asked it to stop, once it did
    heard: float | None = None  # clock.monotonic() of its start or last report: hang detection
    #: Set when the coordinator found the attempt failed (a non-finite objective, a hang): it
    #: ends Failed with this reason, however the pool reports its end.
    fail_reason: str | None = None

    def clear_attempt(self) -> None:
        """Forget what the last attempt reported (before a retry or a rerun after a crash)."""
        self.curve, self.last_metrics, self.last_value, self.n_reports = [], {}, None, 0
        self.started, self.stop, self.heard, self.fail_reason = None, None, None, None
        self.submitted = None


class TrialBook:
    """Every trial of one job by number, with snapshots and status counts kept in step."""

    def __init__(self, space: SearchSpace, objective: Objective) -> None:
        self.space = space
        self.objective = objective
        self._states: dict[int, TrialState] = {}
        self._history = TrialHistory()
        self.counts: Counter[TrialStatus] = Counter()

    def __len__(self) -> int:
        return len(self._states)

    def __getitem__(self, number: int) -> TrialState:
        return self._states[number]

    def __iter__(self) -> Iterator[TrialState]:
        return iter(self._states.values())

    def get(self, number: int) -> TrialState | None:
        return self._states.get(number)

    @property
    def history(self) -> Sequence[Trial]:
        """Snapshots of every trial, ordered by number (what strategies and stoppers see)."""
        return self._history

    def add(self, state: TrialState) -> Trial:
        """Track a new trial; numbers must come in order 1, 2, 3 ..."""
        if state.number != len(self._states) + 1:
            msg = f"trial {state.number} added after {len(self._states)} trials"
            raise ValueError(msg)
        self._states[state.number] = state
        self.counts[state.status] += 1
        snapshot = self._snapshot(state)
        self._history.append(snapshot)
        return snapshot

    def set_status(self, state: TrialState, status: TrialStatus) -> Trial:
        """Change a trial's status, keeping the counts and its snapshot in step."""
        self.counts[state.status] -= 1
        self.counts[status] += 1
        state.status = status
        return self.refresh(state)

    def refresh(self, state: TrialState) -> Trial:
        """Rebuild the snapshot of ``state`` after a change (a report, a retry)."""
        snapshot = self._snapshot(state)
        self._history.replace(state.number - 1, snapshot)
        return snapshot

    def unfinished(self) -> list[TrialState]:
        return [s for s in self._states.values() if not s.status.is_finished]

    def _snapshot(self, state: TrialState) -> Trial:
        orient = self.objective.orient
        return Trial(
            number=state.number,
            config=self.space.cast(state.tuned),
            status=state.status,
            value=orient(state.last_value) if state.last_value is not None else None,
            curve=tuple((e, orient(v)) for e, v in state.curve),
            bracket=state.bracket,
        )
