"""Principal component analysis as SageMaker's built-in PCA runs it, in torch, mini-batch by batch.

Two modes, as in SageMaker:

* ``regular`` accumulates the ``feature_dim x feature_dim`` second-moment matrix over the
  mini-batches (in float64) and takes its top eigenvectors: exact, for a moderate feature_dim.
* ``randomized`` keeps only ``feature_dim x (num_components + extra_components)`` numbers
  (Halko, Martinsson and Tropp, "Finding structure with randomness", SIAM Review 2011): a first
  pass multiplies the covariance by a Gaussian test matrix, one more pass (a power iteration)
  multiplies it by the orthonormal basis of the result, and a last pass projects the
  covariance on the new basis, whose small eigenproblem gives the components.
  ``extra_components`` = -1 means ``max(10, num_components)``, as in SageMaker.

With ``subtract_mean`` (the default) the data are centred, at training and when projecting.
Components are ordered by decreasing variance, each signed so that its largest entry is positive
(so the output does not flip from run to run).

PCA has no AMT objective metric, so :attr:`PCAAlgorithm.metrics` is empty: it is a step whose
output feeds other algorithms, not a tuning target. It reports once (epoch 1) the informational
``train:explained_variance_ratio``, the share of the total variance the components keep.
:func:`write_projection` writes a channel's projection as a SageMaker CSV channel (label first),
ready for k-NN, k-means or linear learner. As in SageMaker's CSV format the first column is the
label; a file with exactly ``feature_dim`` columns is taken to have none.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
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
    TrainingContext,
    TuningRange,
    parse_hyperparameters,
)
from algorithms.data import Features, load_channel, write_csv

logger = logging.getLogger(__name__)

#: The model's file name in the output folder.
MODEL_FILENAME = "pca-model.npz"

#: Seed of the randomized mode's test matrix (SageMaker's PCA takes no seed).
SEED = 0

#: Extra passes of the randomized mode that sharpen its basis (Halko et al.'s power iterations).
POWER_ITERATIONS = 1

#: No objective metric: AMT documents none for PCA.
METRICS: Mapping[str, Direction] = MappingProxyType({})
#: What ``train`` reports (informational, not a tuning objective).
REPORTED_METRICS = ("train:explained_variance_ratio",)

#: SageMaker PCA's hyperparameters ("PCA Hyperparameters" in the developer guide).
HYPERPARAMETERS: Mapping[str, HyperparameterSpec] = MappingProxyType(
    {
        "feature_dim": HyperparameterSpec(
            "int", required=True, min_value=1, description="Input dimension."
        ),
        "mini_batch_size": HyperparameterSpec(
            "int", required=True, min_value=1, description="Rows per mini-batch."
        ),
        "num_components": HyperparameterSpec(
            "int", required=True, min_value=1, description="Principal components to compute."
        ),
        "algorithm_mode": HyperparameterSpec(
            "str",
            "regular",
            choices=("regular", "randomized"),
            description="regular: exact; randomized: for many features.",
        ),
        "subtract_mean": HyperparameterSpec(
            "bool", True, description="Centre the data at training and when projecting."
        ),
        "extra_components": HyperparameterSpec(
            "int",
            -1,
            min_value=-1,
            description="Randomized mode: extra sketch columns; -1 means max(10, num_components).",
        ),
    }
)


#: AMT's recommended ranges (its tuning page; AMT.md 17.2), what Autotune tunes over.
#: AMT documents no tuning page (and no objective metric) for PCA.
TUNING_RANGES: Mapping[str, TuningRange] = MappingProxyType({})


# -- model ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PCAModel:
    """Principal components; ``transform`` (or ``predict``) projects rows onto them."""

    components: np.ndarray  # (num_components, feature_dim), orthonormal rows
    mean: np.ndarray  # (feature_dim,), zeros without subtract_mean
    explained_variance: np.ndarray  # (num_components,)
    explained_variance_ratio: np.ndarray  # (num_components,)

    def transform(self, X: Features) -> np.ndarray:
        """The projection of every row of ``X``: ``(rows, num_components)``."""
        if X.ndim != 2 or X.shape[1] != self.components.shape[1]:
            msg = f"X must have {self.components.shape[1]} columns, got shape {X.shape}"
            raise InputError(msg)
        if scipy.sparse.issparse(X):
            projected = np.asarray(X @ self.components.T)
        else:
            projected = np.asarray(X, dtype=np.float64) @ self.components.T
        return projected - self.mean @ self.components.T

    def predict(self, X: Features) -> np.ndarray:
        """Same as :meth:`transform` (SageMaker's PCA endpoint returns the ``projection``)."""
        return self.transform(X)


def load(path: Path | str) -> PCAModel:
    """The model that ``train`` saved in ``path`` (an output folder or the model file)."""
    path = Path(path)
    file = path / MODEL_FILENAME if path.is_dir() else path
    if not file.is_file():
        msg = f"no PCA model at {file}"
        raise FileNotFoundError(msg)
    with np.load(file, allow_pickle=False) as saved:
        return PCAModel(**{name: np.array(saved[name]) for name in saved.files})


def write_projection(
    model: PCAModel | Path | str, channel: Path | str, output: Path | str
) -> Path:
    """Project a data channel and write it as a SageMaker CSV channel, label first.

    Args:
        model: a :class:`PCAModel`, or the output folder (or model file) of a PCA training job.
        channel: a channel as the algorithms read it (CSV, libsvm, Parquet, RecordIO), whose
            first column is the label; its labels are carried over (NaN labels, for RecordIO
            records without one, are written as empty fields).
        output: the CSV file to write (``.csv``, or ``.csv.gz`` to compress).

    Returns:
        ``output`` as a Path, to be given as the ``train``/``test`` channel of another job.
    """
    if not isinstance(model, PCAModel):
        model = load(model)
    X, y = load_channel(channel)
    feature_dim = model.components.shape[1]
    if X.shape[1] + 1 == feature_dim and not scipy.sparse.issparse(X):
        X, y = np.column_stack([y, X]), np.zeros(X.shape[0])  # no label column in the file
    write_csv(output, model.transform(X), y)
    return Path(output)


# -- training ------------------------------------------------------------------------------------


class PCAAlgorithm:
    """SageMaker's built-in PCA algorithm (the ``pca`` image)."""

    name = "pca"
    hyperparameters: Mapping[str, HyperparameterSpec] = HYPERPARAMETERS
    metrics: Mapping[str, Direction] = METRICS
    tuning_ranges: Mapping[str, TuningRange] = TUNING_RANGES

    def train(
        self,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
    ) -> None:
        """Fit the components on the ``train`` channel, report once, save the model.

        Raises:
            HyperparameterError: a hyperparameter is unknown, missing or invalid, or does not
                fit the data (``feature_dim``, ``num_components`` above it), or a tuning
                objective was set (PCA has none).
            InputError: the ``train`` channel is missing or has missing values.
        """
        values = parse_hyperparameters(self.hyperparameters, hyperparameters)
        problems = []
        if values["num_components"] > values["feature_dim"]:
            problems.append(
                f"hyperparameter 'num_components': got {values['num_components']}, must be at "
                f"most feature_dim ({values['feature_dim']})"
            )
        objective = values.get("_tuning_objective_metric")
        if objective is not None:
            problems.append(
                f"hyperparameter '_tuning_objective_metric': PCA has no objective metric "
                f"(got {objective!r}); train it as a step and tune the algorithm that uses it"
            )
        if problems:
            raise HyperparameterError(problems)
        if "train" not in channels:
            msg = "PCA needs a 'train' channel (got " + (", ".join(channels) or "none") + ")"
            raise InputError(msg)
        from algorithms.kmeans import features_of
        from algorithms.torch_util import configure_threads, torch_device

        configure_threads()
        device = torch_device(ctx.device)
        X = features_of(channels["train"], values["feature_dim"], "train")
        model = fit(X, values, device=str(device))
        _save(model, ctx.output_dir)
        ratio = float(model.explained_variance_ratio.sum())
        ctx.report(1, **{"train:explained_variance_ratio": ratio})

    def load(self, path: Path | str) -> PCAModel:
        """The model a trial saved; ``path`` is its output folder or the model file."""
        return load(path)

    def transform(self, path: Path | str, X: Features) -> np.ndarray:
        """Project ``X`` with the model saved in ``path`` (an output folder or model file)."""
        return load(path).transform(X)


ALGORITHM = PCAAlgorithm()


def fit(X: Features, values: Mapping[str, Any], *, device: str = "cpu") -> PCAModel:
    """The principal components of the rows of ``X`` for parsed hyperparameters ``values``."""
    import torch

    dev = torch.device(device)
    # float64 where the device has it: second moments of raw features lose digits in float32.
    dtype = torch.float64 if dev.type in ("cpu", "cuda") else torch.float32
    n_rows, feature_dim = X.shape
    batch_rows = values["mini_batch_size"]
    centre = values["subtract_mean"]
    n_components = values["num_components"]

    def batches() -> Any:
        for start in range(0, n_rows, batch_rows):
            block = X[start : start + batch_rows]
            if scipy.sparse.issparse(block):
                dense = scipy.sparse.csr_matrix(block).toarray()
            else:
                dense = np.asarray(block)
            yield torch.as_tensor(dense, dtype=dtype, device=dev)

    total = torch.zeros(feature_dim, dtype=dtype, device=dev)
    squares = torch.zeros((), dtype=dtype, device=dev)
    if values["algorithm_mode"] == "regular":
        moment = torch.zeros(feature_dim, feature_dim, dtype=dtype, device=dev)
        for block in batches():
            total += block.sum(dim=0)
            squares += (block * block).sum()
            moment += block.T @ block
        mean = total / n_rows if centre else torch.zeros_like(total)
        covariance = moment / n_rows - torch.outer(mean, mean)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
        order = torch.argsort(eigenvalues, descending=True)[:n_components]
        variances, components = eigenvalues[order], eigenvectors[:, order].T
    else:
        extra = values["extra_components"]
        width = min(feature_dim, n_components + (max(10, n_components) if extra < 0 else extra))
        generator = torch.Generator(device="cpu").manual_seed(SEED)
        test = torch.randn(feature_dim, width, generator=generator, dtype=dtype).to(dev)
        sketch = torch.zeros(feature_dim, width, dtype=dtype, device=dev)
        for block in batches():  # pass 1: covariance times the Gaussian test matrix
            total += block.sum(dim=0)
            squares += (block * block).sum()
            sketch += block.T @ (block @ test)
        mean = total / n_rows if centre else torch.zeros_like(total)
        basis, _ = torch.linalg.qr(sketch / n_rows - torch.outer(mean, mean @ test))
        for _ in range(POWER_ITERATIONS):  # sharpen the basis towards the top eigenvectors
            sketch.zero_()
            for block in batches():
                sketch += block.T @ (block @ basis)
            basis, _ = torch.linalg.qr(sketch / n_rows - torch.outer(mean, mean @ basis))
        small = torch.zeros(basis.shape[1], basis.shape[1], dtype=dtype, device=dev)
        for block in batches():  # pass 2: the covariance seen from the basis
            projected = block @ basis
            small += projected.T @ projected
        shift = mean @ basis
        small = small / n_rows - torch.outer(shift, shift)
        eigenvalues, eigenvectors = torch.linalg.eigh((small + small.T) / 2)
        order = torch.argsort(eigenvalues, descending=True)[:n_components]
        variances, components = eigenvalues[order], (basis @ eigenvectors[:, order]).T
    total_variance = float(squares) / n_rows - float(mean @ mean)
    components_np = components.cpu().numpy().astype(np.float64)
    # A deterministic sign: the largest entry of each component is positive.
    largest = np.argmax(np.abs(components_np), axis=1)
    signs = np.sign(components_np[np.arange(len(components_np)), largest])
    components_np *= np.where(signs == 0, 1.0, signs)[:, None]
    variances_np = np.maximum(variances.cpu().numpy().astype(np.float64), 0.0)
    ratio = variances_np / total_variance if total_variance > 0 else np.zeros_like(variances_np)
    return PCAModel(
        components=components_np,
        mean=mean.cpu().numpy().astype(np.float64),
        explained_variance=variances_np,
        explained_variance_ratio=ratio,
    )


def _save(model: PCAModel, output_dir: Path) -> None:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with (output_dir / MODEL_FILENAME).open("wb") as handle:
        np.savez(
            handle,
            components=model.components,
            mean=model.mean,
            explained_variance=model.explained_variance,
            explained_variance_ratio=model.explained_variance_ratio,
        )
