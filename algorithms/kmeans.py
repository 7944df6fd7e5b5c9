"""k-means as SageMaker's built-in algorithm runs it: streaming mini-batches in torch, then Lloyd.

SageMaker's k-means (after Sculley, "Web-scale k-means clustering", WWW 2010, and the
"Fast and accurate k-means for large datasets" coreset idea) keeps ``k * extra_center_factor``
centres while it streams mini-batches over the data for ``epochs`` passes, then reduces them to
``k`` with a local weighted Lloyd's k-means (``local_lloyd_*`` hyperparameters). This module does
the same on ``ctx.device``:

* Initialisation picks the extra centres from a random sample of rows, uniformly (``random``)
  or by k-means++ seeding (``kmeans++``).
* Each mini-batch assigns its rows to the nearest centre and moves every centre to the weighted
  mean of its past and new points, each centre's step being ``1 / count`` as in Sculley's
  algorithm. With ``half_life_time_size`` > 0 past points lose half their weight after that
  many newer points, so the centres follow drifting data.
* After every epoch the centres are reduced to ``k`` (best of ``local_lloyd_num_trials`` weighted
  Lloyd runs, each at most ``local_lloyd_max_iter`` iterations, stopping when the relative
  change of the weighted SSD is below ``local_lloyd_tol``), and the epoch is reported:
  ``train:msd`` (the mean squared distance of each training row to its nearest centre as the
  stream saw it) and, with a ``test`` channel, ``test:msd`` and/or ``test:ssd`` of the ``k``
  centres as ``eval_metrics`` asks (the tuning objective is always among them).

The ``k`` centres of the last epoch are the model. The data's first CSV column is the label, as
in SageMaker's CSV format, and is not a feature; when ``feature_dim`` is one more than the
remaining columns, the file is taken to have no label column (SageMaker's ``label_size=0``).
Sparse input is densified one mini-batch at a time.

``force_dense``, which the SageMaker Python SDK's ``KMeans`` estimator always sends as ``True``
("KMeans requires this hp to fit on Record objects", ``sagemaker/amazon/kmeans.py``), is
accepted as a boolean and ignored: every mini-batch is dense here whatever it says.

Checkpoints (when the training job asks for them, :mod:`algorithms.checkpoints`): after every
epoch's report, the streaming centres and their counts, the epoch's ``k`` centres and the
generator's state (the shuffles, the reductions' seeding). A job run again resumes after that
epoch exactly as if it had never stopped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
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
    StopTraining,
    TrainingContext,
    TuningRange,
    categorical,
    integer,
    parse_hyperparameters,
    parse_name_list,
)
from algorithms.checkpoints import wants_epoch_checkpoints
from algorithms.data import Features, load_channel

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

#: The model's file name in the output folder.
MODEL_FILENAME = "kmeans-model.npz"

#: Seed of sampling, initialisation and shuffling (SageMaker's k-means takes no seed).
SEED = 0

METRICS: Mapping[str, Direction] = MappingProxyType(
    {"test:msd": "Minimize", "test:ssd": "Minimize", "train:msd": "Minimize"}
)
EVAL_METRICS = ("msd", "ssd")


@dataclass(frozen=True)
class AutoOrIntSpec(HyperparameterSpec):
    """An integer hyperparameter that also takes ``auto`` (parsed as None: decided at training).

    Its kind is ``int`` so that AMT's IntegerParameterRanges can tune it, as AMT tunes
    ``extra_center_factor``.
    """

    def allowed(self) -> str:
        return "'auto' or " + super().allowed()

    def parse(self, name: str, raw: object) -> Any:
        if str(raw).strip().lower() == "auto":
            return None
        try:
            return super().parse(name, raw)
        except ValueError:
            msg = f"hyperparameter {name!r}: got {raw!r}, must be {self.allowed()}"
            raise ValueError(msg) from None


def _auto_or_int(description: str) -> HyperparameterSpec:
    return AutoOrIntSpec("int", None, min_value=1, description=description)


#: SageMaker k-means' hyperparameters ("K-means Hyperparameters" in the developer guide), plus
#: ``force_dense``, which the SageMaker Python SDK's KMeans estimator sends.
HYPERPARAMETERS: Mapping[str, HyperparameterSpec] = MappingProxyType(
    {
        "feature_dim": HyperparameterSpec(
            "int", required=True, min_value=1, description="Number of features in the input."
        ),
        # Not on the developer guide's page; the SDK's KMeans estimator always sends it.
        "force_dense": HyperparameterSpec(
            "bool",
            True,
            description="Densify the input (the SageMaker SDK always sends True); accepted, "
            "ignored: mini-batches are always dense here.",
        ),
        "k": HyperparameterSpec(
            "int", required=True, min_value=1, description="Number of clusters."
        ),
        "epochs": HyperparameterSpec(
            "int", 1, min_value=1, description="Passes over the training data."
        ),
        "eval_metrics": HyperparameterSpec(
            "str",
            '["msd"]',
            description='Test metrics to report: a JSON list such as ["msd", "ssd"] '
            "(a comma-separated list is accepted too).",
        ),
        "extra_center_factor": _auto_or_int(
            "Centres kept while streaming, as a multiple of k: 'auto' or a positive integer "
            "(auto: ceil(ln(rows) / 2), between 2 and 10).",
        ),
        "half_life_time_size": HyperparameterSpec(
            "int",
            0,
            min_value=0,
            description="Points after which a point's weight halves; 0: no decay.",
        ),
        "init_method": HyperparameterSpec(
            "str",
            "random",
            choices=("random", "kmeans++"),
            description="How the streaming centres are initialised.",
        ),
        "local_lloyd_init_method": HyperparameterSpec(
            "str",
            "kmeans++",
            choices=("random", "kmeans++"),
            description="Initialisation of the final Lloyd runs.",
        ),
        "local_lloyd_max_iter": HyperparameterSpec(
            "int", 300, min_value=1, description="Iterations of each final Lloyd run."
        ),
        "local_lloyd_num_trials": _auto_or_int(
            "Final Lloyd runs, best kept: 'auto' (10) or a positive integer."
        ),
        "local_lloyd_tol": HyperparameterSpec(
            "float",
            0.0001,
            min_value=0,
            max_value=1,
            description="Relative SSD change that ends a final Lloyd run.",
        ),
        "mini_batch_size": HyperparameterSpec(
            "int", 5000, min_value=1, description="Rows per mini-batch."
        ),
    }
)


#: AMT's recommended ranges (its tuning page; AMT.md 17.2), what Autotune tunes over.
TUNING_RANGES: Mapping[str, TuningRange] = MappingProxyType(
    {
        "epochs": integer(1, 10),
        "extra_center_factor": integer(4, 10),
        "init_method": categorical("kmeans++", "random"),
        "mini_batch_size": integer(3000, 15000),
    }
)


# -- model ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KMeansModel:
    """The ``k`` cluster centres; ``predict`` gives each row's nearest centre."""

    centers: np.ndarray  # (k, feature_dim)

    def predict(self, X: Features) -> np.ndarray:
        """Index of the closest centre (``closest_cluster``) for every row of ``X``."""
        return np.argmin(self.distances(X), axis=1)

    def distances(self, X: Features) -> np.ndarray:
        """Euclidean distance of every row of ``X`` to every centre, ``(rows, k)``."""
        if scipy.sparse.issparse(X):
            dense = scipy.sparse.csr_matrix(X).toarray().astype(np.float64)
        else:
            dense = np.asarray(X, dtype=np.float64)
        if dense.ndim != 2 or dense.shape[1] != self.centers.shape[1]:
            msg = f"X must have {self.centers.shape[1]} columns, got shape {dense.shape}"
            raise InputError(msg)
        squared = (
            (dense * dense).sum(axis=1)[:, None]
            - 2 * dense @ self.centers.T
            + (self.centers * self.centers).sum(axis=1)[None, :]
        )
        return np.sqrt(np.maximum(squared, 0.0))


