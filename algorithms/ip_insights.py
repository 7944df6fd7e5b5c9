"""IP Insights as SageMaker's built-in ``ipinsights`` image offers it, in torch.

IP Insights learns which IPv4 addresses an entity (a user id, an account number) usually
comes from, so that an unusual pair (a login from an address the account never uses) scores
low. SageMaker describes it as a discriminator trained to tell true (entity, IP) pairs from
generated negatives; this is that model.

**The model.** An entity is hashed into one of ``num_entity_vectors`` rows of an embedding
table (BLAKE2b of its UTF-8 id, the first 8 bytes little-endian, modulo
``num_entity_vectors``): no vocabulary is kept, entities never seen in training hash the same
way, and hash collisions share a row, as SageMaker documents. An IPv4 address is encoded by
the *IP encoder*: the sum of its four octets' embeddings (one 256-row table per position)
plus a linear map of its 32 bits as +-1 (so addresses that share a prefix share terms, and an
octet value unseen in training still gets a meaningful vector), then
``num_ip_encoder_layers`` fully connected ``vector_dim x vector_dim`` layers, ReLU between
them, the last one linear (0 layers: the embedding itself). A pair's score is the dot product
of the entity's vector and the IP's vector: higher is more usual; ``sigmoid(score)`` is the
discriminator's probability that the pair is true. Entity rows start at zero, so an entity
whose row was never trained scores 0 (probability 0.5, "no evidence") with every address.

**Training** minimises binary cross-entropy (the mean over a mini-batch's true and negative
pairs) with Adam, the optimizer SageMaker names. For each mini-batch of ``mini_batch_size``
true pairs it draws, as SageMaker describes:

* ``random_negative_sampling_rate`` *random negatives* per true pair: the pair's entity with
  an address drawn uniformly from all 2**32;
* ``shuffled_negative_sampling_rate`` *shuffled negatives* per true pair: the pair's entity
  with the address of another pair of the same mini-batch (a random permutation of the
  mini-batch, shifted by one so no pair is matched with itself).

Either rate may be 0, not both: with no negatives there is nothing to discriminate against,
and the request is refused naming both. ``weight_decay`` is L2 regularisation added to the
gradient (as MXNet's ``wd``, which SageMaker's first-party algorithms run on); for the entity
table it is applied lazily, to the rows a mini-batch touches, so that a step costs the same
whatever ``num_entity_vectors`` is (the entity table trains with sparse gradients and
SparseAdam; the encoder with Adam). ``batch_metrics_publish_interval`` sets how often (in
mini-batches) the training loss and speed go to the log, as SageMaker's Speedometer prints
them.

**Metrics.** ``validation:discriminator_auc`` (AMT's objective for IP Insights, maximised;
reported after every epoch, so AMT's early stopping can act on it) is the area under the ROC
curve of the true validation pairs against negatives generated the same way: one random and
one shuffled negative per validation pair, drawn once from a fixed seed
(:data:`VALIDATION_SEED`) whatever the trial's hyperparameters, so every trial of a tuning
job is scored on the same pairs. ``validation:binary_classification_cross_entropy`` (on those
pairs) and ``train:binary_classification_cross_entropy`` (the mean over the epoch's
mini-batches as trained, negatives included) are informational
(:data:`REPORTED_METRICS`).

**Data.** ``train`` (required) and ``validation`` (optional) are CSV without a header, one
pair a row: the entity id (any non-empty string; CSV quoting allowed) and an IPv4 address in
dotted-quad form (``192.168.0.1``); a file, or a folder of files (gzip allowed). A row without
exactly those two columns, an empty entity or a malformed address is an :class:`InputError`
naming the channel, the file and the line.

**The model** (``ip-insights-model.npz``) holds the entity table and the encoder;
:func:`load` gives it back and :meth:`IPInsightsModel.predict` scores ``(entity, IP)`` rows in
numpy, without torch (SageMaker's endpoint returns the same dot products). Training runs on
``ctx.device``; the initialisation, the epochs' order and the negatives come from one seeded
generator (:data:`SEED`), so a run on the CPU repeats exactly.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import logging
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

import numpy as np

from algorithms.base import (
    Direction,
    HyperparameterError,
    HyperparameterSpec,
    InputError,
    StopTraining,
    TrainingContext,
    TuningRange,
    continuous,
    integer,
    parse_hyperparameters,
)
from algorithms.torch_util import (
    EVAL_BATCH_ROWS,
    configure_threads,
    restore_training_state,
    roc_auc,
    save_training_state,
    seeded_generator,
    torch,
    torch_device,
)

logger = logging.getLogger(__name__)

#: The model's file name in the output folder.
MODEL_FILENAME = "ip-insights-model.npz"
#: Seed of the initialisation, the epochs' order and the training negatives.
SEED = 0
#: Seed of the validation negatives: the same for every trial, whatever its hyperparameters.
VALIDATION_SEED = 12345
DATA_SETS = ("train", "validation")
#: Bits of an IPv4 address, most significant first.
IP_BITS = 32
#: Octets of an IPv4 address and the values each takes.
OCTETS, OCTET_VALUES = 4, 256
_GZIP_MAGIC = b"\x1f\x8b"

METRICS: Mapping[str, Direction] = MappingProxyType({"validation:discriminator_auc": "Maximize"})
#: Reported as well, informational (AMT documents only validation:discriminator_auc).
REPORTED_METRICS = (
    "train:binary_classification_cross_entropy",
    "validation:binary_classification_cross_entropy",
)

#: SageMaker IP Insights' hyperparameters ("IP Insights Hyperparameters" in the developer
#: guide), with the SageMaker Python SDK's ``mini_batch_size`` range ([1, 500000]).
HYPERPARAMETERS: Mapping[str, HyperparameterSpec] = MappingProxyType(
    {
        "num_entity_vectors": HyperparameterSpec(
            "int",
            required=True,
            min_value=1,
            max_value=250_000_000,
            description="Rows of the entity table; entities are hashed into them.",
        ),
        "vector_dim": HyperparameterSpec(
            "int",
            required=True,
            min_value=4,
            max_value=4096,
            description="Size of the entity and IP vectors.",
        ),
        "batch_metrics_publish_interval": HyperparameterSpec(
            "int", 1000, min_value=1, description="Mini-batches between speed/loss log lines."
        ),
        "epochs": HyperparameterSpec(
            "int", 10, min_value=1, description="Passes over the training data."
        ),
        "learning_rate": HyperparameterSpec(
            "float", 0.001, min_value=1e-6, max_value=10.0, description="Adam's learning rate."
        ),
        "mini_batch_size": HyperparameterSpec(
            "int",
            10_000,
            min_value=1,
            max_value=500_000,
            description="True pairs per mini-batch (negatives are drawn for each).",
        ),
        "num_ip_encoder_layers": HyperparameterSpec(
            "int",
            1,
            min_value=0,
            max_value=100,
            description="Fully connected layers of the IP encoder.",
        ),
        "random_negative_sampling_rate": HyperparameterSpec(
            "int",
            1,
            min_value=0,
            max_value=500,
            description="Random-address negatives per true pair.",
        ),
        "shuffled_negative_sampling_rate": HyperparameterSpec(
            "int",
            1,
            min_value=0,
            max_value=500,
            description="Negatives per true pair pairing its entity with another pair's IP.",
        ),
        "weight_decay": HyperparameterSpec(
            "float", 0.00001, min_value=0.0, max_value=10.0, description="L2 regularisation."
        ),
    }
)

#: AMT's recommended ranges (its ip-insights-tuning page; AMT.md 17.2), what Autotune tunes over.
TUNING_RANGES: Mapping[str, TuningRange] = MappingProxyType(
    {
        "epochs": integer(1, 100),
        "learning_rate": continuous(1e-4, 0.1, "Logarithmic"),
        "mini_batch_size": integer(100, 50_000),
        "num_entity_vectors": integer(10_000, 1_000_000),
        "num_ip_encoder_layers": integer(1, 10),
        "random_negative_sampling_rate": integer(0, 10),
        "shuffled_negative_sampling_rate": integer(0, 10),
        "vector_dim": integer(8, 256),
        "weight_decay": continuous(0, 1),
    }
)


# -- entities and addresses ----------------------------------------------------------------------


def entity_rows(entities: Iterable[str], num_entity_vectors: int) -> np.ndarray:
    """The entity-table row of each entity id: BLAKE2b (8 bytes, little-endian) modulo the rows.

    A stable hash (Python's ``hash`` of a string changes from process to process), computed
    once per distinct id.
    """
    ids = np.asarray(list(entities), dtype=object)
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64)
    unique, inverse = np.unique(ids.astype(str), return_inverse=True)
    rows = np.fromiter(
        (
            int.from_bytes(
                hashlib.blake2b(str(e).encode("utf-8"), digest_size=8).digest(), "little"
            )
            % num_entity_vectors
            for e in unique
        ),
        dtype=np.int64,
        count=len(unique),
    )
    return rows[inverse.reshape(-1)]


def parse_ipv4(text: str) -> int | None:
    """``text`` (dotted quad, such as ``192.168.0.1``) as a 32-bit integer; None if malformed."""
    parts = text.strip().split(".")
    if len(parts) != OCTETS:
        return None
    value = 0
    for part in parts:
        if not (part.isascii() and part.isdigit()) or len(part) > 3 or int(part) > 255:
            return None
        value = value * OCTET_VALUES + int(part)
    return value


def _ip_problem(text: str) -> str:
    return f"{text!r} is not an IPv4 address (a dotted quad such as 192.168.0.1)"


def format_ipv4(value: int) -> str:
    """A 32-bit integer as a dotted quad."""
    return ".".join(str((int(value) >> shift) & 255) for shift in (24, 16, 8, 0))


def _octet_indices(ips: np.ndarray) -> np.ndarray:
    """Rows of the octet table ``[n, 4]``: position * 256 + octet value."""
    shifts = np.array([24, 16, 8, 0], dtype=np.int64)
    return ((ips[:, None] >> shifts) & 255) + np.arange(OCTETS) * OCTET_VALUES


def _bits(ips: np.ndarray) -> np.ndarray:
    """The 32 bits of each address as +-1, most significant first, ``[n, 32]``."""
    shifts = np.arange(IP_BITS - 1, -1, -1, dtype=np.int64)
    return (((ips[:, None] >> shifts) & 1) * 2 - 1).astype(np.float64)


# -- model ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IPInsightsModel:
    """A trained IP Insights model: the entity table and the IP encoder, as numpy arrays.

    ``layers`` holds each fully connected layer's ``(weight [in, out], bias [out])``.
    """

    entity_vectors: np.ndarray  # (num_entity_vectors, vector_dim)
    octet_vectors: np.ndarray  # (4 * 256, vector_dim): row position * 256 + octet
    bit_weight: np.ndarray  # (32, vector_dim)
    bit_bias: np.ndarray  # (vector_dim,)
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]

    @property
    def num_entity_vectors(self) -> int:
        return int(self.entity_vectors.shape[0])

    @property
    def vector_dim(self) -> int:
        return int(self.entity_vectors.shape[1])

    def entity_embeddings(self, entities: Iterable[str]) -> np.ndarray:
        """Each entity's vector ``[n, vector_dim]`` (unseen entities hash like seen ones)."""
        return np.asarray(
            self.entity_vectors[entity_rows(entities, self.num_entity_vectors)], dtype=np.float64
        )

    def ip_embeddings(self, ips: Iterable[str | int]) -> np.ndarray:
        """Each address's vector ``[n, vector_dim]``; dotted quads or 32-bit integers."""
        values = _addresses(ips)
        hidden = self.octet_vectors[_octet_indices(values)].sum(axis=1, dtype=np.float64)
        hidden = hidden + _bits(values) @ self.bit_weight + self.bit_bias
        for i, (weight, bias) in enumerate(self.layers):
            hidden = hidden @ weight + bias
            if i < len(self.layers) - 1:
                hidden = np.maximum(hidden, 0.0)
        return np.asarray(hidden)

    def score(self, entities: Sequence[str], ips: Sequence[str | int]) -> np.ndarray:
        """The dot product of each (entity, IP) pair's vectors: higher is more usual."""
        if len(entities) != len(ips):
            msg = f"input: {len(entities)} entities but {len(ips)} addresses"
            raise InputError(msg)
        return np.einsum("ij,ij->i", self.entity_embeddings(entities), self.ip_embeddings(ips))

    def predict(self, pairs: Any) -> np.ndarray:
        """Scores of ``(entity, IP)`` rows, as SageMaker's endpoint gives for its CSV input."""
        rows = [tuple(row) for row in pairs]
        bad = next((i for i, row in enumerate(rows) if len(row) != 2), None)
        if bad is not None:
            msg = f"input: row {bad + 1} has {len(rows[bad])} columns; expected entity, IP"
            raise InputError(msg)
        return self.score([str(r[0]) for r in rows], [r[1] for r in rows])

    def probability(self, entities: Sequence[str], ips: Sequence[str | int]) -> np.ndarray:
        """The discriminator's probability that each pair is a true one: sigmoid(score)."""
        return np.asarray(0.5 * (1.0 + np.tanh(0.5 * self.score(entities, ips))))


def _addresses(ips: Iterable[str | int]) -> np.ndarray:
    """Dotted quads (or 32-bit integers) as int64; InputError naming the first bad one."""
    values = []
    for i, ip in enumerate(ips, start=1):
        if isinstance(ip, int | np.integer) and 0 <= int(ip) < 2**IP_BITS:
            values.append(int(ip))
            continue
        parsed = parse_ipv4(str(ip))
        if parsed is None:
            raise InputError(f"input: row {i}: {_ip_problem(str(ip))}")
        values.append(parsed)
    return np.asarray(values, dtype=np.int64)


def load(path: Path | str) -> IPInsightsModel:
    """The model that ``train`` saved in ``path`` (an output folder or the model file)."""
    path = Path(path)
    file = path / MODEL_FILENAME if path.is_dir() else path
    if not file.is_file():
        msg = f"no IP Insights model at {file}"
        raise FileNotFoundError(msg)
    with np.load(file, allow_pickle=False) as saved:
        meta = json.loads(str(saved["meta"]))
        layers = tuple(
            (saved[f"weight_{i}"], saved[f"bias_{i}"]) for i in range(int(meta["layers"]))
        )
        return IPInsightsModel(
            entity_vectors=saved["entity_vectors"],
            octet_vectors=saved["octet_vectors"],
            bit_weight=saved["bit_weight"],
            bit_bias=saved["bit_bias"],
            layers=layers,
        )


def _save(model: IPInsightsModel, output_dir: Path) -> None:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {
        "entity_vectors": model.entity_vectors,
        "octet_vectors": model.octet_vectors,
        "bit_weight": model.bit_weight,
        "bit_bias": model.bit_bias,
    }
    for i, (weight, bias) in enumerate(model.layers):
        arrays[f"weight_{i}"], arrays[f"bias_{i}"] = weight, bias
    meta = {
        "layers": len(model.layers),
        "num_entity_vectors": model.num_entity_vectors,
        "vector_dim": model.vector_dim,
        "entity_hash": "blake2b-8-little-endian mod num_entity_vectors",
    }
    with (output_dir / MODEL_FILENAME).open("wb") as handle:
        np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]


