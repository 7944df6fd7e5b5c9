"""Sequence-to-sequence as SageMaker's built-in ``seq2seq`` image offers it, in torch.

SageMaker's seq2seq is Sockeye (MXNet) with its own data format and hyperparameter names; this
module follows the developer guide's "Sequence-to-Sequence Hyperparameters" page (names,
defaults, allowed values) and builds the networks in :mod:`algorithms.seq2seq_model`: an RNN
encoder-decoder with attention (Bahdanau et al.) or a convolutional one (Gehring et al.), in any
combination of ``encoder_type`` and ``decoder_type``. SageMaker offers no transformer, so
neither do we.

**Channels.** ``train`` and ``validation`` (both required, as SageMaker's are) and ``vocab``:

* SageMaker's format: RecordIO-protobuf files, one ``aialgs.data.Record`` per sentence pair
  whose ``features`` map holds ``"source"`` and ``"target"`` as ``int32_tensor`` values (the
  keys the SageMaker example notebook's ``create_vocab_proto.py`` writes). Token ids come
  without ``<s>`` or ``</s>``; the algorithm adds them. The ``vocab`` channel then holds
  ``vocab.src.json`` and ``vocab.trg.json`` (token -> id, ids 0 .. n-1 with ``<pad>`` = 0 and
  ``<unk>``, ``<s>``, ``</s>`` present, as that script writes them); without it training fails.
* Ours: plain UTF-8 text, one pair a line, ``source tokens<TAB>target tokens``, tokens separated
  by whitespace; blank lines are skipped. The vocabularies come from the ``vocab`` channel when
  it is given, else are built from the ``train`` channel on the fly as the script builds them:
  the four special symbols, then tokens by falling count (ties in lexical order). A token not
  in a vocabulary is ``<unk>``.

A file is RecordIO if it starts with RecordIO's magic number, else text. A record without
``source`` or ``target``, a non-integer tensor, an empty sequence, an id outside the vocabulary
or one of ``<pad>``, ``<s>``, ``</s>``, a text line without exactly one tab or with an empty
side: each is an :class:`InputError` naming the channel, the file and the record or line.
Sequences longer than ``max_seq_len_source`` / ``max_seq_len_target`` tokens are truncated to
that length (``</s>`` is added after it).

**Training.** Mini-batches of ``batch_size`` pairs; with ``bucketing_enabled`` the pairs are
grouped by length (buckets ``bucket_width`` tokens wide on each side) and each batch comes from
one bucket, else from the whole shuffled set. Padding is masked everywhere (the RNN encoder
packs it away), so padding to a batch's longest pair or to ``max_seq_len_*`` gives the same
results; we pad to the batch's longest. The loss is the mean cross-entropy of the target tokens
and ``</s>``. Gradients are clipped elementwise to ``[-clip_gradient, clip_gradient]`` (a
negative value disables this; 0 is refused), ``weight_decay`` is L2 in the optimizer.
``momentum`` moves ``sgd`` only (SageMaker says not to pass it for ``adam`` or ``rmsprop``;
there it is ignored rather than refused, so tuning both together does not fail trials).
Weights start as ``weight_init_type`` says (:func:`algorithms.seq2seq_model.initialize`: MXNet's
Xavier of magnitude ``weight_init_scale`` over the ``xavier_factor_type`` fan, or uniform on
``[-|weight_init_scale|, |weight_init_scale|]``; AMT's range for uniform starts below zero).

**Checkpoints.** Every ``checkpoint_frequency_num_batches`` updates (counted across epochs),
and once more when training ends between two, the validation channel is evaluated and reported
as one epoch of the trial (1, 2, ...): ``validation:perplexity`` (exp of the mean cross-entropy
per target token, ``</s>`` included), ``validation:accuracy`` (teacher-forced token accuracy,
same tokens), and ``validation:bleu`` when it is needed (``optimized_metric`` is ``bleu``, the
tuning objective is ``validation:bleu``, or ``bleu_sample_size`` is not 0): corpus BLEU
(:mod:`algorithms.seq2seq_bleu`, sacrebleu's default statistic, as a fraction) of beam-search
translations (``beam_size``) of ``bleu_sample_size`` validation pairs (the same seeded sample
at every checkpoint), or of all of them when it is -1 or 0. ``train:<training_metric>``
(perplexity or accuracy of the batches since the last checkpoint) is reported too,
informational. The model saved is the checkpoint best by ``optimized_metric``, as SageMaker
keeps its best model.

**Resuming.** When the training job asks for checkpoints (a ``CheckpointConfig``, see
:mod:`algorithms.checkpoints`), each of these checkpoints also saves the training state after
its report: weights, optimizer state (the learning rate included), the random states, the
batches of the epoch not yet trained, the stopping and plateau counts and the model kept so
far. A job that runs again resumes after its last checkpoint, mid-epoch included, as if it had
not stopped (exactly, on the CPU); one whose checkpoint ended training only writes its model.

**Stopping.** Training ends after ``max_num_batches`` updates (-1: no limit), after
``max_num_epochs`` epochs, or once ``optimized_metric`` has not improved for
``checkpoint_threshold`` checkpoints in a row; as SageMaker documents, passing
``max_num_epochs`` turns the last rule off ("training continues until this number of epochs
even if validation accuracy is not improving"). ``lr_scheduler_type``: ``plateau_reduce``
multiplies the learning rate by ``plateau_reduce_lr_factor`` once ``optimized_metric`` has not
improved for ``plateau_reduce_lr_threshold`` checkpoints (then counts afresh);
``fixed_rate_inv_t`` and ``fixed_rate_inv_sqrt_t`` are Sockeye's ``lr / (1 + t / T)`` and
``lr / sqrt(1 + 3 t / T)``, ``t`` updates so far and ``T = fixed_rate_lr_half_life *
checkpoint_frequency_num_batches``, so the rate halves after that many checkpoints.

**The model** (``seq2seq-model.pt``: the network's weights, its hyperparameters, both
vocabularies) loads with :func:`load`; :meth:`Seq2SeqModel.predict` translates token-id lists
or whitespace-tokenised strings by beam search (``beam_size`` from training unless given; 1 is
greedy). Training runs on ``ctx.device``; initialisation, dropout and batch order come from one
seed (:data:`SEED`), so a run on the CPU repeats exactly.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from algorithms.base import (
    Direction,
    HyperparameterError,
    HyperparameterSpec,
    InputError,
    TrainingContext,
    TuningRange,
    categorical,
    continuous,
    integer,
    parse_hyperparameters,
)
from algorithms.record_proto import record_class
from algorithms.recordio import MAGIC_BYTES, frame_record, iter_records
from algorithms.seq2seq_bleu import corpus_bleu
from algorithms.seq2seq_model import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SPECIAL_SYMBOLS,
    UNK_ID,
    Seq2SeqNetwork,
    beam_search,
    initialize,
)
from algorithms.torch_util import (
    configure_threads,
    restore_training_state,
    save_training_state,
    torch,
    torch_device,
)

logger = logging.getLogger(__name__)

MODEL_FILENAME = "seq2seq-model.pt"
VOCAB_FILES = ("vocab.src.json", "vocab.trg.json")
#: Seed of the initialisation, dropout, batch order and the BLEU sample.
SEED = 0
#: Pairs translated at once when BLEU is computed or the model predicts.
DECODE_BATCH = 256

METRICS: Mapping[str, Direction] = MappingProxyType(
    {
        "validation:accuracy": "Maximize",
        "validation:bleu": "Maximize",
        "validation:perplexity": "Minimize",
    }
)
#: Reported as well, informational: the training batches' metric since the last checkpoint.
REPORTED_METRICS = ("train:perplexity", "train:accuracy")


def _int(default: Any, low: int | None = 1, text: str = "") -> HyperparameterSpec:
    return HyperparameterSpec("int", default, min_value=low, description=text)


def _choice(default: str, *choices: str, text: str = "") -> HyperparameterSpec:
    return HyperparameterSpec("str", default, choices=choices, description=text)


def _dropout(text: str) -> HyperparameterSpec:
    return HyperparameterSpec("float", 0.0, min_value=0.0, max_value=1.0, description=text)


#: SageMaker seq2seq's hyperparameters, in its documentation's order.
HYPERPARAMETERS: Mapping[str, HyperparameterSpec] = MappingProxyType(
    {
        "max_seq_len_source": _int(100, text="Source tokens kept (longer ones truncated)."),
        "max_seq_len_target": _int(100, text="Target tokens kept (longer ones truncated)."),
        "encoder_type": _choice("rnn", "rnn", "cnn", text="RNN with attention, or CNN."),
        "decoder_type": _choice("rnn", "rnn", "cnn", text="RNN with attention, or CNN."),
        "num_layers_encoder": _int(1, text="Encoder layers."),
        "num_layers_decoder": _int(1, text="Decoder layers."),
        "rnn_num_hidden": _int(1024, 2, "RNN units (even: the first layer is bidirectional)."),
        "rnn_cell_type": _choice("lstm", "lstm", "gru"),
        "rnn_decoder_state_init": _choice("last", "last", "avg", "zero"),
        "rnn_residual_connections": HyperparameterSpec("bool", False),
        "rnn_first_residual_layer": _int(2, text="First RNN layer with a residual connection."),
        "cnn_kernel_width_encoder": _int(3),
        "cnn_kernel_width_decoder": _int(5),
        "cnn_num_hidden": _int(512),
        "cnn_activation_type": _choice("glu", "glu", "relu", "softrelu", "sigmoid", "tanh"),
        "cnn_hidden_dropout": _dropout("Dropout between convolutional layers."),
        "num_embed_source": _int(512),
        "num_embed_target": _int(512),
        "embed_dropout_source": _dropout("Dropout of the source embeddings."),
        "embed_dropout_target": _dropout("Dropout of the target embeddings."),
        "rnn_attention_type": _choice("mlp", "dot", "fixed", "mlp", "bilinear"),
        "rnn_attention_num_hidden": _int(None, text="MLP attention units; rnn_num_hidden."),
        "rnn_attention_in_upper_layers": HyperparameterSpec("bool", True),
        "rnn_decoder_hidden_dropout": _dropout("Dropout of the attentional hidden state."),
        "batch_size": _int(64),
        "bucketing_enabled": HyperparameterSpec("bool", True),
        "bucket_width": _int(10),
        "loss_type": _choice("cross-entropy", "cross-entropy"),
        "training_metric": _choice("perplexity", "perplexity", "accuracy"),
        "optimized_metric": _choice("perplexity", "perplexity", "accuracy", "bleu"),
        "bleu_sample_size": _int(0, -1, "Validation pairs decoded for BLEU; -1 or 0: all."),
        "max_num_batches": _int(-1, -1, "Most updates; -1: no limit."),
        "checkpoint_frequency_num_batches": _int(1000),
        "checkpoint_threshold": _int(3, text="Checkpoints without improvement before stopping."),
        "max_num_epochs": _int(None, text="Most epochs; turns checkpoint_threshold off."),
        "optimizer_type": _choice("adam", "adam", "sgd", "rmsprop"),
        "weight_init_type": _choice("xavier", "uniform", "xavier"),
        "weight_init_scale": HyperparameterSpec("float", 2.34),
        "xavier_factor_type": _choice("in", "in", "out", "avg"),
        "learning_rate": HyperparameterSpec("float", 0.0003, min_value=0.0, min_open=True),
        "weight_decay": HyperparameterSpec("float", 0.0, min_value=0.0),
        "momentum": HyperparameterSpec("float", None, min_value=0.0, max_value=1.0, max_open=True),
        "clip_gradient": HyperparameterSpec("float", 1.0, description="Negative: no clipping."),
        "lr_scheduler_type": _choice(
            "plateau_reduce", "plateau_reduce", "fixed_rate_inv_t", "fixed_rate_inv_sqrt_t"
        ),
        "plateau_reduce_lr_factor": HyperparameterSpec(
            "float", 0.5, min_value=0.0, max_value=1.0, min_open=True
        ),
        "plateau_reduce_lr_threshold": _int(3),
        "fixed_rate_lr_half_life": _int(10),
        "beam_size": _int(5),
    }
)

_POWERS_OF_TWO = tuple(str(2**k) for k in range(4, 12))
_HIDDEN = ("128", "256", "512", "1024", "2048")
#: AMT's recommended ranges (its seq-2-seq-tuning page; AMT.md 17.2), what Autotune tunes over.
#: weight_init_scale's range is xavier's ([2, 3]), the default weight_init_type.
TUNING_RANGES: Mapping[str, TuningRange] = MappingProxyType(
    {
        "num_layers_encoder": integer(1, 10),
        "num_layers_decoder": integer(1, 10),
        "batch_size": categorical(*_POWERS_OF_TWO),
        "optimizer_type": categorical("adam", "sgd", "rmsprop"),
        "weight_init_type": categorical("xavier", "uniform"),
        "weight_init_scale": continuous(2.0, 3.0),
        "learning_rate": continuous(0.00005, 0.2, "Logarithmic"),
        "weight_decay": continuous(0.0, 0.1),
        "momentum": continuous(0.5, 0.9),
        "clip_gradient": continuous(1.0, 5.0),
        "rnn_num_hidden": categorical(*_HIDDEN),
        "cnn_num_hidden": categorical(*_HIDDEN),
        "num_embed_source": integer(256, 512),
        "num_embed_target": integer(256, 512),
        "embed_dropout_source": continuous(0.0, 0.5),
        "embed_dropout_target": continuous(0.0, 0.5),
        "rnn_decoder_hidden_dropout": continuous(0.0, 0.5),
        "cnn_hidden_dropout": continuous(0.0, 0.5),
        "lr_scheduler_type": categorical(
            "plateau_reduce", "fixed_rate_inv_t", "fixed_rate_inv_sqrt_t"
        ),
        "plateau_reduce_lr_factor": continuous(0.1, 0.5),
        "plateau_reduce_lr_threshold": integer(1, 5),
        "fixed_rate_lr_half_life": integer(10, 30),
    }
)

Pair = tuple[list[int], list[int]]


# -- vocabularies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    """Tokens by id (``<pad>`` at 0); ``ids`` maps them back."""

    tokens: tuple[str, ...]

    @property
    def ids(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        ids = self.ids
        return [ids.get(token, UNK_ID) for token in text.split()]

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(self.tokens[i] if 0 <= i < len(self.tokens) else "<unk>" for i in ids)


def build_vocabulary(texts: Sequence[str]) -> Vocabulary:
    """The special symbols, then every token of ``texts`` by falling count, ties lexically."""
    counts = Counter(t for text in texts for t in text.split() if t not in SPECIAL_SYMBOLS)
    ordered = sorted(counts, key=lambda token: (-counts[token], token))
    return Vocabulary((*SPECIAL_SYMBOLS, *ordered))


def read_vocabulary(file: Path) -> Vocabulary:
    """A ``vocab.*.json`` file: token -> id, ids 0 .. n-1, the special symbols at SageMaker's ids.

    Raises:
        InputError: the file is missing, not JSON, or not such a mapping; named in the message.
    """
    where = f"vocab channel: {file.name}"
    if not file.is_file():
        raise InputError(
            f"{where} is missing; the vocab channel holds {' and '.join(VOCAB_FILES)}"
        )
    try:
        mapping = json.loads(file.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{where} is not UTF-8 JSON ({exc})") from None
    if not isinstance(mapping, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in mapping.values()
    ):
        raise InputError(f"{where} must be a JSON object of token -> integer id")
    if sorted(mapping.values()) != list(range(len(mapping))):
        raise InputError(f"{where}: the ids must be 0 .. {len(mapping) - 1}, each once")
    for token, expected in zip(SPECIAL_SYMBOLS, (PAD_ID, UNK_ID, BOS_ID, EOS_ID), strict=True):
        if mapping.get(token) != expected:
            raise InputError(f"{where}: {token!r} must have id {expected}, as SageMaker's do")
    tokens = [""] * len(mapping)
    for token, index in mapping.items():
        tokens[index] = token
    return Vocabulary(tuple(tokens))


def _vocab_folder(path: Path) -> Path:
    return path if path.is_dir() else path.parent


# -- reading the channels -------------------------------------------------------------------------


def _files(channel: str, path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(f"{channel} channel: {path} does not exist")
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise InputError(f"{channel} channel: the folder {path} has no files")
    return files


def _read_bytes(file: Path) -> bytes:
    data = file.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _is_recordio(data: bytes) -> bool:
    return data[:4] == MAGIC_BYTES


def _tensor_ids(record: Any, key: str, where: str) -> list[int]:
    if key not in record.features:
        raise InputError(f"{where} has no {key!r} feature (SageMaker's 'source' and 'target')")
    value = record.features[key]
    kind = value.WhichOneof("value")
    if kind != "int32_tensor":
        raise InputError(f"{where}: {key!r} is a {kind or 'empty value'}, not an int32_tensor")
    return list(value.int32_tensor.values)


def read_recordio_pairs(file: Path, channel: str, data: bytes) -> list[Pair]:
    """The (source, target) id lists of a RecordIO-protobuf file, not yet checked."""
    record_type = record_class()
    pairs = []
    for number, (offset, payload) in enumerate(
        iter_records(data, f"{channel} channel: {file.name}"), 1
    ):
        where = f"{channel} channel: {file.name} record {number} (byte {offset})"
        record = record_type()
        try:
            record.ParseFromString(payload)
        except DecodeError as exc:
            raise InputError(f"{where} is not an aialgs.data.Record ({exc})") from None
        pairs.append((_tensor_ids(record, "source", where), _tensor_ids(record, "target", where)))
    return pairs


def read_text_pairs(file: Path, channel: str, data: bytes) -> list[tuple[int, str, str]]:
    """``(line number, source, target)`` of each non-blank ``source<TAB>target`` line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{channel} channel: {file.name} is neither RecordIO nor UTF-8 text ({exc})"
        ) from None
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        where = f"{channel} channel: {file.name} line {number}"
        if len(parts) != 2:
            raise InputError(
                f"{where} has {len(parts) - 1} tabs; one pair a line: source<TAB>target"
            )
        if not parts[0].split() or not parts[1].split():
            raise InputError(
                f"{where} has an empty {'source' if not parts[0].split() else 'target'}"
            )
        out.append((number, parts[0], parts[1]))
    return out


