"""Object2Vec as SageMaker's built-in ``object2vec`` image offers it, in torch.

Object2Vec learns embeddings of pairs of objects from how the pairs relate: a record is a pair
``(in0, in1)`` and a label, the label a class (``output_layer=softmax``) or a number
(``output_layer=mean_squared_error``). Two encoders, ``enc0`` for ``in0`` and ``enc1`` for
``in1``, each turn their input into a vector of ``enc_dim`` numbers; a comparator joins the
two vectors; a multilayer perceptron and the output layer predict the label.

**Data.** The ``train`` (required), ``validation`` and ``test`` channels hold JSON Lines
(``application/jsonlines``), a file or a folder of files, one record a line, SageMaker's
layout: ``{"label": 1, "in0": [6, 17, 606, 19], "in1": [16, 21, 13]}``. Each input is either

* a **token sequence**: a JSON list of integer token ids ``0 .. enc<i>_vocab_size - 1``
  (a single id, ``[42]``, is a singleton such as a user id). A sequence longer than
  ``enc<i>_max_seq_len`` keeps its first tokens (SageMaker truncates too; the log says how
  many records were cut); or
* a **vector**: a JSON list of numbers of which at least one is written as a JSON float
  (``0.5``, ``1.0``, ``2e-3``), the same length in every record. SageMaker's documentation
  names only token inputs; vectors are our addition, and JSON's own number syntax tells the
  two apart: ``[1, 2]`` is two tokens, ``[1.0, 2.0]`` is a vector. Every record of every
  channel must give a side the same kind (the first training record decides).

Bad data is an :class:`InputError` naming the channel, the file and the line: not UTF-8, not
JSON, not an object, a missing ``in0``/``in1``/``label``, an empty or non-numeric input, a
token id out of range, a vector of another length or with a missing value, a label that is not
an integer ``0 .. num_classes - 1`` (softmax) or not a finite number (regression).

The optional ``auxiliary`` channel holds pretrained token embeddings: the file named by
``enc<i>_pretrained_embedding_file`` (GloVe's text format, ``token v1 v2 ... vd`` a line) and
the vocabulary named by ``enc<i>_vocab_file``, which maps tokens to the ids of the data: a JSON
object ``{"token": id}`` (as SageMaker's example notebooks write ``vocab.json``) or plain text,
one token a line, line ``i`` naming id ``i - 1``. Rows of ids whose token has a pretrained
vector start from it (``d`` must equal ``enc<i>_token_embedding_dim``); the rest start random.
``enc<i>_freeze_pretrained_embedding`` (default true) then keeps the whole token embedding
table of that encoder fixed.

**Encoders** (``enc<i>_network``). A token sequence is first looked up in a token embedding
table (``enc<i>_token_embedding_dim`` wide); a vector is mapped to one "token" of that width by
a linear layer, so every network below takes both kinds.

* ``pooled_embedding``: the mean of the token embeddings, then a linear map to ``enc_dim``.
  ``enc<i>_layers`` is ignored (SageMaker: "auto ignores the number of layers").
* ``hcnn``: a hierarchical convolutional network: ``enc<i>_layers`` (``auto``: 4, as
  SageMaker documents) 1-d convolutions of width ``enc<i>_cnn_filter_width`` over the
  sequence, ``enc_dim`` channels, each a ReLU, each layer after the first added to its input
  (residual), so layer ``k`` sees ``k x (width - 1) + 1`` tokens; then the maximum over the
  sequence's positions (padding masked out).
* ``bilstm``: a bidirectional LSTM of ``enc<i>_layers`` layers (``auto``: 1, as documented),
  ``ceil(enc_dim / 2)`` units each way, over the packed sequence; the last layer's final
  states of both directions, joined, are mapped linearly to ``enc_dim``.

``enc1_network=enc0`` gives enc1 enc0's network, layers, filter width and token embedding
width ("the same network model as enc0, including the hyperparameter values"), with weights of
its own. ``enc1_max_seq_len`` and ``enc1_vocab_size`` default to enc0's values when not given.
``tied_token_embedding_weight`` makes both encoders use one token embedding table; it needs two
token inputs of the same vocabulary size and embedding width.

**Comparator and head.** ``comparator_list`` joins the two encodings ``u`` and ``v`` (same
``enc_dim``) in the order given: ``hadamard`` ``u * v``, ``concat`` ``[u, v]``, ``abs_diff``
``|u - v|`` (a name given twice counts once). Then ``mlp_layers`` layers of ``mlp_dim`` units
with ``mlp_activation`` (``linear``: none), and the output layer: ``num_classes`` logits under a
softmax (cross-entropy loss), or one number (squared-error loss). ``dropout`` drops, with that
probability, entries of the token embeddings, of the two encodings and of every MLP layer's
output while training.

**Training.** ``epochs`` passes over ``train`` in mini-batches of ``mini_batch_size``, shuffled
afresh each epoch. With ``bucket_width`` > 0, each epoch groups the records whose ``in0`` and
``in1`` lengths fall in the same ``bucket_width``-wide bins, and each mini-batch comes from one
group (less padding); the groups' batches are then shuffled together. With
``negative_sampling_rate`` ``r`` > 0 (softmax only; label 0 is "negative"), every epoch adds,
for each record labelled 1, ``r`` records pairing its ``in0`` with the ``in1`` of another
record labelled 1 drawn at random, labelled 0. ``optimizer`` follows MXNet 1.x, which
SageMaker's first-party algorithms run on: ``adadelta`` (rho 0.9, epsilon 1e-5) takes no
learning rate, ``rmsprop`` decays its average by 0.9, ``sgd`` has no momentum;
``weight_decay`` adds ``weight_decay * weight`` to every gradient. ``token_embedding_storage_type
=row_sparse`` updates only the token embedding rows a mini-batch uses (lazy updates: torch's
sparse gradients, with SparseAdam for ``adam``); as SageMaker documents, it needs ``adam``,
``adagrad`` or ``sgd`` and turns bucketing off. Weight decay does not reach such lazily
updated rows (our choice: a decay of rows a batch does not use would not be lazy).

**Early stopping.** The monitored loss is ``validation:cross_entropy`` (or
``validation:mean_squared_error``), or the training loss without a validation channel. An
epoch improves when its loss is more than ``early_stopping_tolerance`` (an absolute amount)
below the best loss so far; training ends after ``early_stopping_patience`` epochs in a row
without improvement. The model saved is the last epoch's.

**Metrics**, AMT's names (AMT.md 17.1), measured in evaluation mode (no dropout) after every
epoch: ``validation:accuracy`` and ``validation:cross_entropy`` (softmax), or
``validation:mean_squared_error`` (regression); the ``test:`` ones of the final model with the
last epoch's report. ``train:cross_entropy`` / ``train:mean_squared_error`` (the epoch's mean
loss as trained) are reported too, informational (:data:`REPORTED_METRICS`). Cross-entropy is
in nats, the mean of ``-log p(label)``.

**The model** (``object2vec-model.npz``: the weights and a JSON description of the network)
loads with :func:`load`; :meth:`Object2VecModel.predict` takes records like the training
lines (SageMaker's inference ``{"instances": [...]}`` also) and gives class probabilities or
regression values; :meth:`Object2VecModel.encode` gives one side's embeddings (SageMaker's
"encoder embeddings" inference). Training runs on ``ctx.device``; the initialisation, the
shuffles, the negatives and the dropout come from seeded generators (:data:`SEED`), so a run on
the CPU repeats exactly.

**Checkpoints** (when the training job asks for them, :mod:`algorithms.checkpoints`): after
every epoch's report, the network, the optimizers' state, the early-stopping history and every
random state (the shuffles' and negatives' numpy generator, torch's for the dropout, CUDA's on
a GPU). A job run again resumes after that epoch exactly as if it had never stopped; one whose
checkpoint is the epoch early stopping ended it at only saves that model again.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from algorithms.base import (
    Direction,
    HyperparameterError,
    HyperparameterSpec,
    InputError,
    StopTraining,
    TrainingContext,
    TuningRange,
    categorical,
    continuous,
    integer,
    parse_hyperparameters,
)
from algorithms.checkpoints import wants_epoch_checkpoints
from algorithms.torch_util import (
    configure_threads,
    restore_training_state,
    save_training_state,
    torch,
    torch_device,
)

F = torch.nn.functional

logger = logging.getLogger(__name__)

#: The model's file name in the output folder.
MODEL_FILENAME = "object2vec-model.npz"
#: Seed of the initialisation, the shuffles, the negative samples and the dropout.
SEED = 0
DATA_SETS = ("train", "validation", "test")
SIDES = ("in0", "in1")
NETWORKS = ("hcnn", "bilstm", "pooled_embedding")
COMPARATORS = ("hadamard", "concat", "abs_diff")
MLP_ACTIVATIONS = ("tanh", "relu", "linear")
OUTPUT_LAYERS = ("softmax", "mean_squared_error")
OPTIMIZERS = ("adadelta", "adagrad", "adam", "rmsprop", "sgd")
STORAGE_TYPES = ("dense", "row_sparse")
#: Optimizers that can update token embeddings lazily (SageMaker's row_sparse constraint).
ROW_SPARSE_OPTIMIZERS = ("adam", "adagrad", "sgd")
#: What ``enc<i>_layers=auto`` means for each network (SageMaker's documentation).
AUTO_LAYERS = {"hcnn": 4, "bilstm": 1, "pooled_embedding": 1}
#: Records scored at once when a channel is evaluated.
EVAL_BATCH = 1024
TOKENS, VECTOR = "tokens", "vector"

METRICS: Mapping[str, Direction] = MappingProxyType(
    {
        "validation:accuracy": "Maximize",
        "validation:cross_entropy": "Minimize",
        "validation:mean_squared_error": "Minimize",
        "test:accuracy": "Maximize",
        "test:cross_entropy": "Minimize",
        "test:mean_squared_error": "Minimize",
    }
)
#: Reported as well, informational: the training loss of each epoch, as trained.
REPORTED_METRICS = ("train:cross_entropy", "train:mean_squared_error")
#: The metrics of each output layer (without the channel prefix).
METRICS_OF_OUTPUT = {
    "softmax": ("accuracy", "cross_entropy"),
    "mean_squared_error": ("mean_squared_error",),
}


# -- hyperparameters -----------------------------------------------------------------------------


class LayersSpec(HyperparameterSpec):
    """``auto`` (parsed as None) or an integer 1 .. 4 (``enc0_layers``, ``enc1_layers``)."""

    def allowed(self) -> str:
        return "'auto' or an integer between 1 and 4"

    def parse(self, name: str, raw: object) -> Any:
        if str(raw).strip().lower() == "auto":
            return None
        try:
            return super().parse(name, raw)
        except ValueError:
            msg = f"hyperparameter {name!r}: got {raw!r}, must be {self.allowed()}"
            raise ValueError(msg) from None


class ComparatorListSpec(HyperparameterSpec):
    """Comparator names, comma-separated (``"hadamard, concat"``) or a JSON list; no repeats."""

    def allowed(self) -> str:
        return (
            'a comma-separated list of hadamard, concat and abs_diff, such as "hadamard, concat"'
        )

    def parse(self, name: str, raw: object) -> Any:
        text = str(raw).strip()
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = [part.strip().strip("'\"") for part in text.strip("[]").split(",")]
        items = parsed if isinstance(parsed, list) else [parsed]
        names = [str(item).strip() for item in items if str(item).strip()]
        if not names or any(item not in COMPARATORS for item in names):
            raise ValueError(f"hyperparameter {name!r}: got {raw!r}, must be {self.allowed()}")
        return tuple(dict.fromkeys(names))


class FileNameSpec(HyperparameterSpec):
    """A file name in the auxiliary channel: letters, digits, ``_`` and ``.`` (may be empty)."""

    def allowed(self) -> str:
        return "a file name of letters, digits, underscores and periods ([A-Za-z0-9._]), or empty"

    def parse(self, name: str, raw: object) -> Any:
        text = str(raw).strip()
        if not re.fullmatch(r"[A-Za-z0-9._]*", text) or text in (".", ".."):
            raise ValueError(f"hyperparameter {name!r}: got {raw!r}, must be {self.allowed()}")
        return text


def _encoder_hyperparameters(side: str) -> dict[str, HyperparameterSpec]:
    """The ``enc0_*`` or ``enc1_*`` hyperparameters (enc1's sizes default to enc0's)."""
    first = side == "enc0"
    networks = NETWORKS if first else ("enc0", *NETWORKS)
    return {
        f"{side}_max_seq_len": HyperparameterSpec(
            "int",
            None,
            required=first,
            min_value=1,
            max_value=5000,
            description="Longest sequence kept (longer ones are truncated).",
        ),
        f"{side}_vocab_size": HyperparameterSpec(
            "int",
            None,
            required=first,
            min_value=2,
            max_value=3_000_000,
            description="Token ids are 0 .. vocab_size - 1.",
        ),
        f"{side}_network": HyperparameterSpec(
            "str", networks[0], choices=networks, description="The encoder's network."
        ),
        f"{side}_cnn_filter_width": HyperparameterSpec(
            "int", 3, min_value=1, max_value=9, description="Convolution width (hcnn)."
        ),
        f"{side}_layers": LayersSpec(
            "int", None, min_value=1, max_value=4, description="Layers (auto: hcnn 4, bilstm 1)."
        ),
        f"{side}_token_embedding_dim": HyperparameterSpec(
            "int", 300, min_value=2, max_value=1000, description="Token embedding width."
        ),
        f"{side}_freeze_pretrained_embedding": HyperparameterSpec(
            "bool", True, description="Keep pretrained token embeddings fixed."
        ),
        f"{side}_pretrained_embedding_file": FileNameSpec(
            "str", "", description="Pretrained token embeddings in the auxiliary channel."
        ),
        f"{side}_vocab_file": FileNameSpec(
            "str", "", description="Token -> id vocabulary in the auxiliary channel."
        ),
    }


#: SageMaker Object2Vec's hyperparameters ("Object2Vec Hyperparameters" in the developer guide).
HYPERPARAMETERS: Mapping[str, HyperparameterSpec] = MappingProxyType(
    {
        **_encoder_hyperparameters("enc0"),
        **_encoder_hyperparameters("enc1"),
        "bucket_width": HyperparameterSpec(
            "int", 0, min_value=0, max_value=100, description="Bucketing by length (0: off)."
        ),
        "comparator_list": ComparatorListSpec(
            "str",
            COMPARATORS,
            description="How the two encodings are joined, in order.",
        ),
        "dropout": HyperparameterSpec(
            "float", 0.0, min_value=0.0, max_value=1.0, description="Dropout probability."
        ),
        "early_stopping_patience": HyperparameterSpec(
            "int", 3, min_value=1, max_value=5, description="Epochs without improvement."
        ),
        "early_stopping_tolerance": HyperparameterSpec(
            "float",
            0.01,
            min_value=1e-6,
            max_value=0.1,
            description="Least loss reduction that counts as an improvement.",
        ),
        "enc_dim": HyperparameterSpec(
            "int", 4096, min_value=4, max_value=10_000, description="Width of each encoding."
        ),
        "epochs": HyperparameterSpec(
            "int", 30, min_value=1, max_value=100, description="Most passes over train."
        ),
        "learning_rate": HyperparameterSpec(
            "float", 0.0004, min_value=1e-6, max_value=1.0, description="Learning rate."
        ),
        "mini_batch_size": HyperparameterSpec(
            "int", 32, min_value=1, max_value=10_000, description="Records per mini-batch."
        ),
        "mlp_activation": HyperparameterSpec(
            "str", "linear", choices=MLP_ACTIVATIONS, description="Activation of the MLP."
        ),
        "mlp_dim": HyperparameterSpec(
            "int", 512, min_value=2, max_value=10_000, description="Units per MLP layer."
        ),
        "mlp_layers": HyperparameterSpec(
            "int", 2, min_value=0, max_value=10, description="MLP layers."
        ),
        "negative_sampling_rate": HyperparameterSpec(
            "int", 0, min_value=0, description="Negatives generated per positive record."
        ),
        "num_classes": HyperparameterSpec(
            "int", 2, min_value=2, max_value=30, description="Classes (softmax only)."
        ),
        "optimizer": HyperparameterSpec(
            "str", "adam", choices=OPTIMIZERS, description="Optimizer (as in MXNet 1.x)."
        ),
        "output_layer": HyperparameterSpec(
            "str",
            "softmax",
            choices=OUTPUT_LAYERS,
            description="softmax: classification; mean_squared_error: regression.",
        ),
        "tied_token_embedding_weight": HyperparameterSpec(
            "bool", False, description="One token embedding table for both encoders."
        ),
        "token_embedding_storage_type": HyperparameterSpec(
            "str", "dense", choices=STORAGE_TYPES, description="row_sparse: lazy updates."
        ),
        "weight_decay": HyperparameterSpec(
            "float", 0.0, min_value=0.0, max_value=10_000.0, description="L2 regularisation."
        ),
    }
)

#: AMT's recommended ranges (its object2vec-tuning page; AMT.md 17.2), what Autotune tunes over.
TUNING_RANGES: Mapping[str, TuningRange] = MappingProxyType(
    {
        "dropout": continuous(0, 1),
        "early_stopping_patience": integer(1, 5),
        "early_stopping_tolerance": continuous(0.001, 0.1),
        "enc_dim": integer(4, 4096),
        "enc0_cnn_filter_width": integer(1, 5),
        "enc0_layers": integer(1, 4),
        "enc0_token_embedding_dim": integer(5, 300),
        "enc1_cnn_filter_width": integer(1, 5),
        "enc1_layers": integer(1, 4),
        "enc1_token_embedding_dim": integer(5, 300),
        "epochs": integer(4, 20),
        "learning_rate": continuous(1e-6, 1.0, "Logarithmic"),
        "mini_batch_size": integer(1, 8192),
        "mlp_activation": categorical("tanh", "relu", "linear"),
        "mlp_dim": integer(16, 1024),
        "mlp_layers": integer(1, 4),
        "optimizer": categorical("adagrad", "adam", "rmsprop", "sgd", "adadelta"),
        "weight_decay": continuous(0, 1),
    }
)


# -- the network's description -------------------------------------------------------------------


@dataclass(frozen=True)
class EncoderSpec:
    """One encoder: its input's kind and size, and its network."""

    kind: str  # TOKENS or VECTOR
    network: str
    layers: int
    filter_width: int
    token_embedding_dim: int
    vocab_size: int
    max_seq_len: int
    vector_dim: int = 0  # VECTOR only


