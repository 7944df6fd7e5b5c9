"""Tests for the built-in k-means algorithm: hyperparameters, epochs, metrics, stops, model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

torch = pytest.importorskip("torch")

from algorithm_context import CheckpointingContext, Crash, FakeContext

from algorithms import HyperparameterError  # noqa: E402
from algorithms.base import InputError, parse_hyperparameters  # noqa: E402
from algorithms.data import load_channel, write_csv, write_libsvm  # noqa: E402
from algorithms.kmeans import ALGORITHM, MODEL_FILENAME, load  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    X, y = make_blobs(n_samples=800, centers=5, n_features=6, random_state=3)
    directory = tmp_path_factory.mktemp("blobs")
    channels = {"train": directory / "train.csv", "test": directory / "test.csv"}
    write_csv(channels["train"], X[:600], y[:600])
    write_csv(channels["test"], X[600:], y[600:])
    return channels


IRIS = {"feature_dim": "4", "k": "3", "epochs": "3", "mini_batch_size": "32"}
BLOBS = {"feature_dim": "6", "k": "5", "epochs": "2", "mini_batch_size": "100"}


def _train(hp: dict[str, str], channels: dict[str, Path], out: Path, **kwargs) -> FakeContext:
    ctx = FakeContext(out, **kwargs)
    ALGORITHM.train(hp, channels, ctx)
    return ctx


def test_amt_metrics_have_their_directions() -> None:
    assert ALGORITHM.metrics["test:msd"] == "Minimize"
    assert ALGORITHM.metrics["test:ssd"] == "Minimize"
    assert ALGORITHM.metrics["train:msd"] == "Minimize"


def test_defaults_are_amts() -> None:
    """Names and required ones: tests/contracts; the documented defaults here."""
    defaults = parse_hyperparameters(ALGORITHM.hyperparameters, {"feature_dim": "4", "k": "3"})
    assert defaults["epochs"] == 1
    assert defaults["init_method"] == "random"
    assert defaults["local_lloyd_init_method"] == "kmeans++"
    assert defaults["local_lloyd_max_iter"] == 300
    assert defaults["local_lloyd_tol"] == 0.0001
    assert defaults["half_life_time_size"] == 0
    assert defaults["mini_batch_size"] == 5000
    assert defaults["extra_center_factor"] is None  # auto
    assert defaults["local_lloyd_num_trials"] is None  # auto
    # AMT tunes extra_center_factor with an IntegerParameterRange.
    assert ALGORITHM.hyperparameters["extra_center_factor"].kind == "int"
    assert ALGORITHM.hyperparameters["extra_center_factor"].parse("x", "auto") is None


def test_epochs_are_reported_in_order_with_declared_metrics(
    iris: dict[str, Path], tmp_path: Path
) -> None:
    ctx = _train({**IRIS, "eval_metrics": '["msd", "ssd"]'}, iris, tmp_path)
    assert ctx.epochs == [1, 2, 3]
    for _, metrics in ctx.reports:
        assert set(metrics) == {"train:msd", "test:msd", "test:ssd"}
        assert all(name in ALGORITHM.metrics for name in metrics)
    _, y_test = load_channel(iris["test"])
    last = ctx.reports[-1][1]
    assert last["test:ssd"] == pytest.approx(last["test:msd"] * len(y_test))
    assert (tmp_path / MODEL_FILENAME).is_file()


def test_three_clusters_beat_one_on_iris(iris: dict[str, Path], tmp_path: Path) -> None:
    one = _train({**IRIS, "k": "1"}, iris, tmp_path / "one")
    three = _train(IRIS, iris, tmp_path / "three")
    assert three.reports[-1][1]["test:msd"] < 0.5 * one.reports[-1][1]["test:msd"]


@pytest.mark.parametrize("init_method", ["random", "kmeans++"])
def test_blobs_are_recovered(blobs: dict[str, Path], tmp_path: Path, init_method: str) -> None:
    _train({**BLOBS, "init_method": init_method}, blobs, tmp_path)
    X, y = load_channel(blobs["test"])
    assert adjusted_rand_score(y, load(tmp_path).predict(X)) > 0.95


def test_default_eval_metric_is_msd_and_the_objective_is_added(
    iris: dict[str, Path], tmp_path: Path
) -> None:
    plain = _train(IRIS, iris, tmp_path / "plain")
    assert set(plain.reports[-1][1]) == {"train:msd", "test:msd"}
    hp = {**IRIS, "_tuning_objective_metric": "test:ssd"}
    tuned = _train(hp, iris, tmp_path / "tuned")
    assert set(tuned.reports[-1][1]) == {"train:msd", "test:msd", "test:ssd"}
    only_ssd = _train({**IRIS, "eval_metrics": '["ssd"]'}, iris, tmp_path / "ssd")
    assert set(only_ssd.reports[-1][1]) == {"train:msd", "test:ssd"}


def test_same_hyperparameters_give_identical_results(
    blobs: dict[str, Path], tmp_path: Path
) -> None:
    hp = {**BLOBS, "init_method": "kmeans++", "half_life_time_size": "200", "epochs": "3"}
    runs = [_train(hp, blobs, tmp_path / name) for name in ("a", "b")]
    assert runs[0].reports == runs[1].reports
    np.testing.assert_array_equal(load(tmp_path / "a").centers, load(tmp_path / "b").centers)


@pytest.mark.parametrize("local_init", ["random", "kmeans++"])
def test_extra_centers_and_local_lloyd_settings_are_used(
    blobs: dict[str, Path], tmp_path: Path, local_init: str
) -> None:
    hp = {
        **BLOBS,
        "extra_center_factor": "4",
        "local_lloyd_num_trials": "10",
        "local_lloyd_max_iter": "50",
        "local_lloyd_tol": "0.001",
        "local_lloyd_init_method": local_init,
    }
    ctx = _train(hp, blobs, tmp_path)
    assert load(tmp_path).centers.shape == (5, 6)
    X, y = load_channel(blobs["test"])
    assert adjusted_rand_score(y, load(tmp_path).predict(X)) > 0.9
    assert ctx.reports[-1][1]["test:msd"] < 20


def test_a_resumed_job_clusters_on_as_the_whole_one(
    blobs: dict[str, Path], tmp_path: Path
) -> None:
    hp = {
        **BLOBS,
        "epochs": "3",
        "init_method": "kmeans++",
        "half_life_time_size": "50",
        "extra_center_factor": "3",
        "local_lloyd_num_trials": "2",
        "eval_metrics": '["msd", "ssd"]',
    }
    whole = CheckpointingContext(tmp_path / "whole", tmp_path / "whole-checkpoints")
    ALGORITHM.train(hp, blobs, whole)
    with pytest.raises(Crash):
        ALGORITHM.train(hp, blobs, CheckpointingContext(tmp_path / "a", tmp_path / "c", 2))
    resumed = CheckpointingContext(tmp_path / "b", tmp_path / "c")
    ALGORITHM.train(hp, blobs, resumed)
    assert resumed.reports == whole.reports[1:]
    np.testing.assert_array_equal(load(whole.output_dir).centers, load(resumed.output_dir).centers)


def test_file_without_a_label_column_is_read_whole(tmp_path: Path) -> None:
    X, _ = make_blobs(n_samples=200, centers=2, n_features=3, random_state=0)
    np.savetxt(tmp_path / "unlabelled.csv", X, delimiter=",")
    hp = {"feature_dim": "3", "k": "2", "mini_batch_size": "50"}
    _train(hp, {"train": tmp_path / "unlabelled.csv"}, tmp_path / "out")
    assert load(tmp_path / "out").centers.shape == (2, 3)


def test_sparse_libsvm_input_trains(tmp_path: Path) -> None:
    X, y = make_blobs(n_samples=300, centers=3, n_features=8, random_state=1)
    X[X < 0] = 0.0
    write_libsvm(tmp_path / "train.libsvm", X, y)
    hp = {"feature_dim": "8", "k": "3", "mini_batch_size": "64", "epochs": "2"}
    ctx = _train(hp, {"train": tmp_path / "train.libsvm"}, tmp_path / "out")
    assert ctx.epochs == [1, 2]
    assert ctx.reports[-1][1]["train:msd"] > 0


def test_saved_model_predicts_and_measures_distances(
    iris: dict[str, Path], tmp_path: Path
) -> None:
    ctx = _train(IRIS, iris, tmp_path)
    X, _ = load_channel(iris["test"])
    model = ALGORITHM.load(tmp_path / MODEL_FILENAME)
    distances = model.distances(X)
    assert distances.shape == (X.shape[0], 3)
    np.testing.assert_array_equal(model.predict(X), np.argmin(distances, axis=1))
    msd = float(np.mean(np.min(distances, axis=1) ** 2))
    assert msd == pytest.approx(ctx.reports[-1][1]["test:msd"], rel=1e-4)


@pytest.mark.parametrize(
    ("hyperparameters", "match"),
    [
        ({"k": "0"}, "'k'"),
        ({"epochs": "0"}, "'epochs'"),
        ({"init_method": "forgy"}, "'init_method'"),
        ({"local_lloyd_init_method": "forgy"}, "'local_lloyd_init_method'"),
        ({"extra_center_factor": "0"}, "'extra_center_factor'.*'auto' or"),
        ({"extra_center_factor": "lots"}, "'extra_center_factor'"),
        ({"local_lloyd_num_trials": "-1"}, "'local_lloyd_num_trials'"),
        ({"local_lloyd_tol": "2"}, "'local_lloyd_tol'"),
        ({"half_life_time_size": "-1"}, "'half_life_time_size'"),
        ({"eval_metrics": '["rmse"]'}, "'eval_metrics'"),
        ({"eval_metrics": "[]"}, "'eval_metrics'"),
        ({"_tuning_objective_metric": "test:rmse"}, "not a metric of k-means"),
        ({"k": "500"}, "'k' is 500 but the train channel has only 112 rows"),
        ({"feature_dim": "7"}, "'feature_dim' is 7 but the train channel has 4"),
    ],
)
def test_bad_hyperparameters_are_named(
    iris: dict[str, Path], tmp_path: Path, hyperparameters: dict[str, str], match: str
) -> None:
    with pytest.raises(HyperparameterError, match=match):
        _train({**IRIS, **hyperparameters}, iris, tmp_path)


def test_comma_separated_eval_metrics_are_accepted(iris: dict[str, Path], tmp_path: Path) -> None:
    ctx = _train({**IRIS, "eval_metrics": "msd,ssd"}, iris, tmp_path)
    assert {"test:msd", "test:ssd"} <= set(ctx.reports[-1][1])


def test_test_objective_needs_a_test_channel(iris: dict[str, Path], tmp_path: Path) -> None:
    hp = {**IRIS, "_tuning_objective_metric": "test:msd"}
    with pytest.raises(HyperparameterError, match="needs a 'test' channel"):
        _train(hp, {"train": iris["train"]}, tmp_path)


def test_missing_values_are_refused(tmp_path: Path) -> None:
    X = np.array([[0.0, 1.0], [1.0, np.nan], [2.0, 2.0]])
    write_csv(tmp_path / "train.csv", X, np.zeros(3))
    with pytest.raises(InputError, match="row 2 has a missing value"):
        _train({"feature_dim": "2", "k": "2"}, {"train": tmp_path / "train.csv"}, tmp_path / "o")
