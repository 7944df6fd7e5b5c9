"""The contract between the engine and a training algorithm.

Algorithms never import ``tuner`` or ``strategies``. The engine implements
:class:`TrainingContext`; an algorithm calls ``ctx.report`` after each epoch (or boosting round)
and checks ``ctx.should_stop()`` so early stopping takes effect at the next report. This push
model suits library callbacks (XGBoost's ``after_iteration``, a torch epoch loop) better than
Ray's pull model, which would force every algorithm into a resumable class.

Hyperparameters reach ``train`` as AMT sends them: a mapping of names to strings (static values
and tuned values alike). Each algorithm declares every hyperparameter it accepts with a
:class:`HyperparameterSpec`; :func:`parse_hyperparameters` turns the strings into typed values
and reports every problem at once, naming the hyperparameter and what is allowed.

Names that AMT or the SageMaker Python SDK add on their own are never refused: ``_``-prefixed
ones (AMT's ``_tuning_objective_metric``) and ``sagemaker_``-prefixed ones (the SDK's
``sagemaker_estimator_class_name`` and ``sagemaker_estimator_module``, which
``HyperparameterTuner.fit(include_cls_metadata=True)`` adds, and the framework estimators'
``sagemaker_program``, ``sagemaker_submit_directory`` ...). See :func:`is_reserved`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

Direction = Literal["Minimize", "Maximize"]

#: Hyperparameters the engine adds (AMT injects ``_tuning_objective_metric``); never validated.
RESERVED_PREFIX = "_"
#: Every prefix of names that are passed through unvalidated: the engine's (``_``) and the
#: SageMaker SDK's (``sagemaker_``, e.g. ``sagemaker_estimator_class_name``).
RESERVED_PREFIXES = (RESERVED_PREFIX, "sagemaker_")


def is_reserved(name: str) -> bool:
    """Whether ``name`` is AMT's or the SDK's (``_...``, ``sagemaker_...``), not an algorithm's.

    Such names are never refused as unknown: AMT adds ``_tuning_objective_metric`` to every
    trial, and the SageMaker Python SDK adds ``sagemaker_estimator_class_name`` and
    ``sagemaker_estimator_module`` to a tuning job's static hyperparameters.
    """
    return name.startswith(RESERVED_PREFIXES)


class StopTraining(BaseException):  # noqa: N818 - a control-flow signal, like SystemExit
    """Raised by ``ctx.report`` once the engine has asked the trial to stop.

    Algorithms that check ``ctx.should_stop()`` end cleanly before it is raised; plain user code
    that only reports is ended at its next report. It derives from BaseException so that a
    user's ``except Exception`` does not swallow it.
    """


class InputError(ValueError):
    """The user's input is wrong (data channels, hyperparameters): retrying cannot help.

    The engine records such a failure as a client error (NonRetryableError) and never retries
    it; any other exception from training counts as retryable.
    """


class HyperparameterError(InputError):
    """Hyperparameters missing, unknown or out of range; ``problems`` lists each of them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@runtime_checkable
class TrainingContext(Protocol):
    """What a running trial may do: report metrics, learn it should stop, find its device."""

    device: str  # "cpu" or "cuda:N"
    output_dir: Path  # where the model and any artifacts go

    def report(self, epoch: int, **metrics: float) -> None:
        """Send metrics for ``epoch`` (1-based), e.g. ``report(3, **{"validation:auc": 0.93})``.

        Raises :class:`StopTraining` if the trial was asked to stop since the last report.
        """

    def should_stop(self) -> bool:
        """True once the engine asked this trial to stop; end training at the next chance."""


@dataclass(frozen=True)
class HyperparameterSpec:
    """Type, default, valid range and required flag of one hyperparameter.

    ``kind`` is ``int``, ``float``, ``str`` or ``bool`` (bools accept true/false/1/0 in any case).
    Bounds are inclusive unless ``min_open``/``max_open``. ``choices`` restricts strings.
    """

    kind: Literal["int", "float", "str", "bool"]
    default: Any = None
    required: bool = False
    min_value: float | None = None
    max_value: float | None = None
    min_open: bool = False
    max_open: bool = False
    choices: tuple[str, ...] | None = None
    description: str = ""

    def allowed(self) -> str:
        """A short phrase saying what values are allowed, for error messages."""
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        if self.kind == "bool":
            return "true or false"
        noun = {"int": "an integer", "float": "a number", "str": "a string"}[self.kind]
        lo, hi = self.min_value, self.max_value
        if lo is not None and hi is not None and not (self.min_open or self.max_open):
            return f"{noun} between {lo:g} and {hi:g}"
        parts = [noun]
        if lo is not None:
            parts.append(f"{'>' if self.min_open else '>='} {lo:g}")
        if hi is not None:
            parts.append(
                f"{'and ' if lo is not None else ''}{'<' if self.max_open else '<='} {hi:g}"
            )
        return " ".join(parts)

    def parse(self, name: str, raw: object) -> Any:
        """The typed value of ``raw``; a ``ValueError`` names ``name`` and what is allowed."""
        text = str(raw).strip()
        bad = ValueError(f"hyperparameter {name!r}: got {raw!r}, must be {self.allowed()}")
        try:
            if self.kind == "bool":
                low = text.lower()
                if low not in ("true", "false", "1", "0"):
                    raise bad
                return low in ("true", "1")
            if self.kind == "int":
                number = float(text)
                if not number.is_integer():
                    raise bad
                value: Any = int(number)
            elif self.kind == "float":
                value = float(text)
                if not math.isfinite(value):
                    raise bad
            else:
                value = text
        except (TypeError, ValueError, OverflowError):
            raise bad from None
        if self.choices is not None and value not in self.choices:
            raise bad
        if self.kind in ("int", "float"):
            lo, hi = self.min_value, self.max_value
            if lo is not None and (value < lo or (self.min_open and value == lo)):
                raise bad
            if hi is not None and (value > hi or (self.max_open and value == hi)):
                raise bad
        return value


