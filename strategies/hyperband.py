"""Hyperband with asynchronous successive halving (ASHA, stopping variant), as AMT runs it.

References: Li et al., "Hyperband: A Novel Bandit-Based Approach to Hyperparameter
Optimization", JMLR 2018; Li et al., "A System for Massively Parallel Hyperparameter Tuning"
(ASHA), MLSys 2020. AMT documents that its Hyperband uses ASHA, samples new configurations at
random, never stops a job before ``MinResource`` and always stops it at ``MaxResource``; the
rest (reduction factor, rungs, brackets) is ours, fixed here:

* **Resource**: one unit is one reported objective value (AMT: "all metrics that correspond to
  an objective metric are used"), so a trial at resource ``t`` has reported ``t`` values.
* **Reduction factor** ``eta`` = 3 unless configured.
* **Brackets** ``s = 0 .. s_max`` with ``s_max = floor(log_eta(MaxResource / MinResource))``.
  Bracket ``s`` has rungs at ``MinResource * eta**(s_max - s + k)`` for ``k = 0, 1, ...`` below
  ``MaxResource``: bracket ``s_max`` is the most aggressive (first rung at MinResource), bracket
  0 the most patient (no rung: its trials run to MaxResource), as in Hyperband's notation.
  Each trial's bracket is drawn (seeded by the job seed and trial number)
  with Hyperband's proportions: bracket ``s`` runs ``ceil((s_max + 1) / (s + 1) * eta**s)``
  configurations per Hyperband round, i.e. more short trials in the aggressive brackets.
* **Rung decision** (ASHA stopping rule, as Ray Tune's ASHAScheduler applies it): when a trial
  reaches a rung of its bracket, it continues only if its value is among the best ``1/eta``
  of the values recorded at that rung by the trials of its bracket (itself included, all
  trials whatever their status): it stops when its loss is above the ``1/eta`` quantile of
  those losses. The first trial at a rung always continues: asynchronous halving promotes
  optimistically rather than wait.
* **MaxResource**: a trial that has reported ``MaxResource`` values is stopped, and the
  decision says it ran its whole budget, so it is recorded as Completed.
* **Brackets travel with trials**: :meth:`HyperbandStrategy.ask` returns the bracket in its
  :class:`~strategies.base.Suggestion`; the rung decision reads it back from
  :attr:`Trial.bracket` (or recomputes it from the number when a trial has none).

Decisions depend only on the trials' curves, so after a resume, or with trials in parallel,
they are the same as they would have been.

Model-based Hyperband (``model_based=True``, BOHB-like, Falkner et al. ICML 2018): instead of
random sampling, new configurations come from a strategy fitted on the trials' values at the
highest rung that has at least ``model_min_points`` results (falling back to lower rungs, then to
random sampling while no rung has enough).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from strategies.base import (
    StopDecision,
    Strategy,
    Suggestion,
    Trial,
    TrialStatus,
    pending_configs,
    rng_for,
    sample_distinct,
)
from strategies.space import Config, SearchSpace

#: Static hyperparameters AMT reads MaxResource from, in the order we look for them.
EPOCH_HYPERPARAMETERS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")


def infer_max_resource(static_hyperparameters: dict[str, str]) -> int | None:
    """MaxResource from the first epochs-like static hyperparameter present, else None."""
    for name in EPOCH_HYPERPARAMETERS:
        if name in static_hyperparameters:
            try:
                value = int(float(static_hyperparameters[name]))
            except ValueError:
                return None
            return value if value >= 1 else None
    return None


@dataclass(frozen=True)
class HyperbandSchedule:
    """Brackets and rungs for (MinResource, MaxResource, eta)."""

    min_resource: int
    max_resource: int
    eta: int = 3

    def __post_init__(self) -> None:
        if self.min_resource < 1:
            msg = f"MinResource must be >= 1, got {self.min_resource}"
            raise ValueError(msg)
        if self.max_resource < self.min_resource:
            msg = f"MaxResource ({self.max_resource}) must be >= MinResource ({self.min_resource})"
            raise ValueError(msg)
        if self.eta < 2:
            msg = f"the reduction factor must be >= 2, got {self.eta}"
            raise ValueError(msg)

    @property
    def s_max(self) -> int:
        ratio = self.max_resource / self.min_resource
        # Round before flooring so that, e.g., log_3(27) = 2.9999999 counts as 3.
        return int(math.floor(round(math.log(ratio, self.eta), 9))) if ratio > 1 else 0

    def rungs(self, bracket: int) -> list[int]:
        """Resource levels at which trials of ``bracket`` are judged (below MaxResource)."""
        levels: list[int] = []
        k = 0
        while True:
            level = self.min_resource * self.eta ** (self.s_max - bracket + k)
            if level >= self.max_resource:
                return levels
            levels.append(level)
            k += 1

    def bracket_weights(self) -> np.ndarray:
        """Hyperband's configurations per bracket, normalised to probabilities."""
        s_max = self.s_max
        counts = np.array(
            [math.ceil((s_max + 1) / (s + 1) * self.eta**s) for s in range(s_max + 1)], dtype=float
        )
        return np.asarray(counts / counts.sum(), dtype=float)


