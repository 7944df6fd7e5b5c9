"""What the torch-based algorithms share: device, threads, seeding, features on a device, metrics.

* :func:`torch_device` checks ``ctx.device`` ("cpu" or "cuda:N") against what torch can use.
* :func:`configure_threads` makes torch use ``OMP_NUM_THREADS`` threads when it is set, the way
  the engine shares a machine's cores among trials, and one thread for small mini-batches.
* :func:`seeded_generator` gives the one source of randomness a training run uses.
* :class:`DeviceFeatures` puts a channel's features (dense, or CSR) on the device once and hands
  out mini-batches as :class:`Rows`; ``Rows.matmul`` is a dense matmul or, for sparse rows, an
  ``embedding_bag`` sum weighted by the feature values, so sparse data never becomes dense.
* The metric functions take numpy arrays and return plain floats, named as SageMaker names them.

Determinism: with the same seed, training on the CPU repeats exactly (same thread count). CUDA
kernels (``embedding_bag``'s backward among them) may add in a different order from run to run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse

from algorithms.base import InputError
from algorithms.checkpoints import resume_state, save_epoch, wants_epoch_checkpoints
from algorithms.data import MissingDependencyError

try:
    import torch as torch  # re-exported: the algorithms take torch from here
    import torch.nn.functional as F  # noqa: N812 - torch's own convention
except ImportError as exc:  # pragma: no cover - torch is a test dependency
    msg = f"the torch-based algorithms need torch: pip install 'tuner[torch]' ({exc})"
    raise MissingDependencyError(msg) from exc

#: Rows evaluated at once when predicting a whole channel.
EVAL_BATCH_ROWS = 8192
#: Multiply-adds per mini-batch from which torch's intra-op threads pay off.
PARALLEL_WORK = 2**21
_DEFAULT_THREADS = torch.get_num_threads()


# -- device, threads, randomness -----------------------------------------------------------------


def torch_device(device: str) -> torch.device:
    """``device`` ("cpu", "cuda", "cuda:N") as a torch device; RuntimeError if CUDA is missing."""
    resolved = torch.device(device)
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            msg = f"the trial was given device {device!r} but torch finds no CUDA device"
            raise RuntimeError(msg)
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            msg = f"device {device!r}: torch sees only {torch.cuda.device_count()} CUDA devices"
            raise RuntimeError(msg)
    return resolved


def configure_threads(batch_work: float | None = None) -> int:
    """Set torch's intra-op threads for a run; returns the count in use.

    The limit is ``OMP_NUM_THREADS`` when set to a positive integer (the engine's way of sharing
    a machine's cores among trials; torch reads it only when it starts, and a warm worker runs
    trials with different shares), else torch's own default. Below :data:`PARALLEL_WORK`
    multiply-adds per mini-batch one thread is used: on small batches the threads' hand-offs
    cost more than they save, many times more on a busy machine.
    """
    text = os.environ.get("OMP_NUM_THREADS", "").strip()
    limit = int(text) if text.isdigit() and int(text) > 0 else _DEFAULT_THREADS
    threads = limit if batch_work is None or batch_work >= PARALLEL_WORK else 1
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def values_per_row(X: np.ndarray | scipy.sparse.spmatrix) -> float:
    """Mean stored values per row: columns of a dense matrix, non-zeros of a sparse one."""
    stored = scipy.sparse.csr_matrix(X).nnz if scipy.sparse.issparse(X) else np.asarray(X).size
    return stored / max(X.shape[0], 1)


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU generator for initialisation and shuffling (CPU, so CUDA runs draw the same)."""
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)
    return generator


def shuffled_batches(
    n_rows: int, batch_size: int, generator: torch.Generator, device: torch.device
) -> Iterator[torch.Tensor]:
    """Row indices of one epoch's mini-batches, in a fresh random order; the last may be short."""
    order = torch.randperm(n_rows, generator=generator).to(device)
    yield from torch.split(order, batch_size)


