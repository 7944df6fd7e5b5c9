"""Tests for the built-in DeepAR: the JSON Lines reader, lags and time features, the metrics,
the forecasts, and its quality against a seasonal-naive forecast.

The series are generated (seeded, no downloads) by :func:`algorithms.deepar_data.seasonal_series`:
related hourly series with a level, a trend and a daily shape whose amplitude depends on the
series' group (``cat``). What every algorithm must do (epochs, stops, determinism, a loadable
model, CUDA) is in tests/contracts/test_algorithm_contract.py.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
from algorithm_context import CheckpointingContext, FakeContext

from algorithms import HyperparameterError, InputError, get_algorithm
from algorithms.base import parse_hyperparameters
from algorithms.deepar import (
    ALGORITHM,
    DEFAULT_QUANTILES,
    HYPERPARAMETERS,
    MODEL_FILENAME,
    REPORTED_METRICS,
    load,
    quantile_metric,
    scores,
)
from algorithms.deepar_data import (
    lags_for,
    parse_frequency,
    read_series,
    seasonal_series,
    split_for_test,
    time_features,
    write_json_lines,
)

pytestmark = [pytest.mark.usefixtures("one_torch_thread")]

HORIZON = 6
#: A tiny network that trains in a fraction of a second per epoch.
SMALL = {
    "time_freq": "H",
    "context_length": "12",
    "prediction_length": str(HORIZON),
    "epochs": "2",
    "num_cells": "8",
    "num_layers": "1",
    "mini_batch_size": "16",
    "num_eval_samples": "20",
    "learning_rate": "0.01",
}


def _channels(directory: Path, records: list[dict], horizon: int = HORIZON) -> dict[str, Path]:
    train, test = split_for_test(records, horizon)
    return {
        "train": write_json_lines(directory / "train" / "train.json", train),
        "test": write_json_lines(directory / "test" / "test.json", test),
    }


@pytest.fixture(scope="module")
def series_channels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _channels(tmp_path_factory.mktemp("series"), seasonal_series(6, 24 * 4))


def _train(hp: dict[str, str], channels: dict[str, Path], out: Path, **kwargs) -> FakeContext:
    ctx = FakeContext(out, **kwargs)
    ALGORITHM.train(hp, channels, ctx)
    return ctx


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


# -- metrics and hyperparameters -----------------------------------------------------------------


def test_amt_metrics_directions_and_names() -> None:
    assert dict(ALGORITHM.metrics) == {  # AMT.md 17.1
        "test:RMSE": "Minimize",
        "test:mean_wQuantileLoss": "Minimize",
        "train:final_loss": "Minimize",
    }
    assert "train:loss" in REPORTED_METRICS
    assert "test:wQuantileLoss[0.1]" in REPORTED_METRICS
    assert quantile_metric(0.5) == "test:wQuantileLoss[0.5]"
    assert get_algorithm("deepar") is ALGORITHM
    image = "522234722520.dkr.ecr.us-east-1.amazonaws.com/forecasting-deepar:1"
    assert get_algorithm(image) is ALGORITHM


def test_defaults_are_sagemakers() -> None:
    """SageMaker's documented defaults ("DeepAR Hyperparameters" in the developer guide)."""
    required = {"time_freq": "D", "context_length": "7", "prediction_length": "7", "epochs": "5"}
    values = parse_hyperparameters(HYPERPARAMETERS, required)
    assert values["cardinality"] == "auto"
    assert values["dropout_rate"] == 0.1
    assert values["early_stopping_patience"] is None
    assert values["embedding_dimension"] == 10
    assert values["learning_rate"] == 0.001
    assert values["likelihood"] == "student-T"
    assert values["mini_batch_size"] == 128
    assert values["num_cells"] == 40
    assert values["num_dynamic_feat"] == "auto"
    assert values["num_eval_samples"] == 100
    assert values["num_layers"] == 2
    assert values["test_quantiles"] == DEFAULT_QUANTILES
    assert {n for n, s in HYPERPARAMETERS.items() if s.required} == set(required)


