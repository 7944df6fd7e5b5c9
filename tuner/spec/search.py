"""Validation of the search: Strategy and its rules, StrategyConfig, early stopping, budget.

Which rules apply to a strategy comes from its entry in :mod:`strategies.registry` (Grid takes
only categorical ranges and runs each combination once; Hyperband stops trials itself, so
early stopping must be Off, and it alone takes a StrategyConfig).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from strategies.hyperband import EPOCH_HYPERPARAMETERS, infer_max_resource
from strategies.registry import DEFAULT_STRATEGY, STRATEGIES, StrategyEntry
from strategies.space import CategoricalParameter, Parameter, SearchSpace
from tuner.spec.model import MAX_TUNED, HyperbandConfig
from tuner.spec.problems import CONFIG, LIMITS, RANGES, Problems

#: MaxResource allowed by AMT.
MAX_MAX_RESOURCE = 20_000


@dataclass(frozen=True)
class SearchChoice:
    """The strategy a request names, its entry (None when unknown) and early stopping."""

    name: str
    entry: StrategyEntry | None
    early_stopping: str


def check_strategy(config: Mapping[str, Any], problems: Problems) -> SearchChoice:
    """Strategy (default Bayesian), StrategyConfig only where it applies, early stopping."""
    name = config.get("Strategy", DEFAULT_STRATEGY)
    entry = STRATEGIES.get(name) if isinstance(name, str) else None
    if "StrategyConfig" in config and (entry is None or entry.options_field is None):
        takes = [e.name for e in STRATEGIES.values() if e.options_field]
        problems.add(
            f"{CONFIG}.StrategyConfig", f"may be given only with Strategy {' or '.join(takes)}"
        )
    early = config.get("TrainingJobEarlyStoppingType", "Off")
    if entry is not None and entry.stops_trials and early == "Auto":
        problems.add(
            f"{CONFIG}.TrainingJobEarlyStoppingType",
            f"must be Off with Strategy {name} ({name} has its own early stopping)",
        )
    return SearchChoice(str(name), entry, str(early))


def check_hyperband(
    config: Mapping[str, Any], static: Mapping[str, Any], problems: Problems
) -> HyperbandConfig | None:
    """MinResource (default 1), MaxResource (given or inferred from an epochs hyperparameter)."""
    path = f"{CONFIG}.StrategyConfig.HyperbandStrategyConfig"
    raw = (config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig") or {}
    min_resource = raw.get("MinResource", 1)
    max_resource = raw.get("MaxResource")
    if max_resource is None:
        max_resource = infer_max_resource(dict(static))
        if max_resource is None:
            problems.add(
                f"{path}.MaxResource",
                "is required: give it, or a static hyperparameter "
                + "/".join(EPOCH_HYPERPARAMETERS)
                + " (a whole number >= 1) to infer it from",
            )
            return None
    elif max_resource > MAX_MAX_RESOURCE:
        problems.add(
            f"{path}.MaxResource", f"must be at most {MAX_MAX_RESOURCE}, got {max_resource}"
        )
    if not isinstance(min_resource, int) or not isinstance(max_resource, int):
        return None  # reported structurally
    if min_resource > max_resource:
        problems.add(
            f"{path}.MinResource", f"must be <= MaxResource ({max_resource}), got {min_resource}"
        )
        return None
    eta = raw.get("ReductionFactor", 3)
    if not float(eta).is_integer() or eta < 2:
        problems.add(f"{path}.ReductionFactor", f"must be a whole number >= 2, got {eta}")
        return None
    return HyperbandConfig(min_resource, max_resource, int(eta), bool(raw.get("ModelBased")))


def check_range_count(
    ranges: Mapping[str, Parameter], problems: Problems, *, autotune: bool = False
) -> None:
    """At least one tuned hyperparameter, at most AMT's 30."""
    if not ranges and not problems.about("ParameterRanges"):
        problems.add(
            RANGES,
            "Autotune found no hyperparameter to tune (no AutoParameter has a recommended "
            "range for this algorithm); give ranges"
            if autotune
            else "at least one hyperparameter range is required",
        )
    if len(ranges) > MAX_TUNED:
        problems.add(
            RANGES, f"at most {MAX_TUNED} hyperparameters can be tuned, got {len(ranges)}"
        )


def check_budget(
    config: Mapping[str, Any], choice: SearchChoice, space: SearchSpace, problems: Problems
) -> Any:
    """MaxNumberOfTrainingJobs: required, except for a grid, whose size it must then equal."""
    raw_limits = config.get("ResourceLimits")
    limits: Mapping[str, Any] = raw_limits if isinstance(raw_limits, dict) else {}
    max_jobs = limits.get("MaxNumberOfTrainingJobs")
    path = f"{LIMITS}.MaxNumberOfTrainingJobs"
    if choice.entry is not None and choice.entry.categorical_only:
        not_categorical = [
            n for n, r in space.ranges.items() if not isinstance(r, CategoricalParameter)
        ]
        if not_categorical:
            problems.add(
                RANGES,
                f"Strategy {choice.name} takes only CategoricalParameterRanges; "
                f"not categorical: {', '.join(not_categorical)}",
            )
            return max_jobs
        if not space.ranges:
            return max_jobs
        combos = space.grid_size()
        if isinstance(max_jobs, int) and max_jobs != combos:
            problems.add(
                path,
                f"with Strategy {choice.name} it must equal the number of combinations, "
                f"{combos}, or be omitted; got {max_jobs}",
            )
        return combos
    if max_jobs is None and choice.entry is not None and "ResourceLimits" in config:
        problems.add(
            path, f"is required with Strategy {choice.name} (the number of training jobs to run)"
        )
    return max_jobs