@dataclass
class _RawChannel:
    """A channel as read: id pairs from RecordIO files, text pairs from text files."""

    records: list[tuple[str, list[Pair]]]  # (file name, pairs)
    texts: list[tuple[str, list[tuple[int, str, str]]]]  # (file name, numbered lines)


def _read_channel(channel: str, path: Path) -> _RawChannel:
    raw = _RawChannel([], [])
    for file in _files(channel, path):
        data = _read_bytes(file)
        if _is_recordio(data):
            raw.records.append((file.name, read_recordio_pairs(file, channel, data)))
        else:
            raw.texts.append((file.name, read_text_pairs(file, channel, data)))
    return raw


def _check_ids(ids: list[int], vocab: Vocabulary, where: str, side: str) -> None:
    if not ids:
        raise InputError(f"{where} has an empty {side} sequence")
    bad = [i for i in ids if not 0 <= i < len(vocab) or i in (PAD_ID, BOS_ID, EOS_ID)]
    if bad:
        raise InputError(
            f"{where}: {side} id {bad[0]} is outside the {side} vocabulary (ids 0 .. "
            f"{len(vocab) - 1}) or one of <pad>, <s>, </s> (0, 2, 3)"
        )


def _pairs(
    channel: str, raw: _RawChannel, source: Vocabulary, target: Vocabulary, cfg: Mapping[str, Any]
) -> list[Pair]:
    """Every pair of a channel as checked, truncated id lists."""
    out: list[Pair] = []
    max_s, max_t = cfg["max_seq_len_source"], cfg["max_seq_len_target"]
    for name, pairs in raw.records:
        for number, (s, t) in enumerate(pairs, start=1):
            where = f"{channel} channel: {name} record {number}"
            _check_ids(s, source, where, "source")
            _check_ids(t, target, where, "target")
            out.append((s[:max_s], t[:max_t]))
    for _, lines in raw.texts:
        out.extend((source.encode(s)[:max_s], target.encode(t)[:max_t]) for _, s, t in lines)
    if not out:
        raise InputError(f"{channel} channel: it holds no sentence pairs")
    return out


