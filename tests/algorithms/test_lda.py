"""Tests for the built-in LDA algorithm: planted topics recovered, the pwll metric, inputs, errors.

The corpus is drawn from a known topic model (seeded, no downloads): four topics over 60 words,
each topic putting nearly all its mass on its own 15 words, document mixtures from a sparse
Dirichlet. What every algorithm must do (epochs, stops, determinism, a loadable model) is in
tests/contracts/test_algorithm_contract.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from algorithm_context import FakeContext
from cli_job import run_and_describe
from sklearn.decomposition import LatentDirichletAllocation

from algorithms import HyperparameterError, InputError, get_algorithm
from algorithms.base import parse_hyperparameters
from algorithms.lda import (
    ALGORITHM,
    MODEL_FILENAME,
    REPORTED_METRICS,
    LDAModel,
    load,
    per_word_log_likelihood,
    split_counts,
)
from algorithms.recordio import write_recordio_protobuf

N_TOPICS, N_WORDS, WORDS_PER_TOPIC = 4, 60, 15
BASE = {
    "num_topics": str(N_TOPICS),
    "feature_dim": str(N_WORDS),
    "mini_batch_size": "100",
    "max_restarts": "2",
    "max_iterations": "8",
}


def _planted(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(topics, train counts, test counts) drawn from a known LDA model."""
    rng = np.random.default_rng(seed)
    topics = np.full((N_TOPICS, N_WORDS), 0.01 / N_WORDS)
    for k in range(N_TOPICS):
        own = slice(k * WORDS_PER_TOPIC, (k + 1) * WORDS_PER_TOPIC)
        topics[k, own] += rng.dirichlet(np.ones(WORDS_PER_TOPIC))
    topics /= topics.sum(axis=1, keepdims=True)
    mixtures = rng.dirichlet(np.full(N_TOPICS, 0.3), size=550)
    lengths = rng.poisson(60, size=550)
    docs = np.stack(
        [rng.multinomial(n, m @ topics) for n, m in zip(lengths, mixtures, strict=True)]
    )
    return topics, docs[:400].astype(float), docs[400:].astype(float)


def _write_counts(path: Path, counts: np.ndarray) -> Path:
    """SageMaker's LDA CSV: one document per row, feature_dim counts, no label column."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, counts, delimiter=",", fmt="%d")
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    topics, train, test = _planted()
    directory = tmp_path_factory.mktemp("planted")
    channels = {
        "train": _write_counts(directory / "train.csv", train),
        "test": _write_counts(directory / "test.csv", test),
    }
    return {"topics": topics, "train": train, "test": test, "channels": channels}


@pytest.fixture(scope="module")
def trained(planted: dict, tmp_path_factory: pytest.TempPathFactory) -> tuple[FakeContext, Path]:
    """One training run on the planted corpus, shared by the tests that only read it."""
    out = tmp_path_factory.mktemp("trained")
    ctx = _train(BASE, planted["channels"], out)
    return ctx, out


def _train(hp: dict[str, str], channels: dict[str, Path], out: Path, **kwargs) -> FakeContext:
    ctx = FakeContext(out, **kwargs)
    ALGORITHM.train(hp, channels, ctx)
    return ctx


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


def _unigram_pwll(train: np.ndarray, test: np.ndarray) -> float:
    """The same held-out words as test:pwll, scored by word frequencies (add-one smoothed)."""
    _, held_out = split_counts(scipy.sparse.csr_matrix(test))
    frequencies = (train.sum(axis=0) + 1) / (train.sum() + train.shape[1])
    return float(np.asarray(held_out.sum(axis=0)).ravel() @ np.log(frequencies) / held_out.sum())


# -- metrics and hyperparameters -----------------------------------------------------------------


def test_amt_metric_and_direction() -> None:
    assert dict(ALGORITHM.metrics) == {"test:pwll": "Maximize"}  # AMT.md 17: test:pwll, up
    assert REPORTED_METRICS == ("train:pwll",)  # informational, not tunable
    assert get_algorithm("174872318107.dkr.ecr.us-west-2.amazonaws.com/lda:1") is ALGORITHM


def test_defaults_are_sagemakers() -> None:
    """Names and required ones: tests/contracts; SageMaker's documented defaults here."""
    required = {"num_topics": "3", "feature_dim": "10", "mini_batch_size": "50"}
    defaults = parse_hyperparameters(ALGORITHM.hyperparameters, required)
    assert defaults["alpha0"] == 1.0
    assert defaults["max_restarts"] == 10
    assert defaults["max_iterations"] == 1000
    assert defaults["tol"] == 1e-8


