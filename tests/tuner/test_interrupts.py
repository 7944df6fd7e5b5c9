"""Stopping a running `tuner run` (issue 18, point 3): `tuner stop` from another process, and a
second Ctrl-C that exits at once and leaves a job that `tuner resume` finishes.

Real processes: the CLI in its own session (so a signal to its group is what Ctrl-C sends),
script-mode training jobs whose scripts ignore SIGTERM (so a stop takes the pool's grace
period, the window in which the second Ctrl-C lands)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.tuner.test_script_mode import _data, _dead, _pids, _request, _source, _write

#: Trains for a minute, deaf to SIGTERM, unless the file ``quick`` exists beside the counter.
SLOW_SCRIPT = """
import os, signal, sys, time
from pathlib import Path
counter = Path(os.environ["COUNTER_DIR"])
(counter / f"pids-{os.getpid()}").write_text(str(os.getpid()))
print("loss=0.5", flush=True)
if (counter / "quick").exists():
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(60)
"""


def _start(tmp_path: Path, name: str) -> tuple[subprocess.Popen[str], Path, str]:
    src = _source(tmp_path, SLOW_SCRIPT)
    request = _request(str(src), _data(tmp_path), name=name, max_jobs=3, parallel=2)
    request["TrainingJobDefinition"]["Environment"] = {"COUNTER_DIR": str(tmp_path)}
    db = tmp_path / "t.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuner.cli", "run", str(_write(tmp_path, request))]
        + ["--db", str(db), "--output", str(tmp_path / "o"), "--quiet"],
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, db, f"sqlite:///{db}"


def _query(db: Path, sql: str) -> list[tuple]:
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return con.execute(sql).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []


def _wait_for(what: str, check, timeout_s: float = 60.0, every_s: float = 0.01) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every_s)


def _job_status(db: Path) -> str | None:
    rows = _query(db, "select status from tuning_jobs")
    return rows[0][0] if rows else None


def _wait_until_training(tmp_path: Path, db: Path) -> None:
    sql = "select count(*) from training_jobs where status='InProgress'"
    _wait_for("two training jobs", lambda: (_query(db, sql) or [(0,)])[0][0] == 2)
    _wait_for("both scripts", lambda: len(_pids(tmp_path)) == 2)


def _tuner(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tuner.cli", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_a_second_ctrl_c_exits_at_once_and_leaves_a_resumable_job(tmp_path: Path) -> None:
    proc, db, url = _start(tmp_path, "twice")
    _wait_until_training(tmp_path, db)
    os.killpg(proc.pid, signal.SIGINT)
    _wait_for("Stopping", lambda: _job_status(db) == "Stopping")
    os.killpg(proc.pid, signal.SIGINT)  # the scripts ignore SIGTERM: the stop is under way
    interrupted = time.monotonic()
    _, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - interrupted < 10, "the second Ctrl-C did not exit at once"
    assert proc.returncode == 130, stderr
    assert "Ctrl-C again exits at once" in stderr
    assert "tuner resume twice" in stderr
    assert _job_status(db) == "Stopping"  # not ended: resumable
    scripts = _pids(tmp_path)
    _wait_for("the scripts to die with their workers", lambda: all(map(_dead, scripts)), 10)

    (tmp_path / "quick").write_text("")
    resumed = _tuner("resume", "twice", "--db", url, "--output", str(tmp_path / "o"), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert _job_status(db) == "Completed"
    statuses = [s for (s,) in _query(db, "select status from training_jobs order by number")]
    assert statuses == ["Completed"] * 3  # the interrupted two ran again, then the third


def test_tuner_stop_from_another_process_stops_the_job_within_seconds(tmp_path: Path) -> None:
    proc, db, url = _start(tmp_path, "stopped")
    _wait_until_training(tmp_path, db)
    asked = time.monotonic()
    stop = _tuner("stop", "stopped", "--db", url, cwd=tmp_path)
    assert stop.returncode == 0, stop.stderr
    assert _job_status(db) in ("Stopping", "Stopped")
    _wait_for("Stopped", lambda: _job_status(db) == "Stopped", timeout_s=15)
    assert time.monotonic() - asked < 10
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1, stderr  # a stopped job is not a success
    rows = _query(db, "select status, n_reports from training_jobs order by number")
    assert [s for s, _ in rows] == ["Stopped", "Stopped"]  # the third never started
    assert all(n == 1 for _, n in rows)  # what they reported is kept
