"""Tests for the built-in PCA algorithm: modes, model, and its output as another job's input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

torch = pytest.importorskip("torch")

from algorithm_context import FakeContext  # noqa: E402

from algorithms import HyperparameterError  # noqa: E402
from algorithms.base import parse_hyperparameters  # noqa: E402
from algorithms.data import load_channel, write_csv, write_libsvm  # noqa: E402
from algorithms.pca import (  # noqa: E402
    ALGORITHM,
    MODEL_FILENAME,
    REPORTED_METRICS,
    load,
    write_projection,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    directory = tmp_path_factory.mktemp("digits")
    channels = {"train": directory / "train.csv", "test": directory / "test.csv"}
    write_csv(channels["train"], X_train, y_train)
    write_csv(channels["test"], X_test, y_test)
    return channels


PCA10 = {"feature_dim": "64", "mini_batch_size": "100", "num_components": "10"}


def _train(hp: dict[str, str], channels: dict[str, Path], out: Path) -> FakeContext:
    ctx = FakeContext(out)
    ALGORITHM.train(hp, channels, ctx)
    return ctx


def _reference(channel: Path, n_components: int = 10) -> PCA:
    X, _ = load_channel(channel)
    return PCA(n_components).fit(X)


def test_amt_documents_no_objective_metric() -> None:
    assert dict(ALGORITHM.metrics) == {}  # AMT documents no objective metric for PCA


def test_defaults_are_amts() -> None:
    """Names and required ones: tests/contracts; the documented defaults here."""
    defaults = parse_hyperparameters(ALGORITHM.hyperparameters, PCA10)
    assert defaults["algorithm_mode"] == "regular"
    assert defaults["subtract_mean"] is True
    assert defaults["extra_components"] == -1


def test_regular_mode_matches_scikit_learn(digits: dict[str, Path], tmp_path: Path) -> None:
    ctx = _train(PCA10, digits, tmp_path)
    reference = _reference(digits["train"])
    model = load(tmp_path)
    # Same subspace and order; signs may differ component by component.
    np.testing.assert_allclose(np.abs(model.components), np.abs(reference.components_), atol=1e-6)
    np.testing.assert_allclose(
        model.explained_variance_ratio, reference.explained_variance_ratio_, rtol=1e-6
    )
    assert ctx.reports == [
        (
            1,
            {
                "train:explained_variance_ratio": pytest.approx(
                    reference.explained_variance_ratio_.sum()
                )
            },
        )
    ]
    assert set(ctx.reports[0][1]) <= set(REPORTED_METRICS)


def test_randomized_mode_is_close_to_the_exact_one(
    digits: dict[str, Path], tmp_path: Path
) -> None:
    _train({**PCA10, "algorithm_mode": "randomized"}, digits, tmp_path)
    model = load(tmp_path)
    reference = _reference(digits["train"])
    assert model.explained_variance_ratio.sum() == pytest.approx(
        reference.explained_variance_ratio_.sum(), rel=0.01
    )
    # The leading components are found almost exactly.
    overlap = np.abs(np.sum(model.components[:3] * reference.components_[:3], axis=1))
    assert (overlap > 0.99).all()


def test_extra_components_improve_the_randomized_sketch(
    digits: dict[str, Path], tmp_path: Path
) -> None:
    ratios = []
    for extra in ("0", "30"):
        hp = {**PCA10, "algorithm_mode": "randomized", "extra_components": extra}
        _train(hp, digits, tmp_path / extra)
        ratios.append(load(tmp_path / extra).explained_variance_ratio.sum())
    assert ratios[1] >= ratios[0]


def test_without_subtract_mean_the_data_are_not_centred(
    digits: dict[str, Path], tmp_path: Path
) -> None:
    _train({**PCA10, "subtract_mean": "false"}, digits, tmp_path)
    model = load(tmp_path)
    assert not model.mean.any()
    X, _ = load_channel(digits["train"])
    np.testing.assert_allclose(model.transform(X[:5]), X[:5] @ model.components.T)


def test_components_are_orthonormal_and_deterministic(
    digits: dict[str, Path], tmp_path: Path
) -> None:
    hp = {**PCA10, "algorithm_mode": "randomized"}
    _train(hp, digits, tmp_path / "a")
    _train(hp, digits, tmp_path / "b")
    a, b = load(tmp_path / "a"), load(tmp_path / "b")
    np.testing.assert_array_equal(a.components, b.components)
    np.testing.assert_allclose(a.components @ a.components.T, np.eye(10), atol=1e-8)
    largest = np.abs(a.components).argmax(axis=1)
    assert (a.components[np.arange(10), largest] > 0).all()  # sign convention


def test_projection_feeds_knn_and_kmeans(digits: dict[str, Path], tmp_path: Path) -> None:
    from algorithms import kmeans, knn

    _train(PCA10, digits, tmp_path / "pca")
    projected = {
        name: write_projection(tmp_path / "pca", channel, tmp_path / "projected" / f"{name}.csv")
        for name, channel in digits.items()
    }
    X, y = load_channel(projected["train"])
    _, y_original = load_channel(digits["train"])
    assert X.shape[1] == 10
    np.testing.assert_array_equal(y, y_original)  # labels carried over, first column

    ctx = FakeContext(tmp_path / "knn")
    hp = {"feature_dim": "10", "k": "5", "predictor_type": "classifier", "sample_size": "5000"}
    knn.ALGORITHM.train(hp, projected, ctx)
    assert ctx.reports[0][1]["test:accuracy"] > 0.9  # majority class: about 0.11

    results = {}
    for k in ("1", "10"):
        ctx = FakeContext(tmp_path / f"kmeans{k}")
        hp = {"feature_dim": "10", "k": k, "mini_batch_size": "200", "init_method": "kmeans++"}
        kmeans.ALGORITHM.train(hp, projected, ctx)
        results[k] = ctx.reports[-1][1]["test:msd"]
    assert results["10"] < results["1"]


def test_saved_model_transforms_like_the_algorithm(
    digits: dict[str, Path], tmp_path: Path
) -> None:
    _train(PCA10, digits, tmp_path)
    X, _ = load_channel(digits["test"])
    projected = load(tmp_path).transform(X)
    assert projected.shape == (X.shape[0], 10)
    np.testing.assert_array_equal(ALGORITHM.transform(tmp_path / MODEL_FILENAME, X), projected)
    np.testing.assert_array_equal(load(tmp_path).predict(X), projected)
    reference = _reference(digits["train"])
    signs = np.sign(np.sum(load(tmp_path).components * reference.components_, axis=1))
    np.testing.assert_allclose(projected, reference.transform(X) * signs, atol=1e-6)


def test_sparse_input_is_projected_like_dense(tmp_path: Path) -> None:
    X, y = load_digits(return_X_y=True)
    write_libsvm(tmp_path / "train.libsvm", X, y)
    write_csv(tmp_path / "train.csv", X, y)
    _train(PCA10, {"train": tmp_path / "train.libsvm"}, tmp_path / "sparse")
    _train(PCA10, {"train": tmp_path / "train.csv"}, tmp_path / "dense")
    sparse, dense = load(tmp_path / "sparse"), load(tmp_path / "dense")
    np.testing.assert_allclose(sparse.components, dense.components, atol=1e-8)
    X_sparse, _ = load_channel(tmp_path / "train.libsvm")
    np.testing.assert_allclose(sparse.transform(X_sparse), dense.transform(X), atol=1e-8)


@pytest.mark.parametrize(
    ("hyperparameters", "match"),
    [
        ({"num_components": "65"}, "'num_components'.*at most feature_dim"),
        ({"num_components": "0"}, "'num_components'"),
        ({"algorithm_mode": "incremental"}, "'algorithm_mode'"),
        ({"extra_components": "-2"}, "'extra_components'"),
        ({"subtract_mean": "maybe"}, "'subtract_mean'"),
        ({"feature_dim": "63"}, "'feature_dim' is 63 but the train channel has 64"),
        ({"_tuning_objective_metric": "test:msd"}, "PCA has no objective metric"),
    ],
)
def test_bad_hyperparameters_are_named(
    digits: dict[str, Path], tmp_path: Path, hyperparameters: dict[str, str], match: str
) -> None:
    with pytest.raises(HyperparameterError, match=match):
        _train({**PCA10, **hyperparameters}, digits, tmp_path)
