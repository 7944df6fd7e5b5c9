"""Factorization Machines as SageMaker's built-in algorithm runs it, in torch.

The model (Rendle, "Factorization Machines", ICDM 2010) scores a row ``x`` as

    y(x) = w0 + sum_i w_i x_i + sum_{i<j} <v_i, v_j> x_i x_j
         = w0 + x.w + 0.5 * sum_f ((x.V_f)**2 - (x**2).(V_f**2))

with a bias ``w0``, linear weights ``w`` and a ``[feature_dim, num_factors]`` factor matrix
``V``; the second form costs O(nonzeros x num_factors). Sparse rows never become dense: the
products are ``embedding_bag`` sums weighted by the feature values (see
:mod:`algorithms.torch_util`). A ``binary_classifier`` passes ``y(x)`` through a sigmoid and
minimises log loss; a ``regressor`` minimises squared error.

Every hyperparameter SageMaker documents is accepted under its name, default and range. The
optimizer is Adam with a learning rate and a weight decay per term (``bias_lr``/``bias_wd``,
``linear_*``, ``factors_*``) and ``eps``; the gradient is handled as MXNet's optimizers do
(SageMaker's implementation is MXNet): ``g = rescale_grad * g + wd * weight``, then clipped to
``[-clip_gradient, clip_gradient]``. The loss is the mean over a mini-batch, so the default
``rescale_grad`` of 1 matches MXNet's usual ``1/batch_size`` on a summed loss; a negative
``clip_gradient`` means no clipping, as in MXNet.

Channels: ``train`` (required), ``validation`` and ``test`` (optional), usually
RecordIO-protobuf or libsvm; dense input works too. After each epoch the training loss goes
out as ``train:binary_classification_cross_entropy`` (classifier) or ``train:rmse``
(regressor), with the same on ``validation`` when given; the final ``test:`` (AMT's objective
metrics) and ``validation:`` metrics go out with the last epoch's report. The model is saved as
``factorization-machines-model.npz``; :func:`load` gives it back.

This clone's choices where SageMaker is silent: ``*_init_method=uniform`` without
``*_init_scale`` draws from ``[-s, s]`` with ``s`` the ``*_init_sigma``; ``constant`` without
``*_init_value`` starts at 0; ``binary_f_beta`` is F1; classes are split at probability 0.5;
``seed`` (default 0) is an addition, SageMaker has none.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.sparse
import scipy.special

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
from algorithms.data import Features, load_channel
from algorithms.torch_util import (
    DeviceFeatures,
    Rows,
    binary_cross_entropy,
    binary_metrics,
    check_features,
    check_labels,
    configure_threads,
    finite,
    fit_width,
    prefixed,
    restore_training_state,
    save_training_state,
    seeded_generator,
    shuffled_batches,
    torch,
    torch_device,
    values_per_row,
)

logger = logging.getLogger(__name__)

#: The model's file name in the output folder.
MODEL_FILENAME = "factorization-machines-model.npz"
PREDICTOR_TYPES = ("binary_classifier", "regressor")
DATA_SETS = ("train", "validation", "test")
TERMS = ("bias", "linear", "factors")

METRICS_BY_PREDICTOR: Mapping[str, Mapping[str, Direction]] = MappingProxyType(
    {
        "binary_classifier": {
            "binary_classification_accuracy": "Maximize",
            "binary_classification_cross_entropy": "Minimize",
            "binary_f_beta": "Maximize",
        },
        "regressor": {"rmse": "Minimize"},
    }
)
#: The loss reported after every epoch, by predictor type.
EPOCH_METRIC = {"binary_classifier": "binary_classification_cross_entropy", "regressor": "rmse"}
#: Every metric this algorithm reports: AMT's ``test:`` objective metrics, and the same names
#: for ``validation:`` and ``train:``.
METRICS: Mapping[str, Direction] = MappingProxyType(
    {
        f"{data_set}:{name}": direction
        for data_set in DATA_SETS
        for by_name in METRICS_BY_PREDICTOR.values()
        for name, direction in by_name.items()
    }
)


def _spec(kind: Any, default: Any, description: str, **bounds: Any) -> HyperparameterSpec:
    return HyperparameterSpec(kind=kind, default=default, description=description, **bounds)


def _term_specs(term: str, lr: float, wd: float, sigma: float) -> dict[str, HyperparameterSpec]:
    methods = ("normal", "uniform", "constant")
    return {
        f"{term}_init_method": _spec(
            "str", "normal", f"Initialisation of the {term} term.", choices=methods
        ),
        f"{term}_init_scale": _spec(
            "float", None, f"uniform: {term} drawn from [-scale, scale].", min_value=0
        ),
        f"{term}_init_sigma": _spec(
            "float", sigma, f"normal: standard deviation of the {term} term.", min_value=0
        ),
        f"{term}_init_value": _spec("float", None, f"constant: initial value of the {term} term."),
        f"{term}_lr": _spec("float", lr, f"Learning rate of the {term} term.", min_value=0),
        f"{term}_wd": _spec("float", wd, f"Weight decay of the {term} term.", min_value=0),
    }


#: SageMaker Factorization Machines' hyperparameters (the developer guide's "Factorization
#: Machines hyperparameters" page; ranges as the SageMaker Python SDK validates them). ``eps``,
#: "Float" on the page and unchecked by the SDK, takes 0 too; a negative one is refused, as
#: torch's Adam refuses it.
HYPERPARAMETERS: Mapping[str, HyperparameterSpec] = MappingProxyType(
    {
        "feature_dim": HyperparameterSpec(
            "int", required=True, min_value=1, description="Dimension of the feature space."
        ),
        "num_factors": HyperparameterSpec(
            "int", required=True, min_value=1, description="Dimension of the factorization."
        ),
        "predictor_type": HyperparameterSpec(
            "str", required=True, choices=PREDICTOR_TYPES, description="Type of predictor."
        ),
        **_term_specs("bias", lr=0.1, wd=0.01, sigma=0.01),
        **_term_specs("linear", lr=0.001, wd=0.001, sigma=0.01),
        **_term_specs("factors", lr=0.0001, wd=0.00001, sigma=0.001),
        "clip_gradient": _spec(
            "float", None, "Clip gradients to [-clip_gradient, clip_gradient]."
        ),
        "epochs": _spec("int", 1, "Passes over the training data.", min_value=1),
        "eps": _spec("float", 1e-8, "Adam's epsilon (avoids division by 0), >= 0.", min_value=0),
        "mini_batch_size": _spec("int", 1000, "Rows per mini-batch.", min_value=1),
        "rescale_grad": _spec("float", None, "Multiply gradients by this before the update."),
        "seed": _spec(
            "int", 0, "Random seed (this clone's addition).", min_value=0, max_value=2**63 - 1
        ),
    }
)


#: AMT's recommended ranges (its tuning page; AMT.md 17.2), what Autotune tunes over.
#: AMT's page also lists the *_init_scale, *_init_sigma and *_init_value ranges, each for one
#: *_init_method; they are left out because each means something only with its method.
TUNING_RANGES: Mapping[str, TuningRange] = MappingProxyType(
    {
        "bias_lr": continuous(1e-8, 512, "Logarithmic"),
        "bias_wd": continuous(1e-8, 512, "Logarithmic"),
        "factors_lr": continuous(1e-8, 512, "Logarithmic"),
        "factors_wd": continuous(1e-8, 512, "Logarithmic"),
        "linear_lr": continuous(1e-8, 512, "Logarithmic"),
        "linear_wd": continuous(1e-8, 512, "Logarithmic"),
        "epochs": integer(1, 1000),
        "mini_batch_size": integer(100, 10000),
    }
)


# -- the model -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FactorizationMachinesModel:
    """A trained factorization machine on raw features.

    ``predict`` gives SageMaker's ``predicted_label`` (0/1) for classifiers and the score for
    regressors; ``predict_scores`` gives the ``score`` (probability of class 1 for classifiers).
    """

    predictor_type: str
    bias: float
    linear: np.ndarray  # [feature_dim]
    factors: np.ndarray  # [feature_dim, num_factors]

    @property
    def feature_dim(self) -> int:
        return int(self.linear.shape[0])

    def raw(self, X: Features) -> np.ndarray:
        """``y(x)`` of every row, before any sigmoid."""
        if X.shape[1] > self.feature_dim or (
            not scipy.sparse.issparse(X) and X.shape[1] != self.feature_dim
        ):
            msg = f"X has {X.shape[1]} features; the model was trained on {self.feature_dim}"
            raise InputError(msg)
        d = X.shape[1]
        if scipy.sparse.issparse(X):
            X = scipy.sparse.csr_matrix(X, dtype=np.float64)
            squared = X.multiply(X)
        else:
            X = np.asarray(X, dtype=np.float64)
            squared = X * X
        linear = np.asarray(X @ self.linear[:d]).ravel()
        xv = np.asarray(X @ self.factors[:d])
        x2v2 = np.asarray(squared @ (self.factors[:d] ** 2))
        return self.bias + linear + 0.5 * np.sum(xv * xv - x2v2, axis=1)

    def predict_scores(self, X: Features) -> np.ndarray:
        raw = self.raw(X)
        return np.asarray(scipy.special.expit(raw)) if self.predictor_type != "regressor" else raw

    def predict(self, X: Features) -> np.ndarray:
        scores = self.predict_scores(X)
        if self.predictor_type == "regressor":
            return scores
        return (scores > 0.5).astype(np.float64)


def load(path: Path | str) -> FactorizationMachinesModel:
    """The model that ``train`` saved in ``path``, an output folder or the model file itself."""
    path = Path(path)
    file = path / MODEL_FILENAME if path.is_dir() else path
    if not file.is_file():
        msg = f"no factorization-machines model at {file}"
        raise FileNotFoundError(msg)
    with np.load(file, allow_pickle=False) as stored:
        meta = json.loads(str(stored["meta"]))
        return FactorizationMachinesModel(
            predictor_type=meta["predictor_type"],
            bias=float(stored["bias"]),
            linear=stored["linear"],
            factors=stored["factors"],
        )


def _save(model: FactorizationMachinesModel, output_dir: Path) -> None:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "predictor_type": model.predictor_type,
        "feature_dim": model.feature_dim,
        "num_factors": int(model.factors.shape[1]),
    }
    with (output_dir / MODEL_FILENAME).open("wb") as handle:
        np.savez(
            handle,
            bias=np.float64(model.bias),
            linear=model.linear,
            factors=model.factors,
            meta=np.array(json.dumps(meta)),
        )


# -- planning and data ---------------------------------------------------------------------------


def _check_objective(raw: object, predictor: str, channels: Mapping[str, Path]) -> None:
    if raw is None:
        return
    text = str(raw).strip()
    where = "hyperparameter '_tuning_objective_metric'"
    problem = None
    data_set, _, name = text.partition(":")
    if text not in METRICS:
        problem = (
            f"{where}: {text!r} is not a metric of factorization-machines; known: "
            + ", ".join(METRICS)
        )
    elif name not in METRICS_BY_PREDICTOR[predictor]:
        reported = ", ".join(METRICS_BY_PREDICTOR[predictor])
        problem = f"{where}: a {predictor} does not report {name}; it reports {reported}"
    elif data_set not in channels:
        problem = f"{where}: {text} needs a {data_set!r} channel"
    if problem:
        raise HyperparameterError([problem])


def _load_data(
    values: Mapping[str, Any], channels: Mapping[str, Path]
) -> dict[str, tuple[Features, np.ndarray]]:
    if "train" not in channels:
        got = ", ".join(repr(name) for name in channels) or "none"
        msg = f"factorization-machines needs a 'train' channel (got {got})"
        raise InputError(msg)
    unknown = sorted(set(channels) - set(DATA_SETS))
    if unknown:
        logger.info(
            "factorization-machines reads train, validation and test; ignoring %s", unknown
        )
    data = {}
    width = values["feature_dim"]
    for name in DATA_SETS:
        if name not in channels:
            continue
        X, y = load_channel(channels[name])
        check_features(name, X, "factorization-machines")
        check_labels(name, y, values["predictor_type"])
        data[name] = (fit_width(name, X, width, what=f"feature_dim is {width}"), y)
    return data


# -- training ------------------------------------------------------------------------------------


class _Trainer:
    def __init__(
        self,
        values: Mapping[str, Any],
        data: Mapping[str, tuple[Features, np.ndarray]],
        device: torch.device,
    ) -> None:
        self.values = values
        self.device = device
        self.data = data
        self.classifier = values["predictor_type"] == "binary_classifier"
        self.generator = seeded_generator(values["seed"])
        self.features = {name: DeviceFeatures(X, device) for name, (X, _) in data.items()}
        self.labels = {
            name: torch.as_tensor(y, dtype=torch.float32, device=device)
            for name, (_, y) in data.items()
        }
        d, k = values["feature_dim"], values["num_factors"]
        self.params = {
            "bias": self._init("bias", (1,)),
            "linear": self._init("linear", (d, 1)),
            "factors": self._init("factors", (d, k)),
        }
        self.optimizer = torch.optim.Adam(
            [{"params": [p], "lr": values[f"{term}_lr"]} for term, p in self.params.items()],
            eps=values["eps"],
        )

    def _init(self, term: str, shape: tuple[int, ...]) -> torch.Tensor:
        v = self.values
        method = v[f"{term}_init_method"]
        if method == "normal":
            tensor = torch.randn(shape, generator=self.generator) * v[f"{term}_init_sigma"]
        elif method == "uniform":
            scale = v[f"{term}_init_scale"]
            scale = v[f"{term}_init_sigma"] if scale is None else scale
            tensor = (torch.rand(shape, generator=self.generator) * 2 - 1) * scale
        else:
            value = v[f"{term}_init_value"]
            tensor = torch.full(shape, 0.0 if value is None else float(value))
        return tensor.to(self.device).requires_grad_(True)

    def _forward(self, rows: Rows) -> torch.Tensor:
        p = self.params
        factors = p["factors"]
        xv = rows.matmul(factors)
        x2v2 = rows.squared().matmul(factors * factors)
        pairwise = 0.5 * (xv * xv - x2v2).sum(dim=1)
        return p["bias"] + rows.matmul(p["linear"])[:, 0] + pairwise

    def _loss(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.classifier:
            return torch.nn.functional.binary_cross_entropy_with_logits(raw, target)
        return torch.mean((raw - target) ** 2)

    def train_epoch(self) -> None:
        v = self.values
        features, labels = self.features["train"], self.labels["train"]
        rescale = v["rescale_grad"]
        clip = v["clip_gradient"]
        for index in shuffled_batches(
            features.n_rows, v["mini_batch_size"], self.generator, self.device
        ):
            loss = self._loss(self._forward(features.rows(index)), labels[index])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                for term, param in self.params.items():
                    grad = param.grad
                    if grad is None:
                        continue
                    if rescale is not None:
                        grad.mul_(rescale)
                    grad.add_(param, alpha=v[f"{term}_wd"])
                    if clip is not None and clip >= 0:
                        grad.clamp_(-clip, clip)
            self.optimizer.step()

    @torch.no_grad()
    def scores(self, channel: str) -> np.ndarray:
        """Probabilities (classifier) or predictions (regressor) of every row of ``channel``."""
        raw = torch.cat([self._forward(rows) for rows in self.features[channel].batches()])
        out = torch.sigmoid(raw) if self.classifier else raw
        return out.cpu().double().numpy()

    def metrics(self, channel: str, *, full: bool) -> dict[str, float]:
        y = self.data[channel][1]
        scores = self.scores(channel)
        if not self.classifier:
            return {"rmse": float(np.sqrt(np.mean((scores - y) ** 2)))}
        found = {"binary_classification_cross_entropy": binary_cross_entropy(y, scores)}
        if full:
            binary = binary_metrics(y, scores, 0.5, 1.0)
            found["binary_classification_accuracy"] = binary["binary_classification_accuracy"]
            found["binary_f_beta"] = binary["binary_f_beta"]
        return found

    def model(self) -> FactorizationMachinesModel:
        p = {term: param.detach().cpu().double().numpy() for term, param in self.params.items()}
        return FactorizationMachinesModel(
            predictor_type=self.values["predictor_type"],
            bias=float(p["bias"][0]),
            linear=p["linear"][:, 0],
            factors=p["factors"],
        )


# -- the algorithm -------------------------------------------------------------------------------


class FactorizationMachinesAlgorithm:
    """SageMaker's built-in Factorization Machines (``factorization-machines`` image)."""

    name = "factorization-machines"
    hyperparameters: Mapping[str, HyperparameterSpec] = HYPERPARAMETERS
    metrics: Mapping[str, Direction] = METRICS
    tuning_ranges: Mapping[str, TuningRange] = TUNING_RANGES

    def train(
        self,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
    ) -> None:
        """Train on ``train``, report every epoch, save ``factorization-machines-model.npz``.

        Raises:
            HyperparameterError: a hyperparameter is unknown, missing or invalid, or the tuning
                objective is not reported for this predictor type or lacks its channel.
            InputError: the ``train`` channel is missing, or data or labels are malformed.
        """
        values = parse_hyperparameters(self.hyperparameters, hyperparameters)
        _check_objective(
            values.get("_tuning_objective_metric"), values["predictor_type"], channels
        )
        data = _load_data(values, channels)
        device = torch_device(ctx.device)
        per_row = values_per_row(data["train"][0])
        configure_threads(values["mini_batch_size"] * per_row * (values["num_factors"] + 1) * 2)
        trainer = _Trainer(values, data, device)
        epoch_metric = EPOCH_METRIC[values["predictor_type"]]
        epochs = values["epochs"]
        checkpointed: dict[str, Any] = {
            "tensors": trainer.params,
            "optimizers": [trainer.optimizer],
            "generator": trainer.generator,
        }
        resumed = restore_training_state(ctx, self.name, **checkpointed)
        try:
            for epoch in range(resumed[0] + 1 if resumed else 1, epochs + 1):
                if ctx.should_stop():
                    break
                trainer.train_epoch()
                last = epoch == epochs
                metrics: dict[str, float] = {}
                for name in ("train", "validation"):
                    if name in data:
                        metrics[f"{name}:{epoch_metric}"] = trainer.metrics(name, full=False)[
                            epoch_metric
                        ]
                if last:
                    for name in ("validation", "test"):
                        if name in data:
                            metrics.update(prefixed(name, trainer.metrics(name, full=True)))
                ctx.report(epoch, **finite(metrics))
                save_training_state(ctx, self.name, epoch, **checkpointed)
        except StopTraining:
            _save(trainer.model(), ctx.output_dir)
            raise
        _save(trainer.model(), ctx.output_dir)

    def load(self, path: Path | str) -> FactorizationMachinesModel:
        """The model a trial saved; ``path`` is its output folder or the model file."""
        return load(path)


ALGORITHM = FactorizationMachinesAlgorithm()
