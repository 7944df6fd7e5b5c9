"""Autotune: AutoParameters and omitted settings resolved as tuner.spec.autotune documents."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cli_job import run_and_describe

from algorithms import get_algorithm
from tuner.errors import InvalidSpecError
from tuner.spec import spec_from_request
from tuner.spec.autotune import (
    JOBS_PER_TUNED,
    MAX_AUTOTUNE_JOBS,
    MIN_AUTOTUNE_JOBS,
    resolve_autotune,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = "HyperParameterTuningJobConfig"
XGBOOST = get_algorithm("xgboost").tuning_ranges


def _request(**config: Any) -> dict[str, Any]:
    request = json.loads((ROOT / "examples" / "xgboost-breast-cancer.json").read_text())
    request["Autotune"] = {"Mode": "Enabled"}
    request[CONFIG]["ParameterRanges"] = {}
    request[CONFIG].update(config)
    return request


def _ranges(request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for kind, items in request[CONFIG]["ParameterRanges"].items():
        if kind != "AutoParameters":
            out.update({item["Name"]: {"kind": kind, **item} for item in items})
    return out


def test_an_eligible_auto_parameter_gets_the_recommended_range() -> None:
    request = _request()
    request[CONFIG]["ParameterRanges"] = {"AutoParameters": [{"Name": "eta", "ValueHint": "0.2"}]}
    ranges = _ranges(resolve_autotune(request, XGBOOST))
    assert ranges == {
        "eta": {
            "kind": "ContinuousParameterRanges",
            "Name": "eta",
            "MinValue": "0.1",
            "MaxValue": "0.5",
            "ScalingType": "Auto",
        }
    }


def test_a_hint_outside_the_recommended_range_widens_it() -> None:
    request = _request()
    autos = [{"Name": "eta", "ValueHint": "0.01"}, {"Name": "max_depth", "ValueHint": "12"}]
    request[CONFIG]["ParameterRanges"] = {"AutoParameters": autos}
    ranges = _ranges(resolve_autotune(request, XGBOOST))
    assert (ranges["eta"]["MinValue"], ranges["eta"]["MaxValue"]) == ("0.01", "0.5")
    assert (ranges["max_depth"]["MinValue"], ranges["max_depth"]["MaxValue"]) == ("1", "12")


def test_a_parameter_without_a_recommended_range_is_static_at_its_hint() -> None:
    """As the SDK's autotune=True sends every estimator hyperparameter (KMeans' k, feature_dim)."""
    request = _request()
    autos = [{"Name": "eta", "ValueHint": "0.3"}, {"Name": "scale_pos_weight", "ValueHint": "2"}]
    request[CONFIG]["ParameterRanges"] = {"AutoParameters": autos}
    resolved = resolve_autotune(request, XGBOOST)
    assert set(_ranges(resolved)) == {"eta"}
    assert resolved["TrainingJobDefinition"]["StaticHyperParameters"]["scale_pos_weight"] == "2"


def test_explicit_ranges_and_static_values_win() -> None:
    request = _request()
    request[CONFIG]["ParameterRanges"] = {
        "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.2", "MaxValue": "0.3"}],
        "AutoParameters": [
            {"Name": "eta", "ValueHint": "0.1"},
            {"Name": "num_round", "ValueHint": "10"},
        ],
    }
    resolved = resolve_autotune(request, XGBOOST)
    assert _ranges(resolved)["eta"]["MinValue"] == "0.2"
    assert "num_round" not in _ranges(resolved)  # static in the request: "60"
    assert resolved["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"] == "60"


def test_no_ranges_at_all_tunes_every_recommended_range_not_static() -> None:
    resolved = resolve_autotune(_request(), XGBOOST)
    assert set(_ranges(resolved)) == set(XGBOOST) - {"num_round"}


def test_a_missing_budget_is_ten_jobs_per_tuned_hyperparameter() -> None:
    request = _request()
    del request[CONFIG]["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    request[CONFIG]["ParameterRanges"] = {"AutoParameters": [{"Name": "eta", "ValueHint": "0.3"}]}
    limits = resolve_autotune(request, XGBOOST)[CONFIG]["ResourceLimits"]
    assert limits["MaxNumberOfTrainingJobs"] == 10
    request[CONFIG]["ParameterRanges"] = {}
    limits = resolve_autotune(request, XGBOOST)[CONFIG]["ResourceLimits"]
    assert limits["MaxNumberOfTrainingJobs"] == min(MAX_AUTOTUNE_JOBS, 10 * (len(XGBOOST) - 1))


def test_resolution_is_idempotent_and_leaves_other_requests_alone() -> None:
    request = _request()
    request[CONFIG]["ParameterRanges"] = {
        "AutoParameters": [
            {"Name": "eta", "ValueHint": "0.3"},
            {"Name": "scale_pos_weight", "ValueHint": "2"},
        ]
    }
    once = resolve_autotune(request, XGBOOST)
    assert resolve_autotune(once, XGBOOST) == once
    assert request[CONFIG]["ParameterRanges"]["AutoParameters"]  # the input is not changed
    plain = _request()
    del plain["Autotune"]
    assert resolve_autotune(copy.deepcopy(plain), XGBOOST) == plain


def test_validation_accepts_autotune_and_a_bad_hint_is_named(
    datasets: dict, tmp_path: Path
) -> None:
    shutil.copytree(datasets["breast_cancer"], tmp_path / "data" / "breast_cancer")
    request = _request()
    request[CONFIG]["ParameterRanges"] = {
        "AutoParameters": [
            {"Name": "eta", "ValueHint": "0.3"},
            {"Name": "gamma", "ValueHint": "1"},
        ]
    }
    spec = spec_from_request(request, base_dir=tmp_path)
    assert set(spec.space.ranges) == {"eta", "gamma"}
    request[CONFIG]["ParameterRanges"]["AutoParameters"].append(
        {"Name": "max_bin", "ValueHint": "not-a-number"}
    )
    with pytest.raises(InvalidSpecError, match="max_bin"):
        spec_from_request(request, base_dir=tmp_path)


def test_an_autotune_job_runs_and_describe_shows_what_was_chosen(
    datasets: dict, tmp_path: Path
) -> None:
    shutil.copytree(datasets["breast_cancer"], tmp_path / "data" / "breast_cancer")
    request = _request()
    request[CONFIG]["ResourceLimits"] = {
        "MaxNumberOfTrainingJobs": 4,
        "MaxParallelTrainingJobs": 2,
    }
    request[CONFIG]["ParameterRanges"] = {
        "AutoParameters": [
            {"Name": "eta", "ValueHint": "0.3"},
            {"Name": "max_depth", "ValueHint": "4"},
            {"Name": "scale_pos_weight", "ValueHint": "1.5"},
        ]
    }
    described = run_and_describe(request, tmp_path)
    assert described["Autotune"] == {"Mode": "Enabled"}
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    counters = described["TrainingJobStatusCounters"]
    # Autotune may turn early stopping on: on a busy machine a slow trial can be stopped.
    assert counters["Completed"] + counters["Stopped"] == 4 and counters["Completed"] >= 2
    config = described[CONFIG]
    assert {r["Name"] for r in config["ParameterRanges"]["ContinuousParameterRanges"]} == {"eta"}
    assert {r["Name"] for r in config["ParameterRanges"]["IntegerParameterRanges"]} == {
        "max_depth"
    }
    static = described["TrainingJobDefinition"]["StaticHyperParameters"]
    assert static["scale_pos_weight"] == "1.5"
    best = described["BestTrainingJob"]["TunedHyperParameters"]
    assert 0.1 <= float(best["eta"]) <= 0.5 and 1 <= int(best["max_depth"]) <= 10


def _multi(request: dict[str, Any]) -> dict[str, Any]:
    """The xgboost request as two TrainingJobDefinitions: one with an AutoParameter, one
    with no ranges at all (Autotune picks every recommended one)."""
    request = copy.deepcopy(request)
    definition = request.pop("TrainingJobDefinition")
    objective = request[CONFIG].pop("HyperParameterTuningJobObjective")
    request[CONFIG].pop("ParameterRanges")
    hinted, bare = copy.deepcopy(definition), copy.deepcopy(definition)
    hinted.update(
        DefinitionName="hinted",
        TuningObjective=objective,
        HyperParameterRanges={"AutoParameters": [{"Name": "eta", "ValueHint": "0.3"}]},
    )
    bare.update(DefinitionName="bare", TuningObjective=objective, HyperParameterRanges={})
    request["TrainingJobDefinitions"] = [hinted, bare]
    return request


def test_autotune_chooses_each_definitions_ranges_of_a_multi_algorithm_job(
    datasets: dict, tmp_path: Path
) -> None:
    shutil.copytree(datasets["breast_cancer"], tmp_path / "data" / "breast_cancer")
    request = _multi(_request())
    request[CONFIG]["ResourceLimits"].pop("MaxNumberOfTrainingJobs")
    spec = spec_from_request(request, base_dir=tmp_path)
    hinted, bare = spec.definition("hinted"), spec.definition("bare")
    assert set(hinted.space.ranges) == {"eta"}
    static = set(request["TrainingJobDefinitions"][1]["StaticHyperParameters"])
    assert set(bare.space.ranges) == set(XGBOOST) - static and len(bare.space.ranges) > 1
    alone = [  # what each definition would get as a job of its own
        min(MAX_AUTOTUNE_JOBS, max(MIN_AUTOTUNE_JOBS, JOBS_PER_TUNED * len(d.space.ranges)))
        for d in (hinted, bare)
    ]
    assert spec.max_jobs == min(MAX_AUTOTUNE_JOBS, sum(alone))
    stored = spec.request["TrainingJobDefinitions"]  # what Describe echoes: the choices made
    assert {r["Name"] for r in stored[0]["HyperParameterRanges"]["ContinuousParameterRanges"]} == {
        "eta"
    }
    assert spec.request["Autotune"] == {"Mode": "Enabled"}


def test_an_unknown_auto_parameter_of_a_definition_is_named_there(
    datasets: dict, tmp_path: Path
) -> None:
    shutil.copytree(datasets["breast_cancer"], tmp_path / "data" / "breast_cancer")
    request = _multi(_request())
    autos = request["TrainingJobDefinitions"][0]["HyperParameterRanges"]["AutoParameters"]
    autos.append({"Name": "not_a_knob", "ValueHint": "1"})
    with pytest.raises(InvalidSpecError) as info:
        spec_from_request(request, base_dir=tmp_path)
    assert any(
        "TrainingJobDefinitions[0].HyperParameterRanges.AutoParameters[1]" in p
        and "not_a_knob" in p
        for p in info.value.problems
    ), info.value.problems


def test_a_multi_algorithm_autotune_job_runs_and_describe_shows_each_choice(
    datasets: dict, tmp_path: Path
) -> None:
    shutil.copytree(datasets["breast_cancer"], tmp_path / "data" / "breast_cancer")
    request = _multi(_request())
    request[CONFIG]["ResourceLimits"] = {
        "MaxNumberOfTrainingJobs": 4,
        "MaxParallelTrainingJobs": 2,
    }
    described = run_and_describe(request, tmp_path)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["Autotune"] == {"Mode": "Enabled"}
    hinted, bare = described["TrainingJobDefinitions"]
    assert [r["Name"] for r in hinted["HyperParameterRanges"]["ContinuousParameterRanges"]] == [
        "eta"
    ]
    chosen = {r["Name"] for kind, items in bare["HyperParameterRanges"].items() for r in items}
    assert "eta" in chosen and "max_depth" in chosen