# -- quality -------------------------------------------------------------------------------------


def test_planted_topics_are_recovered(planted: dict, trained: tuple[FakeContext, Path]) -> None:
    ctx, out = trained
    model = load(out)
    assert model.topics.shape == (N_TOPICS, N_WORDS)
    best_match = _cosines(planted["topics"], model.topics).max(axis=1)
    assert (best_match > 0.95).all(), best_match
    # one learned topic per planted one, not one learned topic matching two
    assert len(set(_cosines(planted["topics"], model.topics).argmax(axis=1))) == N_TOPICS


def test_pwll_is_reported_every_pass_and_improves(trained: tuple[FakeContext, Path]) -> None:
    ctx, out = trained
    assert ctx.epochs == list(range(1, 9))
    for _, metrics in ctx.reports:
        assert set(metrics) == {"test:pwll", "train:pwll"}
    curve = [metrics["test:pwll"] for _, metrics in ctx.reports]
    assert curve[-1] > curve[0]
    assert (out / MODEL_FILENAME).is_file()


def test_pwll_beats_a_unigram_model_and_matches_scikit_learn(
    planted: dict, trained: tuple[FakeContext, Path]
) -> None:
    ctx, out = trained
    ours = ctx.last("test:pwll")
    test = scipy.sparse.csr_matrix(planted["test"])
    assert load(out).per_word_log_likelihood(test) == pytest.approx(ours)  # the saved model
    assert ours > _unigram_pwll(planted["train"], planted["test"]) + 0.3
    reference = LatentDirichletAllocation(
        N_TOPICS, doc_topic_prior=1.0 / N_TOPICS, learning_method="batch", random_state=0
    ).fit(planted["train"])
    theirs = per_word_log_likelihood(test, reference.components_, np.full(N_TOPICS, 0.25))
    # the same held-out words, scored the same way: perplexities within 3%
    assert np.exp(-ours) <= 1.03 * np.exp(-theirs), (ours, theirs)
    # and close to the planted model itself
    truth = per_word_log_likelihood(test, planted["topics"] * 1e6, np.full(N_TOPICS, 0.3))
    assert ours > truth - 0.05


def test_predict_gives_topic_mixtures(planted: dict, trained: tuple[FakeContext, Path]) -> None:
    model = load(trained[1])
    mixtures = model.predict(planted["test"][:10])
    assert mixtures.shape == (10, N_TOPICS)
    np.testing.assert_allclose(mixtures.sum(axis=1), 1.0)
    assert (mixtures >= 0).all()
    # a document of planted topic 2's own words is mostly the learned topic matching it
    document = np.zeros((1, N_WORDS))
    document[0, 2 * WORDS_PER_TOPIC : 3 * WORDS_PER_TOPIC] = 5
    match = _cosines(planted["topics"], model.topics)[2].argmax()
    assert model.predict(document)[0, match] > 0.8
    np.testing.assert_array_equal(model.predict(document), model.predict(document))
    with pytest.raises(InputError, match="feature_dim"):
        model.predict(np.ones((2, N_WORDS - 1)))


def test_alpha0_is_the_sum_of_the_prior(planted: dict, tmp_path: Path) -> None:
    hp = {**BASE, "alpha0": "2.0", "max_iterations": "1", "max_restarts": "1"}
    _train(hp, planted["channels"], tmp_path)
    np.testing.assert_allclose(load(tmp_path).doc_topic_prior, np.full(N_TOPICS, 0.5))


def test_a_prior_weight_above_one_trains(planted: dict, tmp_path: Path) -> None:
    """SageMaker accepts any positive alpha0; scikit-learn alone caps alpha0/k at 1."""
    hp = {**BASE, "alpha0": str(3.0 * N_TOPICS), "max_iterations": "2", "max_restarts": "1"}
    ctx = _train(hp, planted["channels"], tmp_path)
    np.testing.assert_allclose(load(tmp_path).doc_topic_prior, np.full(N_TOPICS, 3.0))
    assert np.isfinite(ctx.last("test:pwll"))


