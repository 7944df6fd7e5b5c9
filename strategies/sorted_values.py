"""A sorted multiset of floats: medians and quantiles in O(1), inserts by bisection.

The stopping rules keep one per epoch (the median rule's running means) or per rung
(Hyperband's recorded values), so a decision reads an order statistic instead of sorting the
history. :meth:`SortedValues.quantile` follows numpy's default ("linear") method to the last
bit, so a cached decision is the one ``np.quantile`` over the same values would give.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Callable


class SortedValues:
    """Floats kept in ascending order (NaN is refused: it has no place in an order)."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: list[float] = []

    def __len__(self) -> int:
        return len(self._values)

    def copy(self) -> SortedValues:
        twin = SortedValues()
        twin._values = list(self._values)
        return twin

    def add_unsorted(self, value: float) -> None:
        """Append without keeping the order; :meth:`restore_order` must follow (bulk loads)."""
        if math.isnan(value):
            msg = "NaN has no place in a sorted multiset"
            raise ValueError(msg)
        self._values.append(value)

    def restore_order(self) -> None:
        self._values.sort()

    def add(self, value: float) -> None:
        if math.isnan(value):
            msg = "NaN has no place in a sorted multiset"
            raise ValueError(msg)
        insort(self._values, value)

    def remove(self, value: float) -> None:
        """Remove one occurrence of ``value`` (ValueError if there is none)."""
        i = bisect_left(self._values, value)
        if i == len(self._values) or self._values[i] != value:
            msg = f"{value!r} is not in the multiset"
            raise ValueError(msg)
        del self._values[i]

    def median(self, *, without: float | None = None) -> float:
        """The median (the mean of the middle two for an even count), one ``without`` left out."""
        n, at = self._indexer(without)
        if n == 0:
            msg = "median of no values"
            raise ValueError(msg)
        middle = n // 2
        return at(middle) if n % 2 else (at(middle - 1) + at(middle)) / 2

    def quantile(self, q: float) -> float:
        """numpy's default quantile: linear between the order statistics around ``(n-1) q``."""
        n = len(self._values)
        if n == 0:
            msg = "quantile of no values"
            raise ValueError(msg)
        position = (n - 1) * q
        below = min(int(math.floor(position)), n - 1)
        above = min(below + 1, n - 1)
        return _lerp(self._values[below], self._values[above], position - below)

    def count(self, *, without: float | None = None) -> int:
        return self._indexer(without)[0]

    def _indexer(self, without: float | None) -> tuple[int, Callable[[int], float]]:
        values = self._values
        if without is None or math.isnan(without):
            return len(values), values.__getitem__
        gap = bisect_left(values, without)
        if gap == len(values) or values[gap] != without:
            return len(values), values.__getitem__
        return len(values) - 1, lambda k: values[k] if k < gap else values[k + 1]


def _lerp(low: float, high: float, t: float) -> float:
    """numpy's ``_lerp``: exact at both ends, computed from the nearer one."""
    difference = high - low
    return high - difference * (1 - t) if t >= 0.5 else low + difference * t
