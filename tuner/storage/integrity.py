"""A read-only integrity check of a tuner database, for ``tuner db check [--db URL]``.

:func:`check_database` runs every check below and returns one :class:`Check` each; it never
writes. It opens one connection (``engine.connect()``), reads with SELECT and PRAGMA only, and
asks the database to refuse writes on it (SQLite: ``PRAGMA query_only``, restored afterwards;
PostgreSQL: a READ ONLY, REPEATABLE READ transaction). A SQLite file that does not exist is
reported, not created. Pass a plain ``sqlalchemy.create_engine(url)``: ``SqlStorage``'s engine
sets WAL mode on connect, which writes to a file not yet in WAL mode.

Every check aggregates in SQL (``GROUP BY``, ``LEFT JOIN``, ``count``) and fetches at most
:data:`MAX_EXAMPLES` example rows, so a database of 100,000 training jobs is checked in a few
scans. A check whose query fails (a missing table, a damaged file) is a problem saying why; the
other checks still run. Why each check exists:

``schema_version``
    The engine migrates a database on open and refuses a newer one; an older file needs
    ``tuner db upgrade``, a newer one a newer tuner, and a file without the table (or the
    engine's tables) is not a tuner database at all.
``sqlite_integrity`` (SQLite only)
    ``PRAGMA integrity_check``: a damaged page or index (a copied file mid-write, a full disk)
    gives wrong answers long before it gives errors.
``foreign_keys``
    ``delete_job`` deletes children by hand and SQLite enforces foreign keys only where the
    connection asked for it, so a training job without its tuning job, or metrics of a deleted
    training job, can exist; they are invisible to every reader and count in no total.
``statuses``
    Readers parse statuses into ``JobStatus`` and ``TrialStatus``: an unknown value breaks
    ``tuner describe`` and the dashboard. A finished training job without ``ended_at`` has no
    run time, an InProgress one without ``started_at`` no start, and both break timing.
``ended_jobs_have_no_running_trials``
    A Completed, Failed or Stopped tuning job is never resumed, so a Pending or InProgress
    training job under it would stay so for ever and its counters would never add up.
``training_job_numbers``
    Trials are numbered 1..N in creation order, a strategy replays its history by number, and
    DescribeTrainingJob resolves a name to one training job: a gap, a duplicate or a reused
    name makes a resume or a lookup pick the wrong trial.
``report_counters``
    ``n_reports`` (EpochsReported) is written when a trial ends; a report may hold only
    non-finite values, which are not stored, so fewer stored epochs than reports is fine, but
    more means the counter was lost. A Failed training job has no objective: a ``final_value``
    would make it a candidate for the best training job.
``max_jobs``
    The coordinator stops creating trials at ``MaxNumberOfTrainingJobs``; more means two
    coordinators ran the job at once (the lease failed) or rows were copied in. Jobs of several
    algorithms, and requests without the limit, are skipped.
"""

from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Select,
    and_,
    distinct,
    func,
    inspect,
    or_,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from strategies.base import TrialStatus
from tuner.status import JobStatus
from tuner.storage import schema as s
from tuner.storage.sql import sqlite_file

__all__ = ["MAX_EXAMPLES", "Check", "CheckStatus", "check_database"]

#: The most examples (jobs, training jobs, messages) one check's detail names.
MAX_EXAMPLES = 5

_JOB_STATUSES = [status.value for status in JobStatus]
_TRIAL_STATUSES = [status.value for status in TrialStatus]
_TERMINAL_JOB = [status.value for status in JobStatus if status.is_terminal]
_FINISHED_TRIAL = [status.value for status in TrialStatus if status.is_finished]
_RUNNING_TRIAL = [TrialStatus.PENDING.value, TrialStatus.IN_PROGRESS.value]
_ENGINE_TABLES = (s.tuning_jobs.name, s.training_jobs.name, s.metrics.name)

_j, _tj, _m = s.tuning_jobs, s.training_jobs, s.metrics


class CheckStatus(str, enum.Enum):
    """A check's outcome: only two, so a script can test ``Status == "ok"``."""

    OK = "ok"
    PROBLEM = "problem"


@dataclass(frozen=True)
class Check:
    """One check's outcome; ``detail`` is one sentence naming what is wrong and where."""

    name: str
    status: CheckStatus
    detail: str

    def as_json(self) -> dict[str, str]:
        """The check as ``tuner db check --json`` prints it (AMT-style capitalised keys)."""
        return {"Name": self.name, "Status": self.status.value, "Detail": self.detail}


