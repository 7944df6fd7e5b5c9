"""Read-only queries behind the dashboard, each paginated or aggregated in SQL.

The dashboard opens the database through its own engine, never through :class:`SqlStorage`
(whose constructor creates tables and records the schema version). A SQLite file is opened
with ``mode=ro`` and ``PRAGMA query_only``, so no statement can write to it; in WAL mode a
reader never blocks the coordinator, and every query here is one short autocommit read, so
no snapshot is held open against the coordinator's checkpoints. Any other SQLAlchemy URL
works too (PostgreSQL sessions are marked read-only).

Nothing reads a whole job into memory: counters come from ``GROUP BY``, the trials table
from ``LIMIT``/``OFFSET`` with the sort and filter in SQL, and the charts (see
:mod:`tuner.dashboard.charts`) from at most a few columns of the scored trials plus samples.

Statuses are shown as AMT shows them (a Pending training job is InProgress), with the
counters of ``DescribeHyperParameterTuningJob``.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    ColumnElement,
    Engine,
    Float,
    case,
    cast,
    create_engine,
    event,
    func,
    inspect,
    literal,
    null,
    select,
    true,
    type_coerce,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import QueuePool

from tuner.dashboard.stops import describe_stop, stop_report
from tuner.describe import objective_of, timestamp
from tuner.errors import JobNotFoundError, StorageError
from tuner.objective import Objective, ObjectiveType
from tuner.pools.trial_runner import LOG_NAME
from tuner.status import (
    ObjectiveStatus,
    StatusCounters,
    TrialStatus,
    amt_training_status,
    objective_status_for,
)
from tuner.storage import schema as s
from tuner.storage.migrations.run import current_version, refuse_newer
from tuner.storage.records import (
    JobRecord,
    TrainingJobRecord,
    job_record_from_row,
    training_job_record_from_row,
)
from tuner.storage.sql import normalise_url

#: Rows of the trials table per page: the default and the most a request may ask for.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
#: Bytes and lines of a training job's log shown on its page.
LOG_TAIL_BYTES = 64 * 1024
LOG_TAIL_LINES = 200
#: Epochs of one training job's metrics shown at most (evenly spaced, the last one kept).
MAX_EPOCH_ROWS = 1000
#: Seconds a running job's scored series is shared between requests; jobs whose series is kept.
SERIES_TTL_S = 2.0
MAX_CACHED_SERIES = 4
#: Numbers per ``IN (...)`` clause: well below SQLite's oldest limit of 999 variables.
_IN_CHUNK = 500

#: The status filter of the trials table: AMT's status -> the stored statuses it covers.
_S = TrialStatus
STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "InProgress": (_S.PENDING.value, _S.IN_PROGRESS.value),
    "Completed": (_S.COMPLETED.value,),
    "Failed": (_S.FAILED.value,),
    "Stopped": (_S.STOPPED.value,),
}
_SCORED_STATUSES = (_S.COMPLETED.value, _S.STOPPED.value)
_RUNNING_STATUSES = STATUS_FILTERS["InProgress"]
_tj, _m, _jobs = s.training_jobs, s.metrics, s.tuning_jobs


def finite(value: float | None) -> float | None:
    """A float for JSON: None for None, NaN and infinities."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def iso(seconds: float | None) -> str | None:
    stamp = timestamp(seconds)
    return None if stamp is None else stamp.isoformat(timespec="seconds")


# ----------------------------------------------------------------------------------------------
# The read-only engine
# ----------------------------------------------------------------------------------------------
def _sqlite_reader_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def open_read_only(url: str) -> Engine:
    """An engine that can only read ``url`` (a SQLAlchemy URL or a SQLite file path).

    Raises:
        StorageError: the SQLite file does not exist, or the URL cannot be used.
    """
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except SQLAlchemyError as exc:
        msg = f"not a database URL: {url!r} ({exc})"
        raise StorageError(msg) from exc
    if parsed.get_backend_name() != "sqlite":
        options: dict[str, Any] = {}
        if parsed.get_backend_name() == "postgresql":
            options["postgresql_readonly"] = True
        return create_engine(url, pool_pre_ping=True, execution_options=options)
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        msg = f"the dashboard needs a SQLite file, got {url!r}"
        raise StorageError(msg)
    path = Path(database).expanduser().resolve()
    if not path.is_file():
        msg = f"no database at {path} (from {url!r}): run a tuning job first, or pass --db"
        raise StorageError(msg)
    uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=10.0)

    # "sqlite://" with a creator: SQLAlchemy's dialect, our read-only connections, and a real
    # pool (the URL alone would pick the in-memory database's single-connection pool).
    engine = create_engine(
        "sqlite://", creator=connect, poolclass=QueuePool, pool_size=4, max_overflow=8
    )
    event.listen(engine, "connect", _sqlite_reader_pragmas)
    return engine


