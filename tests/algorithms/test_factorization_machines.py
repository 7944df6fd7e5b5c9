"""Tests for the built-in Factorization Machines: hyperparameters, reports, sparse input, model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from algorithm_context import FakeContext
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import KBinsDiscretizer

from algorithms.base import (
    HyperparameterError,
    InputError,
    parse_hyperparameters,
)
from algorithms.data import load_channel, write_csv, write_libsvm
from algorithms.factorization_machines import ALGORITHM, METRICS, MODEL_FILENAME, load
from algorithms.recordio import write_recordio_protobuf


@pytest.fixture(scope="module")
def cancer(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """breast_cancer binarised: each feature one-hot in 4 quantile bins (120 sparse columns).

    The train channel is sparse RecordIO-protobuf, the test channel libsvm.
    """
    directory = tmp_path_factory.mktemp("cancer")
    X, y = load_breast_cancer(return_X_y=True)
    onehot = KBinsDiscretizer(n_bins=4, encode="onehot", strategy="quantile")
    X_sparse = scipy.sparse.csr_matrix(onehot.fit_transform(X))
    X_train, X_test, y_train, y_test = train_test_split(X_sparse, y, random_state=0)
    write_recordio_protobuf(directory / "train.pbr", X_train, y_train)
    write_libsvm(directory / "test.libsvm", X_test, y_test)
    return {"train": directory / "train.pbr", "test": directory / "test.libsvm"}


@pytest.fixture(scope="module")
def ratings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A synthetic recommender: user and item one-hot, rating = biases + <p_user, q_item>."""
    directory = tmp_path_factory.mktemp("ratings")
    rng = np.random.default_rng(0)
    n_users, n_items, n = 20, 15, 800
    users, items = rng.integers(0, n_users, n), rng.integers(0, n_items, n)
    p, q = rng.normal(size=(n_users, 3)), rng.normal(size=(n_items, 3))
    y = 0.3 * rng.normal(size=n_users)[users] + np.sum(p[users] * q[items], axis=1)
    y += 0.1 * rng.normal(size=n)
    rows = np.repeat(np.arange(n), 2)
    columns = np.column_stack([users, n_users + items]).ravel()
    X = scipy.sparse.csr_matrix((np.ones(2 * n), (rows, columns)), shape=(n, n_users + n_items))
    X_train, X_rest, y_train, y_rest = train_test_split(X, y, test_size=0.4, random_state=0)
    X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, test_size=0.5, random_state=0)
    channels = {name: directory / f"{name}.libsvm" for name in ("train", "validation", "test")}
    write_libsvm(channels["train"], X_train, y_train)
    write_libsvm(channels["validation"], X_val, y_val)
    write_libsvm(channels["test"], X_test, y_test)
    return channels


BINARY = {
    "predictor_type": "binary_classifier",
    "feature_dim": "120",
    "num_factors": "4",
    "epochs": "4",
    "mini_batch_size": "32",
    "linear_lr": "0.02",
    "factors_lr": "0.005",
}
REGRESSOR = {
    "predictor_type": "regressor",
    "feature_dim": "35",
    "num_factors": "4",
    "epochs": "15",
    "mini_batch_size": "32",
    "bias_lr": "0.05",
    "linear_lr": "0.05",
    "factors_lr": "0.05",
    "factors_init_sigma": "0.1",
}


def test_defaults_are_amts() -> None:
    """Names and required ones: tests/contracts; the documented defaults here."""
    defaults = parse_hyperparameters(
        ALGORITHM.hyperparameters,
        {"feature_dim": "10", "num_factors": "2", "predictor_type": "regressor"},
    )
    assert (defaults["bias_lr"], defaults["linear_lr"], defaults["factors_lr"]) == (
        0.1,
        0.001,
        0.0001,
    )
    assert (defaults["bias_wd"], defaults["linear_wd"], defaults["factors_wd"]) == (
        0.01,
        0.001,
        0.00001,
    )
    assert defaults["factors_init_sigma"] == 0.001
    assert defaults["epochs"] == 1
    assert defaults["bias_init_method"] == "normal"


def test_amt_objective_metrics_have_their_directions() -> None:
    assert METRICS["test:rmse"] == "Minimize"
    assert METRICS["test:binary_classification_accuracy"] == "Maximize"
    assert METRICS["test:binary_classification_cross_entropy"] == "Minimize"
    assert METRICS["test:binary_f_beta"] == "Maximize"


def test_classifier_on_sparse_one_hot_data_beats_the_majority_class(
    cancer: dict[str, Path], tmp_path: Path
) -> None:
    ctx = FakeContext(tmp_path)
    ALGORITHM.train({**BINARY, "_tuning_objective_metric": "test:binary_f_beta"}, cancer, ctx)
    assert ctx.epochs == [1, 2, 3, 4]
    for _, metrics in ctx.reports:
        assert set(metrics) <= set(METRICS)
        assert "train:binary_classification_cross_entropy" in metrics
    losses = [m["train:binary_classification_cross_entropy"] for _, m in ctx.reports]
    assert losses[-1] < losses[0]
    y_test = load_channel(cancer["test"])[1]
    majority = max(y_test.mean(), 1 - y_test.mean())
    assert ctx.last("test:binary_classification_accuracy") > majority + 0.2
    assert ctx.last("test:binary_f_beta") > 0.9
    assert "test:binary_classification_accuracy" not in ctx.reports[0][1]  # final only