@dataclass(frozen=True)
class NetworkSpec:
    """The whole network, as saved with the model (JSON)."""

    enc0: EncoderSpec
    enc1: EncoderSpec
    enc_dim: int
    comparators: tuple[str, ...]
    mlp_layers: int
    mlp_dim: int
    mlp_activation: str
    output_layer: str
    num_classes: int
    dropout: float
    tied: bool
    row_sparse: bool

    @property
    def n_outputs(self) -> int:
        return self.num_classes if self.output_layer == "softmax" else 1

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> NetworkSpec:
        raw = json.loads(text)
        return cls(
            **{
                **raw,
                "enc0": EncoderSpec(**raw["enc0"]),
                "enc1": EncoderSpec(**raw["enc1"]),
                "comparators": tuple(raw["comparators"]),
            }
        )


def encoder_settings(values: Mapping[str, Any], side: str) -> dict[str, Any]:
    """``enc<side>``'s effective settings: enc1_network=enc0 copies enc0's network settings,
    and enc1's max_seq_len and vocab_size default to enc0's."""
    own = {key: values[f"enc{side}_{key}"] for key in _ENCODER_KEYS}
    if side == "1":
        for key in ("max_seq_len", "vocab_size"):
            if own[key] is None:
                own[key] = values[f"enc0_{key}"]
        if own["network"] == "enc0":
            for key in ("network", "layers", "cnn_filter_width", "token_embedding_dim"):
                own[key] = values[f"enc0_{key}"]
    own["layers"] = own["layers"] or AUTO_LAYERS[own["network"]]
    return own


