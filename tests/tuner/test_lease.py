"""One coordinator per tuning job: the lease, end to end with real ``tuner`` subprocesses.

A second ``tuner run`` of a running job's spec, and ``tuner resume`` of it, are refused (exit 2,
a message naming the process that runs it) and write nothing; the first job goes on to its end.
The lease rules themselves are in the storage contract (tests/contracts) and the coordinator's
docstring; a killed coordinator's job is taken over at once (test_cli.py's kill -9 test).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tuner.coordinator import LEASE_S, lease_holder_alive, new_lease_holder
from tuner.serve.jobs import RUNNER, JobRunner, RunnerConfig
from tuner.status import JobStatus
from tuner.storage import SqlStorage

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NAME = "xgb-breast-cancer"


def _tuner(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tuner.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _slow_spec(datasets: dict[str, Path], tmp_path: Path) -> Path:
    """test_cli.py's xgboost spec, one training job at a time and long enough boosting that
    the job runs for many seconds."""
    request = json.loads((EXAMPLES / "xgboost-breast-cancer.json").read_text())
    data = datasets["breast_cancer"]
    channels = request["TrainingJobDefinition"]["InputDataConfig"]
    channels[0]["DataSource"]["S3DataSource"]["S3Uri"] = str(data / "train.csv")
    channels[1]["DataSource"]["S3DataSource"]["S3Uri"] = f"file://{data / 'validation.csv'}"
    request["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"] = "4000"
    config = request["HyperParameterTuningJobConfig"]
    config["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 4
    config["ResourceLimits"]["MaxParallelTrainingJobs"] = 1
    config["TrainingJobEarlyStoppingType"] = "Off"
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(request))
    return path


def _query(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _wait_for_a_trial(db: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:
            if _query(db, "select count(*) from training_jobs")[0][0] >= 1:
                return
        except sqlite3.OperationalError:  # not created yet
            pass
    raise AssertionError(f"the first tuner run never started a training job: {proc.poll()}")


def test_a_second_run_or_resume_of_a_running_job_is_refused(datasets, tmp_path: Path) -> None:
    spec = _slow_spec(datasets, tmp_path)
    db = tmp_path / "lease.db"
    first = subprocess.Popen(
        [sys.executable, "-m", "tuner.cli", "run", str(spec), "--db", str(db), "--quiet"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_a_trial(db, first)
        ((holder,),) = _query(db, "select lease_holder from tuning_jobs")
        assert holder.startswith(f"{socket.gethostname()}:{first.pid}:")

        second = _tuner("run", str(spec), "--db", str(db), "--quiet", cwd=tmp_path)
        resumed = _tuner("resume", NAME, "--db", str(db), "--quiet", cwd=tmp_path)
        assert first.poll() is None, "the first job ended too soon for the test to mean much"
    except BaseException:
        first.kill()
        first.communicate()
        raise
    for refused in (second, resumed):
        assert refused.returncode == 2, refused.stderr
        message = " ".join(refused.stderr.split())  # rich wraps long lines
        assert f"tuning job '{NAME}' is being run by another coordinator" in message
        assert f"process {first.pid} on host {socket.gethostname()}" in message
        assert "stop that process first" in message and "lease to expire" in message
    # Neither wrote anything: no interrupted attempt, the lease still the first one's.
    assert _query(db, "select count(*) from training_jobs where attempt > 1") == [(0,)]
    assert _query(db, "select status, lease_holder from tuning_jobs") == [("InProgress", holder)]

    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    rows = _query(db, "select number, status, attempt, retry_reasons_json from training_jobs")
    assert rows == [(n, "Completed", 1, None) for n in range(1, 5)]
    # The job ended and gave its lease back.
    assert _query(db, "select status, lease_holder, lease_expires_at from tuning_jobs") == [
        ("Completed", None, None)
    ]


def test_which_lease_holders_count_as_alive() -> None:
    """Dead only when known: this host, and no process has the pid."""
    host = socket.gethostname()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: no process has its pid now (pids are not reused this fast)
    assert not lease_holder_alive(f"{host}:{gone.pid}:abcd")
    assert lease_holder_alive(f"{host}:{os.getppid()}:abcd")  # a live process
    assert lease_holder_alive(new_lease_holder())  # another coordinator of this process
    assert lease_holder_alive(f"{host}-elsewhere:{gone.pid}:abcd")  # another host: wait
    assert lease_holder_alive("not a holder id")
    holder = new_lease_holder()
    assert holder.startswith(f"{host}:{os.getpid()}:") and holder != new_lease_holder()


def test_a_server_does_not_resume_or_fail_a_job_another_live_process_runs(
    datasets, tmp_path: Path
) -> None:
    request = json.loads(_slow_spec(datasets, tmp_path).read_text())
    db = f"sqlite:///{tmp_path / 'serve.db'}"
    storage = SqlStorage(db)
    storage.create_job(
        NAME, request, strategy="Bayesian", seed=1, status="InProgress", now=1.0, runner=RUNNER
    )
    other = new_lease_holder()  # another coordinator of this very process: alive
    storage.acquire_lease(
        NAME, other, now=time.time(), duration_s=LEASE_S, holder_alive=lease_holder_alive
    )
    runner = JobRunner(RunnerConfig(db=db, base_dir=tmp_path, capacity=1))
    try:
        assert runner.resume_own_jobs() == []
    finally:
        runner.shutdown()
    job = storage.load_job(NAME)
    assert (job.status, job.failure_reason, job.lease_holder) == (
        JobStatus.IN_PROGRESS,
        None,
        other,
    )
    assert storage.trials(NAME) == []
