"""`tuner db upgrade` (Alembic migrations) and a database of a newer tuner refused by every
entry point without a byte written (issue 18, point 7). Real SQLite files, the real CLI."""

from __future__ import annotations

import hashlib
import json
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tuner.test_storage import _make_it_look_like_version, _storage, _versions
from tuner.storage import SqlStorage

CLI = (sys.executable, "-m", "tuner.cli")


def _tuner(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _fingerprint(folder: Path) -> tuple[str, bytes]:
    """The database file's content and its write-ahead log's (a read-only SQLite reader of a
    WAL database creates an empty log and its index beside it, which changes no data)."""
    wal = folder / "x.db-wal"
    digest = hashlib.sha256((folder / "x.db").read_bytes()).hexdigest()
    return digest, wal.read_bytes() if wal.exists() else b""


def _free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def test_db_upgrade_migrates_an_older_database_and_says_from_what(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    storage = _storage(str(path))
    storage.add_trial("job-1", 1, name="t1", hyperparameters={"eta": "0.1"}, now=1.0)
    storage.close()
    _make_it_look_like_version(path, 2)
    upgraded = _tuner("db", "upgrade", "--db", str(path), cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded from schema version 2 to 4" in upgraded.stdout
    assert _versions(path) == [2, 3, 4]
    con = sqlite3.connect(path)
    assert con.execute("select version_num from alembic_version").fetchall() == [("v4",)]
    con.close()
    again = _tuner("db", "upgrade", "--db", str(path), cwd=tmp_path)
    assert again.returncode == 0 and "already current" in again.stdout
    assert [t.name for t in SqlStorage(str(path)).trials("job-1")] == ["t1"]  # data kept


def test_db_upgrade_of_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    proc = _tuner("db", "upgrade", "--db", "typo.db", cwd=tmp_path)
    assert proc.returncode == 2 and "typo.db" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ["db", "upgrade"],
        ["list"],
        ["describe", "job-1"],
        ["trials", "job-1"],
        ["stop", "job-1"],
        ["resume", "job-1"],
        ["report", "job-1"],
        ["dashboard", "--port", "PORT"],
        ["serve", "--insecure-no-auth", "--port", "PORT"],
    ],
)
def test_a_newer_database_is_refused_and_left_untouched(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "x.db"
    _storage(str(path)).close()
    con = sqlite3.connect(path)
    con.execute("INSERT INTO schema_version(version) VALUES (99)")
    con.commit()
    con.close()
    before = _fingerprint(tmp_path)
    args = [_free_port() if a == "PORT" else a for a in args]
    proc = _tuner(*args, "--db", str(path), cwd=tmp_path)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "schema version 99, newer than this engine's" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _fingerprint(tmp_path) == before


def test_db_check_passes_a_sound_database_and_names_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    storage = _storage(str(path))
    storage.add_trial("job-1", 1, name="t1", hyperparameters={"eta": "0.1"}, now=1.0)
    storage.close()
    sound = _tuner("db", "check", "--db", str(path), "--json", cwd=tmp_path)
    assert sound.returncode == 0, sound.stdout + sound.stderr
    checks = json.loads(sound.stdout)["Checks"]
    assert {c["Status"] for c in checks} == {"ok"} and len(checks) >= 8
    con = sqlite3.connect(path)
    con.execute("UPDATE tuning_jobs SET status = 'Completed'")  # with t1 still Pending
    con.commit()
    con.close()
    before = _fingerprint(tmp_path)
    found = _tuner("db", "check", "--db", str(path), cwd=tmp_path)
    assert found.returncode == 1
    assert "ended_jobs_have_no_running_trials" in found.stdout and "job-1" in found.stdout
    assert _fingerprint(tmp_path) == before  # a check writes nothing
    missing = _tuner("db", "check", "--db", "typo.db", cwd=tmp_path)
    assert missing.returncode == 2 and not (tmp_path / "typo.db").exists()
