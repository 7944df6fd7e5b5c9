"""The Neural Topic Model as SageMaker's built-in ``ntm`` image offers it, in torch.

**The model** is a variational autoencoder over bag-of-words documents (Miao, Yu and Blunsom,
"Neural variational inference for text processing", ICML 2016, which SageMaker cites; the
topic-mixture decoder of Miao, Grefenstette and Blunsom, "Discovering discrete latent topics
with neural variational inference", ICML 2017). The encoder is a multilayer perceptron over a
document's ``log(1 + count)`` vector: the ``encoder_layers`` hidden layers, each a linear map,
then (with ``batch_norm``) batch normalisation, then ``encoder_layers_activation``; two linear
heads give the mean ``mu`` and the log variance of a Gaussian over ``num_topics`` logits. A
document's topic mixture is ``theta = softmax(z)``, ``z`` drawn from that Gaussian in training
(the reparameterisation trick) and ``z = mu`` for evaluation and prediction. The decoder is a
mixture of topics: word ``w`` has probability ``sum_k theta_k * beta_kw``, each topic
``beta_k = softmax(topic logits_k)`` a distribution over the vocabulary, so the saved topics
read like LDA's. The prior on ``z`` is the standard normal (a logistic-normal prior on the
mixtures).

**Losses** (SageMaker names them but does not define them; these definitions are ours), in
nats per document, the mean over a channel's documents:

* ``rec_loss``: the negative log-likelihood of the document's words under its mixture,
  ``-sum_w count_w * log p(w)``;
* ``kld_loss``: the KL divergence of the document's Gaussian from the standard normal prior
  (closed form);
* ``total_loss = rec_loss + kld_loss``: the negative evidence lower bound, the quantity
  training minimises.

``validation:`` and ``test:`` losses are measured in evaluation mode (batch normalisation with
its running statistics) with ``z = mu`` rather than a random draw, so they are deterministic:
every trial of a tuning job is scored the same way. ``train:`` losses are the means over the
epoch's mini-batches as trained (with random draws), which costs no extra pass.

**Reports.** After every epoch: ``train:total_loss``, ``train:rec_loss`` and
``train:kld_loss``; with a ``validation`` channel ``validation:total_loss`` (AMT's objective
for NTM, minimised), ``validation:rec_loss`` and ``validation:kld_loss``; with a ``test``
channel the ``test:`` losses of the final model, with the last epoch's report. Only
``validation:total_loss`` is declared tunable (AMT documents no other NTM metric); the rest
are informational (:data:`REPORTED_METRICS`).

**Hyperparameters** are SageMaker's ("NTM Hyperparameters" in the developer guide), under its
names, defaults and ranges, plus what the SageMaker Python SDK's ``NTM`` estimator sends
(``feature_dim`` and ``mini_batch_size``, and ``encoder_layers`` as a JSON list such as
``[30, 20]``). Where SageMaker leaves the meaning open:

* ``encoder_layers``: ``auto`` is two layers of ``3 * num_topics`` and ``2 * num_topics``
  units, as documented; a list (``30,20`` or ``[30, 20]``) sets the sizes.
* ``optimizer`` (``adadelta``, ``adam``, ``adagrad``, ``rmsprop``, ``sgd``) follows MXNet 1.x's
  optimizers, which SageMaker's first-party algorithms run on: ``adadelta`` (the default,
  rho 0.9, epsilon 1e-5) takes no learning rate, so ``learning_rate`` moves the other four
  only; ``rmsprop`` decays its average by 0.9; ``sgd`` has no momentum.
* ``rescale_gradient`` multiplies every gradient (of the mini-batch's mean loss), then each
  component is clipped to ``[-clip_gradient, clip_gradient]`` (default infinity: no clipping),
  then ``weight_decay`` adds L2 regularisation (``weight_decay * weight`` added to the
  gradient) of every weight.
* ``sub_sample``: each epoch trains on a fresh random sample of that fraction of the training
  documents (at least one), without replacement. SageMaker's documented range starts at 0.0;
  0 itself, an epoch of no documents, is refused.
* ``tolerance`` and ``num_patience_epochs``: training ends early once the best monitored loss
  of the last ``num_patience_epochs`` epochs is less than ``tolerance`` (relative) below the
  best loss before them. The monitored loss is ``validation:total_loss``, or
  ``train:total_loss`` without a validation channel, as SageMaker documents. The model saved
  is the last epoch's. ``num_patience_epochs`` above ``epochs`` turns this off.
* ``batch_norm`` normalises every encoder hidden layer (before its activation).

**Data.** ``train`` (required), ``validation`` and ``test`` hold one document per row:
``feature_dim`` word counts, as dense CSV (SageMaker's NTM CSV has no label column; a first
label column is tolerated and dropped when a row has ``feature_dim + 1`` values) or
RecordIO-protobuf, dense or sparse; they are read and checked as :mod:`algorithms.lda` reads
its channels (a negative, missing or infinite count, a short row or a word beyond the
vocabulary is an :class:`InputError` naming the channel and the row). The optional
``auxiliary`` channel holds ``vocab.txt`` (a folder holding it, or the file): UTF-8, one word
per line, line ``i`` naming word ``i - 1`` of the count vectors, so exactly ``feature_dim``
lines. It does not change training: the saved model keeps the words, so
:meth:`NTMModel.top_words` names each topic's words (not their indices), and the top words of
every topic go to the log at the end, as SageMaker prints them. SageMaker's word-embedding
topic coherence (WETC) needs pretrained word embeddings and is not computed.

**The model** (``ntm-model.npz``) holds the encoder, the topics and the vocabulary;
:func:`load` gives it back and :meth:`NTMModel.predict` gives the topic mixtures of new
documents (SageMaker's endpoint returns them as ``topic_weights``), in numpy, without torch.
Training runs on ``ctx.device``; the initialisation, the epochs' document order and sample and
the random draws come from one seeded generator (:data:`SEED`), so a run on the CPU repeats
exactly.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.sparse

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
from algorithms.data import Features
from algorithms.lda import counts_of
from algorithms.torch_util import (
    DeviceFeatures,
    Rows,
    check_features,
    configure_threads,
    fit_width,
    restore_training_state,
    save_training_state,
    seeded_generator,
    torch,
    torch_device,
)

logger = logging.getLogger(__name__)

#: The model's file name in the output folder.
MODEL_FILENAME = "ntm-model.npz"
#: The vocabulary file of the auxiliary channel.
VOCABULARY_FILENAME = "vocab.txt"
#: Seed of the initialisation, the epochs' order and sample, and the random draws.
SEED = 0
DATA_SETS = ("train", "validation", "test")
LOSSES = ("total_loss", "rec_loss", "kld_loss")
ACTIVATIONS = ("sigmoid", "tanh", "relu")
OPTIMIZERS = ("adadelta", "adagrad", "adam", "rmsprop", "sgd")
#: Documents x words densified at once, at most, when a channel is evaluated.
EVAL_CELLS = 1 << 22
#: Standard deviation of the topics' initial logits: small enough that every topic starts near
#: the uniform distribution, large enough to break their symmetry. On planted corpora 0.3 let
#: every run find every topic where 1 (and 0.05) merged two topics in some runs.
TOPIC_INIT_SCALE = 0.3
#: Words per topic written to the log at the end of training.
LOGGED_WORDS = 10

METRICS: Mapping[str, Direction] = MappingProxyType({"validation:total_loss": "Minimize"})
#: Reported as well, informational (AMT documents only validation:total_loss for NTM).
REPORTED_METRICS = tuple(
    f"{data_set}:{loss}"
    for data_set in DATA_SETS
    for loss in LOSSES
    if f"{data_set}:{loss}" not in METRICS
)


class EncoderLayersSpec(HyperparameterSpec):
    """``auto`` (parsed as None) or layer sizes: ``30,20``, or the SDK's JSON ``[30, 20]``."""

    def allowed(self) -> str:
        return "'auto' or a comma-separated list of positive integers, such as 30,20"

    def parse(self, name: str, raw: object) -> Any:
        text = str(raw).strip()
        if text.lower() == "auto":
            return None
        parts = [part.strip() for part in text.strip("[]").split(",")]
        if not all(part.isdigit() and int(part) > 0 for part in parts):
            msg = f"hyperparameter {name!r}: got {raw!r}, must be {self.allowed()}"
            raise ValueError(msg)
        return tuple(int(part) for part in parts)


