"""What only SQLite files do: WAL mode, a bare path, schema versions and migrations.

The storage contract (every database) is in tests/contracts/test_storage_contract.py.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tuner.errors import StorageError
from tuner.storage import SqlStorage

REQUEST = {
    "HyperParameterTuningJobName": "job-1",
    "HyperParameterTuningJobConfig": {"Strategy": "Random"},
}


def _storage(db_url: str) -> SqlStorage:
    storage = SqlStorage(db_url)
    storage.create_job("job-1", REQUEST, strategy="Random", seed=7, status="InProgress", now=100.0)
    return storage


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


def _make_it_look_like_version(path: Path, version: int) -> None:
    """Undo the schema changes after ``version`` in a file the current code wrote."""
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE tuning_jobs DROP COLUMN lease_holder")  # version 4
    con.execute("ALTER TABLE tuning_jobs DROP COLUMN lease_expires_at")
    if version < 3:
        con.execute("DROP TABLE tags")
        con.execute("ALTER TABLE tuning_jobs DROP COLUMN runner")
    if version < 2:
        con.execute("ALTER TABLE training_jobs DROP COLUMN retry_reasons_json")
    con.execute("DELETE FROM schema_version")
    con.execute("INSERT INTO schema_version(version) VALUES (?)", (version,))
    con.commit()
    con.close()


def _versions(path: Path) -> list[int]:
    con = sqlite3.connect(path)
    try:
        return [v for (v,) in con.execute("select version from schema_version order by version")]
    finally:
        con.close()


def test_a_version_1_database_is_migrated_not_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    storage = _storage(str(path))
    storage.add_trial("job-1", 1, name="t1", hyperparameters={"eta": "0.1"}, now=1.0)
    storage.close()
    _make_it_look_like_version(path, 1)
    upgraded = SqlStorage(str(path))
    assert [t.name for t in upgraded.trials("job-1")] == ["t1"]  # data kept
    upgraded.restart_trial("job-1", 1, attempt=2, reason="boom", now=2.0)
    assert upgraded.trials("job-1")[0].retry_reasons == ("boom",)
    assert _versions(path) == [1, 2, 3, 4]


def test_a_version_2_database_gains_the_runner_column_and_tags(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    _storage(str(path)).close()
    _make_it_look_like_version(path, 2)
    con = sqlite3.connect(path)
    columns = {row[1] for row in con.execute("PRAGMA table_info(tuning_jobs)")}
    tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    con.close()
    assert "runner" not in columns and "tags" not in tables  # a genuine version 2 file
    upgraded = SqlStorage(str(path))
    assert _versions(path) == [2, 3, 4]
    assert upgraded.load_job("job-1").runner is None  # an old job has no runner
    upgraded.create_job(
        "job-2", REQUEST, strategy="Random", seed=1, status="InProgress", now=2.0, runner="serve"
    )
    upgraded.set_tags("arn:job-2", {"team": "ml"})
    reopened = SqlStorage(str(path))
    assert reopened.load_job("job-2").runner == "serve"
    assert reopened.tags("arn:job-2") == {"team": "ml"}
    assert _versions(path) == [2, 3, 4]  # opening it again migrates nothing


def test_a_version_3_database_gains_the_lease_columns(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    _storage(str(path)).close()
    _make_it_look_like_version(path, 3)
    con = sqlite3.connect(path)
    columns = {row[1] for row in con.execute("PRAGMA table_info(tuning_jobs)")}
    con.close()
    assert "runner" in columns and "lease_holder" not in columns  # a genuine version 3 file
    upgraded = SqlStorage(str(path))
    assert _versions(path) == [3, 4]
    job = upgraded.load_job("job-1")
    assert (job.lease_holder, job.lease_expires_at) == (None, None)  # an old job is free
    upgraded.acquire_lease(
        "job-1", "h:1:t", now=10.0, duration_s=60.0, holder_alive=lambda holder: True
    )
    reopened = SqlStorage(str(path))
    job = reopened.load_job("job-1")
    assert (job.lease_holder, job.lease_expires_at) == ("h:1:t", 70.0)
    assert _versions(path) == [3, 4]  # opening it again migrates nothing


def test_processes_opening_one_fresh_database_at_once_all_succeed(tmp_path: Path) -> None:
    """Three `tuner run` started together race to create the schema: each must open it."""
    import subprocess
    import sys
    import time

    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "go = Path(sys.argv[2])\n"
        "while not go.exists(): time.sleep(0.001)\n"
        "from tuner.storage import SqlStorage\n"
        "SqlStorage(sys.argv[1]).close()\n"
    )
    for round_ in range(3):
        db, go = tmp_path / f"race-{round_}.db", tmp_path / f"go-{round_}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", f"import tuner.storage\n{script}", str(db), str(go)],
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(6)
        ]
        time.sleep(1.0)  # every process imported the engine and waits
        go.write_text("")
        errors = [p.communicate(timeout=60)[1] for p in procs]
        assert all(p.returncode == 0 for p in procs), errors
        assert _versions(db) == [4]
