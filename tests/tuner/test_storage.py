"""SqlStorage round trips on a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tuner.errors import JobExistsError, JobNotFoundError, StorageError
from tuner.storage import SqlStorage

REQUEST = {
    "HyperParameterTuningJobName": "job-1",
    "HyperParameterTuningJobConfig": {"Strategy": "Random"},
}


def _storage(db_url: str) -> SqlStorage:
    storage = SqlStorage(db_url)
    storage.create_job("job-1", REQUEST, strategy="Random", seed=7, status="InProgress", now=100.0)
    return storage


def test_job_round_trip(db_url: str) -> None:
    storage = _storage(db_url)
    job = storage.load_job("job-1")
    assert (job.name, job.request, job.seed, job.status, job.created_at) == (
        "job-1",
        REQUEST,
        7,
        "InProgress",
        100.0,
    )
    storage.set_job_status(
        "job-1",
        "Completed",
        now=150.0,
        ended=True,
        completion={"NumberOfTrainingJobsObjectiveNotImproving": 2},
    )
    job = SqlStorage(db_url).load_job("job-1")  # a second connection sees it
    assert job.status == "Completed" and job.ended_at == 150.0
    assert job.completion == {"NumberOfTrainingJobsObjectiveNotImproving": 2}


def test_names_are_unique_case_insensitively(db_url: str) -> None:
    storage = _storage(db_url)
    with pytest.raises(JobExistsError, match="already exists"):
        storage.create_job(
            "JOB-1", REQUEST, strategy="Random", seed=1, status="InProgress", now=1.0
        )


def test_unknown_job(db_url: str) -> None:
    with pytest.raises(JobNotFoundError, match="no tuning job named 'nope'"):
        SqlStorage(db_url).load_job("nope")


def test_trial_life_cycle_and_curves(db_url: str) -> None:
    storage = _storage(db_url)
    with storage.batch():
        storage.add_trial(
            "job-1", 1, name="job-1-001-aaaa", hyperparameters={"eta": "0.1"}, now=101.0
        )
        storage.add_trial(
            "job-1", 2, name="job-1-002-bbbb", hyperparameters={"eta": "0.2"}, now=101.5
        )
    storage.mark_running("job-1", 1, worker="w1", now=102.0)
    for epoch in (1, 2, 3):
        storage.add_report(
            "job-1",
            1,
            attempt=1,
            epoch=epoch,
            metrics={"validation:auc": 0.8 + epoch / 100, "train:auc": 0.9},
            at=102.0 + epoch,
        )
    storage.finish_trial(
        "job-1",
        1,
        status="Completed",
        now=110.0,
        final_value=0.83,
        final_metrics={"validation:auc": 0.83},
        n_reports=3,
    )
    trials = storage.trials("job-1")
    assert [t.number for t in trials] == [1, 2]
    first = trials[0]
    assert (first.status, first.final_value, first.n_reports, first.worker) == (
        "Completed",
        0.83,
        3,
        "w1",
    )
    assert first.hyperparameters == {"eta": "0.1"} and trials[1].status == "Pending"
    curves = storage.curves("job-1", ["validation:auc"])
    assert [p.epoch for p in curves[1]] == [1, 2, 3]
    assert curves[1][-1].value == pytest.approx(0.83)
    assert 2 not in curves


def test_restart_hides_previous_attempt_metrics(db_url: str) -> None:
    storage = _storage(db_url)
    storage.add_trial("job-1", 1, name="t1", hyperparameters={}, now=1.0)
    storage.add_report("job-1", 1, attempt=1, epoch=1, metrics={"loss": 5.0}, at=2.0)
    storage.finish_trial(
        "job-1",
        1,
        status="Failed",
        now=3.0,
        final_value=None,
        final_metrics={},
        n_reports=1,
        failure_reason="boom",
        retryable=True,
    )
    storage.restart_trial("job-1", 1, attempt=2, reason="boom", now=4.0)
    assert storage.curves("job-1") == {}
    storage.add_report("job-1", 1, attempt=2, epoch=1, metrics={"loss": 1.0}, at=5.0)
    assert [p.value for p in storage.curves("job-1")[1]] == [1.0]
    trial = storage.trials("job-1")[0]
    assert (trial.status, trial.attempt) == ("Pending", 2)


def test_sqlite_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    _storage(str(path))  # a bare path is accepted
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    SqlStorage(str(path))
    con = sqlite3.connect(path)
    con.execute("INSERT INTO schema_version(version) VALUES (99)")
    con.commit()
    with pytest.raises(StorageError, match="newer"):
        SqlStorage(str(path))


def test_a_version_1_database_is_migrated_not_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    storage = _storage(str(path))
    storage.add_trial("job-1", 1, name="t1", hyperparameters={"eta": "0.1"}, now=1.0)
    storage.close()
    con = sqlite3.connect(path)  # make it look like a version 1 file
    con.execute("ALTER TABLE training_jobs DROP COLUMN retry_reasons_json")
    con.execute("DELETE FROM schema_version")
    con.execute("INSERT INTO schema_version(version) VALUES (1)")
    con.commit()
    con.close()
    upgraded = SqlStorage(str(path))
    assert [t.name for t in upgraded.trials("job-1")] == ["t1"]  # data kept
    upgraded.restart_trial("job-1", 1, attempt=2, reason="boom", now=2.0)
    assert upgraded.trials("job-1")[0].retry_reasons == ("boom",)
    versions = [v for (v,) in sqlite3.connect(path).execute("select version from schema_version order by version")]
    assert versions == [1, 2]