def _ok(name: str, detail: str) -> Check:
    return Check(name, CheckStatus.OK, detail)


def _problem(name: str, detail: str) -> Check:
    return Check(name, CheckStatus.PROBLEM, detail)


def _plural(count: int, noun: str) -> str:
    """``1 training job``, ``2 training jobs``: details read as sentences."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def _examples(labels: Sequence[str], count: int) -> str:
    """The first labels, and how many more there are, for one clause of a detail."""
    shown = ", ".join(labels[:MAX_EXAMPLES])
    rest = count - min(len(labels), MAX_EXAMPLES)
    return f"{shown} and {rest:,} more" if rest > 0 else shown


def _clause(what: str, count: int, labels: Sequence[str]) -> str:
    """``<what>: <count> (<examples>)``: a noun phrase reads right for one or many."""
    return f"{what}: {count:,} ({_examples(labels, count)})"


def _count_and_examples(conn: Connection, query: Select[Any]) -> tuple[int, list[Row[Any]]]:
    """How many rows ``query`` has (counted in SQL) and its first :data:`MAX_EXAMPLES`."""
    count = conn.execute(select(func.count()).select_from(query.order_by(None).subquery()))
    total = int(count.scalar_one())
    rows = list(conn.execute(query.limit(MAX_EXAMPLES)).all()) if total else []
    return total, rows


def _training_jobs() -> Any:
    """training_jobs with its tuning job's name (outer: an orphan still shows)."""
    return _tj.outerjoin(_j, _j.c.id == _tj.c.tuning_job_id)


def _label(row: Row[Any]) -> str:
    """A training job as a detail names it: ``<name> of <tuning job>``."""
    tuning_job = row.job if row.job is not None else f"missing tuning job id {row.job_id}"
    return f"{row.name} of {tuning_job}"


def _select_training_jobs(*columns: Any) -> Select[Any]:
    """Training jobs' name, tuning job name and id (for :func:`_label`), plus ``columns``."""
    return select(
        _tj.c.name, _j.c.name.label("job"), _tj.c.tuning_job_id.label("job_id"), *columns
    ).select_from(_training_jobs())


def _reason(exc: SQLAlchemyError) -> str:
    """The driver's message, without SQLAlchemy's statement and link."""
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).strip().splitlines()[0]


# -- the checks ------------------------------------------------------------------------------
def _check_schema_version(conn: Connection, expected: int) -> Check:
    """The newest migration the file has, against the one this tuner writes."""
    name = "schema_version"
    tables = set(inspect(conn).get_table_names())
    if s.schema_version.name not in tables:
        return _problem(name, "there is no schema_version table: this is not a tuner database")
    version = conn.execute(select(func.max(s.schema_version.c.version))).scalar()
    missing = [table for table in _ENGINE_TABLES if table not in tables]
    if version is None:
        return _problem(name, "the schema_version table is empty: no version was ever recorded")
    if version < expected:
        return _problem(
            name,
            f"the database has schema version {version}, older than this tuner's {expected}: "
            "run tuner db upgrade",
        )
    if version > expected:
        return _problem(
            name,
            f"the database has schema version {version}, written by a newer tuner (this one "
            f"knows up to {expected}): upgrade the tuner package",
        )
    if missing:
        return _problem(
            name, f"schema version {version}, but the tables {', '.join(missing)} are missing"
        )
    return _ok(name, f"schema version {version}, as this tuner expects")


def _check_sqlite_integrity(conn: Connection) -> Check:
    """SQLite's own page, index and constraint check (at most 100 messages)."""
    name = "sqlite_integrity"
    messages = [str(row[0]) for row in conn.exec_driver_sql("PRAGMA integrity_check")]
    if messages == ["ok"]:
        return _ok(name, "PRAGMA integrity_check found the file sound")
    count = f"{len(messages)} or more" if len(messages) >= 100 else str(len(messages))
    return _problem(
        name,
        f"PRAGMA integrity_check reports {count} problems: {_examples(messages, len(messages))}",
    )


