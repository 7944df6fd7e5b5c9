"""Tests for the built-in Object2Vec: planted pairs, the reader, the encoders, the options.

Two planted problems (seeded, no downloads): token sequences labelled by whether they share a
planted topic (classification), and vector pairs labelled by their dot product (regression).
Neither is solved by a linear model of the two inputs side by side, which is what the
references are. What every algorithm must do (epochs, stops, determinism, a loadable model,
CUDA) is in tests/contracts/test_algorithm_contract.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from algorithm_context import CheckpointingContext, Crash, FakeContext

from algorithms import HyperparameterError, InputError, get_algorithm
from algorithms.base import parse_hyperparameters
from algorithms.object2vec import (
    ALGORITHM,
    HYPERPARAMETERS,
    MODEL_FILENAME,
    OPTIMIZERS,
    _stalled,
    _Trainer,
    load,
    planted_topic_pairs,
    planted_vector_pairs,
    write_jsonlines,
)

pytestmark = [pytest.mark.usefixtures("one_torch_thread")]

VOCAB = 8 * 12 + 40  # planted_topic_pairs' defaults: 8 topics of 12 ids, 40 filler ids
#: Small widths and a high rate: a few seconds a run on one thread.
BASE = {
    "enc0_max_seq_len": "20",
    "enc0_vocab_size": str(VOCAB),
    "enc_dim": "16",
    "enc0_token_embedding_dim": "16",
    "enc0_network": "pooled_embedding",
    "mlp_dim": "32",
    "learning_rate": "0.01",
    "epochs": "20",
    "early_stopping_patience": "5",
}
SHORT = {**BASE, "epochs": "2"}
VECTORS = {
    **BASE,
    "enc0_max_seq_len": "1",
    "enc0_vocab_size": "2",
    "output_layer": "mean_squared_error",
    "comparator_list": "hadamard",
}


def _train(hp: dict[str, str], channels: dict[str, Path], out: Path, **kwargs) -> FakeContext:
    ctx = FakeContext(out, **kwargs)
    ALGORITHM.train(hp, channels, ctx)
    return ctx


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def topics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("topics")
    return {
        "train": write_jsonlines(
            folder / "train.jsonl", planted_topic_pairs(2000, seed=1, topic_share=0.5)
        ),
        "validation": write_jsonlines(
            folder / "validation.jsonl", planted_topic_pairs(400, seed=2, topic_share=0.5)
        ),
    }


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A quick split for the mechanics: 300 train, 100 validation and 100 test pairs."""
    folder = tmp_path_factory.mktemp("small")
    return {
        name: write_jsonlines(folder / f"{name}.jsonl", planted_topic_pairs(n, seed=seed))
        for name, n, seed in (("train", 300, 1), ("validation", 100, 2), ("test", 100, 3))
    }


@pytest.fixture(scope="module")
def vectors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("vectors")
    return {
        "train": write_jsonlines(folder / "train.jsonl", planted_vector_pairs(1500, seed=1)),
        "validation": write_jsonlines(
            folder / "validation.jsonl", planted_vector_pairs(400, seed=2)
        ),
    }


# -- metrics and hyperparameters -----------------------------------------------------------------


def test_amt_metrics_and_directions() -> None:
    assert dict(ALGORITHM.metrics) == {  # AMT.md 17.1
        "validation:accuracy": "Maximize",
        "validation:cross_entropy": "Minimize",
        "validation:mean_squared_error": "Minimize",
        "test:accuracy": "Maximize",
        "test:cross_entropy": "Minimize",
        "test:mean_squared_error": "Minimize",
    }
    assert get_algorithm("object2vec") is ALGORITHM
    assert get_algorithm("382416733822.dkr.ecr.us-east-1.amazonaws.com/object2vec:1") is ALGORITHM