# -- data ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pairs:
    """A channel's (entity, IP) pairs: entity-table rows and addresses as 32-bit integers."""

    entities: np.ndarray  # int64 rows of the entity table
    ips: np.ndarray  # int64 in [0, 2**32)

    def __len__(self) -> int:
        return int(self.ips.shape[0])


def _files(name: str, path: Path) -> list[Path]:
    """The files of a channel: the file itself, or a folder's (hidden ones left out)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        msg = f"{name} channel: {path} does not exist"
        raise InputError(msg)
    files = sorted(p for p in path.iterdir() if not p.name.startswith(".") and p.is_file())
    if not files:
        msg = f"{name} channel: folder {path} has no files"
        raise InputError(msg)
    return files


def _open_text(file: Path) -> IO[str]:
    with file.open("rb") as handle:
        gzipped = handle.read(2) == _GZIP_MAGIC
    if gzipped:
        return gzip.open(file, "rt", encoding="utf-8", errors="replace", newline="")
    return file.open(encoding="utf-8", errors="replace", newline="")


def _rows(name: str, file: Path) -> Iterator[tuple[str, int]]:
    """The (entity, address) of each non-blank row; InputError naming file and line otherwise."""
    with _open_text(file) as text:
        reader = csv.reader(text)
        for row in _csv_rows(name, file, reader):
            if not row or all(not cell.strip() for cell in row):
                continue
            where = f"{name} channel: {file.name} line {reader.line_num}"
            if len(row) != 2:
                msg = (
                    f"{where} has {len(row)} column{'s' if len(row) != 1 else ''}; each row "
                    "is an entity id and an IPv4 address (CSV, no header)"
                )
                raise InputError(msg)
            entity, ip = row[0].strip(), row[1].strip()
            if not entity:
                raise InputError(f"{where}: the entity id (first column) is empty")
            address = parse_ipv4(ip)
            if address is None:
                raise InputError(f"{where}: {_ip_problem(ip)}; CSV without a header")
            yield entity, address


def _csv_rows(name: str, file: Path, reader: Any) -> Iterator[list[str]]:
    """The reader's rows, a CSV syntax error (a NUL byte, a huge field) named by its line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            msg = f"{name} channel: {file.name} line {reader.line_num} is not valid CSV: {exc}"
            raise InputError(msg) from None


