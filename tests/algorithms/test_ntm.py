"""Tests for the built-in Neural Topic Model: planted topics, the losses, inputs and errors.

The corpus is drawn from a known topic model (seeded, no downloads), as in test_lda.py: four
topics over 60 words, each putting nearly all its mass on its own 15 words, document mixtures
from a sparse Dirichlet. What every algorithm must do (epochs, stops, determinism, a loadable
model, CUDA) is in tests/contracts/test_algorithm_contract.py.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from algorithm_context import FakeContext
from cli_job import run_and_describe

from algorithms import HyperparameterError, InputError, get_algorithm
from algorithms.base import parse_hyperparameters
from algorithms.ntm import (
    ALGORITHM,
    HYPERPARAMETERS,
    MODEL_FILENAME,
    OPTIMIZERS,
    REPORTED_METRICS,
    _stalled,
    _Trainer,
    load,
    read_vocabulary,
)
from algorithms.recordio import write_recordio_protobuf

pytestmark = [pytest.mark.usefixtures("one_torch_thread")]

N_TOPICS, N_WORDS, WORDS_PER_TOPIC = 4, 60, 15
#: Quick settings: adam at a high rate learns the planted topics in a few dozen short epochs
#: (SageMaker's default, adadelta, needs many more); patience above epochs: no early end.
BASE = {
    "num_topics": str(N_TOPICS),
    "feature_dim": str(N_WORDS),
    "optimizer": "adam",
    "learning_rate": "0.03",
    "mini_batch_size": "32",
    "epochs": "40",
    "num_patience_epochs": "100",
}
#: Fewer epochs, where only the mechanics are tested.
SHORT = {**BASE, "epochs": "3"}
LOSSES = ("total_loss", "rec_loss", "kld_loss")


def _planted(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(topics, train counts, validation counts) drawn from a known topic model."""
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
    """SageMaker's NTM CSV: one document per row, feature_dim counts, no label column."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, counts, delimiter=",", fmt="%d")
    return path


def _write_vocabulary(path: Path, words: list[str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("".join(word + "\n" for word in words), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    topics, train, validation = _planted()
    directory = tmp_path_factory.mktemp("planted")
    channels = {
        "train": _write_counts(directory / "train.csv", train),
        "validation": _write_counts(directory / "validation.csv", validation),
    }
    return {"topics": topics, "train": train, "validation": validation, "channels": channels}


@pytest.fixture(scope="module")
def trained(planted: dict, tmp_path_factory: pytest.TempPathFactory) -> tuple[FakeContext, Path]:
    """One training run on the planted corpus, shared by the tests that only read it."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("trained")
    try:
        ctx = _train(BASE, planted["channels"], out)
    finally:
        torch.set_num_threads(threads)
    return ctx, out


def _train(hp: dict[str, str], channels: dict[str, Path], out: Path, **kwargs) -> FakeContext:
    ctx = FakeContext(out, **kwargs)
    ALGORITHM.train(hp, channels, ctx)
    return ctx


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


# -- metrics and hyperparameters -----------------------------------------------------------------


def test_amt_metric_and_direction() -> None:
    assert dict(ALGORITHM.metrics) == {"validation:total_loss": "Minimize"}  # AMT.md 17.1
    assert {"train:total_loss", "validation:rec_loss", "validation:kld_loss"} <= set(
        REPORTED_METRICS
    )
    assert not set(REPORTED_METRICS) & set(ALGORITHM.metrics)
    assert get_algorithm("ntm") is ALGORITHM
    assert get_algorithm("174872318107.dkr.ecr.us-west-2.amazonaws.com/ntm:1") is ALGORITHM