# ----------------------------------------------------------------------------------------------
# Counters
# ----------------------------------------------------------------------------------------------
@dataclass
class Counters:
    """AMT's two status counters (:class:`~tuner.status.StatusCounters`) plus the best value."""

    counted: StatusCounters = field(default_factory=StatusCounters)
    best_value: float | None = None

    @property
    def total(self) -> int:
        return self.counted.total

    def add(
        self,
        status: str,
        retryable: bool | None,
        has_value: bool,
        count: int,
        low: float | None,
        high: float | None,
        objective: Objective,
    ) -> None:
        """Fold in one ``GROUP BY`` row (see :func:`_counter_rows`)."""
        self.counted.add(status, retryable=retryable, has_value=has_value, count=count)
        if objective_status_for(status, has_value) is ObjectiveStatus.SUCCEEDED:
            best = finite(low if objective.type is ObjectiveType.MINIMIZE else high)
            if best is not None and objective.is_better(best, self.best_value):
                self.best_value = best

    def to_dict(self) -> dict[str, Any]:
        return {
            "TrainingJobStatusCounters": self.counted.status,
            "ObjectiveStatusCounters": self.counted.objective,
            "TrainingJobs": self.total,
        }


def _counter_rows(job_ids: Sequence[int] | None) -> Any:
    has_value = _tj.c.final_value.is_not(None).label("has_value")
    query = select(
        _tj.c.tuning_job_id,
        _tj.c.status,
        _tj.c.retryable,
        has_value,
        func.count(),
        func.min(_tj.c.final_value),
        func.max(_tj.c.final_value),
    ).group_by(_tj.c.tuning_job_id, _tj.c.status, _tj.c.retryable, has_value)
    if job_ids is not None:
        query = query.where(_tj.c.tuning_job_id.in_(list(job_ids)))
    return query


# ----------------------------------------------------------------------------------------------
# The reader
# ----------------------------------------------------------------------------------------------
_JOB_COLUMNS = (
    _jobs.c.id,
    _jobs.c.name,
    _jobs.c.request_json,
    _jobs.c.strategy,
    _jobs.c.status,
    _jobs.c.failure_reason,
    _jobs.c.seed,
    _jobs.c.created_at,
    _jobs.c.ended_at,
    _jobs.c.last_modified_at,
    _jobs.c.completion_json,
)

JOB_SORTS = ("name", "status", "strategy", "created", "duration", "trials", "best")
TRIAL_SORTS = ("number", "name", "status", "objective", "created", "started", "ended", "duration")
#: A trials-table sort by a tuned hyperparameter: ``hp:<name>`` (numeric ranges by value).
HYPERPARAMETER_SORT = "hp:"


@dataclass(frozen=True)
class LoadedJob:
    """A tuning job row with its database id (callable blob left out)."""

    id: int
    record: JobRecord

    @property
    def objective(self) -> Objective:
        return objective_of(self.record)


@dataclass(frozen=True)
class ScoredSeries:
    """Every scored training job of a job (objective Succeeded), ordered by number."""

    numbers: np.ndarray  # int
    values: np.ndarray  # float, as reported
    stopped: np.ndarray  # bool: stopped early


