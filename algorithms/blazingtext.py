"""BlazingText as SageMaker's built-in ``blazingtext`` image offers it, in torch.

BlazingText has two families of modes, chosen by the required ``mode`` hyperparameter.

**Supervised** (``mode=supervised``) is fastText's text classifier. A line's vector is the mean
of the input embeddings of its words (those seen at least ``min_count`` times in training) and
of its word n-grams (2 .. ``word_ngrams`` consecutive tokens, hashed after fastText's
scheme: FNV-1a of each token, then ``h = h * 116049371 + token_hash`` over the n-gram, modulo
``buckets``; colliding n-grams share a row). A linear layer without bias maps it to the labels
and a softmax gives their probabilities; training minimises cross-entropy by SGD whose
learning rate falls linearly from ``learning_rate`` to 0 over all the epochs, as fastText's
does. Only the buckets that training n-grams hash to get a row (the others would keep their
random start in fastText; here an n-gram whose bucket training never saw adds nothing), so
memory grows with the data, not with ``buckets``. The update is vectorised: mini-batches of
:data:`SUPERVISED_BATCH` lines (fewer above a learning rate of 0.05, :func:`supervised_batch`,
as a larger summed step overshoots) through ``torch.nn.EmbeddingBag`` with sparse gradients,
the loss summed over the batch so that a line moves the weights as far as one fastText step
(the same accuracies, epoch by epoch, as one line at a time).

Each line of the ``train`` (required) and ``validation`` (optional) channels is one example,
``__label__<label> <text>``, as SageMaker's "File mode" takes it (tokens are split on white
space; lower-case and tokenise beforehand, as SageMaker asks). Further leading ``__label__``
tokens are more labels of the line: training uses the first, and a prediction counts as right
for ``validation:accuracy`` when it is any of them. ``validation:accuracy`` (AMT's objective,
maximised) is reported after every epoch when there is a validation channel, with
``train:accuracy`` for information. ``early_stopping`` (it needs the validation channel)
stops once ``patience`` epochs after epoch ``min_epochs`` bring no better validation accuracy.

**Speed and quality** (tests/benchmarks/bench_algorithms.py, 2 shared CPU cores, SageMaker's
defaults). Supervised, 80,000 generated 10-word lines of 20 classes: 6.0 s for 5 epochs and
0.946 validation accuracy, where scikit-learn's SGDClassifier on 1-2-gram counts takes 7.3 s
for 0.947 and MultinomialNB 3.4 s for 0.940. Word2Vec, 20,000 generated 12-word sentences:
4.2 s (skipgram, cbow) to 5.2 s (batch_skipgram), rho 0.86, 0.84 and 0.79 on the planted
similarity set, where PPMI with a truncated SVD takes 0.5 s for 0.90.

**Word2Vec** (``mode`` ``skipgram``, ``cbow`` or ``batch_skipgram``) learns word vectors from
plain text, one sentence a line. Words seen fewer than ``min_count`` times are dropped; each
occurrence of a word of frequency ``f`` is kept with word2vec's probability
``(sqrt(f / t) + 1) * t / f`` (``t`` = ``sampling_threshold``), drawn afresh each epoch; every
centre word gets a window drawn uniformly from 1 .. ``window_size``. Training is negative
sampling (``negative_samples`` words drawn from the unigram distribution to the power 0.75)
by SGD with word2vec's linearly falling learning rate, vectorised over mini-batches of
(centre, context) pairs (:data:`WORD2VEC_BATCH`, fewer on a small corpus; a row's summed step
is capped, see :class:`_Word2VecTrainer`): *skipgram* predicts each context word from the
centre word, *cbow* the centre word from the mean of its context, and *batch_skipgram* is
skipgram whose pairs stay grouped by centre word and whose ``batch_size`` consecutive pairs
share their negative samples (BlazingText's way to turn the updates into matrix products; it
learns no subwords, as SageMaker's does not). With ``subwords`` a word's input vector is the
mean of its own vector and of its character n-grams' (``min_char`` .. ``max_char``
characters of ``<word>``, hashed into ``buckets``), fastText's way, so words never seen get
vectors too.

``train:mean_rho`` (AMT's objective for the Word2Vec modes, maximised; reported after every
epoch while ``evaluation`` is true) is the Spearman correlation between the cosine similarity
of word pairs' vectors and their similarity scores, over the pairs whose words both have
vectors (the mean over the similarity sets: one is shipped). SageMaker scores WordSim-353;
its licence could not be confirmed to allow redistribution, so this package ships its own
small set instead, ``blazingtext_data/word_similarity.tsv``: 28 English words in 7 synonym
groups and 3 topics, scored by construction (same group 9, same topic 5, otherwise 1), with
a corpus generated from the same planted groups (:func:`planted_corpus`, shipped as
``blazingtext_data/planted_corpus.txt``), on which the correlation is meaningful. On other
text the score covers only the set's words that occur there (none: nothing is reported).

**The model** (``blazingtext-model.npz``) holds the vocabulary, labels, embeddings and
settings; :func:`load` gives back a :class:`SupervisedModel` (``predict`` gives each line's
label, ``predict_proba`` the probabilities) or :class:`WordVectors` (``predict`` gives each
word's vector), both in numpy. The Word2Vec modes also write ``vectors.txt`` as SageMaker
does: a ``<words> <dim>`` header line, then each word followed by its vector. Training runs on
``ctx.device``; every draw (initialisation, order, subsampling, windows, negatives) comes from
generators seeded with :data:`SEED`, so a run on the CPU repeats exactly.

**Checkpoints** (when the training job asks for them, :mod:`algorithms.checkpoints`): after
every epoch's report, the vectors, the position in the learning-rate schedule, the generators'
states and (supervised) the early-stopping state. A job run again resumes after that epoch
exactly as if it had never stopped; one whose checkpoint is the epoch early stopping ended it
at only saves that model again.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
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
    seeded_generator,
    torch,
    torch_device,
)

logger = logging.getLogger(__name__)

#: The model's file name in the output folder.
MODEL_FILENAME = "blazingtext-model.npz"
#: The word vectors of the Word2Vec modes, as SageMaker names them.
VECTORS_FILENAME = "vectors.txt"
SEED = 0
LABEL_PREFIX = "__label__"
WORD2VEC_MODES = ("skipgram", "cbow", "batch_skipgram")
MODES = ("supervised", *WORD2VEC_MODES)
#: Lines per supervised mini-batch; (centre, context) pairs per Word2Vec mini-batch.
SUPERVISED_BATCH = 256
#: A supervised mini-batch holds at most this many lines per unit of learning rate (256 at
#: the default 0.05): its summed step is what that many fastText steps would move, and a
#: larger sum overshoots (at learning_rate 0.5, 256 lines diverge where 25 do not).
SUPERVISED_STEP_BUDGET = 12.8
WORD2VEC_BATCH = 1024
#: Word2Vec mini-batches per epoch at least (down to :data:`WORD2VEC_MIN_BATCH` pairs each):
#: a small corpus still gets many steps, where a few 1,024-pair sums would hardly move it.
WORD2VEC_MIN_STEPS = 256
WORD2VEC_MIN_BATCH = 32
#: The most learning rate one row moves by in one Word2Vec mini-batch, summed over its
#: occurrences there (8 steps at the default 0.05; one step at any rate; see _Word2VecTrainer).
MAX_ROW_RATE = 0.4
#: fastText's multiplier of its n-gram hash.
NGRAM_HASH_MULTIPLIER = 116049371
DATA_DIR = Path(__file__).resolve().parent / "blazingtext_data"
SIMILARITY_FILE = DATA_DIR / "word_similarity.tsv"
CORPUS_FILE = DATA_DIR / "planted_corpus.txt"

METRICS: Mapping[str, Direction] = MappingProxyType(
    {"validation:accuracy": "Maximize", "train:mean_rho": "Maximize"}
)
#: Reported as well, informational.
REPORTED_METRICS = ("train:accuracy",)

_SUPERVISED_ONLY = frozenset({"word_ngrams", "early_stopping", "patience", "min_epochs"})
_WORD2VEC_ONLY = frozenset(
    {
        "window_size",
        "negative_samples",
        "sampling_threshold",
        "subwords",
        "min_char",
        "max_char",
        "batch_size",
        "evaluation",
    }
)

#: SageMaker BlazingText's hyperparameters (developer guide, "BlazingText Hyperparameters"):
#: one table for all modes, as the image takes them; which mode reads which is in
#: ``description``, and a hyperparameter of the other family is ignored (logged).
HYPERPARAMETERS: Mapping[str, HyperparameterSpec] = MappingProxyType(
    {
        "mode": HyperparameterSpec(
            "str", required=True, choices=MODES, description="supervised or a Word2Vec mode."
        ),
        "epochs": HyperparameterSpec("int", 5, min_value=1, description="Passes over train."),
        "learning_rate": HyperparameterSpec(
            "float", 0.05, min_value=0.0, min_open=True, description="SGD's starting rate."
        ),
        "vector_dim": HyperparameterSpec(
            "int", 100, min_value=1, description="Size of the vectors."
        ),
        "min_count": HyperparameterSpec(
            "int", 5, min_value=0, description="Words seen fewer times are dropped."
        ),
        "buckets": HyperparameterSpec(
            "int",
            2_000_000,
            min_value=1,
            description="Hash buckets of word n-grams (supervised) or subwords (Word2Vec).",
        ),
        "word_ngrams": HyperparameterSpec(
            "int", 2, min_value=1, description="Supervised: longest word n-gram."
        ),
        "early_stopping": HyperparameterSpec(
            "bool", False, description="Supervised: stop when validation accuracy stalls."
        ),
        "patience": HyperparameterSpec(
            "int", 4, min_value=1, description="Supervised: epochs without progress tolerated."
        ),
        "min_epochs": HyperparameterSpec(
            "int", 5, min_value=1, description="Supervised: epochs before early stopping acts."
        ),
        "window_size": HyperparameterSpec(
            "int", 5, min_value=1, description="Word2Vec: largest context window."
        ),
        "negative_samples": HyperparameterSpec(
            "int", 5, min_value=1, description="Word2Vec: negatives per positive pair."
        ),
        "sampling_threshold": HyperparameterSpec(
            "float",
            0.0001,
            min_value=0.0,
            max_value=1.0,
            min_open=True,
            description="Word2Vec: frequent words' down-sampling threshold.",
        ),
        "subwords": HyperparameterSpec(
            "bool", False, description="Word2Vec: learn character n-gram vectors too."
        ),
        "min_char": HyperparameterSpec(
            "int", 3, min_value=1, description="Word2Vec subwords: shortest character n-gram."
        ),
        "max_char": HyperparameterSpec(
            "int", 6, min_value=1, description="Word2Vec subwords: longest character n-gram."
        ),
        "batch_size": HyperparameterSpec(
            "int",
            11,
            min_value=1,
            description="batch_skipgram: pairs sharing their negative samples.",
        ),
        "evaluation": HyperparameterSpec(
            "bool", True, description="Word2Vec: report train:mean_rho on the similarity set."
        ),
    }
)

#: AMT's recommended ranges (blazingtext-tuning; AMT.md 17.2), the union of both modes' sets:
#: buckets and word_ngrams are supervised-only; batch_size, mode, negative_samples,
#: sampling_threshold and window_size Word2Vec-only; epochs, learning_rate, min_count and
#: vector_dim both. The ``mode`` range holds the Word2Vec modes, as AMT's page lists them.
TUNING_RANGES: Mapping[str, TuningRange] = MappingProxyType(
    {
        "batch_size": integer(8, 32),
        "buckets": integer(1_000_000, 10_000_000),
        "epochs": integer(5, 15),
        "learning_rate": continuous(0.005, 0.01),
        "min_count": integer(0, 100),
        "mode": categorical("batch_skipgram", "skipgram", "cbow"),
        "negative_samples": integer(5, 25),
        "sampling_threshold": continuous(0.0001, 0.001),
        "vector_dim": integer(32, 300),
        "window_size": integer(1, 10),
        "word_ngrams": integer(1, 3),
    }
)


# -- hashing and tokens --------------------------------------------------------------------------


def fnv1a(text: str) -> int:
    """fastText's 32-bit FNV-1a hash of a token's UTF-8 bytes (signed bytes, as fastText's)."""
    h = 2166136261
    for byte in text.encode("utf-8"):
        h ^= byte if byte < 128 else (byte - 256) & 0xFFFFFFFF
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def ngram_buckets(hashes: np.ndarray, line_of: np.ndarray, n_max: int, buckets: int) -> Any:
    """(bucket, line) of every word n-gram (2 .. ``n_max`` tokens) within a line.

    ``hashes`` are the tokens' FNV-1a hashes (uint64) in order and ``line_of`` each token's
    line; an n-gram never spans two lines.
    """
    all_buckets, all_lines = [], []
    h = hashes.astype(np.uint64)
    with np.errstate(over="ignore"):
        for n in range(2, n_max + 1):
            if len(hashes) < n:
                break
            h = h[:-1] * np.uint64(NGRAM_HASH_MULTIPLIER) + hashes[n - 1 :].astype(np.uint64)
            same = line_of[: len(h)] == line_of[n - 1 :]
            all_buckets.append((h[same] % np.uint64(buckets)).astype(np.int64))
            all_lines.append(line_of[: len(h)][same])
    if not all_buckets:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(all_buckets), np.concatenate(all_lines)


def char_ngrams(word: str, low: int, high: int) -> list[str]:
    """fastText's character n-grams of ``<word>`` (the whole ``<word>`` left out)."""
    marked = f"<{word}>"
    return [
        marked[i : i + n]
        for n in range(low, high + 1)
        for i in range(len(marked) - n + 1)
        if marked[i : i + n] != marked
    ]


# -- channels ------------------------------------------------------------------------------------


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


def _lines(name: str, path: Path) -> Iterator[tuple[str, int, list[str]]]:
    """(file name, line number, tokens) of each non-blank line of a channel.

    Raises:
        InputError: a line is not UTF-8 text (a binary or compressed file, another encoding),
            named with the channel, the file and the line.
    """
    for file in _files(name, path):
        with file.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    msg = (
                        f"{name} channel: {file.name} line {number} is not UTF-8 text "
                        f"(byte {raw[exc.start]:#04x} at column {exc.start + 1}); BlazingText "
                        "reads plain UTF-8 text files, one sentence or example a line"
                    )
                    raise InputError(msg) from None
                if "\x00" in line:
                    msg = (
                        f"{name} channel: {file.name} line {number} holds a NUL byte: a "
                        "binary file, not text"
                    )
                    raise InputError(msg)
                tokens = line.split()
                if tokens:
                    yield file.name, number, tokens


@dataclass(frozen=True)
class LabelledLines:
    """A supervised channel: each line's labels and tokens."""

    labels: list[tuple[str, ...]]
    tokens: list[list[str]]


def read_labelled(name: str, path: Path | str) -> LabelledLines:
    """Channel ``name``'s ``__label__X text`` lines.

    Raises:
        InputError: the channel is missing or empty, or a line has no leading ``__label__``
            (named with the channel, the file and the line).
    """
    labels: list[tuple[str, ...]] = []
    tokens: list[list[str]] = []
    for file, number, words in _lines(name, Path(path)):
        count = 0
        while count < len(words) and words[count].startswith(LABEL_PREFIX):
            count += 1
        if count == 0 or any(len(w) == len(LABEL_PREFIX) for w in words[:count]):
            shown = " ".join(words)[:60]
            msg = (
                f"{name} channel: {file} line {number} ({shown!r}) does not start with a label; "
                f"supervised mode takes one '{LABEL_PREFIX}<label> <text>' line per example"
            )
            raise InputError(msg)
        labels.append(tuple(words[:count]))
        tokens.append(words[count:])
    if not labels:
        raise InputError(f"{name} channel: it holds no lines")
    return LabelledLines(labels, tokens)


def read_sentences(name: str, path: Path | str) -> list[list[str]]:
    """Channel ``name``'s sentences (one a line); InputError if missing or empty."""
    sentences = [words for _, _, words in _lines(name, Path(path))]
    if not sentences:
        raise InputError(f"{name} channel: it holds no text")
    return sentences


def vocabulary(sentences: Iterable[Sequence[str]], min_count: int) -> tuple[list[str], np.ndarray]:
    """Words seen at least ``min_count`` times, most frequent first (ties by word), and counts."""
    counts = Counter(word for sentence in sentences for word in sentence)
    kept = sorted(
        ((w, c) for w, c in counts.items() if c >= max(min_count, 1)), key=lambda x: (-x[1], x[0])
    )
    return [w for w, _ in kept], np.array([c for _, c in kept], dtype=np.int64)


# -- supervised model ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SupervisedModel:
    """A trained text classifier: words, n-gram buckets in use, embeddings, label weights."""

    words: tuple[str, ...]
    labels: tuple[str, ...]
    used_buckets: np.ndarray  # sorted bucket ids that have a row, after the words' rows
    input_vectors: np.ndarray  # (len(words) + len(used_buckets), dim)
    output_vectors: np.ndarray  # (len(labels), dim)
    word_ngrams: int
    buckets: int

    def bags(self, lines: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Each line's input rows, flat, and where each line's rows start (EmbeddingBag form)."""
        index = {w: i for i, w in enumerate(self.words)}
        return _bags(lines, index, self.used_buckets, self.word_ngrams, self.buckets)

    def predict_proba(self, lines: Sequence[str | Sequence[str]]) -> np.ndarray:
        """Each line's label probabilities ``[n, labels]`` (leading ``__label__`` ignored)."""
        tokenised = [_text_tokens(line) for line in lines]
        rows, offsets = self.bags(tokenised)
        hidden = np.zeros((len(tokenised), self.input_vectors.shape[1]))
        ends = np.r_[offsets[1:], len(rows)]
        for i, (start, end) in enumerate(zip(offsets, ends, strict=True)):
            if end > start:
                hidden[i] = self.input_vectors[rows[start:end]].mean(axis=0)
        scores = hidden @ self.output_vectors.T
        scores -= scores.max(axis=1, keepdims=True)
        probabilities = np.exp(scores)
        return np.asarray(probabilities / probabilities.sum(axis=1, keepdims=True))

    def predict(self, lines: Sequence[str | Sequence[str]]) -> list[str]:
        """Each line's most probable label (``__label__X``), as SageMaker's endpoint gives."""
        best = np.argmax(self.predict_proba(lines), axis=1)
        return [self.labels[i] for i in best]


def _text_tokens(line: str | Sequence[str]) -> list[str]:
    words = line.split() if isinstance(line, str) else list(line)
    return [w for w in words if not w.startswith(LABEL_PREFIX)]


def _bags(
    lines: Sequence[Sequence[str]],
    index: Mapping[str, int],
    used_buckets: np.ndarray,
    word_ngrams: int,
    buckets: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows (words, then n-gram buckets that have a row) of each line, flat, and offsets."""
    flat = [w for line in lines for w in line]
    line_of = np.repeat(np.arange(len(lines)), [len(line) for line in lines])
    distinct = {w: fnv1a(w) for w in set(flat)}
    hashes = np.fromiter((distinct[w] for w in flat), dtype=np.uint64, count=len(flat))
    word_rows = np.fromiter((index.get(w, -1) for w in flat), dtype=np.int64, count=len(flat))
    rows, owners = [word_rows[word_rows >= 0]], [line_of[word_rows >= 0]]
    if word_ngrams > 1:
        bucket_ids, bucket_lines = ngram_buckets(hashes, line_of, word_ngrams, buckets)
        position = np.searchsorted(used_buckets, bucket_ids)
        found = position < len(used_buckets)
        found[found] = used_buckets[position[found]] == bucket_ids[found]
        rows.append(len(index) + position[found])
        owners.append(bucket_lines[found])
    all_rows, all_owners = np.concatenate(rows), np.concatenate(owners)
    order = np.argsort(all_owners, kind="stable")
    counts = np.bincount(all_owners, minlength=len(lines))
    return all_rows[order], np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)


def _supervised_vocabulary(
    data: LabelledLines, values: Mapping[str, Any]
) -> tuple[list[str], tuple[str, ...], np.ndarray]:
    words, _ = vocabulary(data.tokens, values["min_count"])
    labels = tuple(sorted({line[0] for line in data.labels}))
    used = np.zeros(0, dtype=np.int64)
    if values["word_ngrams"] > 1:
        flat = [w for line in data.tokens for w in line]
        line_of = np.repeat(np.arange(len(data.tokens)), [len(t) for t in data.tokens])
        distinct = {w: fnv1a(w) for w in set(flat)}
        hashes = np.fromiter((distinct[w] for w in flat), dtype=np.uint64, count=len(flat))
        bucket_ids, _ = ngram_buckets(hashes, line_of, values["word_ngrams"], values["buckets"])
        used = np.unique(bucket_ids)
    return words, labels, used


def supervised_batch(learning_rate: float) -> int:
    """Lines per supervised mini-batch: :data:`SUPERVISED_BATCH`, fewer at high rates."""
    return max(1, min(SUPERVISED_BATCH, int(SUPERVISED_STEP_BUDGET / learning_rate)))


class _SupervisedTrainer:
    """One supervised run: the embeddings, the label layer, the channels as bags on the device."""

    def __init__(
        self, values: Mapping[str, Any], data: Mapping[str, LabelledLines], device: torch.device
    ) -> None:
        self.values, self.device = values, device
        self.batch = supervised_batch(values["learning_rate"])
        self.generator = seeded_generator(SEED)
        words, self.labels, self.used = _supervised_vocabulary(data["train"], values)
        self.words = tuple(words)
        self.index = {w: i for i, w in enumerate(words)}
        dim, rows = values["vector_dim"], len(words) + len(self.used)
        start = (torch.rand(max(rows, 1), dim, generator=self.generator) * 2 - 1) / dim
        self.embedding = torch.nn.EmbeddingBag(max(rows, 1), dim, mode="mean", sparse=True)
        with torch.no_grad():
            self.embedding.weight.copy_(start)
        self.embedding.to(device)
        self.output = torch.nn.Parameter(torch.zeros(len(self.labels), dim, device=device))
        self.optimizer = torch.optim.SGD([self.embedding.weight, self.output], lr=1.0)
        self.sets = {name: self._on_device(lines) for name, lines in data.items()}
        self.total_steps = values["epochs"] * math.ceil(len(data["train"].labels) / self.batch)
        self.steps = 0

    def checkpointed(self) -> dict[str, Any]:
        """What a checkpoint holds, as :func:`~algorithms.torch_util.save_training_state`
        takes it (the steps taken go in its ``extra``)."""
        return {
            "modules": {"embedding": self.embedding},
            "tensors": {"output": self.output},
            "optimizers": [self.optimizer],
            "generator": self.generator,
        }

    def _on_device(self, lines: LabelledLines) -> dict[str, Any]:
        rows, offsets = _bags(
            lines.tokens, self.index, self.used, self.values["word_ngrams"], self.values["buckets"]
        )
        label_index = {label: i for i, label in enumerate(self.labels)}
        first = [label_index.get(line[0], -1) for line in lines.labels]
        allowed = np.zeros((len(lines.labels), max(len(self.labels), 1)), dtype=bool)
        for i, line in enumerate(lines.labels):
            for label in line:
                if label in label_index:
                    allowed[i, label_index[label]] = True
        return {
            "rows": torch.as_tensor(rows, device=self.device),
            "offsets": torch.as_tensor(offsets, device=self.device),
            "lengths": torch.as_tensor(np.diff(np.r_[offsets, len(rows)]), device=self.device),
            "target": torch.as_tensor(np.asarray(first, dtype=np.int64), device=self.device),
            "allowed": torch.as_tensor(allowed, device=self.device),
        }

    def _batch(self, data: Mapping[str, Any], index: torch.Tensor) -> torch.Tensor:
        """The mean input vector of each line at ``index`` (zero for a line with no rows)."""
        starts, lengths = data["offsets"][index], data["lengths"][index]
        total = int(lengths.sum())
        offsets = torch.cumsum(lengths, 0) - lengths
        within = torch.arange(total, device=self.device) - torch.repeat_interleave(
            offsets, lengths, output_size=total
        )
        positions = torch.repeat_interleave(starts, lengths, output_size=total) + within
        return self.embedding(data["rows"][positions], offsets)

    def train_epoch(self) -> None:
        """One pass over the training lines in a fresh order, the rate falling linearly."""
        data = self.sets["train"]
        n = len(data["target"])
        order = torch.randperm(n, generator=self.generator).to(self.device)
        for index in torch.split(order, self.batch):
            rate = self.values["learning_rate"] * max(1.0 - self.steps / self.total_steps, 1e-4)
            for group in self.optimizer.param_groups:
                group["lr"] = rate
            scores = self._batch(data, index) @ self.output.T
            loss = torch.nn.functional.cross_entropy(
                scores, data["target"][index], reduction="sum"
            )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.steps += 1

    @torch.no_grad()
    def accuracy(self, name: str) -> float:
        """Share of the channel's lines whose predicted label is one of their labels."""
        data = self.sets[name]
        n = len(data["target"])
        right = 0
        for index in torch.split(torch.arange(n, device=self.device), 8192):
            predicted = torch.argmax(self._batch(data, index) @ self.output.T, dim=1)
            right += int(data["allowed"][index, predicted].sum())
        return right / max(n, 1)

    def model(self) -> SupervisedModel:
        return SupervisedModel(
            words=self.words,
            labels=self.labels,
            used_buckets=self.used,
            input_vectors=_numpy(self.embedding.weight)[: len(self.words) + len(self.used)],
            output_vectors=_numpy(self.output),
            word_ngrams=self.values["word_ngrams"],
            buckets=self.values["buckets"],
        )


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return np.asarray(tensor.detach().cpu().float().numpy())


# -- Word2Vec ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WordVectors:
    """Trained word vectors: a vocabulary word's row, or (subwords) its character n-grams'."""

    words: tuple[str, ...]
    vectors: np.ndarray  # (len(words), dim): the words' final vectors
    subword_vectors: np.ndarray  # (len(used_buckets), dim); empty without subwords
    used_buckets: np.ndarray
    min_char: int = 3
    max_char: int = 6
    buckets: int = 2_000_000

    def vector(self, word: str) -> np.ndarray | None:
        """``word``'s vector; an unseen word's from its character n-grams, else None."""
        index = self._index().get(word)
        if index is not None:
            return np.asarray(self.vectors[index])
        if not len(self.used_buckets):
            return None
        grams = char_ngrams(word, self.min_char, self.max_char)
        ids = np.array([fnv1a(g) % self.buckets for g in grams], dtype=np.int64)
        position = np.searchsorted(self.used_buckets, ids)
        found = position < len(self.used_buckets)
        found[found] = self.used_buckets[position[found]] == ids[found]
        rows = position[found]  # the n-grams training saw; the others have no vector
        if not len(rows):
            return None
        return np.asarray(self.subword_vectors[rows].mean(axis=0))

    def _index(self) -> dict[str, int]:
        cached = self.__dict__.get("_cached_index")
        if cached is None:
            cached = {w: i for i, w in enumerate(self.words)}
            object.__setattr__(self, "_cached_index", cached)
        return cached

    def predict(self, words: Sequence[str]) -> np.ndarray:
        """Each word's vector ``[n, dim]`` (zeros for a word with none), as the endpoint gives."""
        out = np.zeros((len(words), self.vectors.shape[1]))
        for i, word in enumerate(words):
            found = self.vector(str(word))
            if found is not None:
                out[i] = found
        return out


def read_similarity(path: Path = SIMILARITY_FILE) -> list[tuple[str, str, float]]:
    """(word, word, score) rows of a tab-separated similarity set (``#`` lines are comments)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            first, second, score = line.split("\t")
            rows.append((first, second, float(score)))
    return rows


def mean_rho(vectors: WordVectors, sets: Sequence[Sequence[tuple[str, str, float]]]) -> float:
    """Mean over the similarity sets of Spearman's rho of cosines against scores (NaN if none).

    A pair counts only when both its words have vectors.
    """
    from scipy.stats import spearmanr

    rhos = []
    for pairs in sets:
        cosines, scores = [], []
        for first, second, score in pairs:
            a, b = vectors.vector(first), vectors.vector(second)
            if a is None or b is None:
                continue
            norm = float(np.linalg.norm(a) * np.linalg.norm(b))
            cosines.append(float(a @ b) / norm if norm > 0 else 0.0)
            scores.append(score)
        if len(scores) >= 3 and len(set(scores)) > 1:
            rho = float(spearmanr(cosines, scores).statistic)
            if math.isfinite(rho):
                rhos.append(rho)
    return float(np.mean(rhos)) if rhos else math.nan


def _keep_probability(counts: np.ndarray, threshold: float) -> np.ndarray:
    """word2vec's probability of keeping each occurrence of a word (capped at 1)."""
    frequency = counts / counts.sum()
    return np.minimum((np.sqrt(frequency / threshold) + 1) * threshold / frequency, 1.0)


class _Word2VecTrainer:
    """One Word2Vec run: input and output vectors, the corpus as word ids, the pair sampler.

    The updates are word2vec's, written out by hand (no autograd): for a centre word's input
    vector ``h`` and a context word's output vector ``u``, ``g = sigmoid(h . u) - label`` moves
    ``u`` by ``-rate * g * h`` and every input row that made ``h`` (the word, its character
    n-grams, or in cbow every context word's) by ``-rate * g * u``, summed over the positive and
    the negative words, as word2vec.c and fastText apply them (the full step to each row of a
    mean, not the mean's gradient). A mini-batch applies its pairs' steps at once; a row that
    occurs in many of them moves by at most :data:`MAX_ROW_RATE` (or one step, if the rate is
    larger) times its mean step, because a one-shot sum of many steps overshoots where the same
    steps taken one after another would have saturated: without the cap a small vocabulary
    diverges. In a real vocabulary only the most frequent words reach the cap.
    """

    def __init__(
        self, values: Mapping[str, Any], sentences: list[list[str]], device: torch.device
    ) -> None:
        self.values, self.device = values, device
        self.rng = np.random.default_rng(SEED)
        self.generator = seeded_generator(SEED)
        words, counts = vocabulary(sentences, values["min_count"])
        if not words:
            msg = (
                f"train channel: no word occurs min_count={values['min_count']} times; "
                "lower min_count or give more text"
            )
            raise InputError(msg)
        self.words = tuple(words)
        index = {w: i for i, w in enumerate(words)}
        ids = [[index[w] for w in s if w in index] for s in sentences]
        self.ids = np.fromiter((i for s in ids for i in s), dtype=np.int64)
        self.line_of = np.repeat(np.arange(len(ids)), [len(s) for s in ids])
        self.keep = _keep_probability(counts.astype(np.float64), values["sampling_threshold"])
        noise = counts.astype(np.float64) ** 0.75
        self.noise = torch.as_tensor(noise / noise.sum(), dtype=torch.float32)
        self._subword_bags(values)
        dim = values["vector_dim"]
        rows = len(words) + len(self.used)
        start = (torch.rand(rows, dim, generator=self.generator) * 2 - 1) / dim
        self.input = start.to(device)
        self.output = torch.zeros(len(words), dim, device=device)
        self.total = max(values["epochs"] * len(self.ids), 1)
        self.done = 0.0

    def checkpointed(self) -> dict[str, Any]:
        """What a checkpoint holds, as :func:`~algorithms.torch_util.save_training_state`
        takes it (the numpy generator and the words done go in its ``extra``)."""
        return {
            "tensors": {"input": self.input, "output": self.output},
            "generator": self.generator,
        }

    def _subword_bags(self, values: Mapping[str, Any]) -> None:
        """Each word's input rows (itself, then its character n-grams' buckets) as bags."""
        n = len(self.words)
        self.bag_rows: torch.Tensor | None = None
        if not values["subwords"]:
            self.used = np.zeros(0, dtype=np.int64)
            return
        low, high, buckets = values["min_char"], values["max_char"], values["buckets"]
        grams = [[fnv1a(g) % buckets for g in char_ngrams(w, low, high)] for w in self.words]
        self.used = np.unique(np.fromiter((b for g in grams for b in g), dtype=np.int64))
        rows = [
            np.r_[i, n + np.searchsorted(self.used, g)].astype(np.int64)
            for i, g in enumerate(grams)
        ]
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        self.bag_rows = torch.as_tensor(np.concatenate(rows), device=self.device)
        self.bag_offsets = torch.as_tensor(np.r_[0, np.cumsum(lengths)[:-1]], device=self.device)
        self.bag_lengths = torch.as_tensor(lengths, device=self.device)

    def _expand(self, word_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The input rows of each word in ``word_ids``, flat, and which word each row is of."""
        if self.bag_rows is None:
            return word_ids, torch.arange(len(word_ids), device=self.device)
        lengths = self.bag_lengths[word_ids]
        total = int(lengths.sum())
        owner = torch.repeat_interleave(
            torch.arange(len(word_ids), device=self.device), lengths, output_size=total
        )
        firsts = torch.cumsum(lengths, 0) - lengths
        within = torch.arange(total, device=self.device) - firsts[owner]
        return self.bag_rows[self.bag_offsets[word_ids][owner] + within], owner

    def word_inputs(self, word_ids: torch.Tensor) -> torch.Tensor:
        """The input vectors of ``word_ids``: a row, or the mean of the word's subword rows."""
        if self.bag_rows is None:
            return self.input[word_ids]
        rows, owner = self._expand(word_ids)
        summed = torch.zeros(len(word_ids), self.input.shape[1], device=self.device)
        summed.index_add_(0, owner, self.input[rows])
        return summed / self.bag_lengths[word_ids][:, None].to(summed.dtype)

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This epoch's (centre, context) word ids and centre positions: subsampled, windowed."""
        kept = self.rng.random(len(self.ids)) < self.keep[self.ids]
        ids, lines = self.ids[kept], self.line_of[kept]
        window = self.rng.integers(1, self.values["window_size"] + 1, size=len(ids))
        at = np.arange(len(ids))
        centres, contexts, positions = [], [], []
        for shift in range(1, self.values["window_size"] + 1):
            for sign in (1, -1):
                other = at + sign * shift
                ok = (other >= 0) & (other < len(ids)) & (window >= shift)
                ok[ok] = lines[at[ok]] == lines[other[ok]]
                centres.append(ids[at[ok]])
                contexts.append(ids[other[ok]])
                positions.append(at[ok])
        return np.concatenate(centres), np.concatenate(contexts), np.concatenate(positions)

    def _rate(self) -> float:
        return float(self.values["learning_rate"] * max(1.0 - self.done / self.total, 1e-4))

    def _negatives(self, count: int) -> torch.Tensor:
        drawn = torch.multinomial(self.noise, count, replacement=True, generator=self.generator)
        return drawn.to(self.device)

    def train_epoch(self) -> None:
        """One pass over the epoch's (centre, context) pairs, in mini-batches."""
        centres, contexts, positions = self.pairs()
        if self.values["mode"] == "cbow":
            self._cbow_epoch(centres, contexts, positions)
            return
        per_pair = len(self.ids) / max(len(centres), 1)  # tokens read per pair, for the rate
        if self.values["mode"] == "batch_skipgram":
            # BlazingText's batches: the pairs of one centre word stay together (shuffled by
            # centre), and each run of batch_size consecutive pairs shares its negatives.
            rank = self.rng.permutation(len(self.ids))[positions]
            order = np.argsort(rank, kind="stable")
        else:
            order = self.rng.permutation(len(centres))
        c = torch.as_tensor(centres[order], device=self.device)
        o = torch.as_tensor(contexts[order], device=self.device)
        k = self.values["negative_samples"]
        step = _word2vec_batch(len(centres))
        if self.values["mode"] == "batch_skipgram":  # whole groups in every mini-batch
            size = self.values["batch_size"]
            step = max(step // size, 1) * size
        for start in range(0, len(c), step):
            centre, context = c[start : start + step], o[start : start + step]
            if self.values["mode"] == "batch_skipgram":
                size = self.values["batch_size"]
                groups = -(-len(centre) // size)
                shared = self._negatives(groups * k).view(groups, k)
                group_of = torch.arange(len(centre), device=self.device) // size
                negatives = shared[group_of]
            else:
                negatives = self._negatives(len(centre) * k).view(len(centre), k)
            grad_h = self._output_step(self.word_inputs(centre), context, negatives)
            self._input_step(centre, grad_h)
            self.done += len(centre) * per_pair

    def _output_step(
        self, hidden: torch.Tensor, target: torch.Tensor, negatives: torch.Tensor
    ) -> torch.Tensor:
        """Update the output rows of the targets and negatives; the gradient of ``hidden``."""
        rate = self._rate()
        positive = self.output[target]  # [B, d]
        negative = self.output[negatives]  # [B, k, d]
        g_pos = torch.sigmoid((hidden * positive).sum(dim=1)) - 1.0  # [B]
        g_neg = torch.sigmoid(torch.einsum("bd,bkd->bk", hidden, negative))  # [B, k]
        g_neg = g_neg * (negatives != target[:, None])  # a draw of the target is no negative
        grad_h = g_pos[:, None] * positive + torch.einsum("bk,bkd->bd", g_neg, negative)
        rows = torch.cat([target, negatives.reshape(-1)])
        steps = torch.cat(
            [
                g_pos[:, None] * hidden,
                (g_neg[:, :, None] * hidden[:, None, :]).reshape(-1, hidden.shape[1]),
            ]
        )
        _capped_add(self.output, rows, steps, -rate)
        return grad_h

    def _input_step(self, word_ids: torch.Tensor, grad: torch.Tensor) -> None:
        """Move every input row of each word (itself, its subwords) by ``-rate * grad``."""
        rows, owner = self._expand(word_ids)
        _capped_add(self.input, rows, grad[owner], -self._rate())

    def _cbow_epoch(
        self, centres: np.ndarray, contexts: np.ndarray, positions: np.ndarray
    ) -> None:
        """Each kept position predicts its word from the mean of its context's input vectors."""
        by_position = np.argsort(positions, kind="stable")
        positions, contexts, centres = (
            positions[by_position],
            contexts[by_position],
            centres[by_position],
        )
        starts = np.flatnonzero(np.r_[True, positions[1:] != positions[:-1]])
        lengths = np.diff(np.r_[starts, len(positions)])
        per_position = len(self.ids) / max(len(starts), 1)
        order = self.rng.permutation(len(starts))
        k = self.values["negative_samples"]
        context_ids = torch.as_tensor(contexts, device=self.device)
        group = _word2vec_batch(len(centres)) // max(self.values["window_size"], 1)
        group = max(group, 1)
        for begin in range(0, len(order), group):
            chosen = order[begin : begin + group]
            s, n = starts[chosen], lengths[chosen]
            flat = np.repeat(s, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
            words = context_ids[torch.as_tensor(flat, device=self.device)]
            owner = torch.as_tensor(np.repeat(np.arange(len(chosen)), n), device=self.device)
            vectors = self.word_inputs(words)
            hidden = torch.zeros(len(chosen), vectors.shape[1], device=self.device)
            hidden.index_add_(0, owner, vectors)
            hidden /= torch.as_tensor(n, device=self.device, dtype=hidden.dtype)[:, None]
            target = torch.as_tensor(centres[s], device=self.device)
            negatives = self._negatives(len(chosen) * k).view(len(chosen), k)
            grad_h = self._output_step(hidden, target, negatives)
            self._input_step(words, grad_h[owner])
            self.done += len(chosen) * per_position

    @torch.no_grad()
    def model(self) -> WordVectors:
        ids = torch.arange(len(self.words), device=self.device)
        return WordVectors(
            words=self.words,
            vectors=_numpy(self.word_inputs(ids)),
            subword_vectors=_numpy(self.input[len(self.words) :]),
            used_buckets=self.used,
            min_char=self.values["min_char"],
            max_char=self.values["max_char"],
            buckets=self.values["buckets"],
        )


def _word2vec_batch(n_pairs: int) -> int:
    """(centre, context) pairs per mini-batch for an epoch of ``n_pairs``."""
    return max(WORD2VEC_MIN_BATCH, min(WORD2VEC_BATCH, n_pairs // WORD2VEC_MIN_STEPS))


def _capped_add(
    weight: torch.Tensor, rows: torch.Tensor, steps: torch.Tensor, rate: float
) -> None:
    """``weight[rows] += rate * steps``, summed per row; a row's sum scaled down so that its
    occurrences times ``rate`` stay within :data:`MAX_ROW_RATE` (or one ``rate``)."""
    unique, inverse, counts = torch.unique(rows, return_inverse=True, return_counts=True)
    summed = torch.zeros(len(unique), weight.shape[1], device=weight.device, dtype=weight.dtype)
    summed.index_add_(0, inverse, steps)
    total = counts.to(weight.dtype) * abs(rate)
    cap = max(abs(rate), MAX_ROW_RATE)
    scale = torch.clamp(cap / total, max=1.0) * rate
    weight.index_add_(0, unique, summed * scale[:, None])


# -- the planted corpus --------------------------------------------------------------------------

#: Synonym groups by topic: the shipped similarity set and corpus are generated from them.
PLANTED_GROUPS: Mapping[str, tuple[tuple[str, ...], ...]] = MappingProxyType(
    {
        "travel": (
            ("car", "automobile", "vehicle", "truck"),
            ("road", "street", "highway", "avenue"),
        ),
        "feeling": (
            ("happy", "glad", "cheerful", "joyful"),
            ("sad", "unhappy", "gloomy", "miserable"),
            ("angry", "furious", "irate", "mad"),
        ),
        "food": (
            ("bread", "loaf", "bun", "roll"),
            ("soup", "broth", "stew", "chowder"),
        ),
    }
)
#: Words every line draws from as well, like function words.
FILLER = (
    *("the", "a", "of", "and", "to", "in", "is", "it", "that"),
    *("was", "for", "on", "with", "as", "by", "at", "from", "this"),
)
SIMILARITY_SCORES = {"group": 9.0, "topic": 5.0, "other": 1.0}


def planted_similarity() -> list[tuple[str, str, float]]:
    """Every pair of planted words scored by construction: same group 9, topic 5, else 1."""
    placed = [
        (w, t, g)
        for t, groups in PLANTED_GROUPS.items()
        for g, ws in enumerate(groups)
        for w in ws
    ]
    rows = []
    for i, (a, topic_a, group_a) in enumerate(placed):
        for b, topic_b, group_b in placed[i + 1 :]:
            same_topic = topic_a == topic_b
            kind = (
                "group"
                if same_topic and group_a == group_b
                else "topic"
                if same_topic
                else "other"
            )
            rows.append((a, b, SIMILARITY_SCORES[kind]))
    return rows


def planted_corpus(n_lines: int, seed: int = 0, *, labelled: bool = False) -> list[str]:
    """Lines generated from the planted groups: each about one group, some of its topic.

    A line of 8-14 words draws each word from its group (half the time), another group of its
    topic (a fifth) or the filler words; so a group's words share contexts most, a topic's
    words some, and words of different topics only the filler. ``labelled`` starts each line
    with its group as a label, ``__label__<topic>-<group>`` (supervised mode's input); the
    words are the same either way.
    """
    rng = np.random.default_rng(seed)
    groups = [(t, g) for t, gs in PLANTED_GROUPS.items() for g in range(len(gs))]
    lines = []
    for _ in range(n_lines):
        topic, group = groups[rng.integers(len(groups))]
        own = PLANTED_GROUPS[topic][group]
        others = [w for g, ws in enumerate(PLANTED_GROUPS[topic]) if g != group for w in ws]
        words = []
        for _ in range(int(rng.integers(8, 15))):
            draw = rng.random()
            pool = own if draw < 0.5 else others if draw < 0.7 else FILLER
            words.append(pool[rng.integers(len(pool))])
        label = f"{LABEL_PREFIX}{topic}-{group} " if labelled else ""
        lines.append(label + " ".join(words))
    return lines


# -- saving and loading --------------------------------------------------------------------------


def _save(model: SupervisedModel | WordVectors, mode: str, output_dir: Path) -> None:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(model, SupervisedModel):
        meta = {
            "mode": mode,
            "words": list(model.words),
            "labels": list(model.labels),
            "word_ngrams": model.word_ngrams,
            "buckets": model.buckets,
        }
        arrays = {
            "input_vectors": model.input_vectors,
            "output_vectors": model.output_vectors,
            "used_buckets": model.used_buckets,
        }
    else:
        meta = {
            "mode": mode,
            "words": list(model.words),
            "min_char": model.min_char,
            "max_char": model.max_char,
            "buckets": model.buckets,
        }
        arrays = {
            "vectors": model.vectors,
            "subword_vectors": model.subword_vectors,
            "used_buckets": model.used_buckets,
        }
        _write_vectors(model, output_dir / VECTORS_FILENAME)
    with (output_dir / MODEL_FILENAME).open("wb") as handle:
        np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]


def _write_vectors(model: WordVectors, path: Path) -> None:
    """word2vec's text format: a ``<words> <dim>`` line, then a word and its vector a line."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write(f"{len(model.words)} {model.vectors.shape[1]}\n")
        for word, vector in zip(model.words, model.vectors, strict=True):
            handle.write(word + " " + " ".join(f"{v:.6g}" for v in vector) + "\n")


def read_vectors(path: Path | str) -> dict[str, np.ndarray]:
    """The word vectors of a ``vectors.txt`` (with or without its header line)."""
    vectors = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines()):
        parts = line.split()
        if number == 0 and len(parts) == 2 and all(p.isdigit() for p in parts):
            continue
        if parts:
            vectors[parts[0]] = np.array([float(v) for v in parts[1:]])
    return vectors


def load(path: Path | str) -> SupervisedModel | WordVectors:
    """The model ``train`` saved in ``path`` (an output folder or the model file)."""
    path = Path(path)
    file = path / MODEL_FILENAME if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"no BlazingText model at {file}")
    with np.load(file, allow_pickle=False) as saved:
        meta = json.loads(str(saved["meta"]))
        if meta["mode"] == "supervised":
            return SupervisedModel(
                words=tuple(meta["words"]),
                labels=tuple(meta["labels"]),
                used_buckets=saved["used_buckets"],
                input_vectors=saved["input_vectors"],
                output_vectors=saved["output_vectors"],
                word_ngrams=int(meta["word_ngrams"]),
                buckets=int(meta["buckets"]),
            )
        return WordVectors(
            words=tuple(meta["words"]),
            vectors=saved["vectors"],
            subword_vectors=saved["subword_vectors"],
            used_buckets=saved["used_buckets"],
            min_char=int(meta["min_char"]),
            max_char=int(meta["max_char"]),
            buckets=int(meta["buckets"]),
        )


# -- checks --------------------------------------------------------------------------------------


def _check(
    values: Mapping[str, Any], raw: Mapping[str, str], channels: Mapping[str, Path]
) -> None:
    """Refuse what cannot work: a metric of the other mode, early stopping with no validation."""
    mode, problems = values["mode"], []
    supervised = mode == "supervised"
    objective = values.get("_tuning_objective_metric")
    if objective is not None:
        where = "hyperparameter '_tuning_objective_metric'"
        wanted = "validation:accuracy" if supervised else "train:mean_rho"
        if objective not in METRICS:
            problems.append(
                f"{where}: {objective!r} is not a metric of blazingtext; "
                f"known: {', '.join(METRICS)}"
            )
        elif objective != wanted:
            problems.append(f"{where}: mode {mode} reports {wanted}, not {objective}")
        elif supervised and "validation" not in channels:
            problems.append(f"{where}: validation:accuracy needs a 'validation' channel")
        elif not supervised and not values["evaluation"]:
            problems.append(f"{where}: train:mean_rho needs evaluation=true")
    if supervised and values["early_stopping"] and "validation" not in channels:
        problems.append("hyperparameter 'early_stopping': it needs a 'validation' channel")
    if mode == "batch_skipgram" and values["subwords"]:
        problems.append(
            "hyperparameter 'subwords': batch_skipgram does not learn subwords (SageMaker's "
            "neither); use mode skipgram or cbow, or subwords=false"
        )
    if values["max_char"] < values["min_char"]:
        problems.append(
            f"hyperparameters 'min_char' ({values['min_char']}) and 'max_char' "
            f"({values['max_char']}): max_char must be at least min_char"
        )
    if problems:
        raise HyperparameterError(problems)
    ignored = sorted(set(raw) & (_WORD2VEC_ONLY if supervised else _SUPERVISED_ONLY))
    if ignored:
        logger.info("blazingtext mode %s ignores %s", mode, ", ".join(ignored))


def _need_train(channels: Mapping[str, Path]) -> None:
    if "train" not in channels:
        got = ", ".join(repr(name) for name in channels) or "none"
        raise InputError(f"blazingtext needs a 'train' channel (got {got})")


# -- the algorithm -------------------------------------------------------------------------------


class BlazingTextAlgorithm:
    """SageMaker's built-in BlazingText (the ``blazingtext`` image)."""

    name = "blazingtext"
    hyperparameters: Mapping[str, HyperparameterSpec] = HYPERPARAMETERS
    metrics: Mapping[str, Direction] = METRICS
    tuning_ranges: Mapping[str, TuningRange] = TUNING_RANGES

    def train(
        self,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
    ) -> None:
        """Train in ``mode``, report every epoch, save the model in ``ctx.output_dir``.

        Raises:
            HyperparameterError: a hyperparameter is unknown, missing or invalid, or the
                objective or ``early_stopping`` needs what this request lacks.
            InputError: the ``train`` channel is missing or empty, a supervised line has no
                label (named by channel, file and line), or training diverged.
        """
        values = parse_hyperparameters(self.hyperparameters, hyperparameters)
        _check(values, hyperparameters, channels)
        _need_train(channels)
        device = torch_device(ctx.device)
        if values["mode"] == "supervised":
            self._supervised(values, channels, ctx, device)
        else:
            self._word2vec(values, channels, ctx, device)

    def _supervised(
        self,
        values: Mapping[str, Any],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
        device: torch.device,
    ) -> None:
        data = {
            name: read_labelled(name, channels[name])
            for name in ("train", "validation")
            if name in channels
        }
        configure_threads(supervised_batch(values["learning_rate"]) * values["vector_dim"] * 40)
        trainer = _SupervisedTrainer(values, data, device)
        try:
            self._supervised_epochs(trainer, values, ctx)
        except StopTraining:
            _save(trainer.model(), "supervised", ctx.output_dir)
            raise
        _save(trainer.model(), "supervised", ctx.output_dir)

    def _supervised_epochs(
        self, trainer: _SupervisedTrainer, values: Mapping[str, Any], ctx: TrainingContext
    ) -> None:
        best, since_best, start = -1.0, 0, 1
        resumed = restore_training_state(ctx, "blazingtext", **trainer.checkpointed())
        if resumed is not None:
            start, saved = resumed[0] + 1, resumed[1]
            trainer.steps, best, since_best = saved["steps"], saved["best"], saved["since_best"]
            if saved["stopped"]:
                return  # early stopping had ended it: the checkpoint is the final model
        for epoch in range(start, values["epochs"] + 1):
            if ctx.should_stop():
                break
            trainer.train_epoch()
            metrics = {"train:accuracy": trainer.accuracy("train")}
            if "validation" in trainer.sets:
                metrics["validation:accuracy"] = trainer.accuracy("validation")
            _check_finite(trainer.embedding.weight, epoch)
            ctx.report(epoch, **metrics)
            stopped = False
            if values["early_stopping"]:
                accuracy = metrics["validation:accuracy"]
                best, since_best = (accuracy, 0) if accuracy > best else (best, since_best + 1)
                stopped = epoch >= values["min_epochs"] and since_best >= values["patience"]
            if wants_epoch_checkpoints(ctx):
                extra = {
                    "steps": trainer.steps,
                    "best": best,
                    "since_best": since_best,
                    "stopped": stopped,
                }
                save_training_state(
                    ctx, "blazingtext", epoch, **trainer.checkpointed(), extra=extra
                )
            if stopped:
                logger.info("blazingtext: early stopping at epoch %d (best %.4f)", epoch, best)
                break

    def _word2vec(
        self,
        values: Mapping[str, Any],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
        device: torch.device,
    ) -> None:
        sentences = read_sentences("train", channels["train"])
        per_pair = values["vector_dim"] * (values["negative_samples"] + 1) * 6
        configure_threads(WORD2VEC_BATCH * per_pair)
        trainer = _Word2VecTrainer(values, sentences, device)
        sets = [read_similarity()] if values["evaluation"] else []
        start = 1
        resumed = restore_training_state(ctx, "blazingtext", **trainer.checkpointed())
        if resumed is not None:
            start = resumed[0] + 1
            trainer.rng.bit_generator.state = resumed[1]["rng"]
            trainer.done = float(resumed[1]["done"])
        try:
            for epoch in range(start, values["epochs"] + 1):
                if ctx.should_stop():
                    break
                trainer.train_epoch()
                _check_finite(trainer.input, epoch)
                rho = mean_rho(trainer.model(), sets) if sets else math.nan
                metrics = {"train:mean_rho": rho} if math.isfinite(rho) else {}
                if sets and not metrics:
                    logger.warning(
                        "blazingtext: no similarity pair has both words in the vocabulary"
                    )
                ctx.report(epoch, **metrics)
                if wants_epoch_checkpoints(ctx):
                    extra = {"rng": trainer.rng.bit_generator.state, "done": trainer.done}
                    save_training_state(
                        ctx, "blazingtext", epoch, **trainer.checkpointed(), extra=extra
                    )
        except StopTraining:
            _save(trainer.model(), values["mode"], ctx.output_dir)
            raise
        _save(trainer.model(), values["mode"], ctx.output_dir)

    def load(self, path: Path | str) -> SupervisedModel | WordVectors:
        """The model a trial saved; ``path`` is its output folder or the model file."""
        return load(path)


def _check_finite(weight: torch.Tensor, epoch: int) -> None:
    if not bool(torch.isfinite(weight).all()):
        msg = (
            f"blazingtext diverged at epoch {epoch}: the vectors are no longer finite; "
            "lower learning_rate"
        )
        raise InputError(msg)


ALGORITHM = BlazingTextAlgorithm()
