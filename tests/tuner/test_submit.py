"""``tuner submit``: real jobs through Ray's Jobs API, on a real head node started here.

The head node is a ``ray start --head --block`` child of this test process, with its own ports
and its own ``--temp-dir``; teardown sends it SIGTERM (Ray's own shutdown path kills the
processes that node started) and then kills whatever of *its* process tree is left, plus any
process whose command line names its temp dir. ``ray stop`` is never used: it stops every Ray
process on the machine, including the in-process ``ray.init()`` of the ``ray_session`` fixture
and other people's clusters.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from pathlib import Path

import pytest

from tuner import submit
from tuner.errors import InvalidSpecError
from tuner.storage import SqlStorage

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:ssl=None is deprecated:DeprecationWarning"),  # Ray's
]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BIN = Path(sys.executable).parent


# --------------------------------------------------------------------------------------------
# A real head node, this module's own
# --------------------------------------------------------------------------------------------
def _free_ports(n: int) -> list[int]:
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def _kill_tree(proc: subprocess.Popen, temp_dir: Path) -> None:
    import ray  # noqa: F401 - puts Ray's bundled psutil on sys.path

    psutil = importlib.import_module("psutil")

    try:
        tree = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        tree = []
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # the node's handler stops what it started
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    _, alive = psutil.wait_procs(tree, timeout=15)
    for p in alive:
        with suppress(psutil.Error):
            p.kill()
    marker = str(temp_dir)
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmdline = p.info.get("cmdline") or []
        if p.pid != os.getpid() and any(marker in part for part in cmdline):
            with suppress(psutil.Error):
                p.kill()


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """The dashboard address (``http://127.0.0.1:PORT``) of a fresh 2-CPU head node."""
    pytest.importorskip("ray.job_submission")
    from ray.job_submission import JobSubmissionClient

    ray_bin = BIN / "ray"
    if not ray_bin.exists():
        pytest.skip(f"no ray executable next to {sys.executable}")
    # Short: Ray puts unix sockets under it (108-byte limit), so not under pytest's tmp_path.
    temp_dir = Path(tempfile.mkdtemp(prefix="tnr-ray-", dir="/tmp"))
    gcs, dash, client_port, agent, agent_grpc, env_agent, metrics, nm, om = _free_ports(9)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # the job's `python` is ours
        RAY_USAGE_STATS_ENABLED="0",
        RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
    )
    cmd = [
        str(ray_bin), "start", "--head", "--block", "--disable-usage-stats",
        "--num-cpus", "2", "--num-gpus", "0",
        "--node-ip-address", "127.0.0.1", "--port", str(gcs),
        "--include-dashboard", "true", "--dashboard-host", "127.0.0.1",
        "--dashboard-port", str(dash), "--ray-client-server-port", str(client_port),
        "--dashboard-agent-listen-port", str(agent),
        "--dashboard-agent-grpc-port", str(agent_grpc),
        "--runtime-env-agent-port", str(env_agent), "--metrics-export-port", str(metrics),
        "--node-manager-port", str(nm), "--object-manager-port", str(om),
        "--temp-dir", str(temp_dir),
    ]  # fmt: skip
    log_path = temp_dir / "ray-start.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    address = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"ray start exited {proc.returncode}:\n{log_path.read_text()}")
            try:
                JobSubmissionClient(address, headers=submit._auth_headers()).list_jobs()
                break
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"the Jobs API at {address} never answered:\n{log_path.read_text()}"
                    )
                time.sleep(1)
        yield address
    finally:
        _kill_tree(proc, temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# A working directory with data and a spec whose data paths are relative to it
# --------------------------------------------------------------------------------------------
def _request(name: str = "xgb-submit", max_jobs: int = 4) -> dict:
    request = json.loads((EXAMPLES / "xgboost-breast-cancer.json").read_text())
    request["HyperParameterTuningJobName"] = name
    config = request["HyperParameterTuningJobConfig"]
    config["ResourceLimits"].update(MaxNumberOfTrainingJobs=max_jobs, MaxParallelTrainingJobs=2)
    # The example stops early (median rule): off here, so every submitted trial completes.
    config["TrainingJobEarlyStoppingType"] = "Off"
    definition = request["TrainingJobDefinition"]
    definition["StaticHyperParameters"]["num_round"] = "10"
    definition["ResourceConfig"]["NumCpus"] = 1  # two trials at once on the 2-CPU node
    channels = definition["InputDataConfig"]
    channels[0]["DataSource"]["S3DataSource"]["S3Uri"] = "data/train.csv"
    channels[1]["DataSource"]["S3DataSource"]["S3Uri"] = "file://data/validation.csv"
    return request


@pytest.fixture
def workdir(tmp_path: Path, datasets: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    shutil.copytree(datasets["breast_cancer"], work / "data")
    (work / "spec.json").write_text(json.dumps(_request()))
    monkeypatch.chdir(work)
    return work


# --------------------------------------------------------------------------------------------
# Refused before anything ships (no cluster needed: nothing listens at the address)
# --------------------------------------------------------------------------------------------
NOWHERE = "http://127.0.0.1:9"


def test_an_invalid_spec_is_refused_before_submission(workdir: Path) -> None:
    request = _request()
    request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxParallelTrainingJobs"] = 0
    (workdir / "bad.json").write_text(json.dumps(request))
    with pytest.raises(InvalidSpecError, match="MaxParallelTrainingJobs"):
        submit.submit_job("bad.json", address=NOWHERE)
    with pytest.raises(InvalidSpecError, match="HyperParameterTuningJobName"):
        submit.submit_job("spec.json", address=NOWHERE, name="not a valid name!")


def test_a_spec_outside_the_working_directory_is_refused(
    workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(submit.SubmitError, match="not inside the working directory") as info:
        submit.submit_job(workdir / "spec.json", address=NOWHERE)
    message = str(info.value)
    assert str(workdir / "spec.json") in message
    assert f"not inside the working directory {elsewhere.resolve()}" in message


def test_an_unreachable_cluster_is_a_clear_error(workdir: Path) -> None:
    with pytest.raises(submit.SubmitError, match=r"cannot reach the Ray Jobs API at http://127\."):
        submit.submit_job("spec.json", address=NOWHERE)


def test_git_ignored_data_still_ships_and_rayignored_data_is_refused(workdir: Path) -> None:
    spec = submit.load_spec("spec.json")
    (workdir / ".gitignore").write_text("data/\n")
    (workdir / "big.bin").write_bytes(b"x" * 1000)
    apply_gitignore, shipping = submit._plan_upload(spec, workdir / "spec.json", workdir)
    assert apply_gitignore is False  # else data/ would stay behind
    assert "5 files" in shipping  # spec.json, .gitignore, big.bin, data/{train,validation}.csv
    (workdir / ".gitignore").write_text("big.bin\n")
    (workdir / "stale.db").write_bytes(b"")
    apply_gitignore, shipping = submit._plan_upload(spec, workdir / "spec.json", workdir)
    assert apply_gitignore is True
    assert "big.bin" not in shipping and "4 files" in shipping  # no stale.db either
    (workdir / ".rayignore").write_text("data/validation.csv\n")
    with pytest.raises(submit.SubmitError, match=r"data/validation\.csv"):
        submit._plan_upload(spec, workdir / "spec.json", workdir)


def test_the_entrypoint_expands_home_on_the_cluster() -> None:
    line = submit.entrypoint_for("sub dir/spec.json", db=None, name=None)
    assert line.startswith("python -m tuner.cli run 'sub dir/spec.json' --executor ray")
    assert "--ray-address auto" in line
    assert line.endswith('--db "sqlite:///$HOME/tuner.db"')
    echoed = subprocess.run(
        ["sh", "-c", "printf %s " + line.split("--db ", 1)[1]],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": "/home/someone"},
        check=True,
    )
    assert echoed.stdout == "sqlite:////home/someone/tuner.db"
    line = submit.entrypoint_for("s.json", db="sqlite:///a b.db", name="n1", executor="local")
    assert "--ray-address" not in line
    assert line.endswith("--executor local --db 'sqlite:///a b.db' --name n1")


class FakeClient:
    """The few JobSubmissionClient calls follow_job and submit_job make, scripted.

    The n-th status poll answers ``statuses[n]`` (the last one from then on), and the logs have
    grown by then to the first n+1 chunks.
    """

    def __init__(self, logs: list[str], statuses: list[str], tail_fails_after: int = 1) -> None:
        self.logs, self.statuses, self.tail_fails_after = logs, statuses, tail_fails_after
        self.polls = 0

    async def tail_job_logs(self, job_id: str):
        for chunk in self.logs[: self.tail_fails_after]:
            yield chunk
        raise RuntimeError("websocket dropped")

    def get_job_status(self, job_id: str) -> str:
        self.polls += 1
        return self.statuses[min(self.polls, len(self.statuses)) - 1]

    def get_job_logs(self, job_id: str) -> str:
        return "".join(self.logs[: self.polls + 1])

    def submit_job(self, **kwargs) -> str:
        raise RuntimeError("Package size (600.00MiB) exceeds the maximum size of 512.00MiB.")


def test_following_falls_back_to_polling_and_writes_every_line_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = FakeClient(["a\n", "b\n", "c\n"], ["RUNNING", "RUNNING", "SUCCEEDED"])
    monkeypatch.setattr(submit, "_client", lambda address: client)
    out: list[str] = []
    assert submit.follow_job("j", address=NOWHERE, write=out.append, poll_s=0.01) == "SUCCEEDED"
    assert "".join(out) == "a\nb\nc\n"


def test_a_package_ray_refuses_is_reported_with_what_was_shipped(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(submit, "_client", lambda address: FakeClient([], ["PENDING"]))
    with pytest.raises(submit.SubmitError, match="exceeds the maximum size") as info:
        submit.submit_job("spec.json", address=NOWHERE)
    message = str(info.value)
    assert "exceeds the maximum size" in message
    assert "largest: data/train.csv" in message and ".rayignore" in message


# --------------------------------------------------------------------------------------------
# Real submissions
# --------------------------------------------------------------------------------------------
def test_a_submitted_job_runs_to_completion_and_its_results_are_readable(
    ray_head: str, workdir: Path, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'cluster.db'}"
    job_id = submit.submit_job("spec.json", address=ray_head, db=db)
    assert job_id.startswith("tuner-xgb-submit-")
    chunks: list[str] = []
    status = submit.follow_job(job_id, address=ray_head, write=chunks.append)
    output = "".join(chunks)
    assert status == "SUCCEEDED", output
    assert "tuning job xgb-submit Completed" in output
    assert output == submit.job_logs(job_id, address=ray_head)  # every line, once
    assert submit.job_status(job_id, address=ray_head) == "SUCCEEDED"
    assert submit.stop_job(job_id, address=ray_head) is False  # already ended

    storage = SqlStorage(db)
    assert storage.load_job("xgb-submit").status == "Completed"
    trials = storage.trials("xgb-submit")
    assert len(trials) == 4
    assert all(t.status == "Completed" for t in trials), [t.status for t in trials]
    assert all(t.worker.startswith("ray:") for t in trials)
    assert not (workdir / "tuner.db").exists()  # the coordinator ran on the cluster


def test_the_cli_submits_follows_and_inspects(
    ray_head: str, workdir: Path, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"

    def tuner(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tuner.cli", *args],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=300,
        )

    run = tuner(
        "submit", "spec.json", "--address", ray_head, "--db", db, "--name", "xgb-cli", "--follow"
    )
    assert run.returncode == 0, run.stderr
    job_id = run.stdout.strip()
    assert job_id.startswith("tuner-xgb-cli-") and "\n" not in job_id
    assert f"Ray job {job_id} SUCCEEDED" in run.stderr
    assert "tuning job xgb-cli Completed" in run.stderr

    status = tuner("submit", "--status", job_id, "--address", ray_head)
    assert status.returncode == 0 and status.stdout.strip() == "SUCCEEDED"
    logs = tuner("submit", "--logs", job_id, "--address", ray_head)
    assert logs.returncode == 0 and "Completed" in logs.stdout

    described = tuner("describe", "xgb-cli", "--db", db, "--json")
    assert described.returncode == 0, described.stderr
    body = json.loads(described.stdout)
    assert body["HyperParameterTuningJobStatus"] == "Completed"
    assert body["TrainingJobStatusCounters"]["Completed"] == 4

    unknown = tuner("submit", "--status", "tuner-no-such-job", "--address", ray_head)
    assert unknown.returncode == 1 and "tuner-no-such-job" in unknown.stderr