def test_defaults_are_sagemakers() -> None:
    values = parse_hyperparameters(
        HYPERPARAMETERS, {"enc0_max_seq_len": "10", "enc0_vocab_size": "50"}
    )
    expected = {
        "bucket_width": 0,
        "comparator_list": ("hadamard", "concat", "abs_diff"),
        "dropout": 0.0,
        "early_stopping_patience": 3,
        "early_stopping_tolerance": 0.01,
        "enc_dim": 4096,
        "enc0_network": "hcnn",
        "enc0_cnn_filter_width": 3,
        "enc0_freeze_pretrained_embedding": True,
        "enc0_layers": None,  # auto
        "enc0_pretrained_embedding_file": "",
        "enc0_token_embedding_dim": 300,
        "enc0_vocab_file": "",
        "enc1_network": "enc0",
        "enc1_max_seq_len": None,  # enc0's
        "enc1_vocab_size": None,
        "epochs": 30,
        "learning_rate": 0.0004,
        "mini_batch_size": 32,
        "mlp_activation": "linear",
        "mlp_dim": 512,
        "mlp_layers": 2,
        "negative_sampling_rate": 0,
        "num_classes": 2,
        "optimizer": "adam",
        "output_layer": "softmax",
        "tied_token_embedding_weight": False,
        "token_embedding_storage_type": "dense",
        "weight_decay": 0.0,
    }
    assert {name: values[name] for name in expected} == expected
    assert {n for n, s in HYPERPARAMETERS.items() if s.required} == {
        "enc0_max_seq_len",
        "enc0_vocab_size",
    }


@pytest.mark.parametrize(
    ("name", "boundary", "outside"),
    [
        ("enc0_max_seq_len", "5000", "5001"),
        ("enc0_vocab_size", "2", "1"),
        ("enc1_vocab_size", "3000000", "3000001"),
        ("bucket_width", "100", "101"),
        ("dropout", "1", "1.1"),
        ("early_stopping_patience", "5", "6"),
        ("early_stopping_tolerance", "1e-6", "9e-7"),
        ("enc_dim", "4", "3"),
        ("enc_dim", "10000", "10001"),
        ("enc1_cnn_filter_width", "9", "10"),
        ("enc0_token_embedding_dim", "1000", "1001"),
        ("epochs", "100", "101"),
        ("learning_rate", "1", "1.5"),
        ("mini_batch_size", "10000", "10001"),
        ("mlp_dim", "2", "1"),
        ("mlp_layers", "0", "-1"),
        ("mlp_layers", "10", "11"),
        ("negative_sampling_rate", "0", "-1"),
        ("num_classes", "30", "31"),
        ("weight_decay", "10000", "10001"),
    ],
)
def test_documented_ranges(name: str, boundary: str, outside: str) -> None:
    values = parse_hyperparameters(HYPERPARAMETERS, {**SHORT, name: boundary})
    assert values[name] == pytest.approx(float(boundary))
    with pytest.raises(HyperparameterError, match=f"'{name}'"):
        parse_hyperparameters(HYPERPARAMETERS, {**SHORT, name: outside})


@pytest.mark.parametrize(
    ("name", "raw", "parsed"),
    [
        ("enc0_layers", "auto", None),
        ("enc0_layers", "4", 4),
        ("comparator_list", "hadamard, concat", ("hadamard", "concat")),
        ("comparator_list", '["abs_diff", "hadamard"]', ("abs_diff", "hadamard")),
        ("comparator_list", "concat,concat", ("concat",)),
        ("enc0_vocab_file", "vocab.json", "vocab.json"),
        ("tied_token_embedding_weight", "True", True),
    ],
)
def test_list_and_auto_values(name: str, raw: str, parsed: object) -> None:
    assert parse_hyperparameters(HYPERPARAMETERS, {**SHORT, name: raw})[name] == parsed


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("enc0_layers", "5", "'auto' or an integer between 1 and 4"),
        ("enc0_layers", "many", "'auto'"),
        ("comparator_list", "hadamard, dot", "hadamard, concat and abs_diff"),
        ("comparator_list", "", "comma-separated"),
        ("enc0_network", "transformer", "one of hcnn, bilstm, pooled_embedding"),
        ("enc1_network", "cnn", "one of enc0, hcnn"),
        ("enc0_pretrained_embedding_file", "../glove.txt", r"\[A-Za-z0-9._\]"),
        ("mlp_activation", "sigmoid", "one of tanh, relu, linear"),
        ("optimizer", "lbfgs", "one of adadelta, adagrad, adam, rmsprop, sgd"),
        ("output_layer", "sigmoid", "one of softmax, mean_squared_error"),
        ("token_embedding_storage_type", "sparse", "one of dense, row_sparse"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, name: str, value: str, match: str) -> None:
    """Refused by train itself, before any data is read (the channel does not exist)."""
    with pytest.raises(HyperparameterError, match=f"'{name}'.*{match}"):
        _train({**SHORT, name: value}, {"train": tmp_path / "none"}, tmp_path / "out")


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    hp = {**SHORT, "optimizer": "lbfgs", "dropout": "2", "enc_dims": "8"}
    with pytest.raises(HyperparameterError) as caught:
        _train(hp, {"train": tmp_path / "none"}, tmp_path / "out")
    assert len(caught.value.problems) == 3
    assert "'enc_dims' is not known" in str(caught.value)


