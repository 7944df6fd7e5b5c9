"""Search-space maths: parameter ranges, their scaling, the unit cube and the grid.

This module owns everything a strategy needs to know about a hyperparameter range and nothing
about jobs, storage or algorithms. The classes mirror the SageMaker Python SDK's
``ContinuousParameter``, ``IntegerParameter`` and ``CategoricalParameter`` so that user code
written for AMT keeps working; ``tuner`` re-exports them.

Scaling (AMT's ``ScalingType``):

* ``Linear``: uniform over ``[min, max]``.
* ``Logarithmic``: uniform over ``[log min, log max]``; needs ``min > 0``.
* ``ReverseLogarithmic``: uniform over ``-log(1 - x)``; continuous ranges inside ``[0, 1)`` only,
  for values that crowd towards 1 (momentum, beta_2). AMT does not publish the transform;
  ``log(1 - x)`` is the usual one.
* ``Auto``: AMT does not publish its rule. Ours, decided once from the range alone: Logarithmic
  when ``min > 0`` and ``max / min >= 100`` (the range spans two orders of magnitude or more,
  where a linear search wastes most samples on the top decade), Linear otherwise. It never picks
  ReverseLogarithmic.

Integers are sampled and encoded over ``[min - 0.5, max + 0.5]`` on their scale and rounded, so
every integer gets the mass of its own cell and the end points are not under-sampled.
Categoricals are one-hot in the unit cube; decoding takes the arg-max.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

import numpy as np

from strategies.conditions import (
    ActiveWhen,
    Condition,
    ConditionalGrid,
    active_names,
    condition_problem,
    conditions_of,
    dependency_order,
    find_cycle,
)

ParamValue = int | float | str
Config = dict[str, ParamValue]

#: Auto picks Logarithmic when max / min reaches this ratio (and min > 0).
AUTO_LOG_RATIO = 100.0


class ScalingType(StrEnum):
    """AMT's ``HyperParameterScalingType`` values, spelled as on the wire."""

    AUTO = "Auto"
    LINEAR = "Linear"
    LOGARITHMIC = "Logarithmic"
    REVERSE_LOGARITHMIC = "ReverseLogarithmic"


class SpaceError(ValueError):
    """A range that cannot be searched (bad bounds, bad scaling, bad values)."""


def format_value(value: ParamValue) -> str:
    """The string AMT would show for a hyperparameter value (``TunedHyperParameters``)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _conditions(active_when: ActiveWhen) -> tuple[Condition, ...]:
    try:
        return conditions_of(active_when)
    except ValueError as exc:
        raise SpaceError(str(exc)) from None


def _active_when_request(conditions: tuple[Condition, ...]) -> dict[str, Any]:
    """The spec's ``ActiveWhen`` member: one object for one condition, else a list."""
    if not conditions:
        return {}
    forms = [c.as_request() for c in conditions]
    return {"ActiveWhen": forms[0] if len(forms) == 1 else forms}


def _active_when_repr(conditions: tuple[Condition, ...]) -> str:
    if not conditions:
        return ""
    forms = [(c.name, list(c.values)) for c in conditions]
    return f", active_when={forms[0] if len(forms) == 1 else forms!r}"


