"""One page of ListTrainingJobsForHyperParameterTuningJob, read with the sort in SQL.

:func:`tuner.describe.list_training_jobs` sorts every training job in Python; on 100,000
trials that took ``tuner trials`` 81 s. Here the database sorts, filters and cuts the page
(``ORDER BY ... LIMIT``), so a page costs the same on a job of 10 or 100,000 trials. The
order is the one ``list_training_jobs`` gives (same keys, ties by training job number,
``Descending`` the exact reverse), which ``tests/tuner/test_cli_output.py`` checks.

``NextToken`` is opaque to users, as AWS's is: URL-safe base64 of the offset of the next page
and of the sort and filter it belongs to, so a token cannot be reused with another order.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, case, func, select

from strategies.base import TrialStatus
from tuner.describe import (
    DEFAULT_OUTPUT_PATH,
    TrialsDigest,
    describe_digested,
    is_identical_warm_start,
    objective_of,
    overall_best_training_job,
    parent_records,
)
from tuner.errors import TunerError
from tuner.objective import ObjectiveType
from tuner.status import StatusCounters
from tuner.storage import SqlStorage
from tuner.storage import schema as s
from tuner.storage.records import JobRecord, TrainingJobRecord, training_job_record_from_row

#: AWS's MaxResults: 1 to 100, 100 when not given.
MAX_RESULTS_LIMIT = 100
DEFAULT_MAX_RESULTS = 100

_tj = s.training_jobs


class InvalidNextTokenError(TunerError, ValueError):
    """A NextToken that this listing did not hand out (AWS answers ValidationException)."""


@dataclass(frozen=True)
class Listing:
    """What one ListTrainingJobsForHyperParameterTuningJob call asks for, pages aside."""

    job: str
    sort_by: str = "Name"
    sort_order: str = "Ascending"
    status_equals: str | None = None

    def key(self) -> list[Any]:
        """What a NextToken is bound to (the job, the order and the filter)."""
        return [self.job, self.sort_by, self.sort_order, self.status_equals]


class Keyed(Protocol):
    """A listing whose tokens are bound to :meth:`key` (its job, order and filters)."""

    def key(self) -> list[Any]: ...


def encode_token(listing: Keyed, offset: int) -> str:
    """The opaque NextToken of the page that starts at ``offset``."""
    raw = json.dumps([offset, *listing.key()], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(listing: Keyed, token: str) -> int:
    """The offset a NextToken of ``listing`` points at (InvalidNextTokenError otherwise)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        offset, *key = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        msg = f"invalid NextToken {token!r}: not one that tuner trials printed"
        raise InvalidNextTokenError(msg) from exc
    if key != listing.key() or not isinstance(offset, int) or offset < 0:
        msg = (
            f"NextToken {token!r} belongs to another listing; give the same job, --sort-by, "
            "--sort-order and --status as the call that printed it"
        )
        raise InvalidNextTokenError(msg)
    return offset


def _amt_status() -> ColumnElement[Any]:
    """TrainingJobStatus in SQL: our Pending is InProgress at the AMT surface."""
    return case(
        (_tj.c.status == TrialStatus.PENDING.value, TrialStatus.IN_PROGRESS.value),
        else_=_tj.c.status,
    )


def _has_objective() -> ColumnElement[bool]:
    """Rows whose summary has FinalHyperParameterTuningJobObjectiveMetric."""
    finished = (TrialStatus.COMPLETED.value, TrialStatus.STOPPED.value)
    return and_(_tj.c.final_value.is_not(None), _tj.c.status.in_(finished))


def _filters(listing: Listing) -> list[ColumnElement[bool]]:
    where = [_job_filter(listing.job)]
    if listing.status_equals is not None:
        where.append(_amt_status() == listing.status_equals)
    if listing.sort_by == "FinalObjectiveMetricValue":
        where.append(_has_objective())
    return where