def read_pairs(name: str, path: Path | str, num_entity_vectors: int) -> Pairs:
    """Channel ``name``'s pairs, entities hashed into ``num_entity_vectors`` rows.

    Raises:
        InputError: the channel is missing or empty, or a row is malformed (named with the
            channel, the file and the line).
    """
    entities: list[str] = []
    ips: list[int] = []
    for file in _files(name, Path(path)):
        for entity, ip in _rows(name, file):
            entities.append(entity)
            ips.append(ip)
    if not ips:
        raise InputError(f"{name} channel: it holds no (entity, IP) pairs")
    return Pairs(entity_rows(entities, num_entity_vectors), np.asarray(ips, dtype=np.int64))


def validation_negatives(pairs: Pairs) -> Pairs:
    """One random and one shuffled negative per validation pair, from :data:`VALIDATION_SEED`.

    The same for every trial (they depend on the validation pairs only), so that
    ``validation:discriminator_auc`` compares trials on the same task. As in training, a
    shuffled negative can by chance be a usual pair (another row of the same entity).
    """
    rng = np.random.default_rng(VALIDATION_SEED)
    n = len(pairs)
    random_ips = rng.integers(0, 2**IP_BITS, size=n, dtype=np.int64)
    order = rng.permutation(n)
    shuffled_ips = np.empty(n, dtype=np.int64)
    shuffled_ips[order] = pairs.ips[np.roll(order, 1)]
    return Pairs(np.concatenate([pairs.entities, pairs.entities]), np.r_[random_ips, shuffled_ips])