_ENCODER_KEYS = (
    "max_seq_len",
    "vocab_size",
    "network",
    "cnn_filter_width",
    "layers",
    "token_embedding_dim",
    "freeze_pretrained_embedding",
    "pretrained_embedding_file",
    "vocab_file",
)


# -- data ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One side (in0 or in1) of a channel's records: padded token ids, or vectors."""

    kind: str
    ids: np.ndarray | None = None  # (n, longest) int64, -1 past each record's length
    lengths: np.ndarray | None = None  # (n,) int64
    vectors: np.ndarray | None = None  # (n, d) float32

    @property
    def n_rows(self) -> int:
        array = self.ids if self.kind == TOKENS else self.vectors
        assert array is not None
        return int(array.shape[0])

    @property
    def width(self) -> int:
        """The vector length (vectors) or the longest sequence (tokens)."""
        array = self.ids if self.kind == TOKENS else self.vectors
        assert array is not None
        return int(array.shape[1])

    def row_lengths(self) -> np.ndarray:
        """Each record's length: its token count, or 1 for a vector."""
        if self.kind == TOKENS:
            assert self.lengths is not None
            return self.lengths
        return np.ones(self.n_rows, dtype=np.int64)


@dataclass(frozen=True)
class Pairs:
    """A channel's records: both sides and the labels (NaN where a record has none)."""

    in0: Side
    in1: Side
    labels: np.ndarray  # float64

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class _Layout:
    """What the records must look like: each side's kind and bounds, the label's kind."""

    vocab_sizes: tuple[int, int]
    max_seq_lens: tuple[int, int]
    output_layer: str
    num_classes: int
    kinds: tuple[str | None, str | None] = (None, None)  # None: not known yet
    vector_dims: tuple[int, int] = (0, 0)

    def with_sides(self, pairs: Pairs) -> _Layout:
        """This layout with the kinds and vector lengths that ``pairs`` has."""
        sides = (pairs.in0, pairs.in1)
        return replace(
            self,
            kinds=(pairs.in0.kind, pairs.in1.kind),
            vector_dims=tuple(s.width if s.kind == VECTOR else 0 for s in sides),  # type: ignore[arg-type]
        )


