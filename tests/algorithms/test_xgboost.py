"""Tests for the built-in XGBoost algorithm: hyperparameters, per-round reports, stops, model."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from algorithm_context import FakeContext
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.model_selection import train_test_split

from algorithms import HyperparameterError
from algorithms.base import StopTraining, parse_hyperparameters
from algorithms.data import write_csv, write_libsvm
from algorithms.xgboost import ALGORITHM, MODEL_FILENAME, load


def _write_split(
    directory: Path, X: np.ndarray, y: np.ndarray, *, libsvm: bool = False
) -> dict[str, Path]:
    X_train, X_val, y_train, y_val = train_test_split(X, y, random_state=0)
    write = write_libsvm if libsvm else write_csv
    suffix = "libsvm" if libsvm else "csv"
    channels = {"train": directory / f"train.{suffix}", "validation": directory / f"val.{suffix}"}
    write(channels["train"], X_train, y_train)
    write(channels["validation"], X_val, y_val)
    return channels


@pytest.fixture(scope="module")
def cancer(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    X, y = load_breast_cancer(return_X_y=True)
    return _write_split(tmp_path_factory.mktemp("cancer"), X, y)


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    X, y = load_diabetes(return_X_y=True)
    return _write_split(tmp_path_factory.mktemp("diabetes"), X, y)


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    X, y = load_iris(return_X_y=True)
    return _write_split(tmp_path_factory.mktemp("iris"), X, y)


BINARY = {"num_round": "20", "objective": "binary:logistic"}


def test_amt_objective_metrics_have_their_directions() -> None:
    expected = {
        "accuracy": "Maximize",
        "auc": "Maximize",
        "error": "Minimize",
        "f1": "Maximize",
        "logloss": "Minimize",
        "mae": "Minimize",
        "map": "Maximize",
        "merror": "Minimize",
        "mlogloss": "Minimize",
        "mse": "Minimize",
        "ndcg": "Maximize",
        "rmse": "Minimize",
    }
    for metric, direction in expected.items():
        assert ALGORITHM.metrics[f"validation:{metric}"] == direction
        assert ALGORITHM.metrics[f"train:{metric}"] == direction
    assert ALGORITHM.metrics.get("validation:ndcg@5") == "Maximize"  # parametrised spelling
    assert ALGORITHM.metrics.get("validation:error@0.7") == "Minimize"
    assert "validation:nonsense" not in ALGORITHM.metrics
    assert "test:auc" not in ALGORITHM.metrics


def test_defaults_are_amts() -> None:
    """Names and required ones: tests/contracts; the documented defaults here."""
    defaults = parse_hyperparameters(ALGORITHM.hyperparameters, {"num_round": "1"})
    assert defaults["max_depth"] == 6
    assert defaults["eta"] == 0.3
    assert defaults["seed"] == 0
    assert defaults["objective"] == "reg:squarederror"


def test_binary_reports_every_round_with_the_objective_metric(
    cancer: dict[str, Path], tmp_path: Path
) -> None:
    ctx = FakeContext(tmp_path)
    hp = {**BINARY, "_tuning_objective_metric": "validation:auc"}
    ALGORITHM.train(hp, cancer, ctx)
    assert ctx.epochs == list(range(1, 21))
    assert all("validation:auc" in metrics for _, metrics in ctx.reports)
    assert ctx.last("validation:auc") > 0.9  # a constant predictor scores 0.5
    for _, metrics in ctx.reports:
        assert all(name in ALGORITHM.metrics for name in metrics)
        assert all(isinstance(value, float) for value in metrics.values())
    assert (tmp_path / MODEL_FILENAME).is_file()


def test_objective_metric_is_added_to_eval_metric(cancer: dict[str, Path], tmp_path: Path) -> None:
    ctx = FakeContext(tmp_path)
    hp = {
        **BINARY,
        "num_round": "3",
        "eval_metric": "logloss",
        "_tuning_objective_metric": "validation:auc",
    }
    ALGORITHM.train(hp, cancer, ctx)
    assert {"train:logloss", "validation:logloss", "validation:auc"} <= set(ctx.reports[-1][1])


def test_default_eval_metric_follows_the_objective(
    cancer: dict[str, Path], tmp_path: Path
) -> None:
    ctx = FakeContext(tmp_path)
    ALGORITHM.train({**BINARY, "num_round": "2"}, cancer, ctx)
    assert set(ctx.reports[-1][1]) == {"train:logloss", "validation:logloss"}


def test_metrics_xgboost_lacks_are_computed(cancer: dict[str, Path], tmp_path: Path) -> None:
    ctx = FakeContext(tmp_path)
    hp = {
        **BINARY,
        "eval_metric": "accuracy,f1,mse,error",
        "_tuning_objective_metric": "validation:f1",
    }
    ALGORITHM.train(hp, cancer, ctx)
    last = ctx.reports[-1][1]
    assert last["validation:accuracy"] == pytest.approx(1 - last["validation:error"])
    assert 0.9 < last["validation:f1"] <= 1.0
    assert 0.0 <= last["validation:mse"] < 0.1
    assert all(name in ALGORITHM.metrics for name in last)


def test_stop_training_raised_by_report_ends_training_cleanly(
    cancer: dict[str, Path], tmp_path: Path
) -> None:
    class StoppingContext(FakeContext):
        def report(self, epoch: int, **metrics: float) -> None:
            if epoch == 2:
                raise StopTraining
            super().report(epoch, **metrics)

    ctx = StoppingContext(tmp_path)
    ALGORITHM.train(BINARY, cancer, ctx)
    assert ctx.epochs == [1]
    assert (tmp_path / MODEL_FILENAME).is_file()


def test_same_seed_gives_identical_metrics(cancer: dict[str, Path], tmp_path: Path) -> None:
    hp = {
        **BINARY,
        "subsample": "0.7",
        "colsample_bytree": "0.6",
        "seed": "7",
        "eval_metric": "auc,f1",
    }
    runs = []
    for name in ("a", "b"):
        ctx = FakeContext(tmp_path / name)
        ALGORITHM.train(hp, cancer, ctx)
        runs.append(ctx.reports)
    assert runs[0] == runs[1]


def test_regression_beats_predicting_the_mean(diabetes: dict[str, Path], tmp_path: Path) -> None:
    from algorithms.data import load_channel

    _, y_train = load_channel(diabetes["train"])
    _, y_val = load_channel(diabetes["validation"])
    baseline = float(np.sqrt(np.mean((y_val - y_train.mean()) ** 2)))
    ctx = FakeContext(tmp_path)
    hp = {
        "num_round": "30",
        "eta": "0.1",
        "max_depth": "3",
        "_tuning_objective_metric": "validation:rmse",
    }
    ALGORITHM.train(hp, diabetes, ctx)
    assert ctx.epochs == list(range(1, 31))
    assert ctx.last("validation:rmse") < baseline


def test_multiclass_softmax_on_iris(iris: dict[str, Path], tmp_path: Path) -> None:
    ctx = FakeContext(tmp_path)
    hp = {
        "num_round": "10",
        "objective": "multi:softmax",
        "num_class": "3",
        "_tuning_objective_metric": "validation:merror",
    }
    ALGORITHM.train(hp, iris, ctx)
    assert ctx.epochs == list(range(1, 11))
    assert ctx.last("validation:merror") < 0.2  # chance is 2/3
    predictions = load(tmp_path).predict(load_iris().data[:5])
    assert set(np.unique(predictions)) <= {0.0, 1.0, 2.0}


def test_multiclass_without_num_class_is_a_clear_error(
    iris: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(HyperparameterError, match="'num_class' is required"):
        ALGORITHM.train(
            {"num_round": "2", "objective": "multi:softmax"}, iris, FakeContext(tmp_path)
        )


@pytest.mark.parametrize(
    ("hyperparameters", "named"),
    [
        ({"eta": "2"}, "eta"),
        ({"max_depth": "-1"}, "max_depth"),
        ({"colsample_bynode": "0"}, "colsample_bynode"),  # (0, 1]; bytree/bylevel take 0
        ({"booster": "forest"}, "booster"),
        ({"learning_speed": "1"}, "learning_speed"),
        ({"eval_metric": "auc,bogus"}, "eval_metric"),
        ({"_tuning_objective_metric": "validation:bogus"}, "_tuning_objective_metric"),
    ],
)
def test_bad_hyperparameter_is_named(
    cancer: dict[str, Path], tmp_path: Path, hyperparameters: dict[str, str], named: str
) -> None:
    with pytest.raises(HyperparameterError, match=f"'{named}'"):
        ALGORITHM.train({**BINARY, **hyperparameters}, cancer, FakeContext(tmp_path))


def test_missing_num_round_is_named(cancer: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(HyperparameterError, match="'num_round' is required"):
        ALGORITHM.train({"objective": "binary:logistic"}, cancer, FakeContext(tmp_path))


def test_validation_objective_needs_a_validation_channel(
    cancer: dict[str, Path], tmp_path: Path
) -> None:
    hp = {**BINARY, "_tuning_objective_metric": "validation:auc"}
    with pytest.raises(HyperparameterError, match="needs a 'validation' channel"):
        ALGORITHM.train(hp, {"train": cancer["train"]}, FakeContext(tmp_path))


def test_train_only_channel_reports_train_metrics(cancer: dict[str, Path], tmp_path: Path) -> None:
    ctx = FakeContext(tmp_path)
    hp = {**BINARY, "num_round": "3", "_tuning_objective_metric": "train:auc"}
    ALGORITHM.train(hp, {"train": cancer["train"]}, ctx)
    assert ctx.epochs == [1, 2, 3]
    assert set(ctx.reports[-1][1]) == {"train:auc"}


def test_binary_label_out_of_range_is_a_clear_error(tmp_path: Path) -> None:
    write_csv(tmp_path / "train.csv", np.ones((4, 2)), np.array([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match=r"train channel: label 2 \(row 3\) is out of range"):
        ALGORITHM.train(BINARY, {"train": tmp_path / "train.csv"}, FakeContext(tmp_path / "out"))


def test_early_stopping_keeps_the_best_model(cancer: dict[str, Path], tmp_path: Path) -> None:
    ctx = FakeContext(tmp_path)
    hp = {
        **BINARY,
        "num_round": "200",
        "eta": "0.5",
        "early_stopping_rounds": "3",
        "_tuning_objective_metric": "validation:logloss",
    }
    ALGORITHM.train(hp, cancer, ctx)
    losses = [metrics["validation:logloss"] for _, metrics in ctx.reports]
    assert len(losses) < 200
    best = int(np.argmin(losses))
    assert len(losses) == best + 1 + 3  # three rounds without improvement, then stop
    assert load(tmp_path).booster.num_boosted_rounds() == best + 1


def test_saved_model_loads_and_predicts(cancer: dict[str, Path], tmp_path: Path) -> None:
    ALGORITHM.train({**BINARY, "num_round": "5"}, cancer, FakeContext(tmp_path))
    X = load_breast_cancer().data[:10]
    from_dir = load(tmp_path).predict(X)
    from_file = ALGORITHM.load(tmp_path / MODEL_FILENAME).predict(X)
    assert from_dir.shape == (10,)
    assert ((from_dir >= 0) & (from_dir <= 1)).all()
    np.testing.assert_array_equal(from_dir, from_file)


def test_libsvm_input_trains(tmp_path: Path) -> None:
    X, y = load_breast_cancer(return_X_y=True)
    channels = _write_split(tmp_path, X, y, libsvm=True)
    ctx = FakeContext(tmp_path / "out")
    hp = {**BINARY, "num_round": "10", "_tuning_objective_metric": "validation:auc"}
    ALGORITHM.train(hp, channels, ctx)
    assert ctx.epochs == list(range(1, 11))
    assert ctx.last("validation:auc") > 0.9


def test_csv_weights_use_the_second_column(tmp_path: Path) -> None:
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, random_state=0)
    write_csv(tmp_path / "plain.csv", X_train, y_train)
    write_csv(tmp_path / "val.csv", X_val, y_val)
    for name, weights in (("ones", np.ones_like(y_train)), ("skewed", 1 + 4 * y_train)):
        write_csv(tmp_path / f"{name}.csv", np.column_stack([weights, X_train]), y_train)

    def last_report(train_file: str, csv_weights: str) -> dict[str, float]:
        channels = {"train": tmp_path / train_file, "validation": tmp_path / "val.csv"}
        ctx = FakeContext(tmp_path / "out")
        hp = {**BINARY, "num_round": "5", "csv_weights": csv_weights}
        ALGORITHM.train(hp, channels, ctx)
        return ctx.reports[-1][1]

    unweighted = last_report("plain.csv", "0")
    assert last_report("ones.csv", "1") == unweighted  # the column is a weight, not a feature
    assert last_report("skewed.csv", "1") != unweighted


def test_removed_xgboost_parameters_are_accepted_and_not_passed(
    cancer: dict[str, Path], tmp_path: Path
) -> None:
    hp = {
        **BINARY,
        "num_round": "2",
        "lambda_bias": "0.1",
        "sketch_eps": "0.05",
        "single_precision_histogram": "true",
        "deterministic_histogram": "false",
        "use_dask_gpu_training": "false",
        "objective": "reg:linear",
    }
    ctx = FakeContext(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ALGORITHM.train(hp, cancer, ctx)
    assert ctx.epochs == [1, 2]
    assert not [
        w for w in caught if "not used" in str(w.message) or "deprecated" in str(w.message)
    ]


def test_sagemaker_names_reach_xgboost(
    cancer: dict[str, Path], tmp_path: Path, passed_params: list[dict[str, object]]
) -> None:
    hp = {**BINARY, "num_round": "1", "eta": "0.2", "lambda": "2", "alpha": "0.5", "seed": "3"}
    ALGORITHM.train(hp, cancer, FakeContext(tmp_path))
    (params,) = passed_params
    assert params["eta"] == 0.2
    assert params["lambda"] == 2.0
    assert params["alpha"] == 0.5
    assert params["seed"] == 3
    assert params["objective"] == "binary:logistic"
    assert "max_depth" not in params  # not given: xgboost's own default applies


def test_gpu_hist_means_hist_on_cuda(
    cancer: dict[str, Path], tmp_path: Path, passed_params: list[dict[str, object]]
) -> None:
    hp = {**BINARY, "num_round": "1", "tree_method": "gpu_hist"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # xgboost falls back to the CPU where there is no GPU
        ALGORITHM.train(hp, cancer, FakeContext(tmp_path))
    assert passed_params[0]["tree_method"] == "hist"
    assert passed_params[0]["device"] == "cuda"


def test_context_device_is_passed_to_xgboost(
    cancer: dict[str, Path], tmp_path: Path, passed_params: list[dict[str, object]]
) -> None:
    ctx = FakeContext(tmp_path)
    ALGORITHM.train({**BINARY, "num_round": "1"}, cancer, ctx)
    ctx.device = "cuda:0"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ALGORITHM.train({**BINARY, "num_round": "1"}, cancer, ctx)
    assert "device" not in passed_params[0]
    assert passed_params[1]["device"] == "cuda:0"


def test_nthread_defaults_to_omp_num_threads(
    cancer: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    passed_params: list[dict[str, object]],
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    ALGORITHM.train({**BINARY, "num_round": "1"}, cancer, FakeContext(tmp_path / "a"))
    hp = {**BINARY, "num_round": "1", "nthread": "3"}
    ALGORITHM.train(hp, cancer, FakeContext(tmp_path / "b"))
    monkeypatch.delenv("OMP_NUM_THREADS")
    ALGORITHM.train({**BINARY, "num_round": "1"}, cancer, FakeContext(tmp_path / "c"))
    assert [params.get("nthread") for params in passed_params] == [2, 3, None]
