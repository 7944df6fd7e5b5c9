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
* **Which bracket a trial joins** (``bracket_policy="adaptive"``, the default) is chosen from
  the evidence, so that trials are judged as early as the curves allow and no earlier. A rung
  level is *reliable* when a cut there would have kept the best trials that ran their whole
  budget: of the trials that reached MaxResource without ever being judged at that level or
  below (their bracket's first rung is above it: a trial that survived a cut says nothing about
  the ones it cut), the best one and at least ``1 - 1/eta`` of the best ``1/eta`` must have
  been within the best ``1/eta`` of all the values recorded at that level
  (:func:`rung_is_reliable`, from ``EVIDENCE_MIN`` = 3 such trials). A new trial joins the most
  aggressive bracket whose first rung is reliable, going from bracket ``s_max`` down. Where
  the evidence is not there yet, its bracket is drawn (seeded by the job seed and trial number)
  with Hyperband's proportions (bracket ``s`` runs ``ceil((s_max + 1) / (s + 1) * eta**s)``
  configurations per Hyperband round), leaving out the brackets already found unreliable; and
  ``EXPLORE`` = 10% of trials always draw with those proportions, so that evidence keeps coming
  for every level. This is ours, in the spirit of Hyper-Tune's bracket selection (Li et al.,
  VLDB 2022); it was chosen on ``tests/benchmarks/bench_early_stopping.py``, where Hyperband's
  fixed proportions spent about 0.2-0.3 of full training's epochs on every problem and a single
  aggressive bracket (ASHA's default, ``"asha"``) about 0.06 but lost 2-45% of the final
  quality where early values mislead (the README has the table). ``"hyperband"`` keeps the
  fixed proportions.
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

Brackets and rung decisions depend only on the history (the bracket is stored with the trial
when it is asked for), so a resume replays them, one trial at a time or on the simulated pool a
seed gives the same decisions every time, and with real parallel trials they depend only on the
order in which reports arrive.

Model-based Hyperband (``model_based=True``, BOHB's per-budget rule, Falkner et al. ICML 2018):
instead of random sampling, new configurations come from a strategy (the Bayesian one) fitted on
the trials' values at the highest resource level that has at least ``model_min_points`` results,
so it learns from the lower rungs while few trials reach the top, and moves up as they do
(falling back to random sampling while no level has enough). Every trial is handed to the model:
those that reached the level as observations, the others as pending, so its suggestions stay
apart. The model is rebuilt from the history at every ask: a pure function of it.
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
from strategies.history import ChangeFeed
from strategies.sorted_values import SortedValues
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


#: Bracket policies: "adaptive" (see the module docstring), "hyperband" (Hyperband's
#: proportions for every trial), "asha" (every trial in the most aggressive bracket).
BRACKET_POLICIES = ("adaptive", "hyperband", "asha")
DEFAULT_POLICY = "adaptive"
EXPLORE = 0.1  # share of trials whose bracket is drawn with Hyperband's proportions
EVIDENCE_MIN = 3  # unbiased full-budget trials needed before a rung is judged reliable


def first_rung(schedule: HyperbandSchedule, bracket: int) -> int:
    """The resource at which ``bracket`` first judges its trials (MaxResource for bracket 0)."""
    rungs = schedule.rungs(bracket)
    return rungs[0] if rungs else schedule.max_resource


def rung_is_reliable(
    schedule: HyperbandSchedule, level: int, history: Sequence[Trial]
) -> bool | None:
    """Would a cut at ``level`` have kept the best full-budget trials? None: not known yet.

    Only trials that were never judged at ``level`` or below (their bracket's first rung is
    above it) and ran their whole budget are evidence: a trial that survived a cut there says
    nothing about the ones it cut. The best of them (the top ``1/eta``, at least one) must have
    been within the best ``1/eta`` of every value recorded at ``level``.
    """
    full = schedule.max_resource
    evidence = [
        t
        for t in history
        if len(t.curve) >= full
        and t.bracket is not None
        and first_rung(schedule, t.bracket) > level
    ]
    if len(evidence) < EVIDENCE_MIN:
        return None
    at_level = np.array([t.curve[level - 1][1] for t in history if len(t.curve) >= level])
    cutoff = float(np.quantile(at_level, 1.0 / schedule.eta))
    best = sorted(evidence, key=lambda t: t.curve[full - 1][1])
    top = best[: max(1, len(best) // schedule.eta)]
    kept = [t.curve[level - 1][1] <= cutoff for t in top]
    return kept[0] and sum(kept) >= (1 - 1 / schedule.eta) * len(kept)


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
        bracket_policy: str | None = None,
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
        self.bracket_policy = bracket_policy or DEFAULT_POLICY
        if self.bracket_policy not in BRACKET_POLICIES:
            msg = f"bracket_policy must be one of {', '.join(BRACKET_POLICIES)}"
            raise ValueError(msg)
        self._weights = self.schedule.bracket_weights()
        self._brackets: dict[int, int] = {}  # a cache: brackets are a pure function of the number
        self._forget_rungs()
        self._rung_feed = ChangeFeed(self._forget_rungs, self._record_rungs, self._sort_rungs)

    # -- brackets ---------------------------------------------------------------------------
    def bracket_of(self, number: int) -> int:
        """The bracket of trial ``number``: a seeded draw with Hyperband's proportions."""
        bracket = self._brackets.get(number)
        if bracket is None:
            rng = np.random.default_rng([int(self.seed), int(number), 7])
            bracket = self._brackets[number] = int(rng.choice(len(self._weights), p=self._weights))
        return bracket

    def choose_bracket(self, number: int, history: Sequence[Trial]) -> int:
        """Trial ``number``'s bracket under the policy: a pure function of the history."""
        s_max = self.schedule.s_max
        if self.bracket_policy == "asha":
            return s_max
        drawn = self.bracket_of(number)
        if self.bracket_policy == "hyperband":
            return drawn
        explore = np.random.default_rng([int(self.seed), int(number), 11]).random() < EXPLORE
        if explore:
            return drawn
        for bracket in range(s_max, 0, -1):
            reliable = rung_is_reliable(self.schedule, first_rung(self.schedule, bracket), history)
            if reliable is None:  # not known yet: Hyperband's proportions, but never more
                return self._draw_at_most(number, bracket)  # aggressive than a known bad rung
            if reliable:
                return bracket
        return 0

    def _draw_at_most(self, number: int, bracket: int) -> int:
        if bracket == self.schedule.s_max:
            return self.bracket_of(number)
        weights = self._weights[: bracket + 1] / self._weights[: bracket + 1].sum()
        rng = np.random.default_rng([int(self.seed), int(number), 13])
        return int(rng.choice(bracket + 1, p=weights))

    # -- Strategy ---------------------------------------------------------------------------
    def ask(self, history: Sequence[Trial]) -> Suggestion | None:
        number = len(history) + 1
        config = self._model_config(history) if self.model_based else None
        if config is None:
            rng = rng_for(self.seed, number)
            config = sample_distinct(self.space, rng, pending_configs(history))
        return Suggestion(config, bracket=self.choose_bracket(number, history))

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
        value = trial.curve[resource - 1][1]
        cutoff = self._cutoff(trial.number, bracket, resource, value, history)
        if cutoff is None or value <= cutoff:
            return None
        return StopDecision(
            f"Hyperband: not in the top 1/{schedule.eta} of its bracket at rung {resource}",
            value=value,
            threshold=cutoff,
        )

    def _cutoff(
        self, number: int, bracket: int, resource: int, value: float, history: Sequence[Trial]
    ) -> float | None:
        """The 1/eta quantile of the bracket's values at ``resource``, trial ``number``'s as
        ``value``; None while no other trial of the bracket has reached that rung.

        Values are losses (lower is better): the best 1/eta are kept (Ray's ASHA takes the
        1 - 1/eta percentile of rewards). The rung values come from a cache kept in step with
        the history (:class:`~strategies.history.ChangeFeed`), not from a pass over it.
        """
        if math.isnan(value):
            return -math.inf  # a NaN is worse than anything: stopped at its first rung
        self._rung_feed.sync(history)
        values = self._rungs.get((bracket, resource), SortedValues())
        own = dict(self._recorded.get(number, ())).get((bracket, resource))
        if values.count(without=own) == 0:
            return None
        if own != value:  # the trial is not in the history as given: count it as ``value``
            values = values.copy()
            if own is not None:
                values.remove(own)
            values.add(value)
        return values.quantile(1.0 / self.schedule.eta)

    def _forget_rungs(self) -> None:
        self._rungs: dict[tuple[int, int], SortedValues] = {}
        self._recorded: dict[int, list[tuple[tuple[int, int], float]]] = {}
        self._bulk = True  # a full rebuild follows: collect, then sort once (_sort_rungs)

    def _sort_rungs(self) -> None:
        for values in self._rungs.values():
            values.restore_order()
        self._bulk = False

    def _record_rungs(self, trial: Trial) -> None:
        """Replace trial's values at the rungs of its bracket by those of its new snapshot."""
        for key, value in self._recorded.pop(trial.number, ()):
            self._rungs[key].remove(value)
        bracket = self._bracket(trial)
        recorded = [
            ((bracket, rung), trial.curve[rung - 1][1])
            for rung in self.schedule.rungs(bracket)
            if len(trial.curve) >= rung and not math.isnan(trial.curve[rung - 1][1])
        ]
        for key, value in recorded:
            values = self._rungs.setdefault(key, SortedValues())
            if self._bulk:
                values.add_unsorted(value)
            else:
                values.add(value)
        self._recorded[trial.number] = recorded
