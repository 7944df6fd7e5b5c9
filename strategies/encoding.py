"""The feature space a Gaussian process sees for a mixed search space, and its projection.

A :class:`~strategies.space.SearchSpace` encodes a configuration in the unit cube with one
column per numeric range and a one-hot block per categorical range. For the surrogate we
use a more compact feature vector with one column per range:

* Continuous ranges: the position in [0, 1] on the range's scale (Linear, Logarithmic or
  ReverseLogarithmic; Auto resolved by :attr:`~strategies.space.IntegerParameter.scale`), the
  same number ``SearchSpace.to_unit`` gives.
* Integer ranges: the same, but always at the *centre of an integer's cell* (the space gives
  each integer the cell ``[k - 0.5, k + 0.5]`` on its scale). :meth:`MixedEncoding.project`
  rounds any point to its cell centre, so the kernel only ever sees values the objective can
  actually be evaluated at. This is the "rounding inside the kernel" of Garrido-Merchán &
  Hernández-Lobato, *Dealing with categorical and integer-valued variables in Bayesian
  optimization with Gaussian processes*, Neurocomputing 2020.
* Categorical ranges: the index of the value (0, 1, ...), used by the kernel through a
  Hamming distance (equal or not), which equals a one-hot encoding with one length scale per
  categorical and again never produces a point between two categories.

Why one column per categorical rather than the one-hot block: the kernel gets one length scale
per hyperparameter (fewer hyperparameters to fit from few trials), and the acquisition optimiser
searches a categorical by trying its values rather than by a continuous relaxation.

Conditional ranges (:mod:`strategies.conditions`): an inactive range has no value, but the
kernel needs a number in every column. Its feature is *imputed* with a fixed value, the same
for every configuration in which it is inactive: 0 (the lower end of the unit interval) for a
continuous range, the centre of the lowest integer's cell for an integer range, and an extra
level (index ``k`` for ``k`` values) for a categorical one. This is the imputation of inactive
hyperparameters that Lévesque, Durand, Gagné & Sabourin, *Bayesian Optimization for
Conditional Hyperparameter Spaces*, IJCNN 2017, found to matter for a GP: configurations with
the same inactive pattern are at distance 0 in those columns, so their similarity comes from
the columns they actually use, and none is placed at a random value of a range it never set.
A value at the boundary (rather than outside the cube) keeps every feature inside the box the
length-scale prior and the optimiser assume; the parent's own column (a Hamming distance)
already separates the branches. :meth:`MixedEncoding.project` imputes, so every point the
acquisition optimiser scores is in this form, and :meth:`MixedEncoding.decode` drops inactive
ranges from the configuration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from strategies.space import (
    CategoricalParameter,
    Config,
    IntegerParameter,
    ParamValue,
    ScalingType,
    SearchSpace,
)

#: Integer ranges with at most this many values are searched exhaustively by the optimiser.
MAX_EXHAUSTIVE_CHOICES = 16


def _forward(scale: ScalingType, v: np.ndarray) -> np.ndarray:
    if scale is ScalingType.LOGARITHMIC:
        return np.asarray(np.log(v), dtype=float)
    if scale is ScalingType.REVERSE_LOGARITHMIC:
        return np.asarray(-np.log1p(-v), dtype=float)
    return v


def _inverse(scale: ScalingType, g: np.ndarray) -> np.ndarray:
    if scale is ScalingType.LOGARITHMIC:
        return np.asarray(np.exp(g), dtype=float)
    if scale is ScalingType.REVERSE_LOGARITHMIC:
        return np.asarray(-np.expm1(-g), dtype=float)
    return g


class MixedEncoding:
    """Maps configurations of a search space to GP features and back.

    Args:
        space: The search space. Grid-only (all categorical) spaces work too.
    """

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.names = list(space.ranges)
        ranges = list(space.ranges.values())
        self.is_categorical = np.array([isinstance(r, CategoricalParameter) for r in ranges])
        self.is_integer = np.array([isinstance(r, IntegerParameter) for r in ranges])
        self.n_choices = np.array(
            [r.size if isinstance(r, CategoricalParameter) else 0 for r in ranges]
        )
        # Integer cells on each range's scale: [min - 0.5, max + 0.5], as in the space.
        self._int_cells: dict[int, tuple[ScalingType, float, float, int, int]] = {}
        for j, r in enumerate(ranges):
            if isinstance(r, IntegerParameter):
                scale = r.scale
                lo = float(_forward(scale, np.array(r.min_value - 0.5)))
                hi = float(_forward(scale, np.array(r.max_value + 0.5)))
                self._int_cells[j] = (scale, lo, hi, int(r.min_value), int(r.max_value))
        self.conditional = space.conditional
        self.inactive_value = np.array([self._inactive_value(j) for j in range(len(ranges))])
        index = {name: j for j, name in enumerate(self.names)}
        # Conditional features in dependency order: (feature, [(parent feature, allowed)]).
        self._conditions: list[tuple[int, list[tuple[int, np.ndarray]]]] = []
        for name in space.order:
            parts = []
            for c in space.ranges[name].active_when:
                parent = space.ranges[c.name]
                assert isinstance(parent, CategoricalParameter)
                allowed = np.array([parent.values.index(v) for v in c.values], dtype=float)
                parts.append((index[c.name], allowed))
            if parts:
                self._conditions.append((index[name], parts))

    def _inactive_value(self, j: int) -> float:
        """The feature an inactive range ``j`` is imputed with (see the module docstring)."""
        if self.is_categorical[j]:
            return float(self.n_choices[j])
        if self.is_integer[j]:
            scale, lo, hi, kmin, _ = self._int_cells[j]
            return float((_forward(scale, np.array(float(kmin))) - lo) / (hi - lo))
        return 0.0

    @property
    def dims(self) -> int:
        """Number of features (one per range)."""
        return len(self.names)

    @property
    def continuous(self) -> np.ndarray:
        """Indices of the features a gradient method may move (continuous ranges)."""
        return np.flatnonzero(~self.is_categorical & ~self.is_integer)

    @property
    def discrete(self) -> np.ndarray:
        """Indices of integer and categorical features, searched value by value."""
        return np.flatnonzero(self.is_categorical | self.is_integer)

    # -- configurations <-> features ------------------------------------------------------------
    def encode(self, configs: Sequence[Mapping[str, ParamValue]]) -> np.ndarray:
        """Features of ``configs``, shape ``(len(configs), dims)``."""
        out = np.empty((len(configs), self.dims))
        for i, config in enumerate(configs):
            active = self.space.active(config)
            for j, (name, r) in enumerate(self.space.ranges.items()):
                if name not in active:
                    out[i, j] = self.inactive_value[j]
                elif isinstance(r, CategoricalParameter):
                    out[i, j] = r.values.index(r.cast(config[name]))
                else:
                    out[i, j] = r.to_unit(float(config[name]))
        return out

    def decode(self, x: np.ndarray) -> Config:
        """The configuration at feature vector ``x`` (through ``SearchSpace.from_unit``), its
        inactive ranges left out."""
        parts: list[np.ndarray] = []
        for j, r in enumerate(self.space.ranges.values()):
            if isinstance(r, CategoricalParameter):
                onehot = np.zeros(r.size)
                onehot[int(np.clip(round(x[j]), 0, r.size - 1))] = 1.0
                parts.append(onehot)
            else:
                parts.append(np.array([x[j]]))
        return self.space.from_unit(np.concatenate(parts) if parts else np.zeros(0))

    # -- projection -----------------------------------------------------------------------------
    def project(self, X: np.ndarray) -> np.ndarray:
        """Snap points to feasible features: integers to their cell centre, categories to an index.

        Idempotent; continuous features are only clipped to [0, 1].
        """
        X = np.array(X, dtype=float)
        numeric = ~self.is_categorical
        X[..., numeric] = np.clip(X[..., numeric], 0.0, 1.0)
        for c in np.flatnonzero(self.is_categorical):
            X[..., c] = np.clip(np.round(X[..., c]), 0, self.n_choices[c] - 1)
        for j, (scale, lo, hi, kmin, kmax) in self._int_cells.items():
            k = np.clip(np.round(_inverse(scale, lo + X[..., j] * (hi - lo))), kmin, kmax)
            X[..., j] = (_forward(scale, k) - lo) / (hi - lo)
        return self.impute(X)

    def _impute(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Imputed copy of ``X`` and which of its features are active, in one pass.

        Parents come before their children, so a child is judged on its parent's final value.
        A categorical that becomes active while holding the inactive level takes its first
        value (a parent switched branch in the optimiser's coordinate search).
        """
        X = np.array(X, dtype=float)
        active = np.ones(X.shape, dtype=bool)
        for j, parts in self._conditions:
            for p, allowed in parts:
                active[..., j] &= active[..., p] & np.isin(X[..., p], allowed)
            on = active[..., j]
            if self.is_categorical[j]:
                X[..., j] = np.where(on & (X[..., j] >= self.n_choices[j]), 0.0, X[..., j])
            X[..., j] = np.where(on, X[..., j], self.inactive_value[j])
        return X, active

    def impute(self, X: np.ndarray) -> np.ndarray:
        """``X`` with every inactive feature at its imputed value (``X`` itself if no range is
        conditional, so a plain space's points are untouched to the last bit)."""
        return self._impute(X)[0] if self.conditional else X

    def active_mask(self, X: np.ndarray) -> np.ndarray:
        """Which features of each point are active (all of them in a plain space)."""
        return self._impute(X)[1]

    def choices(self, j: int) -> np.ndarray:
        """Every feature value of discrete feature ``j`` (categories, or integer cell centres)."""
        if self.is_categorical[j]:
            return np.arange(self.n_choices[j], dtype=float)
        scale, lo, hi, kmin, kmax = self._int_cells[j]
        return (_forward(scale, np.arange(kmin, kmax + 1, dtype=float)) - lo) / (hi - lo)

    def n_values(self, j: int) -> int:
        """Number of values of discrete feature ``j``."""
        if self.is_categorical[j]:
            return int(self.n_choices[j])
        _, _, _, kmin, kmax = self._int_cells[j]
        return kmax - kmin + 1

    def neighbours(self, j: int, x_j: np.ndarray) -> np.ndarray:
        """Candidate values of discrete feature ``j`` to try from each current value ``x_j``.

        All values when there are few (categoricals, small integer ranges); otherwise the
        integers within 3 steps and a coarse grid of the range, so a local search can both
        refine and jump. Shape ``(len(x_j), m)``.
        """
        if self.is_categorical[j] or self.n_values(j) <= MAX_EXHAUSTIVE_CHOICES:
            values = self.choices(j)
            return np.broadcast_to(values, (len(x_j), len(values)))
        scale, lo, hi, kmin, kmax = self._int_cells[j]
        k = np.round(_inverse(scale, lo + x_j * (hi - lo)))
        steps = np.array([-3, -2, -1, 1, 2, 3], dtype=float)
        near = k[:, None] + steps[None, :]
        grid = np.round(
            _inverse(scale, lo + np.linspace(0.0, 1.0, MAX_EXHAUSTIVE_CHOICES) * (hi - lo))
        )
        coarse = np.broadcast_to(grid, (len(k), len(grid)))
        ks = np.clip(np.concatenate([near, coarse], axis=1), kmin, kmax)
        return (_forward(scale, ks) - lo) / (hi - lo)

    # -- sampling -------------------------------------------------------------------------------
    def uniform(self, u: np.ndarray) -> np.ndarray:
        """Map points of the unit cube (e.g. a Sobol sequence) to feasible features.

        Categoricals take ``floor(u * k)`` so each value gets an equal share of the cube.
        """
        X = np.array(u, dtype=float)
        for j in np.flatnonzero(self.is_categorical):
            X[:, j] = np.minimum(np.floor(X[:, j] * self.n_choices[j]), self.n_choices[j] - 1)
        return self.project(X)

    def sobol(self, n: int, seed: int) -> np.ndarray:
        """The first ``n`` points of a scrambled Sobol sequence, as feasible features."""
        from scipy.stats import qmc  # imported on first use: scipy.stats takes a second to load

        m = max(1, math.ceil(math.log2(max(n, 2))))
        engine = qmc.Sobol(self.dims, scramble=True, seed=seed)
        return self.uniform(engine.random_base2(m)[:n])
