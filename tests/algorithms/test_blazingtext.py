"""Tests for the built-in BlazingText: both modes on planted text, the model, inputs and errors.

The text is generated from the planted synonym groups shipped with the package
(``algorithms/blazingtext_data``; no downloads): seven groups of four words in three topics,
each line mostly about one group. Supervised mode labels each line with its group (chance is
1 in 7); the Word2Vec modes learn vectors from the same lines and are scored by Spearman's rho
against the shipped similarity set, which scores the planted words by construction. What every
algorithm must do (epochs, stops, determinism, a loadable model, CUDA) is in
tests/contracts/test_algorithm_contract.py, run there in supervised mode.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
from algorithm_context import CheckpointingContext, Crash, FakeContext

from algorithms import HyperparameterError, InputError, get_algorithm
from algorithms.base import parse_hyperparameters
from algorithms.blazingtext import (
    ALGORITHM,
    CORPUS_FILE,
    HYPERPARAMETERS,
    MODEL_FILENAME,
    REPORTED_METRICS,
    SIMILARITY_FILE,
    VECTORS_FILENAME,
    SupervisedModel,
    WordVectors,
    char_ngrams,
    fnv1a,
    load,
    mean_rho,
    planted_corpus,
    planted_similarity,
    read_similarity,
    read_vectors,
    supervised_batch,
)

pytestmark = [pytest.mark.usefixtures("one_torch_thread")]

ROOT = Path(__file__).resolve().parents[2]
#: Quick supervised settings: small vectors and a high rate (fastText's users' habit on small
#: data); the validation accuracy passes 0.9 within these epochs on the planted lines.
SUPERVISED = {"mode": "supervised", "vector_dim": "16", "epochs": "5", "learning_rate": "0.5"}
#: Quick Word2Vec settings: less down-sampling than the default, which on a 46-word vocabulary
#: keeps under a tenth of the words; mean_rho passes 0.8 within these epochs.
WORD2VEC = {"vector_dim": "16", "epochs": "3", "sampling_threshold": "0.001"}


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """train (1,000 lines) and validation (300) channels labelled by planted group."""
    directory = tmp_path_factory.mktemp("labelled")
    return {
        "train": _write(directory / "train.txt", planted_corpus(1000, seed=1, labelled=True)),
        "validation": _write(directory / "validation.txt", planted_corpus(300, 2, labelled=True)),
    }


@pytest.fixture(scope="module")
def sentences() -> dict[str, Path]:
    """The shipped planted corpus (2,000 lines) as a Word2Vec train channel."""
    return {"train": CORPUS_FILE}


def _train(hp: dict[str, str], channels: dict[str, Path], output: Path) -> FakeContext:
    ctx = FakeContext(output)
    ALGORITHM.train(hp, channels, ctx)
    return ctx


# -- the declarations -----------------------------------------------------------------------------
def test_registered_under_sagemakers_names() -> None:
    assert get_algorithm("blazingtext") is ALGORITHM
    assert get_algorithm("BlazingText") is ALGORITHM
    for tag in ("1", "latest"):
        image = f"811284229777.dkr.ecr.us-east-1.amazonaws.com/blazingtext:{tag}"
        assert get_algorithm(image) is ALGORITHM


def test_amt_metrics_and_directions() -> None:
    assert dict(ALGORITHM.metrics) == {
        "validation:accuracy": "Maximize",
        "train:mean_rho": "Maximize",
    }
    assert REPORTED_METRICS == ("train:accuracy",)  # reported, not an AMT objective
    assert not set(REPORTED_METRICS) & set(ALGORITHM.metrics)


def test_defaults_are_sagemakers() -> None:
    values = parse_hyperparameters(HYPERPARAMETERS, {"mode": "skipgram"})
    assert {k: v for k, v in values.items() if k != "mode"} == {
        "batch_size": 11,
        "buckets": 2_000_000,
        "epochs": 5,
        "evaluation": True,
        "learning_rate": 0.05,
        "min_char": 3,
        "min_count": 5,
        "max_char": 6,
        "negative_samples": 5,
        "sampling_threshold": 0.0001,
        "subwords": False,
        "vector_dim": 100,
        "window_size": 5,
        "early_stopping": False,
        "min_epochs": 5,
        "patience": 4,
        "word_ngrams": 2,
    }


def test_tuning_ranges_are_amts() -> None:
    ranges = {
        name: (r.kind, r.min_value, r.max_value, r.values)
        for name, r in ALGORITHM.tuning_ranges.items()
    }
    assert ranges == {
        "batch_size": ("Integer", 8, 32, ()),
        "buckets": ("Integer", 1_000_000, 10_000_000, ()),
        "epochs": ("Integer", 5, 15, ()),
        "learning_rate": ("Continuous", 0.005, 0.01, ()),
        "min_count": ("Integer", 0, 100, ()),
        "mode": ("Categorical", None, None, ("batch_skipgram", "skipgram", "cbow")),
        "negative_samples": ("Integer", 5, 25, ()),
        "sampling_threshold": ("Continuous", 0.0001, 0.001, ()),
        "vector_dim": ("Integer", 32, 300, ()),
        "window_size": ("Integer", 1, 10, ()),
        "word_ngrams": ("Integer", 1, 3, ()),
    }


def test_the_shipped_data_is_what_the_generators_make() -> None:
    assert CORPUS_FILE.read_text(encoding="utf-8").splitlines() == planted_corpus(2000)
    assert read_similarity(SIMILARITY_FILE) == planted_similarity()
    pyproject = (ROOT / "pyproject.toml").read_text()
    line = next(x for x in pyproject.splitlines() if x.startswith("algorithms = ["))
    for file in (CORPUS_FILE, SIMILARITY_FILE):  # installed with the package
        assert f'"blazingtext_data/*{file.suffix}"' in line, file


# -- hyperparameters ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("mode", "fasttext", "one of supervised, skipgram, cbow, batch_skipgram"),
        ("epochs", "0", ">= 1"),
        ("learning_rate", "0", "> 0"),
        ("vector_dim", "0", ">= 1"),
        ("min_count", "-1", ">= 0"),
        ("buckets", "0", ">= 1"),
        ("word_ngrams", "0", ">= 1"),
        ("patience", "0", ">= 1"),
        ("min_epochs", "0", ">= 1"),
        ("window_size", "0", ">= 1"),
        ("negative_samples", "0", ">= 1"),
        ("sampling_threshold", "0", "> 0"),
        ("sampling_threshold", "1.5", "<= 1"),
        ("batch_size", "0", ">= 1"),
        ("min_char", "0", ">= 1"),
        ("max_char", "0", ">= 1"),
        ("evaluation", "maybe", "true or false"),
        ("subwords", "yes", "true or false"),
        ("early_stopping", "2", "true or false"),
        ("epochs", "2.5", "an integer"),
    ],
)
def test_bad_values_are_named(
    labelled: dict[str, Path], tmp_path: Path, name: str, value: str, match: str
) -> None:
    with pytest.raises(HyperparameterError, match=f"'{name}'.*{match}"):
        _train({**SUPERVISED, name: value}, labelled, tmp_path)


def test_mode_is_required(labelled: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(HyperparameterError, match="'mode' is required"):
        _train({"epochs": "1"}, labelled, tmp_path)


@pytest.mark.parametrize(
    ("hp", "channels", "match"),
    [
        (
            {"mode": "supervised", "_tuning_objective_metric": "train:mean_rho"},
            ("train", "validation"),
            "mode supervised reports validation:accuracy, not train:mean_rho",
        ),
        (
            {"mode": "cbow", "_tuning_objective_metric": "validation:accuracy"},
            ("train",),
            "mode cbow reports train:mean_rho, not validation:accuracy",
        ),
        (
            {"mode": "supervised", "_tuning_objective_metric": "validation:accuracy"},
            ("train",),
            "validation:accuracy needs a 'validation' channel",
        ),
        (
            {"mode": "supervised", "_tuning_objective_metric": "train:accuracy"},
            ("train",),
            "'train:accuracy' is not a metric of blazingtext",
        ),
        (
            {
                "mode": "skipgram",
                "evaluation": "false",
                "_tuning_objective_metric": "train:mean_rho",
            },
            ("train",),
            "train:mean_rho needs evaluation=true",
        ),
        (
            {"mode": "supervised", "early_stopping": "true"},
            ("train",),
            "'early_stopping': it needs a 'validation' channel",
        ),
        (
            {"mode": "batch_skipgram", "subwords": "true"},
            ("train",),
            "'subwords': batch_skipgram does not learn subwords",
        ),
        (
            {"mode": "skipgram", "subwords": "true", "min_char": "5", "max_char": "4"},
            ("train",),
            "max_char must be at least min_char",
        ),
    ],
)
def test_combinations_that_cannot_work_are_refused(
    labelled: dict[str, Path], tmp_path: Path, hp: dict, channels: tuple, match: str
) -> None:
    with pytest.raises(HyperparameterError, match=match):
        _train(hp, {name: labelled[name] for name in channels}, tmp_path)


def test_the_other_modes_hyperparameters_are_ignored(
    labelled: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="algorithms.blazingtext"):
        ctx = _train({**SUPERVISED, "epochs": "1", "window_size": "3"}, labelled, tmp_path)
    assert ctx.epochs == [1]
    assert "ignores window_size" in caplog.text


def test_high_rates_use_smaller_supervised_batches() -> None:
    assert supervised_batch(0.005) == supervised_batch(0.05) == 256
    assert supervised_batch(0.5) == 25
    assert supervised_batch(100.0) == 1


# -- supervised mode ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def supervised(
    labelled: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[FakeContext, Path]:
    output = tmp_path_factory.mktemp("supervised")
    return _train(SUPERVISED, labelled, output), output


def test_supervised_accuracy_is_far_above_chance(supervised: tuple[FakeContext, Path]) -> None:
    ctx, _ = supervised
    assert ctx.epochs == [1, 2, 3, 4, 5]
    for _, metrics in ctx.reports:
        assert set(metrics) == {"train:accuracy", "validation:accuracy"}
    assert ctx.last("validation:accuracy") > 0.85  # chance: 1 in 7
    assert ctx.last("train:accuracy") > 0.85


def test_the_saved_classifier_predicts_what_was_reported(
    supervised: tuple[FakeContext, Path], labelled: dict[str, Path]
) -> None:
    ctx, output = supervised
    model = load(output)
    assert isinstance(model, SupervisedModel)
    assert ALGORITHM.load(output / MODEL_FILENAME).labels == model.labels
    lines = labelled["validation"].read_text().splitlines()
    predicted = model.predict(lines)  # the leading label is ignored
    truth = [line.split()[0] for line in lines]
    accuracy = np.mean([p == t for p, t in zip(predicted, truth, strict=True)])
    assert accuracy == pytest.approx(ctx.last("validation:accuracy"), abs=1e-9)
    probabilities = model.predict_proba(["soup broth stew the", ["car", "truck", "road"]])
    assert probabilities.shape == (2, len(model.labels))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert model.predict(["soup broth stew chowder", "happy glad cheerful joyful"]) == [
        "__label__food-1",
        "__label__feeling-0",
    ]
    assert len(model.predict(["", "words never seen"])) == 2  # no rows: a label all the same


def test_word_ngrams_and_unigrams_both_learn(labelled: dict[str, Path], tmp_path: Path) -> None:
    for n in ("1", "3"):
        ctx = _train({**SUPERVISED, "word_ngrams": n}, labelled, tmp_path / n)
        assert ctx.last("validation:accuracy") > 0.8


def test_a_line_may_have_several_labels(labelled: dict[str, Path], tmp_path: Path) -> None:
    """Training uses the first label; a prediction is right when it is any of them."""
    lines = labelled["validation"].read_text().splitlines()
    every_label = sorted({line.split()[0] for line in lines})
    multi = _write(tmp_path / "multi.txt", [" ".join(every_label) + " the a of"] * 10)
    ctx = _train({**SUPERVISED, "epochs": "1"}, {**labelled, "validation": multi}, tmp_path)
    assert ctx.last("validation:accuracy") == 1.0


def test_early_stopping_ends_when_validation_stalls(
    labelled: dict[str, Path], tmp_path: Path
) -> None:
    hp = {**SUPERVISED, "epochs": "40", "early_stopping": "true", "patience": "2"}
    ctx = _train({**hp, "min_epochs": "3"}, labelled, tmp_path / "a")
    assert 3 <= len(ctx.epochs) < 40
    accuracies = [m["validation:accuracy"] for _, m in ctx.reports]
    best = accuracies.index(max(accuracies)) + 1
    assert len(ctx.epochs) == max(best + 2, 3)
    late = _train({**hp, "min_epochs": "30"}, labelled, tmp_path / "b")
    assert len(late.epochs) >= 30


def test_without_validation_only_train_accuracy_is_reported(
    labelled: dict[str, Path], tmp_path: Path
) -> None:
    ctx = _train({**SUPERVISED, "epochs": "2"}, {"train": labelled["train"]}, tmp_path)
    assert [set(m) for _, m in ctx.reports] == [{"train:accuracy"}] * 2


def test_min_count_drops_rare_words(labelled: dict[str, Path], tmp_path: Path) -> None:
    rare = _write(tmp_path / "rare.txt", ["__label__a common rare1", "__label__b common rare2"])
    _train({**SUPERVISED, "epochs": "1", "min_count": "2"}, {"train": rare}, tmp_path / "a")
    assert load(tmp_path / "a").words == ("common",)  # type: ignore[union-attr]
    _train({**SUPERVISED, "epochs": "1", "min_count": "0"}, {"train": rare}, tmp_path / "b")
    assert set(load(tmp_path / "b").words) == {"common", "rare1", "rare2"}  # type: ignore[union-attr]


def test_fasttexts_token_hash() -> None:
    assert fnv1a("") == 2166136261
    assert fnv1a("a") == 0xE40C292C  # FNV-1a's published value for "a"
    # fastText adds bytes as signed chars: a non-ASCII byte differs from plain FNV-1a.
    plain = 2166136261
    for byte in "é".encode():
        plain = ((plain ^ byte) * 16777619) & 0xFFFFFFFF
    assert fnv1a("é") != plain


# -- Word2Vec modes -------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["skipgram", "cbow", "batch_skipgram"])
def test_word2vec_learns_the_planted_similarities(
    mode: str, sentences: dict[str, Path], tmp_path: Path
) -> None:
    ctx = _train({**WORD2VEC, "mode": mode}, sentences, tmp_path)
    assert ctx.epochs == [1, 2, 3]
    assert all(set(m) == {"train:mean_rho"} for _, m in ctx.reports)
    assert ctx.last("train:mean_rho") > 0.7
    vectors = load(tmp_path)
    assert isinstance(vectors, WordVectors)
    similar = vectors.predict(["car", "automobile", "soup"])
    cosine = similar @ similar.T / np.outer(*[np.linalg.norm(similar, axis=1)] * 2)
    assert cosine[0, 1] > cosine[0, 2]


def test_the_default_settings_learn_too(sentences: dict[str, Path], tmp_path: Path) -> None:
    """SageMaker's defaults down-sample a 46-word vocabulary hard: rho still rises."""
    ctx = _train({"mode": "batch_skipgram"}, sentences, tmp_path)
    assert len(ctx.epochs) == 5
    rhos = [m["train:mean_rho"] for _, m in ctx.reports]
    assert rhos[-1] > 0.3 and rhos[-1] > rhos[0]


