"""k-nearest neighbours as SageMaker's built-in k-NN algorithm runs it, searched exactly in torch.

Training samples ``sample_size`` rows of the ``train`` channel (all of them when there are fewer),
optionally reduces their dimension (``sign``: a random ±1 projection; ``fjlt``: the fast
Johnson-Lindenstrauss transform, here its subsampled randomised Hadamard form), and keeps them as
the index. With a ``test`` channel it then predicts every test row from its ``k`` nearest
neighbours (majority vote for ``classifier``, mean label for ``regressor``) and reports
``test:accuracy`` or ``test:mse`` once, as epoch 1 (k-NN has no epochs).

Search is brute force in torch on ``ctx.device``: distances by matrix products, in blocks of
queries, then ``topk``. That is exactly ``faiss.Flat``. SageMaker's approximate indexes
(``faiss.IVFFlat``, ``faiss.IVFPQ``) are accepted with their parameters
(``faiss_index_ivf_nlists``, ``faiss_index_pq_m``), which are validated, but the search stays
exact: results are identical to or better than an approximate index's, and on the data sizes
one machine holds a GPU matmul is fast enough. faiss itself is not used: its PyPI wheels are
community builds, the GPU ones each tied to one CUDA version, while a matmul and ``topk`` run on
every device the installed torch supports, with no further native dependency.

Tied votes are broken towards the label of the nearest neighbour among the tied labels.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse

from algorithms.base import (
    Direction,
    HyperparameterError,
    HyperparameterSpec,
    InputError,
    TrainingContext,
    TuningRange,
    integer,
    parse_hyperparameters,
)
from algorithms.data import Features, load_channel
from algorithms.kmeans import AutoOrIntSpec

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

#: The model's file name in the output folder.
MODEL_FILENAME = "knn-model.npz"

#: Seed of the row sample and of the random projections (SageMaker's k-NN takes no seed).
SEED = 0

METRICS: Mapping[str, Direction] = MappingProxyType(
    {"test:accuracy": "Maximize", "test:mse": "Minimize"}
)
_METRIC_OF_PREDICTOR = {"classifier": "test:accuracy", "regressor": "test:mse"}

INDEX_TYPES = ("faiss.Flat", "faiss.IVFFlat", "faiss.IVFPQ")
INDEX_METRICS = ("L2", "INNER_PRODUCT", "COSINE")
PQ_M_VALUES = (1, 2, 3, 4, 8, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 96)


def _positive_int(description: str, *, required: bool = False, default: Any = None) -> Any:
    return HyperparameterSpec(
        "int", default, required=required, min_value=1, description=description
    )


#: SageMaker k-NN's hyperparameters ("k-NN Hyperparameters" in the developer guide).
HYPERPARAMETERS: Mapping[str, HyperparameterSpec] = MappingProxyType(
    {
        "feature_dim": _positive_int("Number of features in the input data.", required=True),
        "k": _positive_int("Number of nearest neighbours.", required=True),
        "predictor_type": HyperparameterSpec(
            "str",
            required=True,
            choices=("classifier", "regressor"),
            description="classifier: majority vote of the neighbours; regressor: their mean.",
        ),
        "sample_size": _positive_int(
            "Number of training rows sampled into the index.", required=True
        ),
        "dimension_reduction_type": HyperparameterSpec(
            "str",
            None,
            choices=("sign", "fjlt"),
            description="sign: random ±1 projection; fjlt: fast Johnson-Lindenstrauss transform.",
        ),
        "dimension_reduction_target": _positive_int(
            "Target dimension; required with dimension_reduction_type, less than feature_dim."
        ),
        "index_type": HyperparameterSpec(
            "str",
            "faiss.Flat",
            choices=INDEX_TYPES,
            description="Index type; every type is searched exactly here (faiss.Flat).",
        ),
        "index_metric": HyperparameterSpec(
            "str",
            "L2",
            choices=INDEX_METRICS,
            description="Distance: Euclidean, inner product (larger is nearer) or cosine.",
        ),
        "faiss_index_ivf_nlists": AutoOrIntSpec(
            "int",
            None,
            min_value=1,
            description="IVF centroids: 'auto' (sqrt(sample_size)) or a positive integer; "
            "validated, not used (exact search).",
        ),
        "faiss_index_pq_m": HyperparameterSpec(
            "int",
            None,
            description="IVFPQ sub-vectors, one of " + ", ".join(map(str, PQ_M_VALUES)) + "; "
            "validated, not used (exact search).",
        ),
        "mini_batch_size": _positive_int(
            "Rows per batch when searching (test rows per block).", default=5000
        ),
    }
)


#: AMT's recommended ranges (its tuning page; AMT.md 17.2), what Autotune tunes over.
TUNING_RANGES: Mapping[str, TuningRange] = MappingProxyType(
    {
        "k": integer(1, 1024),
        "sample_size": integer(256, 20000000, "Logarithmic"),
    }
)


# -- model ---------------------------------------------------------------------------------------

#: Query-by-point scores computed at once: 2M float32 (8 MB, about an L2/L3 cache) on a CPU,
#: 64M on a GPU, where bigger blocks keep the device busy.
SCORE_BLOCK_CPU = 1 << 21
SCORE_BLOCK_GPU = 1 << 26
#: Points per group in the two-step top-k search (see _SearchIndex).
GROUP = 64


@dataclass(frozen=True)
class KNNModel:
    """The index of a trained k-NN model; ``predict`` takes rows shaped like the training data.

    ``points`` are the sampled training rows after dimension reduction, ``labels`` their
    labels. ``projection`` is a ``(feature_dim, target)`` matrix for ``sign``; for ``fjlt``
    ``signs`` (length ``padded_dim``) and ``coordinates`` (the kept Hadamard coordinates) with
    ``scale`` define the transform.
    """

    points: np.ndarray
    labels: np.ndarray
    k: int
    predictor_type: str
    index_metric: str
    feature_dim: int
    reduction: str | None = None
    projection: np.ndarray | None = None
    signs: np.ndarray | None = None
    coordinates: np.ndarray | None = None
    batch_rows: int = 5000
    device: str = "cpu"
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def predict(self, X: Features) -> np.ndarray:
        """Predicted labels (classifier) or values (regressor) for the rows of ``X``."""
        import torch

        X = _dense(X)
        if X.ndim != 2 or X.shape[1] != self.feature_dim:
            msg = f"X must have {self.feature_dim} columns (feature_dim), got shape {X.shape}"
            raise InputError(msg)
        device = torch.device(self.device)
        index = self._index(device)
        labels = self._cache.setdefault(
            f"labels@{device}", torch.as_tensor(self.labels, dtype=torch.float64, device=device)
        )
        outputs = []
        for start in range(0, X.shape[0], self.batch_rows):
            queries = torch.as_tensor(
                X[start : start + self.batch_rows], dtype=torch.float32, device=device
            )
            neighbours = self._neighbours(self._reduce(queries), index)
            outputs.append(self._combine(labels[neighbours]).cpu().numpy())
        if not outputs:
            return np.zeros(0)
        return np.concatenate(outputs)

    def kneighbors(self, X: Features) -> np.ndarray:
        """Row numbers (into ``points``) of the ``k`` nearest neighbours of each row of ``X``."""
        import torch

        device = torch.device(self.device)
        queries = torch.as_tensor(_dense(X), dtype=torch.float32, device=device)
        return self._neighbours(self._reduce(queries), self._index(device)).cpu().numpy()

    # -- internals ------------------------------------------------------------------------------

    def _index(self, device: Any) -> Any:
        import torch

        key = f"index@{device}"
        if key not in self._cache:
            points = torch.as_tensor(self.points, dtype=torch.float32, device=device)
            if self.index_metric == "COSINE":
                points = _unit_rows(points)
            self._cache[key] = _SearchIndex.build(points, self.index_metric)
        return self._cache[key]

    def _reduce(self, queries: torch.Tensor) -> torch.Tensor:
        import torch

        if self.reduction == "sign":
            assert self.projection is not None
            return queries @ torch.as_tensor(self.projection, device=queries.device)
        if self.reduction == "fjlt":
            assert self.signs is not None and self.coordinates is not None
            return fjlt(queries, self.signs, self.coordinates)
        return queries

    def _neighbours(self, queries: Any, index: _SearchIndex) -> Any:
        if self.index_metric == "COSINE":
            queries = _unit_rows(queries)
        return index.nearest(queries, min(self.k, index.n_points))

    def _combine(self, neighbour_labels: torch.Tensor) -> torch.Tensor:
        import torch

        if self.predictor_type == "regressor":
            return neighbour_labels.mean(dim=1)
        classes, codes = torch.unique(neighbour_labels, return_inverse=True)
        rows, k = codes.shape
        votes = torch.zeros(rows, len(classes), dtype=torch.float64, device=codes.device)
        votes.scatter_add_(1, codes, torch.ones_like(codes, dtype=torch.float64))
        # Ties go to the label whose first vote came from the nearest neighbour.
        first = torch.full(
            (rows, len(classes)), float(k), dtype=torch.float64, device=codes.device
        )
        ranks = torch.arange(k, dtype=torch.float64, device=codes.device).expand(rows, k)
        first.scatter_reduce_(1, codes, ranks, reduce="amin")
        best = (votes * (k + 1) - first).argmax(dim=1)
        return classes[best]


@dataclass(frozen=True)
class _SearchIndex:
    """Brute-force k-nearest search over the index points, blocked for speed.

    Scores are "larger is nearer": ``2 q.x - ||x||^2`` for L2 (``||q - x||^2`` without the
    ``||q||^2`` that does not change the order), ``q.x`` for INNER_PRODUCT and COSINE (rows
    already unit length), computed by one fused ``addmm`` per block of query rows.

    Two choices make it as fast as scikit-learn's brute force on a CPU (tests/benchmarks/
    bench_algorithms.py): query rows are scored a few at a time so a block of scores stays in
    cache (scoring a whole mini-batch at once was memory bound, three times slower), and the
    top k are found in two steps: the points are cut into groups of :data:`GROUP` and only the
    k groups with the largest maxima are searched. That is exact: each of the k best scores
    is at least the k-th largest group maximum, so it lies in one of those k groups. Padding
    points score minus infinity, so they are never chosen.
    """

    points: torch.Tensor  # (groups * GROUP, d), zero rows at the end
    bias: torch.Tensor  # per point: -||x||^2 (L2) or 0, minus infinity for padding
    alpha: float
    n_points: int

    @staticmethod
    def build(points: torch.Tensor, metric: str) -> _SearchIndex:
        import torch

        n = points.shape[0]
        pad = -n % GROUP
        bias = -(points * points).sum(dim=1) if metric == "L2" else torch.zeros_like(points[:, 0])
        padded_points = torch.cat([points, points.new_zeros(pad, points.shape[1])])
        padded_bias = torch.cat([bias, bias.new_full((pad,), -math.inf)])
        alpha = 2.0 if metric == "L2" else 1.0
        return _SearchIndex(padded_points, padded_bias, alpha, n)

    def nearest(self, queries: torch.Tensor, k: int) -> torch.Tensor:
        """Row numbers of the ``k`` best points for each query row, best first."""
        import torch

        n_padded = self.points.shape[0]
        groups = n_padded // GROUP
        budget = SCORE_BLOCK_GPU if queries.device.type == "cuda" else SCORE_BLOCK_CPU
        step = max(1, budget // max(n_padded, 1))
        found = []
        for start in range(0, queries.shape[0], step):
            block = queries[start : start + step]
            scores = torch.addmm(self.bias, block, self.points.T, alpha=self.alpha)
            if k * GROUP * 4 > n_padded:  # few groups: the plain search is as quick
                found.append(scores.topk(k, dim=1, sorted=True).indices)
                continue
            rows = scores.shape[0]
            grouped = scores.view(rows, groups, GROUP)
            best_groups = grouped.amax(dim=2).topk(k, dim=1).indices  # (rows, k)
            candidates = grouped.gather(1, best_groups[:, :, None].expand(-1, -1, GROUP))
            order = candidates.reshape(rows, k * GROUP).topk(k, dim=1, sorted=True).indices
            found.append(best_groups.gather(1, order // GROUP) * GROUP + order % GROUP)
        if not found:
            return torch.zeros((0, k), dtype=torch.long, device=queries.device)
        return torch.cat(found)


def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _dense(X: Features) -> np.ndarray:
    if scipy.sparse.issparse(X):
        return scipy.sparse.csr_matrix(X).toarray().astype(np.float32)
    return np.asarray(X, dtype=np.float32)


def fjlt(x: torch.Tensor, signs: np.ndarray, coordinates: np.ndarray) -> torch.Tensor:
    """The subsampled randomised Hadamard transform of the rows of ``x`` (a torch tensor).

    Rows are zero-padded to ``len(signs)`` (a power of two), multiplied by ``signs``, passed
    through the orthonormal Walsh-Hadamard transform, and the ``coordinates`` are kept, scaled
    by ``sqrt(padded / target)`` so that squared distances are preserved in expectation.
    """
    import torch

    padded = len(signs)
    rows, columns = x.shape
    y = torch.zeros(rows, padded, dtype=x.dtype, device=x.device)
    y[:, :columns] = x
    y = y * torch.as_tensor(signs, dtype=x.dtype, device=x.device)
    h = 1
    while h < padded:  # in-place butterflies of the fast Walsh-Hadamard transform
        y = y.view(rows, padded // (2 * h), 2, h)
        y = torch.stack((y[:, :, 0] + y[:, :, 1], y[:, :, 0] - y[:, :, 1]), dim=2)
        h *= 2
    y = y.reshape(rows, padded) / math.sqrt(padded)
    index = torch.as_tensor(coordinates, dtype=torch.long, device=x.device)
    return y[:, index] * math.sqrt(padded / len(coordinates))


def load(path: Path | str, *, device: str = "cpu") -> KNNModel:
    """The model that ``train`` saved in ``path`` (an output folder or the model file)."""
    path = Path(path)
    file = path / MODEL_FILENAME if path.is_dir() else path
    if not file.is_file():
        msg = f"no k-NN model at {file}"
        raise FileNotFoundError(msg)
    with np.load(file, allow_pickle=False) as saved:
        arrays = {name: saved[name] for name in saved.files}
    reduction = str(arrays["reduction"]) or None
    return KNNModel(
        points=arrays["points"],
        labels=arrays["labels"],
        k=int(arrays["k"]),
        predictor_type=str(arrays["predictor_type"]),
        index_metric=str(arrays["index_metric"]),
        feature_dim=int(arrays["feature_dim"]),
        reduction=reduction,
        projection=arrays.get("projection"),
        signs=arrays.get("signs"),
        coordinates=arrays.get("coordinates"),
        batch_rows=int(arrays["batch_rows"]),
        device=device,
    )


def _save(model: KNNModel, output_dir: Path) -> None:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {
        "points": model.points,
        "labels": model.labels,
        "k": model.k,
        "predictor_type": model.predictor_type,
        "index_metric": model.index_metric,
        "feature_dim": model.feature_dim,
        "reduction": model.reduction or "",
        "batch_rows": model.batch_rows,
    }
    for name in ("projection", "signs", "coordinates"):
        value = getattr(model, name)
        if value is not None:
            arrays[name] = value
    with (output_dir / MODEL_FILENAME).open("wb") as handle:
        np.savez(handle, **arrays)


# -- training ------------------------------------------------------------------------------------


class KNNAlgorithm:
    """SageMaker's built-in k-NN algorithm (the ``knn`` image)."""

    name = "knn"
    hyperparameters: Mapping[str, HyperparameterSpec] = HYPERPARAMETERS
    metrics: Mapping[str, Direction] = METRICS
    tuning_ranges: Mapping[str, TuningRange] = TUNING_RANGES

    def train(
        self,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
    ) -> None:
        """Build the index from the ``train`` channel, score the ``test`` channel, save it.

        Raises:
            HyperparameterError: a hyperparameter is unknown, missing, invalid, or does not fit
                the others or the data (``feature_dim``), or the objective needs a ``test``
                channel that is missing.
            InputError: the ``train`` channel is missing or its rows are unlabelled.
        """
        values = parse_hyperparameters(self.hyperparameters, hyperparameters)
        _check(values, channels)
        from algorithms.torch_util import configure_threads, torch_device

        configure_threads()
        device = torch_device(ctx.device)
        if "train" not in channels:
            msg = "k-NN needs a 'train' channel (got " + (", ".join(channels) or "none") + ")"
            raise InputError(msg)
        X, y = load_channel(channels["train"])
        _check_data(X, y, "train", values)
        model = build(X, y, values, device=str(device))
        _save(model, ctx.output_dir)
        if "test" in channels:
            X_test, y_test = load_channel(channels["test"])
            _check_data(X_test, y_test, "test", values)
            predictions = model.predict(X_test)
            metric = _METRIC_OF_PREDICTOR[values["predictor_type"]]
            if values["predictor_type"] == "classifier":
                value = float(np.mean(predictions == y_test))
            else:
                value = float(np.mean((predictions - y_test) ** 2))
            ctx.report(1, **{metric: value})

    def load(self, path: Path | str, *, device: str = "cpu") -> KNNModel:
        """The model a trial saved; ``path`` is its output folder or the model file."""
        return load(path, device=device)