class DashboardReader:
    """Every read the dashboard makes, against one read-only engine.

    Args:
        url: SQLAlchemy URL or SQLite file path.
        clock: Seconds since the epoch (durations of running jobs); injected by tests.
    """

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:
        self.url = normalise_url(url)
        self.engine = open_read_only(self.url)
        database = make_url(self.url).database
        #: The SQLite file's folder, where relative output folders are also looked for.
        self.base_dir = (
            Path(database).expanduser().resolve().parent
            if self.engine.dialect.name == "sqlite" and database
            else None
        )
        self.clock = clock
        self._series: dict[int, tuple[tuple[Any, ...], float, ScoredSeries]] = {}
        self._series_lock = threading.Lock()
        try:
            tables = set(inspect(self.engine).get_table_names())
            columns = (
                {c["name"] for c in inspect(self.engine).get_columns("training_jobs")}
                if "training_jobs" in tables
                else set()
            )
        except SQLAlchemyError as exc:
            msg = f"cannot read the database {self.url}: {exc}"
            raise StorageError(msg) from exc
        missing = {"tuning_jobs", "training_jobs", "metrics"} - tables
        if missing:
            msg = (
                f"{self.url} is not a tuner database (no table {', '.join(sorted(missing))}); "
                "point --db at the database your tuning jobs use"
            )
            raise StorageError(msg)
        with self.engine.connect() as conn:  # a newer tuner's database: refused, not guessed at
            refuse_newer(current_version(conn), self.url)
        # Databases from before schema version 2 have no retry reasons; show none.
        self._retry_reasons = (
            _tj.c.retry_reasons_json
            if "retry_reasons_json" in columns
            else null().label("retry_reasons_json")
        )

    def close(self) -> None:
        self.engine.dispose()

    def _rows(self, query: Any) -> list[Any]:
        try:
            with self.engine.connect() as conn:
                return list(conn.execute(query).all())
        except SQLAlchemyError as exc:
            msg = f"database read failed ({self.url}): {exc}"
            raise StorageError(msg) from exc

    def _tuples(self, query: Any) -> list[tuple[Any, ...]]:
        """Rows as the driver's plain tuples: for long numeric columns (5x faster to read).

        Only for queries whose values need no conversion by SQLAlchemy (numbers, booleans).
        """
        try:
            with self.engine.connect() as conn:
                result = conn.execute(query)
                cursor = getattr(result, "cursor", None)
                if cursor is None:
                    return [tuple(r) for r in result]
                return list(cursor.fetchall())
        except SQLAlchemyError as exc:
            msg = f"database read failed ({self.url}): {exc}"
            raise StorageError(msg) from exc

    # -- tuning jobs ----------------------------------------------------------------------------
    @staticmethod
    def _loaded(row: Any) -> LoadedJob:
        record = job_record_from_row(row)
        return LoadedJob(row.id, record)

    def load_job(self, name: str) -> LoadedJob:
        rows = self._rows(select(*_JOB_COLUMNS).where(_jobs.c.name == name))
        if not rows:
            msg = f"no tuning job named {name!r}"
            raise JobNotFoundError(msg)
        return self._loaded(rows[0])

    def _counters(self, jobs: Mapping[int, LoadedJob], *, restrict: bool) -> dict[int, Counters]:
        out = {job_id: Counters() for job_id in jobs}
        rows = self._rows(_counter_rows(list(jobs) if restrict else None))
        for job_id, status, retryable, has_value, count, low, high in rows:
            if job_id in out:
                out[job_id].add(
                    status, retryable, bool(has_value), count, low, high, jobs[job_id].objective
                )
        return out

    def _duration(self, job: JobRecord) -> float:
        end = job.ended_at if job.status.is_terminal else None
        return max(0.0, (end if end is not None else self.clock()) - job.created_at)

    def _job_summary(self, job: LoadedJob, counters: Counters) -> dict[str, Any]:
        record = job.record
        config = record.request.get("HyperParameterTuningJobConfig", {})
        objective = job.objective
        return {
            "HyperParameterTuningJobName": record.name,
            "HyperParameterTuningJobStatus": record.status,
            "Strategy": config.get("Strategy", record.strategy),
            "Objective": {"MetricName": objective.metric, "Type": objective.type.value},
            "CreationTime": iso(record.created_at),
            "HyperParameterTuningEndTime": iso(record.ended_at)
            if record.status.is_terminal
            else None,
            "LastModifiedTime": iso(record.last_modified_at),
            "DurationSeconds": round(self._duration(record), 1),
            "BestObjectiveValue": counters.best_value,
            "MaxNumberOfTrainingJobs": config.get("ResourceLimits", {}).get(
                "MaxNumberOfTrainingJobs"
            ),
            "IsLive": not record.status.is_terminal,
            **counters.to_dict(),
        }

    def list_jobs(
        self,
        *,
        search: str = "",
        sort: str = "created",
        order: str = "desc",
        page: int = 1,
        per_page: int = DEFAULT_PAGE_SIZE,
    ) -> dict[str, Any]:
        """Tuning jobs whose name contains ``search`` (any case), sorted and paginated.

        Counters and best values come from one ``GROUP BY`` over the matching jobs' training
        jobs; sorting happens on those aggregates (a database holds few tuning jobs).
        """
        sort = _choice("sort", sort, JOB_SORTS)
        order = _choice("order", order, ("asc", "desc"))
        page, per_page = _page(page, per_page)
        query = select(*_JOB_COLUMNS)
        if search:
            escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(func.lower(_jobs.c.name).like(f"%{escaped}%", escape="\\"))
        jobs = {row.id: self._loaded(row) for row in self._rows(query)}
        counters = self._counters(jobs, restrict=bool(search))
        summaries = [self._job_summary(jobs[i], counters[i]) for i in jobs]

        def value(summary: dict[str, Any]) -> Any:
            return {
                "name": summary["HyperParameterTuningJobName"].lower(),
                "status": summary["HyperParameterTuningJobStatus"],
                "strategy": summary["Strategy"],
                "created": summary["CreationTime"],
                "duration": summary["DurationSeconds"],
                "trials": summary["TrainingJobs"],
                "best": summary["BestObjectiveValue"],
            }[sort]

        # Jobs without a value (no best yet) go last in either order, by name.
        summaries.sort(key=lambda j: j["HyperParameterTuningJobName"].lower())
        valued = [j for j in summaries if value(j) is not None]
        valued.sort(key=value, reverse=order == "desc")
        summaries = valued + [j for j in summaries if value(j) is None]
        start = (page - 1) * per_page
        return {
            "TuningJobs": summaries[start : start + per_page],
            "Total": len(summaries),
            "Page": page,
            "PerPage": per_page,
            "Sort": sort,
            "Order": order,
            "Search": search,
        }

    def job_summary(self, name: str) -> dict[str, Any]:
        """Status, counters, the best training job and completion details of one job."""
        job = self.load_job(name)
        counters = self._counters({job.id: job}, restrict=True)[job.id]
        summary = self._job_summary(job, counters)
        summary["FailureReason"] = job.record.failure_reason
        summary["TuningJobCompletionDetails"] = dict(job.record.completion) or None
        summary["TunedHyperParameters"] = list(_tuned_names(job.record))
        best = self.best_trial(job, counters.best_value)
        summary["BestTrainingJob"] = (
            None
            if best is None
            else {
                "TrainingJobName": best.name,
                "TrialNumber": best.number,
                "TrainingJobStatus": amt_training_status(best.status),
                "FinalObjectiveValue": finite(best.final_value),
                "TunedHyperParameters": dict(best.hyperparameters),
            }
        )
        return summary

    def best_trial(self, job: LoadedJob, best_value: float | None) -> TrainingJobRecord | None:
        """The scored training job with ``best_value``; the lowest number wins ties."""
        if best_value is None:
            return None
        rows = self._rows(
            self._trial_select()
            .where(
                _tj.c.tuning_job_id == job.id,
                _tj.c.status.in_(_SCORED_STATUSES),
                _tj.c.final_value == best_value,
            )
            .order_by(_tj.c.number)
            .limit(1)
        )
        return training_job_record_from_row(rows[0]) if rows else None

    # -- training jobs --------------------------------------------------------------------------
    def _trial_select(self) -> Any:
        return select(
            _tj.c.id,
            _tj.c.number,
            _tj.c.name,
            _tj.c.hyperparameters_json,
            _tj.c.status,
            _tj.c.final_value,
            _tj.c.final_metrics_json,
            _tj.c.created_at,
            _tj.c.started_at,
            _tj.c.ended_at,
            _tj.c.failure_reason,
            _tj.c.retryable,
            _tj.c.attempt,
            self._retry_reasons,
            _tj.c.n_reports,
            _tj.c.bracket,
            _tj.c.worker,
            _tj.c.output_dir,
        )

    def trials_page(
        self,
        name: str,
        *,
        page: int = 1,
        per_page: int = DEFAULT_PAGE_SIZE,
        sort: str = "number",
        order: str = "asc",
        status: str | None = None,
    ) -> dict[str, Any]:
        """One page of the trials table, sorted and filtered in SQL.

        Sorting by objective puts training jobs without a value last, as AMT leaves them out.
        ``EpochsReported`` is the highest epoch reported so far (running jobs included).
        """
        job = self.load_job(name)
        tuned = _tuned_kinds(job.record)
        sort = _trial_sort(sort, tuned)
        order = _choice("order", order, ("asc", "desc"))
        if status in ("", "All"):
            status = None
        if status is not None:
            status = _choice("status", status, tuple(STATUS_FILTERS))
        page, per_page = _page(page, per_page)
        where: list[ColumnElement[bool]] = [_tj.c.tuning_job_id == job.id]
        if status is not None:
            where.append(_tj.c.status.in_(STATUS_FILTERS[status]))
        total = self._rows(select(func.count()).select_from(_tj).where(*where))[0][0]
        key = self._sort_expression(sort, tuned)
        direction = key.desc() if order == "desc" else key.asc()
        tiebreak = _tj.c.number.desc() if order == "desc" else _tj.c.number.asc()
        ordering = (
            [direction, tiebreak] if sort == "number" else [key.is_(None), direction, tiebreak]
        )
        # Sort and skip on ids alone, then read the page's rows: SQLite's sorter then holds
        # small records instead of whole rows (hyperparameters and all), 5x faster deep down.
        page_ids = [
            r[0]
            for r in self._rows(
                select(_tj.c.id)
                .where(*where)
                .order_by(*ordering)
                .limit(per_page)
                .offset((page - 1) * per_page)
            )
        ]
        position = {trial_id: i for i, trial_id in enumerate(page_ids)}
        rows = self._rows(self._trial_select().where(_tj.c.id.in_(page_ids))) if page_ids else []
        rows.sort(key=lambda r: position[r.id])
        records = [(r.id, training_job_record_from_row(r)) for r in rows]
        epochs = self._latest_epochs({i: t.attempt for i, t in records})
        objective = job.objective
        return {
            "TuningJobName": job.record.name,
            "TrainingJobs": [self._trial_row(t, epochs.get(i, 0), objective) for i, t in records],
            "Total": total,
            "Page": page,
            "PerPage": per_page,
            "Sort": sort,
            "Order": order,
            "Status": status or "All",
            "TunedHyperParameters": list(tuned),
        }

    def _sort_expression(self, sort: str, tuned: Mapping[str, bool]) -> Any:
        if sort.startswith(HYPERPARAMETER_SORT):
            name = sort[len(HYPERPARAMETER_SORT) :]
            return self._hyperparameter_value(name, numeric=tuned[name])
        now = literal(self.clock())
        scored = case((_tj.c.status.in_(_SCORED_STATUSES), _tj.c.final_value), else_=null())
        return {
            "number": _tj.c.number,
            "name": _tj.c.name,
            "status": case(
                (_tj.c.status == _S.PENDING.value, literal(_S.IN_PROGRESS.value)),
                else_=_tj.c.status,
            ),
            "objective": scored,
            "created": _tj.c.created_at,
            "started": _tj.c.started_at,
            "ended": _tj.c.ended_at,
            "duration": func.coalesce(_tj.c.ended_at, now) - _tj.c.started_at,
        }[sort]

    def _hyperparameter_value(self, name: str, *, numeric: bool) -> Any:
        """One hyperparameter out of the stored JSON, in SQL, as a number for numeric ranges.

        Values are stored as AMT's strings ("0.1", "7"): sorted as text, "10" would come
        before "9". SQLite reads the TEXT column as JSON as it is; other databases need a cast.
        A training job without the hyperparameter (warm start from another space) gets NULL
        and sorts last.
        """
        column = _tj.c.hyperparameters_json
        document = (
            type_coerce(column, JSON)
            if self.engine.dialect.name == "sqlite"
            else cast(column, JSON)
        )
        value = document[name].as_string()
        return cast(value, Float) if numeric else value

    def _latest_epochs(self, attempts: Mapping[int, int]) -> dict[int, int]:
        """Highest epoch reported by each training job id's current attempt."""
        out: dict[int, int] = {}
        ids = list(attempts)
        for chunk in _chunks(ids):
            rows = self._rows(
                select(_m.c.training_job_id, _m.c.attempt, func.max(_m.c.epoch))
                .where(_m.c.training_job_id.in_(chunk))
                .group_by(_m.c.training_job_id, _m.c.attempt)
            )
            for trial_id, attempt, epoch in rows:
                if attempts.get(trial_id) == attempt:
                    out[trial_id] = int(epoch)
        return out

    def _trial_row(
        self, t: TrainingJobRecord, epochs: int, objective: Objective
    ) -> dict[str, Any]:
        value = finite(t.final_value) if t.status in _SCORED_STATUSES else None
        end = t.ended_at if t.ended_at is not None else self.clock()
        return {
            "TrialNumber": t.number,
            "TrainingJobName": t.name,
            "TrainingJobStatus": amt_training_status(t.status),
            "FinalObjectiveValue": value,
            "ObjectiveMetricName": objective.metric,
            "EpochsReported": max(epochs, t.n_reports),
            "StoppedEarly": t.status is TrialStatus.STOPPED,
            "TunedHyperParameters": dict(t.hyperparameters),
            "CreationTime": iso(t.created_at),
            "TrainingStartTime": iso(t.started_at),
            "TrainingEndTime": iso(t.ended_at),
            "DurationSeconds": None
            if t.started_at is None
            else round(max(0.0, end - t.started_at), 1),
            "FailureReason": t.failure_reason,
            "Attempts": t.attempt,
        }

    def trial(self, name: str, number: int) -> dict[str, Any]:
        """One training job: hyperparameters, status, metrics by epoch and its log's tail."""
        job = self.load_job(name)
        rows = self._rows(
            self._trial_select().where(_tj.c.tuning_job_id == job.id, _tj.c.number == number)
        )
        if not rows:
            msg = f"tuning job {name!r} has no training job number {number}"
            raise JobNotFoundError(msg)
        trial_id, t = rows[0].id, training_job_record_from_row(rows[0])
        mine = (_m.c.training_job_id == trial_id, _m.c.attempt == t.attempt)
        n_epochs, last = self._rows(
            select(func.count(_m.c.epoch.distinct()), func.max(_m.c.epoch)).where(*mine)
        )[0]
        step = math.ceil(n_epochs / MAX_EPOCH_ROWS) if n_epochs > MAX_EPOCH_ROWS else 1
        metric_rows = self._rows(
            select(_m.c.epoch, _m.c.name, _m.c.value)
            .where(*mine, _every_kth_epoch(step))
            .order_by(_m.c.epoch, _m.c.id)
        )
        names = list(dict.fromkeys(r.name for r in metric_rows))
        by_epoch: dict[int, dict[str, float | None]] = {}
        for epoch, metric, value in metric_rows:
            by_epoch.setdefault(int(epoch), {})[metric] = finite(value)
        epochs = sorted(by_epoch)
        shown = [epochs[i] for i in evenly_spaced(len(epochs), MAX_EPOCH_ROWS)]
        objective = job.objective
        row = self._trial_row(t, int(last or 0), objective)
        row.update(
            {
                "TuningJobName": job.record.name,
                "TuningJobStatus": job.record.status,
                "FinalMetrics": {k: finite(v) for k, v in t.final_metrics.items()},
                "RetryReasons": list(t.retry_reasons),
                "Worker": t.worker,
                "Bracket": t.bracket,
                "MetricNames": names,
                "Metrics": [{"Epoch": e, "Values": by_epoch[e]} for e in shown],
                "EpochsShown": len(shown),
                "EpochsTotal": int(n_epochs),
                "IsLive": not t.status.is_finished,
                "Log": read_log_tail(t.output_dir, base_dir=self.base_dir),
                "StopNote": self._stop_note(trial_id, t, objective.metric)
                if t.status is TrialStatus.STOPPED
                else None,
            }
        )
        return row

    def _stop_note(self, trial_id: int, t: TrainingJobRecord, metric: str) -> dict[str, Any]:
        """Why a stopped training job stopped, with the epoch and value the rule looked at.

        The rules count reports, not epoch numbers (see :mod:`strategies.median_rule`), so
        the N-th objective report of the current attempt names the epoch and the value.
        """
        at = stop_report(t.failure_reason)
        report = None
        if at is not None:
            rows = self._rows(
                select(_m.c.epoch, _m.c.value)
                .where(
                    _m.c.training_job_id == trial_id,
                    _m.c.attempt == t.attempt,
                    _m.c.name == metric,
                )
                .order_by(_m.c.epoch, _m.c.id)
                .offset(at - 1)
                .limit(1)
            )
            if rows:
                report = (int(rows[0][0]), finite(rows[0][1]))
        return describe_stop(t.failure_reason, metric, report, t.bracket)

    # -- chart inputs ---------------------------------------------------------------------------
    def scored_series(self, job: LoadedJob) -> ScoredSeries:
        """Number, value and stopped flag of every scored training job (three columns).

        The charts of one page load all need it at once: it is read once and shared, for
        :data:`SERIES_TTL_S` seconds while the job runs, and until the job changes status
        (a resume) once it has ended.
        """
        key = (job.record.status, job.record.last_modified_at)
        live = not job.record.status.is_terminal
        with self._series_lock:
            hit = self._series.get(job.id)
            fresh = hit is not None and (not live or time.monotonic() - hit[1] < SERIES_TTL_S)
            if hit is not None and hit[0] == key and fresh:
                return hit[2]
            series = self._read_series(job)
            self._series[job.id] = (key, time.monotonic(), series)
            while len(self._series) > MAX_CACHED_SERIES:
                self._series.pop(next(iter(self._series)))
            return series

    def _read_series(self, job: LoadedJob) -> ScoredSeries:
        rows = self._tuples(
            select(
                _tj.c.number,
                _tj.c.final_value,
                case((_tj.c.status == _S.STOPPED.value, 1), else_=0),
            )
            .where(
                _tj.c.tuning_job_id == job.id,
                _tj.c.status.in_(_SCORED_STATUSES),
                _tj.c.final_value.is_not(None),
            )
            .order_by(_tj.c.number)
        )
        table = np.array(rows, dtype=float).reshape(len(rows), 3)
        keep = np.isfinite(table[:, 1])
        return ScoredSeries(
            table[keep, 0].astype(np.int64), table[keep, 1], table[keep, 2].astype(bool)
        )

    def trials_by_number(self, job: LoadedJob, numbers: Iterable[int]) -> list[TrainingJobRecord]:
        """Training jobs of ``job`` with these numbers, ordered by number."""
        out: list[TrainingJobRecord] = []
        for chunk in _chunks(sorted({int(n) for n in numbers})):
            rows = self._rows(
                self._trial_select().where(_tj.c.tuning_job_id == job.id, _tj.c.number.in_(chunk))
            )
            out.extend(training_job_record_from_row(r) for r in rows)
        out.sort(key=lambda t: t.number)
        return out

    def curve_candidates(self, job: LoadedJob, *, limit: int) -> dict[str, list[int]]:
        """Numbers of training jobs worth a learning curve: running and stopped ones.

        Running: the most recent ``limit``. Stopped early: every ``k``-th, at most ``limit``.
        """
        running = self._rows(
            select(_tj.c.number)
            .where(_tj.c.tuning_job_id == job.id, _tj.c.status.in_(_RUNNING_STATUSES))
            .order_by(_tj.c.number.desc())
            .limit(limit)
        )
        n_stopped = self._rows(
            select(func.count())
            .select_from(_tj)
            .where(_tj.c.tuning_job_id == job.id, _tj.c.status == _S.STOPPED.value)
        )[0][0]
        # Every k-th stopped job, so that they spread over the whole job.
        step = max(1, math.ceil(n_stopped / max(1, limit)))
        stopped = self._rows(
            select(_tj.c.number)
            .where(
                _tj.c.tuning_job_id == job.id,
                _tj.c.status == _S.STOPPED.value,
                _tj.c.number % step == 0 if step > 1 else true(),
            )
            .order_by(_tj.c.number)
            .limit(limit)
        )
        return {"running": [r[0] for r in running], "stopped": [r[0] for r in stopped]}

    def curve_points(
        self, job: LoadedJob, numbers: Iterable[int], *, max_points: int
    ) -> tuple[dict[int, TrainingJobRecord], list[tuple[int, int, str, float]]]:
        """The training jobs and their current attempt's (number, epoch, metric, value) rows.

        Jobs with more than ``max_points`` epochs come back thinned in SQL: every k-th epoch,
        plus the first and the last (where a stopped job stopped).
        """
        trials = {t.number: t for t in self.trials_by_number(job, numbers)}
        points: list[tuple[int, int, str, float]] = []
        for chunk in _chunks(sorted(trials)):
            mine = (
                _tj.c.tuning_job_id == job.id,
                _tj.c.number.in_(chunk),
                _m.c.attempt == _tj.c.attempt,
            )
            joined = select(func.max(_m.c.epoch)).join(_m, _m.c.training_job_id == _tj.c.id)
            last = self._rows(joined.where(*mine))[0][0] or 0
            step = math.ceil(last / max_points) if last > max_points else 1
            rows = self._tuples(
                select(_tj.c.number, _m.c.epoch, _m.c.name, _m.c.value)
                .join(_m, _m.c.training_job_id == _tj.c.id)
                .where(*mine, _every_kth_epoch(step))
                .order_by(_tj.c.number, _m.c.epoch, _m.c.id)
            )
            points.extend((int(n), int(e), str(k), float(v)) for n, e, k, v in rows)
        return trials, points

    def fingerprint(self, job: LoadedJob) -> tuple[Any, ...]:
        """Changes whenever a training job ends or starts (cache key of the analysis)."""
        row = self._rows(
            select(
                func.count(),
                func.max(_tj.c.ended_at),
                func.max(_tj.c.created_at),
            ).where(_tj.c.tuning_job_id == job.id)
        )[0]
        return (job.id, job.record.status, *row)


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------
def _tuned_names(job: JobRecord) -> Iterable[str]:
    return _tuned_kinds(job).keys()


