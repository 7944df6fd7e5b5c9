"""Choosing where trials run: ``local`` (worker subprocesses, the default) or ``ray``.

Local is the default because it needs no setup and no extra package, starts in a fraction of a
second (a local Ray takes several seconds to boot), and has the lowest per-trial overhead on
one machine. Ray is the choice for a cluster, for many GPUs, or to share a machine's GPUs
between trials by fractions with Ray's scheduler.
"""

from __future__ import annotations

import os

from tuner.errors import InvalidSpecError
from tuner.pools.base import WorkerPool
from tuner.pools.local import LocalPool
from tuner.spec.model import TuningJobSpec
from tuner.spec.resources import local_gpu_count

EXECUTORS = ("local", "ray")
DEFAULT_EXECUTOR = "local"
RESOURCE_PATH = "TrainingJobDefinition.ResourceConfig"


def make_pool(
    spec: TuningJobSpec,
    *,
    executor: str = DEFAULT_EXECUTOR,
    ray_address: str | None = None,
    fresh_workers: bool = False,
) -> WorkerPool:
    """A worker pool for ``spec``'s parallelism and resources on the chosen executor.

    Raises:
        InvalidSpecError: the job asks for a GPU there is none of, and no CPU fallback.
        ValueError: an unknown executor.
    """
    if executor not in EXECUTORS:
        msg = f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}"
        raise ValueError(msg)
    resources = spec.resources
    if executor == "local" and ray_address is None:  # a Ray address implies the Ray executor
        gpus = local_gpu_count() if resources.num_gpus > 0 else 0
        try:
            capped = resources.capped(float(os.cpu_count() or 1), float(gpus))
        except ValueError as exc:
            raise InvalidSpecError([f"{RESOURCE_PATH}: {exc}"]) from None
        explicit_threads = "NumCpus" in _resource_config(spec) or "num_cpus" in _resource_config(
            spec
        )
        return LocalPool(
            spec.max_parallel_jobs,
            fresh_worker_per_trial=fresh_workers,
            threads_per_worker=max(1, int(capped.num_cpus)) if explicit_threads else None,
            gpus=list(range(gpus)) if capped.num_gpus > 0 else None,
            memory_limit_mb=resources.memory_mb,
        )
    from tuner.pools.ray_pool import RayPool

    try:
        return RayPool(
            spec.max_parallel_jobs, resources, address=ray_address, warm=not fresh_workers
        )
    except ValueError as exc:
        raise InvalidSpecError([f"{RESOURCE_PATH}: {exc}"]) from None


def _resource_config(spec: TuningJobSpec) -> dict[str, object]:
    return dict(spec.request.get("TrainingJobDefinition", {}).get("ResourceConfig") or {})
