"""AMT's MetricDefinitions over a script's output: every regex match is a datapoint.

As AMT does, each line of stdout and stderr is searched with every definition's regex (Python
syntax); each match is one datapoint whose value is the first capture group (the whole match
for a regex without groups). A capture that is not a finite number (``loss = nan``,
``acc: N/A``) is not a datapoint: it is counted per metric, and the count is written to the
training job's log at the end, so a regex that captures the wrong thing is visible.

:class:`Datapoints` turns the stream into reports the way the engine's stopping rules read
them: each datapoint of the objective is one report whose epoch is its 1-based index, carrying
the other metrics matched since the previous one.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MetricRegex:
    name: str
    pattern: re.Pattern[str]


def compile_definitions(definitions: Sequence[Mapping[str, Any]]) -> list[MetricRegex]:
    return [MetricRegex(str(d["Name"]), re.compile(str(d["Regex"]))) for d in definitions]


def regex_problem(regex: Any) -> str | None:
    """Why a MetricDefinitions Regex cannot be used (None if it can)."""
    try:
        re.compile(str(regex))
    except re.error as exc:
        return f"is not a valid Python regular expression: {exc}"
    return None


@dataclass
class MetricParser:
    """Finds the datapoints of each line; counts the captures that were not numbers."""

    regexes: list[MetricRegex]
    non_numeric: Counter[str] = field(default_factory=Counter)
    last_non_numeric: dict[str, str] = field(default_factory=dict)

    def feed(self, line: str) -> list[tuple[str, float]]:
        found: list[tuple[int, str, float]] = []
        for metric in self.regexes:
            for match in metric.pattern.finditer(line):
                text = match.group(1) if match.re.groups else match.group(0)
                value = _number(text)
                if value is None:
                    self.non_numeric[metric.name] += 1
                    self.last_non_numeric[metric.name] = str(text)
                else:
                    found.append((match.start(), metric.name, value))
        found.sort(key=lambda item: item[0])  # in the order they were printed
        return [(name, value) for _, name, value in found]

    def summary(self) -> list[str]:
        """One line per metric that had non-numeric captures (for the training job's log)."""
        return [
            f"[tuner] metric {name!r}: {count} non-numeric capture(s) ignored "
            f"(last: {self.last_non_numeric[name]!r})"
            for name, count in sorted(self.non_numeric.items())
        ]


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass
class Datapoints:
    """Groups datapoints into reports: one per objective datapoint, epoch = its index."""

    objective: str
    epoch: int = 0
    pending: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, value: float) -> tuple[int, dict[str, float]] | None:
        """The report to make now (epoch, metrics), or None while only others were matched."""
        self.pending[name] = value
        if name != self.objective:
            return None
        self.epoch += 1
        metrics, self.pending = self.pending, {}
        return self.epoch, metrics

    def rest(self) -> tuple[int, dict[str, float]] | None:
        """What was matched after the last objective datapoint, reported at the end."""
        if not self.pending:
            return None
        metrics, self.pending = self.pending, {}
        return max(self.epoch, 1), metrics
