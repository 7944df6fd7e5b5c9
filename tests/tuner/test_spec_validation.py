"""Validation of AMT CreateHyperParameterTuningJob requests (tuner.spec.spec_from_request).

A valid base request (built-in xgboost, Random strategy, the AWS-only fields a real request
carries) must validate into the right TuningJobSpec; each small mutation of it must be refused
with an InvalidSpecError whose problems name the field path and say what is allowed.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from algorithms import HyperparameterSpec, get_algorithm
from strategies.space import CategoricalParameter, ContinuousParameter, IntegerParameter
from tuner.errors import InvalidSpecError
from tuner.objective import ObjectiveType
from tuner.spec import load_request_file, spec_from_request

CONFIG = "HyperParameterTuningJobConfig"
DEFINITION = "TrainingJobDefinition"
LIMITS = f"{CONFIG}.ResourceLimits"
RANGES = f"{CONFIG}.ParameterRanges"
OBJECTIVE = f"{CONFIG}.HyperParameterTuningJobObjective"
ALGO = f"{DEFINITION}.AlgorithmSpecification"
STATIC = f"{DEFINITION}.StaticHyperParameters"
CHANNELS = f"{DEFINITION}.InputDataConfig"

SAGEMAKER_XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"

TRAIN_CSV = (
    "1,0.5,0.2,3.0\n0,0.1,0.3,1.0\n1,0.7,0.9,2.5\n0,0.2,0.1,0.5\n1,0.9,0.4,2.0\n0,0.3,0.2,1.5\n"
)
VALIDATION_CSV = "1,0.6,0.3,2.8\n0,0.2,0.2,0.9\n1,0.8,0.7,2.1\n0,0.1,0.4,1.1\n"


# ------------------------------------------------------------------------------------------
# The valid base request
# ------------------------------------------------------------------------------------------
def _channel(name: str, uri: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "ContentType": "text/csv",
        "CompressionType": "None",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }


def make_request(data_dir: Path) -> dict[str, Any]:
    """A valid request as a SageMaker user would write it, with local data in ``data_dir``.

    The train channel is an absolute path, the validation channel a relative ``file://`` URI
    (resolved against ``base_dir``). AWS-only fields are present and must be accepted.
    """
    (data_dir / "train.csv").write_text(TRAIN_CSV)
    (data_dir / "data").mkdir(exist_ok=True)
    (data_dir / "data" / "validation.csv").write_text(VALIDATION_CSV)
    return {
        "HyperParameterTuningJobName": "xgb-random-01",
        CONFIG: {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {
                "Type": "Maximize",
                "MetricName": "validation:auc",
            },
            "ResourceLimits": {
                "MaxNumberOfTrainingJobs": 4,
                "MaxParallelTrainingJobs": 2,
                "MaxRuntimeInSeconds": 3600,
            },
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {
                        "Name": "eta",
                        "MinValue": "0.05",
                        "MaxValue": "0.5",
                        "ScalingType": "Logarithmic",
                    }
                ],
                "IntegerParameterRanges": [
                    {
                        "Name": "max_depth",
                        "MinValue": "2",
                        "MaxValue": "8",
                        "ScalingType": "Linear",
                    }
                ],
                "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart"]}],
            },
            "TrainingJobEarlyStoppingType": "Off",
            "RandomSeed": 7,
        },
        DEFINITION: {
            "AlgorithmSpecification": {"AlgorithmName": "xgboost", "TrainingInputMode": "File"},
            "StaticHyperParameters": {"num_round": "10", "objective": "binary:logistic"},
            "RoleArn": "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
            "InputDataConfig": [
                _channel("train", str(data_dir / "train.csv")),
                _channel("validation", "file://data/validation.csv"),
            ],
            "OutputDataConfig": {"S3OutputPath": "s3://my-bucket/xgb-output"},
            "ResourceConfig": {
                "InstanceType": "ml.m5.xlarge",
                "InstanceCount": 1,
                "VolumeSizeInGB": 10,
            },
            "VpcConfig": {
                "SecurityGroupIds": ["sg-0123456789abcdef0"],
                "Subnets": ["subnet-0123456789abcdef0"],
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 900},
            "RetryStrategy": {"MaximumRetryAttempts": 2},
            "EnableNetworkIsolation": True,
        },
        "Tags": [{"Key": "team", "Value": "ml"}, {"Key": "project", "Value": "amt-clone"}],
    }


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def base_request(data_dir: Path) -> dict[str, Any]:
    return make_request(data_dir)


def validate(request: Any, data_dir: Path):
    return spec_from_request(request, base_dir=data_dir)


def problems_of(request: Any, data_dir: Path) -> list[str]:
    with pytest.raises(InvalidSpecError, match="invalid tuning job spec") as info:
        validate(request, data_dir)
    problems = info.value.problems
    assert problems, "InvalidSpecError without problems"
    assert all(isinstance(p, str) and p for p in problems)
    return problems


# ------------------------------------------------------------------------------------------
# Mutation helpers: paths are tuples of keys / list indices into the request
# ------------------------------------------------------------------------------------------
DELETE = object()


def _set(request: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node: Any = request
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value


def cfg(*keys: Any) -> tuple[Any, ...]:
    return (CONFIG, *keys)


def dfn(*keys: Any) -> tuple[Any, ...]:
    return (DEFINITION, *keys)


def rng(kind: str, index: int = 0, *keys: Any) -> tuple[Any, ...]:
    return (CONFIG, "ParameterRanges", f"{kind}ParameterRanges", index, *keys)


def setting(*pairs: tuple[tuple[Any, ...], Any]) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets (or, with DELETE, removes) each path."""

    def mutate(request: dict[str, Any]) -> None:
        for path, value in pairs:
            _set(request, path, value)

    return mutate


def grid_of(request: dict[str, Any], *, max_jobs: Any = DELETE) -> None:
    """Turn the base request into a Grid over categorical ranges only (2 x 3 = 6 combinations)."""
    config = request[CONFIG]
    config["Strategy"] = "Grid"
    config["ParameterRanges"] = {
        "CategoricalParameterRanges": [
            {"Name": "booster", "Values": ["gbtree", "dart"]},
            {"Name": "max_depth", "Values": ["2", "4", "6"]},
        ]
    }
    if max_jobs is DELETE:
        config["ResourceLimits"].pop("MaxNumberOfTrainingJobs", None)
    else:
        config["ResourceLimits"]["MaxNumberOfTrainingJobs"] = max_jobs


def many_continuous(n: int) -> Callable[[dict[str, Any]], None]:
    """Replace the ranges with ``n`` continuous ranges named h0..h{n-1}."""

    def mutate(request: dict[str, Any]) -> None:
        request[CONFIG]["ParameterRanges"] = {
            "ContinuousParameterRanges": [
                {"Name": f"h{i}", "MinValue": "0.1", "MaxValue": "0.9"} for i in range(n)
            ]
        }

    return mutate