class InfinityOrFloatSpec(HyperparameterSpec):
    """A float that also takes ``Infinity`` (SageMaker's written default for clip_gradient)."""

    def allowed(self) -> str:
        return super().allowed() + ", or Infinity"

    def parse(self, name: str, raw: object) -> Any:
        if str(raw).strip().lower().lstrip("+") in ("inf", "infinity"):
            return math.inf
        try:
            return super().parse(name, raw)
        except ValueError:
            msg = f"hyperparameter {name!r}: got {raw!r}, must be {self.allowed()}"
            raise ValueError(msg) from None


#: SageMaker NTM's hyperparameters ("NTM Hyperparameters" in the developer guide).
HYPERPARAMETERS: Mapping[str, HyperparameterSpec] = MappingProxyType(
    {
        "feature_dim": HyperparameterSpec(
            "int",
            required=True,
            min_value=1,
            max_value=1_000_000,
            description="Vocabulary size (word counts per row).",
        ),
        "num_topics": HyperparameterSpec(
            "int", required=True, min_value=2, max_value=1000, description="Topics to find."
        ),
        "batch_norm": HyperparameterSpec(
            "bool", False, description="Batch normalisation of the encoder's hidden layers."
        ),
        "clip_gradient": InfinityOrFloatSpec(
            "float",
            math.inf,
            min_value=1e-3,
            description="Clip every gradient component to [-clip_gradient, clip_gradient].",
        ),
        "encoder_layers": EncoderLayersSpec(
            "str",
            None,
            description="Hidden layer sizes of the encoder; auto: 3 x and 2 x num_topics.",
        ),
        "encoder_layers_activation": HyperparameterSpec(
            "str", "sigmoid", choices=ACTIVATIONS, description="Activation of the encoder."
        ),
        "epochs": HyperparameterSpec(
            "int", 50, min_value=1, description="Most passes over the training data."
        ),
        "learning_rate": HyperparameterSpec(
            "float",
            0.001,
            min_value=1e-6,
            max_value=1.0,
            description="Learning rate (adadelta takes none).",
        ),
        "mini_batch_size": HyperparameterSpec(
            "int", 256, min_value=1, max_value=10_000, description="Documents per mini-batch."
        ),
        "num_patience_epochs": HyperparameterSpec(
            "int", 3, min_value=1, description="Epochs over which early stopping is judged."
        ),
        "optimizer": HyperparameterSpec(
            "str", "adadelta", choices=OPTIMIZERS, description="Optimizer (as in MXNet 1.x)."
        ),
        "rescale_gradient": HyperparameterSpec(
            "float", 1.0, min_value=1e-3, max_value=1.0, description="Gradient multiplier."
        ),
        "sub_sample": HyperparameterSpec(
            "float",
            1.0,
            min_value=0.0,
            max_value=1.0,
            min_open=True,
            description="Fraction of the training documents sampled for each epoch.",
        ),
        "tolerance": HyperparameterSpec(
            "float",
            0.001,
            min_value=1e-6,
            max_value=0.1,
            description="Least relative improvement over num_patience_epochs to go on.",
        ),
        "weight_decay": HyperparameterSpec(
            "float", 0.0, min_value=0.0, max_value=1.0, description="L2 regularisation."
        ),
    }
)