def _tuned_kinds(job: JobRecord) -> dict[str, bool]:
    """Each tuned hyperparameter's name, in the spec's order -> whether its range is numeric."""
    groups = job.request.get("HyperParameterTuningJobConfig", {}).get("ParameterRanges") or {}
    out: dict[str, bool] = {}
    for group, items in groups.items():
        for item in items or []:
            out[item["Name"]] = not group.startswith("Categorical")
    return out


def _trial_sort(sort: str, tuned: Mapping[str, bool]) -> str:
    """``sort`` if the trials table can sort by it: a column, or ``hp:`` a tuned name."""
    if sort.startswith(HYPERPARAMETER_SORT) and sort[len(HYPERPARAMETER_SORT) :] in tuned:
        return sort
    return _choice("sort", sort, [*TRIAL_SORTS, *(HYPERPARAMETER_SORT + n for n in tuned)])


def _choice(field: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        msg = f"{field} must be one of {', '.join(allowed)}, got {value!r}"
        raise ValueError(msg)
    return value


def _page(page: int, per_page: int) -> tuple[int, int]:
    if page < 1:
        msg = f"page must be >= 1, got {page}"
        raise ValueError(msg)
    if not 1 <= per_page <= MAX_PAGE_SIZE:
        msg = f"per_page must be between 1 and {MAX_PAGE_SIZE}, got {per_page}"
        raise ValueError(msg)
    return page, per_page


def _every_kth_epoch(step: int) -> ColumnElement[bool]:
    """Metric rows at every ``step``-th epoch, the first, and each training job's last."""
    if step <= 1:
        return true()
    later = s.metrics.alias("later")
    last = (
        select(func.max(later.c.epoch))
        .where(later.c.training_job_id == _m.c.training_job_id, later.c.attempt == _m.c.attempt)
        .scalar_subquery()
    )
    return (_m.c.epoch % step == 0) | (_m.c.epoch == 1) | (_m.c.epoch == last)


def _chunks(values: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield list(values[start : start + _IN_CHUNK])


def evenly_spaced(n: int, k: int) -> list[int]:
    """At most ``k`` indices of ``range(n)``, evenly spaced, first and last included."""
    if n <= k:
        return list(range(n))
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, k)})