class _NumericParameter:
    """Shared behaviour of integer and continuous ranges: scaling and the unit interval."""

    kind: str = ""

    def __init__(
        self,
        min_value: float,
        max_value: float,
        scaling_type: str | ScalingType = "Auto",
        *,
        active_when: ActiveWhen = None,
    ) -> None:
        self.min_value = min_value
        self.max_value = max_value
        self.active_when: tuple[Condition, ...] = _conditions(active_when)
        try:
            self.scaling_type = ScalingType(scaling_type)
        except ValueError:
            allowed = ", ".join(s.value for s in ScalingType)
            msg = f"scaling_type must be one of {allowed}, got {scaling_type!r}"
            raise SpaceError(msg) from None
        self.validate()

    # -- validation -------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`SpaceError` when the range cannot be searched on its scale."""
        lo, hi = self.min_value, self.max_value
        if not (math.isfinite(lo) and math.isfinite(hi)):
            msg = f"MinValue and MaxValue must be finite, got {lo!r} and {hi!r}"
            raise SpaceError(msg)
        if lo >= hi:
            msg = f"MinValue must be less than MaxValue, got MinValue={lo!r} MaxValue={hi!r}"
            raise SpaceError(msg)
        if self.scaling_type is ScalingType.LOGARITHMIC and lo <= 0:
            msg = f"Logarithmic scaling needs MinValue > 0, got MinValue={lo!r}"
            raise SpaceError(msg)
        if self.scaling_type is ScalingType.REVERSE_LOGARITHMIC and not (lo >= 0 and hi < 1):
            msg = (
                "ReverseLogarithmic scaling needs 0 <= MinValue and MaxValue < 1, "
                f"got MinValue={lo!r} MaxValue={hi!r}"
            )
            raise SpaceError(msg)

    # -- scale ------------------------------------------------------------------------------
    @property
    def scale(self) -> ScalingType:
        """The scaling actually used: Auto resolved by the rule in the module docstring."""
        if self.scaling_type is not ScalingType.AUTO:
            return self.scaling_type
        if self.min_value > 0 and self.max_value / self.min_value >= AUTO_LOG_RATIO:
            return ScalingType.LOGARITHMIC
        return ScalingType.LINEAR

    def _forward(self, v: float) -> float:
        scale = self.scale
        if scale is ScalingType.LOGARITHMIC:
            return math.log(v)
        if scale is ScalingType.REVERSE_LOGARITHMIC:
            return -math.log1p(-v)
        return v

    def _inverse(self, g: float) -> float:
        scale = self.scale
        if scale is ScalingType.LOGARITHMIC:
            return math.exp(g)
        if scale is ScalingType.REVERSE_LOGARITHMIC:
            return -math.expm1(-g)
        return g

    def _bounds(self) -> tuple[float, float]:
        """The interval on the parameter's scale that the unit interval maps onto."""
        return self._forward(self.min_value), self._forward(self.max_value)

    def to_unit(self, value: float) -> float:
        """Position of ``value`` in [0, 1] on the parameter's scale."""
        lo, hi = self._bounds()
        u = (self._forward(float(value)) - lo) / (hi - lo)
        return min(1.0, max(0.0, u))

    def is_valid(self, value: object) -> bool:
        """``min <= value <= max`` (the SDK's ``ParameterRange.is_valid``)."""
        try:
            v = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
        return self.min_value <= v <= self.max_value

    def as_tuning_range(self, name: str) -> dict[str, Any]:
        """The request form, ``{"Name": "eta", "MinValue": "0.1", ...}`` (values as strings)."""
        return {
            "Name": name,
            "MinValue": format_value(self.min_value),
            "MaxValue": format_value(self.max_value),
            "ScalingType": self.scaling_type.value,
            **_active_when_request(self.active_when),
        }

    def __eq__(self, other: object) -> bool:
        return (
            type(self) is type(other)
            and (self.min_value, self.max_value, self.scaling_type, self.active_when)
            == (other.min_value, other.max_value, other.scaling_type, other.active_when)  # type: ignore[attr-defined, unused-ignore]
        )

    def __hash__(self) -> int:
        return hash(
            (type(self), self.min_value, self.max_value, self.scaling_type, self.active_when)
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.min_value!r}, {self.max_value!r}, "
            f"scaling_type={self.scaling_type.value!r}{_active_when_repr(self.active_when)})"
        )


class ContinuousParameter(_NumericParameter):
    """A float range, as in the SageMaker SDK: ``ContinuousParameter(0.01, 0.3, "Auto")``."""

    kind = "Continuous"

    def __init__(
        self,
        min_value: float,
        max_value: float,
        scaling_type: str | ScalingType = "Auto",
        *,
        active_when: ActiveWhen = None,
    ) -> None:
        super().__init__(float(min_value), float(max_value), scaling_type, active_when=active_when)

    def from_unit(self, u: float) -> float:
        lo, hi = self._bounds()
        v = self._inverse(lo + float(np.clip(u, 0.0, 1.0)) * (hi - lo))
        return float(min(self.max_value, max(self.min_value, v)))

    def sample(self, rng: np.random.Generator) -> float:
        return self.from_unit(rng.random())

    def cast(self, value: object) -> float:
        return float(value)  # type: ignore[arg-type]


class IntegerParameter(_NumericParameter):
    """An integer range: ``IntegerParameter(1, 10)``. ReverseLogarithmic is refused, as in AMT."""

    kind = "Integer"

    def __init__(
        self,
        min_value: int,
        max_value: int,
        scaling_type: str | ScalingType = "Auto",
        *,
        active_when: ActiveWhen = None,
    ) -> None:
        bounds: tuple[tuple[str, int | float], ...] = (
            ("MinValue", min_value),
            ("MaxValue", max_value),
        )
        for label, v in bounds:
            if isinstance(v, float) and not v.is_integer():
                msg = f"{label} of an integer range must be a whole number, got {v!r}"
                raise SpaceError(msg)
        super().__init__(int(min_value), int(max_value), scaling_type, active_when=active_when)

    def validate(self) -> None:
        if self.scaling_type is ScalingType.REVERSE_LOGARITHMIC:
            msg = "ReverseLogarithmic scaling is not supported for integer ranges (AMT refuses it)"
            raise SpaceError(msg)
        super().validate()

    def _bounds(self) -> tuple[float, float]:
        # Widen by half a step on the scale so each integer owns a cell of its own. For
        # Logarithmic, MinValue >= 1, so MinValue - 0.5 stays positive.
        return self._forward(self.min_value - 0.5), self._forward(self.max_value + 0.5)

    def from_unit(self, u: float) -> int:
        lo, hi = self._bounds()
        v = self._inverse(lo + float(np.clip(u, 0.0, 1.0)) * (hi - lo))
        return int(min(self.max_value, max(self.min_value, round(v))))

    def sample(self, rng: np.random.Generator) -> int:
        return self.from_unit(rng.random())

    def cast(self, value: object) -> int:
        if isinstance(value, str):
            return int(float(value)) if "." in value or "e" in value.lower() else int(value)
        return int(value)  # type: ignore[call-overload, no-any-return]