#: AMT's recommended ranges (its ntm-tuning page; AMT.md 17.2), what Autotune tunes over.
TUNING_RANGES: Mapping[str, TuningRange] = MappingProxyType(
    {
        "encoder_layers_activation": categorical("sigmoid", "tanh", "relu"),
        "learning_rate": continuous(1e-4, 0.1, "Logarithmic"),
        "mini_batch_size": integer(16, 2048),
        "optimizer": categorical("sgd", "adam", "adadelta"),
        "rescale_gradient": continuous(0.1, 1.0),
        "weight_decay": continuous(0, 1),
    }
)


# -- model ---------------------------------------------------------------------------------------


def _activation(name: str, x: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)))
    if name == "tanh":
        return np.tanh(x)
    return np.maximum(x, 0.0)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


@dataclass(frozen=True)
class NTMModel:
    """A trained neural topic model: the encoder (numpy arrays), the topics, the vocabulary.

    ``layers`` holds each hidden layer's ``(weight [in, out], bias [out])``; ``norms`` each
    one's batch normalisation ``(running mean, running variance, scale, shift)``, or is empty.
    """

    activation: str
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    norms: tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], ...]
    mu: tuple[np.ndarray, np.ndarray]
    log_variance: tuple[np.ndarray, np.ndarray]
    topics: np.ndarray  # (num_topics, feature_dim), rows summing to one
    vocabulary: tuple[str, ...] | None = None
    norm_eps: float = 1e-5

    @property
    def feature_dim(self) -> int:
        return int(self.topics.shape[1])

    @property
    def num_topics(self) -> int:
        return int(self.topics.shape[0])

    def _counts(self, X: Features) -> Features:
        """``X`` checked as word counts: ``feature_dim`` wide, finite, none negative."""
        if scipy.sparse.issparse(X):
            X = scipy.sparse.csr_matrix(X)
        else:
            X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        X = fit_width("input", X, self.feature_dim, what=f"feature_dim is {self.feature_dim}")
        check_features("input", X, "ntm")
        values = np.asarray(X.data if scipy.sparse.issparse(X) else X)
        if (values < 0).any():
            msg = "input: word counts must be >= 0, and one is negative"
            raise InputError(msg)
        return X

    def _encode(self, X: Features) -> tuple[np.ndarray, np.ndarray]:
        """``(mu, log variance)`` of every row; rows are documents' counts, checked already."""
        if scipy.sparse.issparse(X):
            hidden: Any = scipy.sparse.csr_matrix(X, dtype=np.float64, copy=True)
            hidden.data = np.log1p(hidden.data)  # log1p(0) = 0: it stays sparse
        else:
            hidden = np.log1p(np.asarray(X, dtype=np.float64))
        for i, (weight, bias) in enumerate(self.layers):
            hidden = np.asarray(hidden @ weight) + bias
            if self.norms:
                mean, variance, scale, shift = self.norms[i]
                hidden = (hidden - mean) / np.sqrt(variance + self.norm_eps) * scale + shift
            hidden = _activation(self.activation, hidden)
        mu = np.asarray(hidden @ self.mu[0]) + self.mu[1]
        log_variance = np.asarray(hidden @ self.log_variance[0]) + self.log_variance[1]
        return mu, log_variance

    def transform(self, X: Features) -> np.ndarray:
        """Each row's topic mixture, ``(rows, num_topics)``, rows summing to one."""
        return _softmax(self._encode(self._counts(X))[0])

    def predict(self, X: Features) -> np.ndarray:
        """Same as :meth:`transform` (SageMaker's NTM endpoint returns ``topic_weights``)."""
        return self.transform(X)

    def losses(self, X: Features) -> dict[str, float]:
        """``total_loss``, ``rec_loss`` and ``kld_loss`` of documents ``X`` (nats/document)."""
        counts = self._counts(X)
        mu, log_variance = self._encode(counts)
        probabilities = _softmax(mu) @ self.topics
        log_p = np.log(np.maximum(probabilities, 1e-30))
        if scipy.sparse.issparse(counts):
            rec = -np.asarray(scipy.sparse.csr_matrix(counts).multiply(log_p).sum(axis=1))
        else:
            rec = -(np.asarray(counts, dtype=np.float64) * log_p).sum(axis=1)
        kld = 0.5 * (mu * mu + np.exp(log_variance) - 1.0 - log_variance).sum(axis=1)
        rec_loss, kld_loss = float(np.mean(rec)), float(np.mean(kld))
        return {"total_loss": rec_loss + kld_loss, "rec_loss": rec_loss, "kld_loss": kld_loss}

    def top_words(self, n: int = LOGGED_WORDS) -> list[list[str]]:
        """Each topic's ``n`` most probable words: the vocabulary's words, else their indices."""
        order = np.argsort(-self.topics, axis=1, kind="stable")[:, :n]
        if self.vocabulary is None:
            return [[str(int(word)) for word in row] for row in order]
        return [[self.vocabulary[int(word)] for word in row] for row in order]


