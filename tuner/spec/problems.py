"""Field paths of the request, and the collector of problems found while validating it.

Every check appends to one :class:`Problems`, so that one run reports every problem of a
request, each starting with the path of the field it is about. A problem is reported once:
the same message for the same field is not repeated. Checks name fields by their place in a
single-algorithm request (``TrainingJobDefinition...``); when the request wrote them elsewhere
(a one-entry ``TrainingJobDefinitions``), :meth:`Problems.alias` shows them where they were
written.
"""

from __future__ import annotations

CONFIG = "HyperParameterTuningJobConfig"
DEFINITION = "TrainingJobDefinition"
DEFINITIONS = "TrainingJobDefinitions"
RANGES = f"{CONFIG}.ParameterRanges"
OBJECTIVE = f"{CONFIG}.HyperParameterTuningJobObjective"
LIMITS = f"{CONFIG}.ResourceLimits"
ALGORITHM = f"{DEFINITION}.AlgorithmSpecification"
STATIC = f"{DEFINITION}.StaticHyperParameters"

#: What may follow a path inside a longer path: a member, an index, a range's name.
_PATH_CONTINUES = (".", "[", " ")


class Problems:
    """Collects problems so that one run reports all of them, each once."""

    def __init__(self, items: list[str] | None = None) -> None:
        self.items: list[str] = list(items or [])
        self._paths: list[str] = []  # as the checks named them, before any alias
        self._aliases: list[tuple[str, str]] = []

    def alias(self, path: str, written_as: str) -> None:
        """Show problems about ``path`` and the fields under it as ``written_as`` instead."""
        self._aliases.append((path, written_as))
        self._aliases.sort(key=lambda pair: -len(pair[0]))  # the most specific first

    def shown(self, path: str) -> str:
        """``path`` as the request wrote it."""
        for source, written_as in self._aliases:
            if path == source or (
                path.startswith(source) and path[len(source)] in _PATH_CONTINUES
            ):
                return written_as + path[len(source) :]
        return path

    def add(self, path: str, message: str) -> None:
        item = f"{self.shown(path)}: {message}"
        self._paths.append(path)
        if item not in self.items:
            self.items.append(item)

    def about(self, fragment: str) -> bool:
        """True if a problem was already reported about a path containing ``fragment``."""
        return any(fragment in p for p in (*self.items, *self._paths))

    def __bool__(self) -> bool:
        return bool(self.items)