def test_the_objective_must_fit_the_output_layer_and_channels(small: dict, tmp_path: Path) -> None:
    hp = {**SHORT, "_tuning_objective_metric": "validation:mean_squared_error"}
    with pytest.raises(HyperparameterError, match="not reported with output_layer softmax"):
        _train(hp, small, tmp_path)
    hp = {**SHORT, "_tuning_objective_metric": "validation:accuracy"}
    with pytest.raises(HyperparameterError, match="needs a 'validation' channel"):
        _train(hp, {"train": small["train"]}, tmp_path)
    with pytest.raises(HyperparameterError, match="'test:auc' is not a metric of object2vec"):
        _train({**SHORT, "_tuning_objective_metric": "test:auc"}, small, tmp_path)


@pytest.mark.parametrize(
    ("hp", "match"),
    [
        (
            {"token_embedding_storage_type": "row_sparse", "optimizer": "rmsprop"},
            "'token_embedding_storage_type': row_sparse needs optimizer adam, adagrad or sgd",
        ),
        (
            {"negative_sampling_rate": "1", "output_layer": "mean_squared_error"},
            "'negative_sampling_rate'.*needs output_layer softmax",
        ),
        (
            {"tied_token_embedding_weight": "true", "enc1_vocab_size": "500"},
            "'tied_token_embedding_weight'.*same vocabulary size",
        ),
    ],
)
def test_combinations_that_cannot_work_are_refused(
    small: dict, tmp_path: Path, hp: dict, match: str
) -> None:
    with pytest.raises(HyperparameterError, match=match):
        _train({**SHORT, **hp}, small, tmp_path)


# -- quality -------------------------------------------------------------------------------------


def _bag_of_words(records: list[dict], *, product: bool) -> np.ndarray:
    features = np.zeros((len(records), 2, VOCAB))
    for i, record in enumerate(records):
        for side, key in enumerate(("in0", "in1")):
            np.add.at(features[i, side], record[key], 1.0)
    joined = features.reshape(len(records), -1)
    return np.hstack([joined, features[:, 0] * features[:, 1]]) if product else joined


def test_shared_topics_are_learned_beyond_logistic_regression(
    topics: dict, tmp_path: Path
) -> None:
    """Whether two sequences share a topic is an interaction of the two: logistic regression on
    their concatenated bags of words is at chance (0.46 here); with the products of the two bags
    added (a stronger reference, told the interaction) it reaches 0.80; ours about 0.9."""
    from sklearn.linear_model import LogisticRegression

    ctx = _train(BASE, topics, tmp_path)
    train, validation = _records(topics["train"]), _records(topics["validation"])
    y_train = [r["label"] for r in train]
    y_validation = [r["label"] for r in validation]
    scores = {}
    for product in (False, True):
        reference = LogisticRegression(max_iter=2000).fit(
            _bag_of_words(train, product=product), y_train
        )
        scores[product] = reference.score(_bag_of_words(validation, product=product), y_validation)
    best = max(metrics["validation:accuracy"] for _, metrics in ctx.reports)
    assert scores[False] < 0.6
    assert best > 0.85 and best > scores[True] + 0.05, (best, scores)
    # the saved model predicts as the last epoch was scored
    probabilities = load(tmp_path).predict(validation)
    accuracy = float(np.mean(probabilities.argmax(axis=1) == np.array(y_validation)))
    assert accuracy == pytest.approx(ctx.last("validation:accuracy"))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)


