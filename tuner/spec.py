"""The tuning job spec: AMT's CreateHyperParameterTuningJob request, validated once.

Three ways in (a JSON/YAML file, the Python API, later HTTP) all build the request dict of
AMT's shape and pass it to :func:`spec_from_request`, which returns the one internal model,
:class:`TuningJobSpec`, or raises :class:`~tuner.errors.InvalidSpecError` with one message per
problem, each naming the field path and what is allowed. Nothing is written before this passes.

Validation in two layers:

1. Structure, from botocore's SageMaker model (:mod:`tuner.request_shape`): unknown fields,
   types, required members, lengths, numeric bounds, enums.
2. AMT's semantic rules (AMT.md sections 2-7): name pattern, strategy constraints (Grid takes
   only categorical ranges and, if given, MaxNumberOfTrainingJobs equal to the number of
   combinations; Hyperband needs early stopping Off), range bounds that parse and are ordered,
   scaling that fits the bounds, at most 30 tuned hyperparameters and 100 in all, distinct
   names, an objective metric the algorithm emits in the right direction, hyperparameter values
   the algorithm accepts, data channels that exist.

Choices where AMT is silent or where a local run differs:

* Relative data paths (``S3Uri`` without a scheme, or ``file://`` with a relative path) are
  resolved against ``base_dir`` (the spec file's folder for ``tuner run``, the working
  directory for the Python API), falling back to the working directory. ``s3://`` URIs are
  refused (no AWS access from a local run).
* ``MaxNumberOfTrainingJobs`` is required except for Grid (the API marks it optional, but a
  Random search needs a budget). AWS account limits (750 jobs, 10 parallel) are not enforced:
  they are quotas, not rules of the request.
* A hyperparameter both static and tuned is refused (the SDK silently drops the static one).
* ``TuningObjective`` and ``HyperParameterRanges`` inside a single ``TrainingJobDefinition`` belong
  to multi-algorithm definitions; they are refused rather than silently ignored.
* ``StoppingCondition.MaxRuntimeInSeconds`` defaults to AMT's one day per training job.
* ``Strategy`` may be left out: it defaults to Bayesian, the SageMaker SDK's default. ``"TPE"``
  (ours) selects Optuna's TPE sampler.
* Strategies, multi-algorithm definitions, warm start and Autotune that this version does not
  implement are refused with a message saying so, rather than silently run differently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from algorithms import HyperparameterSpec, get_algorithm, resolve_algorithm_name
from strategies.hyperband import EPOCH_HYPERPARAMETERS, infer_max_resource
from strategies.registry import DEFAULT_STRATEGY, STRATEGIES
from strategies.space import (
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
    Parameter,
    ScalingType,
    SearchSpace,
    SpaceError,
)
from tuner.errors import InvalidSpecError
from tuner.objective import Objective, ObjectiveType
from tuner.request_shape import check_request
from tuner.resources import Resources, resources_from_config

NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}")
#: The same pattern without the length, so that a name too long is reported once (structurally).
_NAME_CHARACTERS = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")
CONFIG = "HyperParameterTuningJobConfig"
DEFINITION = "TrainingJobDefinition"
RANGES = f"{CONFIG}.ParameterRanges"

#: AMT: at most 30 tuned hyperparameters, 100 static + tuned (incl. _tuning_objective_metric).
MAX_TUNED = 30
MAX_HYPERPARAMETERS = 100
#: AMT's default StoppingCondition.MaxRuntimeInSeconds for a training job: one day.
DEFAULT_TRIAL_MAX_RUNTIME_S = 86_400
#: TrainingImage prefix recorded for a Python callable given to the Python API.
CALLABLE_IMAGE_PREFIX = "python-callable://"

_RANGE_KINDS: dict[str, type] = {
    "IntegerParameterRanges": IntegerParameter,
    "ContinuousParameterRanges": ContinuousParameter,
    "CategoricalParameterRanges": CategoricalParameter,
}


@dataclass(frozen=True)
class HyperbandConfig:
    """Resolved HyperbandStrategyConfig: MinResource, MaxResource (maybe inferred) and ours."""

    min_resource: int
    max_resource: int
    reduction_factor: int = 3
    model_based: bool = False


@dataclass(frozen=True)
class TuningJobSpec:
    """Everything the coordinator needs to run a tuning job, derived from one AMT request.

    ``request`` is the normalised request, kept verbatim for Describe and for resume; the other
    fields are what it means. ``train_fn`` is set when the algorithm is a Python callable.
    """

    name: str
    request: Mapping[str, Any]
    strategy: str
    objective: Objective
    space: SearchSpace
    max_jobs: int
    max_parallel_jobs: int
    max_runtime_s: float | None
    early_stopping: bool
    random_seed: int | None
    algorithm: str | None
    static_hyperparameters: Mapping[str, str]
    channels: Mapping[str, Path]
    output_path: Path | None
    trial_max_runtime_s: float
    max_retry_attempts: int
    environment: Mapping[str, str]
    resources: Resources = field(default_factory=Resources)
    hyperband: HyperbandConfig | None = None
    target_objective_value: float | None = None
    max_jobs_not_improving: int | None = None
    complete_on_convergence: bool = False
    train_fn: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

    @property
    def strategy_options(self) -> dict[str, Any]:
        """What the strategy is configured with beyond its name (HyperbandStrategyConfig)."""
        return dataclasses.asdict(self.hyperband) if self.hyperband is not None else {}

    def hyperparameters_for(self, tuned: Mapping[str, str]) -> dict[str, str]:
        """What a training job receives: statics, its tuned values, AMT's objective key."""
        out = dict(self.static_hyperparameters)
        out.update(tuned)
        if self.train_fn is None:
            out["_tuning_objective_metric"] = self.objective.metric
        return out


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------
def load_request_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON or YAML request file; raises InvalidSpecError naming the file on bad syntax."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        msg = f"{p}: cannot read the spec file ({exc.strerror or exc})"
        raise InvalidSpecError([msg]) from None
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        msg = f"{p}: not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'}: {exc}"
        raise InvalidSpecError([msg]) from None
    if not isinstance(data, dict):
        msg = f"{p}: the spec must be an object with the fields of CreateHyperParameterTuningJob"
        raise InvalidSpecError([msg])
    return data


