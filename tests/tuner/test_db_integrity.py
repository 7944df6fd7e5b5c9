"""tuner.storage.integrity: the read-only check behind ``tuner db check``.

A healthy database is written by the real engine (``SqlStorage``, and once a real tuning job
through ``HyperparameterTuner``); each fault is then made in a copy with the sqlite3 module
(foreign keys off, as a careless tool would), and exactly the check meant for it must say
problem, naming the job or training job. The check itself must leave the file as it was.
"""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import text

from strategies.base import TrialStatus
from tuner import ContinuousParameter, HyperparameterTuner
from tuner.describe import training_job_name
from tuner.status import JobStatus
from tuner.storage import SqlStorage
from tuner.storage.integrity import MAX_EXAMPLES, Check, CheckStatus, check_database
from tuner.storage.schema import SCHEMA_VERSION

CHECKS = [
    "schema_version",
    "sqlite_integrity",
    "foreign_keys",
    "statuses",
    "ended_jobs_have_no_running_trials",
    "training_job_numbers",
    "report_counters",
    "max_jobs",
]


def _request(name: str, max_jobs: int, definitions: int = 0) -> dict[str, object]:
    request: dict[str, object] = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": max_jobs},
        },
    }
    if definitions:
        request["TrainingJobDefinitions"] = [
            {"DefinitionName": f"d{i}"} for i in range(definitions)
        ]
    return request


def _name(job: str, number: int) -> str:
    return training_job_name(job, number)


def _reports(storage: SqlStorage, job: str, number: int, epochs: int, attempt: int = 1) -> None:
    for epoch in range(1, epochs + 1):
        metrics = {"loss": 1.0 / epoch, "train:loss": 0.5 / epoch}
        storage.add_report(job, number, attempt=attempt, epoch=epoch, metrics=metrics, at=epoch)


def _finish(storage: SqlStorage, job: str, number: int, status: TrialStatus, **kw: object) -> None:
    values: dict[str, object] = {"now": 50.0, "final_value": None, "final_metrics": {}}
    storage.finish_trial(job, number, status=status, **{**values, **kw})


def _add(storage: SqlStorage, job: str, number: int, *, running: bool = True) -> None:
    storage.add_trial(job, number, name=_name(job, number), hyperparameters={"x": "1"}, now=1.0)
    if running:
        storage.mark_running(job, number, worker="w1", now=2.0)


def _build_job_1(storage: SqlStorage) -> None:
    """Completed, at its limit of 3: a Completed, a retried then Failed, a Stopped trial."""
    storage.create_job(
        "job-1",
        _request("job-1", 3),
        strategy="Random",
        seed=1,
        status=JobStatus.IN_PROGRESS,
        now=1.0,
    )
    for number in (1, 2, 3):
        _add(storage, "job-1", number)
    _reports(storage, "job-1", 1, 3)
    _finish(storage, "job-1", 1, TrialStatus.COMPLETED, final_value=0.3, n_reports=3)
    _reports(storage, "job-1", 2, 4)  # attempt 1: more epochs than attempt 2 will report
    storage.restart_trial("job-1", 2, attempt=2, reason="lost worker", now=10.0)
    storage.mark_running("job-1", 2, worker="w2", now=11.0)
    _reports(storage, "job-1", 2, 1, attempt=2)
    # n_reports 2 with one stored epoch: the second report held only NaN, which is not stored.
    _finish(storage, "job-1", 2, TrialStatus.FAILED, n_reports=2, failure_reason="boom")
    _reports(storage, "job-1", 3, 2)
    _finish(storage, "job-1", 3, TrialStatus.STOPPED, final_value=0.5, n_reports=2)
    storage.set_job_status("job-1", JobStatus.COMPLETED, now=60.0, ended=True)
    storage.set_tags("arn:tuning-job/job-1", {"team": "search", "cost": "low"})


