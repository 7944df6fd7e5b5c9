"""The SageMaker operations ``tuner serve`` answers, on the engine's storage and job runner.

Each handler takes the request's parameters (already checked against botocore's input shape)
and returns the output shape's members; :mod:`tuner.describe` and
:mod:`tuner.describe_training` build the records' responses, so ``tuner describe --json`` and
DescribeHyperParameterTuningJob over the wire are the same document.

Choices where AWS is silent or where a local engine differs (AMT.md marks them):

* MaxResults defaults to 10 on every list, as AWS documents; NextToken is opaque and bound to
  the listing's filters and order (another listing's token is a ValidationException).
* ListHyperParameterTuningJobs' NameContains matches without regard to case; the time filters
  are strict (``After``: later than the time given).
* StopHyperParameterTuningJob of a job that is not InProgress is a ValidationException, as AWS
  answers; the job's coordinator (here or in a ``tuner run`` on the same database) sees the
  Stopping status within a second and stops its training jobs.
* DeleteHyperParameterTuningJob deletes a finished job (Completed, Failed, Stopped); a running
  one is a ValidationException ("stop it first"). AWS keeps the training jobs of a deleted
  tuning job; here they are rows of the tuning job and go with it (their files stay on disk).
* Tags: at most 50 per resource, keys starting ``aws:`` are AWS's own (refused). A training
  job's tags are its tuning job's (AMT propagates them) and any added to it directly.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.validate import ParamValidator

from tuner import trial_pages
from tuner.describe import (
    objective_of,
    training_job_arn,
    training_job_summary,
    tuning_job_arn,
    tuning_job_summary_counted,
)
from tuner.describe_training import (
    describe_training_job,
    parse_training_job_name,
    training_job_list_summary,
)
from tuner.serve.jobs import JobRunner
from tuner.serve.wire import epoch_seconds, not_found, service_model, validation_error
from tuner.status import JobStatus
from tuner.storage import JobRecord, SqlStorage, TrainingJobRecord
from tuner.trial_pages import InvalidNextTokenError, Listing

DEFAULT_MAX_RESULTS = 10
MAX_TAGS = 50
_TUNING_ARN = re.compile(r"^arn:aws:sagemaker:[^:]*:[0-9]*:hyper-parameter-tuning-job/(.+)$")
_TRAINING_ARN = re.compile(r"^arn:aws:sagemaker:[^:]*:[0-9]*:training-job/(.+)$")

Handler = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class _Query:
    """A list call's filters and order, which its NextToken is bound to."""

    operation: str
    filters: tuple[Any, ...]

    def key(self) -> list[Any]:
        # As it comes back from the token's JSON: lists, not tuples.
        return [self.operation, *[list(f) for f in self.filters]]