def parse_hyperparameters(
    specs: Mapping[str, HyperparameterSpec], raw: Mapping[str, object]
) -> dict[str, Any]:
    """Typed values for every declared hyperparameter: given ones parsed, the rest defaulted.

    Names starting with ``_`` or ``sagemaker_`` are AMT's or the SDK's (:func:`is_reserved`) and
    are passed through untouched. Raises
    :class:`HyperparameterError` listing every unknown, missing or invalid hyperparameter.
    """
    problems: list[str] = []
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if is_reserved(name):
            out[name] = value
        elif name not in specs:
            problems.append(f"hyperparameter {name!r} is not known to this algorithm")
        else:
            try:
                out[name] = specs[name].parse(name, value)
            except ValueError as exc:
                problems.append(str(exc))
    for name, spec in specs.items():
        if name in out or name in raw:
            continue
        if spec.required:
            problems.append(f"hyperparameter {name!r} is required ({spec.allowed()})")
        else:
            out[name] = spec.default
    if problems:
        raise HyperparameterError(problems)
    return out


@dataclass(frozen=True)
class TuningRange:
    """A recommended range to tune one hyperparameter over (AMT's ``<algorithm>-tuning`` page).

    Autotune tunes an AutoParameter over its algorithm's recommended range, so each algorithm
    keeps its ranges beside its hyperparameter table (``tuning_ranges``), in AMT's request
    form: ``kind`` is the range group's stem (``Continuous``, ``Integer`` or ``Categorical``).
    """

    kind: Literal["Continuous", "Integer", "Categorical"]
    min_value: float | None = None
    max_value: float | None = None
    values: tuple[str, ...] = ()
    scaling: Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"] = "Auto"

    def request_item(self, name: str) -> tuple[str, dict[str, Any]]:
        """``(range group, range)`` as a CreateHyperParameterTuningJob request writes it."""
        group = f"{self.kind}ParameterRanges"
        if self.kind == "Categorical":
            return group, {"Name": name, "Values": list(self.values)}
        low, high = self.min_value, self.max_value
        text = (lambda v: str(int(v))) if self.kind == "Integer" else (lambda v: f"{v:g}")
        return group, {
            "Name": name,
            "MinValue": text(low),
            "MaxValue": text(high),
            "ScalingType": self.scaling,
        }


def continuous(low: float, high: float, scaling: str = "Auto") -> TuningRange:
    """A recommended continuous range (shorthand for the algorithms' tables)."""
    return TuningRange("Continuous", low, high, scaling=scaling)  # type: ignore[arg-type]


def integer(low: int, high: int, scaling: str = "Auto") -> TuningRange:
    """A recommended integer range."""
    return TuningRange("Integer", low, high, scaling=scaling)  # type: ignore[arg-type]


def categorical(*values: str) -> TuningRange:
    """A recommended categorical range."""
    return TuningRange("Categorical", values=tuple(values))


@runtime_checkable
class Algorithm(Protocol):
    """A trainable algorithm: its name, hyperparameters, metrics, and how to train it.

    ``metrics`` maps every metric name the algorithm can emit (AMT's spelling, such as
    ``validation:auc``) to its direction; the engine checks the tuning objective against it.
    ``train`` reads only ``channels`` (``train``, ``validation``, ``test`` ...), writes only under
    ``ctx.output_dir``, reports after every epoch and raises on bad input.
    """

    name: str
    hyperparameters: Mapping[str, HyperparameterSpec]
    metrics: Mapping[str, Direction]
    #: AMT's recommended ranges (its ``<algorithm>-tuning`` page), what Autotune tunes over;
    #: empty where AMT documents none.
    tuning_ranges: Mapping[str, TuningRange]

    def train(
        self,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
    ) -> None: ...


def parse_name_list(
    name: str, raw: str, allowed: Sequence[str], example: str, problems: list[str]
) -> list[str]:
    """The names in a list-valued hyperparameter such as ``eval_metrics``, without repeats.

    The SageMaker SDK sends lists as JSON (``'["msd", "ssd"]'``); people also write
    ``[msd, ssd]`` or ``msd,ssd`` by hand, and the containers take those too. An empty list or
    an unknown name appends one problem naming the hyperparameter and every allowed name.
    """
    text = str(raw).strip()
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        parsed = [part.strip().strip("'\"") for part in text.strip("[]").split(",")]
    if isinstance(parsed, str):
        parsed = [parsed]
    names = (
        [str(item).strip() for item in parsed if str(item).strip()]
        if isinstance(parsed, list)
        else []
    )
    if not names or [item for item in names if item not in allowed]:
        problems.append(
            f"hyperparameter {name!r}: got {text!r}, must be a list of "
            + " and ".join(f'"{item}"' for item in allowed)
            + f", such as {example}"
        )
        return []
    return list(dict.fromkeys(names))
