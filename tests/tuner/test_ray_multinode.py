"""Tuning jobs on a real multi-node Ray cluster: Ray's own ``ray.cluster_utils.Cluster``.

A head without CPUs and worker nodes with their own logical CPUs and a custom resource each,
all on this machine (each node is a raylet of its own, as on a real cluster). Trials must land
on every worker node, the node must be in each training job's worker column and the
dashboard's trial page, and a node removed in the middle of a job must cost nothing but the
retries of its trials.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from strategies.base import TrialStatus
from tuner import ContinuousParameter, HyperparameterTuner
from tuner.dashboard.reader import DashboardReader
from tuner.storage import SqlStorage

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def sleepy(hp, ctx):
    """Five reports 0.4 s apart: long enough to be caught running when a node goes."""
    for epoch in range(1, 6):
        time.sleep(0.4)
        ctx.report(epoch, loss=(hp["x"] - 0.5) ** 2 + 1.0 / epoch)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A head (no CPUs: it schedules nothing) and two worker nodes of 2 CPUs each.

    One cluster for the module (a cluster takes 15-30 s to start here); a test that changes it
    adds the node it removes.
    """
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    had_local_ray = ray.is_initialized()  # the session's local Ray (ray_session), if started
    if had_local_ray:
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for name in ("node_a", "node_b"):
        cluster.add_node(num_cpus=2, resources={name: 2})
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
        try:
            cluster.shutdown()  # also forgets the cluster's address, so ray.init() starts anew
        finally:
            if had_local_ray:
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)


def _tuner(cluster: Any, db_url: str, tmp_path, **kwargs: Any) -> HyperparameterTuner:
    return HyperparameterTuner(
        sleepy,
        "loss",
        {"x": ContinuousParameter(-1, 1)},
        objective_type="Minimize",
        random_seed=0,
        storage=db_url,
        output_path=tmp_path / "out",
        executor="ray",
        ray_address=cluster.address,
        **kwargs,
    )


def _node_of(worker: str | None) -> str | None:
    """``ray:2dc7fea8:pid123:cpu`` -> ``2dc7fea8``."""
    return worker.split(":")[1] if worker and worker.startswith("ray:") else None


def _worker_nodes(cluster: Any) -> set[str]:
    return {node.node_id[:8] for node in cluster.worker_nodes}


def test_trials_are_spread_over_every_node_and_the_node_is_shown(
    cluster, db_url, tmp_path
) -> None:
    tuner = _tuner(cluster, db_url, tmp_path, max_jobs=8, max_parallel_jobs=4)
    tuner.fit(job_name="spread")
    described = tuner.describe()
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["Completed"] == 8
    trials = SqlStorage(db_url).trials("spread")
    nodes = {_node_of(t.worker) for t in trials}
    assert nodes == _worker_nodes(cluster), "every worker node ran trials, the head none"
    reader = DashboardReader(db_url)
    try:
        page = reader.trial("spread", trials[0].number)
    finally:
        reader.close()
    assert _node_of(page["Worker"]) in nodes


def test_a_lost_node_fails_its_trials_which_are_retried_elsewhere(
    cluster, db_url, tmp_path
) -> None:
    doomed = cluster.add_node(num_cpus=2, resources={"node_c": 2})
    cluster.wait_for_nodes()
    doomed_id = doomed.node_id[:8]
    tuner = _tuner(
        cluster, db_url, tmp_path, max_jobs=10, max_parallel_jobs=6, max_retry_attempts=2
    )
    tuner.fit(job_name="lost", wait=False)
    storage = SqlStorage(db_url)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        running = _running_on(storage, doomed_id)
        if running:
            break
        time.sleep(0.1)
    assert running, "no trial ran on the node that is about to go"
    remover = threading.Thread(target=cluster.remove_node, args=(doomed,))
    remover.start()
    tuner.wait()
    remover.join(timeout=60)

    described = tuner.describe()
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    counters = described["TrainingJobStatusCounters"]
    assert counters["Completed"] == 10
    assert counters["RetryableError"] == counters["NonRetryableError"] == 0
    trials = storage.trials("lost")
    assert len(trials) == 10, "exactly MaxNumberOfTrainingJobs training jobs, the retries inside"
    assert all(t.status is TrialStatus.COMPLETED for t in trials)
    retried = [t for t in trials if t.attempt > 1]
    assert retried, "the trials that ran on the lost node ran again"
    for t in retried:
        assert any(f"Ray node {doomed_id} was lost" in r for r in t.retry_reasons), t.retry_reasons
        assert _node_of(t.worker) != doomed_id, "the retry ran on a node that is still there"