def _files(name: str, path: Path) -> list[Path]:
    """The files of a channel: the file itself, or a folder's (hidden ones left out)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(f"{name} channel: {path} does not exist")
    files = sorted(p for p in path.iterdir() if not p.name.startswith(".") and p.is_file())
    if not files:
        raise InputError(f"{name} channel: folder {path} has no files")
    return files


def _json_lines(name: str, path: Path) -> Iterator[tuple[str, Any]]:
    """``(where, record)`` of each non-blank line: ``where`` names the channel, file and line."""
    for file in _files(name, path):
        with file.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                where = f"{name} channel: {file.name} line {number}"
                try:
                    line = raw.decode("utf-8").strip()
                except UnicodeDecodeError:
                    raise InputError(
                        f"{where} is not UTF-8 text; object2vec reads JSON Lines "
                        "(application/jsonlines), one record a line"
                    ) from None
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(
                        f"{where} is not JSON ({exc.msg} at column {exc.colno}); a record is "
                        'like {"label": 1, "in0": [4, 8], "in1": [15, 16]}'
                    ) from None
                yield where, record


def _parse_input(where: str, key: str, value: Any) -> tuple[str, list[int] | list[float]]:
    """``(kind, values)`` of one input: integer tokens, or a vector (a float among them)."""
    if not isinstance(value, list) or not value:
        raise InputError(
            f"{where}: {key!r} must be a non-empty list of token ids or of numbers, "
            f"got {json.dumps(value)[:40]}"
        )
    for position, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise InputError(
                f"{where}: {key!r} item {position} is {json.dumps(item)[:40]}, not a number"
            )
    if all(isinstance(item, int) for item in value):
        return TOKENS, value
    vector = [float(item) for item in value]
    bad = [i for i, item in enumerate(vector) if not math.isfinite(item)]
    if bad:
        raise InputError(f"{where}: {key!r} item {bad[0]} is missing or not finite")
    return VECTOR, vector


def _parse_label(where: str, record: Mapping[str, Any], layout: _Layout) -> float:
    if "label" not in record:
        raise InputError(f"{where}: the record has no 'label'")
    label = record["label"]
    if isinstance(label, bool) or not isinstance(label, (int, float)) or not math.isfinite(label):
        raise InputError(f"{where}: 'label' is {json.dumps(label)[:40]}, not a finite number")
    if layout.output_layer == "softmax" and (
        label != int(label) or not 0 <= label < layout.num_classes
    ):
        raise InputError(
            f"{where}: label {label:g} is out of range; labels must be integers "
            f"0 .. {layout.num_classes - 1} (num_classes={layout.num_classes}) for "
            "output_layer softmax"
        )
    return float(label)


class _SideBuilder:
    """Collects one side's inputs record by record, checking each against the layout."""

    def __init__(self, index: int, layout: _Layout) -> None:
        self.index, self.layout = index, layout
        self.key = SIDES[index]
        self.kind = layout.kinds[index]
        self.dim = layout.vector_dims[index]
        self.first_where = "the training channel"
        self.rows: list[Any] = []
        self.truncated = 0

    def add(self, where: str, record: Mapping[str, Any]) -> None:
        if self.key not in record:
            raise InputError(f"{where}: the record has no {self.key!r}")
        kind, values = _parse_input(where, self.key, record[self.key])
        if self.kind is None:
            self.kind, self.first_where = kind, where
            self.dim = len(values) if kind == VECTOR else 0
        if kind != self.kind:
            raise InputError(
                f"{where}: {self.key!r} is {_kind_phrase(kind)} but in {self.first_where} it "
                f"is {_kind_phrase(self.kind)}; every record must give {self.key} the same kind "
                "(a vector is written with a JSON float such as 1.0)"
            )
        if kind == VECTOR:
            if len(values) != self.dim:
                raise InputError(
                    f"{where}: {self.key!r} is a vector of {len(values)} numbers but in "
                    f"{self.first_where} it has {self.dim}"
                )
            self.rows.append(values)
            return
        vocab_size = self.layout.vocab_sizes[self.index]
        bad = next((i for i, token in enumerate(values) if not 0 <= token < vocab_size), None)
        if bad is not None:
            raise InputError(
                f"{where}: {self.key!r} token {bad} is {values[bad]}, out of range; ids "
                f"are 0 .. {vocab_size - 1} (enc{self.index}_vocab_size={vocab_size})"
            )
        tokens = np.asarray(values, dtype=np.int64)
        longest = self.layout.max_seq_lens[self.index]
        if tokens.size > longest:
            self.truncated += 1
            tokens = tokens[:longest]
        self.rows.append(tokens)

    def side(self) -> Side:
        if self.kind == VECTOR:
            return Side(VECTOR, vectors=np.asarray(self.rows, dtype=np.float32))
        lengths = np.fromiter(
            (len(row) for row in self.rows), dtype=np.int64, count=len(self.rows)
        )
        ids = np.full((len(self.rows), int(lengths.max(initial=1))), -1, dtype=np.int64)
        for i, row in enumerate(self.rows):
            ids[i, : len(row)] = row
        return Side(TOKENS, ids=ids, lengths=lengths)


def _kind_phrase(kind: str | None) -> str:
    return "a vector (floats)" if kind == VECTOR else "a token list (integers)"


def read_pairs(name: str, path: Path, layout: _Layout, *, labelled: bool = True) -> Pairs:
    """The records of channel ``name`` (a JSON Lines file or folder), checked.

    Raises:
        InputError: a line is bad (see the module docstring), named with the channel, the file
            and the line, or the channel holds no records.
    """
    builders = [_SideBuilder(0, layout), _SideBuilder(1, layout)]
    labels: list[float] = []
    for where, record in _json_lines(name, path):
        _add_record(where, record, builders, labels, layout, labelled)
    if not labels:
        raise InputError(f"{name} channel: it holds no records")
    for builder in builders:
        if builder.truncated:
            logger.info(
                "object2vec: %s channel: %d records' %s truncated to enc%d_max_seq_len=%d",
                name,
                builder.truncated,
                builder.key,
                builder.index,
                layout.max_seq_lens[builder.index],
            )
    return Pairs(builders[0].side(), builders[1].side(), np.asarray(labels, dtype=np.float64))


def _add_record(
    where: str,
    record: Any,
    builders: Sequence[_SideBuilder],
    labels: list[float],
    layout: _Layout,
    labelled: bool,
) -> None:
    if not isinstance(record, dict):
        raise InputError(
            f"{where}: a record must be a JSON object with 'in0', 'in1' and 'label', got "
            f"{json.dumps(record)[:40]}"
        )
    label = _parse_label(where, record, layout) if labelled else math.nan
    for builder in builders:
        builder.add(where, record)
    labels.append(label)


def pairs_of_records(records: Any, layout: _Layout) -> Pairs:
    """Records given in Python (dicts like the JSON lines, or ``{"instances": [...]}``)."""
    if isinstance(records, Mapping) and "instances" in records:
        records = records["instances"]
    if isinstance(records, Mapping):
        records = [records]
    builders = [_SideBuilder(0, layout), _SideBuilder(1, layout)]
    labels: list[float] = []
    for number, record in enumerate(records, start=1):
        where = f"input record {number}"
        if not isinstance(record, Mapping):
            raise InputError(f"{where}: a record must be a mapping with 'in0' and 'in1'")
        for builder in builders:
            builder.add(where, record)
        labels.append(math.nan)
    if not labels:
        raise InputError("input: no records")
    return Pairs(builders[0].side(), builders[1].side(), np.asarray(labels))


# -- auxiliary: pretrained token embeddings -------------------------------------------------------


def read_vocabulary(channel: Path, file_name: str, hyperparameter: str) -> dict[str, int]:
    """Token -> id from the auxiliary channel's vocabulary file (JSON object, or one a line)."""
    file = _auxiliary_file(channel, file_name, hyperparameter)
    text = file.read_bytes().removeprefix(b"\xef\xbb\xbf")
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"auxiliary channel: {file.name} is not UTF-8 text") from None
    try:
        parsed = json.loads(decoded)
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        bad = [k for k, v in parsed.items() if isinstance(v, bool) or not isinstance(v, int)]
        if bad:
            raise InputError(
                f"auxiliary channel: {file.name}: token {bad[0]!r} maps to "
                f"{json.dumps(parsed[bad[0]])[:30]}, not an integer id"
            )
        return {str(k): int(v) for k, v in parsed.items()}
    words = decoded.splitlines()
    while words and not words[-1].strip():
        words.pop()
    return {word.strip(): i for i, word in enumerate(words) if word.strip()}


def read_pretrained(
    channel: Path, file_name: str, hyperparameter: str, width: int, width_name: str
) -> dict[str, np.ndarray]:
    """Token -> vector from a GloVe-style text file (``token v1 ... vd`` a line)."""
    file = _auxiliary_file(channel, file_name, hyperparameter)
    vectors: dict[str, np.ndarray] = {}
    with file.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"auxiliary channel: {file.name} line {number}"
            try:
                parts = raw.decode("utf-8").split()
            except UnicodeDecodeError:
                raise InputError(f"{where} is not UTF-8 text") from None
            if not parts:
                continue
            try:
                vector = np.asarray([float(v) for v in parts[1:]], dtype=np.float32)
            except ValueError:
                raise InputError(
                    f"{where}: the values after the token are not all numbers"
                ) from None
            if vector.size != width or not np.isfinite(vector).all():
                raise HyperparameterError(
                    [
                        f"hyperparameter {width_name!r} is {width} but {where} holds a vector "
                        f"of {vector.size} finite numbers; they must match"
                    ]
                )
            vectors[parts[0]] = vector
    return vectors


def _auxiliary_file(channel: Path, file_name: str, hyperparameter: str) -> Path:
    file = Path(channel) / file_name if Path(channel).is_dir() else Path(channel)
    if not file.is_file() or (Path(channel).is_file() and file.name != file_name):
        raise InputError(
            f"auxiliary channel: no file {file_name!r} (named by {hyperparameter}) in {channel}"
        )
    return file