def _check_objective(values: Mapping[str, Any], channels: Mapping[str, Path]) -> None:
    objective = values.get("_tuning_objective_metric")
    if objective is None:
        return
    where = "hyperparameter '_tuning_objective_metric'"
    if objective not in METRICS:
        msg = f"{where}: {objective!r} is not a metric of ip-insights; known: {', '.join(METRICS)}"
        raise HyperparameterError([msg])
    channel = str(objective).partition(":")[0]
    if channel not in channels:
        raise HyperparameterError([f"{where}: {objective} needs a {channel!r} channel"])


def _check_negatives(values: Mapping[str, Any]) -> None:
    """Both sampling rates 0 leave no negatives: nothing to discriminate the true pairs from."""
    if (
        values["random_negative_sampling_rate"] == 0
        and values["shuffled_negative_sampling_rate"] == 0
    ):
        msg = (
            "hyperparameters 'random_negative_sampling_rate' and "
            "'shuffled_negative_sampling_rate' are both 0: with no negative samples there is "
            "nothing to discriminate the true pairs from; set at least one of them to 1 or more"
        )
        raise HyperparameterError([msg])


def _load_data(values: Mapping[str, Any], channels: Mapping[str, Path]) -> dict[str, Pairs]:
    if "train" not in channels:
        got = ", ".join(repr(name) for name in channels) or "none"
        msg = f"ip-insights needs a 'train' channel (got {got})"
        raise InputError(msg)
    unknown = sorted(set(channels) - set(DATA_SETS))
    if unknown:
        logger.info("ip-insights reads train and validation; ignoring %s", unknown)
    n = values["num_entity_vectors"]
    return {name: read_pairs(name, channels[name], n) for name in DATA_SETS if name in channels}


