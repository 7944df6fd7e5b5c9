"""Which training jobs the effect analysis compares, and on which value of each.

With early stopping on, a stopped training job's last value (say after 1 of 60 boosting rounds)
is not comparable with a completed job's final objective: counting it as one makes whatever
made jobs get stopped look like it makes the objective worse (or better). AMT's best training
job keeps its rule (the last reported value, stopped or not); the correlations, the importance
and the readings compare like with like instead, by one of these rules:

``full-budget`` (the default): only the training jobs that ran their full budget (status
    Completed, not Stopped), each with its final objective. Used whenever no job was stopped,
    or at least :data:`MIN_FULL_BUDGET_JOBS` (8) jobs and at least :data:`MIN_FULL_BUDGET_SHARE`
    of the scored ones completed: enough to compare, and not a sliver of survivors.
``common-resource``: otherwise, each training job's objective at one common epoch (resource
    level): the largest epoch that at least ``N = max(MIN_COMMON_JOBS, COMMON_SHARE * n)`` of
    the ``n`` scored jobs reached (all of them when fewer), the value being the last one each
    job reported at or before that epoch. Jobs that stopped before it are left out.
``last-value``: every scored job's last value, stopped or not (the old behaviour; only when
    asked for, or when ``full-budget`` is too small and no learning curves are at hand).

Pure logic on plain values (no storage): :class:`~tuner.reports.analytics.AnalyticsSnapshot`
feeds it its scored training jobs and, when needed, their objective curves. The result says
which rule was used and how many jobs it covers, so every report can print it. A curve is a
sequence of ``(epoch, value)`` pairs, or an array of them (``shape (k, 2)``: what
:class:`~tuner.reports.analytics.TuningJobAnalytics` reads, compact for 100,000 jobs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

FULL_BUDGET = "full-budget"
COMMON_RESOURCE = "common-resource"
LAST_VALUE = "last-value"
AUTO = "auto"
RULES = (AUTO, FULL_BUDGET, COMMON_RESOURCE, LAST_VALUE)

#: ``full-budget`` needs at least this many Completed training jobs (as many as any conclusion
#: needs, :data:`tuner.reports.effects.MIN_TRIALS`: a final objective is the question users
#: ask, a value at an early epoch only a proxy for it, favouring what learns fast) ...
MIN_FULL_BUDGET_JOBS = 8
#: ... and at least this share of the scored ones (a few survivors of the median rule are a
#: narrow, selected sample; a common epoch then covers more of the search).
MIN_FULL_BUDGET_SHARE = 0.25
#: ``common-resource``: the chosen epoch was reached by at least max(MIN_COMMON_JOBS,
#: COMMON_SHARE * scored jobs) of them.
MIN_COMMON_JOBS = 10
COMMON_SHARE = 0.5

Curve = Sequence[tuple[int, float]] | np.ndarray


@dataclass(frozen=True, slots=True)
class ScoredJob:
    """What the rules need of one scored training job (``final_value`` as reported)."""

    completed: bool
    final_value: float
    curve: Curve | None = None  # (epoch, objective) as reported; None when not loaded


@dataclass(frozen=True, slots=True)
class Comparison:
    """The comparable training jobs: their positions in the input and the value of each."""

    rule: str
    indices: tuple[int, ...]
    values: tuple[float, ...]
    of: int
    completed: int
    stopped: int
    resource: int | None = None
    reason: str | None = None

    @property
    def jobs(self) -> int:
        return len(self.indices)

    @property
    def description(self) -> str:
        """One sentence for the reports: the rule and how many jobs it covers."""
        n, of = self.jobs, self.of
        if self.rule == FULL_BUDGET:
            if self.stopped == 0:
                text = f"all {of} training jobs with an objective value ran their full budget"
            else:
                text = (
                    f"{n} of {of} training jobs: those that ran their full budget (Completed); "
                    f"the {self.stopped} stopped early are left out"
                )
        elif self.rule == COMMON_RESOURCE:
            text = (
                f"{n} of {of} training jobs at a common resource: each one's objective at "
                f"epoch {self.resource}, the largest epoch that at least "
                f"{_needed(of)} of them reached"
            )
        else:
            text = (
                f"{n} of {of} training jobs by their last reported value, stopped early or not "
                "(not like with like)"
            )
        return f"{text} ({self.reason})" if self.reason else text

    def to_dict(self) -> dict[str, Any]:
        """The report's ``Comparison`` block."""
        return {
            "Rule": self.rule,
            "Resource": self.resource,
            "Jobs": self.jobs,
            "Of": self.of,
            "Completed": self.completed,
            "Stopped": self.stopped,
            "Description": self.description,
        }