ALGORITHM = KNNAlgorithm()


def build(X: Features, y: np.ndarray, values: Mapping[str, Any], *, device: str) -> KNNModel:
    """The index of ``values`` (parsed hyperparameters) over the rows of ``X``."""
    import torch

    rng = np.random.default_rng(SEED)
    n_rows, feature_dim = X.shape
    sample_size = values["sample_size"]
    if sample_size < n_rows:
        rows = np.sort(rng.choice(n_rows, size=sample_size, replace=False))
        X, y = X[rows], y[rows]
    elif sample_size > n_rows:
        logger.info(
            "sample_size %d exceeds the %d training rows: all rows kept", sample_size, n_rows
        )
    reduction = values["dimension_reduction_type"]
    target = values["dimension_reduction_target"]
    projection = signs = coordinates = None
    if reduction == "sign":
        projection = (rng.integers(0, 2, size=(feature_dim, target)) * 2 - 1).astype(np.float32)
        projection /= np.float32(math.sqrt(target))
    elif reduction == "fjlt":
        padded = 1 << max(0, math.ceil(math.log2(feature_dim)))
        signs = (rng.integers(0, 2, size=padded) * 2 - 1).astype(np.float32)
        coordinates = np.sort(rng.choice(padded, size=target, replace=False)).astype(np.int64)
    unreduced = KNNModel(
        points=np.zeros((0, feature_dim), np.float32),
        labels=np.zeros(0),
        k=values["k"],
        predictor_type=values["predictor_type"],
        index_metric=values["index_metric"],
        feature_dim=feature_dim,
        reduction=reduction,
        projection=projection,
        signs=signs,
        coordinates=coordinates,
        batch_rows=values["mini_batch_size"],
        device=device,
    )
    blocks = []
    dense = _dense(X)
    for start in range(0, dense.shape[0], values["mini_batch_size"]):
        block = torch.as_tensor(
            dense[start : start + values["mini_batch_size"]], dtype=torch.float32, device=device
        )
        blocks.append(unreduced._reduce(block).cpu().numpy())
    points = np.concatenate(blocks).astype(np.float32)
    return KNNModel(
        points=points,
        labels=np.asarray(y, dtype=np.float64),
        k=unreduced.k,
        predictor_type=unreduced.predictor_type,
        index_metric=unreduced.index_metric,
        feature_dim=feature_dim,
        reduction=reduction,
        projection=projection,
        signs=signs,
        coordinates=coordinates,
        batch_rows=unreduced.batch_rows,
        device=device,
    )


