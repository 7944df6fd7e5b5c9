"""How each hyperparameter relates to the objective, and which ones matter: the statistics.

Pure functions on arrays (no storage, no DataFrame), so they are tested on hand-built samples;
:class:`~tuner.reports.analytics.TuningJobAnalytics` feeds them the trials of a snapshot, and the
reports read the thresholds below to word their findings.

Statistics. Only comparable training jobs count: :mod:`tuner.reports.comparable` picks them (by
default those that ran their full budget, so a job stopped early after one round does not
count as if it were a final objective), and every result says how many (``n_trials``).

* :meth:`~TuningJobAnalytics.correlations`, numeric hyperparameters: Spearman's rank
  correlation ``rho`` between the value on the parameter's own scale (``log10 x`` for
  Logarithmic, Auto resolved as the search does; ``-log10(1 - x)`` for ReverseLogarithmic) and
  the objective as reported, with scipy's p-value and a seeded bootstrap 95% interval
  (:data:`N_BOOTSTRAP` resamples, fewer but at least :data:`MIN_BOOTSTRAP` where resamples
  times trials would pass :data:`BOOTSTRAP_BUDGET`, stated as ``BootstrapResamples``; each
  resample is ranked through the counts of its points, in linear time). A rank
  correlation does not change under these monotone transforms; the scale matters for the
  importance model and the charts, and is stated so the reader knows which axis is meant.
* Shape, numeric hyperparameters: a rank correlation only sees monotone trends, so each one is
  also cut into quantile bins on its own scale (``min(MAX_BINS, n // TRIALS_PER_BIN)``, at
  least 3; tied values share a bin) and the Kruskal-Wallis test of the objective across bins
  gives a binned eta squared, ``(H - k + 1) / (n - k)``: the share of the objective's rank
  variance the bins explain, a non-monotone measure on the same rank scale as ``rho^2``. The
  shape is *nonmonotone* when that binned eta squared is at least :data:`NONMONOTONE_ETA_SQUARED`
  with ``p < 0.05`` and exceeds ``rho^2`` by at least :data:`NONMONOTONE_MARGIN` (a monotone
  trend gives about ``rho^2`` or less), unless ``rho`` is moderate or strong and the best bin is
  the end that ``rho`` favours; the reading is then "best near X", X the median (on the
  parameter's scale) of the best bin (lowest mean rank of the oriented objective), to 2
  significant digits. Otherwise the shape is *monotone* (a moderate or strong ``rho``) or
  *flat* (no effect either way). A nonmonotone effect's strength follows its binned eta
  squared (the categorical thresholds) and its ``better`` is None: never "higher is better".
* Categorical hyperparameters: eta squared (between-value sum of squares over total sum of
  squares, from a one-way analysis of variance), the F-test's p-value, and the mean objective
  and number of trials per value.
* Strength (documented thresholds, see the constants below): *strong* when ``|rho| >= 0.5`` or
  ``eta^2 >= 0.14`` (Cohen's "large") with ``p < 0.05``; *moderate* when ``|rho| >= 0.3`` or
  ``eta^2 >= 0.06`` (Cohen's "medium") with ``p < 0.05``; *weak* otherwise; *constant* when the
  parameter took one value only; *inconclusive* below 8 trials, whatever the numbers say.
* :meth:`~TuningJobAnalytics.importance`: fANOVA (Hutter, Hoos and Leyton-Brown, ICML 2014) as
  implemented by Optuna's ``FanovaImportanceEvaluator`` (32 trees, seeded), fed our trials with
  each numeric parameter on its own scale, so the marginals are integrated over the space the
  search sampled. fANOVA fits a random forest and splits its variance into main effects while
  averaging over the other parameters, so interactions do not inflate a parameter's share.
  Without Optuna it falls back to scikit-learn's permutation importance of a random forest.
  The result names the method used, and reports the forest's out-of-bag R^2: importances are
  only *conclusive* with at least 8 trials and ``R^2 >= 0.2`` (the hyperparameters explain a
  fifth of the objective's variation); shares always sum to 1, even for pure noise. Its
  cost grows faster than the number of trials, so the analytics fit it on a sample of at most
  :data:`tuner.reports.sample.MAX_IMPORTANCE_JOBS` compared training jobs
  (:func:`importance_of` records the :class:`~tuner.reports.sample.Sample` it was given).

Conditional hyperparameters (``ActiveWhen``, :mod:`strategies.conditions`): a trial where a
hyperparameter was inactive has no value for it, so its effect (correlation, shape, eta
squared, means per value) is computed over the trials where it was active only, and its
``n_trials`` counts those; the effect carries its condition (``ActiveWhen``) so a report can say
so. The importance model needs every trial in one table: there an inactive numeric value is
imputed just below the range (a tenth of its width, on its scale), so a tree splits inactive
trials off with one cut while fANOVA's integration domain grows by a tenth only, and an
inactive categorical gets a level of its own, :data:`INACTIVE`. The importance of a conditional
hyperparameter therefore includes whether it was active at all, which its parent decides: read
it together with the parent's.

Everything random (bootstrap, forests) is seeded, so a report is stable for a fixed seed.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from strategies.space import CategoricalParameter
from tuner.errors import MissingDependencyError
from tuner.objective import Objective, ObjectiveType
from tuner.reports.sample import Sample
from tuner.reports.tuned_parameters import TunedParameter

#: Below this many trials with an objective value, no effect or importance is called conclusive.
MIN_TRIALS = 8
#: Significance level for strong and moderate effects.
ALPHA = 0.05
#: |Spearman rho| for a strong / moderate monotone effect.
STRONG_RHO = 0.5
MODERATE_RHO = 0.3
#: eta squared for a strong / moderate categorical effect (Cohen's large / medium).
STRONG_ETA_SQUARED = 0.14
MODERATE_ETA_SQUARED = 0.06
#: Out-of-bag R^2 the importance model needs before its importances are called conclusive.
MIN_MODEL_R2 = 0.2
#: Bootstrap resamples for the interval of rho.
N_BOOTSTRAP = 1000
#: Share of the best trials whose median value :attr:`ParameterEffect.median_of_best` reports.
BEST_FRACTION = 0.2
#: Non-monotone shape: quantile bins at most, and trials per bin (at least 3 bins).
MAX_BINS = 10
TRIALS_PER_BIN = 8
#: Binned (Kruskal-Wallis) eta squared a nonmonotone shape needs, and how far above rho^2.
NONMONOTONE_ETA_SQUARED = 0.14
NONMONOTONE_MARGIN = 0.1
#: Trees in the fANOVA forest: 32 keep a 200-trial report well under a second.
N_FANOVA_TREES = 32
#: The importance model's level for a categorical hyperparameter where it was inactive.
INACTIVE = "(inactive)"
#: An inactive numeric value sits this share of the range's width below it (importance only).
INACTIVE_OFFSET = 0.1


class EffectStrength(StrEnum):
    """How strongly a hyperparameter relates to the objective (thresholds in the module doc)."""

    STRONG = "strong"
    MODERATE = "moderate"
    WEAK = "weak"
    CONSTANT = "constant"
    INCONCLUSIVE = "inconclusive"


class ImportanceMethod(StrEnum):
    """How :meth:`TuningJobAnalytics.importance` scores hyperparameters."""

    AUTO = "auto"  # fANOVA when Optuna is installed, else permutation
    FANOVA = "fanova"
    PERMUTATION = "permutation"


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------
def _finite_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class ParameterEffect:
    """How one hyperparameter relates to the objective.

    ``value`` is Spearman's rho (numeric; against the objective as reported, so for a Maximize
    objective a positive rho means higher is better) or eta squared (categorical). ``better``
    is where the objective improves: ``"lower"``/``"higher"`` for a numeric parameter, the
    value with the best mean for a categorical one (None when undecided). It is filled whatever
    the strength; only strong and moderate effects should be read as findings.

    ``median_of_best`` is the parameter's median among the best 20% of trials (at least 3),
    and ``best_position`` where that median sits among all tried values: 0 below all of
    them, 1 above all, about 0.5 in the middle (an optimum inside the range, which a rank
    correlation cannot see).
    """

    parameter: str
    kind: str
    scale: str | None
    n_trials: int
    statistic: str  # "spearman_rho" | "eta_squared"
    value: float | None
    p_value: float | None
    strength: EffectStrength
    better: str | None = None
    ci95: tuple[float, float] | None = None
    median_of_best: float | None = None
    best_position: float | None = None
    mean_by_value: Mapping[str, float] = field(default_factory=dict)
    count_by_value: Mapping[str, int] = field(default_factory=dict)
    shape: str | None = None  # numeric: "monotone" | "nonmonotone" | "flat"
    binned_eta_squared: float | None = None
    binned_p_value: float | None = None
    n_bins: int | None = None
    best_near: float | None = None  # the best bin's median, to 2 significant digits
    bootstrap_resamples: int | None = None  # of ci95 (fewer for very many trials)
    #: The conditions under which it was tuned (``[{"Name", "Values"}]``); n_trials counts
    #: the trials where they held. Empty for a hyperparameter that is always tuned.
    active_when: tuple[Mapping[str, Any], ...] = ()

    @property
    def size(self) -> float:
        """Comparable effect size in [0, 1]: |rho|, or eta (the square root of eta squared);
        for a nonmonotone shape the binned eta, so a U-shaped effect sorts by its strength."""
        if self.shape == "nonmonotone" and self.binned_eta_squared is not None:
            return math.sqrt(max(0.0, self.binned_eta_squared))
        if self.value is None:
            return 0.0
        return abs(self.value) if self.statistic == "spearman_rho" else math.sqrt(self.value)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form (the report's keys)."""
        return {
            "Parameter": self.parameter,
            "Type": self.kind,
            "Scale": self.scale,
            "NTrials": self.n_trials,
            "Statistic": self.statistic,
            "Value": _finite_or_none(self.value),
            "PValue": _finite_or_none(self.p_value),
            "CI95": list(self.ci95) if self.ci95 is not None else None,
            "BootstrapResamples": self.bootstrap_resamples,
            "Strength": self.strength.value,
            "Better": self.better,
            "MedianOfBest": _finite_or_none(self.median_of_best),
            "BestPosition": _finite_or_none(self.best_position),
            "MeanObjectiveByValue": {k: _finite_or_none(v) for k, v in self.mean_by_value.items()},
            "TrialsByValue": dict(self.count_by_value),
            "Shape": self.shape,
            "BinnedEtaSquared": _finite_or_none(self.binned_eta_squared),
            "BinnedPValue": _finite_or_none(self.binned_p_value),
            "Bins": self.n_bins,
            "BestNear": _finite_or_none(self.best_near),
            "ActiveWhen": [dict(c) for c in self.active_when] or None,
        }


