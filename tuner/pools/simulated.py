"""SimulatedPool: trials whose learning curves come from a function, on simulated time.

The real coordinator, strategy, stopping rule and storage run unchanged; only the training is
replaced by a learning curve and the clock by a :class:`~tuner.clock.SimulatedClock`, as in
Syne Tune's simulator backend. A 1,000-trial Hyperband job on a surrogate runs in seconds, and
every time limit, runtime and stop is exact, so tests of the coordinator need no sleeps and
benchmarks of early stopping can run at scale.

How time passes: each trial reports one epoch every ``seconds_per_epoch`` (a number, or a
function of the hyperparameters and the epoch), after ``start_delay_s``. :meth:`poll` moves the
clock to the next moment something happens (never further than its timeout) and returns
everything that happens then, so the coordinator decides on each report before simulated time
moves on. A stop ends the trial ``stop_delay_s`` after it was asked for (default 0: at once,
before its next report), which models a decision that reaches the trial before its next epoch.
A trial submitted with ``wait_for_decision`` reports and then waits, on simulated time that
does not pass for it, until ``proceed`` or ``stop``, as trials on the real pools do.

The learning curve is called with the trial's hyperparameters (typed for a Python callable's
job, AMT's strings for a built-in algorithm's) and returns an iterable of metric dicts, one per
epoch. An exception while it is called or iterated fails the trial as a training exception
would (an ``InputError`` is a client error, never retried).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from strategies.base import TrialStatus
from tuner.clock import SimulatedClock
from tuner.pools.base import Event, Finished, Report, Started, TrialSpec
from tuner.pools.trial_runner import failure_of

LearningCurve = Callable[[Mapping[str, Any]], Iterable[Mapping[str, float]]]
EpochSeconds = float | Callable[[Mapping[str, Any], int], float]

_DONE = object()


@dataclass(eq=False)
class _SimulatedTrial:
    number: int
    hyperparameters: Mapping[str, Any]
    epochs: Iterator[Mapping[str, float]]
    next_at: float  # monotonic time of its next event
    next_item: Any = None  # metrics of the next epoch, _DONE, or the exception it raised
    epoch: int = 0
    stop_at: float | None = None
    waits: bool = False  # it waits for a decision after each report
    awaiting: bool = False  # it reported and waits for that decision now


class SimulatedPool:
    """Runs up to ``n_workers`` simulated trials at once on ``clock``."""

    def __init__(
        self,
        n_workers: int,
        learning_curve: LearningCurve,
        *,
        clock: SimulatedClock,
        seconds_per_epoch: EpochSeconds = 1.0,
        start_delay_s: float = 0.0,
        stop_delay_s: float = 0.0,
    ) -> None:
        if n_workers < 1:
            msg = f"n_workers must be >= 1, got {n_workers}"
            raise ValueError(msg)
        self.n_workers = n_workers
        self.learning_curve = learning_curve
        self.clock = clock
        self.seconds_per_epoch = seconds_per_epoch
        self.start_delay_s = start_delay_s
        self.stop_delay_s = stop_delay_s
        self._running: dict[int, _SimulatedTrial] = {}
        self._ready: list[Event] = []  # events due now, returned by the next poll
        self._workers = itertools.count(1)
        self._closed = False

    # -- pool interface ---------------------------------------------------------------------
    @property
    def free_slots(self) -> int:
        return 0 if self._closed else self.n_workers - len(self._running)

    def submit(self, spec: TrialSpec) -> None:
        if self.free_slots <= 0:
            msg = "submit() called with no free slot"
            raise RuntimeError(msg)
        hyperparameters = dict(spec.hyperparameters)
        self._ready.append(Started(spec.number, f"simulated:{next(self._workers)}", self._now()))
        trial = _SimulatedTrial(
            spec.number,
            hyperparameters,
            iter(()),
            self._elapsed(),
            waits=spec.wait_for_decision,
        )
        try:
            trial.epochs = iter(self.learning_curve(hyperparameters))
        except Exception as exc:
            trial.next_item = exc
        else:
            trial.next_item = self._next_item(trial)
        trial.next_at = self._elapsed() + self.start_delay_s + self._epoch_s(trial)
        self._running[spec.number] = trial

    def stop(self, number: int) -> None:
        trial = self._running.get(number)
        if trial is not None and trial.stop_at is None:
            trial.stop_at = self._elapsed() + self.stop_delay_s

    def proceed(self, number: int) -> None:
        trial = self._running.get(number)
        if trial is None or not trial.awaiting or trial.stop_at is not None:
            return
        trial.awaiting = False
        if trial.next_item is _DONE:  # training returns right after its last report
            self._finish(trial, TrialStatus.COMPLETED, None, False, self._ready)
        else:
            trial.next_at = self._elapsed() + self._epoch_s(trial)

    def poll(self, timeout_s: float) -> list[Event]:
        if self._ready:
            ready, self._ready = self._ready, []
            return ready
        due = [self._due_at(t) for t in self._running.values()]
        until = self._elapsed() + max(0.0, timeout_s)
        if not due or min(due) > until:
            self.clock.advance_to(until)
            return []
        moment = min(due)
        self.clock.advance_to(moment)
        events: list[Event] = []
        for trial in [t for t in self._running.values() if self._due_at(t) <= moment]:
            self._advance(trial, events)
        return events

    def shutdown(self) -> None:
        self._closed = True
        self._running.clear()
        self._ready.clear()

    def __enter__(self) -> SimulatedPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- simulation ---------------------------------------------------------------------------
    def _elapsed(self) -> float:
        return self.clock.monotonic()

    def _now(self) -> float:
        return self.clock.now()

    def _due_at(self, trial: _SimulatedTrial) -> float:
        next_at = math.inf if trial.awaiting else trial.next_at
        return next_at if trial.stop_at is None else min(trial.stop_at, next_at)

    def _epoch_s(self, trial: _SimulatedTrial) -> float:
        seconds = self.seconds_per_epoch
        if callable(seconds):
            return float(seconds(trial.hyperparameters, trial.epoch + 1))
        return float(seconds)

    def _next_item(self, trial: _SimulatedTrial) -> Any:
        try:
            return dict(next(trial.epochs))
        except StopIteration:
            return _DONE
        except Exception as exc:
            return exc

    def _advance(self, trial: _SimulatedTrial, events: list[Event]) -> None:
        """What happens to ``trial`` at its due time: a stop, a failure, a report, its end."""
        if trial.stop_at is not None and (trial.awaiting or trial.stop_at <= trial.next_at):
            self._finish(trial, TrialStatus.STOPPED, None, False, events)
            return
        item = trial.next_item
        if isinstance(item, Exception):
            error, retryable = failure_of(item)
            self._finish(trial, TrialStatus.FAILED, error, retryable, events)
            return
        if item is _DONE:
            self._finish(trial, TrialStatus.COMPLETED, None, False, events)
            return
        trial.epoch += 1
        events.append(Report(trial.number, trial.epoch, item, self._now()))
        trial.next_item = self._next_item(trial)
        if trial.waits:
            trial.awaiting = True  # until proceed() or stop()
        elif trial.next_item is _DONE:  # training returns right after its last report
            self._finish(trial, TrialStatus.COMPLETED, None, False, events)
        else:
            trial.next_at = self._elapsed() + self._epoch_s(trial)

    def _finish(
        self,
        trial: _SimulatedTrial,
        status: TrialStatus,
        error: str | None,
        retryable: bool,
        events: list[Event],
    ) -> None:
        del self._running[trial.number]
        events.append(Finished(trial.number, status, self._now(), error, retryable))