def test_a_high_rate_on_a_small_vocabulary_does_not_diverge(
    sentences: dict[str, Path], tmp_path: Path
) -> None:
    """Many pairs of a 46-word vocabulary share a mini-batch: each row's step is capped."""
    hp = {**WORD2VEC, "mode": "skipgram", "learning_rate": "0.5", "sampling_threshold": "0.01"}
    ctx = _train({**hp, "epochs": "2"}, sentences, tmp_path)
    assert all(math.isfinite(m["train:mean_rho"]) for _, m in ctx.reports)
    assert np.isfinite(load(tmp_path).vectors).all()  # type: ignore[union-attr]


def test_vectors_txt_is_written_as_sagemaker_does(
    sentences: dict[str, Path], tmp_path: Path
) -> None:
    _train({**WORD2VEC, "mode": "skipgram", "epochs": "1"}, sentences, tmp_path)
    model = load(tmp_path)
    assert isinstance(model, WordVectors)
    lines = (tmp_path / VECTORS_FILENAME).read_text().splitlines()
    assert lines[0] == f"{len(model.words)} 16"
    assert len(lines) == len(model.words) + 1
    written = read_vectors(tmp_path / VECTORS_FILENAME)
    assert list(written) == list(model.words)
    for word, vector in zip(model.words, model.vectors, strict=True):
        np.testing.assert_allclose(written[word], vector, rtol=1e-5, atol=1e-6)