def test_a_dot_product_of_vectors_is_learned_beyond_ridge(vectors: dict, tmp_path: Path) -> None:
    """``u . v`` is no linear function of ``[u, v]``: ridge regression there predicts the mean
    (mse about the label variance, 5.7); ours gets within a few hundredths of the noise."""
    from sklearn.linear_model import Ridge

    ctx = _train(VECTORS, vectors, tmp_path)
    train, validation = _records(vectors["train"]), _records(vectors["validation"])

    def features(records: list[dict]) -> np.ndarray:
        return np.array([r["in0"] + r["in1"] for r in records])

    labels = np.array([r["label"] for r in validation])
    ridge = Ridge().fit(features(train), [r["label"] for r in train])
    ridge_mse = float(np.mean((ridge.predict(features(validation)) - labels) ** 2))
    ours = ctx.last("validation:mean_squared_error")
    assert ridge_mse > 4.0
    assert ours < 0.3, ours
    predictions = load(tmp_path).predict(validation)
    assert predictions.shape == (len(validation),)
    assert float(np.mean((predictions - labels) ** 2)) == pytest.approx(ours, rel=1e-4)


# -- the encoders and the head -------------------------------------------------------------------


@pytest.mark.parametrize("network", ["pooled_embedding", "hcnn", "bilstm"])
def test_each_network_trains_and_predicts_as_evaluated(
    small: dict, tmp_path: Path, network: str
) -> None:
    hp = {**SHORT, "enc0_network": network, "enc0_layers": "2", "enc0_cnn_filter_width": "2"}
    ctx = _train(hp, small, tmp_path)
    assert ctx.epochs == [1, 2]
    assert set(ctx.reports[0][1]) == {
        "train:cross_entropy",
        "validation:accuracy",
        "validation:cross_entropy",
    }
    assert {"test:accuracy", "test:cross_entropy"} <= set(ctx.reports[-1][1])
    model = load(tmp_path)
    assert model.spec.enc0.network == model.spec.enc1.network == network  # enc1_network=enc0
    test = _records(small["test"])
    accuracy = np.mean(model.predict(test).argmax(axis=1) == [r["label"] for r in test])
    assert accuracy == pytest.approx(ctx.last("test:accuracy"))
    assert model.encode(test[:4], "in1").shape == (4, 16)
    # a record is scored alone as in a batch (padding does not leak into the encodings)
    np.testing.assert_allclose(model.predict(test[:1]), model.predict(test[:3])[:1], atol=1e-5)


def test_auto_layers_are_sagemakers(small: dict, tmp_path: Path) -> None:
    _train(
        {**SHORT, "epochs": "1", "enc0_network": "hcnn", "enc1_network": "bilstm"}, small, tmp_path
    )
    spec = load(tmp_path).spec
    assert (spec.enc0.layers, spec.enc1.layers) == (4, 1)


def test_the_encoders_may_differ(small: dict, tmp_path: Path) -> None:
    hp = {
        **SHORT,
        "epochs": "1",
        "enc1_network": "hcnn",
        "enc1_token_embedding_dim": "8",
        "enc1_vocab_size": str(VOCAB + 10),
        "enc1_max_seq_len": "5",
    }
    _train(hp, small, tmp_path)
    spec = load(tmp_path).spec
    assert (spec.enc0.network, spec.enc1.network) == ("pooled_embedding", "hcnn")
    assert (spec.enc1.token_embedding_dim, spec.enc1.vocab_size, spec.enc1.max_seq_len) == (
        8,
        VOCAB + 10,
        5,
    )


def test_tied_token_embeddings_are_one_table(small: dict, tmp_path: Path) -> None:
    _train({**SHORT, "tied_token_embedding_weight": "true"}, small, tmp_path)
    network = load(tmp_path).network
    assert network.enc0.embedding is network.enc1.embedding
    _train(SHORT, small, tmp_path / "untied")
    untied = load(tmp_path / "untied").network
    assert untied.enc0.embedding is not untied.enc1.embedding


@pytest.mark.parametrize(
    ("comparators", "width"), [("hadamard", 16), ("concat", 32), ("abs_diff, concat", 48)]
)
def test_the_comparator_list_sets_the_mlp_input(
    small: dict, tmp_path: Path, comparators: str, width: int
) -> None:
    hp = {**SHORT, "epochs": "1", "comparator_list": comparators, "mlp_layers": "1"}
    _train(hp, small, tmp_path)
    assert load(tmp_path).network.mlp[0].in_features == width


