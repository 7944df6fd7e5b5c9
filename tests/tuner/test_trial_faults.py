"""Every fault a trial can meet ends that trial with a reason a person understands, and the
job goes on (issue 18, point 1). One Grid job, one fault per training job, on the LocalPool and
on a local Ray; real worker processes, real signals."""

from __future__ import annotations

import math
import os
import signal
import time
from pathlib import Path

import pytest

from tuner import CategoricalParameter, HyperparameterTuner

FAULTS = ["ok", "exception", "segfault", "abort", "nan", "inf", "exit", "too-long", "hang"]


def faulty(hp, ctx):
    """Trains well, or meets the fault its hyperparameter names."""
    fault = hp["fault"]
    ctx.report(1, loss=1.0 if fault != "ok" else 0.5)
    if fault == "exception":
        raise ZeroDivisionError("the learning rate schedule divided by zero")
    if fault == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if fault == "abort":
        os.abort()
    if fault in ("nan", "inf"):
        ctx.report(2, loss=math.nan if fault == "nan" else math.inf)
    if fault == "exit":
        os._exit(3)
    if fault == "too-long":
        for epoch in range(2, 100):  # reports every half second, runs past its 3 s
            time.sleep(0.5)
            ctx.report(epoch, loss=1.0)
    if fault == "hang":
        time.sleep(60)  # silent past StoppingCondition.MaxSecondsBetweenReports


def _run(tmp_path: Path, db_url: str, executor: str) -> dict[str, dict]:
    from tuner.coordinator import Coordinator
    from tuner.pools.factory import make_pool
    from tuner.storage import SqlStorage

    tuner = HyperparameterTuner(
        faulty,
        "loss",
        {"fault": CategoricalParameter(FAULTS)},
        strategy="Grid",
        objective_type="Minimize",
        max_jobs=len(FAULTS),
        max_parallel_jobs=2,
        storage=db_url,
        output_path=tmp_path / "out",
        # A fresh Ray actor imports the training code after it has started: on a slow
        # machine that alone can take seconds, so Ray's training jobs get more time.
        max_training_job_runtime_in_seconds=3 if executor == "local" else 15,
        executor=executor,
    )
    spec = tuner.build_spec(job_name=f"faults-{executor}")
    # Our extension beside AMT's MaxRuntimeInSeconds (no Python keyword for it yet).
    spec.request["TrainingJobDefinition"]["StoppingCondition"]["MaxSecondsBetweenReports"] = (
        1.5 if executor == "local" else 10.0  # Ray takes seconds to notice a dead actor
    )
    pool = make_pool(spec, executor=executor)
    try:
        Coordinator(spec, SqlStorage(db_url), pool, output_root=tmp_path / "out").run()
    finally:
        pool.shutdown()
    tuner.latest_tuning_job = spec.name
    described = tuner.describe()
    assert described["HyperParameterTuningJobStatus"] == "Completed", described
    return {s["TunedHyperParameters"]["fault"]: s for s in tuner.training_job_summaries()}


def _check(by_fault: dict[str, dict], executor: str) -> None:
    seen = {f: (s["TrainingJobStatus"], s.get("FailureReason", "")) for f, s in by_fault.items()}
    assert by_fault["ok"]["TrainingJobStatus"] == "Completed", seen
    reasons = {f: s.get("FailureReason", "") for f, s in by_fault.items()}
    assert by_fault["exception"]["TrainingJobStatus"] == "Failed"
    assert "ZeroDivisionError: the learning rate schedule divided by zero" in reasons["exception"]
    assert "in faulty" in reasons["exception"]  # the traceback's innermost frames
    for fault in ("nan", "inf"):
        assert by_fault[fault]["TrainingJobStatus"] == "Failed", by_fault[fault]
        assert by_fault[fault]["ObjectiveStatus"] == "Failed"
        assert reasons[fault].startswith("ObjectiveNotFinite: "), reasons[fault]
    assert by_fault["too-long"]["TrainingJobStatus"] == "Stopped", seen
    if executor == "ray":
        # Ray says an actor died, not how; a SIGSEGV sent to its worker goes to Ray's own
        # handler (the actor went on, or hung until MaxRuntimeInSeconds stopped it). Each
        # ends its own training job only: the job went on and completed.
        for fault in ("abort", "exit", "hang"):
            assert by_fault[fault]["TrainingJobStatus"] in ("Failed", "Stopped"), seen
        assert "actor died" in reasons["abort"], seen
        return
    assert "SIGSEGV" in reasons["segfault"], reasons["segfault"]
    assert "SIGABRT" in reasons["abort"], reasons["abort"]
    assert "3" in reasons["exit"] and by_fault["exit"]["TrainingJobStatus"] == "Failed"
    assert by_fault["hang"]["TrainingJobStatus"] == "Failed", by_fault["hang"]
    assert reasons["hang"].startswith("Hung: "), reasons["hang"]


def test_each_fault_ends_its_trial_and_the_job_goes_on(tmp_path: Path, db_url: str) -> None:
    _check(_run(tmp_path, db_url, "local"), "local")


@pytest.mark.ray
def test_each_fault_ends_its_trial_on_ray(tmp_path: Path, db_url: str, ray_session) -> None:
    _check(_run(tmp_path, db_url, "ray"), "ray")


def hungry(hp, ctx):
    """Asks for more memory than its training job may use, or trains within it."""
    if hp["mb"] > 0:
        block = bytearray(hp["mb"] * 1024 * 1024)
        ctx.report(1, loss=float(len(block)))
    else:
        ctx.report(1, loss=1.0)


@pytest.mark.parametrize("executor", ["local", pytest.param("ray", marks=pytest.mark.ray)])
def test_a_trial_past_its_memory_limit_fails_out_of_memory(
    tmp_path: Path, db_url: str, executor: str, request: pytest.FixtureRequest
) -> None:
    if executor == "ray":
        request.getfixturevalue("ray_session")
    tuner = HyperparameterTuner(
        hungry,
        "loss",
        {"mb": CategoricalParameter(["0", "8000"])},
        strategy="Grid",
        objective_type="Minimize",
        max_jobs=2,
        max_parallel_jobs=1,
        storage=db_url,
        output_path=tmp_path / "out",
        max_memory_mb=3000,
        executor=executor,
    )
    tuner.fit(job_name=f"memory-{executor}")
    by_mb = {int(s["TunedHyperParameters"]["mb"]): s for s in tuner.training_job_summaries()}
    assert by_mb[0]["TrainingJobStatus"] == "Completed"  # the limit leaves room to train
    assert by_mb[8000]["TrainingJobStatus"] == "Failed"
    assert by_mb[8000]["FailureReason"].startswith("OutOfMemory"), by_mb[8000]["FailureReason"]
    assert "3000 MB" in by_mb[8000]["FailureReason"]


def test_the_memory_limit_counts_from_the_workers_own_size() -> None:
    """A worker that already maps more than the limit (a Ray worker maps gigabytes) may still
    allocate within it; only what the training job adds beyond the limit fails."""
    from tuner.pools.trial_runner import address_space_bytes, memory_limit

    limit_mb = 200
    assert address_space_bytes() > limit_mb * 1024 * 1024  # pytest with numpy and torch
    with memory_limit(limit_mb):
        within = bytearray(50 * 1024 * 1024)
        with pytest.raises(MemoryError):
            bytearray(400 * 1024 * 1024)
    del within
    bytearray(400 * 1024 * 1024)  # the cap is lifted after the block