def _pretrained_table(
    values: Mapping[str, Any], side: str, settings: Mapping[str, Any], channels: Mapping[str, Path]
) -> np.ndarray | None:
    """The rows of enc<side>'s token embedding that start pretrained (NaN rows: random)."""
    embedding_file, vocab_file = settings["pretrained_embedding_file"], settings["vocab_file"]
    if not embedding_file:
        return None
    if not vocab_file:
        raise HyperparameterError(
            [
                f"hyperparameter 'enc{side}_vocab_file' is needed with "
                f"enc{side}_pretrained_embedding_file: it maps the file's tokens to ids"
            ]
        )
    if "auxiliary" not in channels:
        raise InputError(
            f"enc{side}_pretrained_embedding_file is {embedding_file!r} but there is no "
            "'auxiliary' channel holding it"
        )
    width = settings["token_embedding_dim"]
    width_name = f"enc{side}_token_embedding_dim"
    vectors = read_pretrained(
        channels["auxiliary"],
        embedding_file,
        f"enc{side}_pretrained_embedding_file",
        width,
        width_name,
    )
    vocabulary = read_vocabulary(channels["auxiliary"], vocab_file, f"enc{side}_vocab_file")
    table = np.full((settings["vocab_size"], width), np.nan, dtype=np.float32)
    for token, token_id in vocabulary.items():
        if 0 <= token_id < settings["vocab_size"] and token in vectors:
            table[token_id] = vectors[token]
    found = int(np.isfinite(table[:, 0]).sum())
    logger.info("object2vec: enc%s: %d token ids start from pretrained vectors", side, found)
    return table


# -- the network ---------------------------------------------------------------------------------


class _Encoder(torch.nn.Module):
    """One encoder: token embeddings (or a vector's linear map) and its network to enc_dim."""

    def __init__(
        self,
        spec: EncoderSpec,
        enc_dim: int,
        dropout: float,
        embedding: torch.nn.Embedding | None,
    ) -> None:
        super().__init__()
        self.spec = spec
        width = spec.token_embedding_dim
        self.embedding = embedding
        self.vector_map = torch.nn.Linear(spec.vector_dim, width) if spec.kind == VECTOR else None
        self.dropout = torch.nn.Dropout(dropout)
        self.convolutions = torch.nn.ModuleList()
        self.lstm: torch.nn.LSTM | None = None
        self.projection: torch.nn.Linear | None = None
        if spec.network == "pooled_embedding":
            self.projection = torch.nn.Linear(width, enc_dim)
        elif spec.network == "hcnn":
            self.convolutions.extend(
                torch.nn.Conv1d(width if i == 0 else enc_dim, enc_dim, spec.filter_width)
                for i in range(spec.layers)
            )
        else:
            hidden = (enc_dim + 1) // 2
            self.lstm = torch.nn.LSTM(
                width,
                hidden,
                num_layers=spec.layers,
                bidirectional=True,
                batch_first=True,
                dropout=dropout if spec.layers > 1 else 0.0,
            )
            self.projection = torch.nn.Linear(2 * hidden, enc_dim)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``[B, enc_dim]`` encodings of ``inputs``: ids ``[B, L]`` (padded) or vectors."""
        if self.vector_map is not None:
            x = self.vector_map(inputs).unsqueeze(1)
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        else:
            assert self.embedding is not None
            x = self.embedding(inputs)
            mask = torch.arange(inputs.shape[1], device=x.device)[None, :] < lengths[:, None]
        x = self.dropout(x)
        if self.spec.network == "pooled_embedding":
            assert self.projection is not None
            pooled = (x * mask.unsqueeze(2)).sum(1) / lengths.clamp_min(1).unsqueeze(1)
            return self.projection(pooled)
        if self.spec.network == "hcnn":
            return self._hcnn(x, mask)
        return self._bilstm(x, lengths)

    def _hcnn(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        width = self.spec.filter_width
        keep = mask.unsqueeze(1)  # [B, 1, L]
        hidden = x.transpose(1, 2)
        for i, convolution in enumerate(self.convolutions):
            padded = F.pad(hidden * keep, ((width - 1) // 2, width // 2))
            out = torch.relu(convolution(padded))
            hidden = out if i == 0 else out + hidden
        return hidden.masked_fill(~keep, -math.inf).amax(dim=2)

    def _bilstm(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        assert self.lstm is not None and self.projection is not None
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, (final, _) = self.lstm(packed)
        both = torch.cat([final[-2], final[-1]], dim=1)
        return self.projection(both)


class _Network(torch.nn.Module):
    """Both encoders, the comparator, the MLP and the output layer."""

    def __init__(self, spec: NetworkSpec) -> None:
        super().__init__()
        self.spec = spec
        embeddings: list[torch.nn.Embedding | None] = []
        for encoder in (spec.enc0, spec.enc1):
            if encoder.kind != TOKENS:
                embeddings.append(None)
            elif spec.tied and embeddings and embeddings[0] is not None:
                embeddings.append(embeddings[0])
            else:
                embeddings.append(
                    torch.nn.Embedding(
                        encoder.vocab_size + 1,
                        encoder.token_embedding_dim,
                        padding_idx=encoder.vocab_size,
                        sparse=spec.row_sparse,
                    )
                )
        self.enc0 = _Encoder(spec.enc0, spec.enc_dim, spec.dropout, embeddings[0])
        self.enc1 = _Encoder(spec.enc1, spec.enc_dim, spec.dropout, embeddings[1])
        self.dropout = torch.nn.Dropout(spec.dropout)
        width = sum(2 if name == "concat" else 1 for name in spec.comparators) * spec.enc_dim
        layers: list[torch.nn.Module] = []
        for _ in range(spec.mlp_layers):
            layers.append(torch.nn.Linear(width, spec.mlp_dim))
            if spec.mlp_activation == "tanh":
                layers.append(torch.nn.Tanh())
            elif spec.mlp_activation == "relu":
                layers.append(torch.nn.ReLU())
            layers.append(torch.nn.Dropout(spec.dropout))
            width = spec.mlp_dim
        self.mlp = torch.nn.Sequential(*layers)
        self.output = torch.nn.Linear(width, spec.n_outputs)

    def token_embeddings(self) -> list[torch.nn.Embedding]:
        """The distinct token embedding tables (one when tied, none for two vectors)."""
        found: list[torch.nn.Embedding] = []
        for encoder in (self.enc0, self.enc1):
            if encoder.embedding is not None and all(encoder.embedding is not e for e in found):
                found.append(encoder.embedding)
        return found

    def encode(self, side: int, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        encoder = self.enc0 if side == 0 else self.enc1
        return encoder(inputs, lengths)

    def forward(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Logits ``[B, num_classes]`` (softmax) or predictions ``[B, 1]``."""
        inputs0, lengths0, inputs1, lengths1 = batch
        u = self.dropout(self.enc0(inputs0, lengths0))
        v = self.dropout(self.enc1(inputs1, lengths1))
        parts = []
        for name in self.spec.comparators:
            if name == "hadamard":
                parts.append(u * v)
            elif name == "concat":
                parts.extend([u, v])
            else:
                parts.append((u - v).abs())
        return self.output(self.mlp(torch.cat(parts, dim=1)))