def test_regressor_learns_interactions_and_beats_the_mean(
    ratings: dict[str, Path], tmp_path: Path
) -> None:
    ctx = FakeContext(tmp_path)
    ALGORITHM.train(REGRESSOR, ratings, ctx)
    assert ctx.epochs == list(range(1, 16))
    assert all("validation:rmse" in metrics for _, metrics in ctx.reports)
    y_train, y_test = load_channel(ratings["train"])[1], load_channel(ratings["test"])[1]
    baseline = float(np.sqrt(np.mean((y_test - y_train.mean()) ** 2)))
    assert ctx.last("test:rmse") < 0.6 * baseline
    X_test, _ = load_channel(ratings["test"])
    rmse = float(np.sqrt(np.mean((load(tmp_path).predict(X_test) - y_test) ** 2)))
    assert rmse == pytest.approx(ctx.last("test:rmse"), rel=1e-4)


def test_same_seed_gives_identical_reports_and_another_seed_differs(
    cancer: dict[str, Path], tmp_path: Path
) -> None:
    def run(seed: str, name: str) -> list[tuple[int, dict[str, float]]]:
        ctx = FakeContext(tmp_path / name)
        ALGORITHM.train({**BINARY, "epochs": "2", "seed": seed}, cancer, ctx)
        return ctx.reports

    assert run("3", "a") == run("3", "b")
    assert run("3", "c") != run("4", "d")


def test_saved_model_loads_and_predicts_like_the_reported_metrics(
    cancer: dict[str, Path], tmp_path: Path
) -> None:
    ctx = FakeContext(tmp_path)
    ALGORITHM.train(BINARY, cancer, ctx)
    X_test, y_test = load_channel(cancer["test"])
    model = load(tmp_path)
    assert model.feature_dim == 120
    predicted = model.predict(X_test)
    assert set(np.unique(predicted)) <= {0.0, 1.0}
    accuracy = float(np.mean(predicted == y_test))
    assert accuracy == pytest.approx(
        ctx.last("test:binary_classification_accuracy"), abs=1.5 / y_test.size
    )
    scores = ALGORITHM.load(tmp_path / MODEL_FILENAME).predict_scores(X_test.toarray())
    assert ((scores > 0) & (scores < 1)).all()


def test_rescale_grad_and_constant_initialisation_are_applied(
    cancer: dict[str, Path], tmp_path: Path
) -> None:
    hp = {
        **BINARY,
        "rescale_grad": "0",  # no gradient, and no weight decay: nothing moves
        **{f"{term}_wd": "0" for term in ("bias", "linear", "factors")},
        **{f"{term}_init_method": "constant" for term in ("bias", "linear", "factors")},
        "bias_init_value": "0.25",
        "clip_gradient": "1.0",
    }
    ALGORITHM.train(hp, cancer, FakeContext(tmp_path))
    X_test, _ = load_channel(cancer["test"])
    np.testing.assert_allclose(load(tmp_path).predict_scores(X_test), 1 / (1 + np.exp(-0.25)))


def test_uniform_initialisation_and_clipping_train(
    cancer: dict[str, Path], tmp_path: Path
) -> None:
    hp = {
        **BINARY,
        "epochs": "2",
        "factors_init_method": "uniform",
        "factors_init_scale": "0.05",
        "linear_init_method": "uniform",  # no scale: the sigma is the bound
        "clip_gradient": "0.01",
        "eps": "1e-6",
    }
    ctx = FakeContext(tmp_path)
    ALGORITHM.train(hp, cancer, ctx)
    assert ctx.epochs == [1, 2]
    assert np.abs(load(tmp_path).factors).max() < 0.05 + 2 * 0.005 * 2 * 8  # bound + Adam steps


@pytest.mark.parametrize(
    ("hyperparameters", "match"),
    [
        ({"num_factors": "0"}, "'num_factors'"),
        ({"predictor_type": "multiclass_classifier"}, "'predictor_type'"),
        ({"bias_init_method": "xavier"}, "'bias_init_method'"),
        ({"factors_lr": "-1"}, "'factors_lr'"),
        ({"eps": "-1e-8"}, "'eps'"),
        ({"learning_rate": "0.1"}, "'learning_rate' is not known"),
        ({"_tuning_objective_metric": "test:rmse"}, "binary_classifier does not report rmse"),
        ({"_tuning_objective_metric": "validation:binary_f_beta"}, "needs a 'validation' channel"),
        ({"_tuning_objective_metric": "test:auc"}, "not a metric of factorization-machines"),
    ],
)
def test_bad_hyperparameters_are_named(
    cancer: dict[str, Path], tmp_path: Path, hyperparameters: dict[str, str], match: str
) -> None:
    with pytest.raises(HyperparameterError, match=match):
        ALGORITHM.train({**BINARY, **hyperparameters}, cancer, FakeContext(tmp_path))


def test_data_wider_than_feature_dim_is_a_clear_error(
    cancer: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="train channel has 120 features but feature_dim is 100"):
        ALGORITHM.train({**BINARY, "feature_dim": "100"}, cancer, FakeContext(tmp_path))


def test_dense_input_and_bad_labels(tmp_path: Path) -> None:
    X = np.eye(4)
    write_csv(tmp_path / "train.csv", X, np.array([0.0, 1.0, 1.0, 0.0]))
    ctx = FakeContext(tmp_path / "out")
    hp = {**BINARY, "feature_dim": "4", "epochs": "1"}
    ALGORITHM.train(hp, {"train": tmp_path / "train.csv"}, ctx)
    assert ctx.epochs == [1]
    write_csv(tmp_path / "bad.csv", X, np.array([0.0, 1.0, 3.0, 0.0]))
    with pytest.raises(InputError, match=r"label 3 \(row 3\) is out of range"):
        ALGORITHM.train(hp, {"train": tmp_path / "bad.csv"}, ctx)
