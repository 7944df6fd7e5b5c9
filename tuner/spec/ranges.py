"""ParameterRanges: the one place a range in AMT's request form becomes a range of ours.

Used when a request is validated (with a problem per bad range) and when a stored request is
read back (the reports' tuned parameters), so both read bounds and scaling the same way.
Messages quote the bounds as the request wrote them (``MinValue '0'``, not ``0.0``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from strategies.space import (
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
    Parameter,
    ScalingType,
    SpaceError,
)
from tuner.spec.problems import RANGES, Problems

#: The request's range groups, in the order they are read.
RANGE_KINDS: dict[str, type[Parameter]] = {
    "IntegerParameterRanges": IntegerParameter,
    "ContinuousParameterRanges": ContinuousParameter,
    "CategoricalParameterRanges": CategoricalParameter,
}
_INTEGER = re.compile(r"[+-]?\d+")
AUTO_PARAMETERS_NEED_AUTOTUNE = (
    'AutoParameters are only read with "Autotune": {"Mode": "Enabled"} in the request; give '
    "the hyperparameters to tune as Integer, Continuous or CategoricalParameterRanges, or "
    "enable Autotune"
)


def parse_range(kind: str, item: Mapping[str, Any]) -> Parameter:
    """One range from its request form (``kind`` is its group, e.g. IntegerParameterRanges).

    Raises:
        SpaceError: a bound that does not parse, or bounds and scaling that do not fit.
        KeyError: a member the range needs is missing.
    """
    if kind == "CategoricalParameterRanges":
        return CategoricalParameter(list(item["Values"]))
    scaling = item.get("ScalingType", "Auto")
    if kind == "IntegerParameterRanges":
        low, high = (_integer_bound(item, label) for label in ("MinValue", "MaxValue"))
        _check_bounds(item, low, high, scaling, integer=True)
        return IntegerParameter(low, high, scaling)
    low_f, high_f = (_number_bound(item, label) for label in ("MinValue", "MaxValue"))
    _check_bounds(item, low_f, high_f, scaling, integer=False)
    return ContinuousParameter(low_f, high_f, scaling)


def _check_bounds(
    item: Mapping[str, Any], low: float, high: float, scaling: str, *, integer: bool
) -> None:
    """AMT's rules on bounds and scaling, quoting the bounds as the request wrote them."""
    given = f"MinValue {item['MinValue']!r}"
    both = f"{given} and MaxValue {item['MaxValue']!r}"
    if integer and scaling == ScalingType.REVERSE_LOGARITHMIC.value:
        msg = "ReverseLogarithmic scaling is not supported for integer ranges (AMT refuses it)"
    elif low >= high:
        msg = f"MinValue must be less than MaxValue, got {both}"
    elif scaling == ScalingType.LOGARITHMIC.value and low <= 0:
        msg = f"Logarithmic scaling needs MinValue > 0, got {given}"
    elif scaling == ScalingType.REVERSE_LOGARITHMIC.value and not (low >= 0 and high < 1):
        msg = f"ReverseLogarithmic scaling needs 0 <= MinValue and MaxValue < 1, got {both}"
    else:
        return
    raise SpaceError(msg)


def _integer_bound(item: Mapping[str, Any], label: str) -> int:
    raw = str(item[label]).strip()
    if not _INTEGER.fullmatch(raw):
        msg = f"{label} must be an integer, got {item[label]!r}"
        raise SpaceError(msg)
    return int(raw)


def _number_bound(item: Mapping[str, Any], label: str) -> float:
    try:
        value = float(str(item[label]).strip())
    except ValueError:
        msg = f"{label} must be a number, got {item[label]!r}"
        raise SpaceError(msg) from None
    if not math.isfinite(value):
        msg = f"{label} must be a finite number, got {item[label]!r}"
        raise SpaceError(msg)
    return value


def request_ranges(ranges_request: Mapping[str, Any] | None) -> dict[str, Parameter]:
    """Tuned name -> range of a request already validated (a stored one), in request order."""
    out: dict[str, Parameter] = {}
    for kind, items in (ranges_request or {}).items():
        if kind in RANGE_KINDS:
            for item in items or []:
                out[item["Name"]] = parse_range(kind, item)
    return out


def range_items(ranges_request: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """Tuned name -> its range as the request wrote it (the first, if a name is repeated)."""
    out: dict[str, Mapping[str, Any]] = {}
    for kind in RANGE_KINDS:
        for item in (ranges_request or {}).get(kind) or []:
            if isinstance(item, Mapping) and "Name" in item:
                out.setdefault(str(item["Name"]), item)
    return out


def auto_parameter_names(ranges_request: Mapping[str, Any] | None) -> set[str]:
    """Names in ParameterRanges.AutoParameters (Autotune's hyperparameters)."""
    items = (ranges_request or {}).get("AutoParameters") or []
    return {str(i["Name"]) for i in items if isinstance(i, Mapping) and "Name" in i}


def _structurally_sound(kind: str, item: Mapping[str, Any]) -> bool:
    """False when the range has a problem the structural check reports (bad enum, bad Values)."""
    if kind == "CategoricalParameterRanges":
        return "Values" not in item or (isinstance(item["Values"], list) and bool(item["Values"]))
    return item.get("ScalingType", "Auto") in {s.value for s in ScalingType}


def check_ranges(
    ranges_request: Mapping[str, Any] | None,
    problems: Problems,
    path: str = RANGES,
    *,
    autotune: bool = False,
) -> dict[str, Parameter]:
    """The ranges of a request being validated; a problem for each one that is wrong.

    AutoParameters are refused unless Autotune is enabled (``autotune``), which has resolved
    them into ranges and static values already (:mod:`tuner.spec.autotune`).
    """
    ranges: dict[str, Parameter] = {}
    if not ranges_request:
        return ranges
    for kind in RANGE_KINDS:
        for i, item in enumerate(ranges_request.get(kind) or []):
            if not isinstance(item, Mapping) or "Name" not in item:
                continue  # the structural check has reported it
            name = str(item["Name"])
            where = f"{path}.{kind}[{i}] ({name!r})"
            if not name:
                problems.add(where, "Name must not be empty")
            elif name in ranges:
                problems.add(where, f"hyperparameter {name!r} appears in more than one range")
            elif _structurally_sound(kind, item):  # else reported structurally
                try:
                    ranges[name] = parse_range(kind, item)
                except KeyError:
                    continue  # a missing MinValue/MaxValue/Values was reported structurally
                except (SpaceError, ValueError) as exc:
                    problems.add(where, str(exc))
    if "AutoParameters" in ranges_request and not autotune:
        problems.add(f"{path}.AutoParameters", AUTO_PARAMETERS_NEED_AUTOTUNE)
    return ranges
