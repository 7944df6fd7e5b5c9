"""Tests for the built-in Random Cut Forest: scores, the three-sigma rule, inputs, tuning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from algorithm_context import FakeContext
from cli_job import run_and_describe
from sklearn.ensemble import IsolationForest
from sklearn.metrics import f1_score, roc_auc_score

from algorithms import HyperparameterError, get_algorithm
from algorithms.base import InputError, parse_hyperparameters
from algorithms.data import write_csv
from algorithms.random_cut_forest import (
    ALGORITHM,
    MODEL_FILENAME,
    anomalies,
    build_forest,
    classification_metrics,
    load,
)
from algorithms.recordio import write_recordio_protobuf

OBJECTIVE = {"_tuning_objective_metric": "test:f1"}


def _planted(seed: int, n: int, d: int = 6, share: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Correlated Gaussian rows, ``share`` of them pushed far off: (X, 0/1 anomaly labels)."""
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(99).normal(size=(d, d))
    X = rng.normal(size=(n, d)) @ mixing
    labels = np.zeros(n)
    planted = rng.choice(n, int(n * share), replace=False)
    labels[planted] = 1
    X[planted] += rng.normal(size=(planted.size, d)) * 4 * X.std(axis=0)
    return X, labels


def _unlabelled_csv(path: Path, X: np.ndarray) -> Path:
    """SageMaker's RCF train CSV: features only, no label column."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, X, delimiter=",", fmt="%.17g")
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    X_train, _ = _planted(0, 3000)
    X_test, y_test = _planted(1, 2000)
    folder = tmp_path_factory.mktemp("planted")
    channels = {"train": _unlabelled_csv(folder / "train.csv", X_train), "test": folder / "t.csv"}
    write_csv(channels["test"], X_test, y_test)
    return {"channels": channels, "X_train": X_train, "X_test": X_test, "y_test": y_test}


HP = {"feature_dim": "6", "num_trees": "100", "num_samples_per_tree": "256"}


def _train(hp: dict[str, str], channels: dict[str, Path], out: Path) -> FakeContext:
    ctx = FakeContext(out)
    ALGORITHM.train(hp, channels, ctx)
    return ctx


# -- contract details ----------------------------------------------------------------------------


def test_amt_metric_defaults_and_image_alias() -> None:
    assert ALGORITHM.metrics == {"test:f1": "Maximize"}
    defaults = parse_hyperparameters(ALGORITHM.hyperparameters, {"feature_dim": "3"})
    assert defaults["num_trees"] == 100
    assert defaults["num_samples_per_tree"] == 256
    assert json.loads(defaults["eval_metrics"]) == ["accuracy", "precision_recall_fscore"]
    image = "174872318107.dkr.ecr.us-west-2.amazonaws.com/randomcutforest:1"
    assert get_algorithm(image) is ALGORITHM


def test_reports_once_with_the_test_metrics_and_saves_the_model(
    planted: dict, tmp_path: Path
) -> None:
    ctx = _train({**HP, **OBJECTIVE}, planted["channels"], tmp_path)
    assert ctx.epochs == [1]
    assert set(ctx.reports[0][1]) == {"test:f1", "test:precision", "test:recall", "test:accuracy"}
    assert (tmp_path / MODEL_FILENAME).is_file()
    only_accuracy = _train({**HP, "eval_metrics": '["accuracy"]'}, planted["channels"], tmp_path)
    assert set(only_accuracy.reports[0][1]) == {"test:accuracy"}
    no_test = _train(HP, {"train": planted["channels"]["train"]}, tmp_path)
    assert no_test.reports == [(1, {})]


# -- quality and scores --------------------------------------------------------------------------


def test_planted_anomalies_found_as_well_as_isolation_forest(
    planted: dict, tmp_path: Path
) -> None:
    """Both with 100 trees of 256 samples, both thresholded by the same three-sigma rule."""
    ctx = _train({**HP, **OBJECTIVE}, planted["channels"], tmp_path)
    ours = load(tmp_path).score(planted["X_test"])
    iso = IsolationForest(n_estimators=100, max_samples=256, random_state=0)
    theirs = -iso.fit(planted["X_train"]).score_samples(planted["X_test"])
    y = planted["y_test"]
    their_f1 = f1_score(y, anomalies(theirs))
    assert ctx.last("test:f1") >= their_f1 - 0.05
    assert ctx.last("test:f1") > 0.7
    assert roc_auc_score(y, ours) >= roc_auc_score(y, theirs) - 0.01
    assert roc_auc_score(y, ours) > 0.95


def test_an_obvious_outlier_scores_far_above_inliers() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2000, 3))
    forest = build_forest(X, 50, 256, np.random.default_rng(0))
    inliers = forest.score(rng.normal(size=(500, 3)) * 0.5)
    outlier = forest.score(np.array([[40.0, -40.0, 40.0]]))[0]
    assert outlier > 4 * np.median(inliers)
    # Mostly separated at the root, which scores log2(256 + 1) bits, the largest score there is.
    assert 0.8 * np.log2(257) < outlier <= np.log2(257)
    assert 0.3 < np.median(inliers) < 1.5


def test_the_same_data_and_hyperparameters_give_the_same_forest(
    planted: dict, tmp_path: Path
) -> None:
    _train(HP, planted["channels"], tmp_path / "a")
    _train(HP, planted["channels"], tmp_path / "b")
    X = planted["X_test"][:200]
    np.testing.assert_array_equal(load(tmp_path / "a").predict(X), load(tmp_path / "b").score(X))


def test_every_tree_is_a_valid_random_cut_tree() -> None:
    X = np.random.default_rng(5).normal(size=(1000, 4))
    X[:20] = X[0]  # duplicates end in one leaf holding them all
    forest = build_forest(X, 50, 128, np.random.default_rng(1))
    inner = np.flatnonzero(forest.left >= 0)
    left, right = forest.left[inner], forest.right[inner]
    assert np.array_equal(forest.mass[inner], forest.mass[left] + forest.mass[right])
    for child in (left, right):
        assert (forest.lo[child] >= forest.lo[inner]).all()
        assert (forest.hi[child] <= forest.hi[inner]).all()
    assert (forest.cut_value[inner] < forest.hi[inner, forest.cut_dim[inner]]).all()
    leaves = np.flatnonzero(forest.left < 0)
    assert np.array_equal(forest.lo[leaves], forest.hi[leaves])  # a leaf is one point
    assert np.array_equal(forest.mass[forest.roots], np.full(50, 128))


# -- the three-sigma rule ------------------------------------------------------------------------


def test_three_sigma_rule_on_hand_made_scores() -> None:
    # One 10 among nine 0s: mean 1, std 3, so 10 is exactly 3 sigma above: not "more than".
    assert not anomalies(np.r_[np.zeros(9), 10.0]).any()
    # One 10 among ten 0s: mean 0.909, std 2.875, threshold 9.53: 10 is anomalous.
    assert anomalies(np.r_[np.zeros(10), 10.0]).tolist() == [False] * 10 + [True]
    # Low scores are never anomalous, however far below the mean.
    assert not anomalies(np.r_[np.ones(50), -100.0]).any()
    assert anomalies(np.r_[np.ones(50), 100.0], sigmas=1.0)[-1]


def test_metrics_of_predictions() -> None:
    predicted = np.array([1, 1, 0, 0, 1], dtype=bool)
    labels = np.array([1, 0, 0, 1, 1])
    metrics = classification_metrics(predicted, labels, ("accuracy", "precision_recall_fscore"))
    assert metrics == pytest.approx(
        {"test:accuracy": 0.6, "test:precision": 2 / 3, "test:recall": 2 / 3, "test:f1": 2 / 3}
    )
    none = classification_metrics(np.zeros(3, bool), np.zeros(3), ("precision_recall_fscore",))
    assert none == {"test:precision": 0.0, "test:recall": 0.0, "test:f1": 0.0}


def test_the_threshold_comes_from_the_test_scores(tmp_path: Path) -> None:
    """Test points all a little off the training data, three far off (the anomalies): with the
    training scores' mean and std every test point would be flagged; with the test scores',
    only the three are."""
    rng = np.random.default_rng(7)
    X_train = rng.normal(size=(2000, 3))
    X_test = rng.normal(size=(300, 3)) * 0.3 + 3.0
    X_test[:3] = [[30.0, -30.0, 30.0], [-30.0, 30.0, 30.0], [30.0, 30.0, -30.0]]
    y_test = np.r_[np.ones(3), np.zeros(297)]
    channels = {"train": _unlabelled_csv(tmp_path / "train.csv", X_train), "test": tmp_path / "t"}
    write_csv(channels["test"], X_test, y_test)
    ctx = _train({"feature_dim": "3", "num_trees": "50"}, channels, tmp_path / "out")
    assert ctx.last("test:f1") == 1.0
    forest = load(tmp_path / "out")
    train_scores = forest.score(X_train)
    by_train = forest.score(X_test) > train_scores.mean() + 3 * train_scores.std()
    assert by_train.mean() > 0.9  # the rule SageMaker documents is not this one


# -- hyperparameters and inputs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("feature_dim", "0"),
        ("feature_dim", "10001"),
        ("num_trees", "49"),
        ("num_trees", "1001"),
        ("num_samples_per_tree", "0"),
        ("num_samples_per_tree", "2049"),
        ("num_samples_per_tree", "1.5"),
        ("eval_metrics", '["auc"]'),
        ("eval_metrics", "[]"),
    ],
)
def test_bad_hyperparameters_are_named(
    name: str, value: str, planted: dict, tmp_path: Path
) -> None:
    with pytest.raises(HyperparameterError, match=f"'{name}'"):
        _train({**HP, name: value}, planted["channels"], tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        '["accuracy", "precision_recall_fscore"]',
        "['accuracy', 'precision_recall_fscore']",
        "accuracy,precision_recall_fscore",
        "[accuracy, precision_recall_fscore]",
    ],
)
def test_eval_metrics_string_forms(text: str, planted: dict, tmp_path: Path) -> None:
    ctx = _train({**HP, "num_trees": "50", "eval_metrics": text}, planted["channels"], tmp_path)
    assert set(ctx.reports[0][1]) == {"test:f1", "test:precision", "test:recall", "test:accuracy"}


def test_hyperparameters_that_do_not_fit_the_data_are_named(planted: dict, tmp_path: Path) -> None:
    with pytest.raises(HyperparameterError, match="'feature_dim' is 4 but the train channel"):
        _train({**HP, "feature_dim": "4"}, planted["channels"], tmp_path)
    train_only = {"train": planted["channels"]["train"]}
    with pytest.raises(HyperparameterError, match="needs a labelled 'test' channel"):
        _train({**HP, **OBJECTIVE}, train_only, tmp_path)
    with pytest.raises(HyperparameterError, match="'test:msd' is not a metric"):
        _train({**HP, "_tuning_objective_metric": "test:msd"}, planted["channels"], tmp_path)


def test_bad_rows_name_the_channel_and_the_row(planted: dict, tmp_path: Path) -> None:
    lines = ["1,2,3", "4,5,6", "7,x,9"]
    bad_train = tmp_path / "train.csv"
    bad_train.write_text("\n".join(lines) + "\n")
    hp = {"feature_dim": "3", "num_trees": "50"}
    with pytest.raises(InputError, match=r"train channel: .*line 3, column 2: 'x'"):
        _train(hp, {"train": bad_train}, tmp_path)
    missing = tmp_path / "missing.csv"
    missing.write_text("1,2,3\n4,,6\n")
    with pytest.raises(InputError, match="train channel: row 2 has a missing"):
        _train(hp, {"train": missing}, tmp_path)
    good_train = _unlabelled_csv(tmp_path / "good.csv", np.arange(30.0).reshape(10, 3))
    bad_labels = tmp_path / "test.csv"
    bad_labels.write_text("0,1,2,3\n1,1,2,3\n0,1,2,3\n2,1,2,3\n")
    with pytest.raises(InputError, match="test channel: row 4 has label 2;"):
        _train(hp, {"train": good_train, "test": bad_labels}, tmp_path)
    with pytest.raises(InputError, match="'train' channel"):
        _train(hp, {"test": bad_labels}, tmp_path)


def test_recordio_protobuf_trains_like_csv(planted: dict, tmp_path: Path) -> None:
    X_train, X_test, y_test = planted["X_train"], planted["X_test"], planted["y_test"]
    dense = {"train": tmp_path / "train.pbr", "test": tmp_path / "test.pbr"}
    write_recordio_protobuf(dense["train"], X_train)
    write_recordio_protobuf(dense["test"], X_test, y_test)
    sparse = {"train": tmp_path / "sparse-train.pbr", "test": dense["test"]}
    write_recordio_protobuf(sparse["train"], scipy.sparse.csr_matrix(X_train))
    csv = _train({**HP, **OBJECTIVE}, planted["channels"], tmp_path / "csv")
    for channels in (dense, sparse):
        ctx = _train({**HP, **OBJECTIVE}, channels, tmp_path / channels["train"].stem)
        # Stored as float32, so cuts and scores differ slightly; the verdicts hardly.
        assert ctx.last("test:f1") == pytest.approx(csv.last("test:f1"), abs=0.05)
    unlabelled_test = {"train": dense["train"], "test": dense["train"]}
    with pytest.raises(
        InputError, match="test channel: row 1 has no label; test:f1 needs a label"
    ):
        _train(HP, unlabelled_test, tmp_path)


# -- tuning --------------------------------------------------------------------------------------


def test_tuned_end_to_end_through_the_cli_with_its_training_image(
    planted: dict, tmp_path: Path
) -> None:
    channels = planted["channels"]
    spec = {
        "HyperParameterTuningJobName": "rcf",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "test:f1"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "IntegerParameterRanges": [
                    {"Name": "num_samples_per_tree", "MinValue": "32", "MaxValue": "512"}
                ]
            },
            "RandomSeed": 1,
        },
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {
                "TrainingImage": "382416733822.dkr.ecr.us-east-1.amazonaws.com/randomcutforest:1",
                "TrainingInputMode": "File",
            },
            "StaticHyperParameters": {"feature_dim": "6", "num_trees": "50"},
            "InputDataConfig": [
                {
                    "ChannelName": name,
                    "DataSource": {
                        "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(channels[name])}
                    },
                }
                for name in ("train", "test")
            ],
        },
    }
    described = run_and_describe(spec, tmp_path)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["ObjectiveStatusCounters"]["Succeeded"] == 3
    best = described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert best > 0.7