def _needed(n: int) -> int:
    return min(n, max(MIN_COMMON_JOBS, math.ceil(COMMON_SHARE * n)))


def full_budget_is_enough(completed: int, n: int) -> bool:
    """Whether ``completed`` of ``n`` scored jobs are enough for ``full-budget`` (module doc)."""
    return completed == n or (
        completed >= MIN_FULL_BUDGET_JOBS and completed >= MIN_FULL_BUDGET_SHARE * n
    )


def last_epoch(curve: Curve) -> int:
    """The largest epoch a (non-empty) curve reached."""
    if isinstance(curve, np.ndarray):
        return int(curve[:, 0].max())
    return max(e for e, _ in curve)


def _has_points(curve: Curve | None) -> bool:
    return curve is not None and len(curve) > 0


def value_at(curve: Curve, epoch: int) -> float | None:
    """The last value reported at or before ``epoch`` (None when nothing was, or not finite)."""
    if isinstance(curve, np.ndarray):
        epochs = curve[:, 0]
        upto = np.flatnonzero(epochs <= epoch)
        if len(upto) == 0:
            return None
        latest = upto[epochs[upto] == epochs[upto].max()][-1]
        value = float(curve[latest, 1])
        return value if math.isfinite(value) else None
    found: float | None = None
    best_epoch: int | None = None
    for e, v in curve:
        if e <= epoch and (best_epoch is None or e >= best_epoch):
            best_epoch, found = e, v
    return found if found is not None and math.isfinite(found) else None


def common_resource(jobs: Sequence[ScoredJob]) -> int | None:
    """The largest epoch that at least :func:`_needed` of the jobs reached (None: no curves)."""
    reached = sorted(
        (
            last_epoch(job.curve)
            for job in jobs
            if job.curve is not None and _has_points(job.curve)
        ),
        reverse=True,
    )
    needed = _needed(len(jobs))
    if needed == 0 or len(reached) < needed:
        return None
    return reached[needed - 1]


def _full_budget(jobs: Sequence[ScoredJob], reason: str | None = None) -> Comparison:
    picked = [i for i, job in enumerate(jobs) if job.completed]
    return _comparison(FULL_BUDGET, jobs, picked, [jobs[i].final_value for i in picked], reason)


def _comparison(
    rule: str,
    jobs: Sequence[ScoredJob],
    picked: Sequence[int],
    values: Sequence[float],
    reason: str | None = None,
    resource: int | None = None,
) -> Comparison:
    completed = sum(1 for job in jobs if job.completed)
    return Comparison(
        rule,
        tuple(picked),
        tuple(float(v) for v in values),
        len(jobs),
        completed,
        len(jobs) - completed,
        resource,
        reason,
    )


def _at_common_resource(jobs: Sequence[ScoredJob]) -> Comparison | None:
    epoch = common_resource(jobs)
    if epoch is None:
        return None
    picked, values = [], []
    for i, job in enumerate(jobs):
        if job.curve is not None and _has_points(job.curve) and last_epoch(job.curve) >= epoch:
            value = value_at(job.curve, epoch)
            if value is not None:
                picked.append(i)
                values.append(value)
    return _comparison(COMMON_RESOURCE, jobs, picked, values, resource=epoch)


def needs_curves(completed: Sequence[bool], rule: str = AUTO) -> bool:
    """Whether :func:`choose` will look at learning curves (so a caller loads them lazily)."""
    flags = list(completed)
    if rule == COMMON_RESOURCE:
        return True
    return rule == AUTO and not full_budget_is_enough(sum(flags), len(flags))


def choose(jobs: Sequence[ScoredJob], rule: str = AUTO) -> Comparison:
    """The comparable jobs by ``rule``; ``auto`` picks as the module doc says."""
    if rule not in RULES:
        msg = f"unknown comparison rule {rule!r}: allowed are {', '.join(RULES)}"
        raise ValueError(msg)
    if rule == LAST_VALUE:
        return _comparison(LAST_VALUE, jobs, range(len(jobs)), [j.final_value for j in jobs])
    n_completed = sum(1 for job in jobs if job.completed)
    if rule == FULL_BUDGET or (rule == AUTO and full_budget_is_enough(n_completed, len(jobs))):
        return _full_budget(jobs)
    common = _at_common_resource(jobs)
    if common is not None:
        return common
    reason = "too few ran their full budget, and no learning curves to compare at a common epoch"
    return _full_budget(jobs, reason)