def _build(url: str) -> None:
    """job-1 (see above); job-2 running (an InProgress trial with reports, a Pending one);
    job-3 of two algorithms, over its top-level limit (the max_jobs check skips it)."""
    storage = SqlStorage(url)
    _build_job_1(storage)
    storage.create_job(
        "job-2",
        _request("job-2", 4),
        strategy="Random",
        seed=2,
        status=JobStatus.IN_PROGRESS,
        now=2.0,
    )
    _add(storage, "job-2", 1)
    _reports(storage, "job-2", 1, 2)  # n_reports stays 0 until the trial ends
    _add(storage, "job-2", 2, running=False)
    storage.create_job(
        "job-3",
        _request("job-3", 1, definitions=2),
        strategy="Random",
        seed=3,
        status=JobStatus.IN_PROGRESS,
        now=3.0,
    )
    _add(storage, "job-3", 1)
    _add(storage, "job-3", 2)
    storage.close()


@pytest.fixture(scope="module")
def healthy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("healthy") / "tuner.db"
    _build(f"sqlite:///{path}")
    assert not path.with_name("tuner.db-wal").exists()  # closed: everything is in the file
    return path


@pytest.fixture
def db(healthy_file: Path, tmp_path: Path) -> Path:
    """A fresh copy of the healthy database, for one test to damage."""
    return Path(shutil.copy(healthy_file, tmp_path / "tuner.db"))


def _check(path: Path) -> list[Check]:
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    try:
        return check_database(engine, expected_version=SCHEMA_VERSION)
    finally:
        engine.dispose()


def _damage(path: Path, *statements: str) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA foreign_keys=OFF")
    for statement in statements:
        con.execute(statement)
    con.commit()
    con.close()


def _problems(checks: list[Check]) -> dict[str, str]:
    return {c.name: c.detail for c in checks if c.status is CheckStatus.PROBLEM}


def test_a_healthy_database_passes_every_check(db: Path) -> None:
    checks = _check(db)
    assert [c.name for c in checks] == CHECKS
    assert _problems(checks) == {}
    assert all(c.detail for c in checks)
    assert checks[0].detail == f"schema version {SCHEMA_VERSION}, as this tuner expects"


def _train_with_a_nan_report(hp, ctx):
    """Three reports, the middle one only NaN (not stored, but counted in n_reports)."""
    ctx.report(1, loss=hp["x"] ** 2)
    ctx.report(2, spread=math.nan)
    ctx.report(3, loss=hp["x"] ** 2 / 2)


def test_a_real_tuning_jobs_database_passes_every_check(tmp_path: Path) -> None:
    path = tmp_path / "real.db"
    tuner = HyperparameterTuner(
        _train_with_a_nan_report,
        "loss",
        {"x": ContinuousParameter(-1.0, 1.0)},
        objective_type="Minimize",
        max_jobs=4,
        max_parallel_jobs=2,
        random_seed=5,
        strategy="Random",
        storage=f"sqlite:///{path}",
        output_path=tmp_path / "out",
    )
    tuner.fit(job_name="real")
    assert tuner.describe()["HyperParameterTuningJobStatus"] == "Completed"
    checks = _check(path)
    assert [c.name for c in checks] == CHECKS
    assert _problems(checks) == {}


