"""When a tuning job is done before its budget: AMT's completion criteria and runtime limit.

Choices where AMT is silent (AMT.md section 19):

* ``BestObjectiveNotImproving``: trials are taken in the order they finish; one that does not
  beat the best so far by at least 1% (relative to ``|best|``) counts as not improving, one that
  does resets the count. A trial that improves by less than 1% still becomes the reference.
* ``ConvergenceDetected`` (AMT's algorithm is not public): the job has converged when the last
  ``max(10, MaxNumberOfTrainingJobs // 5)`` finished trials did not improve the best by 1%.
* ``MaxRuntimeInSeconds`` counts from the moment this coordinator started the job (after a
  resume, from the resume: the time the coordinator was down is not charged).
* ``TargetObjectiveMetricValue`` is reached by a value at least as good as the target.

The tracker only sees final objective values, in finishing order, so after a resume it is
rebuilt by replaying the finished trials in the order they ended.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tuner.objective import Objective

#: Relative improvement that counts for BestObjectiveNotImproving and convergence (AMT: 1%).
IMPROVEMENT_THRESHOLD = 0.01
#: Convergence looks at no fewer than this many trials.
MIN_CONVERGENCE_WINDOW = 10


class CompletionReason(StrEnum):
    """Why a job ended before running its whole budget (recorded on its running trials)."""

    MAX_RUNTIME = "MaxRuntimeInSeconds reached"
    TARGET_REACHED = "TargetObjectiveMetricValue reached"
    NOT_IMPROVING = "BestObjectiveNotImproving reached"
    CONVERGED = "ConvergenceDetected"


@dataclass(frozen=True)
class CompletionCriteria:
    """The limits of one job: ResourceLimits and TuningJobCompletionCriteria."""

    max_jobs: int
    max_runtime_s: float | None = None
    target_value: float | None = None
    max_jobs_not_improving: int | None = None
    complete_on_convergence: bool = False

    @property
    def convergence_window(self) -> int:
        return max(MIN_CONVERGENCE_WINDOW, self.max_jobs // 5)


@dataclass
class CompletionTracker:
    """The best value so far and the not-improving count, fed final values as trials finish."""

    objective: Objective
    criteria: CompletionCriteria
    best: float | None = None
    best_name: str | None = None
    not_improving: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    _reference: float | None = None

    def record(self, value: float, name: str) -> None:
        """A training job finished with final objective ``value`` (as reported)."""
        if not math.isfinite(value):
            return
        objective = self.objective
        if objective.is_better(value, self.best):
            self.best, self.best_name = value, name
        if self._improves(value):
            self.not_improving, self._reference = 0, value
        else:
            self.not_improving += 1
            if objective.is_better(value, self._reference):
                self._reference = value
        self.details["NumberOfTrainingJobsObjectiveNotImproving"] = self.not_improving

    def _improves(self, value: float) -> bool:
        reference = self._reference
        if reference is None:
            return True
        gain = self.objective.orient(reference) - self.objective.orient(value)
        return gain >= IMPROVEMENT_THRESHOLD * max(abs(reference), 1e-12)

    def reason(self, *, elapsed_s: float, now: float) -> CompletionReason | None:
        """The criterion met after ``elapsed_s`` seconds of running, if any (``now``: epoch s)."""
        criteria = self.criteria
        if criteria.max_runtime_s is not None and elapsed_s >= criteria.max_runtime_s:
            return CompletionReason.MAX_RUNTIME
        target = criteria.target_value
        if (
            target is not None
            and self.best is not None
            and self.objective.reaches(self.best, target)
        ):
            return CompletionReason.TARGET_REACHED
        limit = criteria.max_jobs_not_improving
        if limit is not None and self.not_improving >= limit:
            return CompletionReason.NOT_IMPROVING
        if criteria.complete_on_convergence and self.not_improving >= criteria.convergence_window:
            self.details.setdefault("ConvergenceDetectedTime", now)
            return CompletionReason.CONVERGED
        return None