def _running_on(storage: SqlStorage, node: str) -> list[int]:
    try:
        trials = storage.trials("lost")
    except Exception:  # the job is not in the database yet
        return []
    return [
        t.number
        for t in trials
        if t.status is TrialStatus.IN_PROGRESS and _node_of(t.worker) == node
    ]


def test_a_dropped_ray_client_connection_is_a_clear_error_and_the_job_resumes(tmp_path) -> None:
    """``ray://``: the coordinator does not reconnect; it says so, and nothing is lost.

    The scenario runs in a fresh interpreter: it needs a Ray of its own (a client connection,
    a cluster with a client server), which must not share module state or the cluster address
    file with this worker's Ray, and Ray Client's connection timeouts are read when ray is
    imported (its default, about 35 s over three tries, is too short on 2 loaded cores).
    """
    env = {
        **os.environ,
        "RAY_CLIENT_RECONNECT_GRACE_PERIOD": "3",  # Ray's default: 30 s
        "RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S": "20",
        "RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S": "60",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),  # the checkout: tests.tuner
    }
    env.pop("RAY_ADDRESS", None)
    db_url = f"sqlite:///{tmp_path / 'client.db'}"
    code = (
        "import pathlib, tests.tuner.test_ray_multinode as m; "
        f"m.client_drop_scenario({db_url!r}, pathlib.Path({str(tmp_path)!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=420
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-8000:]


def client_drop_scenario(db_url: str, tmp_path: Path) -> None:
    """Run a job over Ray Client, kill the client server, expect ExecutorLostError naming the
    address and ``tuner resume``, then resume the job on local workers."""
    import ray
    from ray.cluster_utils import Cluster

    from tuner.errors import ExecutorLostError

    port = _free_port()
    client_cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 2, "ray_client_server_port": port, "include_dashboard": False},
    )
    try:
        tuner = _client_tuner(
            db_url, tmp_path, executor="ray", ray_address=f"ray://127.0.0.1:{port}"
        )
        tuner.fit(job_name="client", wait=False)
        storage = SqlStorage(db_url)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not _completed(storage, "client"):
            time.sleep(0.1)
        assert _completed(storage, "client"), "no training job completed over Ray Client"
        _kill_ray_client_server(port)
        with pytest.raises(ExecutorLostError, match=rf"ray://127\.0\.0\.1:{port}.*tuner resume"):
            tuner.wait()
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
        client_cluster.shutdown()
    kept = _completed(storage, "client")
    assert kept, "the finished training jobs are still in the database"
    # Run again elsewhere (here: local worker processes), the job resumes and completes.
    resumed = _client_tuner(db_url, tmp_path, executor="local")
    resumed.fit(job_name="client")
    described = resumed.describe()
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["Completed"] == 6
    assert set(kept) <= set(_completed(storage, "client"))


def _client_tuner(db_url: str, tmp_path, **where: Any) -> HyperparameterTuner:
    return HyperparameterTuner(
        sleepy,
        "loss",
        {"x": ContinuousParameter(-1, 1)},
        objective_type="Minimize",
        max_jobs=6,
        max_parallel_jobs=2,
        random_seed=0,
        storage=db_url,
        output_path=tmp_path / "out",
        **where,
    )


def _completed(storage: SqlStorage, job: str) -> list[str]:
    try:
        return [t.name for t in storage.trials(job) if t.status is TrialStatus.COMPLETED]
    except Exception:  # the job is not in the database yet
        return []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kill_ray_client_server(port: int) -> None:
    """Kill the Ray Client server listening on ``port`` (the proxy and the servers it started),
    and no other on the machine."""
    import psutil

    for process in psutil.process_iter(["cmdline"]):
        args = process.info["cmdline"] or []
        if "ray.util.client.server" in args and f"--port={port}" in args:
            victims = [process]
            with contextlib.suppress(psutil.Error):
                victims = [*process.children(recursive=True), process]
            for victim in victims:
                with contextlib.suppress(psutil.Error):
                    victim.kill()
