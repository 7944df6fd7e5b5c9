"""Analytics of a tuning job: its training jobs as a pandas DataFrame, like the SageMaker SDK's
``HyperparameterTuningJobAnalytics``.

Columns: one per tuned hyperparameter (cast to float when it reads as a number, else kept as a
string, as the SDK does), then AMT's ``TrainingJobName``, ``TrainingJobStatus``,
``FinalObjectiveValue``, ``TrainingStartTime``, ``TrainingEndTime``,
``TrainingElapsedTimeSeconds``, then ours: ``TrialNumber``, ``EpochsReported``,
``StoppedEarly``, ``FailureReason``, ``Attempts``, ``BestSoFar`` (best final objective among trials numbered up
to this one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tuner.describe import amt_status, best_trial, objective_of, objective_status, timestamp
from tuner.errors import BestTrainingJobNotAvailableError
from tuner.storage import DEFAULT_URL, SqlStorage


def _as_number(value: str) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


class TuningJobAnalytics:
    """Read-only view of one tuning job's results in ``storage`` (a SQLAlchemy URL or path)."""

    def __init__(self, job_name: str, storage: str | SqlStorage = DEFAULT_URL) -> None:
        self.name = job_name
        self.storage = storage if isinstance(storage, SqlStorage) else SqlStorage(storage)
        self.job = self.storage.load_job(job_name)

    @property
    def tuning_ranges(self) -> dict[str, dict[str, Any]]:
        """Tuned hyperparameter name -> its range in request form."""
        ranges = self.job.request["HyperParameterTuningJobConfig"].get("ParameterRanges", {})
        return {r["Name"]: r for group in ranges.values() for r in group}

    def dataframe(self) -> pd.DataFrame:
        """One row per training job, ordered by trial number."""
        objective = objective_of(self.job)
        trials = self.storage.trials(self.name)
        tuned = list(self.tuning_ranges)
        rows = []
        best: float | None = None
        for t in trials:
            final = t.final_value if objective_status(t) == "Succeeded" else None
            if final is not None and objective.is_better(final, best):
                best = final
            start, end = timestamp(t.started_at), timestamp(t.ended_at)
            row: dict[str, Any] = {name: _as_number(t.hyperparameters.get(name)) for name in tuned}
            row.update(
                {
                    "TrainingJobName": t.name,
                    "TrainingJobStatus": amt_status(t),
                    "FinalObjectiveValue": final,
                    "TrainingStartTime": start,
                    "TrainingEndTime": end,
                    "TrainingElapsedTimeSeconds": (t.ended_at - t.started_at)
                    if t.started_at is not None and t.ended_at is not None
                    else None,
                    "TrialNumber": t.number,
                    "EpochsReported": t.n_reports,
                    "StoppedEarly": t.status == "Stopped",
                    "FailureReason": t.failure_reason,
                    "Attempts": t.attempt,
                    "BestSoFar": best,
                }
            )
            rows.append(row)
        columns = [
            *tuned,
            "TrainingJobName",
            "TrainingJobStatus",
            "FinalObjectiveValue",
            "TrainingStartTime",
            "TrainingEndTime",
            "TrainingElapsedTimeSeconds",
            "TrialNumber",
            "EpochsReported",
            "StoppedEarly",
            "FailureReason",
            "Attempts",
            "BestSoFar",
        ]
        return pd.DataFrame(rows, columns=columns)

    def best_training_job(self) -> dict[str, Any]:
        """The best training job: name, hyperparameters and final objective value."""
        objective = objective_of(self.job)
        best = best_trial(self.storage.trials(self.name), objective)
        if best is None:
            msg = f"Best training job not available for tuning job: {self.name}"
            raise BestTrainingJobNotAvailableError(msg)
        return {
            "TrainingJobName": best.name,
            "TunedHyperParameters": dict(best.hyperparameters),
            "FinalObjectiveValue": best.final_value,
            "MetricName": objective.metric,
            "OutputDir": best.output_dir,
        }

    def export_csv(self, filename: str | Path) -> None:
        self.dataframe().to_csv(filename, index=False)


def analytics(job_name: str, storage: str = DEFAULT_URL) -> TuningJobAnalytics:
    """Shortcut for :class:`TuningJobAnalytics`."""
    return TuningJobAnalytics(job_name, storage)
