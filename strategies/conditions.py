"""Conditional hyperparameters: a range that is only searched when a categorical range has one of
some values (``momentum`` only when ``optimizer`` is ``sgd``).

AMT has no such thing (aws/sagemaker-python-sdk#4058 asks for it); Optuna, hyperopt and
ConfigSpace do. Ours follows ConfigSpace's ``InCondition``, the form most users know:

* A range carries ``active_when``: one :class:`Condition` (``("optimizer", ["sgd"])``) or several,
  which must all hold. A condition names a *categorical* range (the parent) and some of its
  values. Only categorical parents: a condition on a numeric range (``lr > 0.1``) is rarely
  what a search space means, and keeping parents categorical keeps every branch a finite set,
  so Grid can enumerate it and the Gaussian process can tell branches apart by a category.
* A range is *active* in a configuration when every condition's parent is active and has one
  of the condition's values. Parents may be conditional themselves (a chain ``a -> b -> c``),
  so activity is evaluated in dependency order (:func:`dependency_order`); cycles are refused.
* An inactive range is *absent*: not in the configuration a strategy suggests, not in the
  hyperparameters a training job gets, not in the stored trial. A strategy reading history
  therefore meets configurations without some keys, and must decide activity from the parents'
  values rather than from the keys present.

This module is pure logic over the ranges (anything with ``kind``, ``active_when`` and, for a
categorical, ``values``), so :mod:`strategies.space` can use it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

#: What ``active_when=`` accepts: ``(name, values)``, a :class:`Condition`, or a list of them.
ActiveWhen = Any


class _Range(Protocol):
    kind: str
    active_when: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Condition:
    """``name`` (a categorical range) has one of ``values`` (strings, as categoricals hold)."""

    name: str
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            msg = f"ActiveWhen: Name must be a hyperparameter name, got {self.name!r}"
            raise ValueError(msg)
        if not self.values:
            msg = f"ActiveWhen on {self.name!r}: Values must hold at least one value"
            raise ValueError(msg)

    def holds(self, config: Mapping[str, object]) -> bool:
        """Whether the parent's value in ``config`` is one of ours (False when it is absent)."""
        return self.name in config and str(config[self.name]) in self.values

    def as_request(self) -> dict[str, Any]:
        """The spec's form: ``{"Name": "optimizer", "Values": ["sgd"]}``."""
        return {"Name": self.name, "Values": list(self.values)}


def _condition(item: object) -> Condition:
    if isinstance(item, Condition):
        return item
    if isinstance(item, Mapping):
        item = (item.get("Name"), item.get("Values"))
    if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 2:
        msg = f"ActiveWhen: expected (name, values), got {item!r}"
        raise ValueError(msg)
    name, values = item
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        values = [values]
    return Condition(name, tuple(str(v) for v in values))


def conditions_of(active_when: ActiveWhen) -> tuple[Condition, ...]:
    """Normalise ``active_when``: None, ``(name, values)``, a Condition, a mapping, or a list.

    A single condition is told from a list of them by its first element being a name.
    ``values`` may be one value or several; each becomes a string (categoricals store strings).
    """
    if active_when is None:
        return ()
    single = isinstance(active_when, (Condition, Mapping)) or (
        isinstance(active_when, Sequence)
        and not isinstance(active_when, str)
        and len(active_when) == 2
        and isinstance(active_when[0], str)
    )
    if single:
        return (_condition(active_when),)
    if isinstance(active_when, str) or not isinstance(active_when, Sequence):
        msg = f"ActiveWhen: expected (name, values) or a list of them, got {active_when!r}"
        raise ValueError(msg)
    return tuple(_condition(item) for item in active_when)


def condition_problem(
    name: str, condition: Condition, ranges: Mapping[str, _Range]
) -> tuple[str, str] | None:
    """``(field, message)`` when ``condition`` on range ``name`` cannot be checked, else None.

    ``field`` is ``"Name"`` or ``"Values"``: the member of the spec's ``ActiveWhen`` at fault;
    ``message`` reads after the range's name ("depends on 'opt', which is not ...").
    """
    parent = ranges.get(condition.name)
    if condition.name == name:
        return "Name", "cannot depend on itself"
    if parent is None:
        tuned = ", ".join(repr(n) for n in ranges if n != name) or "none"
        return "Name", (
            f"depends on {condition.name!r}, which is not a tuned hyperparameter (tuned: {tuned})"
        )
    if parent.kind != "Categorical":
        return "Name", (
            f"depends on {condition.name!r}, which is {parent.kind}; a condition "
            "needs a categorical range"
        )
    allowed: list[str] = list(getattr(parent, "values", []))
    unknown = [v for v in condition.values if v not in allowed]
    if unknown:
        return "Values", (
            f"is active when {condition.name!r} is one of {list(condition.values)}, "
            f"but {', '.join(map(repr, unknown))} "
            f"{'is not a value' if len(unknown) == 1 else 'are not values'} of {condition.name!r} "
            f"(values: {', '.join(allowed)})"
        )
    return None


