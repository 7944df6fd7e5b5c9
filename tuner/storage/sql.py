"""SqlStorage: tuning jobs, training jobs, metrics and tags in any SQLAlchemy database.

SQLite by default (``sqlite:///tuner.db``), opened in WAL mode so that readers (``tuner
describe``, the dashboard) never block the coordinator, the only writer. ``synchronous=NORMAL``
is WAL's recommended setting: a power cut can lose the last transactions but never corrupts the
file. Any other SQLAlchemy URL (PostgreSQL for teams) works unchanged.

The coordinator batches the writes of one loop iteration in one transaction with
:meth:`SqlStorage.batch`; each write method also works alone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    make_url,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from strategies.base import TrialStatus
from tuner.errors import JobExistsError, JobLeasedError, JobNotFoundError, StorageError
from tuner.status import JobStatus
from tuner.storage import schema as s
from tuner.storage.migrations import upgrade
from tuner.storage.records import (
    JobRecord,
    MetricPoint,
    TrainingJobRecord,
    job_record_from_row,
    training_job_record_from_row,
)

DEFAULT_URL = "sqlite:///tuner.db"


class DatabaseOpenError(StorageError):
    """The database cannot be opened at all (no such folder, not a database, a server that is
    not there, a driver that is not installed): bad input, so the CLI exits 2."""


def normalise_url(url: str) -> str:
    """Accept a bare file path as well as a SQLAlchemy URL (``tuner.db`` -> ``sqlite:///tuner.db``).

    An empty one is refused: SQLAlchemy would take ``sqlite://`` as a database in memory, and
    the job would vanish when the process ends."""
    if not url.strip():
        msg = "the database URL (--db, $TUNER_DB) is empty; give a file path or a SQLAlchemy URL"
        raise DatabaseOpenError(msg)
    return url if "://" in url else f"sqlite:///{url}"


class DatabaseNotFoundError(StorageError, LookupError):
    """A database that should already exist does not (``SqlStorage(url, create=False)``).

    Read-only commands open the database this way so that a typo in ``--db`` is an error naming
    the path instead of a new, empty database and an empty answer.
    """


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (None: another database, or SQLite in memory)."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    database = parsed.database
    if database.startswith("file:"):  # a SQLite URI filename: file:path?mode=...
        database = database[len("file:") :].split("?", 1)[0]
    return Path(database)


def _require_existing(url: str) -> None:
    """Raise DatabaseNotFoundError for a SQLite URL whose file does not exist."""
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        msg = (
            f"no tuner database at {path} ({path.resolve()}); give an existing one with "
            "--db PATH or $TUNER_DB (tuner run creates it)"
        )
        raise DatabaseNotFoundError(msg)


#: For callers outside storage (``tuner db check``) that open their own engine.
require_database = _require_existing


#: Tries to create or upgrade the schema when other processes race to do the same.
SCHEMA_RACE_ATTEMPTS = 5

#: SQLite's ``journal_size_limit``: the write-ahead log's size after a checkpoint, at most.
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # The log is checkpointed every 1,000 pages (SQLite's default); this also truncates it
    # back to 64 MiB after a checkpoint, so a long job beside busy readers keeps it bounded.
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
    cursor.close()


class SqlStorage:
    """The :class:`~tuner.storage.base.Storage` implementation.

    Thread-safe for reads; writes come from the coordinator.
    """

    def __init__(self, url: str = DEFAULT_URL, *, create: bool = True) -> None:
        """Open (``create``: and create when missing) the database at ``url``.

        ``create=False`` is for readers: a missing SQLite file, or a database without the
        engine's tables, raises :class:`DatabaseNotFoundError` and nothing is written.
        """
        self.url = normalise_url(url)
        if not create:
            _require_existing(self.url)
        try:
            self.engine: Engine = create_engine(self.url)
            if self.engine.dialect.name == "sqlite":
                event.listen(self.engine, "connect", _set_sqlite_pragmas)
            if not create:
                self._require_tables()
            self._migrate()
        except (SQLAlchemyError, ImportError) as exc:  # ImportError: its driver is missing
            detail = str(exc).split("\n(Background on this error", 1)[0]
            msg = f"cannot open the database {self.url}: {detail}"
            raise DatabaseOpenError(msg) from exc
        self._job_ids: dict[str, int] = {}
        self._trial_ids: dict[tuple[int, int], int] = {}
        self._local = threading.local()

    # -- connection handling ------------------------------------------------------------------
    def _require_tables(self) -> None:
        """A reader's check that this is a tuner database, before anything could create tables."""
        with self.engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
        missing = {s.tuning_jobs.name, s.schema_version.name} - tables
        if missing:
            msg = (
                f"{self.url} is not a tuner database (no table {', '.join(sorted(missing))}); "
                "give the database tuner run wrote with --db"
            )
            raise DatabaseNotFoundError(msg)

    def _migrate(self) -> None:
        """Create or upgrade the schema (Alembic, :mod:`tuner.storage.migrations`); a database
        of a newer tuner is refused before anything is written to it."""
        for attempt in range(SCHEMA_RACE_ATTEMPTS):
            try:
                with self.engine.begin() as conn:
                    #: (schema version found, schema version now); None found: a fresh database.
                    self.schema_change: tuple[int | None, int] = upgrade(conn, self.url)
                return
            except DBAPIError:
                # Several processes opening one fresh (or older) database at once: one wins the
                # race to create or upgrade it, the others' transaction fails on what it wrote
                # (a table that now exists, a duplicate schema_version row). Their transaction
                # rolled back whole; read the database again, now at the current version.
                if attempt == SCHEMA_RACE_ATTEMPTS - 1:
                    raise
                time.sleep(0.1 * (attempt + 1))

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Run the writes inside the block in one transaction (nested blocks join it)."""
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        try:
            with self.engine.begin() as conn:
                self._local.conn = conn
                try:
                    yield
                finally:
                    self._local.conn = None
        except SQLAlchemyError as exc:
            msg = f"database write failed ({self.url}): {exc}"
            raise StorageError(msg) from exc

    @contextlib.contextmanager
    def _conn(self) -> Iterator[Connection]:
        current = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            msg = f"database access failed ({self.url}): {exc}"
            raise StorageError(msg) from exc

    def close(self) -> None:
        self.engine.dispose()

    # -- ids ---------------------------------------------------------------------------------
    def _job_id(self, conn: Connection, name: str) -> int:
        job_id = self._job_ids.get(name)
        if job_id is None:
            job_id = self._lookup_job_id(conn, name)
            self._job_ids[name] = job_id
        return job_id

    def _lookup_job_id(self, conn: Connection, name: str) -> int:
        """The job's id as the database has it now (not cached); JobNotFoundError if none."""
        job_id: int | None = conn.execute(
            select(s.tuning_jobs.c.id).where(s.tuning_jobs.c.name == name)
        ).scalar()
        if job_id is None:
            msg = f"no tuning job named {name!r} in {self.url}"
            raise JobNotFoundError(msg)
        return job_id

    def _forget_job(self, job_id: int) -> None:
        """Drop the cached ids of a deleted job, so a new job may take its name."""
        for name, cached in list(self._job_ids.items()):
            if cached == job_id:
                self._job_ids.pop(name, None)
        for key in list(self._trial_ids):
            if key[0] == job_id:
                self._trial_ids.pop(key, None)

    def _trial_id(self, conn: Connection, job: str, number: int) -> int:
        job_id = self._job_id(conn, job)
        key = (job_id, number)
        trial_id = self._trial_ids.get(key)
        if trial_id is None:
            trial_id = conn.execute(
                select(s.training_jobs.c.id).where(
                    s.training_jobs.c.tuning_job_id == job_id, s.training_jobs.c.number == number
                )
            ).scalar()
            if trial_id is None:
                msg = f"tuning job {job!r} has no training job number {number}"
                raise JobNotFoundError(msg)
            self._trial_ids[key] = trial_id
        return trial_id

    # -- tuning jobs ----------------------------------------------------------------------------
    def create_job(
        self,
        name: str,
        request: Mapping[str, Any],
        *,
        strategy: str,
        seed: int,
        status: JobStatus,
        now: float,
        callable_blob: bytes | None = None,
        runner: str | None = None,
    ) -> None:
        """Insert a tuning job; raises JobExistsError if the name is taken (case-insensitive).

        ``runner`` ("serve" for the HTTP API's jobs) tells a restarted server which jobs to resume.
        """
        with self._conn() as conn:
            clash = conn.execute(
                select(s.tuning_jobs.c.name).where(
                    func.lower(s.tuning_jobs.c.name) == name.lower()
                )
            ).scalar()
            if clash is not None:
                msg = f"a tuning job named {clash!r} already exists in {self.url}"
                raise JobExistsError(msg)
            try:
                conn.execute(
                    insert(s.tuning_jobs).values(
                        name=name,
                        request_json=json.dumps(request),
                        strategy=strategy,
                        status=JobStatus(status).value,
                        seed=seed,
                        callable_blob=callable_blob,
                        runner=runner,
                        created_at=now,
                        last_modified_at=now,
                    )
                )
            except IntegrityError as exc:
                msg = f"a tuning job named {name!r} already exists in {self.url}"
                raise JobExistsError(msg) from exc

    def delete_job(self, name: str) -> None:
        """Delete a tuning job, its training jobs and their metrics in one transaction.

        Each table explicitly, children first: ON DELETE CASCADE would need SQLite's
        ``foreign_keys`` pragma on the very connection. Tags are the caller's to delete.
        """
        tj = s.training_jobs
        with self._conn() as conn:
            job_id = self._lookup_job_id(conn, name)
            trial_ids = select(tj.c.id).where(tj.c.tuning_job_id == job_id)
            conn.execute(delete(s.metrics).where(s.metrics.c.training_job_id.in_(trial_ids)))
            conn.execute(delete(tj).where(tj.c.tuning_job_id == job_id))
            conn.execute(delete(s.tuning_jobs).where(s.tuning_jobs.c.id == job_id))
            self._forget_job(job_id)

    def load_job(self, name: str) -> JobRecord:
        with self._conn() as conn:
            row = conn.execute(select(s.tuning_jobs).where(s.tuning_jobs.c.name == name)).first()
        if row is None:
            msg = f"no tuning job named {name!r} in {self.url}"
            raise JobNotFoundError(msg)
        return job_record_from_row(row)

    def list_jobs(self) -> list[JobRecord]:
        """Every tuning job, oldest first."""
        with self._conn() as conn:
            rows = conn.execute(select(s.tuning_jobs).order_by(s.tuning_jobs.c.created_at)).all()
        return [job_record_from_row(r) for r in rows]

    def set_job_status(
        self,
        name: str,
        status: JobStatus,
        *,
        now: float,
        reason: str | None = None,
        ended: bool = False,
        completion: Mapping[str, Any] | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": JobStatus(status).value, "last_modified_at": now}
        if reason is not None:
            values["failure_reason"] = reason[:1024]
        if ended:
            values["ended_at"] = now
        if completion is not None:
            values["completion_json"] = json.dumps(completion)
        with self._conn() as conn:
            conn.execute(
                update(s.tuning_jobs)
                .where(s.tuning_jobs.c.id == self._job_id(conn, name))
                .values(**values)
            )

    # -- the lease of the job's coordinator -----------------------------------------------------
    def acquire_lease(
        self,
        name: str,
        holder: str,
        *,
        now: float,
        duration_s: float,
        holder_alive: Callable[[str], bool],
    ) -> None:
        """Take the job's lease, or raise JobLeasedError naming who holds it until when.

        One transaction of conditional UPDATEs, each checked by its row count, so that of two
        processes racing for the lease exactly one wins, on SQLite (the first UPDATE takes the
        write lock, so the transaction never reads a stale snapshot) and on PostgreSQL (a
        blocked UPDATE re-checks its WHERE against the winner's row).
        """
        tj = s.tuning_jobs
        lease = {"lease_holder": holder, "lease_expires_at": now + duration_s}
        with self._conn() as conn:
            taken = conn.execute(
                update(tj)
                .where(
                    tj.c.name == name,
                    or_(
                        tj.c.lease_holder.is_(None),
                        tj.c.lease_holder == holder,
                        tj.c.lease_expires_at.is_(None),
                        tj.c.lease_expires_at < now,
                    ),
                )
                .values(**lease)
            )
            if taken.rowcount == 1:
                return
            row = conn.execute(
                select(tj.c.lease_holder, tj.c.lease_expires_at).where(tj.c.name == name)
            ).first()
            if row is None:
                msg = f"no tuning job named {name!r} in {self.url}"
                raise JobNotFoundError(msg)
            current, expires_at = row
            if not holder_alive(current):
                # Its holder died without releasing it: take it over from that holder only.
                taken = conn.execute(
                    update(tj)
                    .where(tj.c.name == name, tj.c.lease_holder == current)
                    .values(**lease)
                )
                if taken.rowcount == 1:
                    return
                row = conn.execute(
                    select(tj.c.lease_holder, tj.c.lease_expires_at).where(tj.c.name == name)
                ).first()
                assert row is not None
                current, expires_at = row
        raise JobLeasedError(_leased_message(name, current, expires_at, now))

    def renew_lease(self, name: str, holder: str, *, now: float, duration_s: float) -> bool:
        """Extend ``holder``'s lease of the job; False if someone else holds it now."""
        tj = s.tuning_jobs
        with self._conn() as conn:
            result = conn.execute(
                update(tj)
                .where(tj.c.name == name, tj.c.lease_holder == holder)
                .values(lease_expires_at=now + duration_s)
            )
            return bool(result.rowcount == 1)

    def release_lease(self, name: str, holder: str) -> None:
        """Free the job's lease if ``holder`` holds it; anyone else's lease is left alone."""
        tj = s.tuning_jobs
        with self._conn() as conn:
            conn.execute(
                update(tj)
                .where(tj.c.name == name, tj.c.lease_holder == holder)
                .values(lease_holder=None, lease_expires_at=None)
            )

    # -- training jobs --------------------------------------------------------------------------
    def add_trial(
        self,
        job: str,
        number: int,
        *,
        name: str,
        hyperparameters: Mapping[str, str],
        now: float,
        output_dir: str | None = None,
        bracket: int | None = None,
    ) -> None:
        """Insert a training job as Pending (it shows as InProgress at the AMT surface)."""
        with self._conn() as conn:
            job_id = self._job_id(conn, job)
            result = conn.execute(
                insert(s.training_jobs).values(
                    tuning_job_id=job_id,
                    number=number,
                    name=name,
                    hyperparameters_json=json.dumps(dict(hyperparameters)),
                    status=TrialStatus.PENDING.value,
                    created_at=now,
                    output_dir=output_dir,
                    bracket=bracket,
                    attempt=1,
                    n_reports=0,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            self._trial_ids[(job_id, number)] = key[0]

    def mark_running(self, job: str, number: int, *, worker: str, now: float) -> None:
        with self._conn() as conn:
            conn.execute(
                update(s.training_jobs)
                .where(s.training_jobs.c.id == self._trial_id(conn, job, number))
                .values(status=TrialStatus.IN_PROGRESS.value, worker=worker, started_at=now)
            )

    def add_report(
        self,
        job: str,
        number: int,
        *,
        attempt: int,
        epoch: int,
        metrics: Mapping[str, float],
        at: float,
    ) -> None:
        """Append one report's metrics (one row per metric)."""
        if not metrics:
            return
        with self._conn() as conn:
            trial_id = self._trial_id(conn, job, number)
            conn.execute(
                insert(s.metrics),
                [
                    {
                        "training_job_id": trial_id,
                        "attempt": attempt,
                        "epoch": epoch,
                        "name": k,
                        "value": float(v),
                        "at": at,
                    }
                    for k, v in metrics.items()
                ],
            )

    def finish_trial(
        self,
        job: str,
        number: int,
        *,
        status: TrialStatus,
        now: float,
        final_value: float | None,
        final_metrics: Mapping[str, float],
        n_reports: int,
        failure_reason: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        with self._conn() as conn:
            conn.execute(
                update(s.training_jobs)
                .where(s.training_jobs.c.id == self._trial_id(conn, job, number))
                .values(
                    status=TrialStatus(status).value,
                    ended_at=now,
                    final_value=final_value,
                    final_metrics_json=json.dumps(dict(final_metrics)),
                    n_reports=n_reports,
                    failure_reason=failure_reason[:1024] if failure_reason else None,
                    retryable=retryable,
                )
            )

    def restart_trial(
        self, job: str, number: int, *, attempt: int, reason: str | None, now: float
    ) -> None:
        """Put a trial back to Pending for another attempt (a retry, or a resume after a crash).

        ``reason`` (why the previous attempt ended) is appended to the trial's retry reasons.
        """
        with self._conn() as conn:
            trial_id = self._trial_id(conn, job, number)
            previous = conn.execute(
                select(s.training_jobs.c.retry_reasons_json).where(
                    s.training_jobs.c.id == trial_id
                )
            ).scalar()
            reasons = json.loads(previous) if previous else []
            reasons.append((reason or "interrupted")[:1024])
            conn.execute(
                update(s.training_jobs)
                .where(s.training_jobs.c.id == trial_id)
                .values(
                    status=TrialStatus.PENDING.value,
                    attempt=attempt,
                    retry_reasons_json=json.dumps(reasons),
                    failure_reason=None,
                    retryable=None,
                    final_value=None,
                    final_metrics_json=None,
                    n_reports=0,
                    started_at=None,
                    ended_at=None,
                )
            )

    # -- reads ----------------------------------------------------------------------------------
    def trials(self, job: str) -> list[TrainingJobRecord]:
        """Every training job of ``job``, ordered by number."""
        with self._conn() as conn:
            job_id = self._job_id(conn, job)
            rows = conn.execute(
                select(s.training_jobs)
                .where(s.training_jobs.c.tuning_job_id == job_id)
                .order_by(s.training_jobs.c.number)
            ).all()
        return [training_job_record_from_row(r) for r in rows]

    def curves(
        self, job: str, metric_names: Sequence[str] | None = None
    ) -> dict[int, list[MetricPoint]]:
        """Reported metrics of each training job's latest attempt, by training job number."""
        with self._conn() as conn:
            job_id = self._job_id(conn, job)
            tj, m = s.training_jobs, s.metrics
            query = (
                select(tj.c.number, m.c.epoch, m.c.name, m.c.value, m.c.at)
                .join(m, m.c.training_job_id == tj.c.id)
                .where(tj.c.tuning_job_id == job_id, m.c.attempt == tj.c.attempt)
                .order_by(tj.c.number, m.c.id)
            )
            if metric_names is not None:
                query = query.where(m.c.name.in_(list(metric_names)))
            rows = conn.execute(query).all()
        out: dict[int, list[MetricPoint]] = {}
        for number, epoch, name, value, at in rows:
            out.setdefault(number, []).append(MetricPoint(epoch, name, value, at))
        return out

    # -- tags -----------------------------------------------------------------------------------
    def set_tags(self, resource_arn: str, tags: Mapping[str, str]) -> None:
        """Add tags, overwriting an existing key's value (AddTags); a portable upsert.

        Select, then update or insert, in one transaction: no dialect's ON CONFLICT.
        """
        if not tags:
            return
        t = s.tags
        with self._conn() as conn:
            query = select(t.c.key, t.c.id).where(
                t.c.resource_arn == resource_arn, t.c.key.in_(list(tags))
            )
            existing = {key: tag_id for key, tag_id in conn.execute(query)}
            for key, tag_id in existing.items():
                conn.execute(update(t).where(t.c.id == tag_id).values(value=tags[key]))
            new = [
                {"resource_arn": resource_arn, "key": k, "value": v}
                for k, v in tags.items()
                if k not in existing
            ]
            if new:
                conn.execute(insert(t), new)

    def tags(self, resource_arn: str) -> dict[str, str]:
        """A resource's tags (ListTags), in the order their keys were first added."""
        t = s.tags
        with self._conn() as conn:
            rows = conn.execute(
                select(t.c.key, t.c.value).where(t.c.resource_arn == resource_arn).order_by(t.c.id)
            )
            return {key: value for key, value in rows}

    def delete_tags(self, resource_arn: str, keys: Sequence[str] | None = None) -> None:
        """Delete these tags of a resource (None: all of them); unknown keys are ignored."""
        t = s.tags
        query = delete(t).where(t.c.resource_arn == resource_arn)
        if keys is not None:
            if not keys:
                return
            query = query.where(t.c.key.in_(list(keys)))
        with self._conn() as conn:
            conn.execute(query)


def _leased_message(name: str, holder: str | None, expires_at: float | None, now: float) -> str:
    """Why a second coordinator may not run the job: who runs it, until when, what to do."""
    parts = (holder or "").rsplit(":", 2)  # host:pid:token (a host name may hold a colon)
    host, pid = (parts[0], parts[1]) if len(parts) == 3 else (holder or "?", "?")
    if expires_at is None:
        until = "with no expiry recorded"
    else:
        when = dt.datetime.fromtimestamp(expires_at).astimezone().isoformat(timespec="seconds")
        until = (
            f"until {when} ({max(0.0, expires_at - now):.0f} s from now, renewed while it runs)"
        )
    return (
        f"tuning job {name!r} is being run by another coordinator: process {pid} on host "
        f"{host} holds its lease {until}; stop that process first (Ctrl-C, or kill {pid} on "
        f"{host}; tuner stop {name} ends the job), or wait for the lease to expire if that "
        "process is gone"
    )
