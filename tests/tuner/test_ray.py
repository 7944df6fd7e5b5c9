"""Real tuning jobs on a real local Ray: counters, streaming, killed actors, resources."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tuner import ContinuousParameter, HyperparameterTuner, InvalidSpecError
from tuner.spec.resources import INSTANCE_TYPES, Resources, instance_shape, resources_from_config
from tuner.storage import SqlStorage


def quadratic(hp, ctx):
    for epoch in range(1, 4):
        ctx.report(
            epoch,
            loss=(hp["x"] - 0.5) ** 2 + 1.0 / epoch,
            device_is_cpu=float(ctx.device == "cpu"),
        )


def killed_on_first_attempt(hp, ctx):
    marker = ctx.output_dir / "attempted"
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("1")
        ctx.report(1, pid=float(os.getpid()))
        time.sleep(60)
    ctx.report(1, loss=hp["x"] ** 2)


@pytest.mark.ray
def test_ray_job_with_two_parallel_trials(ray_session, db_url, tmp_path) -> None:
    tuner = HyperparameterTuner(
        quadratic,
        "loss",
        {"x": ContinuousParameter(-1, 1)},
        objective_type="Minimize",
        max_jobs=6,
        max_parallel_jobs=2,
        random_seed=0,
        storage=db_url,
        output_path=tmp_path,
        executor="ray",
    )
    tuner.fit(job_name="on-ray")
    described = tuner.describe()
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["Completed"] == 6
    assert described["ObjectiveStatusCounters"]["Succeeded"] == 6
    trials = SqlStorage(db_url).trials("on-ray")
    assert all(t.worker.startswith("ray:") and t.worker.endswith(":cpu") for t in trials)
    assert all(t.final_metrics["device_is_cpu"] == 1.0 for t in trials)
    assert all(t.n_reports == 3 for t in trials)


@pytest.mark.ray
def test_killed_actor_fails_the_attempt_and_the_retry_completes(
    ray_session, db_url, tmp_path
) -> None:
    tuner = HyperparameterTuner(
        killed_on_first_attempt,
        "loss",
        {"x": ContinuousParameter(-1, 1)},
        objective_type="Minimize",
        max_jobs=1,
        max_parallel_jobs=1,
        storage=db_url,
        output_path=tmp_path,
        executor="ray",
        max_retry_attempts=1,
    )
    tuner.fit(job_name="kill-actor", wait=False)
    storage = SqlStorage(db_url)
    pid = None
    deadline = time.monotonic() + 60
    while pid is None and time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            pid = storage.curves("kill-actor", ["pid"]).get(1, [None])[0]
        except LookupError:
            continue
    assert pid is not None
    os.kill(int(pid.value), signal.SIGKILL)
    tuner.wait()
    trial = storage.trials("kill-actor")[0]
    assert trial.status == "Completed" and trial.attempt == 2
    assert "Ray actor died" in trial.retry_reasons[0]
    assert tuner.describe()["HyperParameterTuningJobStatus"] == "Completed"


@pytest.mark.ray
def test_ray_refuses_gpu_without_gpus_unless_fallback(ray_session, db_url, tmp_path) -> None:
    common = dict(
        objective_type="Minimize",
        max_jobs=2,
        max_parallel_jobs=2,
        storage=db_url,
        output_path=tmp_path,
        executor="ray",
    )
    if ray_session.cluster_resources().get("GPU"):
        pytest.skip("this machine has a GPU")
    tuner = HyperparameterTuner(
        quadratic, "loss", {"x": ContinuousParameter(-1, 1)}, num_gpus=0.5, **common
    )
    with pytest.raises(InvalidSpecError, match="no GPU is available.*AllowCpuFallback"):
        tuner.fit(job_name="gpu-refused")
    fallback = HyperparameterTuner(
        quadratic,
        "loss",
        {"x": ContinuousParameter(-1, 1)},
        instance_type="ml.g5.xlarge",
        allow_cpu_fallback=True,
        **common,
    )
    fallback.fit(job_name="gpu-fallback")
    assert fallback.describe()["TrainingJobStatusCounters"]["Completed"] == 2


def test_local_executor_refuses_gpu_without_gpus(db_url, tmp_path) -> None:
    from tuner.spec.resources import local_gpu_count

    if local_gpu_count():
        pytest.skip("this machine has a GPU")
    tuner = HyperparameterTuner(
        quadratic,
        "loss",
        {"x": ContinuousParameter(-1, 1)},
        objective_type="Minimize",
        max_jobs=1,
        storage=db_url,
        instance_type="ml.p3.2xlarge",
        allow_cpu_fallback=False,  # without it the CPU stands in (test_validation_compat.py)
    )
    with pytest.raises(
        InvalidSpecError, match=r"ResourceConfig: InstanceType 'ml.p3.2xlarge' has 1 GPU but"
    ):
        tuner.fit(job_name="no-gpu")
    with pytest.raises(LookupError, match="no tuning job named 'no-gpu'"):
        SqlStorage(db_url).load_job("no-gpu")  # nothing written


@pytest.mark.parametrize(
    ("instance_type", "shape"),
    [
        ("ml.m5.xlarge", (4, 0)),
        ("ml.p3.2xlarge", (8, 1)),
        ("ml.g5.xlarge", (4, 1)),
        ("ml.p3.16xlarge", (64, 8)),
        ("ml.m6i.4xlarge", (16, 0)),
        ("ml.c7i.large", (2, 0)),
    ],
)
def test_instance_type_table(instance_type, shape) -> None:
    assert instance_shape(instance_type) == shape


def test_documented_instance_types_are_in_the_table() -> None:
    assert INSTANCE_TYPES["ml.m5.xlarge"] == (4, 0)
    assert INSTANCE_TYPES["ml.p3.2xlarge"] == (8, 1)
    assert INSTANCE_TYPES["ml.g5.xlarge"] == (4, 1)


def test_explicit_fields_override_the_instance_type() -> None:
    r = resources_from_config({"InstanceType": "ml.p3.2xlarge", "NumCpus": 2, "NumGpus": 0.5})
    assert (r.num_cpus, r.num_gpus) == (2.0, 0.5)
    assert resources_from_config({"num_cpus": 3}).num_cpus == 3.0
    assert resources_from_config(None) == Resources()


def test_capping_to_the_cluster() -> None:
    r = resources_from_config({"InstanceType": "ml.m5.4xlarge"})
    assert r.capped(2.0, 0.0).num_cpus == 2.0
    gpu = resources_from_config({"InstanceType": "ml.p3.8xlarge"})
    assert gpu.capped(16.0, 2.0).num_gpus == 2.0
    with pytest.raises(ValueError, match="no GPU"):
        gpu.capped(16.0, 0.0)
    assert (
        resources_from_config({"InstanceType": "ml.p3.8xlarge", "AllowCpuFallback": True})
        .capped(16.0, 0.0)
        .num_gpus
        == 0.0
    )


def test_spec_accepts_resource_extension_fields_and_rejects_bad_ones(tmp_path) -> None:
    tuner = HyperparameterTuner(
        quadratic, "loss", {"x": ContinuousParameter(-1, 1)}, max_jobs=1, num_cpus=2, num_gpus=0.25
    )
    spec = tuner.build_spec(job_name="res")
    assert (spec.resources.num_cpus, spec.resources.num_gpus) == (2.0, 0.25)
    bad = HyperparameterTuner(
        quadratic, "loss", {"x": ContinuousParameter(-1, 1)}, max_jobs=1, num_gpus=-1
    )
    with pytest.raises(InvalidSpecError, match=r"ResourceConfig.NumGpus: must be a number >= 0"):
        bad.build_spec(job_name="res")


@pytest.mark.gpu
def test_two_fractional_gpu_trials_share_the_gpu(ray_session, db_url, tmp_path) -> None:
    torch = pytest.importorskip("torch")
    if not ray_session.cluster_resources().get("GPU"):
        pytest.skip("no GPU on this machine")

    def on_gpu(hp, ctx):
        x = torch.ones(1024, 1024, device=ctx.device)
        for epoch in range(1, 4):
            ctx.report(
                epoch, loss=float((x * hp["x"]).sum()), memory=float(torch.cuda.memory_allocated())
            )
            time.sleep(1.0)

    tuner = HyperparameterTuner(
        on_gpu,
        "loss",
        {"x": ContinuousParameter(0, 1)},
        max_jobs=2,
        max_parallel_jobs=2,
        num_gpus=0.5,
        storage=db_url,
        output_path=tmp_path,
        executor="ray",
    )
    tuner.fit(job_name="gpu-share")
    trials = SqlStorage(db_url).trials("gpu-share")
    assert all("cuda:0" in t.worker and t.final_metrics["memory"] > 0 for t in trials)
    first, second = trials
    assert first.started_at < second.ended_at and second.started_at < first.ended_at  # at once