def find_cycle(ranges: Mapping[str, _Range]) -> list[str] | None:
    """A cycle of conditions (``["a", "b", "a"]``: a needs b, b needs a), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for c in ranges[name].active_when:
            if c.name not in ranges:
                continue
            if state.get(c.name) == 1:
                return [*path[path.index(c.name) :], c.name]
            if c.name not in state:
                found = visit(c.name)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for name in ranges:
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def dependency_order(ranges: Mapping[str, _Range]) -> tuple[str, ...]:
    """The names with every parent before its children, otherwise in declaration order.

    Without conditions this is the declaration order itself, so nothing changes for a plain
    space. Assumes no cycle (:func:`find_cycle`).
    """
    placed: dict[str, None] = {}

    def place(name: str) -> None:
        if name in placed:
            return
        for c in ranges[name].active_when:
            if c.name in ranges:
                place(c.name)
        placed[name] = None

    for name in ranges:
        place(name)
    return tuple(placed)


def is_active(conditions: Sequence[Condition], config: Mapping[str, object]) -> bool:
    """Whether every condition holds in ``config``, which holds only active parents."""
    return all(c.holds(config) for c in conditions)


def active_names(
    ranges: Mapping[str, _Range], order: Sequence[str], config: Mapping[str, object]
) -> set[str]:
    """The ranges active in ``config``: parents first, so an inactive parent's stale value
    (a key some history config still has) never activates a child."""
    seen: dict[str, object] = {}
    for name in order:
        if is_active(ranges[name].active_when, seen):
            seen[name] = config.get(name)
    return set(seen)


class ConditionalGrid:
    """The grid of a conditional space: only the combinations that can occur.

    A range contributes an axis only in the branches where it is active: ``optimizer`` in
    {sgd, adam} with ``momentum`` in {0.5, 0.9} active when sgd is 3 combinations, not 4.
    Combinations are numbered as a nested loop over :func:`dependency_order`, the last range
    varying fastest (the plain grid's order when nothing is conditional). :meth:`point` finds
    the ``index``-th without listing the ones before it, by counting each branch's completions;
    the counts are memoised on the values of the parents still to matter.
    """

    def __init__(self, values: Mapping[str, Sequence[str]], ranges: Mapping[str, _Range]):
        self.order = dependency_order(ranges)
        self.values = {n: list(values[n]) for n in self.order}
        self.conditions = {n: ranges[n].active_when for n in self.order}
        # Parents whose value still matters from position i on.
        self._needed = [
            sorted({c.name for n in self.order[i:] for c in self.conditions[n]})
            for i in range(len(self.order) + 1)
        ]
        self._memo: dict[tuple[int, tuple[tuple[str, str], ...]], int] = {}

    def count(self, i: int, assigned: Mapping[str, str]) -> int:
        """Completions of ``assigned`` (the active ranges before position ``i``)."""
        if i == len(self.order):
            return 1
        key = (i, tuple((p, assigned[p]) for p in self._needed[i] if p in assigned))
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        name = self.order[i]
        if is_active(self.conditions[name], assigned):
            total = sum(self.count(i + 1, {**assigned, name: v}) for v in self.values[name])
        else:
            total = self.count(i + 1, assigned)
        self._memo[key] = total
        return total

    def point(self, index: int) -> dict[str, str]:
        """The ``index``-th combination (0-based), active ranges only."""
        assigned: dict[str, str] = {}
        for i, name in enumerate(self.order):
            if not is_active(self.conditions[name], assigned):
                continue
            for v in self.values[name]:
                n = self.count(i + 1, {**assigned, name: v})
                if index < n:
                    assigned[name] = v
                    break
                index -= n
        return assigned