class CategoricalParameter:
    """A set of values, ``CategoricalParameter(["gbtree", "dart"])``; values become strings."""

    kind = "Categorical"

    def __init__(
        self, values: Sequence[object] | object, *, active_when: ActiveWhen = None
    ) -> None:
        self.active_when: tuple[Condition, ...] = _conditions(active_when)
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            values = [values]
        self.values: list[str] = [format_value(v) for v in values]  # type: ignore[arg-type]
        if not self.values:
            msg = "Values must hold at least one value"
            raise SpaceError(msg)
        dupes = sorted({v for v in self.values if self.values.count(v) > 1})
        if dupes:
            msg = f"Values must be distinct, got duplicates {dupes}"
            raise SpaceError(msg)

    @property
    def size(self) -> int:
        return len(self.values)

    def to_onehot(self, value: object) -> np.ndarray:
        out = np.zeros(len(self.values))
        out[self.values.index(format_value(value))] = 1.0  # type: ignore[arg-type]
        return out

    def from_onehot(self, x: np.ndarray) -> str:
        return self.values[int(np.argmax(x))]

    def sample(self, rng: np.random.Generator) -> str:
        return self.values[int(rng.integers(len(self.values)))]

    def is_valid(self, value: object) -> bool:
        return format_value(value) in self.values  # type: ignore[arg-type]

    def cast(self, value: object) -> str:
        return format_value(value)  # type: ignore[arg-type]

    def as_tuning_range(self, name: str) -> dict[str, object]:
        return {
            "Name": name,
            "Values": list(self.values),
            **_active_when_request(self.active_when),
        }

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CategoricalParameter)
            and self.values == other.values
            and self.active_when == other.active_when
        )

    def __hash__(self) -> int:
        return hash((tuple(self.values), self.active_when))

    def __repr__(self) -> str:
        return f"CategoricalParameter({self.values!r}{_active_when_repr(self.active_when)})"


Parameter = ContinuousParameter | IntegerParameter | CategoricalParameter


