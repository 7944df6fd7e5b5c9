"""Validation of what is trained: the objective, the algorithm, its metrics and hyperparameters.

A built-in algorithm is named by ``AlgorithmName`` or a SageMaker ``TrainingImage`` URI; its
declared metrics fix the objective's direction and its declared hyperparameters are checked
against the static values and the tuned ranges. A Python callable (the Python API only) is
recorded as a ``python-callable://`` TrainingImage and is checked by its MetricDefinitions.

A framework image (PyTorch, TensorFlow, scikit-learn, Hugging Face, MXNet, or XGBoost with
``sagemaker_program``: :mod:`tuner.script.frameworks`) is script mode: its entry point and
source directory must exist locally, its MetricDefinitions' regexes must compile, and the
objective must be one of them (AMT's rule for any image without predefined metrics). Any other
image (the user's own container) is refused: there is nothing here to run it with.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from algorithms import (
    HyperparameterSpec,
    available_algorithms,
    get_algorithm,
    resolve_algorithm_name,
)
from algorithms.base import is_reserved
from strategies.space import CategoricalParameter, ContinuousParameter, Parameter
from tuner.objective import Objective, ObjectiveType
from tuner.script.frameworks import BUILT_IN_TOO, framework_family, repository_name
from tuner.script.metrics import regex_problem
from tuner.script.source import PROGRAM, SUBMIT_DIR, decode_value, source_problem
from tuner.spec.model import CALLABLE_IMAGE_PREFIX, MAX_HYPERPARAMETERS
from tuner.spec.problems import ALGORITHM, DEFINITION, OBJECTIVE, RANGES, STATIC, Problems


def check_objective(config: Mapping[str, Any], problems: Problems) -> Objective | None:
    """HyperParameterTuningJobObjective: Type and MetricName (None when it is not usable)."""
    request = config.get("HyperParameterTuningJobObjective")
    if request is None:
        problems.add(OBJECTIVE, "is required (Type and MetricName)")
        return None
    if isinstance(request, dict) and {"Type", "MetricName"} <= request.keys():
        with contextlib.suppress(ValueError):  # an invalid Type was reported structurally
            return Objective(str(request["MetricName"]), ObjectiveType(request["Type"]))
    return None


def check_algorithm(
    definition: Mapping[str, Any],
    train_fn: Callable[..., Any] | None,
    problems: Problems,
    base_dir: Path | None = None,
) -> str | None:
    """The built-in algorithm the definition names (None for a callable, a script or a problem).

    A relative ``sagemaker_submit_directory`` is taken against ``base_dir`` (the spec file's
    folder) when it exists there, else the working directory: the rule of the data channels.
    """
    algo_spec = definition.get("AlgorithmSpecification") or {}
    image, algo_name = algo_spec.get("TrainingImage"), algo_spec.get("AlgorithmName")
    if image and algo_name:
        problems.add(ALGORITHM, "give TrainingImage or AlgorithmName, not both")
    elif definition and not (image or algo_name):
        problems.add(ALGORITHM, "TrainingImage or AlgorithmName is required")
    label = "TrainingImage" if image else "AlgorithmName"
    reference = image or algo_name
    is_callable = isinstance(reference, str) and reference.startswith(CALLABLE_IMAGE_PREFIX)
    if train_fn is not None:
        if not is_callable:
            problems.add(ALGORITHM, "a Python callable needs a python-callable:// TrainingImage")
        return None
    if not (isinstance(reference, str) and reference):
        return None
    if is_callable:
        problems.add(
            f"{ALGORITHM}.{label}", "names a Python callable, which only the Python API can supply"
        )
        return None
    if _is_script(definition):
        family = framework_family(reference) or ""
        check_script(definition, reference, family, problems, base_dir)
        return None
    algorithm = resolve_algorithm_name(reference)
    if algorithm is None:
        problems.add(
            f"{ALGORITHM}.{label}",
            f"{reference!r} is not a built-in algorithm; available: "
            + ", ".join(available_algorithms()),
        )
    return algorithm


def check_script(
    definition: Mapping[str, Any],
    image: str,
    framework: str,
    problems: Problems,
    base_dir: Path | None = None,
) -> None:
    """A script-mode definition: its entry point, its source, its MetricDefinitions' regexes."""
    static = definition.get("StaticHyperParameters") or {}
    if PROGRAM not in static:
        problems.add(
            f"{STATIC}.{PROGRAM}",
            f"is required: {repository_name(image)!r} is a {framework} framework image, which "
            f"runs your entry point script (script mode); set {PROGRAM} to the script and "
            f"{SUBMIT_DIR} to the local folder or sourcedir.tar.gz holding it",
        )
        return
    try:
        key, message = source_problem(
            decode_value(static.get(SUBMIT_DIR)), decode_value(static[PROGRAM]), base_dir
        )
    except RuntimeError:  # Path.expanduser: "~user/..." of no such user
        key = SUBMIT_DIR
        message = f"{static.get(SUBMIT_DIR)!r} starts with '~' of a user this machine lacks"
    if key:
        problems.add(f"{STATIC}.{key}", message)
    algo_spec = definition.get("AlgorithmSpecification") or {}
    for i, metric in enumerate(algo_spec.get("MetricDefinitions") or []):
        if isinstance(metric, dict) and "Regex" in metric:
            why = regex_problem(metric["Regex"])
            if why is not None:
                problems.add(f"{ALGORITHM}.MetricDefinitions[{i}].Regex", why)