def _valid_range(name: str, spec: HyperparameterSpec) -> tuple[str, dict[str, Any]]:
    """A range of the right kind inside ``spec``'s valid values: (range list, range)."""
    if spec.choices is not None:
        return "Categorical", {"Name": name, "Values": list(spec.choices[:2])}
    if spec.kind == "bool":
        return "Categorical", {"Name": name, "Values": ["true", "false"]}
    if spec.kind == "str":
        return "Categorical", {"Name": name, "Values": ["a", "b"]}
    lo = 0.0 if spec.min_value is None else float(spec.min_value)
    hi = lo + 4.0 if spec.max_value is None else float(spec.max_value)
    if spec.kind == "int":
        low = int(lo) + (1 if spec.min_open else 0)
        return "Integer", {"Name": name, "MinValue": str(low), "MaxValue": str(low + 1)}
    a, b = lo + (hi - lo) / 4, lo + 3 * (hi - lo) / 4
    return "Continuous", {"Name": name, "MinValue": repr(a), "MaxValue": repr(b)}


def xgboost_ranges(n: int) -> dict[str, list[dict[str, Any]]]:
    """Valid ranges for ``n`` distinct xgboost hyperparameters, the kinds taken in turn so that
    no list exceeds AMT's 30 items; num_round and objective stay static."""
    by_kind: dict[str, list[dict[str, Any]]] = {"Continuous": [], "Integer": [], "Categorical": []}
    for name, spec in sorted(get_algorithm("xgboost").hyperparameters.items()):
        if name in ("num_round", "objective"):
            continue
        kind, item = _valid_range(name, spec)
        by_kind[kind].append(item)
    chosen: dict[str, list[dict[str, Any]]] = {k: [] for k in by_kind}
    queues = {k: list(v) for k, v in by_kind.items()}
    while sum(map(len, chosen.values())) < n:
        progressed = False
        for kind, queue in queues.items():
            if queue and sum(map(len, chosen.values())) < n:
                chosen[kind].append(queue.pop(0))
                progressed = True
        assert progressed, f"xgboost has fewer than {n} hyperparameters to tune"
    return {f"{kind}ParameterRanges": items for kind, items in chosen.items() if items}


def many_tuned_xgboost(n: int) -> Callable[[dict[str, Any]], None]:
    """Tune ``n`` real xgboost hyperparameters with valid ranges."""

    def mutate(request: dict[str, Any]) -> None:
        request[CONFIG]["ParameterRanges"] = xgboost_ranges(n)

    return mutate


def _hyperband(request: dict[str, Any]) -> None:
    request[CONFIG]["Strategy"] = "Hyperband"
    request[CONFIG]["TrainingJobEarlyStoppingType"] = "Auto"


def _duplicate_channel(request: dict[str, Any]) -> None:
    channels = request[DEFINITION]["InputDataConfig"]
    channels.append(copy.deepcopy(channels[0]))


def _not_an_object(request: dict[str, Any]) -> list[Any]:
    return [request]


def defs(index: int, *keys: Any) -> tuple[Any, ...]:
    return ("TrainingJobDefinitions", index, *keys)


def as_definitions(
    n: int, *, keep_single: bool = False, top_objective: dict[str, str] | None = None
) -> Callable[[dict[str, Any]], None]:
    """Move the definition, objective and ranges into ``n`` TrainingJobDefinitions entries
    (xgb-0, xgb-1, ...), the way the console records a job."""

    def mutate(request: dict[str, Any]) -> None:
        config = request[CONFIG]
        definition = dict(request[DEFINITION])
        definition["TuningObjective"] = config.pop("HyperParameterTuningJobObjective")
        definition["HyperParameterRanges"] = config.pop("ParameterRanges")
        request["TrainingJobDefinitions"] = [
            {"DefinitionName": f"xgb-{i}", **copy.deepcopy(definition)} for i in range(n)
        ]
        if not keep_single:
            del request[DEFINITION]
        if top_objective is not None:
            config["HyperParameterTuningJobObjective"] = top_objective

    return mutate