def test_defaults_are_sagemakers() -> None:
    """SageMaker's documented defaults (NTM Hyperparameters in the developer guide)."""
    values = parse_hyperparameters(HYPERPARAMETERS, {"num_topics": "3", "feature_dim": "10"})
    assert values["batch_norm"] is False
    assert values["clip_gradient"] == math.inf
    assert values["encoder_layers"] is None  # auto
    assert values["encoder_layers_activation"] == "sigmoid"
    assert values["epochs"] == 50
    assert values["learning_rate"] == 0.001
    assert values["mini_batch_size"] == 256
    assert values["num_patience_epochs"] == 3
    assert values["optimizer"] == "adadelta"
    assert values["rescale_gradient"] == 1.0
    assert values["sub_sample"] == 1.0
    assert values["tolerance"] == 0.001
    assert values["weight_decay"] == 0.0
    assert {n for n, s in HYPERPARAMETERS.items() if s.required} == {"num_topics", "feature_dim"}


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [("auto", None), ("30,20", (30, 20)), ("[30, 20]", (30, 20)), ("50", (50,))],
)
def test_encoder_layers_takes_auto_and_lists(raw: str, parsed: tuple[int, ...] | None) -> None:
    """The SDK's NTM estimator sends encoder_layers as a JSON list ("[30, 20]")."""
    values = parse_hyperparameters(HYPERPARAMETERS, {**SHORT, "encoder_layers": raw})
    assert values["encoder_layers"] == parsed


@pytest.mark.parametrize(
    ("name", "boundary", "outside"),
    [
        ("feature_dim", "1", "0"),
        ("feature_dim", "1000000", "1000001"),
        ("num_topics", "2", "1"),
        ("num_topics", "1000", "1001"),
        ("clip_gradient", "0.001", "0.0009"),
        ("epochs", "1", "0"),
        ("learning_rate", "1e-6", "9e-7"),
        ("learning_rate", "1", "1.1"),
        ("mini_batch_size", "1", "0"),
        ("mini_batch_size", "10000", "10001"),
        ("num_patience_epochs", "1", "0"),
        ("rescale_gradient", "0.001", "0.0009"),
        ("rescale_gradient", "1", "1.01"),
        ("sub_sample", "1", "1.01"),
        ("sub_sample", "0.001", "0"),  # an epoch of no documents
        ("tolerance", "1e-6", "9e-7"),
        ("tolerance", "0.1", "0.11"),
        ("weight_decay", "0", "-0.1"),
        ("weight_decay", "1", "1.1"),
    ],
)
def test_documented_ranges(name: str, boundary: str, outside: str) -> None:
    values = parse_hyperparameters(HYPERPARAMETERS, {**SHORT, name: boundary})
    assert values[name] == pytest.approx(float(boundary))
    with pytest.raises(HyperparameterError, match=f"'{name}'"):
        parse_hyperparameters(HYPERPARAMETERS, {**SHORT, name: outside})


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("num_topics", "2.5", "an integer"),
        ("feature_dim", "many", "an integer"),
        ("encoder_layers", "30,0", "comma-separated list of positive integers"),
        ("encoder_layers", "[]", "comma-separated list"),
        ("encoder_layers", "wide", "'auto'"),
        ("encoder_layers_activation", "softmax", "one of sigmoid, tanh, relu"),
        ("optimizer", "lbfgs", "one of adadelta, adagrad, adam, rmsprop, sgd"),
        ("batch_norm", "maybe", "true or false"),
        ("clip_gradient", "-Infinity", "or Infinity"),
        ("learning_rate", "nan", "a number"),
        ("sub_sample", "all", "a number"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, name: str, value: str, match: str) -> None:
    """Refused by train itself, before any data is read (the channel does not exist)."""
    with pytest.raises(HyperparameterError, match=f"'{name}'.*{match}"):
        _train({**SHORT, name: value}, {"train": tmp_path / "none.csv"}, tmp_path / "out")


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    hp = {**SHORT, "optimizer": "lbfgs", "tolerance": "1", "num_topic": "3"}
    with pytest.raises(HyperparameterError) as caught:
        _train(hp, {"train": tmp_path / "none.csv"}, tmp_path / "out")
    assert len(caught.value.problems) == 3
    assert "'num_topic' is not known" in str(caught.value)


def test_clip_gradient_takes_infinity() -> None:
    for text in ("Infinity", "inf", "+Infinity"):
        assert (
            parse_hyperparameters(HYPERPARAMETERS, {**SHORT, "clip_gradient": text})[
                "clip_gradient"
            ]
            == math.inf
        )