class _DeviceSide:
    """One side of a channel on the device, handing out mini-batches."""

    def __init__(self, side: Side, spec: EncoderSpec, device: torch.device) -> None:
        self.kind = side.kind
        self.lengths = torch.as_tensor(side.row_lengths(), device=device)
        if side.kind == TOKENS:
            assert side.ids is not None
            ids = np.where(side.ids < 0, spec.vocab_size, side.ids)  # the padding row
            self.values = torch.as_tensor(ids, device=device)
        else:
            assert side.vectors is not None
            self.values = torch.as_tensor(side.vectors, device=device)
        self.host_lengths = side.row_lengths()

    def take(
        self, index: torch.Tensor, host_index: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(inputs, lengths)`` of the records at ``index`` (trimmed to their longest)."""
        values, lengths = self.values[index], self.lengths[index]
        if self.kind == TOKENS:
            values = values[:, : int(self.host_lengths[host_index].max())]
        return values, lengths


class _DevicePairs:
    """A channel's records on the device."""

    def __init__(self, pairs: Pairs, spec: NetworkSpec, device: torch.device) -> None:
        self.n_rows = len(pairs)
        self.device = device
        self.sides = (
            _DeviceSide(pairs.in0, spec.enc0, device),
            _DeviceSide(pairs.in1, spec.enc1, device),
        )
        self.labels = torch.as_tensor(pairs.labels, dtype=torch.float32, device=device)

    def batch(self, index0: np.ndarray, index1: np.ndarray) -> tuple[torch.Tensor, ...]:
        """The network's inputs for records pairing ``in0`` at ``index0`` with ``in1`` at
        ``index1``."""
        inputs0, lengths0 = self.sides[0].take(torch.as_tensor(index0, device=self.device), index0)
        inputs1, lengths1 = self.sides[1].take(torch.as_tensor(index1, device=self.device), index1)
        return inputs0, lengths0, inputs1, lengths1


# -- the model -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Object2VecModel:
    """A trained Object2Vec network (on the CPU, in evaluation mode) and its description."""

    spec: NetworkSpec
    network: _Network

    def _layout(self) -> _Layout:
        spec = self.spec
        return _Layout(
            vocab_sizes=(spec.enc0.vocab_size, spec.enc1.vocab_size),
            max_seq_lens=(spec.enc0.max_seq_len, spec.enc1.max_seq_len),
            output_layer=spec.output_layer,
            num_classes=spec.num_classes,
            kinds=(spec.enc0.kind, spec.enc1.kind),
            vector_dims=(spec.enc0.vector_dim, spec.enc1.vector_dim),
        )

    def _pairs(self, records: Any) -> _DevicePairs:
        return _DevicePairs(pairs_of_records(records, self._layout()), self.spec, _CPU)

    @torch.no_grad()
    def predict(self, records: Any) -> np.ndarray:
        """Class probabilities ``(n, num_classes)`` (softmax) or predictions ``(n,)``.

        ``records`` are mappings with ``in0`` and ``in1`` as the training lines have them (a
        ``label`` is ignored), or SageMaker's ``{"instances": [...]}``.
        """
        data = self._pairs(records)
        outputs = [self.network(batch) for batch in _ordered_batches(data)]
        out = torch.cat(outputs).double()
        if self.spec.output_layer == "softmax":
            return np.asarray(torch.softmax(out, dim=1).numpy())
        return np.asarray(out[:, 0].numpy())

    @torch.no_grad()
    def encode(self, records: Any, side: str = "in0") -> np.ndarray:
        """``(n, enc_dim)`` embeddings of each record's ``side`` (``in0`` or ``in1``) by its
        encoder. Both sides must be given (the other is checked, not used)."""
        if side not in SIDES:
            raise ValueError(f"side must be 'in0' or 'in1', got {side!r}")
        index = SIDES.index(side)
        data = self._pairs(records)
        parts = []
        for start in range(0, data.n_rows, EVAL_BATCH):
            rows = np.arange(start, min(start + EVAL_BATCH, data.n_rows))
            inputs, lengths = data.sides[index].take(torch.as_tensor(rows), rows)
            parts.append(self.network.encode(index, inputs, lengths))
        return np.asarray(torch.cat(parts).double().numpy())


_CPU = torch.device("cpu")


def _ordered_batches(data: _DevicePairs) -> Iterator[tuple[torch.Tensor, ...]]:
    for start in range(0, data.n_rows, EVAL_BATCH):
        rows = np.arange(start, min(start + EVAL_BATCH, data.n_rows))
        yield data.batch(rows, rows)


def load(path: Path | str) -> Object2VecModel:
    """The model that ``train`` saved in ``path`` (an output folder or the model file)."""
    path = Path(path)
    file = path / MODEL_FILENAME if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"no Object2Vec model at {file}")
    with np.load(file, allow_pickle=False) as saved:
        spec = NetworkSpec.from_json(str(saved["meta"]))
        state = {
            name[len("w:") :]: torch.as_tensor(saved[name])
            for name in saved.files
            if name.startswith("w:")
        }
    network = _Network(replace(spec, row_sparse=False))
    network.load_state_dict(state)
    network.eval()
    return Object2VecModel(spec, network)


def _save(network: _Network, output_dir: Path) -> None:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    arrays = {
        f"w:{name}": tensor.detach().cpu().numpy() for name, tensor in network.state_dict().items()
    }
    with (output_dir / MODEL_FILENAME).open("wb") as handle:
        np.savez(handle, meta=np.array(network.spec.to_json()), **arrays)


# -- training ------------------------------------------------------------------------------------


def _optimizers(network: _Network, values: Mapping[str, Any]) -> list[torch.optim.Optimizer]:
    """MXNet 1.x's optimizers in torch; with row_sparse, a lazy one for the token embeddings."""
    lazy = network.spec.row_sparse
    sparse = [p for e in network.token_embeddings() for p in e.parameters() if p.requires_grad]
    sparse_ids = {id(p) for p in sparse} if lazy else set()
    dense = [p for p in network.parameters() if p.requires_grad and id(p) not in sparse_ids]
    optimizers = [_dense_optimizer(dense, values)] if dense else []
    if lazy and sparse:
        lr = values["learning_rate"]
        name = values["optimizer"]
        if name == "adam":
            optimizers.append(torch.optim.SparseAdam(sparse, lr=lr, eps=1e-8))
        elif name == "adagrad":
            optimizers.append(torch.optim.Adagrad(sparse, lr=lr, eps=1e-7))
        else:
            optimizers.append(torch.optim.SGD(sparse, lr=lr))
    return optimizers


def _dense_optimizer(parameters: list[Any], values: Mapping[str, Any]) -> torch.optim.Optimizer:
    lr, wd = values["learning_rate"], values["weight_decay"]
    name = values["optimizer"]
    if name == "adadelta":
        return torch.optim.Adadelta(parameters, lr=1.0, rho=0.9, eps=1e-5, weight_decay=wd)
    if name == "adagrad":
        return torch.optim.Adagrad(parameters, lr=lr, eps=1e-7, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, eps=1e-8, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr, alpha=0.9, eps=1e-8, weight_decay=wd)
    return torch.optim.SGD(parameters, lr=lr, weight_decay=wd)