def load(path: Path | str) -> NTMModel:
    """The model that ``train`` saved in ``path`` (an output folder or the model file)."""
    path = Path(path)
    file = path / MODEL_FILENAME if path.is_dir() else path
    if not file.is_file():
        msg = f"no NTM model at {file}"
        raise FileNotFoundError(msg)
    with np.load(file, allow_pickle=False) as saved:
        meta = json.loads(str(saved["meta"]))
        n_layers = int(meta["layers"])
        layers = tuple((saved[f"weight_{i}"], saved[f"bias_{i}"]) for i in range(n_layers))
        norms = tuple(
            (
                saved[f"norm_mean_{i}"],
                saved[f"norm_variance_{i}"],
                saved[f"norm_scale_{i}"],
                saved[f"norm_shift_{i}"],
            )
            for i in range(n_layers if meta["batch_norm"] else 0)
        )
        vocabulary = tuple(str(w) for w in saved["vocabulary"]) if meta["vocabulary"] else None
        return NTMModel(
            activation=meta["activation"],
            layers=layers,
            norms=norms,
            mu=(saved["mu_weight"], saved["mu_bias"]),
            log_variance=(saved["log_variance_weight"], saved["log_variance_bias"]),
            topics=saved["topics"],
            vocabulary=vocabulary,
            norm_eps=float(meta["norm_eps"]),
        )