class SageMakerApi:
    """One handler per operation; :meth:`call` dispatches by operation name."""

    def __init__(
        self, storage: SqlStorage, runner: JobRunner, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.storage = storage
        self.runner = runner
        self.clock = clock
        self.handlers: dict[str, Handler] = {
            "CreateHyperParameterTuningJob": self.create_tuning_job,
            "DescribeHyperParameterTuningJob": self.describe_tuning_job,
            "ListHyperParameterTuningJobs": self.list_tuning_jobs,
            "ListTrainingJobsForHyperParameterTuningJob": self.list_training_jobs_for_tuning_job,
            "StopHyperParameterTuningJob": self.stop_tuning_job,
            "DeleteHyperParameterTuningJob": self.delete_tuning_job,
            "DescribeTrainingJob": self.describe_training_job,
            "ListTrainingJobs": self.list_training_jobs,
            "AddTags": self.add_tags,
            "ListTags": self.list_tags,
            "DeleteTags": self.delete_tags,
        }

    @property
    def operations(self) -> frozenset[str]:
        return frozenset(self.handlers)

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        return self.handlers[operation](params)

    # -- tuning jobs ---------------------------------------------------------------------------
    def create_tuning_job(self, params: dict[str, Any]) -> dict[str, Any]:
        tags = _checked_tags(params.get("Tags") or [])
        name = self.runner.create(params)
        if tags:
            self.storage.set_tags(tuning_job_arn(name), tags)
        return {"HyperParameterTuningJobArn": tuning_job_arn(name)}

    def describe_tuning_job(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["HyperParameterTuningJobName"]
        self._job(name)
        return trial_pages.describe_job(self.storage, name, now=self.clock())

    def list_tuning_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        jobs = [j for j in self.storage.list_jobs() if _job_matches(j, params)]
        sort_by = params.get("SortBy", "Name")
        key: Callable[[JobRecord], Any] = {
            "Name": lambda j: j.name,
            "Status": lambda j: j.status.value,
            "CreationTime": lambda j: j.created_at,
        }[sort_by]
        jobs.sort(key=key, reverse=params.get("SortOrder") == "Descending")
        page, token = self._page("ListHyperParameterTuningJobs", params, jobs)
        digests = [(j, trial_pages.digest(self.storage, j)) for j in page]  # counted in SQL
        summaries = [
            tuning_job_summary_counted(j, d.status_counters, d.objective_counters)
            for j, d in digests
        ]
        return _with_token({"HyperParameterTuningJobSummaries": summaries}, token)

    def list_training_jobs_for_tuning_job(self, params: dict[str, Any]) -> dict[str, Any]:
        job = self._job(params["HyperParameterTuningJobName"])
        listing = Listing(
            job=job.name,
            sort_by=params.get("SortBy", "Name"),
            sort_order=params.get("SortOrder", "Ascending"),
            status_equals=params.get("StatusEquals"),
        )
        offset = _offset(listing, params.get("NextToken"))
        records, more = trial_pages.page(
            self.storage, listing, offset=offset, max_results=_max_results(params)
        )
        objective = objective_of(job)
        summaries = [training_job_summary(job, r, objective) for r in records]
        token = trial_pages.encode_token(listing, offset + len(records)) if more else None
        return _with_token({"TrainingJobSummaries": summaries}, token)

    def stop_tuning_job(self, params: dict[str, Any]) -> dict[str, Any]:
        job = self._job(params["HyperParameterTuningJobName"])
        if job.status is not JobStatus.IN_PROGRESS:
            raise validation_error(
                f"The request was rejected because the tuning job {job.name!r} is in status "
                f"{job.status.value}; only an InProgress tuning job can be stopped"
            )
        self.storage.set_job_status(job.name, JobStatus.STOPPING, now=self.clock())
        return {}

    def delete_tuning_job(self, params: dict[str, Any]) -> dict[str, Any]:
        job = self._job(params["HyperParameterTuningJobName"])
        if not job.status.is_terminal:
            raise validation_error(
                f"The tuning job {job.name!r} is {job.status.value}; stop it "
                "(StopHyperParameterTuningJob) and delete it once it is Stopped"
            )
        with self.storage.batch():
            self.storage.delete_tags(tuning_job_arn(job.name))
            self.storage.delete_job(job.name)
        return {}

    # -- training jobs -------------------------------------------------------------------------
    def describe_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        job, trial = self._training_job(params["TrainingJobName"])
        return describe_training_job(job, trial, now=self.clock())

    def list_training_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        trials = [
            t
            for job in self.storage.list_jobs()
            for t in self.storage.trials(job.name)
            if _trial_matches(t, params)
        ]
        sort_by = params.get("SortBy", "CreationTime")
        key: Callable[[TrainingJobRecord], Any] = {
            "Name": lambda t: t.name,
            "CreationTime": lambda t: (t.created_at, t.name),
            "Status": lambda t: (_training_status(t), t.name),
        }[sort_by]
        trials.sort(key=key, reverse=params.get("SortOrder") == "Descending")
        page, token = self._page("ListTrainingJobs", params, trials)
        summaries = [training_job_list_summary(t) for t in page]
        return _with_token({"TrainingJobSummaries": summaries}, token)

    # -- tags ----------------------------------------------------------------------------------
    def add_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = self._resource(params["ResourceArn"])
        tags = _checked_tags(params["Tags"])
        with self.storage.batch():
            merged = {**self.storage.tags(arn), **tags}
            if len(merged) > MAX_TAGS:
                raise validation_error(
                    f"Tags: a resource has at most {MAX_TAGS} tags; this would make {len(merged)}"
                )
            self.storage.set_tags(arn, tags)
        return {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}

    def list_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = self._resource(params["ResourceArn"])
        tags = dict(self.storage.tags(arn))
        parent = self._tuning_job_of_training_arn(arn)
        if parent is not None:
            tags = {**self.storage.tags(tuning_job_arn(parent.name)), **tags}
        items = [{"Key": k, "Value": v} for k, v in tags.items()]
        page, token = self._page("ListTags", params, items, default=MAX_TAGS)
        return _with_token({"Tags": page}, token)

    def delete_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = self._resource(params["ResourceArn"])
        self.storage.delete_tags(arn, list(params["TagKeys"]))
        return {}

    # -- lookups -------------------------------------------------------------------------------
    def _job(self, name: str) -> JobRecord:
        try:
            return self.storage.load_job(name)
        except LookupError:
            raise not_found(f"Amazon SageMaker can't find a tuning job with name {name}") from None

    def _find_job(self, name: str) -> JobRecord | None:
        """The job called ``name`` without regard to case (ARNs hold names in lower case)."""
        try:
            return self.storage.load_job(name)
        except LookupError:
            pass
        return next((j for j in self.storage.list_jobs() if j.name.lower() == name.lower()), None)

    def _training_job(self, name: str) -> tuple[JobRecord, TrainingJobRecord]:
        missing = not_found(f"Requested resource not found: training job {name!r}")
        parsed = parse_training_job_name(name)
        job = self._find_job(parsed[0]) if parsed else None
        if parsed is None or job is None:
            raise missing
        trial = next((t for t in self.storage.trials(job.name) if t.number == parsed[1]), None)
        if trial is None or trial.name.lower() != name.lower():
            raise missing
        return job, trial

    def _resource(self, arn: str) -> str:
        """``arn`` if it names a tuning or training job here (ResourceNotFound otherwise)."""
        tuning = _TUNING_ARN.match(arn)
        if tuning is not None and self._find_job(tuning[1]) is not None:
            return tuning_job_arn(tuning[1])
        training = _TRAINING_ARN.match(arn)
        if training is not None:
            return training_job_arn(self._training_job(training[1])[1].name)
        raise not_found(f"Requested resource not found: {arn}")

    def _tuning_job_of_training_arn(self, arn: str) -> JobRecord | None:
        training = _TRAINING_ARN.match(arn)
        return self._training_job(training[1])[0] if training else None

    def _page(
        self,
        operation: str,
        params: Mapping[str, Any],
        items: Sequence[Any],
        *,
        default: int = DEFAULT_MAX_RESULTS,
    ) -> tuple[Sequence[Any], str | None]:
        """One page of ``items`` and the NextToken of the next (None: the last page)."""
        filters = tuple(
            sorted((k, repr(v)) for k, v in params.items() if k not in ("NextToken", "MaxResults"))
        )
        query = _Query(operation, filters)
        offset = _offset(query, params.get("NextToken"))
        size = _max_results(params, default)
        page = items[offset : offset + size]
        more = offset + size < len(items)
        return page, trial_pages.encode_token(query, offset + size) if more else None


def _offset(listing: trial_pages.Keyed, token: str | None) -> int:
    if not token:
        return 0
    try:
        return trial_pages.decode_token(listing, token)
    except InvalidNextTokenError:
        raise validation_error(
            "NextToken: not a token this listing returned (give the same filters and order as "
            "the call that returned it)"
        ) from None


def _max_results(params: Mapping[str, Any], default: int = DEFAULT_MAX_RESULTS) -> int:
    value = params.get("MaxResults", default)
    if not 1 <= value <= trial_pages.MAX_RESULTS_LIMIT:
        raise validation_error(
            f"MaxResults: must be 1 to {trial_pages.MAX_RESULTS_LIMIT}, got {value}"
        )
    return int(value)


def _with_token(response: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token is not None:
        response["NextToken"] = token
    return response


def _within_times(created: float, modified: float, params: Mapping[str, Any]) -> bool:
    bounds = (
        ("CreationTimeAfter", created, 1),
        ("CreationTimeBefore", created, -1),
        ("LastModifiedTimeAfter", modified, 1),
        ("LastModifiedTimeBefore", modified, -1),
    )
    for name, value, side in bounds:
        if name in params and (value - epoch_seconds(params[name])) * side <= 0:
            return False
    return True


def _job_matches(job: JobRecord, params: Mapping[str, Any]) -> bool:
    contains = params.get("NameContains")
    if contains is not None and contains.lower() not in job.name.lower():
        return False
    if params.get("StatusEquals") not in (None, job.status.value):
        return False
    return _within_times(job.created_at, job.last_modified_at, params)


def _training_status(trial: TrainingJobRecord) -> str:
    return str(training_job_list_summary(trial)["TrainingJobStatus"])


def _trial_modified(trial: TrainingJobRecord) -> float:
    return max(t for t in (trial.created_at, trial.started_at, trial.ended_at) if t is not None)


def _trial_matches(trial: TrainingJobRecord, params: Mapping[str, Any]) -> bool:
    contains = params.get("NameContains")
    if contains is not None and contains.lower() not in trial.name.lower():
        return False
    if params.get("StatusEquals") not in (None, _training_status(trial)):
        return False
    return _within_times(trial.created_at, _trial_modified(trial), params)


def _checked_tags(tags: Iterable[Any]) -> dict[str, str]:
    """Tags as a map, checked against botocore's TagList shape and AWS's rules."""
    tags = list(tags)
    report = ParamValidator().validate(tags, service_model().shape_for("TagList"))
    if report.has_errors():
        raise validation_error(f"Tags: {report.generate_report()}")
    out: dict[str, str] = {}
    for i, tag in enumerate(tags):
        key = tag["Key"]
        if key.lower().startswith("aws:"):
            raise validation_error(f"Tags[{i}].Key: the prefix 'aws:' is reserved, got {key!r}")
        out[key] = tag.get("Value", "")
    if len(out) > MAX_TAGS:
        raise validation_error(f"Tags: at most {MAX_TAGS} tags, got {len(out)}")
    return out
