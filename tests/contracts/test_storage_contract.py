"""The storage contract (tuner.storage.base.Storage), run on every database SqlStorage serves:
a real SQLite file and a real PostgreSQL server started by the test (marked ``postgres``).

SQLite-only behaviour (WAL mode, schema migrations of a file) is in tests/tuner/test_storage.py.
"""

from __future__ import annotations

import dataclasses
import threading

import pytest
from sqlalchemy import text

from strategies import TrialStatus
from tuner.errors import JobExistsError, JobLeasedError, JobNotFoundError, StorageError
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


def test_the_runner_round_trips_and_defaults_to_none(storage: Storage, url: str) -> None:
    storage.create_job(
        "served", REQUEST, strategy="Random", seed=1, status="InProgress", now=1.0, runner="serve"
    )
    again = SqlStorage(url)
    assert again.load_job("job-1").runner is None
    assert again.load_job("served").runner == "serve"
    assert {j.name: j.runner for j in again.list_jobs()} == {"served": "serve", "job-1": None}


def _trial_with_a_curve(storage: Storage, job: str) -> None:
    storage.add_trial(job, 1, name=f"{job}-001", hyperparameters={"eta": "0.1"}, now=101.0)
    storage.add_report(job, 1, attempt=1, epoch=1, metrics={"loss": 2.0}, at=102.0)


def _rows(url: str, table: str) -> int:
    storage = SqlStorage(url)
    with storage.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_deleting_a_job_removes_its_trials_and_curves(storage: Storage, url: str) -> None:
    storage.create_job("kept", REQUEST, strategy="Grid", seed=1, status="InProgress", now=1.0)
    _trial_with_a_curve(storage, "job-1")
    _trial_with_a_curve(storage, "kept")
    storage.delete_job("job-1")
    with pytest.raises(JobNotFoundError, match="no tuning job named 'job-1'"):
        storage.load_job("job-1")
    assert [j.name for j in storage.list_jobs()] == ["kept"]
    assert (_rows(url, "training_jobs"), _rows(url, "metrics")) == (1, 1)
    assert [p.value for p in storage.curves("kept")[1]] == [2.0]
    with pytest.raises(JobNotFoundError, match="no tuning job named 'job-1'"):
        storage.delete_job("job-1")


def test_a_deleted_jobs_name_can_be_used_again_by_the_same_storage(storage: Storage) -> None:
    # a later job, so that SQLite cannot give the new job-1 the deleted one's id again
    storage.create_job("kept", REQUEST, strategy="Grid", seed=1, status="InProgress", now=1.0)
    _trial_with_a_curve(storage, "job-1")
    _finish(storage, 1, TrialStatus.COMPLETED, final_value=2.0, n_reports=1)
    with storage.batch():
        storage.delete_job("job-1")
        storage.create_job("job-1", REQUEST, strategy="Grid", seed=2, status="InProgress", now=5.0)
    assert storage.trials("job-1") == [] and storage.curves("job-1") == {}
    _trial_with_a_curve(storage, "job-1")
    storage.mark_running("job-1", 1, worker="w2", now=103.0)
    _finish(storage, 1, TrialStatus.FAILED, failure_reason="boom")
    (trial,) = storage.trials("job-1")
    assert (trial.status, trial.worker, trial.failure_reason) == (TrialStatus.FAILED, "w2", "boom")
    assert storage.load_job("job-1").strategy == "Grid"
    assert [p.value for p in storage.curves("job-1")[1]] == [2.0]


def _delete_then_crash(storage: Storage) -> None:
    with storage.batch():
        storage.delete_job("job-1")
        raise RuntimeError("crash after the delete")


def test_a_failed_batch_keeps_the_job_it_deleted(storage: Storage) -> None:
    _trial_with_a_curve(storage, "job-1")
    with pytest.raises(RuntimeError, match="crash"):
        _delete_then_crash(storage)
    assert [t.name for t in storage.trials("job-1")] == ["job-1-001"]
    assert [p.value for p in storage.curves("job-1")[1]] == [2.0]


ARN = "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/job-1"


def test_tags_are_upserted_and_listed_in_the_order_first_added(storage: Storage) -> None:
    storage.set_tags(ARN, {"team": "ml", "stage": "dev"})
    storage.set_tags(ARN, {"owner": "ana", "stage": "prod"})  # AddTags overwrites a key
    assert list(storage.tags(ARN).items()) == [("team", "ml"), ("stage", "prod"), ("owner", "ana")]
    assert storage.tags(ARN + "-other") == {}
    storage.set_tags(ARN, {})
    assert len(storage.tags(ARN)) == 3


def test_tags_are_deleted_by_key_or_all_at_once(storage: Storage, url: str) -> None:
    other = ARN + "-other"
    storage.set_tags(ARN, {"a": "1", "b": "2", "c": "3"})
    storage.set_tags(other, {"a": "x"})
    storage.delete_tags(ARN, ["a", "nope"])  # an unknown key is ignored
    storage.delete_tags(ARN, [])
    assert storage.tags(ARN) == {"b": "2", "c": "3"}
    assert SqlStorage(url).tags(ARN) == {"b": "2", "c": "3"}  # a second connection sees them
    storage.delete_tags(ARN)
    assert storage.tags(ARN) == {} and storage.tags(other) == {"a": "x"}
    storage.delete_tags("arn:unknown")  # an unknown resource is no error


def test_deleting_a_job_leaves_its_tags_to_the_caller(storage: Storage) -> None:
    storage.set_tags(ARN, {"team": "ml"})
    storage.delete_job("job-1")
    assert storage.tags(ARN) == {"team": "ml"}


