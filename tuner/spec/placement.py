"""Where a validated job's training jobs will run: GPUs asked for against GPUs there.

``tuner validate`` and ``tuner run`` (and the Python API's ``fit``) call :func:`place` with the
same executor and ``require_gpu``, so they agree: a job that cannot run is refused by both with
the same one message, and a job that falls back to the CPU is valid with the same warning.

On the local executor a GPU instance type on a machine without a GPU runs on the CPU, with a
warning that is also recorded in the job: ``CpuFallbackWarning`` beside the instance type in the
stored request's ResourceConfig (or HyperParameterTuningResourceConfig), which
DescribeHyperParameterTuningJob returns. ``AllowCpuFallback: false`` or ``require_gpu`` refuse
instead; see :meth:`tuner.spec.resources.Resources.on_this_machine`. On Ray a GPU request stays
one (the cluster may grow): nothing is decided here, except that ``require_gpu`` withdraws an
``AllowCpuFallback``.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

from tuner.errors import InvalidSpecError
from tuner.spec.model import TuningJobSpec
from tuner.spec.problems import DEFINITION
from tuner.spec.resources import local_gpu_count

#: The member of a stored ResourceConfig that records a fallback to the CPU.
CPU_FALLBACK_FIELD = "CpuFallbackWarning"
_RESOURCE_MEMBERS = ("ResourceConfig", "HyperParameterTuningResourceConfig")


@dataclass(frozen=True)
class Placement:
    """The spec as it will run, and the warning to show (None when it runs as asked)."""

    spec: TuningJobSpec
    warning: str | None = None


def place(
    spec: TuningJobSpec,
    *,
    executor: str = "local",
    ray_address: str | None = None,
    require_gpu: bool = False,
    gpus_here: int | None = None,
) -> Placement:
    """The spec fitted to the executor's GPUs (``gpus_here``: this machine's, found if None).

    Raises:
        InvalidSpecError: one problem, naming the ResourceConfig: the job asks for a GPU this
            machine does not have, and may not fall back to the CPU.
    """
    resources = spec.resources
    if executor != "local" or ray_address is not None:
        if require_gpu and resources.allow_cpu_fallback:
            resources = dataclasses.replace(resources, allow_cpu_fallback=False)
            return Placement(dataclasses.replace(spec, resources=resources))
        return Placement(spec)
    if resources.num_gpus <= 0:
        return Placement(spec)
    member = _resource_member(spec.request)
    try:
        placed, warning = resources.on_this_machine(
            local_gpu_count() if gpus_here is None else gpus_here, require_gpu=require_gpu
        )
    except ValueError as exc:
        raise InvalidSpecError([f"{DEFINITION}.{member}: {exc}"]) from None
    if warning is None:
        return Placement(spec)
    request = copy.deepcopy(dict(spec.request))
    request[DEFINITION][member][CPU_FALLBACK_FIELD] = warning
    return Placement(dataclasses.replace(spec, resources=placed, request=request), warning)


def _resource_member(request: Any) -> str:
    definition = request.get(DEFINITION) or {}
    return next((m for m in _RESOURCE_MEMBERS if m in definition), _RESOURCE_MEMBERS[0])