def test_subwords_give_unseen_words_vectors(sentences: dict[str, Path], tmp_path: Path) -> None:
    hp = {**WORD2VEC, "mode": "skipgram", "subwords": "true", "buckets": "50000"}
    ctx = _train(hp, sentences, tmp_path)
    assert ctx.last("train:mean_rho") > 0.7
    model = load(tmp_path)
    assert isinstance(model, WordVectors)
    assert "automobiles" not in model.words
    unseen = model.vector("automobiles")
    assert unseen is not None and np.isfinite(unseen).all()
    assert model.vector("zzzzzzzz") is None or np.isfinite(model.vector("zzzzzzzz")).all()
    without = _train({**hp, "subwords": "false"}, sentences, tmp_path / "plain")
    assert without.reports
    assert load(tmp_path / "plain").vector("automobiles") is None  # type: ignore[union-attr]


def test_char_ngrams_are_fasttexts() -> None:
    assert char_ngrams("car", 3, 4) == ["<ca", "car", "ar>", "<car", "car>"]
    assert "<car>" not in char_ngrams("car", 3, 6)


def test_word2vec_repeats_exactly(sentences: dict[str, Path], tmp_path: Path) -> None:
    hp = {**WORD2VEC, "mode": "batch_skipgram", "epochs": "2"}
    first = _train(hp, sentences, tmp_path / "a")
    second = _train(hp, sentences, tmp_path / "b")
    assert first.reports == second.reports
    a, b = load(tmp_path / "a"), load(tmp_path / "b")
    np.testing.assert_array_equal(a.vectors, b.vectors)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "hp",
    [
        {**WORD2VEC, "mode": "skipgram", "subwords": "true"},
        {**WORD2VEC, "mode": "cbow"},
        {**WORD2VEC, "mode": "batch_skipgram"},
    ],
    ids=["skipgram-subwords", "cbow", "batch_skipgram"],
)
def test_a_resumed_word2vec_job_trains_on_as_the_whole_one(
    hp: dict[str, str], sentences: dict[str, Path], tmp_path: Path
) -> None:
    whole = CheckpointingContext(tmp_path / "whole", tmp_path / "whole-checkpoints")
    ALGORITHM.train(hp, sentences, whole)
    with pytest.raises(Crash):
        ALGORITHM.train(hp, sentences, CheckpointingContext(tmp_path / "a", tmp_path / "c", 2))
    resumed = CheckpointingContext(tmp_path / "b", tmp_path / "c")
    ALGORITHM.train(hp, sentences, resumed)
    assert resumed.epochs == [2, 3] and resumed.reports == whole.reports[1:]
    a, b = load(whole.output_dir), load(resumed.output_dir)
    np.testing.assert_array_equal(a.vectors, b.vectors)  # type: ignore[union-attr]