def load(path: Path | str) -> KMeansModel:
    """The model that ``train`` saved in ``path`` (an output folder or the model file)."""
    path = Path(path)
    file = path / MODEL_FILENAME if path.is_dir() else path
    if not file.is_file():
        msg = f"no k-means model at {file}"
        raise FileNotFoundError(msg)
    with np.load(file, allow_pickle=False) as saved:
        return KMeansModel(centers=np.array(saved["centers"], dtype=np.float64))


# -- training ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    k: int
    feature_dim: int
    epochs: int
    mini_batch_size: int
    extra_center_factor: int | None  # None: auto, decided from the number of rows
    half_life_time_size: int
    init_method: str
    local_init_method: str
    local_max_iter: int
    local_num_trials: int
    local_tol: float
    eval_metrics: tuple[str, ...]


class KMeansAlgorithm:
    """SageMaker's built-in k-means algorithm (the ``kmeans`` image)."""

    name = "kmeans"
    hyperparameters: Mapping[str, HyperparameterSpec] = HYPERPARAMETERS
    metrics: Mapping[str, Direction] = METRICS
    tuning_ranges: Mapping[str, TuningRange] = TUNING_RANGES

    def train(
        self,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
    ) -> None:
        """Cluster the ``train`` channel, report every epoch, save the ``k`` centres.

        Raises:
            HyperparameterError: a hyperparameter is unknown, missing or invalid, or does not
                fit the data (``feature_dim``, ``k`` larger than the rows), or the objective
                needs a missing ``test`` channel.
            InputError: the ``train`` channel is missing or has missing values.
        """
        values = parse_hyperparameters(self.hyperparameters, hyperparameters)
        plan = _plan(values, channels)
        import torch

        from algorithms.torch_util import (
            configure_threads,
            restore_training_state,
            save_training_state,
            seeded_generator,
            torch_device,
        )

        configure_threads()
        device = torch_device(ctx.device)
        if "train" not in channels:
            msg = "k-means needs a 'train' channel (got " + (", ".join(channels) or "none") + ")"
            raise InputError(msg)
        X = features_of(channels["train"], plan.feature_dim, "train")
        X_test = (
            features_of(channels["test"], plan.feature_dim, "test") if "test" in channels else None
        )
        n_rows = X.shape[0]
        if plan.k > n_rows:
            msg = f"hyperparameter 'k' is {plan.k} but the train channel has only {n_rows} rows"
            raise HyperparameterError([msg])
        factor = plan.extra_center_factor or _auto_extra_center_factor(n_rows)
        n_centers = min(n_rows, plan.k * factor)
        generator = seeded_generator(SEED)
        data = _Rows(X, device)
        test = _Rows(X_test, device) if X_test is not None else None

        centers = _initial_centers(data, n_centers, plan, generator)
        counts = torch.zeros(n_centers, dtype=torch.float64, device=device)
        decay = 0.5 ** (1.0 / plan.half_life_time_size) if plan.half_life_time_size else 1.0
        final = centers[: plan.k]
        start = 1
        resumed = restore_training_state(ctx, "kmeans", generator=generator)
        if resumed is not None:
            start, saved = resumed[0] + 1, resumed[1]
            centers, counts, final = (
                saved[name].to(device) for name in ("centers", "counts", "final")
            )
        for epoch in range(start, plan.epochs + 1):
            total = 0.0
            order = torch.randperm(n_rows, generator=generator)
            for index in torch.split(order, plan.mini_batch_size):
                batch = data.rows(index)
                distances = _squared_distances(batch, centers)
                nearest, closest = distances.min(dim=1)
                total += float(nearest.clamp_min(0).sum())
                counts *= decay ** len(index)
                centers, counts = _update(centers, counts, batch, closest)
            final = _reduce(centers, counts, plan, generator)
            metrics = {"train:msd": total / n_rows}
            if test is not None:
                metrics.update(_test_metrics(test, final, plan.eval_metrics))
            try:
                ctx.report(epoch, **metrics)
            except StopTraining:
                _save(final.cpu().numpy(), ctx.output_dir)  # keep the model, then stop
                raise
            if wants_epoch_checkpoints(ctx):
                extra = {name: t.cpu() for name, t in (("centers", centers), ("counts", counts))}
                extra["final"] = final.cpu()
                save_training_state(ctx, "kmeans", epoch, generator=generator, extra=extra)
            if ctx.should_stop():
                break
        _save(final.cpu().numpy(), ctx.output_dir)

    def load(self, path: Path | str) -> KMeansModel:
        """The model a trial saved; ``path`` is its output folder or the model file."""
        return load(path)