# -- the lease of the job's coordinator --------------------------------------------------------


def _alive(holder: str) -> bool:
    return True


def _lease(storage: Storage, holder: str, now: float, alive=_alive) -> None:
    storage.acquire_lease("job-1", holder, now=now, duration_s=60.0, holder_alive=alive)


def test_a_lease_is_taken_refused_to_another_and_renewed(storage: Storage, url: str) -> None:
    _lease(storage, "host-a:101:aaaa", now=1000.0)
    job = SqlStorage(url).load_job("job-1")
    assert (job.lease_holder, job.lease_expires_at) == ("host-a:101:aaaa", 1060.0)
    _lease(storage, "host-a:101:aaaa", now=1010.0)  # already ours: taken again
    with pytest.raises(JobLeasedError, match=r"'job-1'.*process 101 on host host-a") as caught:
        _lease(SqlStorage(url), "host-b:202:bbbb", now=1020.0)
    assert isinstance(caught.value, JobExistsError)  # the CLI's exit 2, the API's ResourceInUse
    message = str(caught.value)
    assert "until " in message and "stop that process" in message and "expire" in message
    assert storage.load_job("job-1").lease_holder == "host-a:101:aaaa"
    assert storage.renew_lease("job-1", "host-a:101:aaaa", now=1050.0, duration_s=60.0)
    assert storage.load_job("job-1").lease_expires_at == 1110.0
    assert not storage.renew_lease("job-1", "host-b:202:bbbb", now=1050.0, duration_s=60.0)
    assert storage.load_job("job-1").lease_expires_at == 1110.0


def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_renew(
    storage: Storage,
) -> None:
    _lease(storage, "host-a:101:aaaa", now=1000.0)
    _lease(storage, "host-b:202:bbbb", now=1061.0)  # expired at 1060: taken, holder alive
    assert storage.load_job("job-1").lease_holder == "host-b:202:bbbb"
    assert not storage.renew_lease("job-1", "host-a:101:aaaa", now=1062.0, duration_s=60.0)
    storage.release_lease("job-1", "host-a:101:aaaa")  # not its lease any more: nothing
    assert storage.load_job("job-1").lease_holder == "host-b:202:bbbb"


def test_a_dead_holders_lease_is_taken_over_at_once(storage: Storage) -> None:
    _lease(storage, "host-a:101:dead", now=1000.0)
    asked = []

    def alive(holder: str) -> bool:
        asked.append(holder)
        return holder != "host-a:101:dead"

    _lease(storage, "host-a:102:live", now=1001.0, alive=alive)
    assert asked == ["host-a:101:dead"]
    assert storage.load_job("job-1").lease_holder == "host-a:102:live"
    with pytest.raises(JobLeasedError, match="process 102 on host host-a"):
        _lease(storage, "host-a:103:next", now=1002.0, alive=alive)


def test_a_released_lease_is_free_and_an_unknown_job_is_named(storage: Storage) -> None:
    _lease(storage, "host-a:101:aaaa", now=1000.0)
    storage.release_lease("job-1", "host-b:202:bbbb")  # someone else's release: nothing
    assert storage.load_job("job-1").lease_holder == "host-a:101:aaaa"
    storage.release_lease("job-1", "host-a:101:aaaa")
    job = storage.load_job("job-1")
    assert (job.lease_holder, job.lease_expires_at) == (None, None)
    _lease(storage, "host-b:202:bbbb", now=1001.0)
    assert storage.load_job("job-1").lease_holder == "host-b:202:bbbb"
    with pytest.raises(JobNotFoundError, match="no tuning job named 'nope'"):
        storage.acquire_lease("nope", "h:1:x", now=1.0, duration_s=60.0, holder_alive=_alive)
    assert not storage.renew_lease("nope", "h:1:x", now=1.0, duration_s=60.0)
    storage.release_lease("nope", "h:1:x")


def _race(url: str, job: str, holders: list[str], alive=_alive) -> list[str]:
    """Each holder, with a database connection of its own, asks for the lease at once."""
    storages = [SqlStorage(url) for _ in holders]
    barrier = threading.Barrier(len(holders))
    won: list[str] = []
    refused: list[str] = []
    errors: list[BaseException] = []

    def take(storage: SqlStorage, holder: str) -> None:
        barrier.wait()
        try:
            storage.acquire_lease(job, holder, now=2000.0, duration_s=60.0, holder_alive=alive)
            won.append(holder)
        except JobLeasedError:
            refused.append(holder)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [
        threading.Thread(target=take, args=(s, h)) for s, h in zip(storages, holders, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for storage in storages:
        storage.close()
    assert errors == []
    assert len(won) == 1 and len(refused) == len(holders) - 1, (won, refused)
    return won


@pytest.mark.parametrize("previous", [None, "host-z:9:dead"], ids=["free", "dead-holder"])
def test_of_coordinators_racing_for_a_lease_exactly_one_wins(
    storage: Storage, url: str, previous: str | None
) -> None:
    for round_ in range(8):
        job = f"race-{round_}"
        storage.create_job(job, REQUEST, strategy="Random", seed=1, status="InProgress", now=1.0)
        if previous is not None:
            storage.acquire_lease(job, previous, now=1990.0, duration_s=60.0, holder_alive=_alive)
        (winner,) = _race(
            url, job, [f"host-{i}:{i}:tok" for i in range(3)], alive=lambda h: h != previous
        )
        assert storage.load_job(job).lease_holder == winner
