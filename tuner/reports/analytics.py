"""Analytics of tuning jobs: their training jobs as a pandas DataFrame, like the SageMaker SDK's
``HyperparameterTuningJobAnalytics``, plus what AMT users otherwise work out by hand in a
notebook: how each hyperparameter relates to the objective, which ones matter, learning curves.

DataFrame columns: one per tuned hyperparameter (cast to float when it reads as a number, else
kept as a string, as the SDK does), then AMT's ``TrainingJobName``, ``TrainingJobStatus``,
``FinalObjectiveValue``, ``TrainingStartTime``, ``TrainingEndTime``,
``TrainingElapsedTimeSeconds``, then ours: ``TrialNumber``, ``EpochsReported``,
``StoppedEarly``, ``FailureReason``, ``Attempts``, ``BestSoFar`` (best final objective among the
trials up to this one), ``TuningJobName`` and ``TrainingJobDefinitionName`` (a multi-algorithm
job's definition, None otherwise).

Several jobs at once. ``TuningJobAnalytics(name, storage, include=[...])`` analyses ``name``
together with the listed jobs (a warm-start parent and its children): rows in the order the
jobs were created, then by trial number, ``BestSoFar`` running across all of them, and
:meth:`~TuningJobAnalytics.best_training_job` is AMT's ``OverallBestTrainingJob``. The jobs
must share the objective; a hyperparameter tuned in only some of them is missing (NaN) in the
others' rows, and ranges that differ are merged (the widest bounds, the first job's scale).

Statistics (:meth:`~TuningJobAnalytics.correlations`, :meth:`~TuningJobAnalytics.importance`):
:mod:`tuner.reports.comparable` says which training jobs they compare and on which value (by
default those that ran their full budget; with too few of those, each job's objective at a
common epoch), :meth:`~AnalyticsSnapshot.comparison` which rule was used and how many jobs it
covers; :mod:`tuner.reports.effects` has the statistics, their thresholds and the importance
methods (the importance is fitted on at most :data:`tuner.reports.sample.MAX_IMPORTANCE_JOBS` of
the compared jobs, :meth:`~AnalyticsSnapshot.importance_sample`); the tuned hyperparameters and
their scales are :mod:`tuner.reports.tuned_parameters`.
The best training job keeps AMT's rule: the best last reported value, stopped early or not.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from tuner.describe import (
    amt_status,
    best_trial,
    counters,
    objective_of,
    objective_status,
    timestamp,
)
from tuner.errors import BestTrainingJobNotAvailableError, TunerError
from tuner.objective import Objective, ObjectiveType
from tuner.reports import comparable, sample
from tuner.reports.comparable import Comparison, ScoredJob
from tuner.reports.effects import (
    ImportanceMethod,
    ParameterEffect,
    ParameterImportance,
    categorical_effect,
    importance_of,
    numeric_effect,
)
from tuner.reports.tuned_parameters import TunedParameter, tuned_parameters
from tuner.status import TrialStatus
from tuner.storage import DEFAULT_URL, SqlStorage, schema
from tuner.storage.records import JobRecord, TrainingJobRecord

__all__ = [
    "LEARNING_CURVE_COLUMNS",
    "AnalyticsSnapshot",
    "TuningJobAnalytics",
    "analytics",
    "learning_curve_row",
]

logger = logging.getLogger(__name__)

#: Training job numbers per ``IN (...)`` of a query (SQLite allows a few thousand parameters).
_IN_CHUNK = 500
#: Rows fetched at a time when reading every objective curve of a job.
_CURVE_BLOCK = 50_000

#: Columns of a learning-curve frame (:meth:`TuningJobAnalytics.learning_curves`, the dashboard).
LEARNING_CURVE_COLUMNS = [
    "TuningJobName",
    "TrainingJobName",
    "TrialNumber",
    "TrainingJobStatus",
    "StoppedEarly",
    "MetricName",
    "Epoch",
    "Value",
    "Timestamp",
]


def learning_curve_row(
    job_name: str,
    trial: TrainingJobRecord,
    metric: str,
    epoch: int,
    value: float,
    at: float | None,
) -> tuple[Any, ...]:
    """One row of a learning-curve frame, in :data:`LEARNING_CURVE_COLUMNS` order."""
    stopped = trial.status is TrialStatus.STOPPED
    shown = amt_status(trial)
    return (
        job_name,
        trial.name,
        trial.number,
        shown,
        stopped,
        metric,
        epoch,
        value,
        timestamp(at),
    )


# ----------------------------------------------------------------------------------------------
# A snapshot of one or more jobs, and the live handle
# ----------------------------------------------------------------------------------------------
def _as_number(value: str | None) -> Any:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return value


def _to_float(value: str | None) -> float:
    number = _as_number(value)
    return number if isinstance(number, float) else math.nan


_AMT_COLUMNS = [
    "TrainingJobName",
    "TrainingJobStatus",
    "FinalObjectiveValue",
    "TrainingStartTime",
    "TrainingEndTime",
    "TrainingElapsedTimeSeconds",
]
_OUR_COLUMNS = [
    "TrialNumber",
    "EpochsReported",
    "StoppedEarly",
    "FailureReason",
    "Attempts",
    "BestSoFar",
    "TuningJobName",
    "TrainingJobDefinitionName",
]


#: Objective curves by (tuning job name, training job number): (epoch, value) as reported,
#: as pairs or an array of them (:data:`tuner.reports.comparable.Curve`).
Curves = Mapping[tuple[str, int], comparable.Curve]
#: Curves, or a function that reads them (called only when a comparison needs them).
CurveSource = Curves | Callable[[], Curves] | None


@dataclass(frozen=True)
class AnalyticsSnapshot:
    """What the database held for some jobs at one moment; every result is computed from it.

    ``trials`` are ``(tuning job name, training job)`` pairs: jobs in creation order, then by
    trial number. A report takes one snapshot so that its tables and charts agree.
    ``curves`` are the objective's learning curves (or a function reading them), needed only
    when too few training jobs ran their full budget (:mod:`tuner.reports.comparable`); the
    curves of finished training jobs do not change, so reading them later is still this
    snapshot. ``comparison_rule`` is one of :data:`tuner.reports.comparable.RULES`.
    """

    jobs: tuple[JobRecord, ...]
    trials: tuple[tuple[str, TrainingJobRecord], ...]
    curves: CurveSource = field(default=None, compare=False, repr=False)
    comparison_rule: str = comparable.AUTO

    @property
    def objective(self) -> Objective:
        return objective_of(self.jobs[0])

    @property
    def parameters(self) -> list[TunedParameter]:
        return tuned_parameters(self.jobs)

    def counters(self) -> tuple[dict[str, int], dict[str, int]]:
        """AMT's (TrainingJobStatusCounters, ObjectiveStatusCounters), summed over the jobs."""
        return counters(t for _, t in self.trials)

    def scored(self) -> list[tuple[str, TrainingJobRecord]]:
        """The trials whose objective Succeeded with a finite value: the ones statistics use."""
        return [
            (job, t)
            for job, t in self.trials
            if objective_status(t) == "Succeeded"
            and t.final_value is not None
            and math.isfinite(t.final_value)
        ]

    def dataframe(self) -> pd.DataFrame:
        """One row per training job (columns in the module docstring)."""
        objective = self.objective
        tuned = [p.name for p in self.parameters]
        rows = []
        best: float | None = None
        for job, t in self.trials:
            final = t.final_value if objective_status(t) == "Succeeded" else None
            if final is not None and objective.is_better(final, best):
                best = final
            row: dict[str, Any] = {name: _as_number(t.hyperparameters.get(name)) for name in tuned}
            row.update(
                {
                    "TrainingJobName": t.name,
                    "TrainingJobStatus": amt_status(t),
                    "FinalObjectiveValue": final,
                    "TrainingStartTime": timestamp(t.started_at),
                    "TrainingEndTime": timestamp(t.ended_at),
                    "TrainingElapsedTimeSeconds": (t.ended_at - t.started_at)
                    if t.started_at is not None and t.ended_at is not None
                    else None,
                    "TrialNumber": t.number,
                    "EpochsReported": t.n_reports,
                    "StoppedEarly": t.status is TrialStatus.STOPPED,
                    "FailureReason": t.failure_reason,
                    "Attempts": t.attempt,
                    "BestSoFar": best,
                    "TuningJobName": job,
                    "TrainingJobDefinitionName": t.definition,
                }
            )
            rows.append(row)
        return pd.DataFrame(rows, columns=[*tuned, *_AMT_COLUMNS, *_OUR_COLUMNS])

    def best(self) -> tuple[str, TrainingJobRecord] | None:
        """The best (job, training job) over all jobs; the earliest wins ties."""
        record = best_trial((t for _, t in self.trials), self.objective)
        if record is None:
            return None
        return next((job, t) for job, t in self.trials if t is record)

    def best_training_job(self) -> dict[str, Any]:
        """The best training job (AMT's OverallBestTrainingJob when several jobs are analysed)."""
        found = self.best()
        if found is None:
            names = ", ".join(j.name for j in self.jobs)
            msg = f"Best training job not available for tuning job: {names}"
            raise BestTrainingJobNotAvailableError(msg)
        job, best = found
        return {
            "TrainingJobName": best.name,
            "TunedHyperParameters": dict(best.hyperparameters),
            "FinalObjectiveValue": best.final_value,
            "MetricName": self.objective.metric,
            "OutputDir": best.output_dir,
            "TuningJobName": job,
        }

    @functools.cached_property
    def _comparison(self) -> tuple[Comparison, list[tuple[str, TrainingJobRecord]]]:
        scored = self.scored()
        completed = [t.status is TrialStatus.COMPLETED for _, t in scored]
        curves: Curves = {}
        if comparable.needs_curves(completed, self.comparison_rule):
            source = self.curves
            curves = (source() if callable(source) else source) or {}
        jobs = [
            ScoredJob(done, float(t.final_value or 0.0), curves.get((job, t.number)))
            for (job, t), done in zip(scored, completed, strict=True)
        ]
        chosen = comparable.choose(jobs, self.comparison_rule)
        return chosen, [scored[i] for i in chosen.indices]

    def comparison(self) -> Comparison:
        """Which training jobs the statistics compare, on which value, and how many."""
        return self._comparison[0]

    def compared(self) -> list[tuple[str, TrainingJobRecord]]:
        """The training jobs the statistics compare (see :meth:`comparison` for their values)."""
        return self._comparison[1]

    def _columns(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        chosen, compared = self._comparison
        columns: dict[str, np.ndarray] = {}
        for p in self.parameters:
            raw = [t.hyperparameters.get(p.name) for _, t in compared]
            if p.is_categorical:
                columns[p.name] = np.array(raw, dtype=object)
            else:
                columns[p.name] = np.array([_to_float(v) for v in raw], dtype=float)
        return columns, np.array(chosen.values, dtype=float)

    def correlations(
        self, *, seed: int = 0, progress: Callable[[str], None] | None = None
    ) -> list[ParameterEffect]:
        """One :class:`ParameterEffect` per tuned hyperparameter, in declaration order, over
        every compared training job (``progress`` is called with each name before its turn)."""
        columns, y = self._columns()
        objective = self.objective
        effects = []
        for p in self.parameters:
            if progress is not None:
                progress(p.name)
            effects.append(
                categorical_effect(p, list(columns[p.name]), y, objective)
                if p.is_categorical
                else numeric_effect(p, columns[p.name], y, objective, seed=seed)
            )
        return effects

    def importance(
        self, *, seed: int = 0, method: ImportanceMethod | str = ImportanceMethod.AUTO
    ) -> ParameterImportance:
        """Model-based importance (fANOVA, or permutation without Optuna): see the module doc.

        Fitted on :meth:`importance_sample` (every compared training job when there are at
        most :data:`tuner.reports.sample.MAX_IMPORTANCE_JOBS`); the result says which.
        """
        columns, y = self._columns()
        drawn = self.importance_sample(seed=seed)
        if drawn.sampled:
            rows = np.asarray(drawn.indices, dtype=np.intp)
            columns = {name: column[rows] for name, column in columns.items()}
            y = y[rows]
        return importance_of(self.parameters, columns, y, seed=seed, method=method, sample=drawn)

    def importance_sample(self, *, seed: int = sample.SEED) -> sample.Sample:
        """The compared training jobs the importance is computed on (:mod:`~.sample`)."""
        values = np.asarray(self.comparison().values, dtype=float)
        losses = -values if self.objective.type is ObjectiveType.MAXIMIZE else values
        return sample.importance_sample(losses, seed=seed)


class TuningJobAnalytics:
    """Read-only view of one tuning job's results in ``storage`` (a SQLAlchemy URL or path).

    Args:
        job_name: The tuning job.
        storage: A :class:`SqlStorage` or its URL.
        include: Further tuning jobs to analyse together with ``job_name`` (a warm-start parent
            and its children). Their trials join the same DataFrame and statistics.

    Every method reads the database afresh; :meth:`snapshot` freezes one reading.
    """

    def __init__(
        self,
        job_name: str,
        storage: str | SqlStorage = DEFAULT_URL,
        *,
        include: Sequence[str] = (),
    ) -> None:
        self.name = job_name
        self.storage = storage if isinstance(storage, SqlStorage) else SqlStorage(storage)
        self.job = self.storage.load_job(job_name)
        names = list(dict.fromkeys([job_name, *include]))
        jobs = [self.job, *(self.storage.load_job(n) for n in names[1:])]
        objective = objective_of(self.job)
        for other in jobs[1:]:
            if objective_of(other) != objective:
                theirs = objective_of(other)
                msg = (
                    f"cannot analyse tuning jobs {job_name!r} and {other.name!r} together: "
                    f"their objectives differ ({objective.type.value} {objective.metric} vs "
                    f"{theirs.type.value} {theirs.metric})"
                )
                raise TunerError(msg)
        # Creation order, so that BestSoFar follows a parent into its children.
        self.jobs: tuple[JobRecord, ...] = tuple(
            sorted(jobs, key=lambda j: (j.created_at, names.index(j.name)))
        )

    @property
    def job_names(self) -> list[str]:
        """The analysed tuning jobs, in creation order."""
        return [j.name for j in self.jobs]

    @property
    def objective(self) -> Objective:
        return objective_of(self.job)

    @property
    def tuning_ranges(self) -> dict[str, dict[str, Any]]:
        """Tuned hyperparameter name -> its range in request form (of ``job_name``)."""
        ranges = self.job.request["HyperParameterTuningJobConfig"].get("ParameterRanges", {})
        return {r["Name"]: r for group in ranges.values() for r in group}

    @property
    def parameters(self) -> list[TunedParameter]:
        """Tuned hyperparameters with their ranges (merged across the analysed jobs)."""
        return tuned_parameters(self.jobs)

    def snapshot(self, *, comparison: str = comparable.AUTO) -> AnalyticsSnapshot:
        """The jobs and their training jobs as stored now (curves read only when needed).

        ``comparison``: which training jobs the statistics compare, one of
        :data:`tuner.reports.comparable.RULES` (``auto`` by default, see that module).
        """
        jobs = tuple(self.storage.load_job(j.name) for j in self.jobs)
        trials = tuple((j.name, t) for j in jobs for t in self.storage.trials(j.name))
        return AnalyticsSnapshot(jobs, trials, self._objective_curves, comparison)

    def _objective_curves(self) -> Curves:
        """Each training job's objective curve as an array of (epoch, value) rows.

        Read in SQL, the three columns only, in blocks of rows (a job of 100,000 training jobs
        has millions of points: Python objects for each would take gigabytes).
        """
        tj, m = schema.training_jobs, schema.metrics
        out: dict[tuple[str, int], np.ndarray] = {}
        with self.storage.engine.connect() as conn:
            for job in self.jobs:
                job_id = conn.execute(
                    select(schema.tuning_jobs.c.id).where(schema.tuning_jobs.c.name == job.name)
                ).scalar_one()
                query = (
                    select(tj.c.number, m.c.epoch, m.c.value)
                    .join(m, m.c.training_job_id == tj.c.id)
                    .where(
                        tj.c.tuning_job_id == job_id,
                        m.c.attempt == tj.c.attempt,
                        m.c.name == self.objective.metric,
                    )
                    .order_by(tj.c.number, m.c.id)
                )
                # The DB-API cursor itself: SQLAlchemy's row objects cost more than the read.
                sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
                cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                try:
                    cursor.execute(sql)
                    blocks = []
                    while block := cursor.fetchmany(_CURVE_BLOCK):
                        blocks.append(np.array(block, dtype=float))  # None (NULL) -> NaN
                finally:
                    cursor.close()
                if not blocks:
                    continue
                points = np.concatenate(blocks)
                numbers = points[:, 0].astype(np.int64)
                starts = np.flatnonzero(np.r_[True, numbers[1:] != numbers[:-1]])
                for number, curve in zip(
                    numbers[starts].tolist(), np.split(points[:, 1:], starts[1:]), strict=True
                ):
                    out[(job.name, int(number))] = curve
        return out

    def dataframe(self) -> pd.DataFrame:
        """One row per training job, ordered by job creation and trial number."""
        return self.snapshot().dataframe()

    def best_training_job(self) -> dict[str, Any]:
        """The best training job: name, hyperparameters and final objective value."""
        return self.snapshot().best_training_job()

    def correlations(self, *, seed: int = 0) -> list[ParameterEffect]:
        """Each hyperparameter's relation to the objective (see the module docstring)."""
        return self.snapshot().correlations(seed=seed)

    def importance(
        self, *, seed: int = 0, method: ImportanceMethod | str = ImportanceMethod.AUTO
    ) -> ParameterImportance:
        """Model-based importance of each hyperparameter (see the module docstring)."""
        return self.snapshot().importance(seed=seed, method=method)

    def learning_curves(
        self,
        metric_names: Sequence[str] | None = None,
        *,
        trials: Sequence[tuple[str, TrainingJobRecord]] | None = None,
    ) -> pd.DataFrame:
        """Reported metrics per epoch, one row per (training job, epoch, metric).

        Columns: :data:`LEARNING_CURVE_COLUMNS`. Only each training job's latest attempt counts.
        ``trials``: only these (tuning job name, training job) pairs' curves, read in SQL (the
        charts of a big job draw a sample, :func:`tuner.reports.html.chart_trials`).
        """
        if trials is not None:
            return self._some_learning_curves(metric_names, trials)
        rows = []
        for job in self.jobs:
            records = {t.number: t for t in self.storage.trials(job.name)}
            for number, points in self.storage.curves(job.name, metric_names).items():
                t = records.get(number)
                if t is not None:
                    rows += [
                        learning_curve_row(job.name, t, p.name, p.epoch, p.value, p.at)
                        for p in points
                    ]
        return pd.DataFrame(rows, columns=LEARNING_CURVE_COLUMNS)

    def _some_learning_curves(
        self,
        metric_names: Sequence[str] | None,
        trials: Sequence[tuple[str, TrainingJobRecord]],
    ) -> pd.DataFrame:
        wanted: dict[str, dict[int, TrainingJobRecord]] = {}
        for job_name, t in trials:
            wanted.setdefault(job_name, {})[t.number] = t
        tj, m = schema.training_jobs, schema.metrics
        rows = []
        with self.storage.engine.connect() as conn:
            for job in self.jobs:
                records = wanted.get(job.name)
                if not records:
                    continue
                job_id = conn.execute(
                    select(schema.tuning_jobs.c.id).where(schema.tuning_jobs.c.name == job.name)
                ).scalar_one()
                numbers = sorted(records)
                for start in range(0, len(numbers), _IN_CHUNK):
                    query = (
                        select(tj.c.number, m.c.epoch, m.c.name, m.c.value, m.c.at)
                        .join(m, m.c.training_job_id == tj.c.id)
                        .where(
                            tj.c.tuning_job_id == job_id,
                            m.c.attempt == tj.c.attempt,
                            tj.c.number.in_(numbers[start : start + _IN_CHUNK]),
                        )
                        .order_by(tj.c.number, m.c.id)
                    )
                    if metric_names is not None:
                        query = query.where(m.c.name.in_(list(metric_names)))
                    rows += [
                        learning_curve_row(job.name, records[number], name, epoch, value, at)
                        for number, epoch, name, value, at in conn.execute(query)
                    ]
        return pd.DataFrame(rows, columns=LEARNING_CURVE_COLUMNS)

    def export_csv(self, filename: str | Path) -> None:
        """Write :meth:`dataframe` as CSV, like the SDK's ``export_csv``."""
        self.dataframe().to_csv(filename, index=False)


def analytics(
    job_name: str, storage: str | SqlStorage = DEFAULT_URL, *, include: Sequence[str] = ()
) -> TuningJobAnalytics:
    """Shortcut for :class:`TuningJobAnalytics`."""
    return TuningJobAnalytics(job_name, storage, include=include)
