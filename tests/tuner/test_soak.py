"""Soak: three `tuner run` processes on one SQLite file with the dashboard and two CLI readers
polling it, for TUNER_SOAK_S seconds (default 300; issue 18, point 4), and the same on a real
PostgreSQL server for a fifth of that (point 5).

What must hold: no process ever meets "database is locked", every report a training script
sent is in the database (the script counts what it printed, per training job, in a file of
its own), and the write-ahead log stays bounded because it is checkpointed and truncated
(``journal_size_limit``) even while readers keep snapshots open.

Script-mode training jobs: each prints its objective EPOCHS times, a little apart, so the
coordinators write reports all the time; each job ends at its ResourceLimits.MaxRuntimeInSeconds.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy
import sqlalchemy.exc

from tests.tuner.test_script_mode import _data, _request, _source, _write

pytestmark = pytest.mark.slow

SOAK_S = max(120.0, float(os.environ.get("TUNER_SOAK_S", "300")))  # AMT's minimum: 120 s
EPOCHS = 20
JOBS = ("soak-a", "soak-b", "soak-c")
#: The bound the write-ahead log must stay under (SQLite's journal_size_limit is 64 MiB here).
WAL_LIMIT_BYTES = 96 * 1024 * 1024

SCRIPT = f"""
import os, time
from pathlib import Path
sent = Path(os.environ["COUNTER_DIR"], os.environ["TRAINING_JOB_NAME"])
for epoch in range(1, {EPOCHS + 1}):
    print(f"loss={{1.0 / epoch}}", flush=True)
    with sent.open("a") as counter:
        counter.write("1\\n")
    time.sleep(0.02)
"""

CLI = (sys.executable, "-m", "tuner.cli")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_jobs(
    tmp_path: Path, url: str, counters: Path, seconds: float
) -> list[subprocess.Popen[str]]:
    src = _source(tmp_path, SCRIPT)
    procs = []
    for name in JOBS:
        request = _request(str(src), _data(tmp_path), name=name, max_jobs=100_000, parallel=2)
        limits = request["HyperParameterTuningJobConfig"]["ResourceLimits"]
        limits["MaxRuntimeInSeconds"] = int(seconds)
        request["TrainingJobDefinition"]["Environment"] = {"COUNTER_DIR": str(counters)}
        spec = _write(tmp_path, request)
        procs.append(_popen("run", str(spec), "--db", url, "--quiet", cwd=tmp_path))
    return procs


def _popen(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """Its stderr goes to a file (a pipe nobody reads for minutes would fill and block it)."""
    log = cwd / f"stderr-{args[0]}-{len(list(cwd.glob('stderr-*')))}.log"
    with log.open("w") as stderr:
        return subprocess.Popen(
            [*CLI, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr, text=True
        )


def _read_everything(tmp_path: Path, url: str, base: str) -> list[str]:
    """One round of the readers: two CLI commands and the dashboard's job pages."""
    problems = []
    for args in (("list",), ("trials", JOBS[0], "--json")):
        proc = subprocess.run(
            [*CLI, *args, "--db", url], cwd=tmp_path, capture_output=True, text=True
        )
        if proc.returncode != 0 or "locked" in proc.stderr:
            problems.append(f"tuner {' '.join(args)}: {proc.returncode} {proc.stderr[-300:]}")
    for name in JOBS:
        try:
            with urllib.request.urlopen(f"{base}/api/jobs/{name}", timeout=30) as response:
                json.load(response)
        except OSError as exc:  # not created yet is a 404; anything else is a problem
            if "404" not in str(exc):
                problems.append(f"dashboard {name}: {exc}")
    return problems


def _wait_for_dashboard(base: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/jobs", timeout=5):
                return
        except OSError:
            assert time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.2)


def _query(url: str, sql: str) -> list[tuple]:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sqlalchemy.text(sql))]
    finally:
        engine.dispose()


def _lost_reports(url: str, counters: Path) -> list[str]:
    """Training jobs whose stored reports are fewer than their script sent (a Completed one
    must have them all; a Stopped one may miss the line it printed as it was stopped)."""
    rows = _query(
        url,
        "select t.name, t.status, count(m.id) from training_jobs t left join metrics m "
        "on m.training_job_id = t.id and m.attempt = t.attempt and m.name = 'loss' "
        "group by t.id, t.name, t.status",
    )
    lost = []
    for name, status, stored in rows:
        sent_file = counters / name
        sent = len(sent_file.read_text().split()) if sent_file.exists() else 0
        allowed = 0 if status == "Completed" else 1
        if stored < sent - allowed:
            lost.append(f"{name} ({status}): sent {sent}, stored {stored}")
    return lost


def _created(url: str) -> bool:
    try:
        return bool(_query(url, "select count(*) from tuning_jobs")[0][0])
    except sqlalchemy.exc.SQLAlchemyError:
        return False


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def soak_db(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, float]:
    """(database URL, seconds): the SQLite soak runs SOAK_S, the PostgreSQL one a fifth of it
    (the server is not what is soaked; the storage code's other dialect is), at least AMT's
    smallest MaxRuntimeInSeconds (120 s)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'soak.db'}", SOAK_S
    return request.getfixturevalue("postgres_url"), max(120.0, SOAK_S / 5)


@pytest.mark.timeout(int(SOAK_S) + 300)  # the soak itself lasts SOAK_S
def test_three_writers_a_dashboard_and_readers_share_one_database(
    tmp_path: Path, soak_db: tuple[str, float]
) -> None:
    url, seconds = soak_db
    counters = tmp_path / "sent"
    counters.mkdir()
    writers = _start_jobs(tmp_path, url, counters, seconds)
    deadline = time.monotonic() + 120
    while not _created(url):
        ended = [w for w in writers if w.poll() is not None]
        assert not ended, [log.read_text() for log in tmp_path.glob("stderr-*.log")]
        assert time.monotonic() < deadline, "no writer created a job"
        time.sleep(0.2)
    port = _free_port()
    dashboard = _popen("dashboard", "--db", url, "--port", str(port), cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    wal = tmp_path / "soak.db-wal"
    problems: list[str] = []
    wal_sizes = [0]
    try:
        _wait_for_dashboard(base)
        while any(w.poll() is None for w in writers):
            problems += _read_everything(tmp_path, url, base)
            wal_sizes.append(wal.stat().st_size if wal.exists() else 0)
            assert time.monotonic() < deadline + seconds + 120, "the jobs did not end"
    finally:
        dashboard.terminate()
        for proc in [*writers, dashboard]:
            if proc.poll() is None:
                proc.kill()
    for proc in [*writers, dashboard]:
        proc.wait(timeout=60)
    outputs = [log.read_text() for log in sorted(tmp_path.glob("stderr-*.log"))]
    assert not [o for o in outputs if "locked" in o], outputs
    assert all(w.returncode == 0 for w in writers), outputs  # each ended Completed
    assert problems == []
    assert _lost_reports(url, counters) == []
    statuses = dict(_query(url, "select name, status from tuning_jobs"))
    assert statuses == dict.fromkeys(JOBS, "Completed")
    trials = _query(url, "select count(*) from training_jobs")[0][0]
    assert trials >= 3 * seconds / 10  # the writers kept writing throughout
    assert max(wal_sizes) < WAL_LIMIT_BYTES, max(wal_sizes)