def test_more_restarts_never_start_worse(planted: dict, tmp_path: Path) -> None:
    """The first pass keeps the best of the restarts; restart 1 is the one-restart run."""
    first = {}
    for restarts in ("1", "4"):
        hp = {**BASE, "max_restarts": restarts, "max_iterations": "1"}
        ctx = _train(hp, {"train": planted["channels"]["train"]}, tmp_path / restarts)
        first[restarts] = ctx.last("train:pwll")
    assert first["4"] >= first["1"]


def test_tol_ends_training_once_the_topics_stop_moving(planted: dict, tmp_path: Path) -> None:
    # Topics are distributions: no pass moves one by more than 2 (L1), so tol 2 stops at pass 2.
    ctx = _train({**BASE, "tol": "2"}, {"train": planted["channels"]["train"]}, tmp_path)
    assert ctx.epochs == [1, 2]


# -- data ----------------------------------------------------------------------------------------


def test_recordio_dense_and_sparse_train_like_csv(planted: dict, tmp_path: Path) -> None:
    hp = {**BASE, "max_iterations": "2", "max_restarts": "1"}
    runs = {"csv": _train(hp, planted["channels"], tmp_path / "csv").reports}
    for kind, convert in (("dense", np.asarray), ("sparse", scipy.sparse.csr_matrix)):
        channels = {}
        for name in ("train", "test"):
            channels[name] = tmp_path / kind / f"{name}.pbr"
            write_recordio_protobuf(channels[name], convert(planted[name]))
        runs[kind] = _train(hp, channels, tmp_path / f"{kind}-out").reports
    assert runs["dense"] == runs["csv"]
    assert runs["sparse"] == runs["csv"]


def test_sparse_records_narrower_than_the_vocabulary(planted: dict, tmp_path: Path) -> None:
    """Records that never reach the last words are widened to feature_dim."""
    write_recordio_protobuf(tmp_path / "train.pbr", scipy.sparse.csr_matrix(planted["train"]))
    hp = {**BASE, "feature_dim": str(N_WORDS + 5), "max_iterations": "1", "max_restarts": "1"}
    _train(hp, {"train": tmp_path / "train.pbr"}, tmp_path / "out")
    assert load(tmp_path / "out").topic_word.shape == (N_TOPICS, N_WORDS + 5)


def test_a_label_column_first_is_dropped(planted: dict, tmp_path: Path) -> None:
    hp = {**BASE, "max_iterations": "2", "max_restarts": "1"}
    labelled = {}
    for name in ("train", "test"):
        rows = np.column_stack([np.arange(len(planted[name])), planted[name]])
        labelled[name] = _write_counts(tmp_path / f"{name}.csv", rows)
    plain = _train(hp, planted["channels"], tmp_path / "plain")
    assert _train(hp, labelled, tmp_path / "labelled").reports == plain.reports


def _bad_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


GOOD_ROW = ",".join(["1"] * N_WORDS)


@pytest.mark.parametrize(
    ("row", "match"),
    [
        (",".join(["1"] * (N_WORDS - 1) + ["-2"]), r"train channel, row 3: .*word 59 \(-2\).*neg"),
        (",".join(["1"] * (N_WORDS - 1) + ["x"]), r"train channel: .*line 3, column 60: 'x'"),
        (",".join(["1"] * (N_WORDS - 1)), r"train channel: .*line 3: 59 comma-separated"),
        (",".join(["1"] * (N_WORDS - 1) + [""]), r"train channel, row 3: .*word 59.*missing"),
    ],
    ids=["negative", "non-numeric", "short", "missing"],
)
def test_bad_rows_are_named(tmp_path: Path, row: str, match: str) -> None:
    channel = _bad_csv(tmp_path / "train.csv", [GOOD_ROW, GOOD_ROW, row, GOOD_ROW])
    with pytest.raises(InputError, match=match):
        _train(BASE, {"train": channel}, tmp_path / "out")


def test_a_bad_test_row_names_the_test_channel(planted: dict, tmp_path: Path) -> None:
    channel = _bad_csv(tmp_path / "test.csv", [GOOD_ROW, GOOD_ROW.replace("1", "-1", 1)])
    channels = {"train": planted["channels"]["train"], "test": channel}
    with pytest.raises(InputError, match=r"test channel, row 2: the count of word 0 \(-1\)"):
        _train(BASE, channels, tmp_path / "out")