# -- training ------------------------------------------------------------------------------------


class _Network(torch.nn.Module):
    """The entity table and the IP encoder (octet tables, bit map, fully connected layers)."""

    def __init__(self, num_entity_vectors: int, dim: int, layers: int) -> None:
        super().__init__()
        self.entities = torch.nn.Embedding(num_entity_vectors, dim, sparse=True)
        torch.nn.init.zeros_(self.entities.weight)  # unseen rows score 0: no evidence
        self.octets = torch.nn.Embedding(OCTETS * OCTET_VALUES, dim)
        torch.nn.init.normal_(self.octets.weight, std=0.5 / math.sqrt(dim))
        self.bits = torch.nn.Linear(IP_BITS, dim)
        self.layers = torch.nn.ModuleList(torch.nn.Linear(dim, dim) for _ in range(layers))
        self.register_buffer("shifts", torch.tensor([24, 16, 8, 0], dtype=torch.int64))
        self.register_buffer("offsets", torch.arange(OCTETS, dtype=torch.int64) * OCTET_VALUES)
        self.register_buffer("bit_shifts", torch.arange(IP_BITS - 1, -1, -1, dtype=torch.int64))

    def linear_layers(self) -> list[torch.nn.Linear]:
        """The encoder's fully connected layers, typed (a ModuleList yields plain Modules)."""
        return [layer for layer in self.layers if isinstance(layer, torch.nn.Linear)]

    def _buffer(self, name: str) -> torch.Tensor:
        value = self.get_buffer(name)
        assert isinstance(value, torch.Tensor)
        return value

    def encode_ips(self, ips: torch.Tensor) -> torch.Tensor:
        """``[n, dim]`` vectors of ``n`` addresses (int64)."""
        octets = ((ips[:, None] >> self._buffer("shifts")) & 255) + self._buffer("offsets")
        bits = (((ips[:, None] >> self._buffer("bit_shifts")) & 1) * 2 - 1).float()
        hidden = self.octets(octets).sum(dim=1) + self.bits(bits)
        layers = self.linear_layers()
        for i, layer in enumerate(layers):
            hidden = layer(hidden)
            if i < len(layers) - 1:
                hidden = torch.relu(hidden)
        return hidden

    def scores(self, entities: torch.Tensor, ips: torch.Tensor) -> torch.Tensor:
        """The dot product of each pair's entity and IP vectors."""
        return (self.entities(entities) * self.encode_ips(ips)).sum(dim=1)


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    """A parameter as a float32 numpy array on the host (the entity table can be large)."""
    return np.asarray(tensor.detach().cpu().float().numpy())


