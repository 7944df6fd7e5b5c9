"""A job's trial history that says what changed, so stopping rules need not rescan it.

Stopping rules are pure functions of the history, but a rule that recomputes everything from
every trial on every report costs O(trials x epochs) per report: at trial 10,000 a report would
cost a thousand times what it cost at trial 10. :class:`TrialHistory` is the sequence the
coordinator hands out, with a log of which positions changed; :class:`ChangeFeed` lets a rule
keep derived state (sorted running means, rung values) up to date by visiting only the trials
that changed since its last call.

Purity is kept: the derived state is a cache of the history. A rule given any other sequence
(a list in a test, a history rebuilt after a resume, another job's) rebuilds the cache from
scratch, so the answer never depends on what the rule saw before.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Sequence
from typing import overload

from strategies.base import Trial


class TrialHistory(Sequence[Trial]):
    """Trial snapshots ordered by number, and the positions changed, in order of change."""

    def __init__(self, trials: Iterable[Trial] = ()) -> None:
        self._trials: list[Trial] = list(trials)
        self._log = array("q", range(len(self._trials)))

    def __len__(self) -> int:
        return len(self._trials)

    @overload
    def __getitem__(self, index: int) -> Trial: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Trial]: ...
    def __getitem__(self, index: int | slice) -> Trial | Sequence[Trial]:
        return self._trials[index]

    def append(self, trial: Trial) -> None:
        self._trials.append(trial)
        self._log.append(len(self._trials) - 1)

    def replace(self, index: int, trial: Trial) -> None:
        """Put a new snapshot of the trial at ``index`` (after a report or a status change)."""
        self._trials[index] = trial
        self._log.append(index)

    @property
    def version(self) -> int:
        """How many changes were made so far (appends and replacements)."""
        return len(self._log)

    def changed_since(self, version: int) -> list[int]:
        """Positions changed after ``version`` (each once, in order of their last change)."""
        return list(dict.fromkeys(self._log[version:]))


class ChangeFeed:
    """Calls ``update(trial)`` for each trial that changed since the last :meth:`sync`.

    ``reset()`` is called first whenever the history is not the :class:`TrialHistory` seen
    last time (then every trial counts as changed), so the state it feeds is always exactly
    what a full pass over ``history`` would build; ``rebuilt()``, if given, after such a pass
    (to sort in bulk what the pass collected).
    """

    def __init__(
        self,
        reset: Callable[[], None],
        update: Callable[[Trial], None],
        rebuilt: Callable[[], None] | None = None,
    ) -> None:
        self._reset, self._update = reset, update
        self._rebuilt = rebuilt or (lambda: None)
        self._owner: TrialHistory | None = None
        self._version = 0

    def sync(self, history: Sequence[Trial]) -> None:
        if isinstance(history, TrialHistory) and history is self._owner:
            for index in history.changed_since(self._version):
                self._update(history[index])
        else:
            self._reset()
            for trial in history:
                self._update(trial)
            self._rebuilt()
            self._owner = history if isinstance(history, TrialHistory) else None
        self._version = history.version if isinstance(history, TrialHistory) else 0
