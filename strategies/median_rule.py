"""AMT's median stopping rule (``TrainingJobEarlyStoppingType = Auto``).

AMT documents the rule as: after each epoch, compute the running average of the objective for
all previous training jobs up to the same epoch, take the median of those running averages, and
stop the current job if its value at this epoch is worse than that median. The classic source is
Golovin et al., "Google Vizier", KDD 2017.

AMT leaves open points; our choices:

* **Epoch** ``t`` is the t-th objective value the trial reported (one report = one resource
  unit), not the epoch number the algorithm printed, so gaps or restarts in numbering do not
  matter.
* **Previous jobs** are the trials that have finished (Completed or Stopped, any start time)
  and reported at least ``t`` values. Running trials are excluded: their curves are still
  moving. Stopped trials count up to where they stopped. Failed trials are excluded.
* **When it starts**: only once at least ``min_trials`` (default 3) such trials exist for epoch
  ``t``, and never before the trial's ``min_epochs``-th report (default 1). With fewer trials the
  median of one or two curves is too noisy to kill a job on.
* **Worse** is strict: equal to the median keeps running. Values are already oriented for
  minimisation (see :class:`strategies.base.Trial`).
* A stopped trial keeps its last value as its final objective (AMT's "latest value" rule).

Decisions depend only on the stored curves, so they are the same after a resume.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from strategies.base import StopDecision, Trial, TrialStatus

_COUNTED = (TrialStatus.COMPLETED, TrialStatus.STOPPED)


class MedianStoppingRule:
    """Stops a trial whose latest value is worse than the median of finished running means."""

    def __init__(self, *, min_trials: int = 3, min_epochs: int = 1) -> None:
        if min_trials < 1:
            msg = f"min_trials must be >= 1, got {min_trials}"
            raise ValueError(msg)
        if min_epochs < 1:
            msg = f"min_epochs must be >= 1, got {min_epochs}"
            raise ValueError(msg)
        self.min_trials = min_trials
        self.min_epochs = min_epochs

    def median_at(self, epoch: int, history: Sequence[Trial], *, exclude: int) -> float | None:
        """Median of the running means up to ``epoch`` (1-based) of finished trials, or None."""
        means = [
            sum(v for _, v in t.curve[:epoch]) / epoch
            for t in history
            if t.number != exclude and t.status in _COUNTED and len(t.curve) >= epoch
        ]
        if len(means) < self.min_trials:
            return None
        return statistics.median(means)

    def should_stop(self, trial: Trial, history: Sequence[Trial]) -> StopDecision | None:
        epoch = len(trial.curve)
        if epoch < self.min_epochs:
            return None
        median = self.median_at(epoch, history, exclude=trial.number)
        if median is None or trial.curve[-1][1] <= median:
            return None
        return StopDecision(
            "early stopping: worse than the median of previous training jobs "
            f"after {epoch} report{'s' if epoch != 1 else ''}"
        )