def load_data(
    channels: Mapping[str, Path], cfg: Mapping[str, Any]
) -> tuple[dict[str, list[Pair]], Vocabulary, Vocabulary]:
    """The train and validation pairs and the two vocabularies (see the module docstring)."""
    for name in ("train", "validation"):
        if name not in channels:
            got = ", ".join(repr(n) for n in channels) or "none"
            raise InputError(f"seq2seq needs a {name!r} channel (got {got})")
    raw = {name: _read_channel(name, Path(channels[name])) for name in ("train", "validation")}
    if "vocab" in channels:
        folder = _vocab_folder(Path(channels["vocab"]))
        source, target = (read_vocabulary(folder / name) for name in VOCAB_FILES)
    elif any(r.records for r in raw.values()):
        raise InputError(
            "seq2seq needs a 'vocab' channel with vocab.src.json and vocab.trg.json for "
            "RecordIO-protobuf data (only plain-text pairs can build their vocabulary)"
        )
    else:
        lines = [line for _, part in raw["train"].texts for line in part]
        source = build_vocabulary([s for _, s, _ in lines])
        target = build_vocabulary([t for _, _, t in lines])
    data = {name: _pairs(name, raw[name], source, target, cfg) for name in raw}
    return data, source, target


def write_recordio_pairs(path: Path | str, pairs: Sequence[Pair]) -> None:
    """``pairs`` as SageMaker's seq2seq RecordIO-protobuf (``source``/``target`` int32 tensors)."""
    record_type = record_class()
    with Path(path).open("wb") as handle:
        for source, target in pairs:
            record = record_type()
            record.features["source"].int32_tensor.values.extend(source)
            record.features["target"].int32_tensor.values.extend(target)
            handle.write(frame_record(record.SerializeToString()))


