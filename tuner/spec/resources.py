"""What each training job asks for: CPUs and GPUs, from AMT's InstanceType or explicit fields.

AMT sizes a training job by ``ResourceConfig.InstanceType``; locally that becomes a number of
CPUs and GPUs through :data:`INSTANCE_TYPES` (vCPUs and GPUs of the ml.* instance families as
AWS lists them), capped to what one node of the cluster has, since a trial runs on one node.
Explicit fields override the table. They are ours, not AMT's, and live beside
``InstanceType`` in ``TrainingJobDefinition.ResourceConfig``: ``NumCpus``, ``NumGpus`` (a
fraction such as 0.5 lets trials share a GPU) and ``AllowCpuFallback`` (whether a training
job may run on the CPU when no GPU exists) and ``MaxMemoryInMB`` (the address space a training
job may use, enforced with ``RLIMIT_AS`` in the process that runs it, on both pools; past it an
allocation fails and the training job ends Failed with ``OutOfMemory``; AMT has no such field
and the instance type's memory is not used as a limit, since address space counts more than the
memory a job touches); snake_case spellings (``num_cpus`` ...) are accepted too.
Without any of them a training job takes 1 CPU and no GPU.

Where no GPU exists (:meth:`Resources.on_this_machine`, the local executor): the GPUs of an
instance type fall back to the CPU with a warning, as SageMaker's local mode runs a GPU
instance type anywhere, unless ``AllowCpuFallback`` is false or a GPU is required
(``tuner run --require-gpu``); GPUs asked for by an explicit ``NumGpus`` are a requirement
unless ``AllowCpuFallback`` is true. On a Ray cluster (:meth:`Resources.capped`) a GPU request
stays a GPU request unless ``AllowCpuFallback`` is true: the cluster may grow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: ml.* instance type -> (vCPUs, GPUs). Families not listed fall back to their size suffix.
INSTANCE_TYPES: dict[str, tuple[int, int]] = {
    "ml.t3.medium": (2, 0),
    "ml.t3.large": (2, 0),
    "ml.t3.xlarge": (4, 0),
    "ml.t3.2xlarge": (8, 0),
    "ml.m4.xlarge": (4, 0),
    "ml.m4.2xlarge": (8, 0),
    "ml.m4.4xlarge": (16, 0),
    "ml.m4.10xlarge": (40, 0),
    "ml.m4.16xlarge": (64, 0),
    "ml.m5.large": (2, 0),
    "ml.m5.xlarge": (4, 0),
    "ml.m5.2xlarge": (8, 0),
    "ml.m5.4xlarge": (16, 0),
    "ml.m5.12xlarge": (48, 0),
    "ml.m5.24xlarge": (96, 0),
    "ml.c4.xlarge": (4, 0),
    "ml.c4.2xlarge": (8, 0),
    "ml.c4.4xlarge": (16, 0),
    "ml.c4.8xlarge": (36, 0),
    "ml.c5.xlarge": (4, 0),
    "ml.c5.2xlarge": (8, 0),
    "ml.c5.4xlarge": (16, 0),
    "ml.c5.9xlarge": (36, 0),
    "ml.c5.18xlarge": (72, 0),
    "ml.p2.xlarge": (4, 1),
    "ml.p2.8xlarge": (32, 8),
    "ml.p2.16xlarge": (64, 16),
    "ml.p3.2xlarge": (8, 1),
    "ml.p3.8xlarge": (32, 4),
    "ml.p3.16xlarge": (64, 8),
    "ml.p3dn.24xlarge": (96, 8),
    "ml.p4d.24xlarge": (96, 8),
    "ml.p4de.24xlarge": (96, 8),
    "ml.p5.48xlarge": (192, 8),
    "ml.g4dn.xlarge": (4, 1),
    "ml.g4dn.2xlarge": (8, 1),
    "ml.g4dn.4xlarge": (16, 1),
    "ml.g4dn.8xlarge": (32, 1),
    "ml.g4dn.12xlarge": (48, 4),
    "ml.g4dn.16xlarge": (64, 1),
    "ml.g5.xlarge": (4, 1),
    "ml.g5.2xlarge": (8, 1),
    "ml.g5.4xlarge": (16, 1),
    "ml.g5.8xlarge": (32, 1),
    "ml.g5.12xlarge": (48, 4),
    "ml.g5.16xlarge": (64, 1),
    "ml.g5.24xlarge": (96, 4),
    "ml.g5.48xlarge": (192, 8),
    "ml.g6.xlarge": (4, 1),
    "ml.g6.2xlarge": (8, 1),
    "ml.g6.4xlarge": (16, 1),
    "ml.g6.8xlarge": (32, 1),
    "ml.g6.12xlarge": (48, 4),
    "ml.g6.16xlarge": (64, 1),
    "ml.g6.24xlarge": (96, 4),
    "ml.g6.48xlarge": (192, 8),
    "ml.r5.large": (2, 0),
    "ml.r5.xlarge": (4, 0),
    "ml.r5.2xlarge": (8, 0),
    "ml.r5.4xlarge": (16, 0),
}

_SIZE_CPUS = {"medium": 2, "large": 2, "xlarge": 4}


def instance_shape(instance_type: str) -> tuple[int, int]:
    """(vCPUs, GPUs) of an ml.* instance type; unknown types are sized by their suffix, no GPU."""
    if instance_type in INSTANCE_TYPES:
        return INSTANCE_TYPES[instance_type]
    size = instance_type.rsplit(".", 1)[-1]
    if size in _SIZE_CPUS:
        return _SIZE_CPUS[size], 0
    if size.endswith("xlarge") and size[: -len("xlarge")].isdigit():
        return 4 * int(size[: -len("xlarge")]), 0
    return 1, 0


@dataclass(frozen=True, slots=True)
class Resources:
    """CPUs and GPUs for one training job (GPUs may be fractional)."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    #: AllowCpuFallback as given; None when the request does not say.
    allow_cpu_fallback: bool | None = None
    instance_type: str | None = None
    #: The GPUs were asked for by NumGpus, not by the instance type.
    explicit_gpus: bool = False
    #: MaxMemoryInMB (ours): the address space a training job may use, None for no limit.
    memory_mb: float | None = None

    def gpu_request(self) -> str:
        """What asks for the GPUs, for messages: ``InstanceType 'ml.p3.2xlarge' has 1 GPU``."""
        if self.instance_type and not self.explicit_gpus:
            plural = "" if self.num_gpus == 1 else "s"
            return f"InstanceType {self.instance_type!r} has {self.num_gpus:g} GPU{plural}"
        return f"NumGpus {self.num_gpus:g} asks for a GPU"

    def on_this_machine(
        self, gpus_here: int, *, require_gpu: bool = False
    ) -> tuple[Resources, str | None]:
        """What a local training job runs with, and a warning if it falls back to the CPU.

        Raises:
            ValueError: GPUs are asked for, this machine has none, and the CPU may not stand in
                (``AllowCpuFallback`` false, ``require_gpu``, or an explicit ``NumGpus``
                without ``AllowCpuFallback``). The message says which and how to change it.
        """
        if self.num_gpus <= 0 or gpus_here > 0:
            return self, None
        what = f"{self.gpu_request()} but this machine has no GPU"
        if require_gpu:
            msg = f"{what}, and a GPU is required (--require-gpu)"
            raise ValueError(msg)
        if self.allow_cpu_fallback is False:
            msg = f"{what}, and AllowCpuFallback is false; allow it to train on the CPU"
            raise ValueError(msg)
        if self.explicit_gpus and self.allow_cpu_fallback is None:
            msg = f"{what}; set AllowCpuFallback to true to train on the CPU instead"
            raise ValueError(msg)
        warning = (
            f"{what}: training jobs run on the CPU (AllowCpuFallback false, or --require-gpu, "
            "refuses instead)"
        )
        return dataclasses.replace(self, num_gpus=0.0), warning

    def capped(self, cpus_per_node: float, gpus_per_node: float) -> Resources:
        """Fit one node of the cluster: CPUs capped; GPUs refused (or dropped) if there are none.

        Raises:
            ValueError: GPUs asked for, the cluster has none, and CPU fallback is not allowed.
        """
        cpus = min(self.num_cpus, max(cpus_per_node, 1.0))
        gpus = self.num_gpus
        if gpus > 0 and gpus_per_node <= 0:
            if not self.allow_cpu_fallback:
                what = (
                    f"{self.instance_type} has {gpus:g} GPU"
                    if self.instance_type
                    else f"NumGpus={gpus:g}"
                )
                msg = (
                    f"the training job asks for a GPU ({what}) but no GPU is available; "
                    "set ResourceConfig.AllowCpuFallback (allow_cpu_fallback=True) "
                    "to train on the CPU"
                )
                raise ValueError(msg)
            gpus = 0.0
        elif gpus > gpus_per_node > 0:
            gpus = gpus_per_node
        return dataclasses.replace(self, num_cpus=cpus, num_gpus=gpus)