def test_a_sparse_record_beyond_the_vocabulary_is_named(tmp_path: Path) -> None:
    counts = scipy.sparse.lil_matrix((3, N_WORDS + 3))
    counts[0, 1] = counts[1, 2] = 1
    counts[2, N_WORDS + 2] = 4
    write_recordio_protobuf(tmp_path / "train.pbr", counts.tocsr())
    with pytest.raises(InputError, match=r"train channel, row 3: .*word 62.*beyond"):
        _train(BASE, {"train": tmp_path / "train.pbr"}, tmp_path / "out")


def test_rows_of_the_wrong_width_name_feature_dim(planted: dict, tmp_path: Path) -> None:
    with pytest.raises(HyperparameterError, match="'feature_dim' is 58 but the train channel"):
        _train({**BASE, "feature_dim": "58"}, planted["channels"], tmp_path)


@pytest.mark.parametrize(
    ("hyperparameters", "match"),
    [
        ({"alpha0": "0"}, "'alpha0'"),
        ({"alpha0": "-1"}, "'alpha0'"),
        ({"tol": "0"}, "'tol'"),
        ({"max_restarts": "0"}, "'max_restarts'"),
        ({"max_iterations": "0"}, "'max_iterations'"),
        ({"num_topics": "1.5"}, "'num_topics'"),
        ({"mini_batch_size": "many"}, "'mini_batch_size'"),
        ({"_tuning_objective_metric": "test:msd"}, "'test:msd' is not a metric of lda"),
    ],
)
def test_bad_hyperparameters_are_named(
    planted: dict, tmp_path: Path, hyperparameters: dict[str, str], match: str
) -> None:
    with pytest.raises(HyperparameterError, match=match):
        _train({**BASE, **hyperparameters}, planted["channels"], tmp_path)


def test_the_objective_needs_a_test_channel(planted: dict, tmp_path: Path) -> None:
    hp = {**BASE, "_tuning_objective_metric": "test:pwll"}
    with pytest.raises(HyperparameterError, match="test:pwll needs a 'test' channel"):
        _train(hp, {"train": planted["channels"]["train"]}, tmp_path)


def test_split_counts_keeps_every_word_and_is_seeded() -> None:
    counts = scipy.sparse.csr_matrix(np.array([[3.0, 0.0, 2.5], [0.0, 7.0, 1.0]]))
    first, second = split_counts(counts)
    np.testing.assert_allclose((first + second).toarray(), counts.toarray())
    again, _ = split_counts(counts)
    np.testing.assert_array_equal(first.toarray(), again.toarray())
    assert counts.nnz == 4  # the caller's matrix is untouched
    assert LDAModel(np.ones((2, 3)), np.ones(2)).predict(counts).shape == (2, 2)


# -- tuned end to end ----------------------------------------------------------------------------


@pytest.mark.slow
def test_lda_tuned_end_to_end_through_the_cli(planted: dict, tmp_path: Path) -> None:
    """An AMT request naming the lda image, tuning alpha0 and num_topics on test:pwll."""
    channels = planted["channels"]
    spec = {
        "HyperParameterTuningJobName": "lda",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "test:pwll"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {
                        "Name": "alpha0",
                        "MinValue": "0.1",
                        "MaxValue": "10",
                        "ScalingType": "Logarithmic",
                    }  # fmt: skip
                ],
                "IntegerParameterRanges": [
                    {"Name": "num_topics", "MinValue": "2", "MaxValue": "6"}
                ],
            },
            "RandomSeed": 1,
        },
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {
                "TrainingImage": "382416733822.dkr.ecr.us-east-1.amazonaws.com/lda:1",
                "TrainingInputMode": "File",
            },
            "StaticHyperParameters": {
                "feature_dim": str(N_WORDS),
                "mini_batch_size": "100",
                "max_restarts": "1",
                "max_iterations": "3",
            },
            "InputDataConfig": [
                {
                    "ChannelName": name,
                    "ContentType": "text/csv",
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
    assert _unigram_pwll(planted["train"], planted["test"]) < best < 0