@pytest.mark.parametrize(
    ("name", "raw", "parsed"),
    [
        ("cardinality", "auto", "auto"),
        ("cardinality", "", "auto"),
        ("cardinality", "ignore", "ignore"),
        ("cardinality", "[2, 3]", (2, 3)),
        ("cardinality", "[]", ()),
        ("num_dynamic_feat", "ignore", "ignore"),
        ("num_dynamic_feat", "", "auto"),
        ("num_dynamic_feat", "2", 2),
        ("test_quantiles", "[0.1, 0.5, 0.9]", (0.1, 0.5, 0.9)),
        ("test_quantiles", "0.25,0.75", (0.25, 0.75)),
        ("likelihood", "negative-binomial", "negative-binomial"),
    ],
)
def test_list_and_choice_hyperparameters_parse(name: str, raw: str, parsed: object) -> None:
    values = parse_hyperparameters(HYPERPARAMETERS, {**SMALL, name: raw})
    assert values[name] == parsed


def test_time_freq_takes_multiples() -> None:
    values = parse_hyperparameters(HYPERPARAMETERS, {**SMALL, "time_freq": "5min"})
    assert (values["time_freq"].multiple, values["time_freq"].unit) == (5, "min")


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("time_freq", "Q", "M, W, D, H or min"),
        ("time_freq", "0H", "M, W, D, H or min"),
        ("likelihood", "poisson", "one of gaussian"),
        ("cardinality", "[0, 2]", "array of positive integers"),
        ("cardinality", "many", "auto, ignore"),
        ("num_dynamic_feat", "-1", "auto, ignore or a positive integer"),
        ("test_quantiles", "[0, 0.5]", "strictly between 0 and 1"),
        ("test_quantiles", "[median]", "strictly between 0 and 1"),
        ("dropout_rate", "1", ">= 0 and < 1"),
        ("context_length", "0", ">= 1"),
        ("early_stopping_patience", "0", ">= 1"),
        ("learning_rate", "0", "> 0"),
    ],
)
def test_bad_values_are_named(name: str, value: str, match: str) -> None:
    with pytest.raises(HyperparameterError, match=f"'{name}'.*{match}"):
        parse_hyperparameters(HYPERPARAMETERS, {**SMALL, name: value})


def test_a_test_objective_without_a_test_channel_is_refused(series_channels, tmp_path) -> None:
    hp = {**SMALL, "_tuning_objective_metric": "test:RMSE"}
    with pytest.raises(HyperparameterError, match="needs a 'test' channel"):
        _train(hp, {"train": series_channels["train"]}, tmp_path)


@pytest.mark.parametrize(
    ("content_type", "refused"),
    [("application/jsonlines", False), ("text/csv", True), ("image/png", True)],
)
def test_the_request_check_refuses_content_types_deepar_cannot_read(
    content_type: str, refused: bool
) -> None:
    from tuner.spec.inputs import check_inputs
    from tuner.spec.problems import Problems

    channel = {"ChannelName": "train", "ContentType": content_type, "DataSource": {}}
    problems = Problems()
    check_inputs({"InputDataConfig": [channel]}, "deepar", {}, problems)
    assert bool(problems) is refused
    if refused:
        assert "reads JSON Lines time series" in problems.items[0]


# -- frequencies, lags, time features ------------------------------------------------------------


def test_lags_are_the_documented_cycles() -> None:
    """SageMaker: daily lags are the previous week, 2, 3 and 4 weeks, and a year."""
    daily = lags_for(parse_frequency("D"))
    assert {1, 2, 3, 4, 5, 6, 7, 14, 21, 28, 364, 365} <= set(daily)
    assert {12, 24} <= set(lags_for(parse_frequency("M")))
    assert {24, 48, 168} <= set(lags_for(parse_frequency("H")))
    assert {12, 288} <= set(lags_for(parse_frequency("5min")))  # an hour, a day of 5 minutes
    assert all(lag <= 1200 for lag in lags_for(parse_frequency("min")))
    assert list(daily) == sorted(set(daily))


