"""ParameterRanges: the one place a range in AMT's request form becomes a range of ours.

Used when a request is validated (with a problem per bad range) and when a stored request is
read back (the reports' tuned parameters), so both read bounds and scaling the same way.
Messages quote the bounds as the request wrote them (``MinValue '0'``, not ``0.0``).

``ActiveWhen`` is our extension of a range (conditional hyperparameters,
:mod:`strategies.conditions`): ``{"Name": "optimizer", "Values": ["sgd"]}``, or a list of such
objects that must all hold. The structural check lets it through as it is written, so its
shape is checked here, member by member, and then its meaning: the parent must be a tuned
categorical range with those values, and the conditions must not form a cycle. Each problem
names the field, e.g. ``...ContinuousParameterRanges[2].ActiveWhen.Name``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from strategies.conditions import condition_problem, find_cycle
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
    active_when = _conditions(item.get(ACTIVE_WHEN))
    if kind == "CategoricalParameterRanges":
        return CategoricalParameter(list(item["Values"]), active_when=active_when)
    scaling = item.get("ScalingType", "Auto")
    if kind == "IntegerParameterRanges":
        low, high = (_integer_bound(item, label) for label in ("MinValue", "MaxValue"))
        _check_bounds(item, low, high, scaling, integer=True)
        return IntegerParameter(low, high, scaling, active_when=active_when)
    low_f, high_f = (_number_bound(item, label) for label in ("MinValue", "MaxValue"))
    _check_bounds(item, low_f, high_f, scaling, integer=False)
    return ContinuousParameter(low_f, high_f, scaling, active_when=active_when)


#: Our extension member of a range: the conditions under which it is searched.
ACTIVE_WHEN = "ActiveWhen"
_CONDITION_MEMBERS = ("Name", "Values")


def _value_text(value: Any) -> Any:
    """A condition's value as the structural check writes a categorical value (true, 1, 0.5)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _entries(raw: Any) -> list[tuple[str, Any]]:
    """``ActiveWhen``'s conditions with their paths below it: ``""`` for one, ``[k]`` in a list."""
    if isinstance(raw, list):
        return [(f"[{k}]", entry) for k, entry in enumerate(raw)]
    return [("", raw)]


def _conditions(raw: Any) -> list[tuple[str, list[Any]]] | None:
    """The (name, values) pairs of an ``ActiveWhen`` already checked; None without one."""
    if raw is None:
        return None
    return [
        (str(entry["Name"]), [_value_text(v) for v in entry["Values"]])
        for _, entry in _entries(raw)
    ]


def active_when_problems(raw: Any, where: str) -> list[tuple[str, str]]:
    """``(path, message)`` for each member of an ``ActiveWhen`` that is not of its shape.

    ``where`` is the path of the ``ActiveWhen`` member itself.
    """
    if raw is None:
        return []
    if not isinstance(raw, (Mapping, list)) or raw == []:
        form = '{"Name": <categorical range>, "Values": [...]}'
        return [(where, f"must be an object {form} or a non-empty list of them")]
    problems: list[tuple[str, str]] = []
    for sub, entry in _entries(raw):
        path = f"{where}{sub}"
        if not isinstance(entry, Mapping):
            problems.append((path, f"must be an object with fields Name, Values, got {entry!r}"))
            continue
        for key in entry:
            if key not in _CONDITION_MEMBERS:
                problems.append((f"{path}.{key}", "unknown field; allowed here: Name, Values"))
        name, values = entry.get("Name"), entry.get("Values")
        problems += [(f"{path}.{m}", "is required") for m in _CONDITION_MEMBERS if m not in entry]
        if name is not None and (not isinstance(name, str) or not name):
            problems.append((f"{path}.Name", f"must be a range's name, got {name!r}"))
        if values is not None and (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, (str, int, float)) for v in values)
        ):
            problems.append(
                (f"{path}.Values", f"must be a non-empty list of values, got {values!r}")
            )
    return problems


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
    them into ranges and static values already (:mod:`tuner.spec.autotune`). A range whose
    ``ActiveWhen`` is wrong is returned without it (its problem is reported), so the ranges
    returned always make a valid :class:`~strategies.space.SearchSpace`.
    """
    ranges: dict[str, Parameter] = {}
    if not ranges_request:
        return ranges
    conditional: dict[str, _Conditional] = {}
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
                shape = active_when_problems(
                    item.get(ACTIVE_WHEN), f"{path}.{kind}[{i}].{ACTIVE_WHEN}"
                )
                for field, message in shape:
                    problems.add(field, message)
                plain = {k: v for k, v in item.items() if k != ACTIVE_WHEN}
                try:
                    ranges[name] = parse_range(kind, item if not shape else plain)
                except KeyError:
                    continue  # a missing MinValue/MaxValue/Values was reported structurally
                except (SpaceError, ValueError) as exc:
                    problems.add(where, str(exc))
                    continue
                if ACTIVE_WHEN in item and not shape:
                    at = f"{path}.{kind}[{i}].{ACTIVE_WHEN}"
                    subs = [sub for sub, _ in _entries(item[ACTIVE_WHEN])]
                    conditional[name] = _Conditional(at, kind, plain, subs)
    _check_conditions(ranges, conditional, problems)
    if "AutoParameters" in ranges_request and not autotune:
        problems.add(f"{path}.AutoParameters", AUTO_PARAMETERS_NEED_AUTOTUNE)
    return ranges


class _Conditional(NamedTuple):
    """Where a range's ``ActiveWhen`` was written, and the range without it."""

    where: str  # the path of its ActiveWhen member
    kind: str
    plain: Mapping[str, Any]  # the range's request form without ActiveWhen
    subs: list[str]  # each condition's path below ActiveWhen ("" or "[k]")

    def unconditional(self) -> Parameter:
        return parse_range(self.kind, self.plain)


def _check_conditions(
    ranges: dict[str, Parameter], conditional: Mapping[str, _Conditional], problems: Problems
) -> None:
    """Each condition's parent and values, then cycles; a wrong range loses its conditions.

    Run once every range is known, since a condition may name a range listed after it.
    """
    for name, at in conditional.items():
        wrong = False
        for sub, condition in zip(at.subs, ranges[name].active_when, strict=True):
            problem = condition_problem(name, condition, ranges)
            if problem is not None:
                problems.add(f"{at.where}{sub}.{problem[0]}", f"{name!r} {problem[1]}")
                wrong = True
        if wrong:
            ranges[name] = at.unconditional()
    while cycle := find_cycle(ranges):
        where = conditional[cycle[0]].where
        problems.add(where, f"{cycle[0]!r}: the conditions form a cycle, {' -> '.join(cycle)}")
        for member in cycle[:-1]:
            ranges[member] = conditional[member].unconditional()
