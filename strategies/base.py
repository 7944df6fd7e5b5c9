"""What a strategy may see of a trial, the two plug-in points (Strategy and EarlyStopper), and
what they answer (Suggestion and StopDecision).

A strategy is a function of (search space, seed, history). It keeps no state that cannot be
rebuilt from the trials, which is what makes resume after a crash, warm start and
reproducibility simple: the coordinator hands over the whole history each time.

Trials are numbered from 1 in the order they were created; the next trial's number is always
``len(history) + 1``. Randomness for trial ``n`` comes from :func:`rng_for` (job seed, n), so a
trial's draw does not depend on how many trials ran in parallel or in which order they finished.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np

from strategies.space import Config, SearchSpace


class TrialStatus(StrEnum):
    """A trial's life cycle. ``Pending`` is ours (created, not yet started); the rest are AMT's."""

    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPED = "Stopped"

    @property
    def is_finished(self) -> bool:
        return self in (TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.STOPPED)


@dataclass(frozen=True, slots=True)
class Trial:
    """An immutable snapshot of one trial, as strategies and stopping rules see it.

    ``value`` and ``curve`` are oriented for minimisation (a Maximize objective is negated), so
    rules never need to know the direction. ``curve`` holds the objective as it was reported,
    one entry per report that carried the objective metric, in order.
    """

    number: int
    config: Config
    status: TrialStatus
    value: float | None = None
    curve: tuple[tuple[int, float], ...] = field(default=())
    bracket: int | None = None


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A strategy's proposal for the next trial: its configuration, and what to record with it.

    ``bracket`` is the Hyperband bracket the trial belongs to (None for strategies without
    brackets); the coordinator stores it with the trial and hands it back in
    :attr:`Trial.bracket`, so nothing else needs to know how a strategy assigns brackets.
    """

    config: Config
    bracket: int | None = None


@dataclass(frozen=True, slots=True)
class StopDecision:
    """A stopping rule's verdict that a running trial should end now.

    ``reason`` is recorded as the trial's stop reason (shown to people, never parsed).
    ``completed`` says the trial has used its whole budget (Hyperband's MaxResource): it is
    recorded as Completed, not Stopped, because nothing was cut short. ``value`` and
    ``threshold`` are what the rule compared (the trial's value and the median or cutoff it
    was worse than), oriented for minimisation like every value a rule sees: the coordinator,
    which knows the objective's direction, adds them to the recorded reason.
    """

    reason: str
    completed: bool = False
    value: float | None = None
    threshold: float | None = None


class Strategy(Protocol):
    """Chooses the next configuration from the history.

    Called by the coordinator whenever a slot is free. ``history`` holds every trial of the job,
    pending and running ones included, ordered by number; the suggestion is for trial number
    ``len(history) + 1``. Returns ``None`` when there is nothing left to try (a finished grid).
    Must be deterministic for a given seed and history.
    """

    def ask(self, history: Sequence[Trial]) -> Suggestion | None: ...


class EarlyStopper(Protocol):
    """Decides, after each report of a running trial, whether to stop it.

    ``trial`` is the running trial with its curve so far; ``history`` holds every trial of the job
    (the same snapshot the strategy sees). Returns None to let it run on. Must be a pure
    function of its arguments, so the decision can be replayed after a resume.
    """

    def should_stop(self, trial: Trial, history: Sequence[Trial]) -> StopDecision | None: ...


def rng_for(seed: int, number: int) -> np.random.Generator:
    """The random generator for trial ``number`` of a job seeded with ``seed``."""
    return np.random.default_rng([int(seed), int(number)])


#: Draws tried before a sampler gives up looking for a configuration no pending trial has.
MAX_DRAWS = 100


def pending_configs(history: Sequence[Trial]) -> list[Config]:
    """Configurations of the trials still running or waiting to run."""
    return [t.config for t in history if not t.status.is_finished]


def sample_distinct(
    space: SearchSpace, rng: np.random.Generator, avoid: Sequence[Config]
) -> Config:
    """A random configuration that no trial in ``avoid`` (the pending ones) already has.

    In a continuous space the first draw is all but certain to be new; in a small discrete one
    two parallel trials would otherwise often run the same configuration. The first of up to
    :data:`MAX_DRAWS` draws that is new is taken, so the result stays a pure function of the
    generator and ``avoid``; if every draw is taken (the space is smaller than the number of
    pending trials) the first draw is returned.
    """
    first = space.sample(rng)
    taken = [dict(c) for c in avoid]
    config = first
    for _ in range(MAX_DRAWS):
        if dict(config) not in taken:
            return config
        config = space.sample(rng)
    return first