# -- features on a device ------------------------------------------------------------------------


@dataclass(frozen=True)
class Rows:
    """A mini-batch of feature rows: a dense ``[B, d]`` tensor, or sparse rows as bags.

    Sparse rows are ``indices`` (column of each stored value), ``offsets`` (where each row's
    values start) and ``values``, the layout of ``torch.nn.functional.embedding_bag``.
    """

    n_rows: int
    dense: torch.Tensor | None = None
    indices: torch.Tensor | None = None
    offsets: torch.Tensor | None = None
    values: torch.Tensor | None = None

    def matmul(self, weight: torch.Tensor) -> torch.Tensor:
        """``X @ weight`` for ``weight`` of shape ``[d, k]``: ``[B, k]``."""
        if self.dense is not None:
            return self.dense @ weight
        indices, offsets, values = self._bags()
        return F.embedding_bag(indices, weight, offsets, mode="sum", per_sample_weights=values)

    def squared(self) -> Rows:
        """The same rows with every value squared (factorization machines need ``X**2``)."""
        if self.dense is not None:
            return Rows(self.n_rows, dense=self.dense * self.dense)
        indices, offsets, values = self._bags()
        return Rows(self.n_rows, None, indices, offsets, values * values)

    def _bags(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.indices is None or self.offsets is None or self.values is None:
            msg = "Rows holds neither a dense tensor nor sparse bags"
            raise ValueError(msg)
        return self.indices, self.offsets, self.values


class DeviceFeatures:
    """A channel's features on a device, dense or CSR, handing out mini-batches of rows."""

    def __init__(
        self,
        X: np.ndarray | scipy.sparse.spmatrix,
        device: torch.device,
        *,
        n_columns: int | None = None,
    ) -> None:
        self.n_rows = X.shape[0]
        self.n_columns = X.shape[1] if n_columns is None else n_columns
        self.sparse = scipy.sparse.issparse(X)
        self.device = device
        if self.sparse:
            csr = scipy.sparse.csr_matrix(X)
            csr.sort_indices()
            self._indptr = torch.as_tensor(csr.indptr.astype(np.int64), device=device)
            self._indices = torch.as_tensor(csr.indices.astype(np.int64), device=device)
            self._values = torch.as_tensor(csr.data.astype(np.float32), device=device)
        else:
            self._dense = torch.as_tensor(np.asarray(X, dtype=np.float32), device=device)

    def rows(self, index: torch.Tensor) -> Rows:
        """The rows at ``index`` (a 1-D int64 tensor on this device)."""
        if not self.sparse:
            return Rows(len(index), dense=self._dense[index])
        starts = self._indptr[index]
        lengths = self._indptr[index + 1] - starts
        offsets = torch.cumsum(lengths, 0) - lengths
        total = int(lengths.sum())
        within = torch.arange(total, device=self.device) - torch.repeat_interleave(
            offsets, lengths, output_size=total
        )
        positions = torch.repeat_interleave(starts, lengths, output_size=total) + within
        return Rows(len(index), None, self._indices[positions], offsets, self._values[positions])

    def batches(self, batch_rows: int = EVAL_BATCH_ROWS) -> Iterator[Rows]:
        """All rows in order, ``batch_rows`` at a time (for evaluation)."""
        for start in range(0, self.n_rows, batch_rows):
            stop = min(start + batch_rows, self.n_rows)
            yield self.rows(torch.arange(start, stop, device=self.device))


def feature_moments(
    X: np.ndarray | scipy.sparse.spmatrix, n_rows: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each column over up to ``n_rows`` rows drawn by ``rng``.

    Zeros of a sparse matrix count as values. A constant column gets a standard deviation of 1
    so that dividing by it is harmless.
    """
    rows = X.shape[0]
    sample = np.sort(rng.choice(rows, size=n_rows, replace=False)) if rows > n_rows else None
    part = X[sample] if sample is not None else X
    if scipy.sparse.issparse(part):
        part = scipy.sparse.csr_matrix(part, dtype=np.float64)
        mean = np.asarray(part.mean(axis=0)).ravel()
        square = np.asarray(part.multiply(part).mean(axis=0)).ravel()
        std = np.sqrt(np.maximum(square - mean * mean, 0.0))
    else:
        dense = np.asarray(part, dtype=np.float64)
        mean, std = dense.mean(axis=0), dense.std(axis=0)
    std = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
    return mean, std


# -- checks of a channel's data ------------------------------------------------------------------


def check_features(channel: str, X: np.ndarray | scipy.sparse.spmatrix, algorithm: str) -> None:
    """InputError naming the first missing (NaN) or infinite feature value of ``channel``."""
    values = X.data if scipy.sparse.issparse(X) else np.asarray(X)
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    if scipy.sparse.issparse(X):
        indptr = scipy.sparse.csr_matrix(X).indptr
        where = f"row {int(np.searchsorted(indptr, np.flatnonzero(bad)[0], side='right'))}"
    else:
        row, column = np.argwhere(bad)[0]
        where = f"row {row + 1}, feature {column + 1}"
    msg = f"{channel} channel: {where} is missing or not finite; {algorithm} needs every value"
    raise InputError(msg)


def check_labels(channel: str, y: np.ndarray, predictor_type: str, n_classes: int = 2) -> None:
    """InputError naming the first label that is missing or does not fit ``predictor_type``.

    ``binary_classifier`` labels are 0 or 1, ``multiclass_classifier`` labels integers
    ``0 .. n_classes-1``; any finite number is a regressor's label.
    """
    missing = np.flatnonzero(~np.isfinite(y))
    if missing.size:
        msg = f"{channel} channel: row {missing[0] + 1} has no label (or it is not finite)"
        raise InputError(msg)
    if predictor_type == "binary_classifier":
        bad = np.flatnonzero((y != 0) & (y != 1))
        allowed = "labels must be 0 or 1 for binary_classifier"
    elif predictor_type == "multiclass_classifier":
        bad = np.flatnonzero((y < 0) | (y >= n_classes) | (y != np.floor(y)))
        allowed = f"labels must be integers 0 .. {n_classes - 1} (num_classes={n_classes})"
    else:
        return
    if bad.size:
        msg = (
            f"{channel} channel: label {y[bad[0]]:g} (row {bad[0] + 1}) is out of range; {allowed}"
        )
        raise InputError(msg)


def fit_width(
    channel: str, X: np.ndarray | scipy.sparse.spmatrix, width: int, *, what: str
) -> np.ndarray | scipy.sparse.spmatrix:
    """``X`` with ``width`` columns: sparse rows may be narrower (widened), dense ones must match.

    ``what`` names where ``width`` comes from in the error, e.g. "feature_dim is 30".
    """
    if X.shape[1] == width:
        return X
    if scipy.sparse.issparse(X) and X.shape[1] < width:
        X = scipy.sparse.csr_matrix(X)
        return scipy.sparse.csr_matrix((X.data, X.indices, X.indptr), shape=(X.shape[0], width))
    msg = f"the {channel} channel has {X.shape[1]} features but {what}"
    raise InputError(msg)


# -- metrics -------------------------------------------------------------------------------------


def f_beta(precision: float, recall: float, beta: float) -> float:
    """The F-beta score of a precision and a recall (0 when both are 0)."""
    denominator = beta * beta * precision + recall
    return 0.0 if denominator == 0 else (1 + beta * beta) * precision * recall / denominator


def binary_metrics(
    labels: np.ndarray, scores: np.ndarray, threshold: float, beta: float
) -> dict[str, float]:
    """accuracy, precision, recall, F-beta (positive class 1) and ROC AUC of scores vs 0/1 labels.

    A row is predicted positive when its score is above ``threshold``. ROC AUC is NaN when the
    labels hold a single class.
    """
    truth = labels > 0.5
    predicted = scores > threshold
    tp = float(np.sum(predicted & truth))
    precision = tp / max(float(predicted.sum()), 1.0)
    recall = tp / max(float(truth.sum()), 1.0)
    return {
        "binary_classification_accuracy": float(np.mean(predicted == truth)),
        "precision": precision,
        "recall": recall,
        "binary_f_beta": f_beta(precision, recall, beta),
        "roc_auc_score": roc_auc(truth, scores),
    }


def roc_auc(truth: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (ties count half), NaN without both classes."""
    n_pos = int(truth.sum())
    n_neg = truth.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    return float((ranks[truth].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def best_threshold(
    labels: np.ndarray,
    scores: np.ndarray,
    criterion: str,
    *,
    beta: float = 1.0,
    target: float = 0.8,
) -> tuple[float, float]:
    """The threshold on ``scores`` that is best by ``criterion``, and the criterion's value there.

    ``criterion`` is ``accuracy``, ``f_beta``, ``precision_at_target_recall`` (highest precision
    with recall >= ``target``) or ``recall_at_target_precision`` (highest recall with precision
    >= ``target``). Thresholds lie halfway between distinct scores, so predicting "above the
    threshold" splits the calibration rows exactly as the search did.
    """
    truth = labels > 0.5
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_truth = scores[order], truth[order]
    # Candidate cut k: the top k rows (k = 0 .. n) are positive; only cuts between distinct scores.
    last_of_run = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    tp = np.r_[0, np.cumsum(sorted_truth)[last_of_run]]
    predicted = np.r_[0, np.flatnonzero(last_of_run) + 1]
    n_pos = truth.sum()
    fp = predicted - tp
    precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 1.0)
    recall = tp / max(n_pos, 1)
    if criterion == "accuracy":
        value = (tp + (truth.size - n_pos - fp)) / truth.size
    elif criterion == "f_beta":
        b2 = beta * beta
        denominator = b2 * precision + recall
        value = np.where(denominator > 0, (1 + b2) * precision * recall / denominator, 0.0)
    elif criterion == "precision_at_target_recall":
        value = np.where(recall >= target, precision, -1.0)
    elif criterion == "recall_at_target_precision":
        value = np.where(precision >= target, recall, -1.0)
    else:
        msg = f"unknown threshold criterion {criterion!r}"
        raise ValueError(msg)
    best = int(np.argmax(value))
    distinct = sorted_scores[last_of_run]
    if best == 0:
        threshold = float(distinct[0]) + 1.0 if distinct.size else 0.0
    elif best == distinct.size:
        threshold = float(distinct[-1]) - 1.0
    else:
        threshold = float((distinct[best - 1] + distinct[best]) / 2)
    return threshold, max(float(value[best]), 0.0)


def multiclass_metrics(
    labels: np.ndarray, scores: np.ndarray, *, top_k: int, beta: float
) -> dict[str, float]:
    """Accuracy, top-k accuracy, macro precision/recall/F-beta and DCG of class scores.

    ``scores`` is ``[n, C]``. Macro averages run over the classes that occur in the labels or
    the predictions. DCG is the mean of ``1 / log2(1 + rank)`` of the true class's rank (1 best).
    """
    truth = labels.astype(np.int64)
    predicted = np.argmax(scores, axis=1)
    true_score = scores[np.arange(truth.size), truth]
    rank = 1 + np.sum(scores > true_score[:, None], axis=1)
    classes = np.union1d(truth, predicted)
    precisions, recalls, fs = [], [], []
    for c in classes:
        tp = float(np.sum((predicted == c) & (truth == c)))
        p = tp / max(float(np.sum(predicted == c)), 1.0)
        r = tp / max(float(np.sum(truth == c)), 1.0)
        precisions.append(p)
        recalls.append(r)
        fs.append(f_beta(p, r, beta))
    return {
        "multiclass_accuracy": float(np.mean(predicted == truth)),
        "multiclass_top_k_accuracy": float(np.mean(rank <= top_k)),
        "macro_precision": float(np.mean(precisions)),
        "macro_recall": float(np.mean(recalls)),
        "macro_f_beta": float(np.mean(fs)),
        "dcg": float(np.mean(1.0 / np.log2(1.0 + rank))),
    }


def regression_metrics(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """mse, rmse and absolute_loss (mean absolute error)."""
    residual = predictions - labels
    mse = float(np.mean(residual * residual))
    return {"mse": mse, "rmse": math.sqrt(mse), "absolute_loss": float(np.mean(np.abs(residual)))}


def binary_cross_entropy(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean log loss of probabilities of class 1 (clipped away from 0 and 1)."""
    p = np.clip(probabilities, 1e-15, 1 - 1e-15)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


def finite(metrics: dict[str, float]) -> dict[str, float]:
    """``metrics`` without NaN or infinite values (nothing to report for those)."""
    return {name: value for name, value in metrics.items() if math.isfinite(value)}


def prefixed(
    prefix: str, metrics: dict[str, float], names: Sequence[str] | None = None
) -> dict[str, float]:
    """``{"prefix:name": value}`` for the (given) names of ``metrics``."""
    keys = metrics if names is None else [name for name in names if name in metrics]
    return {f"{prefix}:{name}": metrics[name] for name in keys}


def save_training_state(
    ctx: Any,
    algorithm: str,
    epoch: int,
    *,
    modules: Mapping[str, torch.nn.Module] | None = None,
    tensors: Mapping[str, torch.Tensor] | None = None,
    optimizers: Sequence[torch.optim.Optimizer] = (),
    generator: torch.Generator | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Checkpoint a torch training job after ``epoch`` when it asked for per-epoch checkpoints
    (see :mod:`algorithms.checkpoints`): weights, optimizer state and every random state, so
    that a resumed job trains exactly as if it had never stopped."""
    if not wants_epoch_checkpoints(ctx):
        return
    state = {
        "algorithm": algorithm,
        "epoch": epoch,
        "modules": {name: module.state_dict() for name, module in (modules or {}).items()},
        "tensors": {name: tensor.detach() for name, tensor in (tensors or {}).items()},
        "optimizers": [optimizer.state_dict() for optimizer in optimizers],
        "generator": generator.get_state() if generator is not None else None,
        "torch_rng": torch.random.get_rng_state(),
        "extra": dict(extra or {}),
    }
    save_epoch(ctx, state)


def restore_training_state(
    ctx: Any,
    algorithm: str,
    *,
    modules: Mapping[str, torch.nn.Module] | None = None,
    tensors: Mapping[str, torch.Tensor] | None = None,
    optimizers: Sequence[torch.optim.Optimizer] = (),
    generator: torch.Generator | None = None,
) -> tuple[int, dict[str, Any]] | None:
    """Load the training job's checkpoint into the given objects: (its epoch, its ``extra``),
    or None when there is none (or it is not ``algorithm``'s)."""
    state = resume_state(ctx)
    if not isinstance(state, dict) or state.get("algorithm") != algorithm:
        return None
    for name, module in (modules or {}).items():
        module.load_state_dict(state["modules"][name])
    with torch.no_grad():
        for name, tensor in (tensors or {}).items():
            tensor.copy_(state["tensors"][name])
    for optimizer, saved in zip(optimizers, state["optimizers"], strict=True):
        optimizer.load_state_dict(saved)
    if generator is not None and state["generator"] is not None:
        generator.set_state(state["generator"])
    torch.random.set_rng_state(state["torch_rng"])
    return int(state["epoch"]), dict(state["extra"])