@pytest.mark.parametrize(("freq", "columns"), [("M", 1), ("W", 2), ("D", 3), ("H", 4), ("min", 5)])
def test_time_features_per_frequency_lie_in_half_unit(freq: str, columns: int) -> None:
    frequency = parse_frequency(freq)
    times = frequency.index(frequency.period("2023-12-30 22:58:00"), 400)
    features = time_features(frequency, times)
    assert features.shape == (400, columns)
    assert features.min() >= -0.5 and features.max() <= 0.5
    assert features[:, 0].max() - features[:, 0].min() > 0.5  # the finest one varies


def test_start_is_the_period_that_holds_it() -> None:
    frequency = parse_frequency("H")
    assert str(frequency.period("2024-01-15 13:47:00")) == "2024-01-15 13:00"


# -- the reader ----------------------------------------------------------------------------------


def test_reads_missing_values_gzip_and_folders(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    _write_lines(
        folder / "a.json",
        [
            json.dumps({"start": "2024-01-01 00:00:00", "target": [1, "NaN", 3.5, None]}),
            "",
            json.dumps({"start": "2024-01-02", "target": [2.0], "cat": 1}),
        ],
    )
    with gzip.open(folder / "b.json.gz", "wt") as handle:
        handle.write(json.dumps({"start": "2024-01-03", "target": [4, 5], "cat": [0]}) + "\n")
    (folder / ".hidden").write_text("not a record\n")
    series = read_series(folder, "train", parse_frequency("D"))
    assert len(series) == 3
    assert np.isnan(series[0].target[[1, 3]]).all() and series[0].target[2] == 3.5
    assert series[1].cat == (1,) and series[2].cat == (0,)
    assert series[2].where == "train channel, b.json.gz line 1"


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ('{"start": "2024-01-01"}', "no 'target'"),
        ('{"target": [1, 2]}', "no 'start'"),
        ('{"start": "yesterday", "target": [1, 2]}', "'start' is 'yesterday', not a timestamp"),
        ('{"start": 20240101, "target": [1, 2]}', "not a timestamp"),
        ('{"start": "2024-01-01", "target": []}', "'target' must be a non-empty array"),
        ('{"start": "2024-01-01", "target": [1, "x"]}', r"'target'\[1\] is 'x', not a number"),
        ('{"start": "2024-01-01", "target": [1, 2], "cat": [-1]}', "non-negative integers"),
        (
            '{"start": "2024-01-01", "target": [1, 2], "dynamic_feat": [[1, 2, 3]]}',
            "dynamic_feat\\[0\\] has 3 values but 'target' has 2",
        ),
        (
            '{"start": "2024-01-01", "target": [1, 2], "dynamic_feat": [[1, "NaN"]]}',
            "missing value",
        ),
        ('{"start": "2024-01-01", "target": [1, 2]', "not JSON"),
        ("[1, 2, 3]", "must be a JSON object"),
    ],
)
def test_bad_records_are_named_with_channel_file_and_line(
    tmp_path: Path, line: str, match: str
) -> None:
    good = json.dumps({"start": "2024-01-01", "target": [1, 2]})
    path = _write_lines(tmp_path / "records.json", [good, line])
    with pytest.raises(InputError, match="test channel, records.json line 2: .*" + match):
        read_series(path, "test", parse_frequency("D"))


def test_an_empty_channel_is_refused(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "empty.json", [""])
    with pytest.raises(InputError, match="train channel: it holds no time series"):
        read_series(path, "train", parse_frequency("D"))


def _records(n: int, length: int, **extra: object) -> list[dict]:
    rng = np.random.default_rng(3)
    return [
        {"start": "2024-01-01 00:00:00", "target": list(rng.uniform(1, 2, length)), **extra}
        for _ in range(n)
    ]