ALGORITHM = KMeansAlgorithm()


def features_of(channel: Path, feature_dim: int, name: str) -> Features:
    """The features of an unsupervised channel with ``feature_dim`` columns.

    SageMaker's CSV has the label first; a file whose column count equals ``feature_dim`` has
    no label column (``label_size=0``), so its first column is a feature.
    """
    X, y = load_channel(channel)
    if X.shape[1] + 1 == feature_dim and not scipy.sparse.issparse(X):
        X = np.column_stack([y, X])
    elif X.shape[1] != feature_dim:
        msg = (
            f"hyperparameter 'feature_dim' is {feature_dim} but the {name} channel has "
            f"{X.shape[1]} features after the label column ({X.shape[1] + 1} without one)"
        )
        raise HyperparameterError([msg])
    if not scipy.sparse.issparse(X) and np.isnan(X).any():
        row = int(np.flatnonzero(np.isnan(X).any(axis=1))[0])
        msg = f"{name} channel: row {row + 1} has a missing value; every feature is needed"
        raise InputError(msg)
    return X


def _plan(values: Mapping[str, Any], channels: Mapping[str, Path]) -> _Plan:
    problems: list[str] = []
    eval_metrics = parse_name_list(
        "eval_metrics", values["eval_metrics"], EVAL_METRICS, '["msd", "ssd"]', problems
    )
    objective = values.get("_tuning_objective_metric")
    if objective is not None:
        metric = str(objective).partition(":")[2]
        if objective not in METRICS:
            problems.append(
                f"hyperparameter '_tuning_objective_metric': {objective!r} is not a metric of "
                f"k-means; known: {', '.join(METRICS)}"
            )
        elif objective.startswith("test:"):
            if "test" not in channels:
                problems.append(
                    f"hyperparameter '_tuning_objective_metric': {objective} needs a 'test' "
                    "channel"
                )
            if metric not in eval_metrics:
                eval_metrics.append(metric)  # the objective is always evaluated
    if problems:
        raise HyperparameterError(problems)
    return _Plan(
        k=values["k"],
        feature_dim=values["feature_dim"],
        epochs=values["epochs"],
        mini_batch_size=values["mini_batch_size"],
        extra_center_factor=values["extra_center_factor"],
        half_life_time_size=values["half_life_time_size"],
        init_method=values["init_method"],
        local_init_method=values["local_lloyd_init_method"],
        local_max_iter=values["local_lloyd_max_iter"],
        local_num_trials=values["local_lloyd_num_trials"] or 10,
        local_tol=values["local_lloyd_tol"],
        eval_metrics=tuple(eval_metrics),
    )