def _save(model: NTMModel, output_dir: Path) -> None:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {
        "mu_weight": model.mu[0],
        "mu_bias": model.mu[1],
        "log_variance_weight": model.log_variance[0],
        "log_variance_bias": model.log_variance[1],
        "topics": model.topics,
        "vocabulary": np.array(model.vocabulary or (), dtype=str),
    }
    for i, (weight, bias) in enumerate(model.layers):
        arrays[f"weight_{i}"], arrays[f"bias_{i}"] = weight, bias
    for i, norm in enumerate(model.norms):
        for part, value in zip(("mean", "variance", "scale", "shift"), norm, strict=True):
            arrays[f"norm_{part}_{i}"] = value
    meta = {
        "activation": model.activation,
        "layers": len(model.layers),
        "batch_norm": bool(model.norms),
        "vocabulary": model.vocabulary is not None,
        "norm_eps": model.norm_eps,
        "feature_dim": model.feature_dim,
        "num_topics": model.num_topics,
    }
    with (output_dir / MODEL_FILENAME).open("wb") as handle:
        np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]


# -- data ----------------------------------------------------------------------------------------


def read_vocabulary(channel: Path, feature_dim: int) -> tuple[str, ...]:
    """The words of the auxiliary channel's ``vocab.txt`` (the file, or a folder holding it).

    Raises:
        InputError: no ``vocab.txt``, a line that is not UTF-8 or holds no word, or not
            exactly ``feature_dim`` words; named with the channel and the line.
    """
    channel = Path(channel)
    file = channel / VOCABULARY_FILENAME if channel.is_dir() else channel
    if not file.is_file():
        msg = (
            f"auxiliary channel: no {VOCABULARY_FILENAME} in {channel}; it holds the "
            "vocabulary, one word per line"
        )
        raise InputError(msg)
    lines = file.read_bytes().removeprefix(b"\xef\xbb\xbf").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()  # blank lines at the end are no words
    words = []
    for number, line in enumerate(lines, start=1):
        try:
            word = line.decode("utf-8").strip()
        except UnicodeDecodeError:
            msg = f"auxiliary channel: {file.name} line {number} is not UTF-8"
            raise InputError(msg) from None
        if not word:
            msg = f"auxiliary channel: {file.name} line {number} is empty; one word per line"
            raise InputError(msg)
        words.append(word)
    if len(words) != feature_dim:
        msg = (
            f"auxiliary channel: {file.name} holds {len(words)} words but feature_dim is "
            f"{feature_dim}; line i names word i - 1 of the count vectors"
        )
        raise InputError(msg)
    return tuple(words)


def _check_objective(values: Mapping[str, Any], channels: Mapping[str, Path]) -> None:
    objective = values.get("_tuning_objective_metric")
    if objective is None:
        return
    where = "hyperparameter '_tuning_objective_metric'"
    if objective not in METRICS:
        msg = f"{where}: {objective!r} is not a metric of ntm; known: {', '.join(METRICS)}"
        raise HyperparameterError([msg])
    channel = str(objective).partition(":")[0]
    if channel not in channels:
        raise HyperparameterError([f"{where}: {objective} needs a {channel!r} channel"])


def _load_data(
    values: Mapping[str, Any], channels: Mapping[str, Path]
) -> dict[str, scipy.sparse.csr_matrix]:
    if "train" not in channels:
        got = ", ".join(repr(name) for name in channels) or "none"
        msg = f"ntm needs a 'train' channel (got {got})"
        raise InputError(msg)
    unknown = sorted(set(channels) - {*DATA_SETS, "auxiliary"})
    if unknown:
        logger.info("ntm reads train, validation, test and auxiliary; ignoring %s", unknown)
    data = {
        name: counts_of(channels[name], values["feature_dim"], name)
        for name in DATA_SETS
        if name in channels
    }
    for name, counts in data.items():
        if counts.shape[0] == 0:
            raise InputError(f"{name} channel: it holds no documents")
    return data


# -- training ------------------------------------------------------------------------------------