def _check(values: Mapping[str, Any], channels: Mapping[str, Path]) -> None:
    """Checks that span hyperparameters (and the channels), all reported at once."""
    problems: list[str] = []
    reduction, target = values["dimension_reduction_type"], values["dimension_reduction_target"]
    if reduction is not None and target is None:
        problems.append(
            "hyperparameter 'dimension_reduction_target' is required when "
            f"dimension_reduction_type is {reduction} (an integer < feature_dim)"
        )
    if target is not None and target >= values["feature_dim"]:
        problems.append(
            f"hyperparameter 'dimension_reduction_target': got {target}, must be less than "
            f"feature_dim ({values['feature_dim']})"
        )
    pq_m = values["faiss_index_pq_m"]
    if pq_m is not None and pq_m not in PQ_M_VALUES:
        problems.append(
            f"hyperparameter 'faiss_index_pq_m': got {pq_m}, must be one of "
            + ", ".join(map(str, PQ_M_VALUES))
        )
    if values["index_type"] == "faiss.IVFPQ" and values["index_metric"] != "L2":
        problems.append(
            f"hyperparameter 'index_metric': {values['index_metric']} is not supported with "
            "index_type faiss.IVFPQ (use L2)"
        )
    objective = values.get("_tuning_objective_metric")
    if objective is not None:
        expected = _METRIC_OF_PREDICTOR[values["predictor_type"]]
        if objective not in METRICS:
            problems.append(
                f"hyperparameter '_tuning_objective_metric': {objective!r} is not a metric of "
                f"k-NN; known: {', '.join(METRICS)}"
            )
        elif objective != expected:
            problems.append(
                f"hyperparameter '_tuning_objective_metric': {objective} needs predictor_type "
                f"{'classifier' if objective == 'test:accuracy' else 'regressor'}; "
                f"a {values['predictor_type']} reports {expected}"
            )
        elif "test" not in channels:
            problems.append(
                f"hyperparameter '_tuning_objective_metric': {objective} needs a 'test' channel"
            )
    if problems:
        raise HyperparameterError(problems)


def _check_data(X: Features, y: np.ndarray, channel: str, values: Mapping[str, Any]) -> None:
    if X.shape[1] != values["feature_dim"]:
        msg = (
            f"hyperparameter 'feature_dim' is {values['feature_dim']} but the {channel} channel "
            f"has {X.shape[1]} features (after the label in the first column)"
        )
        raise HyperparameterError([msg])
    if np.isnan(y).any():
        row = int(np.flatnonzero(np.isnan(y))[0])
        msg = f"{channel} channel: row {row + 1} has no label; k-NN needs a label on every row"
        raise InputError(msg)
    if not scipy.sparse.issparse(X) and np.isnan(X).any():
        row = int(np.flatnonzero(np.isnan(X).any(axis=1))[0])
        msg = f"{channel} channel: row {row + 1} has a missing feature value; k-NN needs all"
        raise InputError(msg)
