"""Field paths of the request, and the collector of problems found while validating it.

Every check appends to one :class:`Problems`, so that one run reports every problem of a
request, each starting with the path of the field it is about.
"""

from __future__ import annotations

CONFIG = "HyperParameterTuningJobConfig"
DEFINITION = "TrainingJobDefinition"
RANGES = f"{CONFIG}.ParameterRanges"
LIMITS = f"{CONFIG}.ResourceLimits"
ALGORITHM = f"{DEFINITION}.AlgorithmSpecification"
STATIC = f"{DEFINITION}.StaticHyperParameters"


class Problems:
    """Collects problems so that one run reports all of them."""

    def __init__(self, items: list[str] | None = None) -> None:
        self.items: list[str] = list(items or [])

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}")

    def about(self, fragment: str) -> bool:
        """True if a problem was already reported about a path containing ``fragment``."""
        return any(fragment in p for p in self.items)

    def __bool__(self) -> bool:
        return bool(self.items)
