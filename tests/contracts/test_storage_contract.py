"""The storage contract (tuner.storage.base.Storage), run on every database SqlStorage serves:
a real SQLite file and a real PostgreSQL server started by the test (marked ``postgres``).

SQLite-only behaviour (WAL mode, schema migrations of a file) is in tests/tuner/test_storage.py.
"""

from __future__ import annotations

import dataclasses

import pytest

from strategies import TrialStatus
from tuner.errors import JobExistsError, JobNotFoundError, StorageError
from tuner.status import JobStatus
from tuner.storage import SqlStorage, Storage

REQUEST = {
    "HyperParameterTuningJobName": "job-1",
    "HyperParameterTuningJobConfig": {"Strategy": "Random"},
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, db_url: str) -> str:
    return db_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")


@pytest.fixture
def storage(url: str) -> Storage:
    storage = SqlStorage(url)
    storage.create_job(
        "job-1", REQUEST, strategy="Random", seed=7, status=JobStatus.IN_PROGRESS, now=100.0
    )
    return storage


def _finish(storage: Storage, number: int, status: TrialStatus, **kwargs) -> None:
    defaults = {"now": 110.0, "final_value": None, "final_metrics": {}, "n_reports": 0}
    storage.finish_trial("job-1", number, status=status, **{**defaults, **kwargs})


def test_a_job_round_trips_and_a_second_connection_sees_it(storage: Storage, url: str) -> None:
    job = storage.load_job("job-1")
    assert (job.name, job.request, job.seed, job.status, job.created_at) == (
        "job-1",
        REQUEST,
        7,
        JobStatus.IN_PROGRESS,
        100.0,
    )
    completion = {"NumberOfTrainingJobsObjectiveNotImproving": 2}
    storage.set_job_status(
        "job-1", JobStatus.COMPLETED, now=150.0, ended=True, completion=completion
    )
    job = SqlStorage(url).load_job("job-1")
    assert job.status is JobStatus.COMPLETED and job.ended_at == 150.0
    assert job.completion == completion
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field"):
        job.status = JobStatus.FAILED  # type: ignore[misc]


def test_names_are_unique_whatever_their_case(storage: Storage) -> None:
    with pytest.raises(JobExistsError, match="already exists"):
        storage.create_job(
            "JOB-1", REQUEST, strategy="Random", seed=1, status=JobStatus.IN_PROGRESS, now=1.0
        )


def test_an_unknown_job_is_named(storage: Storage) -> None:
    with pytest.raises(JobNotFoundError, match="no tuning job named 'nope'"):
        storage.load_job("nope")
    with pytest.raises(JobNotFoundError, match="no tuning job named 'nope'"):
        storage.trials("nope")


def test_jobs_are_listed_oldest_first(storage: Storage) -> None:
    storage.create_job(
        "job-0", REQUEST, strategy="Grid", seed=1, status=JobStatus.IN_PROGRESS, now=50.0
    )
    assert [j.name for j in storage.list_jobs()] == ["job-0", "job-1"]


def test_a_trial_lives_from_pending_to_its_end_with_its_curve(storage: Storage) -> None:
    with storage.batch():
        storage.add_trial(
            "job-1", 1, name="job-1-001", hyperparameters={"eta": "0.1"}, now=101.0, bracket=2
        )
        storage.add_trial("job-1", 2, name="job-1-002", hyperparameters={"eta": "0.2"}, now=101.5)
    storage.mark_running("job-1", 1, worker="w1", now=102.0)
    for epoch in (1, 2, 3):
        metrics = {"validation:auc": 0.8 + epoch / 100, "train:auc": 0.9}
        storage.add_report("job-1", 1, attempt=1, epoch=epoch, metrics=metrics, at=102.0 + epoch)
    _finish(
        storage,
        1,
        TrialStatus.COMPLETED,
        final_value=0.83,
        final_metrics={"validation:auc": 0.83},
        n_reports=3,
    )
    first, second = storage.trials("job-1")
    assert (first.status, first.final_value, first.n_reports, first.worker, first.bracket) == (
        TrialStatus.COMPLETED,
        0.83,
        3,
        "w1",
        2,
    )
    assert (first.started_at, first.ended_at) == (102.0, 110.0)
    assert first.hyperparameters == {"eta": "0.1"} and second.status is TrialStatus.PENDING
    curves = storage.curves("job-1", ["validation:auc"])
    assert [p.epoch for p in curves[1]] == [1, 2, 3] and 2 not in curves
    assert curves[1][-1].value == pytest.approx(0.83)
    assert {p.name for p in storage.curves("job-1")[1]} == {"validation:auc", "train:auc"}


def test_a_restart_keeps_the_reasons_and_hides_the_previous_attempts_metrics(
    storage: Storage,
) -> None:
    storage.add_trial("job-1", 1, name="t1", hyperparameters={}, now=1.0)
    storage.add_report("job-1", 1, attempt=1, epoch=1, metrics={"loss": 5.0}, at=2.0)
    _finish(storage, 1, TrialStatus.FAILED, failure_reason="boom", retryable=True)
    assert storage.trials("job-1")[0].retryable is True
    storage.restart_trial("job-1", 1, attempt=2, reason="boom", now=4.0)
    storage.restart_trial("job-1", 1, attempt=3, reason="boom again", now=5.0)
    assert storage.curves("job-1") == {}
    storage.add_report("job-1", 1, attempt=3, epoch=1, metrics={"loss": 1.0}, at=6.0)
    assert [p.value for p in storage.curves("job-1")[1]] == [1.0]
    trial = storage.trials("job-1")[0]
    assert (trial.status, trial.attempt, trial.retry_reasons) == (
        TrialStatus.PENDING,
        3,
        ("boom", "boom again"),
    )
    assert trial.failure_reason is None and trial.final_value is None


def _crash_inside_a_batch(storage: Storage) -> None:
    with storage.batch():
        storage.add_trial("job-1", 1, name="t1", hyperparameters={}, now=1.0)
        storage.set_job_status("job-1", JobStatus.STOPPING, now=2.0)
        raise RuntimeError("crash inside the batch")


def test_a_batch_commits_together_or_not_at_all(storage: Storage) -> None:
    with pytest.raises(RuntimeError, match="crash"):
        _crash_inside_a_batch(storage)
    assert storage.trials("job-1") == []
    assert storage.load_job("job-1").status is JobStatus.IN_PROGRESS
    with storage.batch(), storage.batch():  # nested blocks join the outer one
        storage.add_trial("job-1", 1, name="t1", hyperparameters={}, now=1.0)
    assert len(storage.trials("job-1")) == 1


def test_a_write_the_database_refuses_is_a_storage_error(storage: Storage) -> None:
    storage.add_trial("job-1", 1, name="t1", hyperparameters={}, now=1.0)
    with pytest.raises(StorageError, match="database"):
        storage.add_trial("job-1", 1, name="t1-again", hyperparameters={}, now=1.0)