@pytest.mark.parametrize(
    ("hp", "train_extra", "test_extra", "match"),
    [
        (
            {"cardinality": "[3, 2]"},
            {"cat": [1]},
            {"cat": [1]},
            "'cat' has 1 values but cardinality",
        ),
        ({"cardinality": "[3]"}, {"cat": [3]}, {"cat": [1]}, r"cat\[0\] is 3.*below 3"),
        ({}, {"cat": [1]}, {"cat": [4]}, "training found cardinality"),
        ({"num_dynamic_feat": "2"}, {}, {}, "0 dynamic features but num_dynamic_feat is 2"),
    ],
)
def test_features_that_do_not_fit_are_named(
    tmp_path: Path, hp: dict, train_extra: dict, test_extra: dict, match: str
) -> None:
    train = write_json_lines(tmp_path / "train.json", _records(3, 30, **train_extra))
    test = write_json_lines(tmp_path / "test.json", _records(2, 36, **test_extra))
    with pytest.raises(InputError, match=match):
        _train({**SMALL, **hp}, {"train": train, "test": test}, tmp_path / "out")


def test_auto_cardinality_needs_every_series_to_have_cat(tmp_path: Path) -> None:
    records = _records(3, 30, cat=[1])
    del records[2]["cat"]
    train = write_json_lines(tmp_path / "train.json", records)
    with pytest.raises(InputError, match="train.json line 3: the series has no 'cat'"):
        _train(SMALL, {"train": train}, tmp_path / "out")


def test_ignore_drops_features_the_data_has(tmp_path: Path) -> None:
    records = _records(3, 30, cat=[5], dynamic_feat=[[0.0] * 30])
    train = write_json_lines(tmp_path / "train.json", records)
    hp = {**SMALL, "cardinality": "ignore", "num_dynamic_feat": "ignore", "epochs": "1"}
    _train(hp, {"train": train}, tmp_path / "out")
    model = load(tmp_path / "out")
    assert model.layout.cardinality == () and model.layout.num_dynamic_feat == 0


@pytest.mark.parametrize(
    ("likelihood", "value", "match"),
    [("negative-binomial", -1.0, "negative"), ("beta", 1.5, r"outside \[0, 1\]")],
)
def test_targets_the_likelihood_cannot_model_are_named(
    tmp_path: Path, likelihood: str, value: float, match: str
) -> None:
    records = _records(2, 30)
    for record in records:
        record["target"] = [v / 4 for v in record["target"]]  # in [0, 1], non-negative
    records[1]["target"][4] = value
    train = write_json_lines(tmp_path / "train.json", records)
    with pytest.raises(InputError, match="train.json line 2: .*" + match):
        _train({**SMALL, "likelihood": likelihood}, {"train": train}, tmp_path / "out")


def test_a_test_series_no_longer_than_the_horizon_is_refused(tmp_path: Path) -> None:
    train = write_json_lines(tmp_path / "train.json", _records(2, 30))
    test = write_json_lines(tmp_path / "test.json", _records(1, HORIZON))
    with pytest.raises(InputError, match="test.json line 1: a test series needs more than"):
        _train(SMALL, {"train": train, "test": test}, tmp_path / "out")


def test_train_series_all_too_short_is_refused(tmp_path: Path) -> None:
    train = write_json_lines(tmp_path / "train.json", _records(2, HORIZON))
    with pytest.raises(InputError, match="every series has 6 values or fewer"):
        _train(SMALL, {"train": train}, tmp_path / "out")


# -- metrics -------------------------------------------------------------------------------------