class MetricNames(list[Any]):
    """The names of a definition's MetricDefinitions, knowing whether they are its only metrics.

    ``script`` is True for a framework image in script mode: nothing but the MetricDefinitions
    can report a metric, so the objective must be one of them even when there are none.
    """

    script: bool = False


def _is_script(definition: Mapping[str, Any]) -> bool:
    image = (definition.get("AlgorithmSpecification") or {}).get("TrainingImage")
    static = definition.get("StaticHyperParameters")
    if not isinstance(image, str) or image.startswith(CALLABLE_IMAGE_PREFIX):
        return False
    family = framework_family(image)
    return family is not None and (
        family not in BUILT_IN_TOO or (isinstance(static, dict) and PROGRAM in static)
    )


def metric_names(definition: Mapping[str, Any], problems: Problems) -> MetricNames:
    """Names of the MetricDefinitions (which must be distinct)."""
    algo_spec = definition.get("AlgorithmSpecification") or {}
    names = MetricNames(
        m.get("Name") for m in algo_spec.get("MetricDefinitions") or [] if isinstance(m, dict)
    )
    names.script = _is_script(definition)
    if len(names) != len(set(names)):
        problems.add(f"{ALGORITHM}.MetricDefinitions", "metric names must be distinct")
    return names


def check_static(
    static: Mapping[str, Any], ranges: Mapping[str, Parameter], problems: Problems
) -> None:
    """A hyperparameter is static or tuned, not both; AMT's limit on how many there are."""
    both = sorted(set(static) & set(ranges))
    if both:
        problems.add(
            STATIC,
            f"{', '.join(both)} also tuned in ParameterRanges; "
            "a hyperparameter is static or tuned, not both",
        )
    total = len(static) + len(ranges) + 1  # AMT counts its _tuning_objective_metric too
    if total > MAX_HYPERPARAMETERS:
        problems.add(
            STATIC,
            f"static plus tuned hyperparameters must be at most {MAX_HYPERPARAMETERS - 1}, "
            f"got {total - 1}",
        )


def check_objective_metric(
    objective: Objective | None,
    algorithm: str | None,
    metrics: list[Any],
    *,
    user_code: bool,
    problems: Problems,
) -> None:
    """The objective is a metric of the algorithm, in its direction, or a defined metric."""
    if objective is None:
        return
    if algorithm is None:
        # No built-in metrics: the objective must be a MetricDefinition when there are some,
        # and always in script mode, where nothing else reports metrics.
        script = bool(getattr(metrics, "script", False))
        if not user_code and (metrics or script) and objective.metric not in metrics:
            problems.add(
                f"{OBJECTIVE}.MetricName",
                "A metric is required for this hyperparameter tuning job objective. "
                "Provide a metric in the metric definitions.",
            )
        return
    algo = get_algorithm(algorithm)
    direction = algo.metrics.get(objective.metric)
    if direction is None and objective.metric not in metrics:
        problems.add(
            f"{OBJECTIVE}.MetricName",
            f"{objective.metric!r} is not a metric of {algorithm}; allowed: "
            + (", ".join(sorted(algo.metrics)) or f"none: {algorithm} cannot be tuned"),
        )
    elif direction is not None and direction != objective.type.value:
        problems.add(
            f"{OBJECTIVE}.Type",
            f"{objective.metric} should be {direction}d, got {objective.type.value}",
        )