def test_mlp_layers_zero_is_a_linear_output(small: dict, tmp_path: Path) -> None:
    _train({**SHORT, "epochs": "1", "mlp_layers": "0", "num_classes": "3"}, small, tmp_path)
    network = load(tmp_path).network
    assert len(network.mlp) == 0
    assert network.output.out_features == 3


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_trains(small: dict, tmp_path: Path, optimizer: str) -> None:
    hp = {**SHORT, "optimizer": optimizer, "mlp_activation": "tanh", "dropout": "0.2"}
    ctx = _train(hp, small, tmp_path)
    assert all(math.isfinite(v) for _, metrics in ctx.reports for v in metrics.values())


def test_adadelta_takes_no_learning_rate(small: dict, tmp_path: Path) -> None:
    hp = {**SHORT, "optimizer": "adadelta"}
    slow = _train({**hp, "learning_rate": "0.0001"}, small, tmp_path / "a")
    fast = _train({**hp, "learning_rate": "0.1"}, small, tmp_path / "b")
    assert slow.reports == fast.reports


def test_the_same_hyperparameters_give_the_same_results(small: dict, tmp_path: Path) -> None:
    hp = {**SHORT, "dropout": "0.3", "negative_sampling_rate": "1", "bucket_width": "3"}
    assert _train(hp, small, tmp_path / "a").reports == _train(hp, small, tmp_path / "b").reports


# -- training options ----------------------------------------------------------------------------


def _trainer(small: dict, **hp: str) -> _Trainer:
    from algorithms.object2vec import _load_data, _network_spec

    torch = pytest.importorskip("torch")
    values = parse_hyperparameters(HYPERPARAMETERS, {**SHORT, **hp})
    data, layout = _load_data(values, small)
    spec = _network_spec(values, layout)
    return _Trainer(values, spec, data, torch.device("cpu"), [None, None], [True, True])


def test_negative_sampling_pairs_positives_with_other_positives(small: dict) -> None:
    trainer = _trainer(small, negative_sampling_rate="2")
    index0, index1, labels = trainer.epoch_records()
    n = len(trainer.train_labels)
    positives = int((trainer.train_labels == 1).sum())
    assert len(labels) == n + 2 * positives
    negatives = slice(n, None)
    assert (labels[negatives] == 0).all()
    assert (index0[negatives] != index1[negatives]).all()
    assert (trainer.train_labels[index0[negatives]] == 1).all()
    assert (trainer.train_labels[index1[negatives]] == 1).all()


def test_negative_sampling_trains_on_positive_records_only(topics: dict, tmp_path: Path) -> None:
    positives = [r for r in _records(topics["train"]) if r["label"] == 1]
    channels = {"train": write_jsonlines(tmp_path / "positives.jsonl", positives)}
    channels["validation"] = topics["validation"]
    ctx = _train({**BASE, "negative_sampling_rate": "1"}, channels, tmp_path / "o")
    best = max(metrics["validation:accuracy"] for _, metrics in ctx.reports)
    assert best > 0.7, best  # it learned what a negative looks like from positives alone


def test_bucketing_batches_records_of_similar_lengths(small: dict) -> None:
    trainer = _trainer(small, bucket_width="2", mini_batch_size="16")
    index0, index1, _ = trainer.epoch_records()
    batches = trainer.epoch_batches(index0, index1)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(index0)))
    for batch in batches:
        for side, index in ((0, index0), (1, index1)):
            bins = (trainer.train_lengths[side][index[batch]] - 1) // 2
            assert len(set(bins.tolist())) == 1
    assert len(batches) > len(index0) / 16  # bins split some batches


def test_row_sparse_updates_only_the_rows_a_batch_uses(small: dict) -> None:
    torch = pytest.importorskip("torch")
    trainer = _trainer(small, token_embedding_storage_type="row_sparse", mini_batch_size="4")
    embedding = trainer.network.enc0.embedding
    assert embedding is not None and embedding.sparse
    before = embedding.weight.detach().clone()
    trainer.values = {**trainer.values, "mini_batch_size": 4}
    positions = np.arange(4)
    batch = trainer.data["train"].batch(positions, positions)
    loss = trainer._loss(trainer.network(batch), trainer.data["train"].labels[:4]).mean()
    loss.backward()
    for optimizer in trainer.optimizers:
        optimizer.step()
    used = torch.unique(batch[0]).tolist()
    changed = (embedding.weight.detach() != before).any(dim=1).nonzero().ravel().tolist()
    assert set(changed) <= set(used) and changed