def write_vocabulary(path: Path | str, vocab: Vocabulary) -> None:
    """``vocab`` as a ``vocab.*.json`` file (token -> id)."""
    Path(path).write_text(json.dumps(vocab.ids, ensure_ascii=False, indent=1), encoding="utf-8")


def reversal_pairs(
    n_pairs: int, *, seed: int, n_tokens: int = 12, min_length: int = 3, max_length: int = 8
) -> list[str]:
    """A generated translation task: ``source<TAB>target`` lines, the target the source reversed
    with every token renamed (``t3`` -> ``T3``), over ``n_tokens`` tokens. A model that copies the
    source scores zero BLEU; one that learned the task scores 1."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n_pairs):
        tokens = rng.integers(n_tokens, size=int(rng.integers(min_length, max_length + 1)))
        source = " ".join(f"t{i}" for i in tokens)
        target = " ".join(f"T{i}" for i in tokens[::-1])
        lines.append(f"{source}\t{target}")
    return lines


# -- hyperparameters ------------------------------------------------------------------------------


def _check_values(values: Mapping[str, Any]) -> None:
    problems = []
    if values["encoder_type"] == "rnn" and values["rnn_num_hidden"] % 2:
        problems.append(
            f"hyperparameter 'rnn_num_hidden': got {values['rnn_num_hidden']}, must be even: "
            "the RNN encoder's first layer is bidirectional"
        )
    if values["clip_gradient"] == 0:
        problems.append("hyperparameter 'clip_gradient': got 0; use a negative value to disable")
    if values["max_num_batches"] == 0:
        problems.append("hyperparameter 'max_num_batches': got 0, must be -1 (no limit) or >= 1")
    if values["weight_init_type"] == "xavier" and values["weight_init_scale"] <= 0:
        problems.append(
            f"hyperparameter 'weight_init_scale': got {values['weight_init_scale']:g}, must be "
            "> 0 for weight_init_type xavier (the magnitude)"
        )
    objective = values.get("_tuning_objective_metric")
    if objective is not None and objective not in METRICS:
        problems.append(
            f"hyperparameter '_tuning_objective_metric': {objective!r} is not a metric of "
            f"seq2seq; known: {', '.join(METRICS)}"
        )
    if problems:
        raise HyperparameterError(problems)


# -- training -------------------------------------------------------------------------------------


def _pad(rows: Sequence[list[int]], device: torch.device) -> torch.Tensor:
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), PAD_ID, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return torch.as_tensor(out, device=device)


def _batch(pairs: Sequence[Pair], device: torch.device) -> tuple[torch.Tensor, ...]:
    """``(source, target in (<s> ...), target out (... </s>))``, padded."""
    source = _pad([s for s, _ in pairs], device)
    target_in = _pad([[BOS_ID, *t] for _, t in pairs], device)
    target_out = _pad([[*t, EOS_ID] for _, t in pairs], device)
    return source, target_in, target_out


def _batches(
    pairs: Sequence[Pair], cfg: Mapping[str, Any], rng: np.random.Generator
) -> list[list[int]]:
    """One epoch's mini-batches (indices into ``pairs``), in a fresh random order."""
    size = cfg["batch_size"]
    groups: dict[tuple[int, int], list[int]] = {}
    width = cfg["bucket_width"]
    for i, (s, t) in enumerate(pairs):
        key = (-(-len(s) // width), -(-len(t) // width)) if cfg["bucketing_enabled"] else (0, 0)
        groups.setdefault(key, []).append(i)
    batches = []
    for key in sorted(groups):
        members = np.array(groups[key])[rng.permutation(len(groups[key]))].tolist()
        batches += [members[i : i + size] for i in range(0, len(members), size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _optimizer(network: torch.nn.Module, cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    lr, wd = cfg["learning_rate"], cfg["weight_decay"]
    if cfg["optimizer_type"] == "sgd":
        return torch.optim.SGD(
            network.parameters(), lr=lr, momentum=cfg["momentum"] or 0.0, weight_decay=wd
        )
    if cfg["optimizer_type"] == "rmsprop":
        return torch.optim.RMSprop(
            network.parameters(), lr=lr, alpha=0.9, eps=1e-8, weight_decay=wd
        )
    return torch.optim.Adam(network.parameters(), lr=lr, weight_decay=wd)


def _scheduled_rate(cfg: Mapping[str, Any], updates: int) -> float | None:
    """The fixed-rate schedulers' learning rate after ``updates``; None for plateau_reduce."""
    kind = cfg["lr_scheduler_type"]
    if kind == "plateau_reduce":
        return None
    half_life = cfg["fixed_rate_lr_half_life"] * cfg["checkpoint_frequency_num_batches"]
    if kind == "fixed_rate_inv_t":
        return float(cfg["learning_rate"] / (1.0 + updates / half_life))
    return float(cfg["learning_rate"] / math.sqrt(1.0 + 3.0 * updates / half_life))


def _better(metric: str, new: float, best: float | None) -> bool:
    if best is None:
        return True
    return new < best if metric == "perplexity" else new > best


class _Trainer:
    """One run: the network, its optimizer and the checkpoint bookkeeping."""

    def __init__(
        self,
        cfg: Mapping[str, Any],
        data: Mapping[str, list[Pair]],
        vocabs: tuple[Vocabulary, Vocabulary],
        device: torch.device,
        output_dir: Path,
    ) -> None:
        self.cfg, self.data, self.vocabs, self.device = cfg, data, vocabs, device
        self.output_dir = Path(output_dir)
        torch.manual_seed(SEED)
        self.network = Seq2SeqNetwork(dict(cfg), len(vocabs[0]), len(vocabs[1]))
        initialize(
            self.network,
            cfg["weight_init_type"],
            cfg["weight_init_scale"],
            cfg["xavier_factor_type"],
        )
        self.network.to(device)
        self.optimizer = _optimizer(self.network, cfg)
        self.rng = np.random.default_rng(SEED)
        validation = data["validation"]
        sample = cfg["bleu_sample_size"]
        if 0 < sample < len(validation):
            chosen = np.sort(
                np.random.default_rng(SEED + 1).choice(len(validation), sample, replace=False)
            )
            self.bleu_pairs = [validation[i] for i in chosen]
        else:
            self.bleu_pairs = list(validation)
        self.needs_bleu = (
            cfg["optimized_metric"] == "bleu"
            or cfg.get("_tuning_objective_metric") == "validation:bleu"
            or sample != 0
        )
        self.updates = 0
        self.since = torch.zeros(3, dtype=torch.float64)  # nll, correct, tokens since checkpoint
        self.best: float | None = None
        self.best_model: dict[str, Any] | None = None  # what save wrote, for a checkpoint
        # where the loop is: the epoch begun last, its batches not yet trained, checkpoints
        # so far, and the checkpoints without improvement (in a row, and since the last
        # plateau_reduce step)
        self.epoch = 0
        self.pending: list[list[int]] = []
        self.checkpoints = self.not_improved = self.plateau = 0

    def checkpointed(self, finished: bool) -> dict[str, Any]:
        """What a checkpoint holds, as :func:`~algorithms.torch_util.save_training_state`
        takes it."""
        extra = {
            "rng": self.rng.bit_generator.state,
            "since": self.since.clone(),
            "best": self.best,
            "best_model": self.best_model,
            "loop": (self.epoch, self.pending, self.checkpoints, self.not_improved, self.plateau),
            "updates": self.updates,
            "finished": finished,
        }
        return {
            "modules": {"network": self.network},
            "optimizers": [self.optimizer],
            "extra": extra,
        }

    def resume(self, ctx: TrainingContext) -> bool | None:
        """Continue from the job's checkpoint, if it has one: None when it has none, else
        whether the job had finished (the model kept is written to the output folder)."""
        resumed = restore_training_state(
            ctx, "seq2seq", modules={"network": self.network}, optimizers=[self.optimizer]
        )
        if resumed is None:
            return None
        extra = resumed[1]
        self.rng.bit_generator.state = extra["rng"]
        self.since = extra["since"].clone()
        self.best, self.best_model = extra["best"], extra["best_model"]
        self.epoch, pending, self.checkpoints, self.not_improved, self.plateau = extra["loop"]
        self.pending = [list(batch) for batch in pending]
        self.updates = int(extra["updates"])
        if self.best_model is not None:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            torch.save(self.best_model, self.output_dir / MODEL_FILENAME)
        return bool(extra["finished"])

    def _loss(
        self, batch: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean loss, and the summed NLL, correct tokens and tokens of a batch."""
        source, target_in, target_out = batch
        logits = self.network(source, target_in)
        mask = target_out != PAD_ID
        nll = (
            torch.nn.functional.cross_entropy(
                logits.flatten(0, 1).float(), target_out.flatten(), reduction="none"
            ).view_as(target_out)
            * mask
        )
        tokens = mask.sum()
        correct = ((logits.argmax(-1) == target_out) & mask).sum()
        return nll.sum() / tokens, nll.sum().detach(), correct, tokens

    def train_batch(self, indices: list[int]) -> None:
        self.network.train()
        rate = _scheduled_rate(self.cfg, self.updates)
        if rate is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = rate
        pairs = self.data["train"]
        loss, nll, correct, tokens = self._loss(_batch([pairs[i] for i in indices], self.device))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip = self.cfg["clip_gradient"]
        if clip > 0:
            torch.nn.utils.clip_grad_value_(self.network.parameters(), clip)
        self.optimizer.step()
        self.updates += 1
        self.since += torch.stack([nll, correct, tokens]).double().cpu()

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Validation perplexity and accuracy (and BLEU where needed), the training metric."""
        self.network.eval()
        totals = torch.zeros(3, dtype=torch.float64)
        pairs = self.data["validation"]
        for start in range(0, len(pairs), DECODE_BATCH):
            batch = _batch(pairs[start : start + DECODE_BATCH], self.device)
            _, nll, correct, tokens = self._loss(batch)
            totals += torch.stack([nll, correct, tokens]).double().cpu()
        metrics = {
            "validation:perplexity": math.exp(min(float(totals[0] / totals[2]), 700.0)),
            "validation:accuracy": float(totals[1] / totals[2]),
        }
        if self.needs_bleu:
            hypotheses = self.translate([s for s, _ in self.bleu_pairs])
            metrics["validation:bleu"] = corpus_bleu(hypotheses, [t for _, t in self.bleu_pairs])
        if self.since[2] > 0:
            if self.cfg["training_metric"] == "perplexity":
                value = math.exp(min(float(self.since[0] / self.since[2]), 700.0))
            else:
                value = float(self.since[1] / self.since[2])
            metrics[f"train:{self.cfg['training_metric']}"] = value
        self.since.zero_()
        return metrics

    def translate(
        self, sources: Sequence[list[int]], beam_size: int | None = None
    ) -> list[list[int]]:
        self.network.eval()
        return translate(
            self.network,
            sources,
            beam_size or self.cfg["beam_size"],
            self.cfg["max_seq_len_target"],
            self.device,
        )

    def improved(self, metrics: Mapping[str, float]) -> bool:
        """Whether the checkpoint is the best so far by ``optimized_metric`` (then it is saved)."""
        name = self.cfg["optimized_metric"]
        value = metrics[f"validation:{name}"]
        if not _better(name, value, self.best):
            return False
        self.best = value
        self.best_model = save(self.output_dir, self.network, self.cfg, self.vocabs)
        return True


def translate(
    network: Seq2SeqNetwork,
    sources: Sequence[list[int]],
    beam_size: int,
    max_length: int,
    device: torch.device,
) -> list[list[int]]:
    """Beam-search translations of id lists, in order, :data:`DECODE_BATCH` at a time."""
    out: list[list[int]] = []
    for start in range(0, len(sources), DECODE_BATCH):
        chunk = [list(s) or [UNK_ID] for s in sources[start : start + DECODE_BATCH]]
        out += beam_search(network, _pad(chunk, device), beam_size, max_length)
    return out


class Seq2SeqAlgorithm:
    """SageMaker's built-in Sequence-to-Sequence algorithm (the ``seq2seq`` image)."""

    name = "seq2seq"
    hyperparameters: Mapping[str, HyperparameterSpec] = HYPERPARAMETERS
    metrics: Mapping[str, Direction] = METRICS
    tuning_ranges: Mapping[str, TuningRange] = TUNING_RANGES

    def train(
        self,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
    ) -> None:
        """Train on ``train``, checkpoint on ``validation``, keep the best model.

        Raises:
            HyperparameterError: a hyperparameter is unknown, invalid or inconsistent.
            InputError: a channel is missing, or holds a record, line or vocabulary it cannot
                read (named in the message); or training diverged.
        """
        cfg = parse_hyperparameters(self.hyperparameters, hyperparameters)
        _check_values(cfg)
        data, source, target = load_data(channels, cfg)
        device = torch_device(ctx.device)
        hidden = cfg["rnn_num_hidden"] if cfg["decoder_type"] == "rnn" else cfg["cnn_num_hidden"]
        configure_threads(cfg["batch_size"] * 20 * hidden * (hidden + len(target)) * 6)
        with torch.random.fork_rng(devices=[]):
            trainer = _Trainer(cfg, data, (source, target), device, ctx.output_dir)
            self._loop(trainer, cfg, ctx)

    def _loop(self, trainer: _Trainer, cfg: Mapping[str, Any], ctx: TrainingContext) -> None:
        if trainer.resume(ctx):
            return  # the checkpoint is of a finished job: its kept model is the model
        frequency = cfg["checkpoint_frequency_num_batches"]
        max_batches, max_epochs = cfg["max_num_batches"], cfg["max_num_epochs"]
        while True:
            if not trainer.pending:
                if max_epochs is not None and trainer.epoch >= max_epochs:
                    break
                trainer.epoch += 1
                trainer.pending = _batches(trainer.data["train"], cfg, trainer.rng)
            trainer.train_batch(trainer.pending.pop(0))
            at_limit = 0 < max_batches <= trainer.updates
            if trainer.updates % frequency and not at_limit:
                continue
            if self._checkpoint(trainer, cfg, ctx, last=at_limit) or at_limit:
                return
        if trainer.updates % frequency:
            self._checkpoint(trainer, cfg, ctx, last=True)

    def _checkpoint(
        self, trainer: _Trainer, cfg: Mapping[str, Any], ctx: TrainingContext, *, last: bool
    ) -> bool:
        """Evaluate, keep the model if best, report, save a checkpoint if asked; stop?"""
        metrics = trainer.evaluate()
        trainer.checkpoints += 1
        number = trainer.checkpoints
        bad = [name for name, value in metrics.items() if not math.isfinite(value)]
        if bad:
            raise InputError(
                f"seq2seq diverged at checkpoint {number}: {', '.join(bad)} is not finite; "
                "lower learning_rate or clip_gradient"
            )
        if trainer.improved(metrics):
            trainer.not_improved = trainer.plateau = 0
        else:
            trainer.not_improved += 1
            trainer.plateau += 1
        if (
            cfg["lr_scheduler_type"] == "plateau_reduce"
            and trainer.plateau >= cfg["plateau_reduce_lr_threshold"]
        ):
            trainer.plateau = 0
            for group in trainer.optimizer.param_groups:
                group["lr"] *= cfg["plateau_reduce_lr_factor"]
        ctx.report(number, **metrics)
        stalled = (
            cfg["max_num_epochs"] is None and trainer.not_improved >= cfg["checkpoint_threshold"]
        )
        # (a no-op unless the job asked for checkpoints)
        save_training_state(ctx, "seq2seq", number, **trainer.checkpointed(last or stalled))
        if stalled:
            logger.info(
                "seq2seq: validation:%s did not improve for %d checkpoints; stopping",
                cfg["optimized_metric"],
                trainer.not_improved,
            )
        return stalled or ctx.should_stop()

    def load(self, path: Path | str, *, device: str = "cpu") -> Seq2SeqModel:
        """The model a trial saved; ``path`` is its output folder or the model file."""
        return load(path, device=device)


# -- the saved model ------------------------------------------------------------------------------


def save(
    output_dir: Path,
    network: Seq2SeqNetwork,
    cfg: Mapping[str, Any],
    vocabs: tuple[Vocabulary, Vocabulary],
) -> dict[str, Any]:
    """The network's weights, its hyperparameters and both vocabularies, in one file (and
    returned, what the file holds)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    config = {k: v for k, v in cfg.items() if k in HYPERPARAMETERS}
    state = {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}
    payload = {
        "config": json.dumps(config),
        "source_tokens": list(vocabs[0].tokens),
        "target_tokens": list(vocabs[1].tokens),
        "state": state,
    }
    torch.save(payload, output_dir / MODEL_FILENAME)
    return payload


@dataclass
class Seq2SeqModel:
    """A trained translator: the network, its hyperparameters and vocabularies."""

    network: Seq2SeqNetwork
    config: dict[str, Any]
    source_vocabulary: Vocabulary
    target_vocabulary: Vocabulary
    device: torch.device

    def translate_ids(
        self, sources: Sequence[Sequence[int]], beam_size: int | None = None
    ) -> list[list[int]]:
        """Target ids (without ``</s>``) for source id lists (without ``<s>``/``</s>``)."""
        max_source = self.config["max_seq_len_source"]
        clipped = [
            [int(i) if 0 <= int(i) < len(self.source_vocabulary) else UNK_ID for i in s][
                :max_source
            ]
            for s in sources
        ]
        return translate(
            self.network,
            clipped,
            beam_size or self.config["beam_size"],
            self.config["max_seq_len_target"],
            self.device,
        )

    def translate(self, sentences: Sequence[str], beam_size: int | None = None) -> list[str]:
        """Whitespace-tokenised target sentences for whitespace-tokenised source sentences."""
        ids = self.translate_ids([self.source_vocabulary.encode(s) for s in sentences], beam_size)
        return [self.target_vocabulary.decode(t) for t in ids]

    def predict(self, inputs: Sequence[Any], beam_size: int | None = None) -> list[Any]:
        """Strings for strings (SageMaker's ``application/json``), id lists for id lists."""
        if all(isinstance(item, str) for item in inputs):
            return list(self.translate(list(inputs), beam_size))
        return list(self.translate_ids(inputs, beam_size))


def load(path: Path | str, *, device: str = "cpu") -> Seq2SeqModel:
    """The model that ``train`` saved in ``path`` (an output folder or the model file)."""
    path = Path(path)
    file = path / MODEL_FILENAME if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"no seq2seq model at {file}")
    where = torch_device(device)
    saved = torch.load(file, map_location=where, weights_only=True)
    config = json.loads(saved["config"])
    source = Vocabulary(tuple(saved["source_tokens"]))
    target = Vocabulary(tuple(saved["target_tokens"]))
    network = Seq2SeqNetwork(config, len(source), len(target))
    network.load_state_dict(saved["state"])
    network.to(where).eval()
    return Seq2SeqModel(network, config, source, target, where)


ALGORITHM = Seq2SeqAlgorithm()