def _first(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in mapping:
            return mapping[key]
    return None


def resources_from_config(resource_config: Mapping[str, Any] | None) -> Resources:
    """Resources from a request's ResourceConfig (InstanceType, then the explicit overrides)."""
    config = resource_config or {}
    instance_type = config.get("InstanceType")
    cpus, gpus = instance_shape(instance_type) if instance_type else (1, 0)
    num_cpus = _first(config, "NumCpus", "num_cpus")
    num_gpus = _first(config, "NumGpus", "num_gpus")
    fallback = _first(config, "AllowCpuFallback", "allow_cpu_fallback")
    memory = _first(config, "MaxMemoryInMB", "max_memory_mb")
    if memory is not None and (isinstance(memory, bool) or float(memory) <= 0):
        msg = f"MaxMemoryInMB must be a positive number of megabytes, got {memory!r}"
        raise ValueError(msg)
    return Resources(
        num_cpus=float(num_cpus) if num_cpus is not None else float(cpus),
        num_gpus=float(num_gpus) if num_gpus is not None else float(gpus),
        allow_cpu_fallback=bool(fallback) if fallback is not None else None,
        instance_type=instance_type,
        explicit_gpus=num_gpus is not None,
        memory_mb=float(memory) if memory is not None else None,
    )


def local_gpu_count() -> int:
    """GPUs visible on this machine (via torch when installed, else ``nvidia-smi``), 0 if none."""
    try:
        import torch

        return int(torch.cuda.device_count())
    except ImportError:
        pass
    import shutil
    import subprocess

    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        out = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


#: The members of a one-instance-type HyperParameterTuningResourceConfig that ResourceConfig has.
_SHARED_RESOURCE_MEMBERS = ("InstanceType", "InstanceCount", "VolumeSizeInGB", "VolumeKmsKeyId")


def resource_config_of_tuning(tuning: Any) -> dict[str, Any] | None:
    """The ``ResourceConfig`` that a one-instance-type ``HyperParameterTuningResourceConfig``
    amounts to (None for a list of InstanceConfigs or no instance type).

    DescribeHyperParameterTuningJob echoes it beside the request's HyperParameterTuningResource
    Config (the SageMaker SDK's ``attach`` reads ResourceConfig), and a request that carries both,
    as one copied from such a description does, is accepted when they agree.
    """
    if not isinstance(tuning, Mapping) or "InstanceType" not in tuning:
        return None
    return {k: tuning[k] for k in _SHARED_RESOURCE_MEMBERS if k in tuning}