def read_log_tail(output_dir: str | None, *, base_dir: Path | None = None) -> dict[str, Any]:
    """The last lines of a training job's log (``training-job.log`` in its output folder).

    Only that one file name is read, inside the folder the coordinator recorded (a relative
    folder is looked up from the working directory, then from ``base_dir``, the database's
    folder); a log on another machine (a Ray cluster) shows as missing.
    """
    if not output_dir:
        return {"Path": None, "Lines": [], "Truncated": False, "Found": False}
    path = Path(output_dir) / LOG_NAME
    if not path.is_absolute() and not path.exists() and base_dir is not None:
        path = base_dir / path
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - LOG_TAIL_BYTES))
            data = f.read()
    except OSError:
        return {"Path": str(path), "Lines": [], "Truncated": False, "Found": False}
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > LOG_TAIL_BYTES and lines:
        lines = lines[1:]  # the first line is probably cut
    truncated = size > LOG_TAIL_BYTES or len(lines) > LOG_TAIL_LINES
    return {
        "Path": str(path),
        "Lines": lines[-LOG_TAIL_LINES:],
        "Truncated": truncated,
        "Found": True,
    }


__all__ = [
    "DashboardReader",
    "LoadedJob",
    "ScoredSeries",
    "open_read_only",
    "read_log_tail",
    "evenly_spaced",
    "finite",
    "iso",
]