@dataclass(frozen=True)
class SearchSpace:
    """Named ranges in declaration order. Static hyperparameters live in the job spec, not here.

    Ranges may be conditional (``active_when``, see :mod:`strategies.conditions`): the space
    checks the conditions when it is built, and :meth:`active` / :meth:`prune` say which
    ranges a configuration has. Every configuration the space hands out (:meth:`sample`,
    :meth:`grid_point`) has exactly its active ranges.

    Raises:
        SpaceError: a condition names a range that is not here or not categorical, a value the
            parent does not have, or the conditions form a cycle (the message names the range).
    """

    ranges: Mapping[str, Parameter]

    def __post_init__(self) -> None:
        for name, r in self.ranges.items():
            for condition in r.active_when:
                problem = condition_problem(name, condition, self.ranges)
                if problem is not None:
                    raise SpaceError(f"active_when of {name!r}: {name!r} {problem[1]}")
        cycle = find_cycle(self.ranges)
        if cycle:
            msg = f"active_when of {cycle[0]!r}: the conditions form a cycle, {' -> '.join(cycle)}"
            raise SpaceError(msg)

    @property
    def names(self) -> list[str]:
        return list(self.ranges)

    @property
    def dims(self) -> int:
        """Width of the unit-cube encoding (one per numeric range, one per categorical value)."""
        return sum(
            r.size if isinstance(r, CategoricalParameter) else 1 for r in self.ranges.values()
        )

    # -- conditions -------------------------------------------------------------------------
    @cached_property
    def conditional(self) -> bool:
        """Whether any range has a condition (if not, every range is always active)."""
        return any(r.active_when for r in self.ranges.values())

    @cached_property
    def order(self) -> tuple[str, ...]:
        """Names with parents before their children; the declaration order otherwise."""
        return dependency_order(self.ranges)

    def active(self, config: Mapping[str, object]) -> set[str]:
        """The ranges active in ``config``, judged from its parents' values in dependency order.

        ``config`` may lack inactive ranges (a stored trial) or still hold them (a full draw).
        """
        if not self.conditional:
            return set(self.ranges)
        return active_names(self.ranges, self.order, config)

    def prune(self, config: Mapping[str, ParamValue]) -> Config:
        """``config`` without its inactive ranges (keys that are not ranges are kept)."""
        if not self.conditional:
            return dict(config)
        keep = self.active(config)
        return {k: v for k, v in config.items() if k in keep or k not in self.ranges}

    # -- configurations ---------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Config:
        """One configuration drawn on each range's scale, in declaration order, then pruned.

        Every range is drawn, active or not, so a plain space's draws are unchanged and a
        child's value does not depend on which branch its parent took.
        """
        return self.prune({name: r.sample(rng) for name, r in self.ranges.items()})

    def to_unit(self, config: Mapping[str, ParamValue]) -> np.ndarray:
        """Unit-cube encoding; an inactive range is zeros (its whole block, for a categorical)."""
        active = self.active(config)
        parts: list[np.ndarray] = []
        for name, r in self.ranges.items():
            if isinstance(r, CategoricalParameter):
                on = name in active
                parts.append(r.to_onehot(config[name]) if on else np.zeros(r.size))
            else:
                parts.append(np.array([r.to_unit(float(config[name])) if name in active else 0.0]))
        return np.concatenate(parts) if parts else np.zeros(0)

    def from_unit(self, x: Sequence[float] | np.ndarray) -> Config:
        """The configuration at ``x``, inactive ranges left out."""
        x = np.asarray(x, dtype=float)
        if x.shape != (self.dims,):
            msg = f"expected a vector of length {self.dims}, got shape {x.shape}"
            raise SpaceError(msg)
        out: Config = {}
        i = 0
        for name, r in self.ranges.items():
            if isinstance(r, CategoricalParameter):
                out[name] = r.from_onehot(x[i : i + r.size])
                i += r.size
            else:
                out[name] = r.from_unit(float(x[i]))
                i += 1
        return self.prune(out)

    def cast(self, tuned: Mapping[str, object]) -> Config:
        """Typed values from AMT's strings: int for Integer, float for Continuous, else str."""
        return {
            name: self.ranges[name].cast(v) for name, v in tuned.items() if name in self.ranges
        }

    def format(self, config: Mapping[str, ParamValue]) -> dict[str, str]:
        """AMT's ``TunedHyperParameters``: every value as a string."""
        return {name: format_value(config[name]) for name in self.ranges if name in config}

    # -- grid -------------------------------------------------------------------------------
    def _require_categorical(self) -> None:
        non_categorical = [
            n for n, r in self.ranges.items() if not isinstance(r, CategoricalParameter)
        ]
        if non_categorical:
            msg = f"a grid can only enumerate categorical ranges, not {non_categorical}"
            raise SpaceError(msg)

    @cached_property
    def _conditional_grid(self) -> ConditionalGrid:
        # Parents are categorical, so the categorical ranges alone are closed under conditions.
        categorical = {n: r for n, r in self.ranges.items() if isinstance(r, CategoricalParameter)}
        return ConditionalGrid({n: r.values for n, r in categorical.items()}, categorical)

    def grid_size(self) -> int:
        """Number of combinations of the categorical ranges (the product of their sizes).

        With conditions, only the combinations that can occur: a range inactive in a branch
        adds no axis there (:class:`~strategies.conditions.ConditionalGrid`).
        """
        if self.conditional:
            return self._conditional_grid.count(0, {})
        return math.prod(
            r.size for r in self.ranges.values() if isinstance(r, CategoricalParameter)
        )

    def grid(self) -> Iterator[Config]:
        """Every combination once: declaration order, the last range varying fastest.

        AMT does not publish its enumeration order; this one is the natural nested loop over
        the ranges as the user listed them (parents moved before their children when a
        condition needs it). Only categorical ranges can be enumerated.
        """
        self._require_categorical()
        if self.conditional:
            for index in range(self.grid_size()):
                yield self.grid_point(index)
            return
        names = list(self.ranges)
        values = [self.ranges[n].values for n in names]  # type: ignore[union-attr]
        for combo in itertools.product(*values):
            yield dict(zip(names, combo, strict=True))

    def grid_point(self, index: int) -> Config:
        """The ``index``-th grid combination (0-based) without enumerating the ones before it."""
        self._require_categorical()
        size = self.grid_size()
        if not 0 <= index < size:
            msg = f"grid index {index} outside 0..{size - 1}"
            raise SpaceError(msg)
        if self.conditional:
            point = self._conditional_grid.point(index)
            return {n: point[n] for n in self.ranges if n in point}
        out: Config = {}
        for name in reversed(list(self.ranges)):
            r = self.ranges[name]
            assert isinstance(r, CategoricalParameter)
            index, k = divmod(index, r.size)
            out[name] = r.values[k]
        return {n: out[n] for n in self.ranges}
