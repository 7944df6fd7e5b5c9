"""kill -9 of `tuner run` at 20 random moments of one job (5 on Ray; issue 18, point 2).

Each time: the whole process group dies without clean-up (the coordinator and its worker
processes; the training scripts run in sessions of their own and must die with their
workers); the database must hold a consistent job (`tuner db check` passes, no finished
training job changed, nothing ended); `tuner run SPEC` again resumes it. Half-way, only the
database files are carried to a fresh folder (a machine that rebooted: no processes, no
output folders) and the job goes on from there. At the end the job is Completed with exactly
MaxNumberOfTrainingJobs training jobs, each with every report its script sent.

The moments are random (seeded) over launching, reporting, finishing and committing: a
coordinator starts in about a second and writes many times a second.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.tuner.test_script_mode import _data, _dead, _request, _source, _write

pytestmark = pytest.mark.slow

KILLS = 20
MAX_JOBS = 40
EPOCHS = 8

SCRIPT = f"""
import os, time
from pathlib import Path
Path(os.environ["COUNTER_DIR"], f"pid-{{os.getpid()}}").write_text("")
for epoch in range(1, {EPOCHS + 1}):
    print(f"loss={{1.0 / epoch}}", flush=True)
    time.sleep(0.04)
"""

CLI = (sys.executable, "-m", "tuner.cli")


def _run(spec: Path, db: Path, out: Path, cwd: Path, executor: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*CLI, "run", str(spec), "--db", str(db), "--output", str(out), "--quiet"]
        + ["--executor", executor],
        cwd=cwd,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _rows(db: Path) -> list[tuple]:
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute(
            "select number, status, final_value, attempt from training_jobs order by number"
        ).fetchall()
    finally:
        con.close()


def _check_invariants(db: Path, completed: dict[int, float], cwd: Path) -> str | None:
    """Every invariant of a killed job; its status (None: killed before it wrote anything)."""
    con = sqlite3.connect(db, timeout=30)
    try:
        job = con.execute("select status from tuning_jobs").fetchone()
    except sqlite3.OperationalError:  # killed before it created its tables
        job = None
    con.close()
    if job is None:  # killed while starting: nothing written yet, nothing to check
        return None
    (job_status,) = job
    # A kill never ends the job, unless it came as the job had just ended by itself.
    assert job_status in ("InProgress", "Completed"), job_status
    rows = _rows(db)
    assert len(rows) <= MAX_JOBS
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    for number, status, value, _ in rows:
        assert status != "Failed", rows
        if number in completed:  # a finished training job is never touched again
            assert (status, value) == ("Completed", completed[number])
        elif status == "Completed":
            assert value is not None
            completed[number] = value
    check = subprocess.run(
        [*CLI, "db", "check", "--db", str(db), "--json"], cwd=cwd, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    return str(job_status)


def _group_members(pgid: int) -> list[str]:
    """The live processes of a process group (a killed `tuner run` leaves none behind: its
    workers, and with Ray its raylet, object store and actors, were all in its group)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(f"{stat.parent.name} {fields[0]}")
    return members


def _wait_for_orphans(counters: Path, pgid: int) -> None:
    """Every training script that was started has died with its worker, and nothing of the
    killed coordinator's process group lives on."""
    pids = [int(p.name.split("-")[1]) for p in counters.glob("pid-*")]
    deadline = time.monotonic() + 15
    while not all(_dead(p) for p in pids) or _group_members(pgid):
        alive = [p for p in pids if not _dead(p)]
        assert time.monotonic() < deadline, (alive, _group_members(pgid))
        time.sleep(0.05)


def _wait_for_training(counters: Path, seen: set[str], proc: subprocess.Popen[bytes]) -> None:
    """Until a training script this run started has written its pid (Ray's start-up time
    varies by tens of seconds between machines: a kill before any trial ran tests little)."""
    deadline = time.monotonic() + 120
    while not {p.name for p in counters.glob("pid-*")} - seen and proc.poll() is None:
        assert time.monotonic() < deadline, "no training job started within 120 s"
        time.sleep(0.05)


def _move_to_a_fresh_machine(db: Path, tmp_path: Path) -> Path:
    """Only the database files survive (WAL included: it is part of the database on disk)."""
    fresh = tmp_path / "rebooted"
    fresh.mkdir()
    for path in db.parent.glob(db.name + "*"):
        shutil.copy2(path, fresh / path.name)
    return fresh / db.name


@pytest.mark.parametrize(
    ("executor", "kills", "start_s"),
    [("local", KILLS, 0.8), pytest.param("ray", 5, None, marks=pytest.mark.ray)],
)
def test_kill_minus_9_at_random_moments_loses_nothing(
    tmp_path: Path, executor: str, kills: int, start_s: float | None
) -> None:
    """``start_s``: about how long a `tuner run` takes to start training; None: wait for a
    training job of this run to start, then kill within 2.2 s (Ray)."""
    counters = tmp_path / "pids"
    counters.mkdir()
    request = _request(
        str(_source(tmp_path, SCRIPT)),
        _data(tmp_path),
        name="crashy",
        max_jobs=MAX_JOBS,
        parallel=2,
        strategy="Bayesian",
    )
    request["TrainingJobDefinition"]["Environment"] = {"COUNTER_DIR": str(counters)}
    spec = _write(tmp_path, request)
    db, out = tmp_path / "t.db", tmp_path / "out"
    rng = random.Random(18)
    completed: dict[int, float] = {}
    for kill in range(kills):
        if kill == kills // 2:
            db, out = _move_to_a_fresh_machine(db, tmp_path), tmp_path / "rebooted" / "out"
        seen = {p.name for p in counters.glob("pid-*")}
        proc = _run(spec, db, out, tmp_path, executor)
        if start_s is None:
            _wait_for_training(counters, seen, proc)
        time.sleep(rng.uniform(start_s or 0.0, (start_s or 0.0) + 2.2))
        if proc.poll() is not None:
            break  # the job ended before this kill: fewer kills, the end checks still hold
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        _wait_for_orphans(counters, proc.pid)
        if _check_invariants(db, completed, tmp_path) == "Completed":
            break  # it ended just as it was killed
    assert kill >= kills // 2, "the job ended too soon to be killed often"
    final = _run(spec, db, out, tmp_path, executor)
    assert final.wait(timeout=300) in (0, 2)  # 2: it had ended already (tuner run refuses)
    rows = _rows(db)
    assert len(rows) == MAX_JOBS and {r[1] for r in rows} == {"Completed"}
    assert all(dict((r[0], r[2]) for r in rows)[n] == v for n, v in completed.items())
    assert any(r[3] > 1 for r in rows)  # some were interrupted and ran again
    con = sqlite3.connect(db)
    reports = con.execute(
        "select t.number, count(m.id) from training_jobs t join metrics m on "
        "m.training_job_id = t.id and m.attempt = t.attempt and m.name = 'loss' group by t.id"
    ).fetchall()
    (described,) = con.execute("select status from tuning_jobs").fetchone()
    con.close()
    assert described == "Completed"
    assert sorted(n for n, _ in reports) == list(range(1, MAX_JOBS + 1))
    assert all(count == EPOCHS for _, count in reports), reports