def test_row_sparse_trains(small: dict, tmp_path: Path) -> None:
    for optimizer in ("adam", "adagrad", "sgd"):
        hp = {**SHORT, "token_embedding_storage_type": "row_sparse", "optimizer": optimizer}
        ctx = _train({**hp, "bucket_width": "2"}, small, tmp_path / optimizer)
        assert math.isfinite(ctx.last("validation:cross_entropy"))


@pytest.mark.parametrize(
    "extra",
    [
        {"negative_sampling_rate": "1", "bucket_width": "10", "dropout": "0.2"},
        {"token_embedding_storage_type": "row_sparse", "optimizer": "adam", "dropout": "0.2"},
    ],
    ids=["negatives-buckets-dropout", "row-sparse"],
)
def test_a_resumed_job_trains_on_as_the_whole_one(
    small: dict, tmp_path: Path, extra: dict[str, str]
) -> None:
    hp = {**BASE, "epochs": "3", **extra}
    whole = CheckpointingContext(tmp_path / "whole", tmp_path / "whole-checkpoints")
    ALGORITHM.train(hp, small, whole)
    with pytest.raises(Crash):
        ALGORITHM.train(hp, small, CheckpointingContext(tmp_path / "a", tmp_path / "c", 2))
    resumed = CheckpointingContext(tmp_path / "b", tmp_path / "c")
    ALGORITHM.train(hp, small, resumed)
    assert resumed.epochs == [2, 3]
    assert resumed.reports == whole.reports[1:]


def test_stalled_counts_epochs_without_enough_improvement() -> None:
    assert not _stalled([1.0, 0.9], patience=1, tolerance=0.05)
    assert _stalled([1.0, 0.96], patience=1, tolerance=0.05)  # 0.04 is not enough
    assert not _stalled([1.0, 0.96, 0.97], patience=3, tolerance=0.05)
    assert _stalled([1.0, 0.96, 0.97, 1.2], patience=3, tolerance=0.05)
    assert not _stalled([1.0, 1.1, 0.5], patience=2, tolerance=0.05)  # improved again


def test_early_stopping_ends_training_and_scores_the_test_channel(
    small: dict, tmp_path: Path
) -> None:
    hp = {**BASE, "early_stopping_patience": "1", "early_stopping_tolerance": "0.1"}
    ctx = _train(hp, small, tmp_path)
    assert len(ctx.epochs) < 20
    assert all("test:accuracy" not in metrics for _, metrics in ctx.reports[:-1])
    assert "test:accuracy" in ctx.reports[-1][1]
    assert (tmp_path / MODEL_FILENAME).is_file()


def test_without_validation_the_training_loss_is_monitored(small: dict, tmp_path: Path) -> None:
    hp = {**BASE, "early_stopping_patience": "1", "early_stopping_tolerance": "0.1"}
    ctx = _train(hp, {"train": small["train"]}, tmp_path)
    assert len(ctx.epochs) < 20
    assert set(ctx.reports[-1][1]) == {"train:cross_entropy"}


# -- pretrained embeddings (auxiliary channel) ---------------------------------------------------


def _auxiliary(tmp_path: Path, width: int = 16) -> Path:
    folder = tmp_path / "auxiliary"
    folder.mkdir()
    rng = np.random.default_rng(0)
    lines = [
        f"w{i} " + " ".join(f"{v:.4f}" for v in rng.standard_normal(width)) for i in range(10)
    ]
    (folder / "glove.txt").write_text("\n".join(lines) + "\n")
    (folder / "vocab.json").write_text(json.dumps({f"w{i}": i for i in range(10)}))
    return folder