def test_the_objective_needs_a_validation_channel(planted: dict, tmp_path: Path) -> None:
    hp = {**SHORT, "_tuning_objective_metric": "validation:total_loss"}
    with pytest.raises(HyperparameterError, match="needs a 'validation' channel"):
        _train(hp, {"train": planted["channels"]["train"]}, tmp_path)
    with pytest.raises(HyperparameterError, match="'test:pwll' is not a metric of ntm"):
        _train({**SHORT, "_tuning_objective_metric": "test:pwll"}, planted["channels"], tmp_path)


# -- quality -------------------------------------------------------------------------------------


def test_planted_topics_are_recovered(planted: dict, trained: tuple[FakeContext, Path]) -> None:
    model = load(trained[1])
    assert model.topics.shape == (N_TOPICS, N_WORDS)
    np.testing.assert_allclose(model.topics.sum(axis=1), 1.0)
    cosines = _cosines(planted["topics"], model.topics)
    # 0.99+ on this corpus (and on nine other data seeds tried); 0.9 leaves room for noise
    assert (cosines.max(axis=1) > 0.9).all(), cosines.max(axis=1)
    # one learned topic per planted one, not one learned topic matching two
    assert len(set(cosines.argmax(axis=1))) == N_TOPICS


def test_losses_are_reported_every_epoch_and_decrease(trained: tuple[FakeContext, Path]) -> None:
    ctx, out = trained
    assert ctx.epochs == list(range(1, 41))
    expected = {f"{data}:{loss}" for data in ("train", "validation") for loss in LOSSES}
    for _, metrics in ctx.reports:
        assert set(metrics) == expected
        assert all(math.isfinite(value) for value in metrics.values())
        assert metrics["validation:total_loss"] == pytest.approx(
            metrics["validation:rec_loss"] + metrics["validation:kld_loss"], rel=1e-12
        )
        assert metrics["train:total_loss"] == pytest.approx(
            metrics["train:rec_loss"] + metrics["train:kld_loss"], rel=1e-12
        )
        assert metrics["validation:kld_loss"] >= 0
    for data in ("train", "validation"):
        curve = [metrics[f"{data}:total_loss"] for _, metrics in ctx.reports]
        assert curve[-1] < 0.85 * curve[0], (data, curve)
        assert curve[-1] <= min(curve[:10])  # no late blow-up
    assert (out / MODEL_FILENAME).is_file()


def test_the_loss_beats_a_unigram_model(planted: dict, trained: tuple[FakeContext, Path]) -> None:
    """The negative ELBO bounds the held-out NLL; it must beat word frequencies alone."""
    ctx, _ = trained
    train, validation = planted["train"], planted["validation"]
    frequencies = (train.sum(axis=0) + 1) / (train.sum() + N_WORDS)
    unigram = float(-(validation @ np.log(frequencies)).mean())
    assert ctx.last("validation:total_loss") < unigram - 10, (
        ctx.last("validation:total_loss"),
        unigram,
    )


def test_the_saved_model_scores_as_training_reported(
    planted: dict, trained: tuple[FakeContext, Path]
) -> None:
    ctx, out = trained
    losses = load(out).losses(planted["validation"])
    for loss in LOSSES:
        assert losses[loss] == pytest.approx(ctx.last(f"validation:{loss}"), rel=1e-4)


def test_predict_gives_topic_mixtures(planted: dict, trained: tuple[FakeContext, Path]) -> None:
    model = load(trained[1])
    mixtures = model.predict(planted["validation"][:10])
    assert mixtures.shape == (10, N_TOPICS)
    np.testing.assert_allclose(mixtures.sum(axis=1), 1.0)
    assert (mixtures >= 0).all()
    sparse = model.predict(scipy.sparse.csr_matrix(planted["validation"][:10]))
    np.testing.assert_allclose(sparse, mixtures)
    # a document of planted topic 2's own words is mostly the learned topic matching it
    document = np.zeros((1, N_WORDS))
    document[0, 2 * WORDS_PER_TOPIC : 3 * WORDS_PER_TOPIC] = 5
    match = _cosines(planted["topics"], model.topics)[2].argmax()
    assert model.predict(document)[0, match] > 0.8
    np.testing.assert_array_equal(model.predict(document), model.predict(document))
    with pytest.raises(InputError, match="feature_dim"):
        model.predict(np.ones((2, N_WORDS - 1)))
    with pytest.raises(InputError, match="negative"):
        model.predict(-document)


