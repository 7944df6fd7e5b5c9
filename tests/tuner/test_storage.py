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
    versions = [
        v
        for (v,) in sqlite3.connect(path).execute(
            "select version from schema_version order by version"
        )
    ]
    assert versions == [1, 2]