J1, J2 = "job-1", "job-2"
FAULTS = [
    pytest.param(
        [
            "INSERT INTO metrics (training_job_id, attempt, epoch, name, value, at) "
            f"VALUES (999, 1, {epoch}, 'loss', 1.0, 1.0)"
            for epoch in (1, 2, 3)
        ],
        "foreign_keys",
        ["missing training jobs with metrics (3 rows): 1", "id 999 (3 rows)"],
        id="orphan-metrics",
    ),
    pytest.param(
        [
            "INSERT INTO training_jobs (tuning_job_id, number, name, hyperparameters_json, "
            "status, created_at, started_at, ended_at, attempt, n_reports) "
            "VALUES (77, 1, 'ghost-001', '{}', 'Completed', 1.0, 2.0, 3.0, 1, 0)"
        ],
        "foreign_keys",
        ["training jobs of no tuning job: 1", "ghost-001 of missing tuning job id 77"],
        id="orphan-training-job",
    ),
    pytest.param(
        [f"UPDATE training_jobs SET status = 'Running' WHERE name = '{_name(J2, 1)}'"],
        "statuses",
        ["unknown status", f"{_name(J2, 1)} of {J2} ('Running')"],
        id="unknown-training-status",
    ),
    pytest.param(
        [f"UPDATE tuning_jobs SET status = 'Done' WHERE name = '{J2}'"],
        "statuses",
        [f"tuning jobs with an unknown status: 1 ({J2} ('Done'))"],
        id="unknown-job-status",
    ),
    pytest.param(
        [f"UPDATE training_jobs SET ended_at = NULL WHERE name = '{_name(J1, 3)}'"],
        "statuses",
        ["finished without ended_at", f"{_name(J1, 3)} of {J1} ('Stopped')"],
        id="finished-without-ended-at",
    ),
    pytest.param(
        [f"UPDATE training_jobs SET started_at = NULL WHERE name = '{_name(J2, 1)}'"],
        "statuses",
        ["InProgress without started_at", _name(J2, 1)],
        id="in-progress-without-started-at",
    ),
    pytest.param(
        [
            "UPDATE training_jobs SET status = 'InProgress', ended_at = NULL "
            f"WHERE name = '{_name(J1, 3)}'"
        ],
        "ended_jobs_have_no_running_trials",
        [f"{J1} (Completed; 1 running training job, e.g. {_name(J1, 3)})"],
        id="completed-job-with-a-running-trial",
    ),
    pytest.param(
        [f"UPDATE training_jobs SET number = 5 WHERE name = '{_name(J1, 3)}'"],
        "training_job_numbers",
        [f"{J1} (3 training jobs: missing 3, 4)"],
        id="gap-in-numbers",
    ),
    pytest.param(
        [f"UPDATE training_jobs SET number = 1000000 WHERE name = '{_name(J1, 3)}'"],
        "training_job_numbers",
        [f"{J1} (3 training jobs: missing 3, 4, 5, 6, 7 and 999,992 more)"],
        id="a-stray-huge-number",
    ),
    pytest.param(
        [f"UPDATE training_jobs SET name = '{_name(J1, 1)}' WHERE name = '{_name(J1, 2)}'"],
        "training_job_numbers",
        [f"training job names used more than once: 1 ({_name(J1, 1)} (2 times))"],
        id="duplicate-name",
    ),
    pytest.param(
        [f"UPDATE training_jobs SET n_reports = 1 WHERE name = '{_name(J1, 1)}'"],
        "report_counters",
        [f"{_name(J1, 1)} of {J1} (3 epochs stored, n_reports 1)"],
        id="n-reports-below-stored-epochs",
    ),
    pytest.param(
        [f"UPDATE training_jobs SET final_value = 0.25 WHERE name = '{_name(J1, 2)}'"],
        "report_counters",
        [f"Failed training jobs with a final value: 1 ({_name(J1, 2)} of {J1} (0.25))"],
        id="failed-with-a-final-value",
    ),
    pytest.param(
        [
            "UPDATE tuning_jobs SET request_json = json_set(request_json, "
            f"'$.HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs', 2) "
            f"WHERE name = '{J1}'"
        ],
        "max_jobs",
        [f"{J1} (3 training jobs, MaxNumberOfTrainingJobs 2)"],
        id="more-trials-than-max-jobs",
    ),
    pytest.param(
        ["INSERT INTO schema_version (version) VALUES (99)"],
        "schema_version",
        ["schema version 99", "newer tuner"],
        id="newer-schema",
    ),
    pytest.param(
        [f"UPDATE schema_version SET version = {SCHEMA_VERSION - 1}"],
        "schema_version",
        [f"schema version {SCHEMA_VERSION - 1}", "run tuner db upgrade"],
        id="older-schema",
    ),
    pytest.param(
        # The index keeps resource_arn's values while its definition now says key.
        [
            "PRAGMA writable_schema = ON",
            "UPDATE sqlite_master SET sql = 'CREATE INDEX ix_tags_resource_arn ON tags (key)' "
            "WHERE name = 'ix_tags_resource_arn'",
        ],
        "sqlite_integrity",
        ["PRAGMA integrity_check reports", "ix_tags_resource_arn"],
        id="damaged-index",
    ),
]


@pytest.mark.parametrize(("statements", "check", "words"), FAULTS)
def test_each_fault_is_found_by_its_own_check_only(
    db: Path, statements: list[str], check: str, words: list[str]
) -> None:
    _damage(db, *statements)
    problems = _problems(_check(db))
    assert list(problems) == [check], problems
    for word in words:
        assert word in problems[check]


