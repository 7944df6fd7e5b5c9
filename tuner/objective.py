"""The tuning objective: which metric, which direction, and how to compare values."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class ObjectiveType(StrEnum):
    """AMT's ``HyperParameterTuningJobObjective.Type``."""

    MAXIMIZE = "Maximize"
    MINIMIZE = "Minimize"


@dataclass(frozen=True, slots=True)
class Objective:
    """The metric to optimise and its direction; strategies see values as losses."""

    metric: str
    type: ObjectiveType

    def orient(self, value: float) -> float:
        """The value as a loss: unchanged for Minimize, negated for Maximize."""
        return -value if self.type is ObjectiveType.MAXIMIZE else value

    def is_better(self, value: float, than: float | None) -> bool:
        """True if ``value`` beats ``than`` (anything beats None; NaN never wins)."""
        if math.isnan(value):
            return False
        return than is None or self.orient(value) < self.orient(than)

    def reaches(self, value: float, target: float) -> bool:
        """True if ``value`` is at least as good as ``target`` (>= Maximize, <= Minimize)."""
        return self.orient(value) <= self.orient(target)