class _Trainer:
    """One training run: the network, its two optimizers, the channels on the device."""

    def __init__(
        self, values: Mapping[str, Any], data: Mapping[str, Pairs], device: torch.device
    ) -> None:
        self.values, self.device = values, device
        self.generator = seeded_generator(SEED)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            self.network = _Network(
                values["num_entity_vectors"], values["vector_dim"], values["num_ip_encoder_layers"]
            ).to(device)
        lr, wd = values["learning_rate"], values["weight_decay"]
        self.entity_optimizer = torch.optim.SparseAdam([self.network.entities.weight], lr=lr)
        encoder = [
            p for name, p in self.network.named_parameters() if not name.startswith("entities")
        ]
        self.encoder_optimizer = torch.optim.Adam(encoder, lr=lr, weight_decay=wd)
        self.train = self._on_device(data["train"])
        self.validation: tuple[tuple[torch.Tensor, torch.Tensor], np.ndarray] | None = None
        if "validation" in data:
            true, negatives = data["validation"], validation_negatives(data["validation"])
            labels = np.r_[np.ones(len(true)), np.zeros(len(negatives))]
            joined = Pairs(
                np.r_[true.entities, negatives.entities], np.r_[true.ips, negatives.ips]
            )
            self.validation = (self._on_device(joined), labels)
        self.batches_done = 0

    def _on_device(self, pairs: Pairs) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            torch.as_tensor(pairs.entities, device=self.device),
            torch.as_tensor(pairs.ips, device=self.device),
        )

    def _with_negatives(
        self, entities: torch.Tensor, ips: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The mini-batch's true pairs, then its random and shuffled negatives, and labels."""
        n = len(ips)
        random_rate = self.values["random_negative_sampling_rate"]
        shuffled_rate = self.values["shuffled_negative_sampling_rate"]
        all_entities, all_ips = [entities], [ips]
        if random_rate:
            drawn = torch.randint(0, 2**IP_BITS, (n * random_rate,), generator=self.generator)
            all_entities.append(entities.repeat(random_rate))
            all_ips.append(drawn.to(self.device))
        for _ in range(shuffled_rate):
            order = torch.randperm(n, generator=self.generator).to(self.device)
            all_entities.append(entities[order])
            all_ips.append(ips[order.roll(1)])
        labels = torch.zeros(n * (1 + random_rate + shuffled_rate), device=self.device)
        labels[:n] = 1.0
        return torch.cat(all_entities), torch.cat(all_ips), labels

    def train_epoch(self) -> float:
        """One pass over the training pairs; the mean cross-entropy of its samples as trained."""
        self.network.train()
        entities, ips = self.train
        size, interval = (
            self.values["mini_batch_size"],
            self.values["batch_metrics_publish_interval"],
        )
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        samples = 0
        started = time.perf_counter()
        order = torch.randperm(len(ips), generator=self.generator).to(self.device)
        for index in torch.split(order, size):
            batch_entities, batch_ips, labels = self._with_negatives(entities[index], ips[index])
            loss = self._step(batch_entities, batch_ips, labels)
            total += loss.double() * len(labels)
            samples += len(labels)
            self.batches_done += 1
            if self.batches_done % interval == 0:
                logger.info(
                    "ip-insights batch %d: train binary_classification_cross_entropy %.5f, "
                    "%.0f samples/sec",
                    self.batches_done,
                    float(loss),
                    samples / max(time.perf_counter() - started, 1e-9),
                )
        return float(total) / samples

    def _step(
        self, entities: torch.Tensor, ips: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            self.network.scores(entities, ips), labels
        )
        self.entity_optimizer.zero_grad(set_to_none=True)
        self.encoder_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._decay_entity_rows()
        self.entity_optimizer.step()
        self.encoder_optimizer.step()
        return loss.detach()

    def _decay_entity_rows(self) -> None:
        """Lazy L2: ``weight_decay * row`` added to the gradient of the rows this batch touched."""
        wd = self.values["weight_decay"]
        weight = self.network.entities.weight
        if wd == 0 or weight.grad is None:
            return
        grad = weight.grad.coalesce()
        rows = grad.indices()[0]
        grad.values().add_(weight.detach()[rows], alpha=wd)
        weight.grad = grad

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """AUC and cross-entropy of the validation pairs against their fixed negatives."""
        assert self.validation is not None
        self.network.eval()
        (entities, ips), labels = self.validation
        scores = torch.cat(
            [
                self.network.scores(
                    entities[start : start + EVAL_BATCH_ROWS], ips[start : start + EVAL_BATCH_ROWS]
                )
                for start in range(0, len(ips), EVAL_BATCH_ROWS)
            ]
        )
        host = scores.double().cpu().numpy()
        target = torch.as_tensor(labels, device=scores.device, dtype=scores.dtype)
        entropy = torch.nn.functional.binary_cross_entropy_with_logits(scores, target)
        return {
            "discriminator_auc": roc_auc(labels > 0.5, host),
            "binary_classification_cross_entropy": float(entropy),
        }

    def model(self) -> IPInsightsModel:
        """The network as numpy arrays, so the saved model scores pairs without torch."""
        net = self.network
        return IPInsightsModel(
            entity_vectors=_numpy(net.entities.weight),
            octet_vectors=_numpy(net.octets.weight),
            bit_weight=_numpy(net.bits.weight.T),
            bit_bias=_numpy(net.bits.bias),
            layers=tuple(
                (_numpy(layer.weight.T), _numpy(layer.bias)) for layer in net.linear_layers()
            ),
        )


class IPInsightsAlgorithm:
    """SageMaker's built-in IP Insights (the ``ipinsights`` image)."""

    name = "ip-insights"
    hyperparameters: Mapping[str, HyperparameterSpec] = HYPERPARAMETERS
    metrics: Mapping[str, Direction] = METRICS
    tuning_ranges: Mapping[str, TuningRange] = TUNING_RANGES

    def train(
        self,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
    ) -> None:
        """Train on ``train``, report every epoch, save the model in ``ctx.output_dir``.

        Raises:
            HyperparameterError: a hyperparameter is unknown, missing or invalid, both
                negative sampling rates are 0, or the objective needs a missing
                ``validation`` channel.
            InputError: the ``train`` channel is missing, a channel has a bad row, or
                training diverged (a loss is no longer finite: lower ``learning_rate``).
        """
        values = parse_hyperparameters(self.hyperparameters, hyperparameters)
        _check_negatives(values)
        _check_objective(values, channels)
        data = _load_data(values, channels)
        device = torch_device(ctx.device)
        dim, layers = values["vector_dim"], values["num_ip_encoder_layers"]
        per_sample = dim * (OCTETS + IP_BITS + layers * dim + 1)
        rates = (
            1 + values["random_negative_sampling_rate"] + values["shuffled_negative_sampling_rate"]
        )
        configure_threads(values["mini_batch_size"] * rates * per_sample * 3)
        trainer = _Trainer(values, data, device)
        try:
            self._epochs(trainer, values, ctx)
        except StopTraining:
            _save(trainer.model(), ctx.output_dir)
            raise
        _save(trainer.model(), ctx.output_dir)

    def _epochs(self, trainer: _Trainer, values: Mapping[str, Any], ctx: TrainingContext) -> None:
        checkpointed: dict[str, Any] = {
            "modules": {"network": trainer.network},
            "optimizers": [trainer.entity_optimizer, trainer.encoder_optimizer],
            "generator": trainer.generator,
        }
        resumed = restore_training_state(ctx, self.name, **checkpointed)
        for epoch in range(resumed[0] + 1 if resumed else 1, values["epochs"] + 1):
            if ctx.should_stop():
                break
            metrics = {"train:binary_classification_cross_entropy": trainer.train_epoch()}
            if trainer.validation is not None:
                metrics.update(
                    {f"validation:{name}": value for name, value in trainer.evaluate().items()}
                )
            bad = [name for name, value in metrics.items() if not math.isfinite(value)]
            if bad:
                msg = (
                    f"ip-insights diverged at epoch {epoch}: {', '.join(bad)} is not finite; "
                    "lower learning_rate"
                )
                raise InputError(msg)
            ctx.report(epoch, **metrics)
            save_training_state(ctx, self.name, epoch, **checkpointed)

    def load(self, path: Path | str) -> IPInsightsModel:
        """The model a trial saved; ``path`` is its output folder or the model file."""
        return load(path)


ALGORITHM = IPInsightsAlgorithm()