def test_scores_by_hand() -> None:
    """RMSE of the sample mean; wQuantileLoss = 2 * sum of pinball losses / sum |y|."""
    paths = np.array([[[1.0, 2.0], [3.0, 4.0]]])  # 1 series, 2 samples, 2 steps
    truth = np.array([[2.0, np.nan]])  # the second step is missing: left out
    result = scores(paths, truth, [0.5, 0.9])
    assert result["test:RMSE"] == pytest.approx(0.0)  # mean of 1 and 3 is 2
    # median of (1, 3) is 2: no loss; the 0.9-quantile is 2.8: 0.1 * 0.8 below it
    assert result[quantile_metric(0.5)] == pytest.approx(0.0)
    assert result[quantile_metric(0.9)] == pytest.approx(2 * (0.8 * 0.1) / 2.0)
    assert result["test:mean_wQuantileLoss"] == pytest.approx(0.04)


# -- training and forecasts ----------------------------------------------------------------------


def test_reports_every_epoch_and_keeps_the_best(series_channels, tmp_path) -> None:
    ctx = _train({**SMALL, "epochs": "4"}, series_channels, tmp_path)
    assert ctx.epochs == [1, 2, 3, 4]
    losses = [m["train:loss"] for _, m in ctx.reports]
    finals = [m["train:final_loss"] for _, m in ctx.reports]
    assert finals == [min(losses[: i + 1]) for i in range(len(losses))]
    for _, metrics in ctx.reports:
        assert {"test:RMSE", "test:mean_wQuantileLoss"} <= set(metrics)
        assert set(metrics) >= {quantile_metric(q) for q in DEFAULT_QUANTILES}
        assert all(math.isfinite(v) for v in metrics.values())
    assert (tmp_path / MODEL_FILENAME).exists()


def test_early_stopping_patience_ends_after_no_better_epoch(series_channels, tmp_path) -> None:
    hp = {**SMALL, "epochs": "30", "early_stopping_patience": "1", "learning_rate": "0.05"}
    ctx = _train(hp, series_channels, tmp_path)
    losses = [m["train:loss"] for _, m in ctx.reports]
    # every epoch but the last improved on the one before; the last did not (or was the 30th)
    assert all(b < a for a, b in zip(losses[:-2], losses[1:-1], strict=True))
    assert len(losses) == 30 or losses[-1] >= min(losses[:-1])
    assert len(losses) < 30


def test_a_job_early_stopping_ended_resumes_to_nothing_but_the_kept_model(
    series_channels, tmp_path
) -> None:
    hp = {**SMALL, "epochs": "30", "early_stopping_patience": "1", "learning_rate": "0.05"}
    first = CheckpointingContext(tmp_path / "a", tmp_path / "checkpoints")
    ALGORITHM.train(hp, series_channels, first)
    assert len(first.epochs) < 30
    again = CheckpointingContext(tmp_path / "b", tmp_path / "checkpoints")
    ALGORITHM.train(hp, series_channels, again)
    assert again.reports == []  # the checkpoint is the epoch early stopping ended it at
    instance = {
        "start": "2024-01-01 00:00:00",
        "target": [float(v) for v in range(30)],
        "cat": [0],
    }
    forecasts = [load(ctx.output_dir).predict([instance])[0].mean for ctx in (first, again)]
    np.testing.assert_array_equal(*forecasts)


def test_the_model_forecasts_samples_mean_and_quantiles(series_channels, tmp_path) -> None:
    _train(SMALL, series_channels, tmp_path)
    model = load(tmp_path)
    records = [json.loads(line) for line in series_channels["train"].read_text().splitlines()]
    forecasts = model.predict(records[:3], num_samples=30, quantiles=[0.1, 0.9])
    assert len(forecasts) == 3
    first = forecasts[0]
    assert first.samples.shape == (30, HORIZON)
    assert set(first.quantiles) == {"0.1", "0.9"}
    assert (first.quantiles["0.1"] <= first.quantiles["0.9"]).all()
    frequency = parse_frequency("H")
    assert first.start == frequency.period(records[0]["start"]) + len(records[0]["target"])
    again = model.predict(records[:3], num_samples=30, quantiles=[0.1, 0.9])
    assert np.array_equal(again[0].samples, first.samples)  # seeded
    answer = model.invoke(
        {
            "instances": records[:2],
            "configuration": {
                "num_samples": 10,
                "output_types": ["mean", "quantiles", "samples"],
                "quantiles": ["0.5"],
            },
        }
    )
    assert len(answer["predictions"]) == 2
    assert len(answer["predictions"][0]["samples"]) == 10
    assert set(answer["predictions"][0]["quantiles"]) == {"0.5"}
    assert len(answer["predictions"][0]["mean"]) == HORIZON


