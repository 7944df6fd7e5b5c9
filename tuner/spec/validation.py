"""``spec_from_request``: an AMT CreateHyperParameterTuningJob request, validated once.

Three ways in (a JSON/YAML file, the Python API, HTTP) all build the request dict of AMT's
shape and pass it here; the result is the one internal model, :class:`TuningJobSpec`, or an
:class:`~tuner.errors.InvalidSpecError` with one message per problem, each naming the field
path and what is allowed. Nothing is written before this passes.

Validation in two layers:

1. Structure, from botocore's SageMaker model (:mod:`tuner.spec.request_shape`): unknown
   fields, types, required members, lengths, numeric bounds, enums, the patterns of names
   (channels, environment keys, hyperparameters), NUL characters.
2. AMT's semantic rules (AMT.md sections 2-7), one function per section of the request:
   the name and what this engine does not run (here), the search (:mod:`tuner.spec.search`),
   the ranges (:mod:`tuner.spec.ranges`), the objective, algorithm and hyperparameters
   (:mod:`tuner.spec.algorithm`), data and output (:mod:`tuner.spec.data`), whether the data
   can be read (:mod:`tuner.spec.inputs`).

The semantic checks run even when the structure is wrong, so that one run reports every
problem, but they take the structure as given: where a value is not even of its type (text
for a list, a number for an object), a check may stumble on it, and then the problems found so
far, that one among them, are the answer. Where every value is of its type, a check that
stumbles is a bug, and its exception is not hidden (tests/tuner/test_hostile_input.py).

Choices where AMT is silent or where a local run differs:

* ``MaxNumberOfTrainingJobs`` is required except for Grid (the API marks it optional, but a
  Random search needs a budget). AWS account limits (750 jobs, 10 parallel) are not enforced:
  they are quotas, not rules of the request.
* A hyperparameter both static and tuned is refused (the SDK silently drops the static one).
* ``TuningObjective`` and ``HyperParameterRanges`` inside a single ``TrainingJobDefinition``
  belong to multi-algorithm definitions; they are refused rather than silently ignored.
* ``StoppingCondition.MaxRuntimeInSeconds`` defaults to AMT's one day per training job.
* ``Strategy`` may be left out: it defaults to Bayesian, the SageMaker SDK's default. ``"TPE"``
  (ours) selects Optuna's TPE sampler.
* ``TrainingJobDefinitions`` with one entry (how the console records a job) runs as that
  definition: its ``TuningObjective`` and ``HyperParameterRanges`` stand for the top-level
  objective and ranges, and problems are named where the request wrote them
  (``TrainingJobDefinitions[0]...``). The spec's request is the single-definition form
  (``TrainingJobDefinition``, objective and ranges in HyperParameterTuningJobConfig), which
  is what is stored and described.
* Several definitions (multi-algorithm tuning) are :mod:`tuner.spec.definitions`: each is
  checked by the checks below as a one-definition request, its problems named under its own
  index, and the spec keeps the request in its ``TrainingJobDefinitions`` form.
* ``Autotune``: the request is resolved first (:func:`tuner.spec.autotune.resolve_autotune`:
  AutoParameters become ranges or static values, a missing budget is chosen), then validated
  like any other; the resolved request is the spec's, so it is what is stored and described.
* ``WarmStartConfig``: what the request alone says is checked here
  (:mod:`tuner.spec.warm_start`); the parents themselves are checked against the database
  when the job starts (:func:`tuner.warm_start.load_parents`).
* What can be known before a run is checked here: an objective measured on a channel the
  request lacks, a channel the algorithm cannot read (:mod:`tuner.spec.inputs`). Whether the
  machine has the GPUs asked for depends on where the job runs: :mod:`tuner.spec.placement`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from algorithms import get_algorithm
from strategies.space import SearchSpace
from tuner.checkpointing import check_checkpoint_config
from tuner.errors import InvalidSpecError
from tuner.objective import Objective
from tuner.spec.algorithm import (
    check_algorithm,
    check_algorithm_hyperparameters,
    check_objective,
    check_objective_channel,
    check_objective_metric,
    check_static,
    metric_names,
)
from tuner.spec.autotune import autotune_enabled, check_auto_parameters, resolve_autotune
from tuner.spec.data import check_channels, output_path
from tuner.spec.definitions import is_multi_definition, one_train_fn, spec_from_definitions
from tuner.spec.inputs import check_inputs
from tuner.spec.model import (
    DEFAULT_TRIAL_MAX_RUNTIME_S,
    HyperbandConfig,
    TuningJobSpec,
    script_of,
)
from tuner.spec.problems import CONFIG, DEFINITION, DEFINITIONS, OBJECTIVE, RANGES, Problems
from tuner.spec.ranges import (
    auto_parameter_names,
    check_ranges,
    range_items,
)
from tuner.spec.request_shape import check_structure
from tuner.spec.resources import resource_config_of_tuning, resources_from_config
from tuner.spec.search import (
    SearchChoice,
    check_budget,
    check_hyperband,
    check_range_count,
    check_strategy,
)
from tuner.spec.warm_start import check_warm_start

#: The name pattern without the length, so that a name too long is reported once (structurally).
_NAME_CHARACTERS = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")
#: Where a one-entry TrainingJobDefinitions keeps what a single definition keeps elsewhere.
_IN_DEFINITION = (
    ("TuningObjective", "HyperParameterTuningJobObjective", OBJECTIVE),
    ("HyperParameterRanges", "ParameterRanges", RANGES),
)


@dataclass(frozen=True)
class _Checked:
    """What the semantic checks found, before the spec is built."""

    choice: SearchChoice
    hyperband: HyperbandConfig | None
    space: SearchSpace
    max_jobs: Any
    objective: Objective | None
    algorithm: str | None
    static: dict[str, Any]
    channels: dict[str, Path]


def spec_from_request(
    request: Mapping[str, Any],
    *,
    base_dir: Path | None = None,
    train_fn: Callable[..., Any] | Mapping[str, Callable[..., Any] | bytes] | None = None,
) -> TuningJobSpec:
    """Validate an AMT CreateHyperParameterTuningJob request and build the internal spec.

    Args:
        request: the request dict (JSON/YAML shape of AMT's API).
        base_dir: where relative data paths are resolved (defaults to the working directory).
        train_fn: the Python callable when the algorithm is user code (Python API only); for
            several TrainingJobDefinitions, the callables by DefinitionName.

    Raises:
        InvalidSpecError: with one message per problem; nothing has been written.
    """
    # A request that is not an object (a list, a string) is reported by the structural check.
    structure = check_structure(dict(request) if isinstance(request, Mapping) else request)
    problems = Problems(structure.problems)
    if not isinstance(structure.normalised, dict):
        raise InvalidSpecError(problems.items)
    try:
        return _semantic(structure.normalised, problems, base_dir, train_fn)
    except InvalidSpecError:
        raise
    except _UNREADABLE_STRUCTURE:
        # The semantic checks take the structure as given; where a value is not even of its
        # type (an object for a list), what they stumble on is the problem already reported.
        if not structure.wrong_types:
            raise
        raise InvalidSpecError(problems.items) from None


#: What a semantic check may raise on a value the structural check found of the wrong type.
_UNREADABLE_STRUCTURE = (AttributeError, TypeError, KeyError, IndexError, ValueError)


def _semantic(
    normalised: dict[str, Any],
    problems: Problems,
    base_dir: Path | None,
    train_fn: Callable[..., Any] | Mapping[str, Callable[..., Any] | bytes] | None,
) -> TuningJobSpec:
    """The semantic checks of a request that passed the structural ones, and its spec."""
    if isinstance(train_fn, Mapping):
        if is_multi_definition(normalised):
            return spec_from_definitions(
                normalised, problems, base_dir=base_dir or Path.cwd(), train_fns=train_fn
            )
        # By DefinitionName: a one-definition job has (at most) one.
        return spec_from_request(normalised, base_dir=base_dir, train_fn=one_train_fn(train_fn))
    if is_multi_definition(normalised):
        return spec_from_definitions(
            normalised, problems, base_dir=base_dir or Path.cwd(), train_fns=None
        )
    single = one_definition(normalised, problems)
    if single is None:  # refused as a whole: the rest would only follow from it
        raise InvalidSpecError(problems.items)
    algorithm = _algorithm(single, train_fn)
    known = None if algorithm is None else set(algorithm.hyperparameters)
    check_auto_parameters(single, known, problems)
    tuning_ranges = {} if algorithm is None else algorithm.tuning_ranges
    single = resolve_autotune(single, tuning_ranges, known)
    checked = _check(single, base_dir or Path.cwd(), train_fn, problems)
    if problems:
        raise InvalidSpecError(problems.items)
    return _build(single, checked, base_dir or Path.cwd(), train_fn)


def _algorithm(request: Mapping[str, Any], train_fn: Callable[..., Any] | None) -> Any:
    """The request's built-in algorithm, for Autotune (None for user code or without Autotune)."""
    if not autotune_enabled(request):
        return None
    _, definition = _sections(request)
    # Its own problems are reported by the algorithm check, later.
    name = check_algorithm(definition, train_fn, Problems())
    return get_algorithm(name) if name is not None else None


def one_definition(request: dict[str, Any], problems: Problems) -> dict[str, Any] | None:
    """The request with one TrainingJobDefinition (None when it cannot be checked further).

    A one-entry TrainingJobDefinitions becomes the TrainingJobDefinition; its TuningObjective
    and HyperParameterRanges move to HyperParameterTuningJobConfig, and ``problems`` is told
    to name them where the request wrote them. Several definitions, or both forms, are one
    problem.
    """
    definitions = request.get(DEFINITIONS)
    if definitions is None:
        return request
    if not (isinstance(definitions, list) and definitions and isinstance(definitions[0], dict)):
        # Reported structurally; a TrainingJobDefinition beside it is still checked.
        return request if DEFINITION in request else None
    if DEFINITION in request:
        problems.add(DEFINITIONS, f"give {DEFINITION} or {DEFINITIONS}, not both")
        return None
    if len(definitions) > 1:
        # Several definitions are tuner.spec.definitions; here only when one is not an
        # object, which the structural check reported.
        if not problems:
            problems.add(DEFINITIONS, "every definition must be an object")
        return None
    definition = dict(definitions[0])
    raw_config = request.get(CONFIG)
    config = dict(raw_config) if isinstance(raw_config, dict) else {}
    where = f"{DEFINITIONS}[0]"
    problems.alias(DEFINITION, where)
    for member, top_level, path in _IN_DEFINITION:
        if member not in definition:
            if top_level not in config:  # missing from both: say where it belongs
                problems.alias(path, f"{where}.{member}")
            continue
        value = definition.pop(member)
        if top_level in config and config[top_level] != value:
            problems.add(path, f"differs from {where}.{member}; give it once, in the definition")
        config[top_level] = value
        problems.alias(path, f"{where}.{member}")
    single = {k: v for k, v in request.items() if k != DEFINITIONS}
    single[DEFINITION] = definition
    if isinstance(raw_config, dict):
        single[CONFIG] = config
    return single


def _sections(request: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    config = request.get(CONFIG)
    definition = request.get(DEFINITION)
    return (
        config if isinstance(config, dict) else {},
        definition if isinstance(definition, dict) else {},
    )


def _check(
    request: dict[str, Any],
    base_dir: Path,
    train_fn: Callable[..., Any] | None,
    problems: Problems,
) -> _Checked:
    """Every semantic rule, section by section; problems are collected, nothing raised."""
    check_top_level(request, problems)
    config, definition = _sections(request)
    static = dict(definition.get("StaticHyperParameters") or {})
    choice = check_strategy(config, problems)
    check_warm_start(request, choice.name, problems)
    hyperband = check_hyperband(config, static, problems) if choice.name == "Hyperband" else None
    autotune = autotune_enabled(request)
    ranges_request = config.get("ParameterRanges")
    ranges = check_ranges(ranges_request, problems, autotune=autotune)
    space = SearchSpace(ranges)
    check_range_count(ranges, problems, autotune=autotune)
    max_jobs = check_budget(config, choice, space, problems)
    objective = check_objective(config, problems)
    algorithm = check_algorithm(definition, train_fn, problems, base_dir)
    metrics = metric_names(definition, problems)
    check_static(static, ranges, problems)
    check_objective_metric(
        objective, algorithm, metrics, user_code=train_fn is not None, problems=problems
    )
    if algorithm is not None:
        check_algorithm_hyperparameters(
            get_algorithm(algorithm).hyperparameters,
            static,
            ranges,
            problems,
            range_items=range_items(ranges_request),
            auto=frozenset(auto_parameter_names(ranges_request)),
        )
    channels = check_channels(
        definition, builtin=algorithm is not None, base_dir=base_dir, problems=problems
    )
    if not problems.about(".ChannelName"):  # a channel's bad name says enough
        check_objective_channel(objective, algorithm, _channel_names(definition), problems)
    check_inputs(definition, algorithm, channels, problems)
    check_checkpoint_config(definition, problems)
    return _Checked(choice, hyperband, space, max_jobs, objective, algorithm, static, channels)


def _channel_names(definition: Mapping[str, Any]) -> list[Any] | None:
    """The ChannelNames of InputDataConfig as written (None without an InputDataConfig)."""
    config = definition.get("InputDataConfig")
    if not isinstance(config, list):
        return None
    return [c["ChannelName"] for c in config if isinstance(c, dict) and "ChannelName" in c]


def check_top_level(request: Mapping[str, Any], problems: Problems) -> None:
    """The job's name, what this engine does not run, and the definition's members."""
    name = request.get("HyperParameterTuningJobName")
    # A NUL is reported by the structural check.
    if (
        isinstance(name, str)
        and name
        and "\x00" not in name
        and not _NAME_CHARACTERS.fullmatch(name)
    ):
        problems.add(
            "HyperParameterTuningJobName",
            f"must be 1-32 letters, digits or hyphens, starting and ending with a letter or "
            f"digit (pattern [a-zA-Z0-9](-*[a-zA-Z0-9]){{0,31}}), got {name!r}",
        )
    if request.get(DEFINITION) is None and DEFINITIONS not in request:
        problems.add(DEFINITION, "is required (the training job to tune)")
    _, definition = _sections(request)
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
    both = "ResourceConfig" in definition and "HyperParameterTuningResourceConfig" in definition
    if both and definition["ResourceConfig"] != resource_config_of_tuning(
        definition["HyperParameterTuningResourceConfig"]
    ):
        problems.add(
            DEFINITION, "give ResourceConfig or HyperParameterTuningResourceConfig, not both"
        )
    try:
        resources_from_config(_resource_config(definition))
    except (ValueError, TypeError, AttributeError) as exc:
        problems.add(f"{DEFINITION}.ResourceConfig", str(exc))
    silence = (definition.get("StoppingCondition") or {}).get("MaxSecondsBetweenReports")
    if silence is not None and (isinstance(silence, bool) or not silence > 0):
        problems.add(
            f"{DEFINITION}.StoppingCondition.MaxSecondsBetweenReports",
            f"must be a positive number of seconds, got {silence!r}",
        )


def _resource_config(definition: Mapping[str, Any]) -> Mapping[str, Any]:
    """ResourceConfig, or the first (most preferred) of HyperParameterTuningResourceConfig."""
    resource_config = definition.get("ResourceConfig")
    if resource_config is not None:
        return dict(resource_config)
    tuning_resources = definition.get("HyperParameterTuningResourceConfig") or {}
    first = (tuning_resources.get("InstanceConfigs") or [tuning_resources])[0]
    return {"InstanceType": first["InstanceType"]} if first.get("InstanceType") else {}


def _build(
    request: dict[str, Any],
    checked: _Checked,
    base_dir: Path,
    train_fn: Callable[..., Any] | None,
) -> TuningJobSpec:
    """The spec of a request that passed every check."""
    config, definition = _sections(request)
    limits = config["ResourceLimits"]
    completion = config.get("TuningJobCompletionCriteria") or {}
    seed, max_runtime = config.get("RandomSeed"), limits.get("MaxRuntimeInSeconds")
    assert checked.objective is not None
    return TuningJobSpec(
        name=request["HyperParameterTuningJobName"],
        request=request,
        strategy=checked.choice.name,
        objective=checked.objective,
        space=checked.space,
        max_jobs=int(checked.max_jobs),
        max_parallel_jobs=int(limits["MaxParallelTrainingJobs"]),
        max_runtime_s=float(max_runtime) if max_runtime is not None else None,
        early_stopping=checked.choice.early_stopping == "Auto",
        random_seed=int(seed) if seed is not None else None,
        algorithm=checked.algorithm,
        script=None
        if checked.algorithm is not None or train_fn is not None
        else script_of(request, checked.objective.metric, base_dir),
        static_hyperparameters=checked.static,
        channels=checked.channels,
        output_path=output_path(definition, base_dir),
        trial_max_runtime_s=float(
            (definition.get("StoppingCondition") or {}).get(
                "MaxRuntimeInSeconds", DEFAULT_TRIAL_MAX_RUNTIME_S
            )
        ),
        max_retry_attempts=int(
            (definition.get("RetryStrategy") or {}).get("MaximumRetryAttempts", 0)
        ),
        environment=dict(definition.get("Environment") or {}),
        resources=resources_from_config(_resource_config(definition)),
        hyperband=checked.hyperband,
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