def _then(*mutations: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(request: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(request)

    return mutate


# Each case: (id, mutation, expected field path, key phrase of what is allowed / what is wrong).
# A mutation may return a replacement request (for "the request is not an object").
CASES: list[tuple[str, Callable[[dict[str, Any]], Any], str, str]] = [
    # -- name --------------------------------------------------------------------------------
    (
        "name-missing",
        setting((("HyperParameterTuningJobName",), DELETE)),
        "HyperParameterTuningJobName",
        "is required",
    ),
    (
        "name-33-chars",
        setting((("HyperParameterTuningJobName",), "a" * 33)),
        "HyperParameterTuningJobName",
        "at most 32 characters",
    ),
    (
        "name-empty",
        setting((("HyperParameterTuningJobName",), "")),
        "HyperParameterTuningJobName",
        "at least 1 characters",
    ),
    (
        "name-underscore",
        setting((("HyperParameterTuningJobName",), "xgb_random")),
        "HyperParameterTuningJobName",
        "letters, digits or hyphens",
    ),
    (
        "name-space",
        setting((("HyperParameterTuningJobName",), "xgb random")),
        "HyperParameterTuningJobName",
        "letters, digits or hyphens",
    ),
    (
        "name-trailing-hyphen",
        setting((("HyperParameterTuningJobName",), "xgb-")),
        "HyperParameterTuningJobName",
        "ending with a letter or digit",
    ),
    (
        "name-shell-command",
        setting((("HyperParameterTuningJobName",), "x;$(rm -rf ~)")),
        "HyperParameterTuningJobName",
        "letters, digits or hyphens",
    ),
    (
        "name-html",
        setting((("HyperParameterTuningJobName",), "<script>alert(1)</script>")),
        "HyperParameterTuningJobName",
        "letters, digits or hyphens",
    ),
    (
        "name-quotes",
        setting((("HyperParameterTuningJobName",), "xgb'\"x")),
        "HyperParameterTuningJobName",
        "letters, digits or hyphens",
    ),
    (
        "name-newline",
        setting((("HyperParameterTuningJobName",), "xgb\nrandom")),
        "HyperParameterTuningJobName",
        "letters, digits or hyphens",
    ),
    (
        "name-nul",
        setting((("HyperParameterTuningJobName",), "xgb\x00")),
        "HyperParameterTuningJobName",
        "must not contain a NUL character",
    ),
    # -- unknown fields ----------------------------------------------------------------------
    (
        "unknown-top-level-field",
        setting((("HyperparameterTuningJobName2",), "x")),
        "HyperparameterTuningJobName2",
        "unknown field; allowed here: HyperParameterTuningJobName",
    ),
    (
        "unknown-nested-field-typo",
        setting(
            (cfg("ResourceLimits", "MaxParallelTrainingJob"), 2),
            (cfg("ResourceLimits", "MaxParallelTrainingJobs"), DELETE),
        ),
        f"{LIMITS}.MaxParallelTrainingJob",
        "unknown field; allowed here: MaxNumberOfTrainingJobs, MaxParallelTrainingJobs",
    ),
    (
        "max-parallel-missing-after-typo",
        setting(
            (cfg("ResourceLimits", "MaxParallelTrainingJob"), 2),
            (cfg("ResourceLimits", "MaxParallelTrainingJobs"), DELETE),
        ),
        f"{LIMITS}.MaxParallelTrainingJobs",
        "is required",
    ),
    # -- strategy ----------------------------------------------------------------------------
    (
        "strategy-unknown",
        setting((cfg("Strategy"), "Foo")),
        f"{CONFIG}.Strategy",
        "must be one of Bayesian, Random, Hyperband, Grid",
    ),
    (
        "strategy-tpe-with-grid-config",
        setting(
            (cfg("Strategy"), "TPE"),
            (cfg("StrategyConfig"), {"HyperbandStrategyConfig": {"MaxResource": 9}}),
        ),
        f"{CONFIG}.StrategyConfig",
        "may be given only with Strategy Hyperband",
    ),
    (
        "hyperband-without-max-resource",
        setting((cfg("Strategy"), "Hyperband")),
        f"{CONFIG}.StrategyConfig.HyperbandStrategyConfig.MaxResource",
        "is required: give it, or a static hyperparameter epochs/numepochs/n-epochs/n_epochs/num_epochs",
    ),
    (
        "strategy-lowercase",
        setting((cfg("Strategy"), "bayesian")),
        f"{CONFIG}.Strategy",
        "must be one of Bayesian, Random, Hyperband, Grid, TPE",
    ),
    (
        "strategy-config-without-hyperband",
        setting(
            (
                cfg("StrategyConfig"),
                {"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 9}},
            )
        ),
        f"{CONFIG}.StrategyConfig",
        "only with Strategy Hyperband",
    ),
    (
        "hyperband-with-early-stopping-auto",
        _hyperband,
        f"{CONFIG}.TrainingJobEarlyStoppingType",
        "must be Off with Strategy Hyperband",
    ),
    (
        "early-stopping-yes",
        setting((cfg("TrainingJobEarlyStoppingType"), "Yes")),
        f"{CONFIG}.TrainingJobEarlyStoppingType",
        "must be one of Off, Auto",
    ),
    (
        "random-seed-negative",
        setting((cfg("RandomSeed"), -1)),
        f"{CONFIG}.RandomSeed",
        ">= 0",
    ),
    # -- resource limits ---------------------------------------------------------------------
    (
        "max-parallel-zero",
        setting((cfg("ResourceLimits", "MaxParallelTrainingJobs"), 0)),
        f"{LIMITS}.MaxParallelTrainingJobs",
        "must be >= 1, got 0",
    ),
    (
        "max-jobs-zero",
        setting((cfg("ResourceLimits", "MaxNumberOfTrainingJobs"), 0)),
        f"{LIMITS}.MaxNumberOfTrainingJobs",
        "must be >= 1, got 0",
    ),
    (
        "max-jobs-missing-for-random",
        setting((cfg("ResourceLimits", "MaxNumberOfTrainingJobs"), DELETE)),
        f"{LIMITS}.MaxNumberOfTrainingJobs",
        "is required with Strategy Random",
    ),
    (
        "max-runtime-below-120",
        setting((cfg("ResourceLimits", "MaxRuntimeInSeconds"), 60)),
        f"{LIMITS}.MaxRuntimeInSeconds",
        "between 120 and 15768000",
    ),
    (
        "max-parallel-as-string",
        setting((cfg("ResourceLimits", "MaxParallelTrainingJobs"), "2")),
        f"{LIMITS}.MaxParallelTrainingJobs",
        "must be an integer, got '2'",
    ),
    (
        "max-jobs-float",
        setting((cfg("ResourceLimits", "MaxNumberOfTrainingJobs"), 4.5)),
        f"{LIMITS}.MaxNumberOfTrainingJobs",
        "must be an integer",
    ),
    (
        "resource-limits-missing",
        setting((cfg("ResourceLimits"), DELETE)),
        f"{LIMITS}",
        "is required",
    ),
    # -- objective ---------------------------------------------------------------------------
    (
        "objective-type-max",
        setting((cfg("HyperParameterTuningJobObjective", "Type"), "Max")),
        f"{OBJECTIVE}.Type",
        "must be one of Maximize, Minimize",
    ),
    (
        "objective-metric-unknown",
        setting((cfg("HyperParameterTuningJobObjective", "MetricName"), "validation:accuracyy")),
        f"{OBJECTIVE}.MetricName",
        "is not a metric of xgboost; allowed:",
    ),
    (
        "objective-direction-wrong",
        setting((cfg("HyperParameterTuningJobObjective", "Type"), "Minimize")),
        f"{OBJECTIVE}.Type",
        "validation:auc should be Maximized",
    ),
    (
        "objective-direction-wrong-rmse",
        setting(
            (cfg("HyperParameterTuningJobObjective", "MetricName"), "validation:rmse"),
        ),
        f"{OBJECTIVE}.Type",
        "validation:rmse should be Minimized",
    ),
    (
        "objective-missing",
        setting((cfg("HyperParameterTuningJobObjective"), DELETE)),
        OBJECTIVE,
        "is required",
    ),
    (
        "objective-metric-name-missing",
        setting((cfg("HyperParameterTuningJobObjective", "MetricName"), DELETE)),
        f"{OBJECTIVE}.MetricName",
        "is required",
    ),
    # -- ranges ------------------------------------------------------------------------------
    (
        "continuous-min-not-a-number",
        setting((rng("Continuous", 0, "MinValue"), "abc")),
        f"{RANGES}.ContinuousParameterRanges[0] ('eta')",
        "MinValue must be a number, got 'abc'",
    ),
    (
        "continuous-max-infinite",
        setting((rng("Continuous", 0, "MaxValue"), "inf")),
        f"{RANGES}.ContinuousParameterRanges[0] ('eta')",
        "MaxValue must be a finite number",
    ),
    (
        "continuous-min-equals-max",
        setting((rng("Continuous", 0, "MinValue"), "0.5")),
        f"{RANGES}.ContinuousParameterRanges[0] ('eta')",
        "MinValue must be less than MaxValue, got MinValue '0.5' and MaxValue '0.5'",
    ),
    (
        "integer-min-greater-than-max",
        setting((rng("Integer", 0, "MinValue"), "9")),
        f"{RANGES}.IntegerParameterRanges[0] ('max_depth')",
        "MinValue must be less than MaxValue, got MinValue '9' and MaxValue '8'",
    ),
    (
        "integer-range-fraction",
        setting((rng("Integer", 0, "MaxValue"), "1.5"), (rng("Integer", 0, "MinValue"), "1")),
        f"{RANGES}.IntegerParameterRanges[0] ('max_depth')",
        "MaxValue must be an integer, got '1.5'",
    ),
    (
        "logarithmic-min-zero",
        setting((rng("Continuous", 0, "MinValue"), "0")),
        f"{RANGES}.ContinuousParameterRanges[0] ('eta')",
        "Logarithmic scaling needs MinValue > 0, got MinValue '0'",
    ),
    (
        "reverse-logarithmic-integer",
        setting((rng("Integer", 0, "ScalingType"), "ReverseLogarithmic")),
        f"{RANGES}.IntegerParameterRanges[0] ('max_depth')",
        "ReverseLogarithmic scaling is not supported for integer ranges",
    ),
    (
        "reverse-logarithmic-max-one",
        setting(
            (rng("Continuous", 0, "ScalingType"), "ReverseLogarithmic"),
            (rng("Continuous", 0, "MaxValue"), "1"),
        ),
        f"{RANGES}.ContinuousParameterRanges[0] ('eta')",
        "ReverseLogarithmic scaling needs 0 <= MinValue and MaxValue < 1, "
        "got MinValue '0.05' and MaxValue '1'",
    ),
    (
        "scaling-type-log",
        setting((rng("Continuous", 0, "ScalingType"), "Log")),
        f"{RANGES}.ContinuousParameterRanges[0].ScalingType",
        "must be one of Auto, Linear, Logarithmic, ReverseLogarithmic",
    ),
    (
        "categorical-values-empty",
        setting((rng("Categorical", 0, "Values"), [])),
        f"{RANGES}.CategoricalParameterRanges[0].Values",
        "at least 1 items",
    ),
    (
        "categorical-values-a-string",
        setting((rng("Categorical", 0, "Values"), "gbtree")),
        f"{RANGES}.CategoricalParameterRanges[0].Values",
        "must be a list",
    ),
    (
        "categorical-values-duplicate",
        setting((rng("Categorical", 0, "Values"), ["gbtree", "dart", "gbtree"])),
        f"{RANGES}.CategoricalParameterRanges[0] ('booster')",
        "Values must be distinct",
    ),
    (
        "categorical-31-values",
        setting((rng("Categorical", 0, "Values"), [f"v{i}" for i in range(31)])),
        f"{RANGES}.CategoricalParameterRanges[0].Values",
        "at most 30 items",
    ),
    (
        "same-hyperparameter-in-two-ranges",
        setting((rng("Categorical", 0), {"Name": "eta", "Values": ["0.1", "0.2"]})),
        f"{RANGES}.CategoricalParameterRanges[0] ('eta')",
        "appears in more than one range",
    ),
    (
        "more-than-30-tuned-total",
        many_tuned_xgboost(31),
        RANGES,
        "at most 30 hyperparameters can be tuned, got 31",
    ),
    (
        "31-continuous-ranges-structural",
        many_continuous(31),
        f"{RANGES}.ContinuousParameterRanges",
        "at most 30 items, got 31",
    ),
    (
        "no-ranges",
        setting((cfg("ParameterRanges"), DELETE)),
        RANGES,
        "at least one hyperparameter range is required",
    ),
    (
        "range-min-missing",
        setting((rng("Continuous", 0, "MinValue"), DELETE)),
        f"{RANGES}.ContinuousParameterRanges[0].MinValue",
        "is required",
    ),
    (
        "auto-parameters",
        setting(
            (cfg("ParameterRanges", "AutoParameters"), [{"Name": "alpha", "ValueHint": "0.1"}])
        ),
        f"{RANGES}.AutoParameters",
        'AutoParameters are only read with "Autotune": {"Mode": "Enabled"}',
    ),
    # -- ranges against the algorithm's hyperparameters ---------------------------------------
    (
        "tuned-unknown-to-xgboost",
        setting((rng("Continuous", 0, "Name"), "etaa")),
        f"{RANGES} ('etaa')",
        "not a hyperparameter of this algorithm",
    ),
    (
        "continuous-range-on-integer-hyperparameter",
        setting(
            (rng("Continuous", 0), {"Name": "max_depth", "MinValue": "2", "MaxValue": "8"}),
            (rng("Integer", 0), {"Name": "min_child_weight", "MinValue": "1", "MaxValue": "5"}),
        ),
        f"{RANGES} ('max_depth')",
        "integer hyperparameter; use an IntegerParameterRange",
    ),
    (
        "range-outside-valid-range",
        setting((rng("Continuous", 0, "MaxValue"), "2")),
        f"{RANGES} ('eta')",
        "MaxValue '2' outside the valid range: a number between 0 and 1",
    ),
    (
        "range-below-valid-range-open-bound",
        setting(
            (rng("Continuous", 0, "Name"), "colsample_bynode"),  # (0, 1], as AWS documents
            (rng("Continuous", 0, "MinValue"), "0"),
            (rng("Continuous", 0, "ScalingType"), "Linear"),
        ),
        f"{RANGES} ('colsample_bynode')",
        "MinValue '0' outside the valid range",
    ),
    (
        "numeric-range-on-string-hyperparameter",
        setting((rng("Continuous", 0, "Name"), "tree_method")),
        f"{RANGES} ('tree_method')",
        "tune it with a CategoricalParameterRange",
    ),
    (
        "categorical-value-invalid-for-hyperparameter",
        setting((rng("Categorical", 0, "Values"), ["gbtree", "gbforest"])),
        f"{RANGES} ('booster')",
        "categorical value 'gbforest' rejected",
    ),
    # -- static hyperparameters --------------------------------------------------------------
    (
        "static-invalid-value",
        setting((dfn("StaticHyperParameters", "num_round"), "zero")),
        f"{STATIC}['num_round']",
        "must be an integer >= 1",
    ),
    (
        "static-unknown-hyperparameter",
        setting((dfn("StaticHyperParameters", "num_rounds"), "10")),
        f"{STATIC}['num_rounds']",
        "not a hyperparameter of this algorithm",
    ),
    (
        "static-and-tuned",
        setting((dfn("StaticHyperParameters", "eta"), "0.1")),
        STATIC,
        "eta also tuned in ParameterRanges",
    ),
    (
        "required-num-round-missing",
        setting((dfn("StaticHyperParameters", "num_round"), DELETE)),
        STATIC,
        "'num_round' is required by this algorithm",
    ),
    (
        "static-objective-not-a-choice",
        setting((dfn("StaticHyperParameters", "objective"), "binary:logistics")),
        f"{STATIC}['objective']",
        "must be one of reg:squarederror",
    ),
    (
        "static-value-not-a-string-or-number",
        setting((dfn("StaticHyperParameters", "alpha"), [0.1])),
        f"{STATIC}['alpha']",
        "must be a string",
    ),
    # -- grid --------------------------------------------------------------------------------
    (
        "grid-with-continuous-range",
        setting((cfg("Strategy"), "Grid")),
        RANGES,
        "Strategy Grid takes only CategoricalParameterRanges",
    ),
    (
        "grid-max-jobs-not-combinations",
        lambda request: grid_of(request, max_jobs=5),
        f"{LIMITS}.MaxNumberOfTrainingJobs",
        "must equal the number of combinations, 6",
    ),
    # -- algorithm ---------------------------------------------------------------------------
    (
        "image-and-algorithm-name",
        setting((dfn("AlgorithmSpecification", "TrainingImage"), SAGEMAKER_XGBOOST_IMAGE)),
        ALGO,
        "TrainingImage or AlgorithmName, not both",
    ),
    (
        "neither-image-nor-algorithm-name",
        setting((dfn("AlgorithmSpecification", "AlgorithmName"), DELETE)),
        ALGO,
        "TrainingImage or AlgorithmName is required",
    ),
    (
        "unknown-algorithm-name",
        setting((dfn("AlgorithmSpecification", "AlgorithmName"), "catboost")),
        f"{ALGO}.AlgorithmName",
        "not a built-in algorithm; available: blazingtext, deepar, factorization-machines, image-",
    ),
    (
        "unknown-training-image",
        setting(
            (dfn("AlgorithmSpecification", "AlgorithmName"), DELETE),
            (
                dfn("AlgorithmSpecification", "TrainingImage"),
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-own:latest",
            ),
        ),
        f"{ALGO}.TrainingImage",
        "not a built-in algorithm",
    ),
    (
        "training-input-mode-invalid",
        setting((dfn("AlgorithmSpecification", "TrainingInputMode"), "Stream")),
        f"{ALGO}.TrainingInputMode",
        "must be one of Pipe, File, FastFile",
    ),
    (
        "training-job-definition-missing",
        setting(((DEFINITION,), DELETE)),
        DEFINITION,
        "is required",
    ),
    # -- data channels -----------------------------------------------------------------------
    (
        "s3-input-channel",
        setting(
            (
                dfn("InputDataConfig", 0, "DataSource", "S3DataSource", "S3Uri"),
                "s3://bucket/train/",
            )
        ),
        f"{CHANNELS}[0] ('train').DataSource.S3DataSource.S3Uri",
        "not reachable from a local run; use a local path or a file:// URI",
    ),
    (
        "missing-local-data-file",
        setting(
            (
                dfn("InputDataConfig", 1, "DataSource", "S3DataSource", "S3Uri"),
                "file://data/nope.csv",
            )
        ),
        f"{CHANNELS}[1] ('validation').DataSource.S3DataSource.S3Uri",
        "no such file or folder",
    ),
    (
        "duplicate-channel-names",
        _duplicate_channel,
        f"{CHANNELS}[2] ('train')",
        "channel 'train' is given twice",
    ),
    (
        "missing-train-channel",
        setting((dfn("InputDataConfig", 0, "ChannelName"), "training")),
        CHANNELS,
        "a 'train' channel is required",
    ),
    (
        "channel-name-shell-command",
        setting((dfn("InputDataConfig", 0, "ChannelName"), "train;$(id)")),
        f"{CHANNELS}[0].ChannelName",
        "must be letters, digits, '.', '-' or '_'",
    ),
    (
        "channel-name-html",
        setting((dfn("InputDataConfig", 0, "ChannelName"), "<script>")),
        f"{CHANNELS}[0].ChannelName",
        "must be letters, digits, '.', '-' or '_'",
    ),
    (
        "channel-name-parent-folder",
        setting((dfn("InputDataConfig", 0, "ChannelName"), "..")),
        f"{CHANNELS}[0].ChannelName",
        "not '.' or '..' (it names the channel's folder)",
    ),
    (
        "channel-name-path",
        setting((dfn("InputDataConfig", 0, "ChannelName"), "../../etc")),
        f"{CHANNELS}[0].ChannelName",
        "must be letters, digits, '.', '-' or '_'",
    ),
    (
        "no-input-data-config",
        setting((dfn("InputDataConfig"), DELETE)),
        CHANNELS,
        "is required for a built-in algorithm",
    ),
    (
        "empty-input-data-config",
        setting((dfn("InputDataConfig"), [])),
        CHANNELS,
        "at least 1 items",
    ),
    # -- names a training job is given (environment variables, arguments, folders) ------------
    (
        "static-name-newline",
        setting((dfn("StaticHyperParameters", "num_round\nx"), "1")),
        f"{STATIC}['num_round\\nx'] (name)",
        "must be one line without '='",
    ),
    (
        "static-name-equals",
        setting((dfn("StaticHyperParameters", "a=b"), "1")),
        f"{STATIC}['a=b'] (name)",
        "environment variable SM_HP_<NAME>",
    ),
    (
        "static-value-newline",
        setting((dfn("StaticHyperParameters", "objective"), "binary:logistic\nrm -rf /")),
        f"{STATIC}['objective']",
        "must be one line (AMT's pattern .*)",
    ),
    (
        "static-value-nul",
        setting((dfn("StaticHyperParameters", "objective"), "binary:logistic\x00")),
        f"{STATIC}['objective']",
        "must not contain a NUL character",
    ),
    (
        "range-name-newline",
        setting((rng("Continuous", 0, "Name"), "eta\n")),
        f"{RANGES}.ContinuousParameterRanges[0].Name",
        "must be one line without '='",
    ),
    (
        "categorical-value-newline",
        setting((rng("Categorical", 0, "Values"), ["gbtree", "dart\n"])),
        f"{RANGES}.CategoricalParameterRanges[0].Values[1]",
        "must be one line",
    ),
    (
        "environment-key-equals",
        setting((dfn("Environment"), {"A=B": "1"})),
        f"{DEFINITION}.Environment['A=B'] (name)",
        "it names an environment variable",
    ),
    (
        "environment-key-shell",
        setting((dfn("Environment"), {"$(id)": "1"})),
        f"{DEFINITION}.Environment['$(id)'] (name)",
        "pattern [a-zA-Z_][a-zA-Z0-9_]*",
    ),
    (
        "environment-value-nul",
        setting((dfn("Environment"), {"A": "x\x00"})),
        f"{DEFINITION}.Environment['A']",
        "must not contain a NUL character",
    ),
    # -- retry -------------------------------------------------------------------------------
    (
        "retry-zero",
        setting((dfn("RetryStrategy", "MaximumRetryAttempts"), 0)),
        f"{DEFINITION}.RetryStrategy.MaximumRetryAttempts",
        "between 1 and 30",
    ),
    (
        "retry-31",
        setting((dfn("RetryStrategy", "MaximumRetryAttempts"), 31)),
        f"{DEFINITION}.RetryStrategy.MaximumRetryAttempts",
        "between 1 and 30",
    ),
    (
        "stopping-condition-zero",
        setting((dfn("StoppingCondition", "MaxRuntimeInSeconds"), 0)),
        f"{DEFINITION}.StoppingCondition.MaxRuntimeInSeconds",
        ">= 1",
    ),
    # -- unsupported features and shape of the whole request ----------------------------------
    (
        "training-job-definitions-empty",
        setting((("TrainingJobDefinitions",), [])),
        "TrainingJobDefinitions",
        "must have at least 1 items",
    ),
    (
        "training-job-definitions-multi-algorithm-same-name",
        _then(
            as_definitions(2),
            lambda r: r["TrainingJobDefinitions"][1].update(DefinitionName="xgb-0"),
        ),
        "TrainingJobDefinitions[1].DefinitionName",
        "'xgb-0' is already the name of TrainingJobDefinitions[0]; names must be unique",
    ),
    (
        "training-job-definitions-and-definition",
        as_definitions(1, keep_single=True),
        "TrainingJobDefinitions",
        "give TrainingJobDefinition or TrainingJobDefinitions, not both",
    ),
    (
        "training-job-definitions-objective-given-twice",
        as_definitions(
            1,
            top_objective={"Type": "Minimize", "MetricName": "validation:logloss"},
        ),
        OBJECTIVE,
        "differs from TrainingJobDefinitions[0].TuningObjective; give it once",
    ),
    (
        "training-job-definitions-bad-static-named-where-written",
        _then(as_definitions(1), setting((defs(0, "StaticHyperParameters", "num_round"), "x"))),
        "TrainingJobDefinitions[0].StaticHyperParameters['num_round']",
        "must be an integer >= 1",
    ),
    (
        "training-job-definitions-bad-range-named-where-written",
        _then(
            as_definitions(1),
            setting(
                (
                    defs(0, "HyperParameterRanges", "ContinuousParameterRanges", 0, "MaxValue"),
                    "2",
                )
            ),
        ),
        "TrainingJobDefinitions[0].HyperParameterRanges ('eta')",
        "MaxValue '2' outside the valid range",
    ),
    (
        "training-job-definitions-objective-missing",
        _then(as_definitions(1), setting((defs(0, "TuningObjective"), DELETE))),
        "TrainingJobDefinitions[0].TuningObjective",
        "is required (Type and MetricName)",
    ),
    (
        "warm-start",
        setting(
            (
                ("WarmStartConfig",),
                {
                    "ParentHyperParameterTuningJobs": [
                        {"HyperParameterTuningJobName": "parent-job"},
                        {"HyperParameterTuningJobName": "parent-job"},
                    ],
                    "WarmStartType": "IdenticalDataAndAlgorithm",
                },
            )
        ),
        "WarmStartConfig.ParentHyperParameterTuningJobs[1]",
        "parent 'parent-job' is listed twice",
    ),
    (
        # AutoParameters without a recommended range are static at their hint: nothing tuned.
        "autotune-nothing-to-tune",
        setting(
            (("Autotune",), {"Mode": "Enabled"}),
            (
                cfg("ParameterRanges"),
                {"AutoParameters": [{"Name": "scale_pos_weight", "ValueHint": "2"}]},
            ),
        ),
        RANGES,
        "Autotune found no hyperparameter to tune",
    ),
    (
        # An AutoParameter the algorithm does not have is named like a static one.
        "autotune-unknown-auto-parameter",
        setting(
            (("Autotune",), {"Mode": "Enabled"}),
            (
                cfg("ParameterRanges"),
                {
                    "AutoParameters": [
                        {"Name": "eta", "ValueHint": "0.1"},
                        {"Name": "etaa", "ValueHint": "0.1"},
                    ]
                },
            ),
        ),
        f"{RANGES}.AutoParameters[1] ('etaa')",
        "not a hyperparameter of this algorithm",
    ),
    (
        "tags-too-many",
        setting((("Tags",), [{"Key": f"k{i}", "Value": "v"} for i in range(51)])),
        "Tags",
        "at most 50 items",
    ),
    (
        "definition-tuning-objective",
        setting((dfn("TuningObjective"), {"Type": "Maximize", "MetricName": "validation:auc"})),
        f"{DEFINITION}.TuningObjective",
        f"only for multi-algorithm TrainingJobDefinitions; use {OBJECTIVE}",
    ),
    (
        "definition-hyperparameter-ranges",
        setting(
            (
                dfn("HyperParameterRanges"),
                {
                    "ContinuousParameterRanges": [
                        {"Name": "alpha", "MinValue": "0", "MaxValue": "1"}
                    ]
                },
            )
        ),
        f"{DEFINITION}.HyperParameterRanges",
        "use HyperParameterTuningJobConfig.ParameterRanges",
    ),
    (
        "resource-config-and-tuning-resource-config",
        setting(
            (
                dfn("HyperParameterTuningResourceConfig"),
                {
                    "InstanceConfigs": [
                        {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10}
                    ]
                },
            )
        ),
        DEFINITION,
        "ResourceConfig or HyperParameterTuningResourceConfig, not both",
    ),
    (
        "completion-not-improving-below-3",
        setting(
            (
                cfg("TuningJobCompletionCriteria"),
                {"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 2}},
            )
        ),
        f"{CONFIG}.TuningJobCompletionCriteria.BestObjectiveNotImproving.MaxNumberOfTrainingJobsNotImproving",
        "must be >= 3, got 2",
    ),
    (
        "request-is-a-list",
        _not_an_object,
        "<request>",
        "must be an object with fields HyperParameterTuningJobName",
    ),
]


#: Cases whose one mistake is rightly more than one problem; every other case gives exactly one.
PROBLEM_COUNTS: dict[str, int | None] = {
    # the typo is an unknown field, and the real field is then missing
    "unknown-nested-field-typo": 2,
    "max-parallel-missing-after-typo": 2,
    # Hyperband is not available, and Auto early stopping would be wrong with it anyway
    "hyperband-with-early-stopping-auto": 2,
    # 31 values is too many, and they are not booster's values either (one message for all)
    "categorical-31-values": 2,
    # xgboost has no 31 float hyperparameters, so made-up names are also reported: not counted
    "31-continuous-ranges-structural": None,
    # a name or value no training job can be given, and not xgboost's either
    "static-name-newline": 2,
    "static-name-equals": 2,
    "static-value-newline": 2,
    "static-value-nul": 2,
    "range-name-newline": 2,
}


@pytest.mark.parametrize(
    ("mutate", "path", "phrase", "count"),
    [pytest.param(m, p, s, PROBLEM_COUNTS.get(i, 1), id=i) for i, m, p, s in CASES],
)
def test_malformed_request_is_refused(
    base_request: dict[str, Any], data_dir: Path, mutate, path: str, phrase: str, count: int | None
) -> None:
    request = copy.deepcopy(base_request)
    replaced = mutate(request)
    if replaced is not None:
        request = replaced
    problems = problems_of(request, data_dir)
    at_path = [p for p in problems if p.startswith(path)]
    assert at_path, f"no problem names {path!r}; got {problems}"
    assert any(phrase in p for p in at_path), (
        f"no problem at {path!r} says {phrase!r}; got {problems}"
    )
    if count is not None:
        assert len(problems) == count, f"expected {count} problem(s); got {problems}"


def test_table_has_enough_cases() -> None:
    assert len(CASES) >= 30
    assert len({case[0] for case in CASES}) == len(CASES)
    assert set(PROBLEM_COUNTS) <= {case[0] for case in CASES}


# ------------------------------------------------------------------------------------------
# The valid base request
# ------------------------------------------------------------------------------------------
def test_base_request_validates(base_request: dict[str, Any], data_dir: Path) -> None:
    spec = validate(base_request, data_dir)

    assert spec.name == "xgb-random-01"
    assert spec.strategy == "Random"
    assert spec.objective.metric == "validation:auc"
    assert spec.objective.type is ObjectiveType.MAXIMIZE
    assert spec.max_jobs == 4
    assert spec.max_parallel_jobs == 2
    assert spec.max_runtime_s == 3600.0
    assert spec.early_stopping is False
    assert spec.random_seed == 7
    assert spec.algorithm == "xgboost"

    ranges = spec.space.ranges
    assert set(ranges) == {"eta", "max_depth", "booster"}
    assert ranges["eta"] == ContinuousParameter(0.05, 0.5, "Logarithmic")
    assert ranges["max_depth"] == IntegerParameter(2, 8, "Linear")
    assert ranges["booster"] == CategoricalParameter(["gbtree", "dart"])
    assert ranges["eta"].scale.value == "Logarithmic"
    assert ranges["max_depth"].scale.value == "Linear"

    # Channels: an absolute path, and a relative file:// URI resolved against base_dir.
    assert spec.channels == {
        "train": (data_dir / "train.csv").resolve(),
        "validation": (data_dir / "data" / "validation.csv").resolve(),
    }
    assert all(p.is_absolute() and p.is_file() for p in spec.channels.values())

    assert dict(spec.static_hyperparameters) == {"num_round": "10", "objective": "binary:logistic"}
    assert spec.max_retry_attempts == 2
    assert spec.trial_max_runtime_s == 900.0
    # Training jobs get the statics, their tuned values and AMT's objective key.
    hps = spec.hyperparameters_for({"eta": "0.1", "max_depth": "3", "booster": "dart"})
    assert hps == {
        "num_round": "10",
        "objective": "binary:logistic",
        "eta": "0.1",
        "max_depth": "3",
        "booster": "dart",
        "_tuning_objective_metric": "validation:auc",
    }
    # The request is kept (normalised) for Describe, including the AWS-only fields.
    assert spec.request["TrainingJobDefinition"]["RoleArn"].startswith("arn:aws:iam::")
    assert spec.request["Tags"][0] == {"Key": "team", "Value": "ml"}


def test_validation_does_not_modify_the_request(
    base_request: dict[str, Any], data_dir: Path
) -> None:
    before = copy.deepcopy(base_request)
    validate(base_request, data_dir)
    assert base_request == before


def test_defaults_when_optional_fields_are_left_out(
    base_request: dict[str, Any], data_dir: Path
) -> None:
    request = copy.deepcopy(base_request)
    definition = request[DEFINITION]
    for key in (
        "RoleArn",
        "OutputDataConfig",
        "StoppingCondition",
        "RetryStrategy",
        "ResourceConfig",
        "VpcConfig",
        "EnableNetworkIsolation",
    ):
        del definition[key]
    del definition["AlgorithmSpecification"]["TrainingInputMode"]
    for channel in definition["InputDataConfig"]:
        del channel["DataSource"]["S3DataSource"]["S3DataType"]
    del request[CONFIG]["RandomSeed"]
    del request[CONFIG]["TrainingJobEarlyStoppingType"]
    del request[CONFIG]["ResourceLimits"]["MaxRuntimeInSeconds"]
    del request["Tags"]

    spec = validate(request, data_dir)
    assert spec.trial_max_runtime_s == 86_400.0  # AMT's default: one day per training job
    assert spec.max_retry_attempts == 0
    assert spec.random_seed is None
    assert spec.early_stopping is False
    assert spec.max_runtime_s is None


def test_relative_plain_path_resolves_against_base_dir(
    base_request: dict[str, Any], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheme-less relative S3Uri is taken against base_dir, not the working directory."""
    elsewhere = data_dir / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    request = copy.deepcopy(base_request)
    request[DEFINITION]["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = "train.csv"
    spec = validate(request, data_dir)
    assert spec.channels["train"] == (data_dir / "train.csv").resolve()


def test_absolute_file_uri_and_folder_channel(
    base_request: dict[str, Any], data_dir: Path
) -> None:
    request = copy.deepcopy(base_request)
    channels = request[DEFINITION]["InputDataConfig"]
    channels[0]["DataSource"]["S3DataSource"]["S3Uri"] = (data_dir / "train.csv").as_uri()
    channels[1]["DataSource"]["S3DataSource"]["S3Uri"] = str(data_dir / "data")  # a folder
    spec = validate(request, data_dir)
    assert spec.channels["train"] == (data_dir / "train.csv").resolve()
    assert spec.channels["validation"] == (data_dir / "data").resolve()


def test_early_stopping_auto_with_random(base_request: dict[str, Any], data_dir: Path) -> None:
    request = copy.deepcopy(base_request)
    request[CONFIG]["TrainingJobEarlyStoppingType"] = "Auto"
    assert validate(request, data_dir).early_stopping is True


def test_sagemaker_image_uri_is_accepted(base_request: dict[str, Any], data_dir: Path) -> None:
    request = copy.deepcopy(base_request)
    algo = request[DEFINITION]["AlgorithmSpecification"]
    del algo["AlgorithmName"]
    algo["TrainingImage"] = SAGEMAKER_XGBOOST_IMAGE
    spec = validate(request, data_dir)
    assert spec.algorithm == "xgboost"
    assert (
        spec.request[DEFINITION]["AlgorithmSpecification"]["TrainingImage"]
        == SAGEMAKER_XGBOOST_IMAGE
    )


def test_parametrised_xgboost_metric_is_accepted(
    base_request: dict[str, Any], data_dir: Path
) -> None:
    request = copy.deepcopy(base_request)
    request[CONFIG]["HyperParameterTuningJobObjective"] = {
        "Type": "Minimize",
        "MetricName": "validation:logloss",
    }
    assert validate(request, data_dir).objective.type is ObjectiveType.MINIMIZE


def test_thirty_tuned_hyperparameters_is_the_limit(data_dir: Path) -> None:
    """AMT tunes at most 30 hyperparameters in all: 30 pass, 31 give exactly one problem."""
    request = make_request(data_dir)
    many_tuned_xgboost(30)(request)
    spec = validate(request, data_dir)
    assert len(spec.space.ranges) == 30

    many_tuned_xgboost(31)(request)
    assert all(len(items) <= 30 for items in request[CONFIG]["ParameterRanges"].values())
    assert problems_of(request, data_dir) == [
        f"{RANGES}: at most 30 hyperparameters can be tuned, got 31"
    ]


def test_several_problems_are_all_reported(base_request: dict[str, Any], data_dir: Path) -> None:
    request = copy.deepcopy(base_request)
    request["HyperParameterTuningJobName"] = "bad_name"
    request[CONFIG]["ResourceLimits"]["MaxParallelTrainingJobs"] = 0
    request[CONFIG]["HyperParameterTuningJobObjective"]["Type"] = "Max"
    request[CONFIG]["ParameterRanges"]["ContinuousParameterRanges"][0]["MinValue"] = "abc"
    request[DEFINITION]["StaticHyperParameters"]["num_round"] = "zero"
    request[DEFINITION]["InputDataConfig"][1]["DataSource"]["S3DataSource"]["S3Uri"] = "s3://b/v/"
    request["Colour"] = "blue"

    problems = problems_of(request, data_dir)
    expected = [
        ("HyperParameterTuningJobName", "letters, digits or hyphens"),
        (f"{LIMITS}.MaxParallelTrainingJobs", "must be >= 1"),
        (f"{OBJECTIVE}.Type", "Maximize, Minimize"),
        (f"{RANGES}.ContinuousParameterRanges[0] ('eta')", "must be a number"),
        (f"{STATIC}['num_round']", "an integer >= 1"),
        (f"{CHANNELS}[1] ('validation')", "not reachable from a local run"),
        ("Colour", "unknown field"),
    ]
    for path, phrase in expected:
        hits = [p for p in problems if p.startswith(path) and phrase in p]
        assert len(hits) == 1, (
            f"expected one problem at {path!r} saying {phrase!r}; got {problems}"
        )
    assert len(problems) == len(expected), problems
    # The exception's text lists every problem, one per line.
    with pytest.raises(InvalidSpecError, match="invalid tuning job spec") as info:
        validate(request, data_dir)
    assert str(info.value).count("\n  - ") == len(problems)


# ------------------------------------------------------------------------------------------
# Grid
# ------------------------------------------------------------------------------------------
def test_grid_without_max_jobs_runs_every_combination(
    base_request: dict[str, Any], data_dir: Path
) -> None:
    request = copy.deepcopy(base_request)
    grid_of(request)
    spec = validate(request, data_dir)
    assert spec.strategy == "Grid"
    assert spec.max_jobs == 2 * 3
    assert spec.space.grid_size() == 6


def test_grid_with_matching_max_jobs(base_request: dict[str, Any], data_dir: Path) -> None:
    request = copy.deepcopy(base_request)
    grid_of(request, max_jobs=6)
    assert validate(request, data_dir).max_jobs == 6


# ------------------------------------------------------------------------------------------
# load_request_file
# ------------------------------------------------------------------------------------------
def test_load_json_file(base_request: dict[str, Any], data_dir: Path) -> None:
    path = data_dir / "job.json"
    path.write_text(json.dumps(base_request, indent=2))
    loaded = load_request_file(path)
    assert loaded == base_request
    assert validate(loaded, data_dir).max_jobs == 4


YAML_SPEC = """\
HyperParameterTuningJobName: xgb-yaml
HyperParameterTuningJobConfig:
  Strategy: Random
  HyperParameterTuningJobObjective:
    Type: Minimize
    MetricName: validation:logloss
  ResourceLimits:
    MaxNumberOfTrainingJobs: 3
    MaxParallelTrainingJobs: 1
  ParameterRanges:
    ContinuousParameterRanges:
      - Name: eta
        MinValue: 0.05
        MaxValue: 0.5
    IntegerParameterRanges:
      - Name: max_depth
        MinValue: 2
        MaxValue: 8
    CategoricalParameterRanges:
      - Name: min_child_weight
        Values: [1, 5.5, 10]
      - Name: single_precision_histogram
        Values: [true, false]
TrainingJobDefinition:
  AlgorithmSpecification:
    TrainingImage: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1
    TrainingInputMode: File
  StaticHyperParameters:
    num_round: 10
    subsample: 0.8
    objective: binary:logistic
  InputDataConfig:
    - ChannelName: train
      DataSource:
        S3DataSource:
          S3Uri: train.csv
    - ChannelName: validation
      DataSource:
        S3DataSource:
          S3Uri: file://data/validation.csv
"""


def test_load_yaml_file_with_numbers(data_dir: Path) -> None:
    make_request(data_dir)  # writes the data files
    path = data_dir / "job.yaml"
    path.write_text(YAML_SPEC)
    loaded = load_request_file(path)
    assert loaded["HyperParameterTuningJobName"] == "xgb-yaml"
    spec = spec_from_request(loaded, base_dir=path.parent)
    # Numbers written in YAML become the strings AMT expects.
    ranges_request = spec.request[CONFIG]["ParameterRanges"]
    assert ranges_request["ContinuousParameterRanges"][0]["MinValue"] == "0.05"
    assert ranges_request["IntegerParameterRanges"][0]["MaxValue"] == "8"
    assert ranges_request["CategoricalParameterRanges"][0]["Values"] == ["1", "5.5", "10"]
    assert spec.space.ranges["min_child_weight"] == CategoricalParameter(["1", "5.5", "10"])
    assert spec.space.ranges["single_precision_histogram"] == CategoricalParameter(
        ["true", "false"]
    )
    assert dict(spec.static_hyperparameters) == {
        "num_round": "10",
        "subsample": "0.8",
        "objective": "binary:logistic",
    }
    assert spec.space.ranges["eta"] == ContinuousParameter(0.05, 0.5)
    assert spec.space.ranges["max_depth"] == IntegerParameter(2, 8)
    assert spec.objective.type is ObjectiveType.MINIMIZE
    assert spec.channels["train"] == (data_dir / "train.csv").resolve()


def test_load_yml_suffix(data_dir: Path) -> None:
    path = data_dir / "job.yml"
    path.write_text(YAML_SPEC)
    assert load_request_file(path)["HyperParameterTuningJobName"] == "xgb-yaml"


def test_load_invalid_json_names_the_file(data_dir: Path) -> None:
    path = data_dir / "broken.json"
    path.write_text('{"HyperParameterTuningJobName": "x",\n  "HyperParameterTuningJobConfig": {\n')
    with pytest.raises(InvalidSpecError, match=re.escape(str(path))) as info:
        load_request_file(path)
    (problem,) = info.value.problems
    assert str(path) in problem
    assert "not valid JSON" in problem
    assert "line" in problem  # where in the file


def test_load_invalid_yaml_names_the_file(data_dir: Path) -> None:
    path = data_dir / "broken.yaml"
    path.write_text("HyperParameterTuningJobName: x\n  Strategy: [Random\n")
    with pytest.raises(InvalidSpecError, match=re.escape(str(path))) as info:
        load_request_file(path)
    (problem,) = info.value.problems
    assert str(path) in problem
    assert "not valid YAML" in problem


def test_load_yaml_list_instead_of_mapping(data_dir: Path) -> None:
    path = data_dir / "list.yaml"
    path.write_text("- HyperParameterTuningJobName: x\n- Strategy: Random\n")
    with pytest.raises(InvalidSpecError, match=re.escape(str(path))) as info:
        load_request_file(path)
    (problem,) = info.value.problems
    assert str(path) in problem
    assert "must be an object" in problem


def test_load_empty_yaml_file(data_dir: Path) -> None:
    path = data_dir / "empty.yaml"
    path.write_text("")
    with pytest.raises(InvalidSpecError, match=re.escape(str(path))) as info:
        load_request_file(path)
    assert str(path) in info.value.problems[0]


def test_load_missing_file(data_dir: Path) -> None:
    path = data_dir / "nope.json"
    with pytest.raises(InvalidSpecError, match=re.escape(str(path))) as info:
        load_request_file(path)
    (problem,) = info.value.problems
    assert str(path) in problem
    assert "cannot read" in problem