def load_spec(path: str | Path) -> TuningJobSpec:
    """Load and validate a spec file; relative data paths resolve against the file's folder."""
    p = Path(path)
    return spec_from_request(load_request_file(p), base_dir=p.resolve().parent)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------
class _Problems:
    """Collects problems so that one run reports all of them."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}")


def _parse_range(kind: str, item: Mapping[str, Any]) -> Parameter:
    """Build one range from its request form; raises SpaceError / ValueError with the reason."""
    if kind == "CategoricalParameterRanges":
        return CategoricalParameter(list(item["Values"]))
    scaling = item.get("ScalingType", "Auto")
    if kind == "IntegerParameterRanges":
        bounds = []
        for label in ("MinValue", "MaxValue"):
            raw = str(item[label]).strip()
            if not re.fullmatch(r"[+-]?\d+", raw):
                msg = f"{label} must be an integer, got {item[label]!r}"
                raise SpaceError(msg)
            bounds.append(int(raw))
        return IntegerParameter(bounds[0], bounds[1], scaling)
    values = []
    for label in ("MinValue", "MaxValue"):
        try:
            values.append(float(str(item[label]).strip()))
        except ValueError:
            msg = f"{label} must be a number, got {item[label]!r}"
            raise SpaceError(msg) from None
        if not math.isfinite(values[-1]):
            msg = f"{label} must be a finite number, got {item[label]!r}"
            raise SpaceError(msg)
    return ContinuousParameter(values[0], values[1], scaling)


def _structurally_sound(kind: str, item: Mapping[str, Any]) -> bool:
    """False when the range has a problem the structural check reports (bad enum, bad Values)."""
    if kind == "CategoricalParameterRanges":
        return "Values" not in item or (isinstance(item["Values"], list) and bool(item["Values"]))
    return item.get("ScalingType", "Auto") in {s.value for s in ScalingType}


def _parse_ranges(
    ranges_request: Mapping[str, Any] | None, problems: _Problems, path: str = RANGES
) -> dict[str, Parameter]:
    ranges: dict[str, Parameter] = {}
    if not ranges_request:
        return ranges
    for kind in _RANGE_KINDS:
        for i, item in enumerate(ranges_request.get(kind) or []):
            if not isinstance(item, Mapping) or "Name" not in item:
                continue  # the structural check has reported it
            name = str(item["Name"])
            where = f"{path}.{kind}[{i}] ({name!r})"
            if not name:
                problems.add(where, "Name must not be empty")
                continue
            if name in ranges:
                problems.add(where, f"hyperparameter {name!r} appears in more than one range")
                continue
            if not _structurally_sound(kind, item):
                continue  # a bad ScalingType or Values was reported structurally
            try:
                ranges[name] = _parse_range(kind, item)
            except KeyError:
                continue  # a missing MinValue/MaxValue/Values was reported structurally
            except (SpaceError, ValueError) as exc:
                problems.add(where, str(exc))
    if "AutoParameters" in ranges_request:
        problems.add(f"{path}.AutoParameters", "Autotune is not supported by this engine yet")
    return ranges


def _parse_hyperband(
    config: Mapping[str, Any], definition: Mapping[str, Any], problems: _Problems
) -> HyperbandConfig | None:
    """MinResource (default 1), MaxResource (given or inferred from an epochs hyperparameter)."""
    path = f"{CONFIG}.StrategyConfig.HyperbandStrategyConfig"
    raw = (config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig") or {}
    min_resource = raw.get("MinResource", 1)
    max_resource = raw.get("MaxResource")
    if max_resource is None:
        max_resource = infer_max_resource(dict(definition.get("StaticHyperParameters") or {}))
        if max_resource is None:
            problems.add(
                f"{path}.MaxResource",
                "is required: give it, or a static hyperparameter "
                + "/".join(EPOCH_HYPERPARAMETERS)
                + " (a whole number >= 1) to infer it from",
            )
            return None
    elif max_resource > 20_000:
        problems.add(f"{path}.MaxResource", f"must be at most 20000, got {max_resource}")
    if not isinstance(min_resource, int) or not isinstance(max_resource, int):
        return None  # reported structurally
    if min_resource > max_resource:
        problems.add(
            f"{path}.MinResource",
            f"must be <= MaxResource ({max_resource}), got {min_resource}",
        )
        return None
    eta = raw.get("ReductionFactor", 3)
    if not float(eta).is_integer() or eta < 2:
        problems.add(f"{path}.ReductionFactor", f"must be a whole number >= 2, got {eta}")
        return None
    return HyperbandConfig(
        min_resource, max_resource, int(eta), bool(raw.get("ModelBased", False))
    )


def _local_path(uri: str, base_dir: Path) -> Path | None:
    """A local path from ``file://`` or a plain path; None for schemes we cannot reach.

    A relative path is taken against ``base_dir`` (the spec file's folder) and, if nothing
    exists there, against the working directory.
    """
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    elif re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", uri):
        return None
    p = Path(uri).expanduser()
    if p.is_absolute():
        return p
    candidate = base_dir / p
    return candidate if candidate.exists() or not (Path.cwd() / p).exists() else Path.cwd() / p


def _check_algorithm_hyperparameters(
    specs: Mapping[str, HyperparameterSpec],
    static: Mapping[str, str],
    ranges: Mapping[str, Parameter],
    problems: _Problems,
) -> None:
    """Static values parse, tuned names exist with fitting types and bounds, required ones set."""
    static_path = f"{DEFINITION}.StaticHyperParameters"
    for name, value in static.items():
        if name.startswith("_") or not isinstance(value, str):
            continue  # a value that is not a string was reported structurally
        if name not in specs:
            problems.add(f"{static_path}[{name!r}]", "not a hyperparameter of this algorithm")
            continue
        try:
            specs[name].parse(name, value)
        except ValueError as exc:
            problems.add(f"{static_path}[{name!r}]", str(exc))
    for name, rng in ranges.items():
        where = f"{RANGES} ({name!r})"
        spec = specs.get(name)
        if spec is None:
            problems.add(
                where, "not a hyperparameter of this algorithm; known: " + ", ".join(sorted(specs))
            )
            continue
        if isinstance(rng, CategoricalParameter):
            rejected = []
            for value in rng.values:
                try:
                    spec.parse(name, value)
                except ValueError:
                    rejected.append(value)
            if rejected:  # one message per range, however many values are wrong
                label = "value" if len(rejected) == 1 else "values"
                problems.add(
                    where,
                    f"categorical {label} {', '.join(map(repr, rejected))} rejected: "
                    f"{name!r} must be {spec.allowed()}",
                )
            continue
        if spec.kind in ("str", "bool"):
            problems.add(
                where, f"takes {spec.allowed()}; tune it with a CategoricalParameterRange"
            )
            continue
        if spec.kind == "int" and isinstance(rng, ContinuousParameter):
            problems.add(where, "is an integer hyperparameter; use an IntegerParameterRange")
            continue
        for label, bound in (("MinValue", rng.min_value), ("MaxValue", rng.max_value)):
            try:
                spec.parse(name, bound)
            except ValueError:
                problems.add(where, f"{label} {bound!r} outside the valid range: {spec.allowed()}")
    for name, spec in specs.items():
        if spec.required and name not in static and name not in ranges:
            problems.add(
                f"{DEFINITION}.StaticHyperParameters",
                f"hyperparameter {name!r} is required by this algorithm ({spec.allowed()}); "
                "set it as a static value or tune it",
            )


def spec_from_request(
    request: Mapping[str, Any],
    *,
    base_dir: Path | None = None,
    train_fn: Callable[..., Any] | None = None,
) -> TuningJobSpec:
    """Validate an AMT CreateHyperParameterTuningJob request and build the internal spec.

    Args:
        request: the request dict (JSON/YAML shape of AMT's API).
        base_dir: where relative data paths are resolved (defaults to the working directory).
        train_fn: the Python callable when the algorithm is user code (Python API only).

    Raises:
        InvalidSpecError: with one message per problem; nothing has been written.
    """
    base_dir = base_dir or Path.cwd()
    # A request that is not an object (a list, a string) is reported by the structural check.
    normalised, structural = check_request(
        dict(request) if isinstance(request, Mapping) else request
    )
    problems = _Problems()
    problems.items.extend(structural)
    if not isinstance(normalised, dict):
        raise InvalidSpecError(problems.items)

    name = normalised.get("HyperParameterTuningJobName")
    if isinstance(name, str) and name and not _NAME_CHARACTERS.fullmatch(name):
        problems.add(
            "HyperParameterTuningJobName",
            f"must be 1-32 letters, digits or hyphens, starting and ending with a letter or "
            f"digit (pattern [a-zA-Z0-9](-*[a-zA-Z0-9]){{0,31}}), got {name!r}",
        )
    for unsupported, why in (
        (
            "TrainingJobDefinitions",
            "multi-algorithm tuning is not supported yet; use TrainingJobDefinition",
        ),
        ("WarmStartConfig", "warm start is not supported by this engine yet"),
        ("Autotune", "Autotune is not supported by this engine yet"),
    ):
        if unsupported in normalised:
            problems.add(unsupported, why)

    config: dict[str, Any] = normalised[CONFIG] if isinstance(normalised.get(CONFIG), dict) else {}
    definition = normalised.get(DEFINITION)
    if definition is None and "TrainingJobDefinitions" not in normalised:
        problems.add(DEFINITION, "is required (the training job to tune)")
    definition = definition if isinstance(definition, dict) else {}
    # The per-definition objective and ranges belong to multi-algorithm TrainingJobDefinitions;
    # in a single TrainingJobDefinition they would be silently ignored, so say where they go.
    for member, instead in (
        ("TuningObjective", f"{CONFIG}.HyperParameterTuningJobObjective"),
        ("HyperParameterRanges", RANGES),
    ):
        if member in definition:
            problems.add(
                f"{DEFINITION}.{member}",
                f"is only for multi-algorithm TrainingJobDefinitions; use {instead}",
            )
    if "ResourceConfig" in definition and "HyperParameterTuningResourceConfig" in definition:
        problems.add(
            DEFINITION,
            "give ResourceConfig or HyperParameterTuningResourceConfig, not both",
        )

    # -- strategy and limits ----------------------------------------------------------------
    strategy = config.get("Strategy", DEFAULT_STRATEGY)
    entry = STRATEGIES.get(strategy) if isinstance(strategy, str) else None
    if "StrategyConfig" in config and (entry is None or entry.options_field is None):
        takes = [e.name for e in STRATEGIES.values() if e.options_field]
        problems.add(
            f"{CONFIG}.StrategyConfig", f"may be given only with Strategy {' or '.join(takes)}"
        )
    early = config.get("TrainingJobEarlyStoppingType", "Off")
    if entry is not None and entry.stops_trials and early == "Auto":
        problems.add(
            f"{CONFIG}.TrainingJobEarlyStoppingType",
            f"must be Off with Strategy {strategy} ({strategy} has its own early stopping)",
        )

    hyperband = _parse_hyperband(config, definition, problems) if strategy == "Hyperband" else None

    ranges = _parse_ranges(config.get("ParameterRanges"), problems)
    space = SearchSpace(ranges)
    if not ranges and not any("ParameterRanges" in p for p in problems.items):
        problems.add(RANGES, "at least one hyperparameter range is required")
    if len(ranges) > MAX_TUNED:
        problems.add(
            RANGES, f"at most {MAX_TUNED} hyperparameters can be tuned, got {len(ranges)}"
        )

    limits: dict[str, Any] = (
        config["ResourceLimits"] if isinstance(config.get("ResourceLimits"), dict) else {}
    )
    max_jobs = limits.get("MaxNumberOfTrainingJobs")
    if entry is not None and entry.categorical_only:
        not_categorical = [n for n, r in ranges.items() if not isinstance(r, CategoricalParameter)]
        if not_categorical:
            problems.add(
                RANGES,
                f"Strategy {strategy} takes only CategoricalParameterRanges; "
                f"not categorical: {', '.join(not_categorical)}",
            )
        elif ranges:
            combos = space.grid_size()
            if max_jobs is not None and isinstance(max_jobs, int) and max_jobs != combos:
                problems.add(
                    f"{CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs",
                    f"with Strategy {strategy} it must equal the number of combinations, "
                    f"{combos}, or be omitted; got {max_jobs}",
                )
            max_jobs = combos
    elif max_jobs is None and entry is not None and "ResourceLimits" in config:
        problems.add(
            f"{CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs",
            f"is required with Strategy {strategy} (the number of training jobs to run)",
        )

    # -- objective ----------------------------------------------------------------------------
    objective_request = config.get("HyperParameterTuningJobObjective")
    objective: Objective | None = None
    if objective_request is None:
        problems.add(
            f"{CONFIG}.HyperParameterTuningJobObjective", "is required (Type and MetricName)"
        )
    elif (
        isinstance(objective_request, dict) and {"Type", "MetricName"} <= objective_request.keys()
    ):
        with contextlib.suppress(ValueError):  # an invalid Type was reported structurally
            objective = Objective(
                str(objective_request["MetricName"]), ObjectiveType(objective_request["Type"])
            )

    # -- algorithm ----------------------------------------------------------------------------
    algo_spec = definition.get("AlgorithmSpecification") or {}
    algo_path = f"{DEFINITION}.AlgorithmSpecification"
    image, algo_name = algo_spec.get("TrainingImage"), algo_spec.get("AlgorithmName")
    algorithm: str | None = None
    if image and algo_name:
        problems.add(algo_path, "give TrainingImage or AlgorithmName, not both")
    elif definition and not (image or algo_name):
        problems.add(algo_path, "TrainingImage or AlgorithmName is required")
    label = "TrainingImage" if image else "AlgorithmName"
    reference = image or algo_name
    if train_fn is not None:
        if not (isinstance(reference, str) and reference.startswith(CALLABLE_IMAGE_PREFIX)):
            problems.add(algo_path, "a Python callable needs a python-callable:// TrainingImage")
    elif isinstance(reference, str) and reference:
        if reference.startswith(CALLABLE_IMAGE_PREFIX):
            problems.add(
                f"{algo_path}.{label}",
                "names a Python callable, which only the Python API can supply",
            )
        else:
            algorithm = resolve_algorithm_name(reference)
            if algorithm is None:
                from algorithms import available_algorithms

                problems.add(
                    f"{algo_path}.{label}",
                    f"{reference!r} is not a built-in algorithm; available: "
                    + ", ".join(available_algorithms()),
                )

    metric_names = [
        m.get("Name") for m in algo_spec.get("MetricDefinitions") or [] if isinstance(m, dict)
    ]
    if len(metric_names) != len(set(metric_names)):
        problems.add(f"{algo_path}.MetricDefinitions", "metric names must be distinct")

    static = dict(definition.get("StaticHyperParameters") or {})
    both = sorted(set(static) & set(ranges))
    if both:
        problems.add(
            f"{DEFINITION}.StaticHyperParameters",
            f"{', '.join(both)} also tuned in ParameterRanges; "
            "a hyperparameter is static or tuned, not both",
        )
    total = len(static) + len(ranges) + 1  # AMT counts its _tuning_objective_metric too
    if total > MAX_HYPERPARAMETERS:
        problems.add(
            f"{DEFINITION}.StaticHyperParameters",
            f"static plus tuned hyperparameters must be at most {MAX_HYPERPARAMETERS - 1}, "
            f"got {total - 1}",
        )

    if algorithm is not None:
        algo = get_algorithm(algorithm)
        if objective is not None:
            direction = algo.metrics.get(objective.metric)
            if direction is None and objective.metric not in metric_names:
                problems.add(
                    f"{CONFIG}.HyperParameterTuningJobObjective.MetricName",
                    f"{objective.metric!r} is not a metric of {algorithm}; allowed: "
                    + (", ".join(sorted(algo.metrics)) or f"none: {algorithm} cannot be tuned"),
                )
            elif direction is not None and direction != objective.type.value:
                problems.add(
                    f"{CONFIG}.HyperParameterTuningJobObjective.Type",
                    f"{objective.metric} should be {direction}d, got {objective.type.value}",
                )
        _check_algorithm_hyperparameters(algo.hyperparameters, static, ranges, problems)
    elif (
        train_fn is None
        and objective is not None
        and metric_names
        and objective.metric not in metric_names
    ):
        problems.add(
            f"{CONFIG}.HyperParameterTuningJobObjective.MetricName",
            "A metric is required for this hyperparameter tuning job objective. "
            "Provide a metric in the metric definitions.",
        )

    # -- data and output --------------------------------------------------------------------
    channels: dict[str, Path] = {}
    for i, channel in enumerate(definition.get("InputDataConfig") or []):
        if not isinstance(channel, dict) or "ChannelName" not in channel:
            continue
        cname = channel["ChannelName"]
        where = f"{DEFINITION}.InputDataConfig[{i}] ({cname!r})"
        if cname in channels:
            problems.add(where, f"channel {cname!r} is given twice")
            continue
        source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        uri = source.get("S3Uri")
        if not isinstance(uri, str):
            problems.add(
                f"{where}.DataSource", "needs S3DataSource.S3Uri (a local path or file:// URI)"
            )
            continue
        local = _local_path(uri, base_dir)
        if local is None:
            problems.add(
                f"{where}.DataSource.S3DataSource.S3Uri",
                f"{uri!r} is not reachable from a local run; use a local path or a file:// URI",
            )
        elif not local.exists():
            problems.add(
                f"{where}.DataSource.S3DataSource.S3Uri", f"no such file or folder: {local}"
            )
        else:
            channels[cname] = local.resolve()
    if (
        algorithm is not None
        and definition.get("InputDataConfig") is not None
        and "train" not in channels
        and not any("InputDataConfig" in p for p in problems.items)
    ):
        problems.add(f"{DEFINITION}.InputDataConfig", "a 'train' channel is required")
    if algorithm is not None and definition.get("InputDataConfig") is None:
        problems.add(
            f"{DEFINITION}.InputDataConfig",
            "is required for a built-in algorithm (a 'train' channel)",
        )

    output_uri = (definition.get("OutputDataConfig") or {}).get("S3OutputPath")
    output_path = _local_path(output_uri, base_dir) if isinstance(output_uri, str) else None

    stopping = definition.get("StoppingCondition") or {}
    retry = definition.get("RetryStrategy") or {}
    completion = config.get("TuningJobCompletionCriteria") or {}
    resource_config = definition.get("ResourceConfig")
    if resource_config is None:
        # HyperParameterTuningResourceConfig: the first (most preferred) instance type.
        tuning_resources = definition.get("HyperParameterTuningResourceConfig") or {}
        first = (tuning_resources.get("InstanceConfigs") or [tuning_resources])[0]
        resource_config = (
            {"InstanceType": first.get("InstanceType")} if first.get("InstanceType") else {}
        )
    resources = resources_from_config(resource_config)

    if problems.items:
        raise InvalidSpecError(problems.items)

    seed = config.get("RandomSeed")
    max_runtime = limits.get("MaxRuntimeInSeconds")
    assert objective is not None and isinstance(name, str) and isinstance(strategy, str)
    return TuningJobSpec(
        name=name,
        request=normalised,
        strategy=strategy,
        objective=objective,
        space=space,
        max_jobs=int(max_jobs),  # type: ignore[arg-type]
        max_parallel_jobs=int(limits["MaxParallelTrainingJobs"]),
        max_runtime_s=float(max_runtime) if max_runtime is not None else None,
        early_stopping=early == "Auto",
        random_seed=int(seed) if seed is not None else None,
        algorithm=algorithm,
        static_hyperparameters=static,
        channels=channels,
        output_path=output_path,
        trial_max_runtime_s=float(
            stopping.get("MaxRuntimeInSeconds", DEFAULT_TRIAL_MAX_RUNTIME_S)
        ),
        max_retry_attempts=int(retry.get("MaximumRetryAttempts", 0)),
        environment=dict(definition.get("Environment") or {}),
        resources=resources,
        hyperband=hyperband,
        target_objective_value=completion.get("TargetObjectiveMetricValue"),
        max_jobs_not_improving=(completion.get("BestObjectiveNotImproving") or {}).get(
            "MaxNumberOfTrainingJobsNotImproving"
        ),
        complete_on_convergence=(completion.get("ConvergenceDetected") or {}).get(
            "CompleteOnConvergence"
        )
        == "Enabled",
        train_fn=train_fn,
    )
