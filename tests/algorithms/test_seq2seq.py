"""Tests for the built-in seq2seq: the two data formats and their errors, BLEU, the
hyperparameter checks, the training loop's stops and schedules, the saved model, and its
quality on a generated translation task.

The task is :func:`algorithms.seq2seq.reversal_pairs` (seeded, no downloads): the target is the
source reversed with every token renamed (``t3`` -> ``T3``), so copying the source scores BLEU 0
and a model that learned the task scores 1. What every algorithm must do (epochs, stops,
determinism, a loadable model, CUDA) is in tests/contracts/test_algorithm_contract.py.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest
from algorithm_context import CheckpointingContext, Crash, FakeContext

from algorithms import HyperparameterError, InputError, get_algorithm
from algorithms.base import parse_hyperparameters
from algorithms.record_proto import record_class
from algorithms.recordio import frame_record
from algorithms.seq2seq import (
    ALGORITHM,
    HYPERPARAMETERS,
    METRICS,
    MODEL_FILENAME,
    Vocabulary,
    _scheduled_rate,
    build_vocabulary,
    load,
    load_data,
    reversal_pairs,
    write_recordio_pairs,
    write_vocabulary,
)
from algorithms.seq2seq_bleu import corpus_bleu

pytestmark = [pytest.mark.usefixtures("one_torch_thread")]

#: A tiny network that trains in a fraction of a second per epoch.
SMALL = {
    "max_num_epochs": "2",
    "batch_size": "50",
    "checkpoint_frequency_num_batches": "4",
    "rnn_num_hidden": "16",
    "num_embed_source": "8",
    "num_embed_target": "8",
    "max_seq_len_source": "10",
    "max_seq_len_target": "10",
    "beam_size": "2",
    "learning_rate": "0.01",
}
SOURCE = Vocabulary(("<pad>", "<unk>", "<s>", "</s>", "a", "b", "c"))
TARGET = Vocabulary(("<pad>", "<unk>", "<s>", "</s>", "X", "Y"))


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _vocab_channel(folder: Path, source: Vocabulary = SOURCE, target=TARGET) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_vocabulary(folder / "vocab.src.json", source)
    write_vocabulary(folder / "vocab.trg.json", target)
    return folder


def _cfg(**hp: str) -> dict:
    return parse_hyperparameters(HYPERPARAMETERS, hp)


def _text_channels(directory: Path, n_train: int = 200, n_validation: int = 50) -> dict:
    return {
        "train": _write_lines(directory / "train.txt", reversal_pairs(n_train, seed=1)),
        "validation": _write_lines(
            directory / "validation.txt", reversal_pairs(n_validation, seed=2)
        ),
    }


@pytest.fixture(scope="module")
def text_channels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _text_channels(tmp_path_factory.mktemp("reversal"))


def _train(hp: dict[str, str], channels: dict, out: Path, **kwargs) -> FakeContext:
    ctx = FakeContext(out, **kwargs)
    ALGORITHM.train(hp, channels, ctx)
    return ctx


# -- declarations ---------------------------------------------------------------------------------


def test_amt_metrics_and_registration() -> None:
    assert dict(METRICS) == {
        "validation:accuracy": "Maximize",
        "validation:bleu": "Maximize",
        "validation:perplexity": "Minimize",
    }
    assert get_algorithm("seq2seq") is ALGORITHM
    assert get_algorithm("224300973850.dkr.ecr.eu-west-1.amazonaws.com/seq2seq:1") is ALGORITHM


def test_defaults_are_sagemakers() -> None:
    cfg = _cfg()
    assert cfg["encoder_type"] == cfg["decoder_type"] == "rnn"
    assert (cfg["rnn_num_hidden"], cfg["cnn_num_hidden"], cfg["num_embed_source"]) == (
        1024,
        512,
        512,
    )
    assert (cfg["batch_size"], cfg["checkpoint_frequency_num_batches"]) == (64, 1000)
    assert cfg["optimized_metric"] == "perplexity" and cfg["beam_size"] == 5
    assert cfg["learning_rate"] == pytest.approx(0.0003)
    assert cfg["max_num_epochs"] is None and cfg["max_num_batches"] == -1


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("encoder_type", "transformer", "'encoder_type'.*one of rnn, cnn"),
        ("rnn_num_hidden", "15", "'rnn_num_hidden'.*even"),
        ("clip_gradient", "0", "'clip_gradient'"),
        ("max_num_batches", "0", "'max_num_batches'"),
        ("weight_init_scale", "-1", "'weight_init_scale'.*xavier"),
        ("bleu_sample_size", "-2", "'bleu_sample_size'"),
        ("learning_rate", "0", "'learning_rate'"),
        ("optimized_metric", "loss", "'optimized_metric'"),
        ("_tuning_objective_metric", "validation:loss", "not a metric of seq2seq"),
    ],
)
def test_bad_values_are_named(name: str, value: str, match: str, text_channels, tmp_path) -> None:
    with pytest.raises(HyperparameterError, match=match):
        _train({**SMALL, name: value}, text_channels, tmp_path)


def test_uniform_initialisation_takes_amt_negative_scales(text_channels, tmp_path) -> None:
    hp = {**SMALL, "max_num_epochs": "1", "weight_init_type": "uniform"}
    ctx = _train({**hp, "weight_init_scale": "-0.1"}, text_channels, tmp_path)
    assert ctx.epochs == [1]


# -- data -----------------------------------------------------------------------------------------


def test_reads_recordio_protobuf_with_sagemaker_vocab_files(tmp_path: Path) -> None:
    write_recordio_pairs(tmp_path / "train.rec", [([4, 5], [4]), ([6, 6, 5], [5, 4])])
    with (tmp_path / "validation.rec.gz").open("wb") as handle:  # gzipped, as S3 may hold it
        payload = (tmp_path / "train.rec").read_bytes()
        handle.write(gzip.compress(payload))
    channels = {
        "train": tmp_path / "train.rec",
        "validation": tmp_path / "validation.rec.gz",
        "vocab": _vocab_channel(tmp_path / "vocab"),
    }
    data, source, target = load_data(channels, _cfg())
    assert data["train"] == [([4, 5], [4]), ([6, 6, 5], [5, 4])]
    assert data["validation"] == data["train"]
    assert source == SOURCE and target == TARGET
    # the vocab files are SageMaker's token -> id maps
    assert json.loads((tmp_path / "vocab" / "vocab.trg.json").read_text())["Y"] == 5


def test_text_pairs_build_their_vocabularies_from_train(tmp_path: Path) -> None:
    channels = {
        "train": _write_lines(tmp_path / "train" / "a.txt", ["b a a\tY X", "", "c a\tX"]),
        "validation": _write_lines(tmp_path / "validation.txt", ["a d\tX Z"]),
    }
    data, source, target = load_data(channels, _cfg())
    # the special symbols, then tokens by falling count, ties lexically
    assert source.tokens == ("<pad>", "<unk>", "<s>", "</s>", "a", "b", "c")
    assert target.tokens == ("<pad>", "<unk>", "<s>", "</s>", "X", "Y")
    assert data["train"] == [([5, 4, 4], [5, 4]), ([6, 4], [4])]
    assert data["validation"] == [([4, 1], [4, 1])]  # unseen tokens are <unk>


def test_text_pairs_take_the_vocab_channel_when_given(tmp_path: Path) -> None:
    channels = {
        "train": _write_lines(tmp_path / "train.txt", ["c b\tY"]),
        "validation": _write_lines(tmp_path / "validation.txt", ["a\tX"]),
        "vocab": _vocab_channel(tmp_path / "vocab"),
    }
    data, source, _ = load_data(channels, _cfg())
    assert source == SOURCE
    assert data["train"] == [([6, 5], [5])] and data["validation"] == [([4], [4])]


def test_long_sequences_are_truncated(tmp_path: Path) -> None:
    channels = {
        "train": _write_lines(tmp_path / "train.txt", ["a b c a b\tX Y X Y"]),
        "validation": _write_lines(tmp_path / "validation.txt", ["a\tX"]),
    }
    data, _, _ = load_data(channels, _cfg(max_seq_len_source="3", max_seq_len_target="2"))
    assert data["train"] == [([4, 5, 6], [4, 5])]


def _record(**features: list) -> bytes:
    record = record_class()()
    for key, values in features.items():
        if values and isinstance(values[0], float):
            record.features[key].float32_tensor.values.extend(values)
        else:
            record.features[key].int32_tensor.values.extend(values)
    return frame_record(record.SerializeToString())


GOOD = _record(source=[4], target=[4])


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (GOOD + _record(source=[4, 5]), rf"rec record 2 \(byte {len(GOOD)}\) has no 'target'"),
        (_record(source=[4.0], target=[4]), "record 1 .*'source' is a float32_tensor"),
        (GOOD + _record(source=[], target=[4]), "record 2 has an empty source sequence"),
        (_record(source=[4, 99], target=[4]), "record 1: source id 99 is outside"),
        (_record(source=[4], target=[0]), "record 1: target id 0 .* <pad>"),
        (GOOD + frame_record(b"\xff\xff\xff"), "record 2 .*is not an aialgs.data.Record"),
        (GOOD + GOOD[:-3], rf"train\.rec: truncated RecordIO record at byte {len(GOOD)}"),
    ],
    ids=["no-target", "float-tensor", "empty", "outside", "pad", "not-protobuf", "truncated"],
)
def test_bad_records_are_named_with_channel_file_and_record(
    payload: bytes, match: str, tmp_path: Path
) -> None:
    (tmp_path / "train.rec").write_bytes(payload)
    (tmp_path / "validation.rec").write_bytes(GOOD)
    channels = {
        "train": tmp_path / "train.rec",
        "validation": tmp_path / "validation.rec",
        "vocab": _vocab_channel(tmp_path / "vocab"),
    }
    with pytest.raises(InputError, match="train channel") as error:
        load_data(channels, _cfg())
    assert error.match(match)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("a\tX\na b\n", r"validation channel: validation\.txt line 2 has 0 tabs"),
        ("a\tX\tY\n", "line 1 has 2 tabs"),
        ("a\tX\n\nb\t  \n", "line 3 has an empty target"),
        ("\n\n", "validation channel: it holds no sentence pairs"),
    ],
    ids=["no-tab", "two-tabs", "empty-target", "blank"],
)
def test_bad_text_lines_are_named_with_channel_file_and_line(
    content: str, match: str, tmp_path: Path
) -> None:
    channels = {
        "train": _write_lines(tmp_path / "train.txt", ["a\tX"]),
        "validation": tmp_path / "validation.txt",
    }
    channels["validation"].write_text(content)
    with pytest.raises(InputError, match=match):
        load_data(channels, _cfg())


def test_a_file_neither_recordio_nor_text_is_named(tmp_path: Path) -> None:
    (tmp_path / "train.bin").write_bytes(b"\xff\xfe\x00\x81")
    channels = {"train": tmp_path / "train.bin", "validation": tmp_path / "train.bin"}
    with pytest.raises(InputError, match=r"train channel: train\.bin is neither RecordIO nor"):
        load_data(channels, _cfg())


def test_recordio_needs_the_vocab_channel(tmp_path: Path) -> None:
    write_recordio_pairs(tmp_path / "train.rec", [([4], [4])])
    channels = {"train": tmp_path / "train.rec", "validation": tmp_path / "train.rec"}
    with pytest.raises(InputError, match="needs a 'vocab' channel"):
        load_data(channels, _cfg())


@pytest.mark.parametrize(
    ("file", "content", "match"),
    [
        ("vocab.trg.json", None, r"vocab\.trg\.json is missing"),
        ("vocab.src.json", "{not json", "is not UTF-8 JSON"),
        ("vocab.src.json", '["<pad>"]', "JSON object of token -> integer id"),
        ("vocab.src.json", '{"<pad>": 0, "<unk>": 2}', r"ids must be 0 \.\. 1"),
        (
            "vocab.src.json",
            '{"<unk>": 0, "<pad>": 1, "<s>": 2, "</s>": 3}',
            "'<pad>' must have id 0",
        ),
    ],
)
def test_bad_vocabulary_files_are_named(
    file: str, content: str | None, match: str, tmp_path: Path
) -> None:
    write_recordio_pairs(tmp_path / "train.rec", [([4], [4])])
    vocab = _vocab_channel(tmp_path / "vocab")
    if content is None:
        (vocab / file).unlink()
    else:
        (vocab / file).write_text(content)
    channels = {"train": tmp_path / "train.rec", "validation": tmp_path / "train.rec"}
    with pytest.raises(InputError, match=f"vocab channel: {file}") as error:
        load_data({**channels, "vocab": vocab}, _cfg())
    assert error.match(match)


def test_a_missing_validation_channel_is_named(text_channels, tmp_path) -> None:
    with pytest.raises(InputError, match="needs a 'validation' channel"):
        _train(SMALL, {"train": text_channels["train"]}, tmp_path)


# -- BLEU -----------------------------------------------------------------------------------------


def test_bleu_of_identical_and_disjoint_corpora() -> None:
    """A fraction in [0, 1] (sacrebleu's 0..100 divided by 100)."""
    corpus = [["a", "b", "c", "d", "e"], [4, 5, 6, 7]]
    assert corpus_bleu(corpus, corpus) == pytest.approx(1.0)
    assert corpus_bleu([["x", "y", "z", "w"]], [["a", "b", "c", "d"]]) == 0.0
    assert corpus_bleu([[]], [["a"]]) == 0.0
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        corpus_bleu([["a"], ["b"]], [["a"]])


def test_bleu_by_hand() -> None:
    # precisions 5/6, 3/5, 1/4 and no 4-gram match: sacrebleu's exp smoothing counts 1/2 of one
    hypothesis = ["the", "cat", "sat", "on", "the", "mat"]
    reference = ["the", "cat", "is", "on", "the", "mat"]
    expected = (5 / 6 * 3 / 5 * 1 / 4 * (1 / 2) / 3) ** 0.25
    assert corpus_bleu([hypothesis], [reference]) == pytest.approx(expected)
    assert expected == pytest.approx(0.3799, abs=1e-4)
    # every n-gram right but short: the brevity penalty exp(1 - 6 / 4) alone
    assert corpus_bleu([list("abcd")], [list("abcdef")]) == pytest.approx(math.exp(-0.5))
    # corpus statistics are summed, not sentence scores averaged
    both = corpus_bleu([hypothesis, list("abcd")], [reference, list("abcd")])
    matches, totals = [5 + 4, 3 + 3, 1 + 2, 0 + 1], [6 + 4, 5 + 3, 4 + 2, 3 + 1]
    assert both == pytest.approx(
        math.prod(m / t for m, t in zip(matches, totals, strict=True)) ** 0.25
    )


def test_bleu_agrees_with_sacrebleu() -> None:
    sacrebleu = pytest.importorskip("sacrebleu")
    hypotheses = ["the cat sat on the mat", "a b c d", "x y z", "one two three four five"]
    references = ["the cat is on the mat", "a b c d e f", "x z y", "one two three four five"]
    ours = corpus_bleu([h.split() for h in hypotheses], [r.split() for r in references])
    theirs = sacrebleu.corpus_bleu(hypotheses, [references], tokenize="none").score
    assert ours == pytest.approx(theirs / 100, abs=1e-9)


# -- training ---------------------------------------------------------------------------------


def test_checkpoints_count_updates_across_epochs_and_max_num_batches_stops(
    text_channels, tmp_path
) -> None:
    # 200 pairs in batches of 50: 4 updates an epoch; a checkpoint every 3, stop after 7
    hp = {**SMALL, "max_num_epochs": "5", "checkpoint_frequency_num_batches": "3"}
    ctx = _train({**hp, "max_num_batches": "7"}, text_channels, tmp_path)
    assert ctx.epochs == [1, 2, 3]  # after updates 3, 6 and 7
    # without a limit of updates, training ends with the epochs, with one more checkpoint
    ctx = _train(hp, text_channels, tmp_path / "b")
    assert ctx.epochs == [1, 2, 3, 4, 5, 6, 7]  # updates 3, 6, ..., 18 and 20


def test_checkpoint_threshold_stops_without_max_num_epochs(text_channels, tmp_path) -> None:
    hp = {k: v for k, v in SMALL.items() if k != "max_num_epochs"}
    hp.update(
        learning_rate="1e-7",
        optimized_metric="accuracy",
        checkpoint_threshold="2",
        max_num_batches="60",
    )
    ctx = _train(hp, text_channels, tmp_path)
    accuracy = [m["validation:accuracy"] for _, m in ctx.reports]
    best = [max(accuracy[: i + 1]) for i in range(len(accuracy))]
    assert len(ctx.epochs) < 15  # stopped before max_num_batches
    assert best[-1] == best[-3] and (len(best) == 3 or best[-3] > best[-4])


def test_bleu_is_computed_only_when_needed(text_channels, tmp_path) -> None:
    plain = _train({**SMALL, "max_num_epochs": "1"}, text_channels, tmp_path / "a")
    assert set(plain.reports[0][1]) == {
        "validation:perplexity",
        "validation:accuracy",
        "train:perplexity",
    }
    hp = {**SMALL, "max_num_epochs": "1", "bleu_sample_size": "10", "training_metric": "accuracy"}
    sampled = _train(hp, text_channels, tmp_path / "b")
    assert {"validation:bleu", "train:accuracy"} <= set(sampled.reports[0][1])
    objective = {"_tuning_objective_metric": "validation:bleu", "max_num_epochs": "1"}
    tuned = _train({**SMALL, **objective}, text_channels, tmp_path / "c")
    assert 0.0 <= tuned.last("validation:bleu") <= 1.0


def test_a_crash_between_mid_epoch_checkpoints_resumes_exactly(text_channels, tmp_path) -> None:
    """Checkpoints every 3 updates of 4-update epochs: the crash at the third report resumes
    in the middle of the second epoch, with its batch order, dropout and plateau counts."""
    hp = {
        **SMALL,
        "max_num_epochs": "3",
        "checkpoint_frequency_num_batches": "3",
        "embed_dropout_source": "0.2",
        "plateau_reduce_lr_threshold": "1",
    }
    whole = CheckpointingContext(tmp_path / "whole", tmp_path / "whole-checkpoints")
    ALGORITHM.train(hp, text_channels, whole)
    crashed = CheckpointingContext(tmp_path / "a", tmp_path / "checkpoints", crash_at=3)
    with pytest.raises(Crash):
        ALGORITHM.train(hp, text_channels, crashed)
    resumed = CheckpointingContext(tmp_path / "b", tmp_path / "checkpoints")
    ALGORITHM.train(hp, text_channels, resumed)
    assert whole.epochs == [1, 2, 3, 4] and resumed.epochs == [3, 4]  # updates 3, 6, 9, 12
    for (_, expected), (_, found) in zip(whole.reports[2:], resumed.reports, strict=True):
        assert found == pytest.approx(expected, rel=1e-6)
    assert (tmp_path / "b" / MODEL_FILENAME).is_file()


def test_a_finished_job_resumes_to_nothing_but_its_kept_model(text_channels, tmp_path) -> None:
    hp = {**SMALL, "max_num_epochs": "1"}
    first = CheckpointingContext(tmp_path / "a", tmp_path / "checkpoints")
    ALGORITHM.train(hp, text_channels, first)
    again = CheckpointingContext(tmp_path / "b", tmp_path / "checkpoints")
    ALGORITHM.train(hp, text_channels, again)
    assert first.epochs == [1] and again.epochs == []
    assert load(tmp_path / "b").predict(["t1 t2"]) == load(tmp_path / "a").predict(["t1 t2"])


def test_the_fixed_rate_schedulers_halve_after_their_half_life() -> None:
    cfg = _cfg(checkpoint_frequency_num_batches="100", fixed_rate_lr_half_life="10")
    assert _scheduled_rate(cfg, 5000) is None  # plateau_reduce: no schedule
    for kind in ("fixed_rate_inv_t", "fixed_rate_inv_sqrt_t"):
        scheduled = {**cfg, "lr_scheduler_type": kind}
        assert _scheduled_rate(scheduled, 0) == pytest.approx(0.0003)
        assert _scheduled_rate(scheduled, 1000) == pytest.approx(0.00015)


@pytest.mark.parametrize(
    "overrides",
    [
        {"encoder_type": "cnn", "decoder_type": "cnn", "cnn_num_hidden": "16"},
        {"encoder_type": "cnn", "cnn_num_hidden": "16", "rnn_attention_type": "bilinear"},
        {"decoder_type": "cnn", "cnn_num_hidden": "16", "cnn_activation_type": "relu"},
        {
            "rnn_cell_type": "gru",
            "num_layers_encoder": "2",
            "num_layers_decoder": "2",
            "rnn_residual_connections": "true",
            "rnn_attention_type": "dot",
            "rnn_decoder_state_init": "avg",
            "optimizer_type": "sgd",
            "momentum": "0.9",
        },
        {"rnn_attention_type": "fixed", "rnn_decoder_state_init": "zero"},
        {"optimizer_type": "rmsprop", "lr_scheduler_type": "fixed_rate_inv_sqrt_t"},
    ],
    ids=["cnn-cnn", "cnn-rnn", "rnn-cnn", "gru-2-layers", "fixed-attention", "rmsprop"],
)
def test_every_architecture_trains_and_translates(
    overrides: dict, text_channels, tmp_path
) -> None:
    hp = {**SMALL, "max_num_epochs": "1", **overrides}
    ctx = _train(hp, text_channels, tmp_path)
    assert ctx.epochs == [1] and all(math.isfinite(v) for v in ctx.reports[0][1].values())
    model = load(tmp_path)
    out = model.predict(["t1 t2 t3", "t4"])
    assert len(out) == 2 and all(isinstance(s, str) for s in out)


def test_padding_does_not_change_a_sequences_scores() -> None:
    """A pair scores the same alone as in a batch with a longer one (padding is masked)."""
    import torch

    from algorithms.seq2seq import _batch
    from algorithms.seq2seq_model import Seq2SeqNetwork

    for kind in ("rnn", "cnn"):
        cfg = _cfg(encoder_type=kind, decoder_type=kind, rnn_num_hidden="8", cnn_num_hidden="8")
        cfg.update(num_embed_source=4, num_embed_target=4)
        torch.manual_seed(0)
        network = Seq2SeqNetwork(cfg, 7, 6).eval()
        short, long = ([4, 5], [4]), ([4, 5, 6, 6, 5], [5, 4, 5, 4])
        alone = network(*_batch([short], torch.device("cpu"))[:2])
        batched = network(*_batch([short, long], torch.device("cpu"))[:2])
        torch.testing.assert_close(batched[0, :2], alone[0], rtol=1e-5, atol=1e-6)


def test_the_saved_model_translates_strings_and_ids(text_channels, tmp_path) -> None:
    _train({**SMALL, "max_num_epochs": "1"}, text_channels, tmp_path)
    assert (tmp_path / MODEL_FILENAME).is_file()
    model = ALGORITHM.load(tmp_path / MODEL_FILENAME)
    strings = model.predict(["t1 t2 t3", "t4 t5"])
    ids = model.predict([model.source_vocabulary.encode(s) for s in ("t1 t2 t3", "t4 t5")])
    assert [model.target_vocabulary.decode(t) for t in ids] == strings
    assert model.predict([[4, 5, 9999]], beam_size=1)  # an unknown id is <unk>
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nowhere")


# -- quality --------------------------------------------------------------------------------------


def test_copying_the_source_scores_zero_on_the_task() -> None:
    lines = [line.split("\t") for line in reversal_pairs(100, seed=3)]
    assert corpus_bleu([s.split() for s, _ in lines], [t.split() for _, t in lines]) == 0.0
    assert build_vocabulary([t for _, t in lines]).tokens[4].startswith("T")


@pytest.mark.slow
@pytest.mark.parametrize(
    "network",
    [
        {"rnn_num_hidden": "64", "learning_rate": "0.02"},
        {
            "encoder_type": "cnn",
            "decoder_type": "cnn",
            "cnn_num_hidden": "64",
            "num_layers_encoder": "2",
            "num_layers_decoder": "2",
            "learning_rate": "0.005",
        },
    ],
    ids=["rnn", "cnn"],
)
def test_learns_a_generated_translation_task(network: dict, tmp_path: Path) -> None:
    """1,000 reversal pairs, 8 epochs: BLEU above 0.9 where copying the source scores 0, and
    beam search about as good as greedy decoding (within 0.01: the beam maximises likelihood,
    not BLEU, so it may score a little lower on a model this small)."""
    channels = _text_channels(tmp_path, n_train=1000, n_validation=200)
    hp = {
        **SMALL,
        "max_num_epochs": "8",
        "batch_size": "32",
        "checkpoint_frequency_num_batches": "32",
        "num_embed_source": "32",
        "num_embed_target": "32",
        "optimized_metric": "bleu",
        "beam_size": "1",
        **network,
    }
    ctx = _train(hp, channels, tmp_path / "out")
    bleu = [m["validation:bleu"] for _, m in ctx.reports]
    assert max(bleu) > 0.9 and bleu[0] < max(bleu)
    model = load(tmp_path / "out")  # the checkpoint best by BLEU
    pairs = [line.split("\t") for line in channels["validation"].read_text().splitlines()]
    references = [t.split() for _, t in pairs]
    scores = {
        beam: corpus_bleu(
            [h.split() for h in model.translate([s for s, _ in pairs], beam)], references
        )
        for beam in (1, 5)
    }
    assert scores[1] == pytest.approx(max(bleu))
    assert scores[5] > 0.9 and scores[5] >= scores[1] - 0.01, scores