@dataclass(frozen=True, slots=True)
class ParameterImportance:
    """Model-based importance of each hyperparameter; ``scores`` sum to 1 (or are all 0)."""

    method: ImportanceMethod
    description: str
    n_trials: int
    seed: int
    scores: Mapping[str, float]
    model_r2: float | None
    conclusive: bool
    note: str | None = None
    #: The training jobs the model was fitted on, when a caller drew a sample of them.
    sample: Sample | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "Method": self.method.value,
            "Description": self.description,
            "NTrials": self.n_trials,
            "Seed": self.seed,
            "Scores": {k: _finite_or_none(v) for k, v in self.scores.items()},
            "ModelR2": _finite_or_none(self.model_r2),
            "Conclusive": self.conclusive,
            "Note": self.note,
            "Sample": self.sample.to_dict() if self.sample is not None else None,
        }


# ----------------------------------------------------------------------------------------------
# Pure statistics (no storage): tested on hand-built arrays
# ----------------------------------------------------------------------------------------------
def _active_when(parameter: TunedParameter) -> tuple[Mapping[str, Any], ...]:
    return tuple(c.as_request() for c in parameter.range.active_when)


def _rng_for(seed: int, name: str) -> np.random.Generator:
    # One stream per parameter, so a result does not depend on the other parameters' order.
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