def _check_foreign_keys(conn: Connection) -> Check:
    """Rows whose parent row is gone, found with LEFT JOINs (any dialect)."""
    name = "foreign_keys"
    clauses = []
    orphans = (
        _select_training_jobs().where(_j.c.id.is_(None)).order_by(_tj.c.tuning_job_id, _tj.c.id)
    )
    count, rows = _count_and_examples(conn, orphans)
    if count:
        labels = [_label(row) for row in rows]
        clauses.append(_clause("training jobs of no tuning job", count, labels))
    # Metrics grouped by training job first: the join then touches one row per training job.
    per_trial = (
        select(_m.c.training_job_id, func.count().label("n"))
        .group_by(_m.c.training_job_id)
        .subquery()
    )
    missing = (
        select(per_trial.c.training_job_id, per_trial.c.n)
        .select_from(per_trial.outerjoin(_tj, _tj.c.id == per_trial.c.training_job_id))
        .where(_tj.c.id.is_(None))
        .order_by(per_trial.c.training_job_id)
    )
    count, rows = _count_and_examples(conn, missing)
    if count:
        sub = missing.order_by(None).subquery()
        n_rows = int(conn.execute(select(func.sum(sub.c.n))).scalar_one())
        labels = [f"id {row.training_job_id} ({_plural(row.n, 'row')})" for row in rows]
        clauses.append(
            _clause(f"missing training jobs with metrics ({n_rows:,} rows)", count, labels)
        )
    if clauses:
        return _problem(name, "; ".join(clauses))
    return _ok(
        name, "every training job has its tuning job and every metrics row its training job"
    )


def _check_statuses(conn: Connection) -> Check:
    """Statuses the engine knows, and the times each status implies."""
    name = "statuses"
    clauses = []
    bad_jobs = (
        select(_j.c.name, _j.c.status).where(_j.c.status.not_in(_JOB_STATUSES)).order_by(_j.c.id)
    )
    count, rows = _count_and_examples(conn, bad_jobs)
    if count:
        labels = [f"{row.name} ({row.status!r})" for row in rows]
        clauses.append(_clause("tuning jobs with an unknown status", count, labels))
    trial_faults = [
        ("have an unknown status", _tj.c.status.not_in(_TRIAL_STATUSES)),
        (
            "are finished without ended_at",
            and_(_tj.c.status.in_(_FINISHED_TRIAL), _tj.c.ended_at.is_(None)),
        ),
        (
            "are InProgress without started_at",
            and_(_tj.c.status == TrialStatus.IN_PROGRESS.value, _tj.c.started_at.is_(None)),
        ),
    ]
    for what, condition in trial_faults:
        query = _select_training_jobs(_tj.c.status).where(condition).order_by(_tj.c.id)
        count, rows = _count_and_examples(conn, query)
        if count:
            labels = [f"{_label(row)} ({row.status!r})" for row in rows]
            clauses.append(_clause(f"training jobs {what}", count, labels))
    if clauses:
        return _problem(name, "; ".join(clauses))
    return _ok(name, "every status is one the engine knows, with the times it implies")


def _check_ended_jobs(conn: Connection) -> Check:
    """Ended tuning jobs with Pending or InProgress training jobs (one GROUP BY)."""
    name = "ended_jobs_have_no_running_trials"
    query = (
        select(
            _j.c.name, _j.c.status, func.count().label("n"), func.min(_tj.c.name).label("first")
        )
        .select_from(_j.join(_tj, _tj.c.tuning_job_id == _j.c.id))
        .where(_j.c.status.in_(_TERMINAL_JOB), _tj.c.status.in_(_RUNNING_TRIAL))
        .group_by(_j.c.id, _j.c.name, _j.c.status)
        .order_by(_j.c.id)
    )
    count, rows = _count_and_examples(conn, query)
    if not count:
        return _ok(name, "no Completed, Failed or Stopped tuning job has a running training job")
    labels = [
        f"{row.name} ({row.status}; {_plural(row.n, 'running training job')}, e.g. {row.first})"
        for row in rows
    ]
    return _problem(
        name, _clause("ended tuning jobs with Pending or InProgress training jobs", count, labels)
    )


def _number_faults(numbers: Sequence[tuple[int, int]]) -> str:
    """What is wrong with one job's (number, how many rows) pairs, sorted by number.

    Missing numbers are counted gap by gap, not listed one by one: a stray number 10**9 must
    not make a list of a billion.
    """
    below = [str(number) for number, _ in numbers if number < 1]
    duplicated = [str(number) for number, rows in numbers if rows > 1]
    missing: list[str] = []
    n_missing, expected = 0, 1
    for number, _ in numbers:
        if number > expected:
            n_missing += number - expected
            last = min(number, expected + MAX_EXAMPLES - len(missing))
            missing += [str(gap) for gap in range(expected, max(expected, last))]
        expected = max(expected, number + 1)
    faults = [f"missing {_examples(missing, n_missing)}"] if n_missing else []
    for what, values in (("duplicated", duplicated), ("below 1", below)):
        if values:
            faults.append(f"{what} {_examples(values, len(values))}")
    return ", ".join(faults)