def test_dynamic_features_are_used_and_needed_for_the_forecast(tmp_path: Path) -> None:
    records = seasonal_series(4, 60)
    for record in records:
        record["dynamic_feat"] = [[float(i % 24 == 0) for i in range(60)]]
    channels = _channels(tmp_path, records)
    ctx = _train({**SMALL, "epochs": "1"}, channels, tmp_path / "out")
    assert math.isfinite(ctx.last("test:RMSE"))
    model = load(tmp_path / "out")
    assert model.layout.num_dynamic_feat == 1
    history = {**records[0], "target": records[0]["target"][:30]}
    with pytest.raises(InputError, match="instance 0: .*dynamic_feat\\[0\\] has 60 values"):
        model.predict([history])
    history["dynamic_feat"] = [records[0]["dynamic_feat"][0][: 30 + HORIZON]]
    assert model.predict([history])[0].samples.shape[1] == HORIZON


@pytest.mark.parametrize(
    "likelihood", ["gaussian", "negative-binomial", "beta", "deterministic-L1"]
)
def test_every_likelihood_trains_and_forecasts(likelihood: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    if likelihood == "negative-binomial":
        records = [
            {"start": "2024-01-01", "target": rng.poisson(4, 60).tolist()} for _ in range(3)
        ]
    elif likelihood == "beta":
        records = [
            {"start": "2024-01-01", "target": rng.uniform(0.1, 0.9, 60).tolist()} for _ in range(3)
        ]
    else:
        records = seasonal_series(3, 60)
    records[0]["target"][10] = "NaN"
    channels = _channels(tmp_path, records)
    ctx = _train({**SMALL, "epochs": "1", "likelihood": likelihood}, channels, tmp_path / "out")
    assert math.isfinite(ctx.last("train:final_loss")) and math.isfinite(ctx.last("test:RMSE"))
    samples = load(tmp_path / "out").predict(records[:1], num_samples=5)[0].samples
    if likelihood == "deterministic-L1":
        assert np.allclose(samples, samples[0])  # a point forecast
    if likelihood == "negative-binomial":
        assert (samples >= 0).all() and np.allclose(samples, np.round(samples))
    if likelihood == "beta":
        assert ((samples > 0) & (samples < 1)).all()


# -- quality -------------------------------------------------------------------------------------


def _seasonal_naive_rmse(records: list[dict], horizon: int, period: int) -> float:
    """Each of the last ``horizon`` values forecast by the value one ``period`` before it."""
    errors = [
        np.array(r["target"][-horizon:]) - np.array(r["target"][-horizon - period : -period])
        for r in records
    ]
    return float(np.sqrt(np.mean(np.square(errors))))


def test_beats_seasonal_naive_on_related_seasonal_series(tmp_path: Path) -> None:
    horizon, period = 24, 24
    records = seasonal_series(12, 24 * 14, period=period, noise=1.0)
    channels = _channels(tmp_path, records, horizon)
    hp = {
        **SMALL,
        "context_length": "24",
        "prediction_length": str(horizon),
        "epochs": "40",
        "num_cells": "20",
        "mini_batch_size": "32",
        "num_eval_samples": "50",
        "likelihood": "gaussian",
    }
    ctx = _train(hp, channels, tmp_path / "out")
    naive = _seasonal_naive_rmse(records, horizon, period)
    assert ctx.epochs == list(range(1, 41))
    assert ctx.last("test:RMSE") < naive, (ctx.last("test:RMSE"), naive)
