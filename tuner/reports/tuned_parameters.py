"""The tuned hyperparameters of stored tuning jobs, each with its range and so its scale.

The ranges come back from each job's stored ``CreateHyperParameterTuningJob`` request, with
``Auto`` scaling resolved as the search resolves it; jobs analysed together (a warm-start parent
and its children) may list one hyperparameter with different ranges, which are merged (the
widest bounds, the first job's scale). Its own module because it is the one place that knows
how a value maps onto the parameter's scale (``log10 x``, ``-log10(1 - x)``): the statistics
(:mod:`tuner.reports.effects`), the DataFrame layer (:mod:`tuner.reports.analytics`) and the
reports all read it, and it needs neither the statistics nor pandas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from strategies.space import (
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
    Parameter,
    ScalingType,
    SpaceError,
)
from tuner.spec.ranges import request_ranges
from tuner.storage.records import JobRecord


@dataclass(frozen=True, slots=True)
class TunedParameter:
    """One tuned hyperparameter: its name and range (the range knows the scale)."""

    name: str
    range: Parameter

    @property
    def kind(self) -> str:
        """Continuous, Integer or Categorical."""
        return self.range.kind

    @property
    def is_categorical(self) -> bool:
        return isinstance(self.range, CategoricalParameter)

    @property
    def scale(self) -> ScalingType | None:
        """The scale the search used (Auto resolved); None for a categorical range."""
        return None if isinstance(self.range, CategoricalParameter) else self.range.scale

    @property
    def scale_label(self) -> str:
        """The axis the statistics and charts use, e.g. ``log10(eta)``."""
        if self.scale is ScalingType.LOGARITHMIC:
            return f"log10({self.name})"
        if self.scale is ScalingType.REVERSE_LOGARITHMIC:
            return f"-log10(1 - {self.name})"
        return self.name

    def to_scale(self, values: np.ndarray) -> np.ndarray:
        """Values on the parameter's own scale; out-of-domain values become NaN."""
        v = np.asarray(values, dtype=float)
        out: np.ndarray
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.scale is ScalingType.LOGARITHMIC:
                out = np.log10(v)
            elif self.scale is ScalingType.REVERSE_LOGARITHMIC:
                out = -np.log10(1.0 - v)
            else:
                out = v.copy()
        out[~np.isfinite(out)] = np.nan
        return out

    def from_scale(self, values: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_scale`."""
        g = np.asarray(values, dtype=float)
        out: np.ndarray = g
        if self.scale is ScalingType.LOGARITHMIC:
            out = np.power(10.0, g)
        elif self.scale is ScalingType.REVERSE_LOGARITHMIC:
            out = 1.0 - np.power(10.0, -g)
        return out


def _request_ranges(request: Mapping[str, Any]) -> dict[str, Parameter]:
    """Tuned name -> range, in the request's order (the DataFrame's column order)."""
    return request_ranges(request["HyperParameterTuningJobConfig"].get("ParameterRanges"))


def _merge_ranges(first: Parameter, other: Parameter) -> Parameter:
    """The union of two ranges of one hyperparameter (jobs analysed together may differ).

    Conditions (``active_when``) are kept if either job had them: a value missing from a trial
    then reads as inactive, not as unknown (:mod:`tuner.reports.effects`).
    """
    if first == other:
        return first
    when = first.active_when or other.active_when
    if isinstance(first, CategoricalParameter) or isinstance(other, CategoricalParameter):
        values = list(getattr(first, "values", []))
        values += [v for v in getattr(other, "values", []) if v not in values]
        return CategoricalParameter(values, active_when=when) if values else first
    lo, hi = min(first.min_value, other.min_value), max(first.max_value, other.max_value)
    for scale in (first.scale, ScalingType.LINEAR):
        try:
            if isinstance(first, IntegerParameter):
                return IntegerParameter(int(lo), int(hi), scale, active_when=when)
            return ContinuousParameter(lo, hi, scale, active_when=when)
        except SpaceError:
            continue
    return first


def tuned_parameters(jobs: Sequence[JobRecord]) -> list[TunedParameter]:
    """The tuned hyperparameters of ``jobs``, in first-seen order, ranges merged across jobs."""
    merged: dict[str, Parameter] = {}
    for job in jobs:
        for name, rng in _request_ranges(job.request).items():
            merged[name] = _merge_ranges(merged[name], rng) if name in merged else rng
    return [TunedParameter(name, rng) for name, rng in merged.items()]