def test_without_vocabulary_top_words_are_indices(trained: tuple[FakeContext, Path]) -> None:
    model = load(trained[1])
    assert model.vocabulary is None
    words = model.top_words(3)
    assert len(words) == N_TOPICS
    assert all(int(word) < N_WORDS for topic in words for word in topic)


def test_the_same_hyperparameters_give_the_same_results(planted: dict, tmp_path: Path) -> None:
    first = _train(SHORT, planted["channels"], tmp_path / "a")
    second = _train(SHORT, planted["channels"], tmp_path / "b")
    assert first.reports == second.reports
    np.testing.assert_array_equal(load(tmp_path / "a").topics, load(tmp_path / "b").topics)


# -- hyperparameters at work ---------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_trains(planted: dict, tmp_path: Path, optimizer: str) -> None:
    lr = "0.1" if optimizer == "sgd" else "0.03"
    hp = {**BASE, "optimizer": optimizer, "learning_rate": lr, "epochs": "4"}
    ctx = _train(hp, planted["channels"], tmp_path)
    curve = [metrics["validation:total_loss"] for _, metrics in ctx.reports]
    assert all(math.isfinite(value) for value in curve)
    assert curve[-1] < curve[0], curve
    assert load(tmp_path).predict(planted["validation"][:3]).shape == (3, N_TOPICS)


def test_adadelta_takes_no_learning_rate(planted: dict, tmp_path: Path) -> None:
    """As in MXNet 1.x, which SageMaker's algorithms run on: adadelta has no step size."""
    hp = {**SHORT, "optimizer": "adadelta"}
    slow = _train({**hp, "learning_rate": "0.0001"}, planted["channels"], tmp_path / "a")
    fast = _train({**hp, "learning_rate": "0.1"}, planted["channels"], tmp_path / "b")
    assert slow.reports == fast.reports
    adam = {**SHORT, "optimizer": "adam"}
    slow = _train({**adam, "learning_rate": "0.0001"}, planted["channels"], tmp_path / "c")
    fast = _train({**adam, "learning_rate": "0.1"}, planted["channels"], tmp_path / "d")
    assert slow.reports != fast.reports


def test_encoder_layers_shape_the_saved_encoder(planted: dict, tmp_path: Path) -> None:
    _train(
        {**SHORT, "epochs": "1", "encoder_layers": "[30, 20, 10]"}, planted["channels"], tmp_path
    )
    model = load(tmp_path)
    assert [weight.shape for weight, _ in model.layers] == [(60, 30), (30, 20), (20, 10)]
    assert model.mu[0].shape == (10, N_TOPICS)
    _train({**SHORT, "epochs": "1"}, planted["channels"], tmp_path / "auto")
    auto = load(tmp_path / "auto")  # auto: 3 x and 2 x num_topics
    assert [w.shape[1] for w, _ in auto.layers] == [3 * N_TOPICS, 2 * N_TOPICS]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_each_activation_trains_and_predicts_as_trained(
    planted: dict, tmp_path: Path, activation: str
) -> None:
    hp = {**SHORT, "encoder_layers_activation": activation}
    ctx = _train(hp, planted["channels"], tmp_path)
    model = load(tmp_path)
    assert model.activation == activation
    losses = model.losses(planted["validation"])
    assert losses["total_loss"] == pytest.approx(ctx.last("validation:total_loss"), rel=1e-4)


def test_batch_norm_on_and_off(planted: dict, tmp_path: Path) -> None:
    runs = {}
    for flag in ("false", "true"):
        ctx = _train({**SHORT, "batch_norm": flag}, planted["channels"], tmp_path / flag)
        runs[flag] = ctx
        model = load(tmp_path / flag)
        assert len(model.norms) == (2 if flag == "true" else 0)
        # the saved model normalises with the running statistics, as validation was scored
        losses = model.losses(planted["validation"])
        assert losses["total_loss"] == pytest.approx(ctx.last("validation:total_loss"), rel=1e-4)
    assert runs["true"].reports != runs["false"].reports
    assert math.isfinite(runs["true"].last("validation:total_loss"))


