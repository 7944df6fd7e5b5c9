"""Tests for the built-in k-NN algorithm: hyperparameters, exact search, metrics, model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits, load_iris
from sklearn.model_selection import train_test_split

torch = pytest.importorskip("torch")

from algorithm_context import FakeContext

from algorithms import HyperparameterError  # noqa: E402
from algorithms.base import InputError, parse_hyperparameters  # noqa: E402
from algorithms.data import load_channel, write_csv  # noqa: E402
from algorithms.knn import ALGORITHM, MODEL_FILENAME, KNNModel, fjlt, load  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _write_split(directory: Path, X: np.ndarray, y: np.ndarray) -> dict[str, Path]:
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    channels = {"train": directory / "train.csv", "test": directory / "test.csv"}
    write_csv(channels["train"], X_train, y_train)
    write_csv(channels["test"], X_test, y_test)
    return channels


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    X, y = load_iris(return_X_y=True)
    return _write_split(tmp_path_factory.mktemp("iris"), X, y)


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    X, y = load_digits(return_X_y=True)
    return _write_split(tmp_path_factory.mktemp("digits"), X, y)


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    X, y = load_diabetes(return_X_y=True)
    return _write_split(tmp_path_factory.mktemp("diabetes"), X, y)


IRIS = {"feature_dim": "4", "k": "5", "predictor_type": "classifier", "sample_size": "500"}
DIGITS = {"feature_dim": "64", "k": "5", "predictor_type": "classifier", "sample_size": "2000"}


def _majority_rate(channel: Path) -> float:
    _, y = load_channel(channel)
    return float(np.bincount(y.astype(int)).max() / len(y))


def _train(hp: dict[str, str], channels: dict[str, Path], out: Path) -> FakeContext:
    ctx = FakeContext(out)
    ALGORITHM.train(hp, channels, ctx)
    return ctx


def test_amt_metrics_have_their_directions() -> None:
    assert dict(ALGORITHM.metrics) == {"test:accuracy": "Maximize", "test:mse": "Minimize"}


def test_defaults_are_amts() -> None:
    """Names and required ones: tests/contracts; the documented defaults here."""
    defaults = parse_hyperparameters(ALGORITHM.hyperparameters, IRIS)
    assert defaults["index_type"] == "faiss.Flat"
    assert defaults["index_metric"] == "L2"
    assert defaults["mini_batch_size"] == 5000
    assert defaults["dimension_reduction_type"] is None
    assert defaults["faiss_index_ivf_nlists"] is None  # auto


def test_auto_or_integer_hyperparameter_parses_both() -> None:
    spec = ALGORITHM.hyperparameters["faiss_index_ivf_nlists"]
    assert spec.kind == "int"  # so an IntegerParameterRange may tune it
    assert spec.parse("faiss_index_ivf_nlists", "auto") is None
    assert spec.parse("faiss_index_ivf_nlists", "16") == 16
    with pytest.raises(ValueError, match="'auto' or an integer >= 1"):
        spec.parse("faiss_index_ivf_nlists", "0")


def test_classifier_beats_the_majority_class_on_iris(
    iris: dict[str, Path], tmp_path: Path
) -> None:
    hp = {**IRIS, "_tuning_objective_metric": "test:accuracy"}
    ctx = _train(hp, iris, tmp_path)
    assert [epoch for epoch, _ in ctx.reports] == [1]  # k-NN has no epochs: one report
    ((_, metrics),) = ctx.reports
    assert set(metrics) == {"test:accuracy"}
    assert all(name in ALGORITHM.metrics for name in metrics)
    assert metrics["test:accuracy"] > max(0.9, _majority_rate(iris["test"]))
    assert (tmp_path / MODEL_FILENAME).is_file()


def test_regressor_beats_predicting_the_mean_on_diabetes(
    diabetes: dict[str, Path], tmp_path: Path
) -> None:
    hp = {"feature_dim": "10", "k": "10", "predictor_type": "regressor", "sample_size": "1000"}
    ctx = _train(hp, diabetes, tmp_path)
    _, y_train = load_channel(diabetes["train"])
    _, y_test = load_channel(diabetes["test"])
    baseline = float(np.mean((y_test - y_train.mean()) ** 2))
    assert set(ctx.reports[0][1]) == {"test:mse"}
    assert ctx.reports[0][1]["test:mse"] < baseline


@pytest.mark.parametrize("reduction", ["sign", "fjlt"])
def test_dimension_reduction_keeps_digits_separable(
    digits: dict[str, Path], tmp_path: Path, reduction: str
) -> None:
    hp = {**DIGITS, "dimension_reduction_type": reduction, "dimension_reduction_target": "24"}
    ctx = _train(hp, digits, tmp_path)
    assert ctx.reports[0][1]["test:accuracy"] > 0.9  # majority class: about 0.11
    assert load(tmp_path).points.shape[1] == 24


def test_fjlt_with_every_coordinate_is_an_isometry() -> None:
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.normal(size=(5, 6)), dtype=torch.float64)
    signs = rng.choice([-1.0, 1.0], size=8)
    y = fjlt(x, signs, np.arange(8))
    torch.testing.assert_close(torch.cdist(y, y), torch.cdist(x, x))


@pytest.mark.parametrize("metric", ["COSINE", "INNER_PRODUCT"])
def test_other_index_metrics_run(digits: dict[str, Path], tmp_path: Path, metric: str) -> None:
    ctx = _train({**DIGITS, "index_metric": metric}, digits, tmp_path)
    accuracy = ctx.reports[0][1]["test:accuracy"]
    assert accuracy > _majority_rate(digits["test"])
    if metric == "COSINE":
        assert accuracy > 0.9


@pytest.mark.parametrize("index_type", ["faiss.IVFFlat", "faiss.IVFPQ"])
def test_approximate_index_types_search_exactly(
    iris: dict[str, Path], tmp_path: Path, index_type: str
) -> None:
    flat = _train(IRIS, iris, tmp_path / "flat")
    hp = {**IRIS, "index_type": index_type, "faiss_index_ivf_nlists": "4"}
    if index_type == "faiss.IVFPQ":
        hp["faiss_index_pq_m"] = "2"
    other = _train(hp, iris, tmp_path / "other")
    assert other.reports == flat.reports
    X, _ = load_channel(iris["test"])
    np.testing.assert_array_equal(
        load(tmp_path / "other").predict(X), load(tmp_path / "flat").predict(X)
    )


def test_predictions_match_brute_force_numpy(iris: dict[str, Path], tmp_path: Path) -> None:
    _train({**IRIS, "k": "1"}, iris, tmp_path)
    model = load(tmp_path)
    X_train, y_train = load_channel(iris["train"])
    X_test, _ = load_channel(iris["test"])
    distances = ((X_test[:, None, :] - X_train[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(model.predict(X_test), y_train[np.argmin(distances, axis=1)])


@pytest.mark.parametrize("metric", ["L2", "INNER_PRODUCT", "COSINE"])
@pytest.mark.parametrize("n_points", [100, 3001])  # plain search; grouped search with padding
def test_kneighbors_equal_an_exhaustive_search(metric: str, n_points: int) -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(n_points, 6)).astype(np.float32)
    queries = rng.normal(size=(700, 6)).astype(np.float32)
    model = KNNModel(
        points=points,
        labels=np.zeros(n_points),
        k=7,
        predictor_type="classifier",
        index_metric=metric,
        feature_dim=6,
    )
    p, q = points.astype(np.float64), queries.astype(np.float64)
    if metric == "L2":
        nearness = -((q[:, None, :] - p[None, :, :]) ** 2).sum(axis=2)
    elif metric == "COSINE":
        unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
        nearness = unit(q) @ unit(p).T
    else:
        nearness = q @ p.T
    expected = np.argsort(-nearness, axis=1, kind="stable")[:, :7]
    found = model.kneighbors(queries)
    assert found.shape == (700, 7)
    np.testing.assert_array_equal(np.sort(found, axis=1), np.sort(expected, axis=1))
    # best first
    chosen = np.take_along_axis(nearness, found, axis=1)
    assert (np.diff(chosen, axis=1) <= 1e-4).all()


def test_tied_votes_go_to_the_nearest_neighbours_label(tmp_path: Path) -> None:
    X = np.array([[0.0], [1.0], [3.0], [4.0]])
    y = np.array([7.0, 2.0, 2.0, 7.0])
    write_csv(tmp_path / "train.csv", X, y)
    hp = {"feature_dim": "1", "k": "2", "predictor_type": "classifier", "sample_size": "4"}
    _train(hp, {"train": tmp_path / "train.csv"}, tmp_path / "out")
    model = load(tmp_path / "out")
    # 0.4: neighbours 0.0 (label 7) and 1.0 (label 2), one vote each; 0.0 is nearer.
    np.testing.assert_array_equal(model.predict(np.array([[0.4], [0.6], [3.4]])), [7, 2, 2])


def test_sample_size_limits_the_index_and_is_seeded(
    digits: dict[str, Path], tmp_path: Path
) -> None:
    hp = {**DIGITS, "sample_size": "300", "dimension_reduction_type": "fjlt"}
    hp["dimension_reduction_target"] = "16"
    runs = [_train(hp, digits, tmp_path / name) for name in ("a", "b")]
    assert runs[0].reports == runs[1].reports
    a, b = load(tmp_path / "a"), load(tmp_path / "b")
    assert a.points.shape == (300, 16)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_saved_model_reproduces_the_reported_accuracy(
    digits: dict[str, Path], tmp_path: Path
) -> None:
    ctx = _train(DIGITS, digits, tmp_path)
    X, y = load_channel(digits["test"])
    from_dir = load(tmp_path).predict(X)
    from_file = ALGORITHM.load(tmp_path / MODEL_FILENAME).predict(X)
    np.testing.assert_array_equal(from_dir, from_file)
    assert float(np.mean(from_dir == y)) == ctx.reports[0][1]["test:accuracy"]


def test_without_a_test_channel_nothing_is_reported(iris: dict[str, Path], tmp_path: Path) -> None:
    ctx = _train(IRIS, {"train": iris["train"]}, tmp_path)
    assert ctx.reports == []
    assert (tmp_path / MODEL_FILENAME).is_file()


@pytest.mark.parametrize(
    ("hyperparameters", "match"),
    [
        ({"k": "0"}, "'k'"),
        ({"predictor_type": "ranker"}, "'predictor_type'"),
        ({"dimension_reduction_type": "pca"}, "'dimension_reduction_type'"),
        ({"dimension_reduction_type": "sign"}, "'dimension_reduction_target' is required"),
        (
            {"dimension_reduction_type": "sign", "dimension_reduction_target": "4"},
            "less than feature_dim",
        ),
        ({"faiss_index_ivf_nlists": "many"}, "'faiss_index_ivf_nlists'"),
        ({"faiss_index_pq_m": "5"}, "'faiss_index_pq_m'"),
        ({"index_type": "faiss.IVFPQ", "index_metric": "COSINE"}, "not supported with"),
        ({"index_type": "faiss.HNSW"}, "'index_type'"),
        ({"_tuning_objective_metric": "test:mse"}, "needs predictor_type regressor"),
        ({"_tuning_objective_metric": "test:rmse"}, "not a metric of k-NN"),
        ({"neighbours": "3"}, "'neighbours' is not known"),
    ],
)
def test_bad_hyperparameters_are_named(
    iris: dict[str, Path], tmp_path: Path, hyperparameters: dict[str, str], match: str
) -> None:
    with pytest.raises(HyperparameterError, match=match):
        _train({**IRIS, **hyperparameters}, iris, tmp_path)


def test_feature_dim_must_match_the_data(iris: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(
        HyperparameterError, match="'feature_dim' is 5 but the train channel has 4"
    ):
        _train({**IRIS, "feature_dim": "5"}, iris, tmp_path)


def test_objective_needs_a_test_channel(iris: dict[str, Path], tmp_path: Path) -> None:
    hp = {**IRIS, "_tuning_objective_metric": "test:accuracy"}
    with pytest.raises(HyperparameterError, match="needs a 'test' channel"):
        _train(hp, {"train": iris["train"]}, tmp_path)


def test_missing_feature_values_are_refused(tmp_path: Path) -> None:
    X = np.array([[0.0, 1.0], [1.0, math.nan]])
    write_csv(tmp_path / "train.csv", X, np.array([0.0, 1.0]))
    hp = {"feature_dim": "2", "k": "1", "predictor_type": "classifier", "sample_size": "2"}
    with pytest.raises(InputError, match="row 2 has a missing feature value"):
        _train(hp, {"train": tmp_path / "train.csv"}, tmp_path / "out")
