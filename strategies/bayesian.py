"""AMT's ``Bayesian`` strategy: Gaussian-process Bayesian optimisation, rebuilt from the history.

Each suggestion refits a Gaussian process (:mod:`strategies.gp`) to the finished trials and
maximises log expected improvement (:mod:`strategies.acquisition`) over the search space
(:mod:`strategies.encoding`), following Snoek, Larochelle & Adams, *Practical Bayesian
Optimization of Machine Learning Algorithms*, NeurIPS 2012, with the refinements that recent
work found to matter (length-scale priors, log EI, a pessimistic prior mean). The strategy
keeps no state: a suggestion is a pure function of (space, seed, history), so a job resumes
after a crash, and the same seed and history always give the same suggestion.

How the history is used:

* **Initial design.** While the suggestion is for one of the first ``n_initial`` trials
  (default ``min(10, max(5, d + 1))`` for ``d`` ranges, enough points to fit one length scale
  per range without spending a fifth of a typical 50-trial budget on random search), trial ``n``
  takes point ``n - 1`` of a scrambled Sobol sequence seeded by the job seed: space-filling, and
  the same whatever the parallelism. Until two trials have finished the Sobol sequence continues.
* **Observations.** ``Completed`` and ``Stopped`` trials with a finite value. A stopped trial's
  value is its last report, so it is a pessimistic observation of that configuration: fine for a
  model that should steer away from it anyway.
* **Failed trials** (``Failed``, or finished without a finite value) are imputed with the worst
  observed value, so the model learns to avoid the region where training breaks instead of
  sampling it again (the usual treatment, e.g. SMAC's).
* **Output transform.** Values are warped (a long upper tail is squashed, so a few diverged
  trials with a huge loss do not flatten the rest of the surface), standardised, and shifted so
  that the worst observation is zero (see :func:`warp`). The GP's zero prior mean then says
  "unexplored means as bad as the worst seen": the pessimistic mean that De Ath, Fieldsend &
  Everson, *What do you Mean? The Role of the Mean Function in Bayesian Optimisation*, GECCO
  2020, found best beyond a few dimensions. With the mean at the average instead, EI keeps
  sampling the corners of the cube, where the posterior reverts to that average with a large
  variance; on Hartmann6 the pessimistic mean cut the median regret after 50 trials from 5e-3
  to 1e-4 (20 seeds), and it never hurt on the other benchmark problems.
* **Pending trials** (``Pending``/``InProgress``) are handled by the *kriging believer*
  (Ginsbourger, Le Riche & Carraro, *Kriging is well-suited to parallelize optimization*, 2010):
  each is added to the model as if it had returned the model's posterior mean, which collapses
  the uncertainty there, and the incumbent becomes the best of the real and believed values.
  The acquisition then has no reason to pick a point next to a pending one. Kriging believer
  costs one Cholesky factorisation (no refit and no Monte Carlo), which keeps parallel
  suggestions as cheap as sequential ones. A suggestion never repeats a pending or finished
  configuration: the next-best candidate is taken instead.
* **Conditional ranges** (``active_when``): an inactive range is imputed with a fixed value in
  the GP's features (Lévesque et al., IJCNN 2017; the choice and why are in
  :mod:`strategies.encoding`), the acquisition optimiser scores only imputed points, and a
  suggestion is pruned to its active ranges. History configurations without their inactive
  ranges (every stored trial of a conditional space) are read as they are.
* **Cost bound.** The GP sees at most ``max_points`` observations (default 300): all when there
  are fewer, otherwise the best half of that number plus a random subset of the rest. The kernel
  hyperparameters are fitted on at most ``max_fit_points`` of them (default 120, again the best
  half plus a random subset), then the posterior is conditioned on all ``max_points``. Fitting is
  cubic in the number of points and runs a hundred or so times per suggestion, conditioning runs
  once; so suggestion time stops growing beyond a few hundred trials.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import numpy as np

from strategies.acquisition import LogExpectedImprovement, maximise
from strategies.base import Suggestion, Trial, TrialStatus, rng_for
from strategies.encoding import MixedEncoding
from strategies.gp import GaussianProcess, fit_gp
from strategies.space import CategoricalParameter, Config, SearchSpace

#: Statuses of trials that are still to report a value.
_PENDING = (TrialStatus.PENDING, TrialStatus.IN_PROGRESS)
#: Statuses whose value is an observation.
_OBSERVED = (TrialStatus.COMPLETED, TrialStatus.STOPPED)


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """Run the linear algebra on one BLAS thread.

    The matrices here are small (a few hundred rows), where a multi-threaded BLAS only adds
    synchronisation, and on a busy machine makes suggestion times erratic (measured: 0.1 to
    0.6 s at 50 trials on 2 busy cores, against a steady 20 ms on one thread). Optuna's GPSampler
    limits its threads for the same reason.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def default_n_initial(n_ranges: int) -> int:
    """Size of the Sobol initial design for a space of ``n_ranges`` ranges."""
    return min(10, max(5, n_ranges + 1))