def test_batch_norm_refuses_mini_batches_of_one(planted: dict, tmp_path: Path) -> None:
    hp = {**SHORT, "batch_norm": "true", "mini_batch_size": "1"}
    with pytest.raises(HyperparameterError, match="'batch_norm'.*mini_batch_size >= 2"):
        _train(hp, planted["channels"], tmp_path)


def test_a_last_mini_batch_of_one_trains_with_batch_norm(planted: dict, tmp_path: Path) -> None:
    hp = {**SHORT, "batch_norm": "true", "mini_batch_size": "57"}  # 400 = 7 x 57 + 1
    ctx = _train(hp, planted["channels"], tmp_path)
    assert math.isfinite(ctx.last("validation:total_loss"))


def test_sub_sample_trains_on_a_fresh_sample_each_epoch(planted: dict, tmp_path: Path) -> None:
    values = parse_hyperparameters(HYPERPARAMETERS, {**SHORT, "sub_sample": "0.25"})
    data = {"train": scipy.sparse.csr_matrix(planted["train"])}
    torch = pytest.importorskip("torch")
    trainer = _Trainer(values, data, torch.device("cpu"), None)
    epochs = [torch.cat(trainer._batches()) for _ in range(2)]
    assert [len(epoch) for epoch in epochs] == [100, 100]
    assert all(len(set(epoch.tolist())) == 100 for epoch in epochs)  # without replacement
    assert set(epochs[0].tolist()) != set(epochs[1].tolist())
    ctx = _train({**SHORT, "sub_sample": "0.25"}, planted["channels"], tmp_path)
    full = _train(SHORT, planted["channels"], tmp_path / "full")
    assert ctx.epochs == [1, 2, 3]
    assert ctx.reports != full.reports


def test_tolerance_and_patience_end_training_early(planted: dict, tmp_path: Path) -> None:
    # At most a 10% gain in 1 epoch: only the first epochs improve that much.
    hp = {**BASE, "tolerance": "0.1", "num_patience_epochs": "1", "epochs": "30"}
    ctx = _train(hp, planted["channels"], tmp_path)
    assert 2 <= len(ctx.epochs) < 30
    curve = [metrics["validation:total_loss"] for _, metrics in ctx.reports]
    assert min(curve[:-1]) - curve[-1] < 0.1 * min(curve[:-1])
    assert (tmp_path / MODEL_FILENAME).is_file()
    # patience above epochs turns it off
    off = _train({**hp, "epochs": "6", "num_patience_epochs": "7"}, planted["channels"], tmp_path)
    assert off.epochs == [1, 2, 3, 4, 5, 6]


def test_without_validation_the_train_loss_is_monitored(planted: dict, tmp_path: Path) -> None:
    hp = {**BASE, "tolerance": "0.1", "num_patience_epochs": "1", "epochs": "30"}
    ctx = _train(hp, {"train": planted["channels"]["train"]}, tmp_path)
    assert len(ctx.epochs) < 30
    assert set(ctx.reports[-1][1]) == {f"train:{loss}" for loss in LOSSES}


def test_stalled_compares_the_last_epochs_with_the_best_before() -> None:
    assert not _stalled([10.0, 9.0], patience=2, tolerance=0.01)  # not enough epochs yet
    assert not _stalled([10.0, 9.0, 8.0], patience=2, tolerance=0.01)
    assert _stalled([10.0, 9.99, 9.995], patience=2, tolerance=0.01)
    assert _stalled([10.0, 10.5, 11.0], patience=2, tolerance=0.01)  # got worse


def test_a_test_channel_is_scored_with_the_last_epoch(planted: dict, tmp_path: Path) -> None:
    channels = {**planted["channels"], "test": planted["channels"]["validation"]}
    ctx = _train(SHORT, channels, tmp_path)
    assert all("test:total_loss" not in metrics for _, metrics in ctx.reports[:-1])
    last = ctx.reports[-1][1]
    for loss in LOSSES:
        assert last[f"test:{loss}"] == pytest.approx(last[f"validation:{loss}"])