def _order(listing: Listing) -> list[Any]:
    key = {
        "Name": _tj.c.name,
        "CreationTime": _tj.c.created_at,
        "Status": _amt_status(),
        "FinalObjectiveMetricValue": _tj.c.final_value,
    }.get(listing.sort_by)
    if key is None:
        msg = (
            "SortBy must be Name, CreationTime, Status or FinalObjectiveMetricValue, "
            f"got {listing.sort_by!r}"
        )
        raise ValueError(msg)
    if listing.sort_order == "Descending":
        return [key.desc(), _tj.c.number.desc()]
    return [key.asc(), _tj.c.number.asc()]


def count(storage: SqlStorage, listing: Listing) -> int:
    """How many training jobs the listing holds over all its pages."""
    query = select(func.count()).select_from(_tj).where(*_filters(listing))
    with storage.engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def page(
    storage: SqlStorage, listing: Listing, *, offset: int, max_results: int
) -> tuple[list[TrainingJobRecord], bool]:
    """The records of one page (at most ``max_results``, so at most 100 in memory) and
    whether more follow; one ``LIMIT max_results + 1`` query tells both."""
    query = (
        select(_tj)
        .where(*_filters(listing))
        .order_by(*_order(listing))
        .limit(max_results + 1)
        .offset(offset)
    )
    with storage.engine.connect() as conn:
        records = [training_job_record_from_row(row) for row in conn.execute(query)]
    return records[:max_results], len(records) > max_results


def _job_filter(job: str) -> ColumnElement[bool]:
    return _tj.c.tuning_job_id == (
        select(s.tuning_jobs.c.id).where(s.tuning_jobs.c.name == job).scalar_subquery()
    )


def digest(storage: SqlStorage, job: JobRecord) -> TrialsDigest:
    """The :class:`~tuner.describe.TrialsDigest` of ``job`` computed by the database: counters
    by GROUP BY, the best training job by ``ORDER BY final_value LIMIT 1`` (ties to the lowest
    number, as :func:`tuner.describe.best_trial` gives them), the first output folder; what
    DescribeHyperParameterTuningJob costs then does not grow with the number of trials loaded.
    """
    where = _job_filter(job.name)
    counted = StatusCounters()
    groups = (
        select(_tj.c.status, _tj.c.retryable, _tj.c.final_value.is_not(None), func.count())
        .where(where)
        .group_by(_tj.c.status, _tj.c.retryable, _tj.c.final_value.is_not(None))
    )
    objective = objective_of(job)
    value = (
        _tj.c.final_value.desc()
        if objective.type is ObjectiveType.MAXIMIZE
        else (_tj.c.final_value.asc())
    )
    best_query = select(_tj).where(where, _has_objective()).order_by(value, _tj.c.number).limit(1)
    output_query = (
        select(_tj.c.output_dir)
        .where(where, _tj.c.output_dir.is_not(None))
        .order_by(_tj.c.number)
        .limit(1)
    )
    with storage.engine.connect() as conn:
        for status, retryable, has_value, n in conn.execute(groups):
            counted.add(status, retryable=retryable, has_value=bool(has_value), count=int(n))
        best_row = conn.execute(best_query).first()
        output_dir = conn.execute(output_query).scalar()
    best = training_job_record_from_row(best_row) if best_row is not None else None
    output_path = str(PurePath(output_dir).parent) if output_dir else DEFAULT_OUTPUT_PATH
    return TrialsDigest(counted.status, counted.objective, best, output_path)


def describe_job(storage: SqlStorage, name: str, *, now: float) -> dict[str, Any]:
    """DescribeHyperParameterTuningJob from the database's :func:`digest` (a warm start with
    IdenticalDataAndAlgorithm, whose OverallBestTrainingJob compares parents, loads them)."""
    job = storage.load_job(name)
    overall = None
    if is_identical_warm_start(job):
        overall = overall_best_training_job(
            job, storage.trials(job.name), parent_records(storage, job)
        )
    return describe_digested(job, digest(storage, job), now=now, overall_best=overall)