def _bucketed(
    order: np.ndarray, lengths: tuple[np.ndarray, np.ndarray], width: int, size: int
) -> list[np.ndarray]:
    """Mini-batches of ``order``'s records, each from one ``width``-wide bin of both lengths."""
    keys = ((lengths[0][order] - 1) // width) * 10_000 + (lengths[1][order] - 1) // width
    batches: list[np.ndarray] = []
    for key in np.unique(keys):
        members = order[keys == key]
        batches.extend(np.array_split(members, math.ceil(len(members) / size)))
    return batches


class _Trainer:
    """One training run: the network, its optimizers, the channels on the device."""

    def __init__(
        self,
        values: Mapping[str, Any],
        spec: NetworkSpec,
        data: Mapping[str, Pairs],
        device: torch.device,
        pretrained: Sequence[np.ndarray | None],
        frozen: Sequence[bool],
    ) -> None:
        self.values, self.spec, self.device = values, spec, device
        self.rng = np.random.default_rng(SEED)
        torch.manual_seed(SEED)
        self.network = _Network(spec)
        _load_pretrained(self.network, pretrained, frozen)
        self.network.to(device)
        self.optimizers = _optimizers(self.network, values)
        self.data = {name: _DevicePairs(pairs, spec, device) for name, pairs in data.items()}
        self.train_labels = data["train"].labels
        self.train_lengths = (data["train"].in0.row_lengths(), data["train"].in1.row_lengths())

    def checkpointed(self) -> dict[str, Any]:
        """What a checkpoint holds, as :func:`~algorithms.torch_util.save_training_state`
        takes it; the generators' state goes in its ``extra`` (:meth:`random_state`)."""
        return {"modules": {"network": self.network}, "optimizers": self.optimizers}

    def random_state(self) -> dict[str, Any]:
        """The numpy generator's state, and CUDA's on a GPU (the dropout draws there)."""
        cuda = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        return {"rng": self.rng.bit_generator.state, "cuda_rng": cuda}

    def restore_random_state(self, saved: Mapping[str, Any]) -> None:
        """Take back what :meth:`random_state` gave."""
        self.rng.bit_generator.state = saved["rng"]
        if saved["cuda_rng"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(saved["cuda_rng"], self.device)

    def epoch_records(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(in0 index, in1 index, label)`` of this epoch's records, negatives included."""
        n = len(self.train_labels)
        index0, index1, labels = np.arange(n), np.arange(n), self.train_labels
        rate = self.values["negative_sampling_rate"]
        positives = np.flatnonzero(self.train_labels == 1)
        if rate and len(positives) >= 2:
            slot = np.repeat(np.arange(len(positives)), rate)
            offset = self.rng.integers(1, len(positives), size=slot.size)  # never itself
            index0 = np.concatenate([index0, positives[slot]])
            index1 = np.concatenate([index1, positives[(slot + offset) % len(positives)]])
            labels = np.concatenate([labels, np.zeros(slot.size)])
        return index0, index1, labels

    def epoch_batches(self, index0: np.ndarray, index1: np.ndarray) -> list[np.ndarray]:
        """Positions into this epoch's records, one array per mini-batch, in training order."""
        size, width = self.values["mini_batch_size"], self.values["bucket_width"]
        order = self.rng.permutation(len(index0))
        if width and not self.spec.row_sparse:
            lengths = (self.train_lengths[0][index0], self.train_lengths[1][index1])
            batches = _bucketed(order, lengths, width, size)
            return [batches[i] for i in self.rng.permutation(len(batches))]
        return [order[start : start + size] for start in range(0, len(order), size)]

    def train_epoch(self) -> float:
        """One epoch; the mean training loss as trained."""
        self.network.train()
        train = self.data["train"]
        index0, index1, labels = self.epoch_records()
        label_tensor = torch.as_tensor(labels, dtype=torch.float32, device=self.device)
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        for positions in self.epoch_batches(index0, index1):
            batch = train.batch(index0[positions], index1[positions])
            target = label_tensor[torch.as_tensor(positions, device=self.device)]
            loss = self._loss(self.network(batch), target).mean()
            for optimizer in self.optimizers:
                optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for optimizer in self.optimizers:
                optimizer.step()
            total += loss.detach().double() * len(positions)
        return float(total) / len(index0)

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-record loss: cross-entropy (nats) or squared error."""
        if self.spec.output_layer == "softmax":
            return F.cross_entropy(output, target.long(), reduction="none")
        return (output[:, 0] - target) ** 2

    @torch.no_grad()
    def evaluate(self, name: str) -> dict[str, float]:
        """The metrics of channel ``name`` in evaluation mode: accuracy and cross-entropy, or
        mean squared error."""
        self.network.eval()
        data = self.data[name]
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.float64, device=self.device)
        for start in range(0, data.n_rows, EVAL_BATCH):
            rows = np.arange(start, min(start + EVAL_BATCH, data.n_rows))
            output = self.network(data.batch(rows, rows))
            target = data.labels[start : start + len(rows)]
            loss_sum += self._loss(output, target).double().sum()
            if self.spec.output_layer == "softmax":
                correct += (output.argmax(dim=1) == target.long()).double().sum()
        loss = float(loss_sum) / data.n_rows
        if self.spec.output_layer == "softmax":
            return {"accuracy": float(correct) / data.n_rows, "cross_entropy": loss}
        return {"mean_squared_error": loss}


def _load_pretrained(
    network: _Network, pretrained: Sequence[np.ndarray | None], frozen: Sequence[bool]
) -> None:
    """Start rows of the token embeddings from pretrained vectors; freeze them if asked."""
    for side, encoder in enumerate((network.enc0, network.enc1)):
        table = pretrained[side]
        if table is None or encoder.embedding is None:
            continue
        rows = np.flatnonzero(np.isfinite(table[:, 0]))
        with torch.no_grad():
            encoder.embedding.weight[torch.as_tensor(rows)] = torch.as_tensor(table[rows])
        if frozen[side]:
            encoder.embedding.weight.requires_grad_(False)


def _stalled(history: Sequence[float], patience: int, tolerance: float) -> bool:
    """Whether the last ``patience`` losses all failed to beat the best before them by more
    than ``tolerance`` (an absolute amount)."""
    best, waited = math.inf, 0
    for loss in history:
        if loss < best - tolerance:
            best, waited = loss, 0
        else:
            waited += 1
    return waited >= patience


# -- checks before training -----------------------------------------------------------------------


def _check_objective(values: Mapping[str, Any], channels: Mapping[str, Path]) -> None:
    objective = values.get("_tuning_objective_metric")
    if objective is None:
        return
    where = "hyperparameter '_tuning_objective_metric'"
    if objective not in METRICS:
        known = ", ".join(METRICS)
        raise HyperparameterError(
            [f"{where}: {objective!r} is not a metric of object2vec; known: {known}"]
        )
    channel, _, metric = str(objective).partition(":")
    output_layer = values["output_layer"]
    if metric not in METRICS_OF_OUTPUT[output_layer]:
        allowed = ", ".join(
            f"{c}:{m}" for c in ("validation", "test") for m in METRICS_OF_OUTPUT[output_layer]
        )
        raise HyperparameterError(
            [
                f"{where}: {objective} is not reported with output_layer {output_layer} "
                f"(it reports {allowed})"
            ]
        )
    if channel not in channels:
        raise HyperparameterError([f"{where}: {objective} needs a {channel!r} channel"])


def _check_combinations(values: Mapping[str, Any]) -> None:
    """Hyperparameters that are valid alone but not together."""
    problems = []
    if values["token_embedding_storage_type"] == "row_sparse":
        if values["optimizer"] not in ROW_SPARSE_OPTIMIZERS:
            problems.append(
                "hyperparameter 'token_embedding_storage_type': row_sparse needs optimizer "
                f"adam, adagrad or sgd, not {values['optimizer']}"
            )
        if values["bucket_width"]:
            logger.info("object2vec: token_embedding_storage_type row_sparse turns bucketing off")
    if values["negative_sampling_rate"] and values["output_layer"] != "softmax":
        problems.append(
            "hyperparameter 'negative_sampling_rate': negative samples are labelled 0, a class; "
            "it needs output_layer softmax"
        )
    if problems:
        raise HyperparameterError(problems)


def _network_spec(values: Mapping[str, Any], layout: _Layout) -> NetworkSpec:
    """The network to train, from the hyperparameters and the training data's layout."""
    encoders = []
    for side in (0, 1):
        settings = encoder_settings(values, str(side))
        kind = layout.kinds[side]
        assert kind is not None
        encoders.append(
            EncoderSpec(
                kind=kind,
                network=settings["network"],
                layers=settings["layers"],
                filter_width=settings["cnn_filter_width"],
                token_embedding_dim=settings["token_embedding_dim"],
                vocab_size=settings["vocab_size"],
                max_seq_len=settings["max_seq_len"],
                vector_dim=layout.vector_dims[side],
            )
        )
    tied = values["tied_token_embedding_weight"]
    if tied:
        _check_tied(*encoders)
    return NetworkSpec(
        enc0=encoders[0],
        enc1=encoders[1],
        enc_dim=values["enc_dim"],
        comparators=values["comparator_list"],
        mlp_layers=values["mlp_layers"],
        mlp_dim=values["mlp_dim"],
        mlp_activation=values["mlp_activation"],
        output_layer=values["output_layer"],
        num_classes=values["num_classes"],
        dropout=values["dropout"],
        tied=tied,
        row_sparse=values["token_embedding_storage_type"] == "row_sparse",
    )


def _check_tied(enc0: EncoderSpec, enc1: EncoderSpec) -> None:
    where = "hyperparameter 'tied_token_embedding_weight'"
    if enc0.kind != TOKENS or enc1.kind != TOKENS:
        raise HyperparameterError(
            [f"{where}: both in0 and in1 must be token lists to share one table"]
        )
    if (enc0.vocab_size, enc0.token_embedding_dim) != (enc1.vocab_size, enc1.token_embedding_dim):
        raise HyperparameterError(
            [
                f"{where}: one table needs the same vocabulary size and embedding width for both "
                f"encoders, got {enc0.vocab_size} x {enc0.token_embedding_dim} (enc0) and "
                f"{enc1.vocab_size} x {enc1.token_embedding_dim} (enc1)"
            ]
        )


def _load_data(
    values: Mapping[str, Any], channels: Mapping[str, Path]
) -> tuple[dict[str, Pairs], _Layout]:
    if "train" not in channels:
        got = ", ".join(repr(name) for name in channels) or "none"
        raise InputError(f"object2vec needs a 'train' channel (got {got})")
    unknown = sorted(set(channels) - {*DATA_SETS, "auxiliary"})
    if unknown:
        logger.info("object2vec reads train, validation, test and auxiliary; ignoring %s", unknown)
    enc1 = encoder_settings(values, "1")
    layout = _Layout(
        vocab_sizes=(values["enc0_vocab_size"], enc1["vocab_size"]),
        max_seq_lens=(values["enc0_max_seq_len"], enc1["max_seq_len"]),
        output_layer=values["output_layer"],
        num_classes=values["num_classes"],
    )
    data = {"train": read_pairs("train", channels["train"], layout)}
    layout = layout.with_sides(data["train"])
    for name in ("validation", "test"):
        if name in channels:
            data[name] = read_pairs(name, channels[name], layout)
    return data, layout


class Object2VecAlgorithm:
    """SageMaker's built-in Object2Vec (the ``object2vec`` image)."""

    name = "object2vec"
    hyperparameters: Mapping[str, HyperparameterSpec] = HYPERPARAMETERS
    metrics: Mapping[str, Direction] = METRICS
    tuning_ranges: Mapping[str, TuningRange] = TUNING_RANGES

    def train(
        self,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
    ) -> None:
        """Train on ``train``, report every epoch, stop early as configured, save the model.

        Raises:
            HyperparameterError: a hyperparameter is unknown, missing, invalid or does not fit
                the others or the data, or the objective is not reported.
            InputError: the ``train`` channel is missing, a record is bad, the auxiliary files
                are missing or malformed, or training diverged (lower ``learning_rate``).
        """
        values = parse_hyperparameters(self.hyperparameters, hyperparameters)
        _check_objective(values, channels)
        _check_combinations(values)
        data, layout = _load_data(values, channels)
        spec = _network_spec(values, layout)
        settings = [encoder_settings(values, side) for side in "01"]
        pretrained = [
            _pretrained_table(values, side, settings[int(side)], channels)
            if spec_of(spec, int(side)).kind == TOKENS
            else None
            for side in "01"
        ]
        if spec.tied:
            pretrained[1] = None  # one table: enc0's pretrained vectors
        frozen = [bool(s["freeze_pretrained_embedding"]) for s in settings]
        device = torch_device(ctx.device)
        configure_threads(values["mini_batch_size"] * spec.enc_dim * _work_per_record(spec))
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            trainer = _Trainer(values, spec, data, device, pretrained, frozen)
            try:
                self._epochs(trainer, values, ctx)
            except StopTraining:
                _save(trainer.network, ctx.output_dir)
                raise
        _save(trainer.network, ctx.output_dir)

    def _epochs(self, trainer: _Trainer, values: Mapping[str, Any], ctx: TrainingContext) -> None:
        output = values["output_layer"]
        loss_name = METRICS_OF_OUTPUT[output][-1]
        history: list[float] = []
        epochs = values["epochs"]
        start = 1
        resumed = restore_training_state(ctx, "object2vec", **trainer.checkpointed())
        if resumed is not None:
            start, history = resumed[0] + 1, list(resumed[1]["history"])
            trainer.restore_random_state(resumed[1])
            if resumed[1]["stalled"]:
                return  # early stopping had ended it: the checkpoint is the final model
        for epoch in range(start, epochs + 1):
            if ctx.should_stop():
                break
            metrics = {f"train:{loss_name}": trainer.train_epoch()}
            if "validation" in trainer.data:
                metrics.update(
                    {f"validation:{k}": v for k, v in trainer.evaluate("validation").items()}
                )
            monitored = "validation" if "validation" in trainer.data else "train"
            history.append(metrics[f"{monitored}:{loss_name}"])
            stalled = _stalled(
                history, values["early_stopping_patience"], values["early_stopping_tolerance"]
            )
            if (stalled or epoch == epochs) and "test" in trainer.data:
                metrics.update({f"test:{k}": v for k, v in trainer.evaluate("test").items()})
            bad = [name for name, value in metrics.items() if not math.isfinite(value)]
            if bad:
                raise InputError(
                    f"object2vec diverged at epoch {epoch}: {', '.join(bad)} is not finite; "
                    "lower learning_rate or weight_decay"
                )
            ctx.report(epoch, **metrics)
            if wants_epoch_checkpoints(ctx):
                extra = {**trainer.random_state(), "history": history, "stalled": stalled}
                save_training_state(
                    ctx, "object2vec", epoch, **trainer.checkpointed(), extra=extra
                )
            if stalled:
                logger.info(
                    "object2vec: %s:%s improved by no more than %g in %d epochs; stopping",
                    monitored,
                    loss_name,
                    values["early_stopping_tolerance"],
                    values["early_stopping_patience"],
                )
                break

    def load(self, path: Path | str) -> Object2VecModel:
        """The model a trial saved; ``path`` is its output folder or the model file."""
        return load(path)


def spec_of(spec: NetworkSpec, side: int) -> EncoderSpec:
    """Encoder ``side`` (0 or 1) of ``spec``."""
    return spec.enc0 if side == 0 else spec.enc1


def _work_per_record(spec: NetworkSpec) -> float:
    """Rough multiply-adds per record and unit of enc_dim, to size torch's threads."""
    work = 0.0
    for encoder in (spec.enc0, spec.enc1):
        length = encoder.max_seq_len if encoder.kind == TOKENS else 1
        if encoder.network == "pooled_embedding":
            work += encoder.token_embedding_dim
        elif encoder.network == "hcnn":
            work += length * encoder.layers * encoder.filter_width * spec.enc_dim
        else:
            work += length * encoder.layers * 8 * (encoder.token_embedding_dim + spec.enc_dim)
    return work


# -- planted data (tests and benchmarks) ----------------------------------------------------------


def planted_topic_pairs(
    n_pairs: int,
    seed: int = 0,
    *,
    n_topics: int = 8,
    words_per_topic: int = 12,
    n_background: int = 40,
    topic_share: float = 0.4,
) -> list[dict[str, Any]]:
    """Token-sequence pairs labelled 1 when both are about the same planted topic, else 0.

    Topic ``t`` owns token ids ``t * words_per_topic ..``; the ``n_background`` ids after all
    topics' are shared filler. A sequence of 6-12 tokens draws each token from its topic with
    probability ``topic_share``, else from the filler. Half the pairs share a topic.
    """
    rng = np.random.default_rng(seed)
    vocab_topics = n_topics * words_per_topic

    def sequence(topic: int) -> list[int]:
        tokens = []
        for _ in range(int(rng.integers(6, 13))):
            if rng.random() < topic_share:
                tokens.append(topic * words_per_topic + int(rng.integers(words_per_topic)))
            else:
                tokens.append(vocab_topics + int(rng.integers(n_background)))
        return tokens

    records = []
    for _ in range(n_pairs):
        first = int(rng.integers(n_topics))
        same = rng.random() < 0.5
        second = first if same else (first + int(rng.integers(1, n_topics))) % n_topics
        records.append({"label": int(same), "in0": sequence(first), "in1": sequence(second)})
    return records


def planted_vector_pairs(n_pairs: int, seed: int = 0, *, dim: int = 6) -> list[dict[str, Any]]:
    """Vector pairs ``(u, v)`` of standard normal entries, labelled ``u . v`` plus noise
    (standard deviation 0.1): a regression target no linear function of ``[u, v]`` predicts."""
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal((2, n_pairs, dim))
    labels = (u * v).sum(axis=1) + 0.1 * rng.standard_normal(n_pairs)
    return [
        {"label": float(y), "in0": [float(x) for x in a], "in1": [float(x) for x in b]}
        for y, a, b in zip(labels, u, v, strict=True)
    ]


def write_jsonlines(path: Path | str, records: Sequence[Mapping[str, Any]]) -> Path:
    """``records`` as a JSON Lines file (one record a line), the parent folder made."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


ALGORITHM = Object2VecAlgorithm()