def test_pretrained_embeddings_start_the_table_and_stay_frozen(
    small: dict, tmp_path: Path
) -> None:
    channels = {**small, "auxiliary": _auxiliary(tmp_path)}
    hp = {**SHORT, "enc0_pretrained_embedding_file": "glove.txt", "enc0_vocab_file": "vocab.json"}
    _train(hp, channels, tmp_path / "frozen")
    glove = (tmp_path / "auxiliary" / "glove.txt").read_text().splitlines()
    expected = np.array([[float(v) for v in line.split()[1:]] for line in glove])
    weight = load(tmp_path / "frozen").network.enc0.embedding.weight.detach().numpy()
    np.testing.assert_allclose(weight[:10], expected, atol=1e-6)
    _train({**hp, "enc0_freeze_pretrained_embedding": "False"}, channels, tmp_path / "free")
    free = load(tmp_path / "free").network.enc0.embedding.weight.detach().numpy()
    assert not np.allclose(free[:10], expected, atol=1e-6)


def test_a_one_per_line_vocabulary_is_read(tmp_path: Path) -> None:
    from algorithms.object2vec import read_vocabulary

    (tmp_path / "vocab.txt").write_text("a\nb\n\nc\n")
    assert read_vocabulary(tmp_path, "vocab.txt", "enc0_vocab_file") == {"a": 0, "b": 1, "c": 3}


@pytest.mark.parametrize(
    ("hp", "auxiliary", "error", "match"),
    [
        ({"enc0_vocab_file": "vocab.json"}, False, InputError, "no 'auxiliary' channel"),
        ({"enc0_vocab_file": "none.json"}, True, InputError, "no file 'none.json'"),
        ({}, True, HyperparameterError, "'enc0_vocab_file' is needed"),
        (
            {"enc0_vocab_file": "vocab.json", "enc0_token_embedding_dim": "8"},
            True,
            HyperparameterError,
            "'enc0_token_embedding_dim' is 8 but .*glove.txt line 1 holds a vector of 16",
        ),
    ],
)
def test_bad_pretrained_settings_are_named(
    small: dict, tmp_path: Path, hp: dict, auxiliary: bool, error: type, match: str
) -> None:
    channels = {**small, **({"auxiliary": _auxiliary(tmp_path)} if auxiliary else {})}
    hp = {**SHORT, "enc0_pretrained_embedding_file": "glove.txt", **hp}
    with pytest.raises(error, match=match):
        _train(hp, channels, tmp_path / "out")


# -- the reader ----------------------------------------------------------------------------------

GOOD = '{"label": 1, "in0": [1, 2, 3], "in1": [4, 5]}'


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ('{"label": 1, "in0": [1, 2', r"train.jsonl line 2 is not JSON"),
        ("[1, 2, 3]", r"line 2: a record must be a JSON object"),
        ('{"label": 1, "in0": [1]}', r"line 2: the record has no 'in1'"),
        ('{"in0": [1], "in1": [2]}', r"line 2: the record has no 'label'"),
        ('{"label": 1, "in0": [], "in1": [2]}', r"line 2: 'in0' must be a non-empty list"),
        ('{"label": 1, "in0": "1 2", "in1": [2]}', r"line 2: 'in0' must be a non-empty list"),
        ('{"label": 1, "in0": [1, "x"], "in1": [2]}', r"line 2: 'in0' item 1 is \"x\", not a num"),
        ('{"label": 1, "in0": [1], "in1": [2, 900]}', r"'in1' token 1 is 900, out of range"),
        ('{"label": 1, "in0": [-1], "in1": [2]}', r"'in0' token 0 is -1, out of range"),
        ('{"label": 2, "in0": [1], "in1": [2]}', r"label 2 is out of range; .*0 \.\. 1"),
        ('{"label": 0.5, "in0": [1], "in1": [2]}', r"label 0.5 is out of range"),
        ('{"label": "yes", "in0": [1], "in1": [2]}', r"'label' is \"yes\", not a finite number"),
        ('{"label": 1, "in0": [1.5, 2.0], "in1": [2]}', r"'in0' is a vector .* token list"),
    ],
    ids=[
        "not-json",
        "not-object",
        "no-in1",
        "no-label",
        "empty",
        "string",
        "non-numeric",
        "token-too-big",
        "negative-token",
        "label-range",
        "label-fraction",
        "label-text",
        "kind-changes",
    ],
)
def test_bad_records_are_named(tmp_path: Path, line: str, match: str) -> None:
    channel = tmp_path / "train.jsonl"
    channel.write_text(f"{GOOD}\n{line}\n{GOOD}\n")
    with pytest.raises(InputError, match=f"train channel: .*{match}"):
        _train(SHORT, {"train": channel}, tmp_path / "out")