def warp(values: np.ndarray) -> np.ndarray:
    """Squash outliers in the upper (bad) tail, standardise, and put the worst value at zero.

    Values above the upper quartile plus 1.5 interquartile ranges (Tukey's fence) are mapped
    logarithmically onto the space just above the fence. Minimisation only cares about the
    good end, which is left untouched, and the order is preserved.
    """
    # Clipped so that the arithmetic below cannot overflow; 1e100 is far beyond any loss.
    y = np.clip(np.asarray(values, dtype=float), -1e100, 1e100)
    if len(y) > 4:
        q1, q3 = np.percentile(y, [25, 75])
        iqr = q3 - q1
        if iqr > 0:
            fence = q3 + 1.5 * iqr
            over = y > fence
            y = np.where(over, fence + iqr * np.log1p(np.maximum(y - fence, 0.0) / iqr), y)
    std = float(y.std())
    return np.asarray((y - y.max()) / (std if std > 0 else 1.0), dtype=float)


class BayesianStrategy:
    """Gaussian-process Bayesian optimisation with log expected improvement.

    Args:
        space: The search space.
        seed: Job seed; the suggestion for trial ``n`` draws from ``rng_for(seed, n)``.
        n_initial: Size of the Sobol initial design (default :func:`default_n_initial`).
        max_points: Most observations the GP is conditioned on.
        max_fit_points: Most observations its hyperparameters are fitted to.
        n_candidates: Sobol candidates scored before the local searches.
        n_starts: Local searches of the acquisition function.

    Raises:
        ValueError: When a count is below its minimum (1, or 2 for the point limits).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int,
        n_initial: int | None = None,
        max_points: int = 300,
        max_fit_points: int = 120,
        n_candidates: int = 1024,
        n_starts: int = 10,
    ) -> None:
        limits = {
            "n_initial": (n_initial, 1),
            "max_points": (max_points, 2),
            "max_fit_points": (max_fit_points, 2),
            "n_candidates": (n_candidates, 1),
            "n_starts": (n_starts, 1),
        }
        for name, (value, least) in limits.items():
            if value is not None and value < least:
                msg = f"BayesianStrategy: {name} must be at least {least}, got {value!r}"
                raise ValueError(msg)
        self.space = space
        self.seed = seed
        self.encoding = MixedEncoding(space)
        self.n_initial = default_n_initial(len(space.ranges)) if n_initial is None else n_initial
        self.max_points = max_points
        self.max_fit_points = min(max_fit_points, max_points)
        self.n_candidates = n_candidates
        self.n_starts = n_starts

    # -- public ---------------------------------------------------------------------------------
    def ask(self, history: Sequence[Trial]) -> Suggestion | None:
        with _single_threaded_blas():
            return Suggestion(self._ask(history))

    # -- suggestions ----------------------------------------------------------------------------
    def _ask(self, history: Sequence[Trial]) -> Config:
        number = len(history) + 1
        rng = rng_for(self.seed, number)
        if self.encoding.dims == 0:
            return {}
        history = [t for t in history if self._fits(t.config)]
        taken = self._keys([t.config for t in history if t.status in _PENDING])
        finished = self._keys([t.config for t in history if t.status not in _PENDING])
        X, y = self._observations(history)
        if number <= self.n_initial or len(y) < 2:
            return self._from_design(number, taken | finished, rng)
        X_pending = self.encoding.encode([t.config for t in history if t.status in _PENDING])
        ranked = self._rank_candidates(X, y, X_pending, rng)
        for x in ranked:
            config = self.encoding.decode(x)
            if self._key(config) not in taken and self._key(config) not in finished:
                return config
        return self._from_design(number, taken, rng)

    # -- history --------------------------------------------------------------------------------
    def _observations(self, history: Sequence[Trial]) -> tuple[np.ndarray, np.ndarray]:
        """Features and values of finished trials, failed ones imputed with the worst value."""
        good: list[Trial] = []
        failed: list[Trial] = []
        for t in history:
            if t.status in _PENDING:
                continue
            ok = t.status in _OBSERVED and t.value is not None and math.isfinite(t.value)
            (good if ok else failed).append(t)
        if not good:
            return np.zeros((0, self.encoding.dims)), np.zeros(0)
        values = [float(t.value) for t in good]  # type: ignore[arg-type]
        worst = max(values)
        trials = good + failed
        y = np.array(values + [worst] * len(failed))
        return self.encoding.encode([t.config for t in trials]), y

    @staticmethod
    def _subset(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        """Indices of at most ``k`` points: the best ``k // 2`` and a random rest."""
        if len(y) <= k:
            return np.arange(len(y))
        order = np.argsort(y, kind="stable")
        best, rest = order[: k // 2], order[k // 2 :]
        return np.concatenate([best, rng.choice(rest, size=k - len(best), replace=False)])

    def _rank_candidates(
        self, X: np.ndarray, y: np.ndarray, X_pending: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        keep = self._subset(y, self.max_points, rng)
        X, y = X[keep], warp(y[keep])
        fit = self._subset(y, self.max_fit_points, rng)
        gp = fit_gp(X[fit], y[fit], self.encoding.is_categorical)
        if len(fit) < len(y):
            gp = GaussianProcess(X, y, self.encoding.is_categorical, gp.params)
        best = float(y.min())
        if len(X_pending):
            believed, _ = gp.predict(X_pending)
            gp = gp.condition(X_pending, believed)
            best = min(best, float(believed.min()))
        incumbents = X[np.argsort(y, kind="stable")[:5]]
        acq = LogExpectedImprovement(gp, best)
        ranked, _ = maximise(
            acq,
            self.encoding,
            rng,
            incumbents,
            n_candidates=self.n_candidates,
            n_starts=self.n_starts,
        )
        return ranked

    def _from_design(
        self, number: int, avoid: set[tuple[float, ...]], rng: np.random.Generator
    ) -> Config:
        """Point ``number - 1`` of the job's Sobol sequence, or the next one not in ``avoid``."""
        design_seed = int(rng_for(self.seed, 0).integers(2**31))
        size = max(2 * number, 2 * self.n_initial, 16)
        points = self.encoding.sobol(size, seed=design_seed)
        for x in points[number - 1 :]:
            config = self.encoding.decode(x)
            if self._key(config) not in avoid:
                return config
        for _ in range(100):
            config = self.space.sample(rng)
            if self._key(config) not in avoid:
                return config
        return self.space.sample(rng)

    def _fits(self, config: Config) -> bool:
        """Whether ``config`` can be encoded: every active range present, categories known.

        Trials that do not fit (a warm start from a job with other ranges) are ignored; numeric
        values outside a range are clipped to it by the encoding. Inactive ranges need no value.
        """
        active = self.space.active(config)
        try:
            return all(
                r.is_valid(config[name])
                if isinstance(r, CategoricalParameter)
                else math.isfinite(float(config[name]))
                for name, r in self.space.ranges.items()
                if name in active
            )
        except (KeyError, TypeError, ValueError):
            return False

    def _keys(self, configs: Sequence[Config]) -> set[tuple[float, ...]]:
        """Comparable keys of configurations: their features, rounded against float noise."""
        if not configs:
            return set()
        return {tuple(row) for row in np.round(self.encoding.encode(configs), 10)}

    def _key(self, config: Config) -> tuple[float, ...]:
        return tuple(np.round(self.encoding.encode([config])[0], 10))
