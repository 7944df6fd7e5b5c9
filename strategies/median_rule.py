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

Cost: the running means of the finished trials are kept sorted per epoch
(:class:`~strategies.sorted_values.SortedValues`), updated only for the trials that changed
since the last decision (:class:`~strategies.history.ChangeFeed`), so a report costs the same
at trial 10,000 as at trial 10 instead of a pass over every trial's curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import accumulate

from strategies.base import StopDecision, Trial, TrialStatus
from strategies.history import ChangeFeed
from strategies.sorted_values import SortedValues

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
        self._by_epoch: list[SortedValues] = []  # running means of counted trials, per epoch
        self._means: dict[int, list[float]] = {}  # trial number -> its running means
        self._bulk = False  # True during a full rebuild: collect first, sort once at the end
        self._feed = ChangeFeed(self._forget_all, self._update, self._sort_all)

    def median_at(self, epoch: int, history: Sequence[Trial], *, exclude: int) -> float | None:
        """Median of the running means up to ``epoch`` (1-based) of finished trials, or None."""
        self._feed.sync(history)
        if epoch > len(self._by_epoch):
            return None
        own = self._means.get(exclude, [])
        without = own[epoch - 1] if len(own) >= epoch else None
        values = self._by_epoch[epoch - 1]
        if values.count(without=without) < self.min_trials:
            return None
        return values.median(without=without)

    def _forget_all(self) -> None:
        self._by_epoch, self._means, self._bulk = [], {}, True

    def _sort_all(self) -> None:
        for values in self._by_epoch:
            values.restore_order()
        self._bulk = False

    def _update(self, trial: Trial) -> None:
        """Replace what ``trial`` contributed by what its new snapshot contributes."""
        for epoch, mean in enumerate(self._means.pop(trial.number, ())):
            self._by_epoch[epoch].remove(mean)
        if trial.status not in _COUNTED:
            return
        means = []
        for epoch, total in enumerate(accumulate(v for _, v in trial.curve), start=1):
            if not math.isfinite(total):
                break  # a NaN or infinite report: nothing after it has a running mean
            means.append(total / epoch)
        while len(self._by_epoch) < len(means):
            self._by_epoch.append(SortedValues())
        for epoch, mean in enumerate(means):
            if self._bulk:
                self._by_epoch[epoch].add_unsorted(mean)
            else:
                self._by_epoch[epoch].add(mean)
        self._means[trial.number] = means

    def should_stop(self, trial: Trial, history: Sequence[Trial]) -> StopDecision | None:
        epoch = len(trial.curve)
        if epoch < self.min_epochs:
            return None
        median = self.median_at(epoch, history, exclude=trial.number)
        if median is None or trial.curve[-1][1] <= median:
            return None
        return StopDecision(
            "early stopping: worse than the median of previous training jobs "
            f"after {epoch} report{'s' if epoch != 1 else ''}",
            value=trial.curve[-1][1],
            threshold=median,
        )