#: Bootstrap work per parameter at most (resamples times training jobs): above it, fewer
#: resamples (at least :data:`MIN_BOOTSTRAP`) keep a report of 100,000 jobs quick; the
#: result says how many (``BootstrapResamples``).
BOOTSTRAP_BUDGET = 2_000_000
MIN_BOOTSTRAP = 200
#: Elements of one block of resamples (memory: a few arrays of this many floats).
_BOOTSTRAP_BLOCK = 1 << 21


def bootstrap_resamples(n: int, n_bootstrap: int = N_BOOTSTRAP) -> int:
    """Resamples of rho's interval for ``n`` trials: ``n_bootstrap`` within the budget."""
    if n * n_bootstrap <= BOOTSTRAP_BUDGET:
        return n_bootstrap
    return min(n_bootstrap, max(MIN_BOOTSTRAP, BOOTSTRAP_BUDGET // max(n, 1)))


def _resample_ranks(codes: np.ndarray, k: int, counts: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties averaged) of each point within each resample.

    ``codes`` number the distinct values in sorted order (``k`` of them); ``counts[r, i]`` is
    how often point ``i`` was drawn in resample ``r``. Equal to ``rankdata(x[idx])`` mapped
    back to the points, without sorting each resample.
    """
    b = counts.shape[0]
    offsets = (np.arange(b) * k)[:, None]
    group = np.bincount(
        (codes[None, :] + offsets).ravel(), weights=counts.ravel(), minlength=b * k
    ).reshape(b, k)
    average = np.cumsum(group, axis=1) - (group - 1) / 2
    ranks: np.ndarray = average[:, codes]
    return ranks


def _bootstrap_rho(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, n_bootstrap: int
) -> tuple[float, float] | None:
    """Percentile 95% interval of Spearman's rho over ``n_bootstrap`` resamples.

    Each resample is drawn as ``rng.integers(0, n, size=(n_bootstrap, n))`` would (in blocks,
    the same stream) and ranked through the counts of each point, so it costs linear time
    and bounded memory; the numbers equal ranking every resample with ``rankdata``.
    """
    n = len(x)
    _, x_codes = np.unique(x, return_inverse=True)
    _, y_codes = np.unique(y, return_inverse=True)
    x_codes, y_codes = x_codes.ravel(), y_codes.ravel()
    kx, ky = int(x_codes.max()) + 1, int(y_codes.max()) + 1
    mean = (n + 1) / 2  # the mean of n average ranks, ties or not
    rho = np.empty(n_bootstrap)
    rows = max(1, _BOOTSTRAP_BLOCK // n)
    for start in range(0, n_bootstrap, rows):
        b = min(rows, n_bootstrap - start)
        idx = rng.integers(0, n, size=(b, n))
        idx += (np.arange(b) * n)[:, None]
        counts = np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(float)
        dx = _resample_ranks(x_codes, kx, counts) - mean
        dy = _resample_ranks(y_codes, ky, counts) - mean
        sxy = np.einsum("ij,ij,ij->i", counts, dx, dy)
        sxx = np.einsum("ij,ij,ij->i", counts, dx, dx)
        syy = np.einsum("ij,ij,ij->i", counts, dy, dy)
        denom = np.sqrt(sxx * syy)
        with np.errstate(divide="ignore", invalid="ignore"):
            rho[start : start + b] = np.where(denom > 0, sxy / denom, np.nan)
    rho = rho[np.isfinite(rho)]
    if len(rho) < n_bootstrap // 2:
        return None
    low, high = np.percentile(rho, [2.5, 97.5])
    return float(low), float(high)


def _median_of_best(
    parameter: TunedParameter, x_scaled: np.ndarray, oriented: np.ndarray
) -> tuple[float | None, float | None]:
    """(median of the best trials' values, its position among all values in [0, 1])."""
    k = max(3, int(math.ceil(BEST_FRACTION * len(x_scaled))))
    if len(x_scaled) < k:
        return None, None
    best = np.argsort(oriented, kind="stable")[:k]
    median = float(np.median(x_scaled[best]))
    position = float(np.mean(x_scaled < median) + 0.5 * np.mean(x_scaled == median))
    return float(parameter.from_scale(np.array([median]))[0]), position


def _numeric_strength(n: int, rho: float | None, p: float | None) -> EffectStrength:
    if n < MIN_TRIALS:
        return EffectStrength.INCONCLUSIVE
    if rho is None or p is None:
        return EffectStrength.WEAK
    if p < ALPHA and abs(rho) >= STRONG_RHO:
        return EffectStrength.STRONG
    if p < ALPHA and abs(rho) >= MODERATE_RHO:
        return EffectStrength.MODERATE
    return EffectStrength.WEAK


def numeric_effect(
    parameter: TunedParameter,
    values: np.ndarray,
    objective_values: np.ndarray,
    objective: Objective,
    *,
    seed: int = 0,
    n_bootstrap: int = N_BOOTSTRAP,
) -> ParameterEffect:
    """Spearman's rho of a numeric hyperparameter (raw values) with the objective."""
    from scipy.stats import spearmanr

    x = parameter.to_scale(values)
    y = np.asarray(objective_values, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = len(x)
    effect = ParameterEffect(
        parameter.name,
        parameter.kind,
        parameter.scale.value if parameter.scale else None,
        n,
        "spearman_rho",
        value=None,
        p_value=None,
        strength=EffectStrength.INCONCLUSIVE,
        active_when=_active_when(parameter),
    )
    if n > 0 and np.ptp(x) == 0:
        if n < MIN_TRIALS:
            return effect
        return dataclasses.replace(effect, strength=EffectStrength.CONSTANT)
    rho: float | None = None
    p: float | None = None
    ci: tuple[float, float] | None = None
    resamples: int | None = None
    if n >= 3 and np.ptp(y) > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = spearmanr(x, y)
        rho = _finite_or_none(result.statistic)
        p = _finite_or_none(result.pvalue)
        if rho is not None:
            resamples = bootstrap_resamples(n, n_bootstrap)
            ci = _bootstrap_rho(x, y, _rng_for(seed, parameter.name), resamples)
    oriented = -y if objective.type is ObjectiveType.MAXIMIZE else y
    better = None
    if rho is not None and rho != 0:
        # A positive rho with a loss (or a negative one with a score) means lower is better.
        better = "lower" if objective.orient(rho) > 0 else "higher"
    median, position = _median_of_best(parameter, x, oriented)
    strength = _numeric_strength(n, rho, p)
    bins = binned_shape(x, oriented) if n >= MIN_TRIALS else None
    shape_fields: dict[str, Any] = {}
    if bins is not None:
        eta2, bins_p, n_bins, best_bin, best_median = bins
        shape = _shape(strength, rho, better, eta2, bins_p, best_bin, n_bins)
        shape_fields = {
            "shape": shape,
            "binned_eta_squared": eta2,
            "binned_p_value": bins_p,
            "n_bins": n_bins,
            "best_near": round_significant(
                float(parameter.from_scale(np.array([best_median]))[0]),
                integer=parameter.kind == "Integer",
            ),
        }
        if shape == "nonmonotone":
            strength = _eta_strength(eta2, bins_p)
            better = None
    return dataclasses.replace(
        effect,
        value=rho,
        p_value=p,
        strength=strength,
        better=better,
        ci95=ci,
        bootstrap_resamples=resamples if ci is not None else None,
        median_of_best=median,
        best_position=position,
        **shape_fields,
    )


def round_significant(value: float, digits: int = 2, *, integer: bool = False) -> float:
    """``value`` to ``digits`` significant digits (an integer parameter stays an integer)."""
    if value == 0 or not math.isfinite(value):
        return value
    rounded = round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))
    return float(round(rounded)) if integer else float(rounded)


def quantile_bins(x: np.ndarray) -> np.ndarray:
    """Bin index of each value: equal-count bins by rank, tied values in the same bin."""
    from scipy.stats import rankdata

    n = len(x)
    k = min(MAX_BINS, max(3, n // TRIALS_PER_BIN))
    ranks = np.asarray(rankdata(x, method="average"), dtype=float)
    codes: np.ndarray = np.minimum(((ranks - 1) * k / n).astype(int), k - 1)
    return codes


def binned_shape(
    x_scaled: np.ndarray, oriented: np.ndarray
) -> tuple[float, float, int, int, float] | None:
    """(binned eta squared, Kruskal-Wallis p, bins, best bin's position, its median x).

    The best bin's position is 0 for the lowest bin up to ``bins - 1``; None when fewer than
    3 bins hold values or the objective did not vary.
    """
    from scipy.stats import kruskal, rankdata

    codes = quantile_bins(x_scaled)
    used = np.unique(codes)
    k, n = len(used), len(x_scaled)
    if k < 3 or n <= k or np.ptp(oriented) == 0:
        return None
    groups = [oriented[codes == c] for c in used]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = kruskal(*groups)
    h, p = _finite_or_none(result.statistic), _finite_or_none(result.pvalue)
    if h is None or p is None:
        return None
    eta2 = float(min(1.0, max(0.0, (h - k + 1) / (n - k))))
    ranks = rankdata(oriented)
    mean_rank = [float(ranks[codes == c].mean()) for c in used]
    best = int(np.argmin(mean_rank))
    return eta2, p, k, best, float(np.median(x_scaled[codes == used[best]]))


def _shape(
    strength: EffectStrength,
    rho: float | None,
    better: str | None,
    eta2: float,
    p: float,
    best_bin: int,
    n_bins: int,
) -> str:
    """monotone, nonmonotone or flat (the rule in the module doc)."""
    monotone = strength in (EffectStrength.STRONG, EffectStrength.MODERATE)
    rho2 = (rho or 0.0) ** 2
    if p < ALPHA and eta2 >= NONMONOTONE_ETA_SQUARED and eta2 >= rho2 + NONMONOTONE_MARGIN:
        favoured_end = n_bins - 1 if better == "higher" else 0
        if not (monotone and best_bin == favoured_end):
            return "nonmonotone"
    return "monotone" if monotone else "flat"


def _eta_strength(eta2: float | None, p: float | None) -> EffectStrength:
    if eta2 is None or p is None or p >= ALPHA:
        return EffectStrength.WEAK
    if eta2 >= STRONG_ETA_SQUARED:
        return EffectStrength.STRONG
    if eta2 >= MODERATE_ETA_SQUARED:
        return EffectStrength.MODERATE
    return EffectStrength.WEAK


def categorical_effect(
    parameter: TunedParameter,
    values: Sequence[str | None],
    objective_values: np.ndarray,
    objective: Objective,
) -> ParameterEffect:
    """Eta squared of a categorical hyperparameter, with the mean objective per value."""
    from scipy.stats import f_oneway

    y_all = np.asarray(objective_values, dtype=float)
    groups: dict[str, list[float]] = {}
    for v, y in zip(values, y_all, strict=True):
        if v is not None and math.isfinite(y):
            groups.setdefault(str(v), []).append(float(y))
    order = [v for v in getattr(parameter.range, "values", []) if v in groups]
    order += sorted(v for v in groups if v not in order)
    groups = {v: groups[v] for v in order}
    n = sum(len(g) for g in groups.values())
    means = {v: float(np.mean(g)) for v, g in groups.items()}
    count = {v: len(g) for v, g in groups.items()}
    effect = ParameterEffect(
        parameter.name,
        parameter.kind,
        None,
        n,
        "eta_squared",
        value=None,
        p_value=None,
        strength=EffectStrength.INCONCLUSIVE,
        mean_by_value=means,
        count_by_value=count,
        active_when=_active_when(parameter),
    )
    if len(groups) < 2:
        if n < MIN_TRIALS:
            return effect
        return dataclasses.replace(effect, strength=EffectStrength.CONSTANT)
    y = np.concatenate([np.asarray(g) for g in groups.values()])
    total = float(((y - y.mean()) ** 2).sum())
    eta2: float | None = None
    p: float | None = None
    if total > 0:
        between = sum(len(g) * (np.mean(g) - y.mean()) ** 2 for g in groups.values())
        eta2 = float(min(1.0, between / total))
        if n > len(groups):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p = _finite_or_none(f_oneway(*groups.values()).pvalue)
            if p is None and eta2 >= 1.0 - 1e-12:
                p = 0.0  # no spread within values at all: the values explain everything
    # The best value among those tried at least twice (a single lucky trial proves little).
    eligible = [v for v in groups if count[v] >= 2] or list(groups)
    better = min(eligible, key=lambda v: objective.orient(means[v])) if eta2 else None
    if n < MIN_TRIALS:
        strength = EffectStrength.INCONCLUSIVE
    elif eta2 is None or p is None or p >= ALPHA:
        strength = EffectStrength.WEAK
    elif eta2 >= STRONG_ETA_SQUARED:
        strength = EffectStrength.STRONG
    elif eta2 >= MODERATE_ETA_SQUARED:
        strength = EffectStrength.MODERATE
    else:
        strength = EffectStrength.WEAK
    return dataclasses.replace(effect, value=eta2, p_value=p, strength=strength, better=better)


def _design_matrix(
    parameters: Sequence[TunedParameter], columns: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, list[list[str]]]:
    """Numeric columns on their scale, categoricals as codes; plus each categorical's labels.

    A conditional hyperparameter's missing values (inactive) are imputed (module docstring);
    any other missing value stays NaN, and its row is left out.
    """
    matrix, labels = [], []
    for p in parameters:
        col = columns[p.name]
        conditional = bool(p.range.active_when)
        if p.is_categorical:
            values = [v for v in getattr(p.range, "values", [])]
            values += sorted({str(v) for v in col if v is not None} - set(values))
            if conditional and any(v is None for v in col):
                col = np.array([INACTIVE if v is None else v for v in col], dtype=object)
                values += [INACTIVE]
            index = {v: i for i, v in enumerate(values)}
            codes = [float(index[str(v)]) if v is not None else np.nan for v in col]
            matrix.append(np.array(codes))
            labels.append(values)
        else:
            x = p.to_scale(np.asarray(col, dtype=float))
            if conditional and not isinstance(p.range, CategoricalParameter):
                lo, hi = p.to_scale(np.array([p.range.min_value, p.range.max_value], float))
                x = np.where(np.isnan(x), lo - INACTIVE_OFFSET * (hi - lo), x)
            matrix.append(x)
            labels.append([])
    return np.column_stack(matrix), labels


def _oob_r2(x: np.ndarray, y: np.ndarray, seed: int) -> float | None:
    from sklearn.ensemble import RandomForestRegressor

    if len(y) < MIN_TRIALS:
        return None
    forest = RandomForestRegressor(n_estimators=64, oob_score=True, random_state=seed, n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "some inputs do not have OOB scores" on tiny samples
        forest.fit(x, y)
    return _finite_or_none(forest.oob_score_)


def _fanova_scores(
    parameters: Sequence[TunedParameter],
    x: np.ndarray,
    labels: Sequence[Sequence[str]],
    y: np.ndarray,
    seed: int,
) -> dict[str, float]:
    import optuna
    from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
    from optuna.importance import FanovaImportanceEvaluator

    distributions: dict[str, BaseDistribution] = {}
    for j, p in enumerate(parameters):
        if isinstance(p.range, CategoricalParameter):
            distributions[p.name] = CategoricalDistribution(list(labels[j]))
            continue
        # fANOVA integrates the marginals over the distribution's bounds: give it the searched
        # interval on the parameter's own scale, widened to any value observed outside it.
        ends = p.to_scale(np.array([p.range.min_value, p.range.max_value], dtype=float))
        lo = float(np.nanmin([*ends, x[:, j].min()]))
        hi = float(np.nanmax([*ends, x[:, j].max()]))
        distributions[p.name] = FloatDistribution(lo, hi if hi > lo else lo + 1.0)
    trials = [
        optuna.trial.create_trial(
            params={
                p.name: labels[j][int(row[j])] if p.is_categorical else float(row[j])
                for j, p in enumerate(parameters)
            },
            distributions=distributions,
            value=float(value),
        )
        for row, value in zip(x, y, strict=True)
    ]
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" line
    try:
        study = optuna.create_study()
        study.add_trials(trials)
        evaluator = FanovaImportanceEvaluator(n_trees=N_FANOVA_TREES, seed=seed)
        raw = evaluator.evaluate(study)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return {p.name: float(raw.get(p.name, 0.0)) for p in parameters}


def _permutation_scores(
    parameters: Sequence[TunedParameter], x: np.ndarray, y: np.ndarray, seed: int
) -> dict[str, float]:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    forest = RandomForestRegressor(n_estimators=64, random_state=seed, n_jobs=1).fit(x, y)
    result = permutation_importance(forest, x, y, n_repeats=10, random_state=seed, n_jobs=1)
    return {
        p.name: max(0.0, float(s))
        for p, s in zip(parameters, result.importances_mean, strict=True)
    }


def _has_optuna() -> bool:
    try:
        import optuna.importance  # noqa: F401
    except ImportError:
        return False
    return True


def _resolve_method(method: ImportanceMethod | str) -> tuple[ImportanceMethod, str]:
    """The method to use and its description (which says when fANOVA was not available)."""
    asked = ImportanceMethod(method)
    if asked is not ImportanceMethod.PERMUTATION and _has_optuna():
        return ImportanceMethod.FANOVA, (
            "fANOVA (Hutter et al. 2014): Optuna's FanovaImportanceEvaluator, a random forest "
            f"of {N_FANOVA_TREES} trees, each parameter on its own scale"
        )
    if asked is ImportanceMethod.FANOVA:
        msg = "fANOVA importance needs Optuna: pip install optuna (or use method='permutation')"
        raise MissingDependencyError(msg)
    description = (
        "permutation importance of a scikit-learn random forest (64 trees, 10 repeats), "
        "each parameter on its own scale"
    )
    if asked is ImportanceMethod.AUTO:
        description += " (Optuna is not installed, so no fANOVA)"
    return ImportanceMethod.PERMUTATION, description


def importance_of(
    parameters: Sequence[TunedParameter],
    columns: Mapping[str, np.ndarray],
    objective_values: np.ndarray,
    *,
    seed: int = 0,
    method: ImportanceMethod | str = ImportanceMethod.AUTO,
    sample: Sample | None = None,
) -> ParameterImportance:
    """Importance of each parameter; ``columns`` hold raw values (strings for categoricals).

    ``sample``: what the rows are a sample of, when the caller drew one
    (:func:`tuner.reports.sample.importance_sample`); it is kept in the result, not applied.
    """
    resolved, description = _resolve_method(method)
    y = np.asarray(objective_values, dtype=float)
    zeros = {p.name: 0.0 for p in parameters}
    if not parameters:
        return ParameterImportance(
            resolved, description, 0, seed, {}, None, False, "nothing tuned", sample
        )
    x, labels = _design_matrix(parameters, columns)
    keep = np.isfinite(y) & np.isfinite(x).all(axis=1)
    x, y = x[keep], y[keep]
    n = len(y)

    def result(
        scores: Mapping[str, float], r2: float | None, note: str | None
    ) -> ParameterImportance:
        ranked = dict(sorted(scores.items(), key=lambda kv: -kv[1]))
        conclusive = n >= MIN_TRIALS and r2 is not None and r2 >= MIN_MODEL_R2
        return ParameterImportance(
            resolved, description, n, seed, ranked, r2, conclusive, note, sample
        )

    if n < 2 or np.ptp(y) == 0:
        reason = "the objective did not vary" if n >= 2 else "fewer than 2 trials"
        return result(zeros, None, f"no importance: {reason}")
    if resolved is ImportanceMethod.FANOVA:
        raw = _fanova_scores(parameters, x, labels, y, seed)
    else:
        raw = _permutation_scores(parameters, x, y, seed)
    total = sum(raw.values())
    scores = {k: v / total for k, v in raw.items()} if total > 0 else zeros
    r2 = _oob_r2(x, y, seed)
    note = None
    if n < MIN_TRIALS:
        note = f"too few trials to conclude ({n} with an objective value, {MIN_TRIALS} needed)"
    elif r2 is None or r2 < MIN_MODEL_R2:
        shown = "n/a" if r2 is None else f"{r2:.2f}"
        note = (
            f"the hyperparameters explain little of the objective (out-of-bag R^2 {shown} < "
            f"{MIN_MODEL_R2}): the importances may be noise"
        )
    return result(scores, r2, note)
