"""Conditional hyperparameters end to end: real jobs, the spec's ``ActiveWhen``, the report.

Every strategy runs a real job (local worker processes, a SQLite file) whose training
callable fails unless it gets exactly the active hyperparameters; the stored trials, the
DataFrame and the effects must agree. The spec tests go through ``spec_from_request`` and
``tuner validate`` and name the field of every wrong ``ActiveWhen``.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from tuner import (
    CategoricalParameter,
    ContinuousParameter,
    HyperbandStrategyConfig,
    HyperparameterTuner,
    IntegerParameter,
    StrategyConfig,
)
from tuner.cli import main as tuner_main
from tuner.errors import InvalidSpecError
from tuner.spec.validation import spec_from_request


# -- real jobs ----------------------------------------------------------------------------------
def train(hp: dict[str, Any], ctx: Any) -> None:
    """Fails unless the inactive hyperparameters are absent and the active ones present."""
    sgd, adam = hp["optimizer"] == "sgd", hp["optimizer"] == "adam"
    assert ("momentum" in hp) == sgd, hp
    assert ("beta2" in hp) == adam, hp
    loss = 0.3 if hp["optimizer"] == "rmsprop" else 0.0
    if "lr" in hp:
        loss += (math.log10(hp["lr"]) + 2) ** 2
    if sgd:
        loss += 10 * (float(hp["momentum"]) - 0.9) ** 2
    if adam:
        loss += 0.1 + 100 * (float(hp["beta2"]) - 0.99) ** 2
    for epoch in range(1, 4):
        ctx.report(epoch, loss=loss + 0.1 / epoch)


RANGES = {
    "lr": ContinuousParameter(1e-4, 1.0, "Logarithmic"),
    "optimizer": CategoricalParameter(["sgd", "adam", "rmsprop"]),
    "momentum": ContinuousParameter(0.5, 0.99, active_when=("optimizer", ["sgd"])),
    "beta2": ContinuousParameter(0.9, 0.999, active_when=("optimizer", ["adam"])),
    "warmup": IntegerParameter(0, 5, active_when=("optimizer", ["sgd", "adam"])),
}
GRID_RANGES = {
    "optimizer": CategoricalParameter(["sgd", "adam", "rmsprop"]),
    "momentum": CategoricalParameter(["0.5", "0.9"], active_when=("optimizer", ["sgd"])),
    "beta2": CategoricalParameter(["0.99", "0.999"], active_when=("optimizer", ["adam"])),
}


def _expected(tuned: dict[str, str], grid: bool) -> set[str]:
    names = {"optimizer"} | (set() if grid else {"lr"})
    if tuned["optimizer"] == "sgd":
        names |= {"momentum"} | (set() if grid else {"warmup"})
    if tuned["optimizer"] == "adam":
        names |= {"beta2"} | (set() if grid else {"warmup"})
    return names


def _run(
    tmp_path: Path, strategy: str, max_jobs: int | None, **kwargs: Any
) -> HyperparameterTuner:
    grid = strategy == "Grid"
    tuner = HyperparameterTuner(
        train,
        "loss",
        GRID_RANGES if grid else RANGES,
        strategy=strategy,
        objective_type="Minimize",
        max_jobs=max_jobs,
        max_parallel_jobs=2,
        random_seed=0,
        storage=f"sqlite:///{tmp_path / 'tuner.db'}",
        output_path=tmp_path / "out",
        **kwargs,
    )
    tuner.fit(job_name=f"cond-{strategy.lower()}")
    return tuner


@pytest.mark.parametrize(
    ("strategy", "max_jobs", "options"),
    [
        ("Random", 10, {}),
        ("Grid", None, {}),
        ("Bayesian", 10, {}),
        ("TPE", 12, {}),
        ("Hyperband", 10, {"strategy_config": StrategyConfig(HyperbandStrategyConfig(3, 1))}),
    ],
)
def test_every_strategy_passes_only_active_hyperparameters(
    tmp_path: Path, strategy: str, max_jobs: int | None, options: dict[str, Any]
) -> None:
    if strategy == "TPE":
        pytest.importorskip("optuna")
    tuner = _run(tmp_path, strategy, max_jobs, **options)
    summaries = tuner.training_job_summaries()
    assert len(summaries) == (5 if strategy == "Grid" else max_jobs)  # a grid of 2 + 2 + 1
    failures = [s.get("FailureReason") for s in summaries if s["TrainingJobStatus"] == "Failed"]
    assert not failures, failures
    grid = strategy == "Grid"
    for summary in summaries:  # what was stored is what training got
        tuned = summary["TunedHyperParameters"]
        assert set(tuned) == _expected(tuned, grid), tuned
    frame = tuner.analytics().dataframe()
    assert (frame["momentum"].notna() == (frame["optimizer"] == "sgd")).all()


def test_effects_cover_only_the_trials_where_a_hyperparameter_was_active(tmp_path: Path) -> None:
    tuner = _run(tmp_path, "Random", 12)
    snapshot = tuner.analytics().snapshot()
    compared = len(snapshot.compared())
    rows = snapshot.dataframe()
    effects = {e.parameter: e for e in snapshot.correlations()}
    assert effects["lr"].n_trials == compared
    assert effects["momentum"].n_trials == int((rows["optimizer"] == "sgd").sum()) < compared
    assert effects["momentum"].to_dict()["ActiveWhen"] == [
        {"Name": "optimizer", "Values": ["sgd"]}
    ]
    assert effects["lr"].to_dict()["ActiveWhen"] is None
    importance = snapshot.importance()
    assert importance.n_trials == compared  # the model sees every trial, inactive ones imputed
    assert set(importance.scores) == set(RANGES)

    from tuner.reports.report import build_report

    report = build_report(snapshot)
    note = next(n for n in report["Notes"] if n.startswith("conditional hyperparameters"))
    assert f"momentum {effects['momentum'].n_trials}" in note and f"of {compared}" in note


# -- the spec's ActiveWhen ----------------------------------------------------------------------
def _request(datasets: dict[str, Path]) -> dict[str, Any]:
    """An xgboost request: max_depth only for tree boosters, rate_drop and sample_type for dart."""
    examples = Path(__file__).resolve().parents[2] / "examples"
    request = json.loads((examples / "xgboost-breast-cancer.json").read_text())
    channels = request["TrainingJobDefinition"]["InputDataConfig"]
    for channel, file in zip(channels, ("train.csv", "validation.csv"), strict=True):
        channel["DataSource"]["S3DataSource"]["S3Uri"] = str(datasets["breast_cancer"] / file)
    request["HyperParameterTuningJobConfig"]["ParameterRanges"] = {
        "IntegerParameterRanges": [
            {
                "Name": "max_depth",
                "MinValue": "2",
                "MaxValue": "8",
                "ActiveWhen": {"Name": "booster", "Values": ["gbtree", "dart"]},
            }
        ],
        "ContinuousParameterRanges": [
            {"Name": "eta", "MinValue": "0.05", "MaxValue": "0.5"},
            {
                "Name": "rate_drop",
                "MinValue": "0",
                "MaxValue": "0.5",
                "ActiveWhen": [{"Name": "booster", "Values": ["dart"]}],
            },
        ],
        "CategoricalParameterRanges": [
            {"Name": "booster", "Values": ["gbtree", "dart", "gblinear"]},
            {
                "Name": "sample_type",
                "Values": ["uniform", "weighted"],
                "ActiveWhen": {"Name": "booster", "Values": ["dart"]},
            },
        ],
    }
    return request


def test_a_spec_with_active_when_validates(
    datasets: dict[str, Path], tmp_path: Path, capsys
) -> None:
    request = _request(datasets)
    spec = spec_from_request(request)
    ranges = spec.space.ranges
    assert [c.name for c in ranges["rate_drop"].active_when] == ["booster"]
    assert ranges["max_depth"].active_when[0].values == ("gbtree", "dart")
    assert spec.space.active({"booster": "gblinear", "eta": 0.1}) == {"booster", "eta"}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(request))
    assert tuner_main(["validate", str(path)]) == 0
    assert "valid" in capsys.readouterr().out.lower()


RANGES_PATH = "HyperParameterTuningJobConfig.ParameterRanges"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            lambda r: r["ContinuousParameterRanges"][1]["ActiveWhen"][0].update(Name="boster"),
            "ContinuousParameterRanges[1].ActiveWhen[0].Name",
            "'rate_drop' depends on 'boster', which is not a tuned hyperparameter",
        ),
        (
            lambda r: r["IntegerParameterRanges"][0]["ActiveWhen"].update(Name="eta"),
            "IntegerParameterRanges[0].ActiveWhen.Name",
            "'max_depth' depends on 'eta', which is Continuous; a condition needs a categorical",
        ),
        (
            lambda r: r["CategoricalParameterRanges"][1]["ActiveWhen"].update(Values=["darts"]),
            "CategoricalParameterRanges[1].ActiveWhen.Values",
            "'darts' is not a value of 'booster' (values: gbtree, dart, gblinear)",
        ),
        (
            lambda r: r["CategoricalParameterRanges"][0].update(
                ActiveWhen={"Name": "sample_type", "Values": ["uniform"]}
            ),
            "CategoricalParameterRanges[0].ActiveWhen",
            "'booster': the conditions form a cycle, booster -> sample_type -> booster",
        ),
        (
            lambda r: r["ContinuousParameterRanges"][1].update(ActiveWhen={"Name": "booster"}),
            "ContinuousParameterRanges[1].ActiveWhen.Values",
            "is required",
        ),
    ],
)
def test_a_wrong_active_when_is_refused_naming_the_field(
    datasets: dict[str, Path], tmp_path: Path, capsys, change: Any, field: str, message: str
) -> None:
    request = copy.deepcopy(_request(datasets))
    change(request["HyperParameterTuningJobConfig"]["ParameterRanges"])
    with pytest.raises(InvalidSpecError) as raised:
        spec_from_request(request)
    problems = [p for p in raised.value.problems if p.startswith(f"{RANGES_PATH}.{field}:")]
    assert len(problems) == 1 and message in problems[0], raised.value.problems
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(request))
    assert tuner_main(["validate", str(path)]) == 2
    assert f"{RANGES_PATH}.{field}" in capsys.readouterr().err