def test_a_job_early_stopping_ended_resumes_to_nothing_but_its_model(
    labelled: dict[str, Path], tmp_path: Path
) -> None:
    hp = {**SUPERVISED, "epochs": "40", "early_stopping": "true", "patience": "2"}
    hp["min_epochs"] = "3"
    first = CheckpointingContext(tmp_path / "a", tmp_path / "checkpoints")
    ALGORITHM.train(hp, labelled, first)
    assert len(first.epochs) < 40
    again = CheckpointingContext(tmp_path / "b", tmp_path / "checkpoints")
    ALGORITHM.train(hp, labelled, again)
    assert again.reports == []  # the checkpoint is the epoch early stopping ended it at
    a, b = load(first.output_dir), load(again.output_dir)
    np.testing.assert_array_equal(a.input_vectors, b.input_vectors)  # type: ignore[union-attr]


def test_a_stop_request_saves_the_vectors(sentences: dict[str, Path], tmp_path: Path) -> None:
    ctx = FakeContext(tmp_path, stop_after=1)
    ALGORITHM.train({**WORD2VEC, "mode": "cbow", "epochs": "4"}, sentences, ctx)
    assert ctx.epochs == [1]
    assert (tmp_path / MODEL_FILENAME).exists() and (tmp_path / VECTORS_FILENAME).exists()