def check_objective_channel(
    objective: Objective | None,
    algorithm: str | None,
    channel_names: list[Any] | None,
    problems: Problems,
) -> None:
    """A built-in metric ``<channel>:<name>`` is computed on that channel, which must be given.

    Built-in algorithms name their metrics after the data set they are measured on
    (``train:``, ``validation:``, ``test:``), which is the channel of that name; so a
    ``test:msd`` objective without a ``test`` channel could never be reported. Only the
    channels' names count here: a channel whose data is missing, or no channel at all, is
    reported by itself.
    """
    if objective is None or algorithm is None or not channel_names:
        return
    if objective.metric not in get_algorithm(algorithm).metrics or ":" not in objective.metric:
        return  # not a built-in metric (reported elsewhere, or a MetricDefinition)
    channel = objective.metric.split(":", 1)[0]
    if channel not in channel_names:
        given = ", ".join(repr(name) for name in channel_names) or "none"
        problems.add(
            f"{OBJECTIVE}.MetricName",
            f"{objective.metric!r} is measured on the {channel!r} channel, which "
            f"InputDataConfig does not have (channels: {given}); add a {channel!r} channel "
            "or choose another objective",
        )


def check_algorithm_hyperparameters(
    specs: Mapping[str, HyperparameterSpec],
    static: Mapping[str, Any],
    ranges: Mapping[str, Parameter],
    problems: Problems,
    *,
    range_items: Mapping[str, Mapping[str, Any]] | None = None,
    auto: frozenset[str] = frozenset(),
) -> None:
    """Static values parse, tuned names exist with fitting types and bounds, required ones set.

    ``range_items`` are the ranges as the request wrote them (messages quote their bounds);
    ``auto`` names hyperparameters given in AutoParameters, which are not reported missing.
    """
    for name, value in static.items():
        if is_reserved(name) or not isinstance(value, str):
            continue  # AMT's or the SDK's own (_..., sagemaker_...); non-strings: reported already
        if name not in specs:
            problems.add(f"{STATIC}[{name!r}]", "not a hyperparameter of this algorithm")
            continue
        try:
            specs[name].parse(name, value)
        except ValueError as exc:
            problems.add(f"{STATIC}[{name!r}]", str(exc))
    for name, rng in ranges.items():
        spec = specs.get(name)
        where = f"{RANGES} ({name!r})"
        if spec is None:
            known = ", ".join(sorted(specs))
            problems.add(where, f"not a hyperparameter of this algorithm; known: {known}")
        else:
            _check_tuned(name, rng, spec, where, (range_items or {}).get(name, {}), problems)
    for name, spec in specs.items():
        if spec.required and name not in static and name not in ranges and name not in auto:
            problems.add(
                f"{DEFINITION}.StaticHyperParameters",
                f"hyperparameter {name!r} is required by this algorithm ({spec.allowed()}); "
                "set it as a static value or tune it",
            )


def _check_tuned(
    name: str,
    rng: Parameter,
    spec: HyperparameterSpec,
    where: str,
    item: Mapping[str, Any],
    problems: Problems,
) -> None:
    """A tuned range fits the hyperparameter's type and valid values (``item``: as written)."""
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
        return
    if spec.kind in ("str", "bool"):
        problems.add(where, f"takes {spec.allowed()}; tune it with a CategoricalParameterRange")
        return
    if spec.kind == "int" and isinstance(rng, ContinuousParameter):
        problems.add(where, "is an integer hyperparameter; use an IntegerParameterRange")
        return
    for label, bound in (("MinValue", rng.min_value), ("MaxValue", rng.max_value)):
        try:
            spec.parse(name, bound)
        except ValueError:
            written = item.get(label, bound)
            problems.add(where, f"{label} {written!r} outside the valid range: {spec.allowed()}")
