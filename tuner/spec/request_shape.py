"""Structural checks of AMT requests and responses against botocore's SageMaker API model.

botocore ships the authoritative service model (the same one boto3 uses), so field names,
types, required members, length and value bounds and enums are read from it instead of being
copied by hand. The walker reports every problem with its field path, e.g.
``HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs: must be >= 1, got 0``.

Local runs relax a few rules so that a real AMT request runs unchanged and a local one stays
short: fields that only matter on AWS (``RoleArn``, ``OutputDataConfig``, ``StoppingCondition``,
``TrainingInputMode``, ``S3DataType``) are not required, and string patterns (S3 URIs, ARNs) are
not enforced because local paths stand in for S3. Hyperparameter values and range bounds may be
written as YAML/JSON numbers; they are turned into the strings AMT expects.

The patterns of the names a training job is given are enforced (:data:`PATTERNS`): a channel
names a folder, an environment key a variable, a hyperparameter name an ``SM_HP_<NAME>``
variable and a command-line option; AMT's ``.*`` means one line. No string may hold a NUL
character, which no file name, argument or environment variable can carry.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

import botocore.session
from botocore.model import ListShape, MapShape, Shape, StructureShape

from strategies.registry import STRATEGIES

#: Members not required locally, by "<StructureShapeName>.<Member>".
RELAXED_REQUIRED = frozenset(
    {
        "HyperParameterTrainingJobDefinition.RoleArn",
        "HyperParameterTrainingJobDefinition.OutputDataConfig",
        "HyperParameterTrainingJobDefinition.StoppingCondition",
        "HyperParameterAlgorithmSpecification.TrainingInputMode",
        "S3DataSource.S3DataType",
        "HyperParameterTuningJobConfig.Strategy",  # defaults to Bayesian (tuner.spec)
    }
)

#: Our extension fields, allowed beside AMT's members of a structure: shape -> field -> type.
#: ``ResourceConfig`` takes explicit CPUs/GPUs per training job (see :mod:`tuner.spec.resources`).
EXTENSION_MEMBERS: dict[str, dict[str, str]] = {
    # Hyperband's reduction factor and model-based (BOHB-like) sampling (strategies.hyperband).
    "HyperbandStrategyConfig": {"ReductionFactor": "number", "ModelBased": "boolean"},
    "ResourceConfig": {
        "NumCpus": "number",
        "NumGpus": "number",
        "AllowCpuFallback": "boolean",
        "MaxMemoryInMB": "number",
        "max_memory_mb": "number",
        "num_cpus": "number",
        "num_gpus": "number",
        "allow_cpu_fallback": "boolean",
        # Written by the engine, not the user: why training jobs ran on the CPU (placement).
        "CpuFallbackWarning": "string",
    },
    "HyperParameterTuningResourceConfig": {"CpuFallbackWarning": "string"},
    # A training job silent for longer is hung: stopped and Failed (tuner.coordinator).
    "StoppingCondition": {"MaxSecondsBetweenReports": "number"},
    # Conditional ranges: {"Name", "Values"} or a list of them, checked member by member in
    # tuner.spec.ranges (an unknown kind passes the structural check unchanged).
    "IntegerParameterRange": {"ActiveWhen": "condition"},
    "ContinuousParameterRange": {"ActiveWhen": "condition"},
    "CategoricalParameterRange": {"ActiveWhen": "condition"},
}

#: Enum values of ours accepted beside AMT's: shape name -> extra values.
EXTENSION_ENUM_VALUES: dict[str, tuple[str, ...]] = {
    # Strategies of ours beside AMT's (TPE: Optuna's sampler), from the one registry.
    "HyperParameterTuningJobStrategyType": tuple(
        name for name, entry in STRATEGIES.items() if not entry.amt
    ),
}

#: String shapes whose values may be given as numbers or booleans and are coerced to strings.
COERCED_STRING_SHAPES = frozenset({"ParameterValue", "HyperParameterValue"})

_ONE_LINE = "must be one line (AMT's pattern .*)"
_HYPERPARAMETER_NAME = (
    re.compile(r"[^=\r\n]*"),
    "must be one line without '=' (AMT's pattern .*; a training job gets each hyperparameter "
    "as the environment variable SM_HP_<NAME>)",
)
#: String shapes whose pattern is enforced: shape name -> (full-match pattern, what it says).
PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    "ChannelName": (
        re.compile(r"(?!\.\.?$)[A-Za-z0-9.\-_]+"),
        "must be letters, digits, '.', '-' or '_' (pattern [A-Za-z0-9\\.\\-_]+), and not "
        "'.' or '..' (it names the channel's folder)",
    ),
    "HyperParameterTrainingJobEnvironmentKey": (
        re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*"),
        "must be a letter or '_' followed by letters, digits or '_' (pattern "
        "[a-zA-Z_][a-zA-Z0-9_]*): it names an environment variable",
    ),
    "HyperParameterKey": _HYPERPARAMETER_NAME,
    "ParameterKey": _HYPERPARAMETER_NAME,
    "HyperParameterValue": (re.compile(r"[^\r\n]*"), _ONE_LINE),
    "ParameterValue": (re.compile(r"[^\r\n]*"), _ONE_LINE),
}


@functools.cache
def sagemaker_model() -> Any:
    """The SageMaker service model from the installed botocore (loaded once)."""
    return botocore.session.get_session().get_service_model("sagemaker")


def shape(name: str) -> Shape:
    """A named shape of the SageMaker API, e.g. ``CreateHyperParameterTuningJobRequest``."""
    return sagemaker_model().shape_for(name)


def _plain(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _coerce_string(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return value


class ShapeChecker:
    """Walks a value against a botocore shape, collecting problems and normalising strings.

    ``check(value, shape)`` returns the value with number-typed hyperparameter values turned into
    strings; problems accumulate in ``self.problems``.
    """

    def __init__(self, *, relaxed: bool = True, check_patterns: bool = False) -> None:
        self.relaxed = relaxed
        self.check_patterns = check_patterns
        self.problems: list[str] = []
        #: How many values are not of their shape's type (an object for a list, text for a
        #: number): what the semantic checks, which take the structure as given, cannot read.
        self.wrong_types = 0

    def _problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path or '<request>'}: {message}")

    def _wrong_type(self, path: str, message: str) -> None:
        self.wrong_types += 1
        self._problem(path, message)

    def check(self, value: Any, sh: Shape, path: str = "") -> Any:
        kind = sh.type_name
        if kind == "structure":
            return self._structure(value, sh, path)
        if kind == "list":
            return self._list(value, sh, path)
        if kind == "map":
            return self._map(value, sh, path)
        return self._scalar(value, sh, path)

    def _structure(self, value: Any, sh: StructureShape, path: str) -> Any:
        if not isinstance(value, Mapping):
            self._wrong_type(path, f"must be an object with fields {', '.join(sh.members)}")
            return value
        out: dict[str, Any] = {}
        for key, item in value.items():
            member = sh.members.get(key)
            sub = f"{path}.{key}" if path else str(key)
            extension = EXTENSION_MEMBERS.get(sh.name, {}).get(key) if self.relaxed else None
            if member is None and extension is not None:
                out[key] = self._extension(item, extension, sub)
                continue
            if member is None:
                allowed = ", ".join([*sh.members, *EXTENSION_MEMBERS.get(sh.name, {})])
                self._problem(sub, f"unknown field; allowed here: {allowed}")
                continue
            out[key] = self.check(item, member, sub)
        for key in sh.required_members:
            if key in value:
                continue
            if self.relaxed and f"{sh.name}.{key}" in RELAXED_REQUIRED:
                continue
            sub = f"{path}.{key}" if path else key
            self._problem(sub, "is required")
        return out

    def _extension(self, value: Any, kind: str, path: str) -> Any:
        if kind == "boolean" and not isinstance(value, bool):
            self._wrong_type(path, f"must be true or false, got {_plain(value)}")
        elif kind == "string" and not isinstance(value, str):
            self._wrong_type(path, f"must be a string, got {_plain(value)}")
        elif kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
            self._wrong_type(path, f"must be a number >= 0, got {_plain(value)}")
        elif kind == "number" and not value >= 0:
            self._problem(path, f"must be a number >= 0, got {_plain(value)}")
        return value

    def _list(self, value: Any, sh: ListShape, path: str) -> Any:
        if not isinstance(value, list):
            self._wrong_type(path, f"must be a list, got {_plain(value)}")
            return value
        self._bounds(len(value), sh, path, "items")
        return [self.check(item, sh.member, f"{path}[{i}]") for i, item in enumerate(value)]

    def _map(self, value: Any, sh: MapShape, path: str) -> Any:
        if not isinstance(value, Mapping):
            self._wrong_type(path, f"must be an object of name/value pairs, got {_plain(value)}")
            return value
        self._bounds(len(value), sh, path, "entries")
        out: dict[str, Any] = {}
        for key, item in value.items():
            sub = f"{path}[{key!r}]"
            self.check(key, sh.key, f"{sub} (name)")
            out[str(key)] = self.check(item, sh.value, sub)
        return out

    def _bounds(self, n: int, sh: Shape, path: str, unit: str) -> None:
        lo, hi = sh.metadata.get("min"), sh.metadata.get("max")
        if lo is not None and n < lo:
            self._problem(path, f"must have at least {lo} {unit}, got {n}")
        if hi is not None and n > hi:
            self._problem(path, f"must have at most {hi} {unit}, got {n}")

    def _scalar(self, value: Any, sh: Shape, path: str) -> Any:
        kind = sh.type_name
        if kind == "string":
            if sh.name in COERCED_STRING_SHAPES:
                value = _coerce_string(value)
            if not isinstance(value, str):
                self._wrong_type(path, f"must be a string, got {_plain(value)}")
                return value
            self._characters(value, sh, path)
            lo, hi = sh.metadata.get("min"), sh.metadata.get("max")
            if lo is not None and len(value) < lo:
                self._problem(path, f"must be at least {lo} characters, got {_plain(value)}")
            if hi is not None and len(value) > hi:
                self._problem(path, f"must be at most {hi} characters, got {len(value)}")
            enum = getattr(sh, "enum", None) or sh.metadata.get("enum")
            if enum and self.relaxed:
                enum = [*enum, *EXTENSION_ENUM_VALUES.get(sh.name, ())]
            if enum and value not in enum:
                self._problem(path, f"must be one of {', '.join(enum)}, got {_plain(value)}")
            return value
        if kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                self._wrong_type(path, f"must be an integer, got {_plain(value)}")
                return value
            self._value_bounds(value, sh, path)
            return value
        if kind in ("float", "double"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self._wrong_type(path, f"must be a number, got {_plain(value)}")
                return value
            self._value_bounds(value, sh, path)
            return float(value)
        if kind == "boolean":
            if not isinstance(value, bool):
                self._wrong_type(path, f"must be true or false, got {_plain(value)}")
            return value
        if kind == "timestamp":
            return value
        return value

    def _characters(self, value: str, sh: Shape, path: str) -> None:
        """No NUL anywhere; the pattern of a name a training job is given (:data:`PATTERNS`)."""
        if not self.relaxed:
            return
        if "\x00" in value:
            self._problem(path, f"must not contain a NUL character, got {_plain(value)}")
            return
        rule = PATTERNS.get(sh.name)
        if rule is not None and value and not rule[0].fullmatch(value):
            self._problem(path, f"{rule[1]}, got {_plain(value)}")

    def _value_bounds(self, value: float, sh: Shape, path: str) -> None:
        lo, hi = sh.metadata.get("min"), sh.metadata.get("max")
        if lo is not None and value < lo:
            rng = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
            self._problem(path, f"must be {rng}, got {value}")
        elif hi is not None and value > hi:
            rng = f"between {lo} and {hi}" if lo is not None else f"<= {hi}"
            self._problem(path, f"must be {rng}, got {value}")


class Structure(NamedTuple):
    """What the structural check of a request found."""

    normalised: Any  # the request, hyperparameter values as strings
    problems: list[str]
    wrong_types: int  # values not of their shape's type (see ShapeChecker.wrong_types)


def check_structure(
    request: Any, shape_name: str = "CreateHyperParameterTuningJobRequest"
) -> Structure:
    """Check ``request`` against the named shape."""
    checker = ShapeChecker()
    normalised = checker.check(request, shape(shape_name))
    return Structure(normalised, checker.problems, checker.wrong_types)


def check_request(
    request: Any, shape_name: str = "CreateHyperParameterTuningJobRequest"
) -> tuple[Any, list[str]]:
    """Check ``request`` against the named shape; returns (normalised request, problems)."""
    normalised, problems, _ = check_structure(request, shape_name)
    return normalised, problems


def check_response(response: Any, shape_name: str) -> list[str]:
    """Problems of a response we produce against botocore's output shape (strict: all required)."""
    checker = ShapeChecker(relaxed=False)
    checker.check(response, shape(shape_name))
    return checker.problems