def test_a_long_list_names_five_and_counts_the_rest(db: Path) -> None:
    _damage(
        db,
        *(
            "INSERT INTO training_jobs (tuning_job_id, number, name, hyperparameters_json, "
            f"status, created_at, attempt, n_reports) VALUES (77, {n}, 'ghost-{n}', '{{}}', "
            "'Pending', 1.0, 1, 0)"
            for n in range(1, 9)
        ),
    )
    detail = _problems(_check(db))["foreign_keys"]
    assert detail.count("ghost-") == MAX_EXAMPLES
    assert detail.endswith(f"and {8 - MAX_EXAMPLES} more)")


def _snapshot(path: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of the database's folder: bytes and mtime."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(path.parent.iterdir())}


@pytest.mark.parametrize("damaged", [False, True])
def test_the_check_writes_nothing(db: Path, damaged: bool) -> None:
    if damaged:
        _damage(db, f"UPDATE training_jobs SET number = 9 WHERE name = '{_name(J1, 1)}'")
    before = _snapshot(db)
    checks = _check(db)
    assert _snapshot(db) == before
    assert (checks[5].status is CheckStatus.PROBLEM) is damaged


def test_the_engine_is_handed_back_writable(db: Path) -> None:
    """query_only is the check's own guard: the pooled connection must not keep it."""
    engine = sqlalchemy.create_engine(f"sqlite:///{db}", pool_size=1)
    try:
        check_database(engine, expected_version=SCHEMA_VERSION)
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO tags (resource_arn, key, value) VALUES ('a', 'b', 'c')")
            )
    finally:
        engine.dispose()
    assert sqlite3.connect(db).execute("SELECT count(*) FROM tags").fetchone() == (3,)


def test_a_missing_file_is_a_problem_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    checks = _check(path)
    assert [(c.name, c.status) for c in checks] == [("schema_version", CheckStatus.PROBLEM)]
    assert str(path) in checks[0].detail
    assert not path.exists()


def test_a_database_that_is_not_tuners_says_why_each_check_could_not_run(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    _damage(path, "CREATE TABLE notes (id INTEGER PRIMARY KEY)")
    problems = _problems(_check(path))
    assert "no schema_version table" in problems.pop("schema_version")
    assert set(problems) == set(CHECKS) - {"schema_version", "sqlite_integrity"}
    assert all("the check could not run: no such table" in d for d in problems.values())


def test_a_missing_table_fails_only_the_checks_that_read_it(db: Path) -> None:
    _damage(db, "DROP TABLE metrics")
    problems = _problems(_check(db))
    assert "tables metrics are missing" in problems.pop("schema_version")
    assert set(problems) == {"foreign_keys", "report_counters"}
    assert "no such table: metrics" in problems["report_counters"]


def test_a_check_is_json_with_amts_capitalised_keys(db: Path) -> None:
    first = _check(db)[0].as_json()
    assert first == {
        "Name": "schema_version",
        "Status": "ok",
        "Detail": f"schema version {SCHEMA_VERSION}, as this tuner expects",
    }
    json.dumps(first)


@pytest.mark.postgres
def test_postgresql_runs_the_same_checks_but_sqlites_own(postgres_url: str) -> None:
    _build(postgres_url)
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        checks = check_database(engine, expected_version=SCHEMA_VERSION)
        assert [c.name for c in checks] == [c for c in CHECKS if c != "sqlite_integrity"]
        assert _problems(checks) == {}
        with engine.begin() as conn:  # a superuser may skip the foreign key triggers
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(
                text(
                    "INSERT INTO metrics (training_job_id, attempt, epoch, name, value, at) "
                    "VALUES (999, 1, 1, 'loss', 1.0, 1.0)"
                )
            )
            conn.execute(text(f"UPDATE tuning_jobs SET status = 'Done' WHERE name = '{J2}'"))
        problems = _problems(check_database(engine, expected_version=SCHEMA_VERSION))
    finally:
        engine.dispose()
    assert list(problems) == ["foreign_keys", "statuses"]
    assert "id 999 (1 row)" in problems["foreign_keys"]
    assert f"{J2} ('Done')" in problems["statuses"]
