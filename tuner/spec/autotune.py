"""Autotune: AMT choosing the ranges and settings a request leaves out (AMT.md section 10).

With ``"Autotune": {"Mode": "Enabled"}`` AMT "chooses values for ParameterRanges, ResourceLimits,
TrainingJobEarlyStoppingType, RetryStrategy, Strategy, ConvergenceDetected when not given"; how
it chooses is not published. :func:`resolve_autotune` turns such a request into an ordinary one
before it is validated, so the rest of the engine never sees Autotune, and the resolved request
is what the job stores and ``describe`` echoes (AMT's Describe returns the configuration it
chose). Our rules, each one a documented choice:

* ``ParameterRanges.AutoParameters`` ``[{Name, ValueHint}]``: a hyperparameter of a built-in
  algorithm with a recommended range (``tuning_ranges``, kept beside each algorithm's
  hyperparameter table from AMT's ``<algorithm>-tuning`` page) is tuned over that range,
  widened to take in a numeric ``ValueHint`` outside it. Any other AutoParameter (AMT would
  find it not "eligible for Autotune", such as KMeans' ``k`` or ``feature_dim``, which the SDK's
  ``autotune=True`` sends for every estimator hyperparameter) becomes a static hyperparameter
  with its ``ValueHint`` as the value. A range or static value the request gives explicitly
  wins over an AutoParameter of the same name.
* A request with Autotune and no ranges at all tunes every recommended range of its algorithm
  that is not a static hyperparameter.
* ``Strategy`` and ``ResourceLimits.MaxParallelTrainingJobs`` are required by AWS's request
  shape (botocore refuses a request without them), so they are always given. A missing
  ``MaxNumberOfTrainingJobs`` becomes ten training jobs per tuned hyperparameter, at least 10
  and at most 100. ``TrainingJobEarlyStoppingType`` and ``RetryStrategy`` keep AMT's own
  defaults (Off, no retry) when not given.

Resolution is idempotent (AutoParameters stay in the request, and a name already tuned or
static is left alone), so a stored request resolves to itself when a job resumes.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from typing import Any

from algorithms.base import TuningRange, is_reserved
from tuner.spec.problems import RANGES, Problems
from tuner.spec.ranges import RANGE_KINDS

#: Training jobs per tuned hyperparameter when Autotune picks MaxNumberOfTrainingJobs.
JOBS_PER_TUNED = 10
MIN_AUTOTUNE_JOBS, MAX_AUTOTUNE_JOBS = 10, 100


def autotune_enabled(request: Mapping[str, Any]) -> bool:
    """Whether the request asks for Autotune (``Autotune.Mode`` is ``Enabled``)."""
    autotune = request.get("Autotune")
    return isinstance(autotune, Mapping) and autotune.get("Mode") == "Enabled"


def check_auto_parameters(
    request: Mapping[str, Any], known: Collection[str] | None, problems: Problems
) -> None:
    """An AutoParameter that the built-in algorithm does not have, named where it was given.

    ``known`` is the algorithm's hyperparameter names (None for user code: anything goes).
    """
    if known is None or not autotune_enabled(request):
        return
    for i, auto in enumerate(_auto_parameters(request)):
        name = str(auto.get("Name", ""))
        if name and name not in known and not is_reserved(name):
            problems.add(
                f"{RANGES}.AutoParameters[{i}] ({name!r})",
                "not a hyperparameter of this algorithm",
            )


def resolve_autotune(
    request: Mapping[str, Any],
    tuning_ranges: Mapping[str, TuningRange],
    known: Collection[str] | None = None,
) -> dict[str, Any]:
    """The request with Autotune's choices filled in (unchanged without Autotune).

    ``tuning_ranges`` are the algorithm's recommended ranges (empty for user code), ``known``
    its hyperparameter names: an AutoParameter not among them is left out (and reported by
    :func:`check_auto_parameters`). The request must be structurally valid.
    """
    resolved = copy.deepcopy(dict(request))
    if not autotune_enabled(resolved):
        return resolved
    config = resolved.setdefault("HyperParameterTuningJobConfig", {})
    definition = resolved.setdefault("TrainingJobDefinition", {})
    ranges = config.setdefault("ParameterRanges", {})
    static = definition.setdefault("StaticHyperParameters", {})
    given = _range_names(ranges)
    autos = _auto_parameters(resolved)
    for auto in autos:
        name, hint = str(auto.get("Name", "")), auto.get("ValueHint")
        if not name or name in given or name in static:
            continue
        if known is not None and name not in known and not is_reserved(name):
            continue
        if name in tuning_ranges:
            _add_range(ranges, name, _widened(tuning_ranges[name], hint))
        elif hint is not None:
            static[name] = str(hint)
        given.add(name)
    if not autos and not given:
        for name, recommended in tuning_ranges.items():
            if name not in static:
                _add_range(ranges, name, recommended)
    limits = config.setdefault("ResourceLimits", {})
    if "MaxNumberOfTrainingJobs" not in limits:
        tuned = len(_range_names(ranges))
        limits["MaxNumberOfTrainingJobs"] = min(
            MAX_AUTOTUNE_JOBS, max(MIN_AUTOTUNE_JOBS, JOBS_PER_TUNED * tuned)
        )
    return resolved


def _auto_parameters(request: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    config = request.get("HyperParameterTuningJobConfig")
    ranges = config.get("ParameterRanges") if isinstance(config, Mapping) else None
    items = ranges.get("AutoParameters") if isinstance(ranges, Mapping) else None
    return [a for a in items or [] if isinstance(a, Mapping)]


def _range_names(ranges: Mapping[str, Any]) -> set[str]:
    return {
        str(item["Name"])
        for kind in RANGE_KINDS
        for item in ranges.get(kind) or []
        if isinstance(item, Mapping) and "Name" in item
    }


def _add_range(ranges: dict[str, Any], name: str, recommended: TuningRange) -> None:
    group, item = recommended.request_item(name)
    ranges.setdefault(group, []).append(item)


def _widened(recommended: TuningRange, hint: object) -> TuningRange:
    """The recommended range, stretched to take in a numeric hint that lies outside it."""
    if recommended.kind == "Categorical":
        values = recommended.values
        if hint is not None and str(hint) not in values:
            values = (*values, str(hint))
        return TuningRange("Categorical", values=values)
    try:
        value = float(str(hint))
    except ValueError:
        return recommended
    low, high = recommended.min_value, recommended.max_value
    assert low is not None and high is not None  # numeric kinds always have bounds
    if recommended.kind == "Integer" and not value.is_integer():
        return recommended
    if recommended.scaling == "Logarithmic" and value <= 0:
        return recommended
    return TuningRange(
        recommended.kind, min(low, value), max(high, value), scaling=recommended.scaling
    )