def test_clipping_rescaling_and_weight_decay_change_training(
    planted: dict, tmp_path: Path
) -> None:
    plain = _train(SHORT, planted["channels"], tmp_path / "plain").reports
    for name, value in (
        ("clip_gradient", "0.001"),
        ("rescale_gradient", "0.1"),
        ("weight_decay", "0.1"),
    ):
        ctx = _train({**SHORT, name: value}, planted["channels"], tmp_path / name)
        assert ctx.reports != plain, name
        assert math.isfinite(ctx.last("validation:total_loss"))


# -- data ----------------------------------------------------------------------------------------


def test_recordio_dense_and_sparse_train_like_csv(planted: dict, tmp_path: Path) -> None:
    runs = {"csv": _train(SHORT, planted["channels"], tmp_path / "csv").reports}
    for kind, convert in (("dense", np.asarray), ("sparse", scipy.sparse.csr_matrix)):
        channels = {}
        for name in ("train", "validation"):
            channels[name] = tmp_path / kind / f"{name}.pbr"
            write_recordio_protobuf(channels[name], convert(planted[name]))
        runs[kind] = _train(SHORT, channels, tmp_path / f"{kind}-out").reports
    for kind in ("dense", "sparse"):
        assert [epoch for epoch, _ in runs[kind]] == [1, 2, 3]
        for (_, ours), (_, csv) in zip(runs[kind], runs["csv"], strict=True):
            assert ours == pytest.approx(csv, rel=1e-6), kind


def test_sparse_records_narrower_than_the_vocabulary(planted: dict, tmp_path: Path) -> None:
    """Records that never reach the last words are widened to feature_dim."""
    write_recordio_protobuf(tmp_path / "train.pbr", scipy.sparse.csr_matrix(planted["train"]))
    hp = {**SHORT, "feature_dim": str(N_WORDS + 5), "epochs": "1"}
    _train(hp, {"train": tmp_path / "train.pbr"}, tmp_path / "out")
    assert load(tmp_path / "out").topics.shape == (N_TOPICS, N_WORDS + 5)


def test_a_label_column_first_is_dropped(planted: dict, tmp_path: Path) -> None:
    labelled = {}
    for name in ("train", "validation"):
        rows = np.column_stack([np.arange(len(planted[name])), planted[name]])
        labelled[name] = _write_counts(tmp_path / f"{name}.csv", rows)
    plain = _train(SHORT, planted["channels"], tmp_path / "plain")
    assert _train(SHORT, labelled, tmp_path / "labelled").reports == plain.reports


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
        _train(SHORT, {"train": channel}, tmp_path / "out")


def test_a_bad_validation_row_names_the_validation_channel(planted: dict, tmp_path: Path) -> None:
    channel = _bad_csv(tmp_path / "validation.csv", [GOOD_ROW, GOOD_ROW.replace("1", "-1", 1)])
    channels = {"train": planted["channels"]["train"], "validation": channel}
    with pytest.raises(InputError, match=r"validation channel, row 2: the count of word 0 \(-1\)"):
        _train(SHORT, channels, tmp_path / "out")


def test_a_sparse_record_beyond_the_vocabulary_is_named(tmp_path: Path) -> None:
    counts = scipy.sparse.lil_matrix((3, N_WORDS + 3))
    counts[0, 1] = counts[1, 2] = 1
    counts[2, N_WORDS + 2] = 4
    write_recordio_protobuf(tmp_path / "train.pbr", counts.tocsr())
    with pytest.raises(InputError, match=r"train channel, row 3: .*word 62.*beyond"):
        _train(SHORT, {"train": tmp_path / "train.pbr"}, tmp_path / "out")


def test_rows_of_the_wrong_width_name_feature_dim(planted: dict, tmp_path: Path) -> None:
    with pytest.raises(HyperparameterError, match="'feature_dim' is 58 but the train channel"):
        _train({**SHORT, "feature_dim": "58"}, planted["channels"], tmp_path)


def test_a_missing_train_channel_is_named(planted: dict, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="'train' channel"):
        _train(SHORT, {"validation": planted["channels"]["validation"]}, tmp_path)


# -- the auxiliary vocabulary --------------------------------------------------------------------