def _auto_extra_center_factor(n_rows: int) -> int:
    return int(min(10, max(2, math.ceil(math.log(max(n_rows, 2)) / 2))))


class _Rows:
    """A channel's rows on a device: dense data moved once, sparse data a batch at a time."""

    def __init__(self, X: Features, device: Any) -> None:
        import torch

        self.device = device
        self.n_rows = X.shape[0]
        self._sparse = scipy.sparse.csr_matrix(X) if scipy.sparse.issparse(X) else None
        self._dense = (
            None
            if self._sparse is not None
            else torch.as_tensor(np.asarray(X, dtype=np.float32), device=device)
        )

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        import torch

        if self._dense is not None:
            return self._dense[index.to(self.device)]
        assert self._sparse is not None
        block = self._sparse[index.numpy()].toarray()
        return torch.as_tensor(block, dtype=torch.float32, device=self.device)

    def batches(self, size: int) -> Iterator[torch.Tensor]:
        import torch

        for start in range(0, self.n_rows, size):
            yield self.rows(torch.arange(start, min(start + size, self.n_rows)))


def _squared_distances(x: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """``||x - c||^2`` for every row and centre, as one fused ``addmm`` plus a broadcast add."""
    import torch

    centre_norms = (centers * centers).sum(dim=1)
    cross = torch.addmm(centre_norms, x, centers.T, alpha=-2)
    return cross.add_((x * x).sum(dim=1, keepdim=True))


def _initial_centers(data: _Rows, n_centers: int, plan: _Plan, generator: Any) -> Any:
    import torch

    n_sample = min(data.n_rows, max(plan.mini_batch_size, 10 * n_centers))
    sample_index = torch.randperm(data.n_rows, generator=generator)[:n_sample]
    sample = data.rows(sample_index)
    weights = torch.ones(n_sample, dtype=torch.float32, device=sample.device)
    return _seed(sample, weights, n_centers, plan.init_method, generator)


def _seed(points: Any, weights: Any, n_centers: int, method: str, generator: Any) -> Any:
    """``n_centers`` distinct starting centres among ``points``: uniform or k-means++."""
    import torch

    n_points = points.shape[0]
    if method == "random" or n_centers >= n_points:
        probabilities = (weights / weights.sum()).double().cpu()
        chosen = torch.multinomial(
            probabilities, n_centers, replacement=False, generator=generator
        )
        return points[chosen.to(points.device)].clone()
    first = torch.multinomial((weights / weights.sum()).double().cpu(), 1, generator=generator)
    chosen_rows = [int(first)]
    nearest = _squared_distances(points, points[chosen_rows]).clamp_min(0)[:, 0]
    for _ in range(1, n_centers):
        mass = (nearest * weights).double().cpu()
        mass[chosen_rows] = 0.0
        if float(mass.sum()) <= 0:  # every point sits on a centre: take any unused one
            mass = torch.ones(n_points, dtype=torch.float64)
            mass[chosen_rows] = 0.0
        row = int(torch.multinomial(mass, 1, generator=generator))
        chosen_rows.append(row)
        update = _squared_distances(points, points[row : row + 1]).clamp_min(0)[:, 0]
        nearest = torch.minimum(nearest, update)
    return points[chosen_rows].clone()


def _update(centers: Any, counts: Any, batch: Any, closest: Any) -> tuple[Any, Any]:
    """Sculley's mini-batch step: each centre moves to the weighted mean of old and new points."""
    import torch

    n_centers = centers.shape[0]
    added = torch.zeros(n_centers, dtype=torch.float64, device=centers.device)
    added.index_add_(0, closest, torch.ones_like(closest, dtype=torch.float64))
    sums = torch.zeros_like(centers, dtype=torch.float64)
    sums.index_add_(0, closest, batch.double())
    new_counts = counts + added
    moved = added > 0
    updated = centers.double().clone()
    updated[moved] = (counts[moved, None] * updated[moved] + sums[moved]) / new_counts[moved, None]
    return updated.to(centers.dtype), new_counts


def _reduce(centers: Any, counts: Any, plan: _Plan, generator: Any) -> Any:
    """``k`` centres from the streaming centres: the best of the weighted Lloyd runs."""
    import torch

    if centers.shape[0] == plan.k:
        return centers.clone()
    weights = counts.float() if float(counts.sum()) > 0 else torch.ones_like(counts).float()
    weights = weights + 1e-12  # every centre may be drawn, even one nothing was assigned to
    best, best_ssd = None, math.inf
    for _ in range(plan.local_num_trials):
        start = _seed(centers, weights, plan.k, plan.local_init_method, generator)
        candidate, ssd = _lloyd(centers, weights, start, plan.local_max_iter, plan.local_tol)
        if ssd < best_ssd:
            best, best_ssd = candidate, ssd
    return best


def _lloyd(
    points: Any, weights: Any, centers: Any, max_iter: int, tol: float
) -> tuple[Any, float]:
    """Weighted Lloyd iterations; an empty cluster keeps its centre."""
    import torch

    previous = math.inf
    ssd = math.inf
    for _ in range(max_iter):
        distances = _squared_distances(points, centers).clamp_min(0)
        nearest, closest = distances.min(dim=1)
        ssd = float((nearest * weights).sum())
        if previous < math.inf and abs(previous - ssd) <= tol * max(previous, 1e-300):
            break
        previous = ssd
        mass = torch.zeros(centers.shape[0], dtype=weights.dtype, device=points.device)
        mass.index_add_(0, closest, weights)
        sums = torch.zeros_like(centers)
        sums.index_add_(0, closest, points * weights[:, None])
        filled = mass > 0
        centers = centers.clone()
        centers[filled] = sums[filled] / mass[filled, None]
    return centers, ssd


def _test_metrics(test: _Rows, centers: Any, names: Sequence[str]) -> dict[str, float]:
    ssd = 0.0
    for batch in test.batches(8192):
        ssd += float(_squared_distances(batch, centers).min(dim=1).values.clamp_min(0).sum())
    values = {"msd": ssd / max(test.n_rows, 1), "ssd": ssd}
    return {f"test:{name}": values[name] for name in names}


def _save(centers: np.ndarray, output_dir: Path) -> None:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with (output_dir / MODEL_FILENAME).open("wb") as handle:
        np.savez(handle, centers=centers.astype(np.float64))