def test_without_evaluation_no_rho_is_reported(sentences: dict[str, Path], tmp_path: Path) -> None:
    ctx = _train({**WORD2VEC, "mode": "cbow", "evaluation": "false"}, sentences, tmp_path)
    assert ctx.epochs == [1, 2, 3]
    assert all(not m for _, m in ctx.reports)


def test_text_without_the_similarity_words_reports_no_rho(tmp_path: Path) -> None:
    other = _write(tmp_path / "other.txt", ["alpha beta gamma delta"] * 50)
    ctx = _train({**WORD2VEC, "mode": "skipgram", "min_count": "1"}, {"train": other}, tmp_path)
    assert ctx.epochs == [1, 2, 3] and all(not m for _, m in ctx.reports)
    assert load(tmp_path).words  # type: ignore[union-attr]


def test_mean_rho_is_spearmans_over_known_pairs() -> None:
    words = ("a", "b", "c")
    vectors = WordVectors(
        words=words,
        vectors=np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]),
        subword_vectors=np.zeros((0, 2)),
        used_buckets=np.zeros(0, dtype=np.int64),
    )
    pairs = [("a", "b", 9.0), ("a", "c", 1.0), ("b", "c", 2.0), ("a", "unknown", 5.0)]
    assert mean_rho(vectors, [pairs]) == pytest.approx(1.0)
    reversed_scores = [(x, y, -s) for x, y, s in pairs]
    assert mean_rho(vectors, [pairs, reversed_scores]) == pytest.approx(0.0)
    assert math.isnan(mean_rho(vectors, [[("x", "y", 1.0)]]))