def test_the_vocabulary_names_the_topics_words(planted: dict, tmp_path: Path) -> None:
    words = [f"word{i:02d}" for i in range(N_WORDS)]
    channels = {**planted["channels"], "auxiliary": _write_vocabulary(tmp_path / "aux", words)}
    _train({**BASE, "epochs": "25"}, channels, tmp_path / "out")
    model = load(tmp_path / "out")
    assert model.vocabulary == tuple(words)
    top = model.top_words(5)
    assert len(top) == N_TOPICS and all(len(topic) == 5 for topic in top)
    # each topic's top words are one planted topic's own words (15 in a row)
    for topic in top:
        blocks = {int(word[4:]) // WORDS_PER_TOPIC for word in topic}
        assert len(blocks) == 1, topic


def test_the_vocabulary_file_may_be_named_directly(tmp_path: Path) -> None:
    folder = _write_vocabulary(tmp_path / "aux", ["a", "b", "c"])
    assert read_vocabulary(folder / "vocab.txt", 3) == ("a", "b", "c")
    (folder / "vocab.txt").write_bytes(b"\xef\xbb\xbfa\nb\nc\n\n")  # a BOM, blank lines at the end
    assert read_vocabulary(folder, 3) == ("a", "b", "c")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"a\nb\n", r"auxiliary channel: vocab.txt holds 2 words but feature_dim is 3"),
        (b"a\n\nc\n", r"auxiliary channel: vocab.txt line 2 is empty"),
        (b"a\n\xff\nc\n", r"auxiliary channel: vocab.txt line 2 is not UTF-8"),
    ],
    ids=["too-few", "empty-line", "not-utf8"],
)
def test_a_bad_vocabulary_is_named(tmp_path: Path, content: bytes, match: str) -> None:
    (tmp_path / "vocab.txt").write_bytes(content)
    with pytest.raises(InputError, match=match):
        read_vocabulary(tmp_path, 3)


def test_a_missing_vocabulary_fails_training(planted: dict, tmp_path: Path) -> None:
    (tmp_path / "aux").mkdir()
    channels = {**planted["channels"], "auxiliary": tmp_path / "aux"}
    with pytest.raises(InputError, match="auxiliary channel: no vocab.txt"):
        _train(SHORT, channels, tmp_path / "out")


# -- tuned end to end ----------------------------------------------------------------------------


@pytest.mark.slow
def test_ntm_tuned_end_to_end_through_the_cli(planted: dict, tmp_path: Path) -> None:
    """An AMT request naming the ntm image, tuning the optimizer and the rate on its objective."""
    channels = {
        **planted["channels"],
        "auxiliary": _write_vocabulary(tmp_path / "aux", [f"w{i}" for i in range(N_WORDS)]),
    }
    content_types = {"train": "text/csv", "validation": "text/csv", "auxiliary": "text/plain"}
    spec = {
        "HyperParameterTuningJobName": "ntm",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {
                "Type": "Minimize",
                "MetricName": "validation:total_loss",
            },
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {
                        "Name": "learning_rate",
                        "MinValue": "0.001",
                        "MaxValue": "0.05",
                        "ScalingType": "Logarithmic",
                    }
                ],
                "CategoricalParameterRanges": [
                    {"Name": "optimizer", "Values": ["adam", "rmsprop"]}
                ],
            },
            "RandomSeed": 1,
        },
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {
                "TrainingImage": "174872318107.dkr.ecr.us-west-2.amazonaws.com/ntm:1",
                "TrainingInputMode": "File",
            },
            "StaticHyperParameters": {
                "num_topics": str(N_TOPICS),
                "feature_dim": str(N_WORDS),
                "mini_batch_size": "32",
                "epochs": "5",
                "encoder_layers": "[12, 8]",
            },
            "InputDataConfig": [
                {
                    "ChannelName": name,
                    "ContentType": content_types[name],
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(path)}},
                }
                for name, path in channels.items()
            ],
        },
    }
    described = run_and_describe(spec, tmp_path)
    assert described["HyperParameterTuningJobStatus"] == "Completed", described
    assert described["ObjectiveStatusCounters"]["Succeeded"] == 3
    best = described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    # below every word equally likely (the negative ELBO bounds the documents' NLL)
    uniform = float(planted["validation"].sum(axis=1).mean() * math.log(N_WORDS))
    assert 0 < best < uniform, (best, uniform)