class _Network(torch.nn.Module):
    """Encoder (MLP to the Gaussian's mean and log variance) and the topics' logits."""

    def __init__(
        self, feature_dim: int, num_topics: int, hidden: Sequence[int], values: Mapping[str, Any]
    ) -> None:
        super().__init__()
        sizes = [feature_dim, *hidden]
        self.activation = values["encoder_layers_activation"]
        self.hidden = torch.nn.ModuleList(
            torch.nn.Linear(a, b) for a, b in zip(sizes, sizes[1:], strict=False)
        )
        self.norms = torch.nn.ModuleList(
            torch.nn.BatchNorm1d(size) for size in (hidden if values["batch_norm"] else ())
        )
        self.mu = torch.nn.Linear(sizes[-1], num_topics)
        self.log_variance = torch.nn.Linear(sizes[-1], num_topics)
        self.topic_logits = torch.nn.Parameter(
            torch.randn(num_topics, feature_dim) * TOPIC_INIT_SCALE
        )

    def linear_layers(self) -> list[torch.nn.Linear]:
        """The encoder's hidden layers, typed (a ModuleList yields plain Modules)."""
        return [layer for layer in self.hidden if isinstance(layer, torch.nn.Linear)]

    def batch_norms(self) -> list[torch.nn.BatchNorm1d]:
        """The hidden layers' batch normalisations (empty without ``batch_norm``)."""
        return [norm for norm in self.norms if isinstance(norm, torch.nn.BatchNorm1d)]

    def encode(self, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = torch.log1p(counts)
        for i, layer in enumerate(self.hidden):
            hidden = layer(hidden)
            if len(self.norms):
                hidden = self.norms[i](hidden)
            if self.activation == "sigmoid":
                hidden = torch.sigmoid(hidden)
            elif self.activation == "tanh":
                hidden = torch.tanh(hidden)
            else:
                hidden = torch.relu(hidden)
        return self.mu(hidden), self.log_variance(hidden)

    def losses(
        self, counts: torch.Tensor, noise: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-document ``(rec_loss, kld_loss)``; ``noise`` draws z, None takes z = mu."""
        mu, log_variance = self.encode(counts)
        z = mu if noise is None else mu + noise * torch.exp(0.5 * log_variance)
        topics = torch.softmax(self.topic_logits, dim=1)
        log_p = torch.log((torch.softmax(z, dim=1) @ topics).clamp_min(1e-30))
        rec = -(counts * log_p).sum(dim=1)
        kld = 0.5 * (mu * mu + torch.exp(log_variance) - 1.0 - log_variance).sum(dim=1)
        return rec, kld


def _dense(rows: Rows, width: int, device: torch.device) -> torch.Tensor:
    """A mini-batch's counts as a dense ``[rows, width]`` tensor."""
    if rows.dense is not None:
        return rows.dense
    indices, offsets, values = rows.indices, rows.offsets, rows.values
    assert indices is not None and offsets is not None and values is not None
    ends = torch.cat([offsets[1:], torch.tensor([len(indices)], device=device)])
    row_ids = torch.repeat_interleave(
        torch.arange(rows.n_rows, device=device), ends - offsets, output_size=len(indices)
    )
    out = torch.zeros(rows.n_rows, width, device=device)
    return out.index_put_((row_ids, indices), values, accumulate=True)


def _optimizer(parameters: Any, values: Mapping[str, Any]) -> torch.optim.Optimizer:
    """MXNet 1.x's optimizers in torch (adadelta ignores the learning rate, as MXNet's does)."""
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


class _Trainer:
    """One training run: the network, its optimizer, the channels on the device."""

    def __init__(
        self,
        values: Mapping[str, Any],
        data: Mapping[str, scipy.sparse.csr_matrix],
        device: torch.device,
        vocabulary: tuple[str, ...] | None,
    ) -> None:
        self.values, self.device, self.vocabulary = values, device, vocabulary
        self.width = values["feature_dim"]
        k = values["num_topics"]
        hidden = values["encoder_layers"] or (3 * k, 2 * k)
        self.generator = seeded_generator(SEED)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            self.network = _Network(self.width, k, hidden, values).to(device)
        self.optimizer = _optimizer(self.network.parameters(), values)
        self.features = {name: _on_device(X, device) for name, X in data.items()}
        self.n_train = data["train"].shape[0]
        self.per_epoch = max(1, math.ceil(values["sub_sample"] * self.n_train))
        _check_batch_norm(values, self.per_epoch)

    def checkpointed(self) -> dict[str, Any]:
        """What a checkpoint holds, as :func:`~algorithms.torch_util.save_training_state`
        takes it."""
        return {
            "modules": {"network": self.network},
            "optimizers": [self.optimizer],
            "generator": self.generator,
        }

    def _batches(self) -> list[torch.Tensor]:
        order = torch.randperm(self.n_train, generator=self.generator)[: self.per_epoch]
        batches = list(torch.split(order.to(self.device), self.values["mini_batch_size"]))
        if self.values["batch_norm"] and len(batches) > 1 and len(batches[-1]) == 1:
            batches[-2:] = [torch.cat(batches[-2:])]  # batch norm cannot train on one row
        return batches

    def train_epoch(self) -> dict[str, float]:
        """One epoch on a sample of the training documents; the mean losses as trained."""
        self.network.train()
        rescale, clip = self.values["rescale_gradient"], self.values["clip_gradient"]
        features, k = self.features["train"], self.values["num_topics"]
        totals = torch.zeros(2, dtype=torch.float64, device=self.device)
        for index in self._batches():
            counts = _dense(features.rows(index), self.width, self.device)
            noise = torch.randn(len(index), k, generator=self.generator).to(self.device)
            rec, kld = self.network.losses(counts, noise)
            loss = (rec + kld).mean()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                for parameter in self.network.parameters():
                    if parameter.grad is None:
                        continue
                    if rescale != 1.0:
                        parameter.grad.mul_(rescale)
                    if math.isfinite(clip):
                        parameter.grad.clamp_(-clip, clip)
            self.optimizer.step()
            totals += torch.stack([rec.detach().sum(), kld.detach().sum()]).double()
        rec_loss, kld_loss = (totals / self.per_epoch).tolist()
        return {"total_loss": rec_loss + kld_loss, "rec_loss": rec_loss, "kld_loss": kld_loss}

    @torch.no_grad()
    def evaluate(self, name: str) -> dict[str, float]:
        """The mean losses of channel ``name``'s documents, in evaluation mode with z = mu."""
        self.network.eval()
        features = self.features[name]
        totals = torch.zeros(2, dtype=torch.float64, device=self.device)
        for rows in features.batches(max(1, EVAL_CELLS // self.width)):
            rec, kld = self.network.losses(_dense(rows, self.width, self.device), None)
            totals += torch.stack([rec.sum(), kld.sum()]).double()
        rec_loss, kld_loss = (totals / features.n_rows).tolist()
        return {"total_loss": rec_loss + kld_loss, "rec_loss": rec_loss, "kld_loss": kld_loss}

    def model(self) -> NTMModel:
        """The network as numpy arrays (float64), so the saved model predicts without torch."""
        net = self.network
        layers = tuple(
            (_numpy(layer.weight.T), _numpy(layer.bias)) for layer in net.linear_layers()
        )
        norms = tuple(
            (
                _numpy(_buffer(norm, "running_mean")),
                _numpy(_buffer(norm, "running_var")),
                _numpy(norm.weight),
                _numpy(norm.bias),
            )
            for norm in net.batch_norms()
        )
        return NTMModel(
            activation=net.activation,
            layers=layers,
            norms=norms,
            mu=(_numpy(net.mu.weight.T), _numpy(net.mu.bias)),
            log_variance=(_numpy(net.log_variance.weight.T), _numpy(net.log_variance.bias)),
            topics=_numpy(torch.softmax(net.topic_logits.detach().double(), dim=1)),
            vocabulary=self.vocabulary,
            norm_eps=float(net.batch_norms()[0].eps) if net.batch_norms() else 1e-5,
        )


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    """A parameter or buffer as a float64 numpy array on the host."""
    return np.asarray(tensor.detach().cpu().double().numpy())


def _buffer(module: torch.nn.Module, name: str) -> torch.Tensor:
    """A registered buffer (batch norm's running statistics), typed as a tensor."""
    value = module.get_buffer(name)
    assert isinstance(value, torch.Tensor)
    return value


def _check_batch_norm(values: Mapping[str, Any], per_epoch: int) -> None:
    """Batch normalisation cannot train on a mini-batch of one document: refuse that upfront.

    A short last mini-batch of one is merged into the one before it (:meth:`_Trainer._batches`),
    so only ``mini_batch_size`` 1 or an epoch of one document are refused.
    """
    if not values["batch_norm"]:
        return
    if values["mini_batch_size"] < 2:
        msg = (
            "hyperparameter 'batch_norm': batch normalisation needs mini-batches of at least 2 "
            "documents; set mini_batch_size >= 2 or batch_norm to false"
        )
        raise HyperparameterError([msg])
    if per_epoch < 2:
        msg = (
            "hyperparameter 'batch_norm': batch normalisation needs at least 2 training "
            f"documents per epoch, got {per_epoch} (sub_sample x documents)"
        )
        raise HyperparameterError([msg])


def _on_device(X: scipy.sparse.csr_matrix, device: torch.device) -> DeviceFeatures:
    """A channel's counts on the device: dense when at least 1/8 of them are stored."""
    dense = X.nnz * 8 >= X.shape[0] * X.shape[1]
    return DeviceFeatures(X.toarray() if dense else X, device)


def _stalled(history: Sequence[float], patience: int, tolerance: float) -> bool:
    """Whether the last ``patience`` losses improved less than ``tolerance`` (relative) on the
    best loss before them."""
    if len(history) <= patience:
        return False
    before = min(history[:-patience])
    recent = min(history[-patience:])
    return before - recent < tolerance * abs(before)


class NTMAlgorithm:
    """SageMaker's built-in Neural Topic Model (the ``ntm`` image)."""

    name = "ntm"
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
            HyperparameterError: a hyperparameter is unknown, missing or invalid,
                ``feature_dim`` does not match the data, or the objective needs a missing
                ``validation`` channel.
            InputError: the ``train`` channel is missing, a channel has a bad row, the
                auxiliary vocabulary is malformed, or training diverged (a loss is no longer
                finite: lower ``learning_rate`` or set ``clip_gradient``).
        """
        values = parse_hyperparameters(self.hyperparameters, hyperparameters)
        _check_objective(values, channels)
        data = _load_data(values, channels)
        vocabulary = (
            read_vocabulary(channels["auxiliary"], values["feature_dim"])
            if "auxiliary" in channels
            else None
        )
        device = torch_device(ctx.device)
        k = values["num_topics"]
        hidden = values["encoder_layers"] or (3 * k, 2 * k)
        per_row = (data["train"].nnz / max(data["train"].shape[0], 1)) * hidden[0]
        configure_threads(values["mini_batch_size"] * (per_row + k * values["feature_dim"]) * 6)
        trainer = _Trainer(values, data, device, vocabulary)
        try:
            self._epochs(trainer, values, data, ctx)
        except StopTraining:
            _save(trainer.model(), ctx.output_dir)
            raise
        model = trainer.model()
        _save(model, ctx.output_dir)
        for topic, words in enumerate(model.top_words()):
            logger.info("ntm topic %d: %s", topic, " ".join(words))

    def _epochs(
        self,
        trainer: _Trainer,
        values: Mapping[str, Any],
        data: Mapping[str, Any],
        ctx: TrainingContext,
    ) -> None:
        monitored = "validation" if "validation" in data else "train"
        history: list[float] = []
        epochs = values["epochs"]
        start = 1
        resumed = restore_training_state(ctx, "ntm", **trainer.checkpointed())
        if resumed is not None:
            start, history = resumed[0] + 1, list(resumed[1]["history"])
            if resumed[1]["stalled"]:
                return  # early stopping had ended it: the checkpoint is the final model
        for epoch in range(start, epochs + 1):
            if ctx.should_stop():
                break
            found = {"train": trainer.train_epoch()}
            if "validation" in data:
                found["validation"] = trainer.evaluate("validation")
            history.append(found[monitored]["total_loss"])
            stalled = _stalled(history, values["num_patience_epochs"], values["tolerance"])
            if (stalled or epoch == epochs) and "test" in data:
                found["test"] = trainer.evaluate("test")
            metrics = {
                f"{name}:{loss}": value
                for name, losses in found.items()
                for loss, value in losses.items()
            }
            bad = [name for name, value in metrics.items() if not math.isfinite(value)]
            if bad:
                msg = (
                    f"ntm diverged at epoch {epoch}: {', '.join(bad)} is not finite; lower "
                    "learning_rate, or set clip_gradient"
                )
                raise InputError(msg)
            ctx.report(epoch, **metrics)
            extra = {"history": history, "stalled": stalled}
            save_training_state(ctx, "ntm", epoch, **trainer.checkpointed(), extra=extra)
            if stalled:
                logger.info(
                    "ntm: %s:total_loss improved less than tolerance %g in %d epochs; stopping",
                    monitored,
                    values["tolerance"],
                    values["num_patience_epochs"],
                )
                break

    def load(self, path: Path | str) -> NTMModel:
        """The model a trial saved; ``path`` is its output folder or the model file."""
        return load(path)


ALGORITHM = NTMAlgorithm()