# -- input ----------------------------------------------------------------------------------------
def test_a_line_without_a_label_is_named(labelled: dict[str, Path], tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.txt", ["__label__a one two", "__label__b three", "four five"])
    with pytest.raises(InputError, match=r"train channel: bad.txt line 3 \('four five'\)"):
        _train(SUPERVISED, {**labelled, "train": bad}, tmp_path)
    with pytest.raises(InputError, match="validation channel: bad.txt line 3"):
        _train(SUPERVISED, {**labelled, "validation": bad}, tmp_path)
    empty_label = _write(tmp_path / "empty.txt", ["__label__ one two"])
    with pytest.raises(InputError, match="empty.txt line 1"):
        _train(SUPERVISED, {"train": empty_label}, tmp_path)


@pytest.mark.parametrize("mode", ["supervised", "skipgram"])
def test_bytes_that_are_not_text_are_named(mode: str, tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"__label__a ok line\n__label__b caf\xe9 au lait\n")
    with pytest.raises(InputError, match="train channel: latin1.txt line 2 is not UTF-8"):
        _train({"mode": mode}, {"train": latin1}, tmp_path)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"__label__a fine\n__label__a nul\x00byte\n")
    with pytest.raises(InputError, match="binary.txt line 2 holds a NUL byte"):
        _train({"mode": mode}, {"train": binary}, tmp_path)


def test_empty_and_missing_channels_are_named(tmp_path: Path) -> None:
    empty = _write(tmp_path / "empty.txt", ["", "   "])
    with pytest.raises(InputError, match="train channel: it holds no"):
        _train(SUPERVISED, {"train": empty}, tmp_path)
    with pytest.raises(InputError, match="train channel: it holds no text"):
        _train({"mode": "cbow"}, {"train": empty}, tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        _train({"mode": "cbow"}, {"train": tmp_path / "nowhere"}, tmp_path)
    (tmp_path / "folder").mkdir()
    with pytest.raises(InputError, match="has no files"):
        _train({"mode": "cbow"}, {"train": tmp_path / "folder"}, tmp_path)
    with pytest.raises(InputError, match="'train' channel"):
        _train({"mode": "cbow"}, {"validation": empty}, tmp_path)


def test_too_rare_words_are_a_clear_error(tmp_path: Path) -> None:
    text = _write(tmp_path / "t.txt", ["each word once"])
    with pytest.raises(InputError, match="no word occurs min_count=5 times"):
        _train({"mode": "skipgram"}, {"train": text}, tmp_path)


def test_a_folder_of_text_files_is_read_in_order(
    labelled: dict[str, Path], tmp_path: Path
) -> None:
    lines = labelled["train"].read_text().splitlines()
    folder = tmp_path / "train"
    _write(folder / "part-0.txt", lines[:500])
    _write(folder / "part-1.txt", lines[500:])
    (folder / ".hidden").write_text("not a labelled line\n")
    whole = _train({**SUPERVISED, "epochs": "2"}, labelled, tmp_path / "a")
    split = _train({**SUPERVISED, "epochs": "2"}, {**labelled, "train": folder}, tmp_path / "b")
    assert whole.reports == split.reports
