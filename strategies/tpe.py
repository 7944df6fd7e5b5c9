"""The ``TPE`` strategy: Optuna's Tree-structured Parzen Estimator, rebuilt from our history.

For users who prefer TPE (Bergstra, Bardenet, Bengio & Kégl, *Algorithms for Hyper-Parameter
Optimization*, NeurIPS 2011; multivariate form of Falkner, Klein & Hutter, *BOHB*, ICML 2018, as
implemented by Optuna and described in Watanabe, *Tree-Structured Parzen Estimator:
Understanding Its Algorithm Components and Their Roles for Better Empirical Performance*, 2023),
and as a reference in the benchmark. It delegates to ``optuna.samplers.TPESampler`` through the
ask-and-tell interface: every call builds a fresh in-memory study from the history, asks one
trial and throws the study away, so the strategy stays a pure function of (space, seed, history)
like the others and resumes from the database alone.

Mapping of our history onto Optuna's trials: ``Completed`` and ``Stopped`` trials with a finite
value become ``COMPLETE`` (a stopped trial's value is its last report, as in
:mod:`strategies.bayesian`); ``Failed`` ones (or finished ones without a finite value) become
``FAIL``, which TPE ignores; ``Pending``/``InProgress`` become ``RUNNING`` and, with
``constant_liar=True``, are treated as bad so parallel suggestions spread out. Ranges map to
Optuna's distributions on the same scale (Logarithmic as ``log=True``); ReverseLogarithmic,
which Optuna lacks, is searched as a linear range over ``-log(1 - x)`` and mapped back.

Conditional ranges (``active_when``) use Optuna's define-by-run interface, as a conditional
Optuna objective would: ranges are suggested in dependency order and an inactive one is never
suggested, so it is absent from the trial, and history trials carry only their active ranges.
Optuna's TPE then fits each range's densities only over the trials that have it (the
tree-structured part of TPE, as in hyperopt); with ``multivariate=True`` the sampler runs with
``group=True``, which models jointly each group of ranges that occur together (Optuna's own
answer to a conditional space; without it multivariate TPE falls back to independent sampling).
A plain space keeps the fixed-distribution ``ask`` and so its exact suggestions.

Optuna is an optional dependency (the ``bench``/``test`` extras); it is imported only when the
strategy is built.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from typing import Any

from strategies.base import (
    Suggestion,
    Trial,
    TrialStatus,
    pending_configs,
    rng_for,
    sample_distinct,
)
from strategies.conditions import is_active
from strategies.space import (
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
    ScalingType,
    SearchSpace,
)

_INSTALL_HINT = "the TPE strategy needs Optuna: pip install 'optuna>=3.5'"


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:  # pragma: no cover - exercised only without optuna installed
        raise ImportError(_INSTALL_HINT) from exc
    return optuna


class TPEStrategy:
    """Optuna's multivariate TPE sampler, replayed from the history on every suggestion.

    Args:
        space: The search space.
        seed: Job seed; the sampler for trial ``n`` is seeded from ``rng_for(seed, n)``.
        n_startup_trials: Random trials before TPE takes over (Optuna's default, 10).
        multivariate: Model the ranges jointly (Optuna's ``multivariate=True``).
        constant_liar: Treat pending trials as bad ones, to keep parallel suggestions apart.

    Raises:
        ImportError: When Optuna is not installed.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int,
        n_startup_trials: int = 10,
        multivariate: bool = True,
        constant_liar: bool = True,
    ) -> None:
        self._optuna = _import_optuna()
        self.space = space
        self.seed = seed
        self.n_startup_trials = n_startup_trials
        self.multivariate = multivariate
        self.constant_liar = constant_liar
        self._distributions = {name: self._distribution(r) for name, r in space.ranges.items()}

    def ask(self, history: Sequence[Trial]) -> Suggestion | None:
        optuna = self._optuna
        sampler_seed = int(rng_for(self.seed, len(history) + 1).integers(2**31))
        grouped = self.space.conditional and self.multivariate
        with warnings.catch_warnings():
            # multivariate, group and constant_liar are experimental in some Optuna versions.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(
                seed=sampler_seed,
                n_startup_trials=self.n_startup_trials,
                multivariate=self.multivariate,
                constant_liar=self.constant_liar,
                **({"group": True} if grouped else {}),
            )
        storage = optuna.storages.InMemoryStorage()
        # Creating a study logs one INFO line; one per suggestion would flood the user's log.
        storage_logger = logging.getLogger("optuna.storages._in_memory")
        level = storage_logger.level
        storage_logger.setLevel(logging.WARNING)
        try:
            storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], study_name="tpe")
        finally:
            storage_logger.setLevel(level)
        study = optuna.study.Study(study_name="tpe", storage=storage, sampler=sampler)
        for trial in history:
            frozen = self._frozen(trial)
            if frozen is not None:
                study.add_trial(frozen)
        config = self._asked(study)
        pending = pending_configs(history)
        if config in pending:  # TPE can repeat itself in a small discrete space
            config = dict(
                sample_distinct(self.space, rng_for(self.seed, len(history) + 1), pending)
            )
        return Suggestion(config)

    def _asked(self, study: Any) -> dict[str, Any]:
        """A configuration from the study: all ranges at once, or define-by-run if conditional."""
        if not self.space.conditional:
            asked = study.ask(self._distributions)
            return {name: self._to_ours(name, asked.params[name]) for name in self.space.ranges}
        trial = study.ask()
        config: dict[str, Any] = {}
        for name in self.space.order:  # parents first: a child is asked only when active
            if is_active(self.space.ranges[name].active_when, config):
                config[name] = self._to_ours(name, self._suggest(trial, name))
        return {name: config[name] for name in self.space.ranges if name in config}

    def _suggest(self, trial: Any, name: str) -> Any:
        """``trial.suggest_*`` for range ``name``'s distribution."""
        dist = self._distributions[name]
        d = self._optuna.distributions
        if isinstance(dist, d.CategoricalDistribution):
            return trial.suggest_categorical(name, dist.choices)
        if isinstance(dist, d.IntDistribution):
            return trial.suggest_int(name, dist.low, dist.high, log=dist.log)
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log)

    # -- mapping --------------------------------------------------------------------------------
    def _distribution(self, r: object) -> Any:
        d = self._optuna.distributions
        if isinstance(r, CategoricalParameter):
            return d.CategoricalDistribution(list(r.values))
        if isinstance(r, IntegerParameter):
            log = r.scale is ScalingType.LOGARITHMIC
            return d.IntDistribution(int(r.min_value), int(r.max_value), log=log)
        assert isinstance(r, ContinuousParameter)
        if r.scale is ScalingType.REVERSE_LOGARITHMIC:
            return d.FloatDistribution(-math.log1p(-r.min_value), -math.log1p(-r.max_value))
        log = r.scale is ScalingType.LOGARITHMIC
        return d.FloatDistribution(r.min_value, r.max_value, log=log)

    def _to_optuna(self, name: str, value: object) -> object:
        r = self.space.ranges[name]
        if isinstance(r, CategoricalParameter):
            return r.cast(value)
        v = min(r.max_value, max(r.min_value, r.cast(value)))
        if isinstance(r, IntegerParameter):
            return int(v)
        if r.scale is ScalingType.REVERSE_LOGARITHMIC:
            dist = self._distributions[name]
            return min(dist.high, max(dist.low, -math.log1p(-v)))
        return float(v)

    def _to_ours(self, name: str, value: object) -> Any:
        r = self.space.ranges[name]
        if isinstance(r, ContinuousParameter) and r.scale is ScalingType.REVERSE_LOGARITHMIC:
            v = -math.expm1(-float(value))  # type: ignore[arg-type]
            return min(r.max_value, max(r.min_value, v))
        return r.cast(value)

    def _frozen(self, trial: Trial) -> Any:
        """The Optuna trial for one of ours; None when its configuration is outside the space.

        Only the ranges active in its configuration are given (a conditional space's trials
        lack the others), so each density is fitted on the trials that had its range.
        """
        optuna = self._optuna
        state = optuna.trial.TrialState
        active = self.space.active(trial.config)
        names = [name for name in self.space.ranges if name in active]
        try:
            params = {name: self._to_optuna(name, trial.config[name]) for name in names}
        except (KeyError, TypeError, ValueError):
            return None
        distributions = {name: self._distributions[name] for name in names}
        value = trial.value
        if trial.status in (TrialStatus.PENDING, TrialStatus.IN_PROGRESS):
            kwargs: dict[str, Any] = {"state": state.RUNNING}
        elif (
            value is not None
            and math.isfinite(value)
            and trial.status
            in (
                TrialStatus.COMPLETED,
                TrialStatus.STOPPED,
            )
        ):
            kwargs = {"state": state.COMPLETE, "value": float(value)}
        else:
            kwargs = {"state": state.FAIL}
        try:
            return optuna.trial.create_trial(params=params, distributions=distributions, **kwargs)
        except ValueError:
            return None