def _check_numbers(conn: Connection) -> Check:
    """Each tuning job's training jobs are numbered 1..N once each; names are unique."""
    name = "training_job_numbers"
    per_job = (
        select(
            _tj.c.tuning_job_id,
            func.count().label("n"),
            func.count(distinct(_tj.c.number)).label("distinct_numbers"),
            func.min(_tj.c.number).label("low"),
            func.max(_tj.c.number).label("high"),
        )
        .group_by(_tj.c.tuning_job_id)
        .subquery()
    )
    bad = (
        select(per_job.c.tuning_job_id, per_job.c.n, _j.c.name)
        .select_from(per_job.outerjoin(_j, _j.c.id == per_job.c.tuning_job_id))
        .where(
            or_(
                per_job.c.low != 1,
                per_job.c.high != per_job.c.n,
                per_job.c.distinct_numbers != per_job.c.n,
            )
        )
        .order_by(per_job.c.tuning_job_id)
    )
    clauses = []
    count, rows = _count_and_examples(conn, bad)
    if count:
        labels = []
        for row in rows:  # at most MAX_EXAMPLES jobs: their numbers are read to say what is wrong
            numbers = conn.execute(
                select(_tj.c.number, func.count())
                .where(_tj.c.tuning_job_id == row.tuning_job_id)
                .group_by(_tj.c.number)
                .order_by(_tj.c.number)
            ).all()
            job = row.name if row.name is not None else f"tuning job id {row.tuning_job_id}"
            pairs = [(int(number), int(n)) for number, n in numbers]
            labels.append(f"{job} ({_plural(row.n, 'training job')}: {_number_faults(pairs)})")
        clauses.append(
            _clause("tuning jobs not numbering their training jobs 1..N", count, labels)
        )
    clauses.extend(_duplicate_names(conn))
    if clauses:
        return _problem(name, "; ".join(clauses))
    return _ok(name, "every tuning job numbers its training jobs 1..N and every name is unique")


def _duplicate_names(conn: Connection) -> list[str]:
    """The clause naming training job names used more than once (across all tuning jobs)."""
    query = (
        select(_tj.c.name, func.count().label("n"))
        .group_by(_tj.c.name)
        .having(func.count() > 1)
        .order_by(_tj.c.name)
    )
    count, rows = _count_and_examples(conn, query)
    if not count:
        return []
    labels = [f"{row.name} ({row.n} times)" for row in rows]
    return [_clause("training job names used more than once", count, labels)]


def _check_report_counters(conn: Connection) -> Check:
    """Stored epochs of the current attempt <= n_reports; Failed jobs have no final value."""
    name = "report_counters"
    clauses = []
    # One pass over the metrics index (training_job_id, attempt, epoch), then a join by key.
    epochs = (
        select(
            _m.c.training_job_id, _m.c.attempt, func.count(distinct(_m.c.epoch)).label("epochs")
        )
        .group_by(_m.c.training_job_id, _m.c.attempt)
        .subquery()
    )
    lost = (
        _select_training_jobs(_tj.c.n_reports, epochs.c.epochs)
        .join(
            epochs,
            and_(epochs.c.training_job_id == _tj.c.id, epochs.c.attempt == _tj.c.attempt),
        )
        .where(_tj.c.status.in_(_FINISHED_TRIAL), epochs.c.epochs > _tj.c.n_reports)
        .order_by(_tj.c.id)
    )
    count, rows = _count_and_examples(conn, lost)
    if count:
        labels = [
            f"{_label(row)} ({row.epochs} epochs stored, n_reports {row.n_reports})"
            for row in rows
        ]
        clauses.append(
            _clause("finished training jobs with more stored epochs than reports", count, labels)
        )
    valued = _select_training_jobs(_tj.c.final_value).where(
        _tj.c.status == TrialStatus.FAILED.value, _tj.c.final_value.is_not(None)
    )
    count, rows = _count_and_examples(conn, valued.order_by(_tj.c.id))
    if count:
        labels = [f"{_label(row)} ({row.final_value})" for row in rows]
        clauses.append(_clause("Failed training jobs with a final value", count, labels))
    if clauses:
        return _problem(name, "; ".join(clauses))
    return _ok(name, "every finished training job's reports cover its stored epochs")