def test_vector_records_are_checked(tmp_path: Path) -> None:
    channel = tmp_path / "train.jsonl"
    channel.write_text(
        '{"label": 0.5, "in0": [1.0, 2.0], "in1": [0.5, 1.5]}\n'
        '{"label": 0.5, "in0": [1.0, 2.0, 3.0], "in1": [0.5, 1.5]}\n'
    )
    with pytest.raises(InputError, match="line 2: 'in0' is a vector of 3 numbers but in .*line 1"):
        _train(VECTORS, {"train": channel}, tmp_path / "out")
    channel.write_text('{"label": 0.5, "in0": [1.0, NaN], "in1": [0.5, 1.5]}\n')
    with pytest.raises(InputError, match="line 1: 'in0' item 1 is missing or not finite"):
        _train(VECTORS, {"train": channel}, tmp_path / "out")


def test_a_bad_validation_record_names_its_channel(small: dict, tmp_path: Path) -> None:
    bad = tmp_path / "validation.jsonl"
    bad.write_text('{"label": 1, "in0": [1.0], "in1": [2]}\n')  # train's in0 is tokens
    with pytest.raises(InputError, match="validation channel: validation.jsonl line 1: 'in0'"):
        _train(SHORT, {"train": small["train"], "validation": bad}, tmp_path / "out")


def test_non_utf8_and_empty_channels_are_named(tmp_path: Path) -> None:
    channel = tmp_path / "train.jsonl"
    channel.write_bytes(GOOD.encode() + b"\n\xff\xfe\n")
    with pytest.raises(InputError, match="train channel: train.jsonl line 2 is not UTF-8"):
        _train(SHORT, {"train": channel}, tmp_path / "out")
    channel.write_text("\n\n")
    with pytest.raises(InputError, match="train channel: it holds no records"):
        _train(SHORT, {"train": channel}, tmp_path / "out")
    with pytest.raises(InputError, match="'train' channel"):
        _train(SHORT, {"validation": channel}, tmp_path / "out")


def test_a_folder_of_files_with_blank_lines_and_long_sequences(tmp_path: Path) -> None:
    folder = tmp_path / "train"
    records = planted_topic_pairs(40, seed=5)
    write_jsonlines(folder / "a.jsonl", records[:20])
    (folder / "b.jsonl").write_text(
        "\n".join(json.dumps(r) for r in records[20:]) + "\n\n"
    )  # blank lines at the end
    ctx = _train(
        {**SHORT, "enc0_max_seq_len": "4", "enc1_max_seq_len": "3"},
        {"train": folder},
        tmp_path / "o",
    )
    assert ctx.epochs == [1, 2]
    model = load(tmp_path / "o")
    assert (model.spec.enc0.max_seq_len, model.spec.enc1.max_seq_len) == (4, 3)
    # longer sequences are truncated: only their first tokens count
    long = {"in0": [1, 2, 3, 4, 5, 6], "in1": [7, 8, 9, 10]}
    cut = {"in0": [1, 2, 3, 4], "in1": [7, 8, 9]}
    np.testing.assert_allclose(model.predict([long]), model.predict({"instances": [cut]}))


def test_the_request_check_refuses_a_tabular_content_type(small: dict) -> None:
    """tuner.spec.inputs: object2vec's channels are JSON Lines; text/csv is refused upfront."""
    from tuner.spec.inputs import check_inputs
    from tuner.spec.problems import Problems

    def problems_for(content_type: str) -> list[str]:
        channel = {"ChannelName": "train", "ContentType": content_type, "DataSource": {}}
        found = Problems()
        check_inputs({"InputDataConfig": [channel]}, "object2vec", small, found)
        return found.items

    assert problems_for("application/jsonlines") == []
    (problem,) = problems_for("text/csv")
    assert "InputDataConfig[0] ('train').ContentType" in problem
    assert "object2vec reads JSON Lines pairs" in problem
