"""The rules of ``WarmStartConfig`` that a request alone can be checked against.

AMT (AMT.md section 9, DG-warm-start) lets a tuning job start from up to 5 earlier tuning jobs,
its *parents*. What needs no database is checked here, with the rest of the request; whether
the parents exist, have ended and match this job (objective, ranges, algorithm, data) depends
on the database the job runs against, and is checked by :func:`tuner.warm_start.load_parents`
when the coordinator starts, before anything is written.

Checked here (the count, 1 to 5, and ``WarmStartType`` are structural: botocore's model):

* each parent name has AMT's name pattern, appears once, and is not this job's own name;
* the strategy accepts warm start. DG-warm-start says warm start works with "either Bayesian or
  random search", so Bayesian (and TPE, ours, which uses observations the same way) and Random
  accept it; Grid and Hyperband are refused **[I]**: a grid runs every combination once
  whatever was observed, and Hyperband samples new configurations at random and allocates
  epochs by its own rungs, so parent observations would change nothing either would do.

Random accepts warm start but, as AMT documents for Random ("independent of prior results"),
its draws ignore the parent observations: a warm-started Random job draws exactly what a cold
one with the same seed would (:data:`USES_OBSERVATIONS`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from tuner.spec.problems import Problems

WARM_START = "WarmStartConfig"
PARENTS = f"{WARM_START}.ParentHyperParameterTuningJobs"
#: AMT's limit on parents (the structural check enforces it from botocore's model as well).
MAX_PARENTS = 5
_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}")


class WarmStartTypes(StrEnum):
    """AMT's ``WarmStartType`` values, under the SageMaker SDK's member names."""

    IDENTICAL_DATA_AND_ALGORITHM = "IdenticalDataAndAlgorithm"
    TRANSFER_LEARNING = "TransferLearning"


#: Strategy -> whether it fits on the parents' observations. A strategy not listed refuses
#: warm start (see the module docstring for why Grid and Hyperband do).
USES_OBSERVATIONS: dict[str, bool] = {"Bayesian": True, "TPE": True, "Random": False}


def parent_path(index: int) -> str:
    """The field path of parent ``index``'s name, as problems name it."""
    return f"{PARENTS}[{index}].HyperParameterTuningJobName"


def parent_names(request: Mapping[str, Any]) -> list[str]:
    """The parents' names in request order (empty without a WarmStartConfig)."""
    config = request.get(WARM_START)
    if not isinstance(config, Mapping):
        return []
    parents = config.get("ParentHyperParameterTuningJobs")
    return [
        str(p["HyperParameterTuningJobName"])
        for p in (parents if isinstance(parents, list) else [])
        if isinstance(p, Mapping) and isinstance(p.get("HyperParameterTuningJobName"), str)
    ]


def warm_start_type(request: Mapping[str, Any]) -> WarmStartTypes | None:
    """The request's WarmStartType (None without a valid WarmStartConfig)."""
    config = request.get(WARM_START)
    raw = config.get("WarmStartType") if isinstance(config, Mapping) else None
    try:
        return WarmStartTypes(str(raw))
    except ValueError:
        return None


def check_warm_start(request: Mapping[str, Any], strategy: str, problems: Problems) -> None:
    """The parents' names and the strategy; count and type are checked structurally."""
    if not isinstance(request.get(WARM_START), Mapping):
        return
    own = str(request.get("HyperParameterTuningJobName") or "").lower()
    seen: set[str] = set()
    for index, name in enumerate(parent_names(request)):
        if not _NAME.fullmatch(name):
            problems.add(
                parent_path(index),
                f"must be a tuning job name (1-32 letters, digits or hyphens), got {name!r}",
            )
        elif name.lower() == own:
            problems.add(parent_path(index), f"a tuning job cannot be its own parent ({name!r})")
        elif name.lower() in seen:
            problems.add(parent_path(index), f"parent {name!r} is listed twice")
        seen.add(name.lower())
    if strategy not in USES_OBSERVATIONS:
        accepted = ", ".join(USES_OBSERVATIONS)
        problems.add(
            f"{WARM_START}",
            f"warm start is not available with Strategy {strategy}; it works with {accepted}",
        )