class HyperbandStrategy:
    """ASHA-style Hyperband: a Strategy (bracket and configuration) and an EarlyStopper (rungs)."""

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int,
        min_resource: int,
        max_resource: int,
        reduction_factor: int = 3,
        model_based: bool = False,
        model_factory: Callable[[SearchSpace, int], Strategy] | None = None,
        model_min_points: int | None = None,
    ) -> None:
        self.space = space
        self.seed = seed
        self.schedule = HyperbandSchedule(min_resource, max_resource, reduction_factor)
        self.model_based = model_based
        if model_based and model_factory is None:
            msg = "model_based Hyperband needs a model_factory (e.g. the Bayesian strategy)"
            raise ValueError(msg)
        self.model_factory = model_factory
        self.model_min_points = model_min_points or max(6, len(space.ranges) + 2)
        self._weights = self.schedule.bracket_weights()
        self._brackets: dict[int, int] = {}  # a cache: brackets are a pure function of the number

    # -- brackets ---------------------------------------------------------------------------
    def bracket_of(self, number: int) -> int:
        """The bracket of trial ``number``: a seeded draw with Hyperband's proportions."""
        bracket = self._brackets.get(number)
        if bracket is None:
            rng = np.random.default_rng([int(self.seed), int(number), 7])
            bracket = self._brackets[number] = int(rng.choice(len(self._weights), p=self._weights))
        return bracket

    # -- Strategy ---------------------------------------------------------------------------
    def ask(self, history: Sequence[Trial]) -> Suggestion | None:
        number = len(history) + 1
        config = self._model_config(history) if self.model_based else None
        if config is None:
            rng = rng_for(self.seed, number)
            config = sample_distinct(self.space, rng, pending_configs(history))
        return Suggestion(config, bracket=self.bracket_of(number))

    def _model_config(self, history: Sequence[Trial]) -> Config | None:
        """BOHB: fit the model on the highest rung with enough results, if any."""
        levels = sorted(
            {level for s in range(self.schedule.s_max + 1) for level in self.schedule.rungs(s)}
        )
        levels.append(self.schedule.max_resource)
        for level in reversed(levels):
            observed = [t for t in history if len(t.curve) >= level]
            if len(observed) < self.model_min_points:
                continue
            at_level = {t.number: t.curve[level - 1][1] for t in observed}
            # The model sees every trial: those that reached the level as observations (value
            # at that level), the others as pending, so its suggestions stay diverse.
            synthetic = [
                Trial(
                    t.number,
                    t.config,
                    TrialStatus.COMPLETED if t.number in at_level else TrialStatus.PENDING,
                    value=at_level.get(t.number),
                )
                for t in history
            ]
            assert self.model_factory is not None
            suggestion = self.model_factory(self.space, self.seed).ask(synthetic)
            return None if suggestion is None else suggestion.config
        return None

    # -- EarlyStopper -----------------------------------------------------------------------
    def _bracket(self, trial: Trial) -> int:
        return trial.bracket if trial.bracket is not None else self.bracket_of(trial.number)

    def should_stop(self, trial: Trial, history: Sequence[Trial]) -> StopDecision | None:
        resource = len(trial.curve)
        schedule = self.schedule
        if resource >= schedule.max_resource:
            return StopDecision(f"Hyperband: MaxResource ({schedule.max_resource}) reached", True)
        if resource < schedule.min_resource:
            return None
        bracket = self._bracket(trial)
        if resource not in schedule.rungs(bracket):
            return None
        recorded = [
            t.curve[resource - 1][1]
            for t in history
            if len(t.curve) >= resource
            and t.number != trial.number
            and self._bracket(t) == bracket
        ]
        if not recorded:
            return None
        value = trial.curve[resource - 1][1]
        # Values are losses (lower is better): keep the best 1/eta, i.e. stop above the
        # 1/eta quantile (Ray's ASHA takes the 1 - 1/eta percentile of rewards).
        cutoff = float(np.quantile(np.array([*recorded, value]), 1.0 / schedule.eta))
        if value <= cutoff:
            return None
        return StopDecision(
            f"Hyperband: not in the top 1/{schedule.eta} of its bracket at rung {resource}"
        )