def _max_jobs_of(request_json: str) -> int | None:
    """The request's MaxNumberOfTrainingJobs; None for several algorithms or no such limit.

    Raises ValueError when the column is not JSON.
    """
    request = json.loads(request_json)
    if not isinstance(request, dict) or len(request.get("TrainingJobDefinitions") or []) > 1:
        return None
    config = request.get("HyperParameterTuningJobConfig")
    limits = config.get("ResourceLimits") if isinstance(config, dict) else None
    value = limits.get("MaxNumberOfTrainingJobs") if isinstance(limits, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _check_max_jobs(conn: Connection) -> Check:
    """No tuning job holds more training jobs than its request allows.

    Counted in SQL; only the requests (one per tuning job, not per training job) are parsed
    here, as JSON functions differ between dialects.
    """
    name = "max_jobs"
    counts = (
        select(_tj.c.tuning_job_id, func.count().label("n"))
        .group_by(_tj.c.tuning_job_id)
        .subquery()
    )
    rows = conn.execute(
        select(_j.c.name, _j.c.request_json, counts.c.n)
        .join_from(_j, counts, counts.c.tuning_job_id == _j.c.id)
        .order_by(_j.c.id)
    )
    over, unreadable = [], []
    for row in rows:
        try:
            limit = _max_jobs_of(row.request_json)
        except ValueError:
            unreadable.append(str(row.name))
            continue
        if limit is not None and row.n > limit:
            over.append(f"{row.name} ({row.n:,} training jobs, MaxNumberOfTrainingJobs {limit})")
    clauses = []
    if over:
        clauses.append(_clause("tuning jobs over their MaxNumberOfTrainingJobs", len(over), over))
    if unreadable:
        clauses.append(
            _clause("tuning jobs whose request_json is not JSON", len(unreadable), unreadable)
        )
    if clauses:
        return _problem(name, "; ".join(clauses))
    return _ok(name, "no tuning job has more training jobs than its MaxNumberOfTrainingJobs")


# -- running them ----------------------------------------------------------------------------
def _checks(
    dialect: str, expected_version: int
) -> list[tuple[str, Callable[[Connection], Check]]]:
    """The checks in the order they are reported (integrity only where the file is SQLite's)."""
    checks: list[tuple[str, Callable[[Connection], Check]]] = [
        ("schema_version", lambda conn: _check_schema_version(conn, expected_version)),
    ]
    if dialect == "sqlite":
        checks.append(("sqlite_integrity", _check_sqlite_integrity))
    checks += [
        ("foreign_keys", _check_foreign_keys),
        ("statuses", _check_statuses),
        ("ended_jobs_have_no_running_trials", _check_ended_jobs),
        ("training_job_numbers", _check_numbers),
        ("report_counters", _check_report_counters),
        ("max_jobs", _check_max_jobs),
    ]
    return checks


def _run(conn: Connection, name: str, check: Callable[[Connection], Check]) -> Check:
    """One check; a query the database refuses is that check's problem, not the end of all."""
    try:
        return check(conn)
    except SQLAlchemyError as exc:
        conn.rollback()  # PostgreSQL refuses every later statement of a failed transaction
        return _problem(name, f"the check could not run: {_reason(exc)}")


@contextlib.contextmanager
def _read_only(engine: Engine) -> Iterator[Connection]:
    """A connection on which the database itself refuses writes, left as it was found."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # Both are reset when the connection goes back to the pool.
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            yield conn
        elif conn.dialect.name == "sqlite":
            previous = int(conn.exec_driver_sql("PRAGMA query_only").scalar() or 0)
            conn.exec_driver_sql("PRAGMA query_only = 1")
            try:
                yield conn
            finally:
                conn.rollback()
                conn.exec_driver_sql(f"PRAGMA query_only = {previous}")
        else:
            yield conn


def check_database(engine: Engine, *, expected_version: int) -> list[Check]:
    """Check the tuner database behind ``engine``, writing nothing; one Check per check.

    ``expected_version`` is the schema version this tuner writes
    (:data:`tuner.storage.schema.SCHEMA_VERSION`). A SQLite URL naming no file gives a single
    ``schema_version`` problem (connecting would create the file). Failing to connect at all
    raises SQLAlchemy's error: there is nothing to check then.
    """
    if engine.dialect.name == "sqlite":
        path = sqlite_file(engine.url.render_as_string(hide_password=False))
        if path is not None and not path.is_file():
            detail = f"there is no database file at {path}: nothing was checked"
            return [_problem("schema_version", detail)]
    with _read_only(engine) as conn:
        return [
            _run(conn, name, check) for name, check in _checks(conn.dialect.name, expected_version)
        ]
