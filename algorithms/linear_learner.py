"""Linear Learner as SageMaker's built-in algorithm runs it, in torch.

A tuning job written for SageMaker's ``linear-learner`` image runs here unchanged: every
hyperparameter the developer guide documents is accepted under its name, with its default, range
and ``auto`` where SageMaker takes it; the metrics have AMT's names (``validation:objective_loss``
per epoch, ``test:binary_f_beta`` and the rest at the end); channels are ``train`` (required),
``validation`` and ``test`` in any format :func:`algorithms.data.load_channel` reads (CSV,
libsvm, Parquet, RecordIO-protobuf). The model is saved as ``linear-learner-model.npz`` in the
trial's output folder; :func:`load` gives it back with ``predict`` and ``predict_scores``.

How training goes (SageMaker documents the steps, not the internals; the choices below are this
clone's and are marked so):

1. **Preprocess.** Feature mean and standard deviation come from ``num_point_for_scaler`` rows.
   ``normalize_data`` (``auto``: true) scales features to unit variance; ``unbias_data``
   (``auto``: dense data only, and only with ``use_bias``) shifts them to zero mean. Regressors
   also standardise the label (``normalize_label``/``unbias_label``, ``auto``: on for
   regressors, never for classifiers). Nothing is copied: the scaling is applied to the weights
   inside the forward pass and folded into them at the end, so sparse data stays sparse and the
   saved model takes raw features.
2. **Train** ``num_models`` linear models side by side with mini-batch ``sgd``, ``adam`` or
   ``rmsprop`` (``auto``: adam). Model 0 uses the given hyperparameters; the others use nearby
   ones: learning rate times ``10**u``, ``wd``/``l1`` times ``10**v`` (``u, v`` uniform in
   [-1, 1]), or log-uniform in [1e-7, 1e-2] where ``wd``/``l1`` is ``auto``, and every other one
   ``balanced`` where ``positive_example_weight_mult`` is ``auto``. ``num_models=auto`` means 8,
   and 1 under tuning: as in AMT, a trial that carries ``_tuning_objective_metric`` trains one
   model whatever ``num_models`` says. After each epoch the objective loss of the best model is
   reported as ``train:objective_loss`` and ``validation:objective_loss``, and training stops
   early once it has not improved by ``early_stopping_tolerance`` (relative) for
   ``early_stopping_patience`` epochs. This stopping is the algorithm's own, separate from the
   engine's; each model keeps the weights of its best epoch.
   When the training job asks for checkpoints, each epoch saves every model's weights, the
   optimizer, the random state and the early-stopping counts, so a retried job goes on from
   its last epoch exactly as if it had not stopped.
3. **Select and calibrate** on the validation channel (else train), at most
   ``num_calibration_samples`` rows: binary classifiers pick the model and the decision
   threshold by ``binary_classifier_model_selection_criteria``; the others pick the model with
   the lowest objective loss. The final metrics of the validation and test channels go out
   with the last epoch's report.

``auto`` values where SageMaker does not say what it picks (this clone's choices):
``learning_rate`` 0.03 for adam (0.01 for regressors), 0.01 for rmsprop, 0.1 for sgd: at the
default ``mini_batch_size`` of 1000 a small data set gets one or two updates an epoch, and adam's
0.01 left classifiers far from converged (iris, 8 models: test accuracy 0.86 against
LogisticRegression's 1.00); squared loss on the standardised label feels adam's steady noise
instead, so regressors keep 0.01 (0.03 cost 2.5% test mse on a generated 20,000 x 30 problem);
``momentum`` 0.9 for sgd, 0 for rmsprop; ``beta_1`` 0.9; ``beta_2`` 0.999; ``wd`` and ``l1`` 0
for model 0; ``bias_lr_mult`` 1;
``bias_wd_mult`` 0; ``positive_example_weight_mult`` 1 for model 0; ``lr_scheduler_step`` one
epoch of updates but at least 100 updates (decaying after every update of a data set smaller
than one mini-batch starved the run: 0.9**15 of the rate by epoch 15);
``lr_scheduler_factor`` 0.9; ``lr_scheduler_minimum_lr`` 1e-5;
``num_calibration_samples`` all rows. ``objective_loss`` is the unweighted mean loss on the
original label scale (squared loss is ``(f - y)**2``), so trials that normalise differently
compare fairly. ``seed`` (default 0) is this clone's addition; SageMaker has none.
"""

from __future__ import annotations

import json
import logging
import math
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
    categorical,
    continuous,
    integer,
    parse_hyperparameters,
)
from algorithms.data import Features, load_channel
from algorithms.torch_util import (
    DeviceFeatures,
    Rows,
    best_threshold,
    binary_cross_entropy,
    binary_metrics,
    check_features,
    check_labels,
    configure_threads,
    feature_moments,
    finite,
    fit_width,
    multiclass_metrics,
    prefixed,
    regression_metrics,
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
MODEL_FILENAME = "linear-learner-model.npz"

PREDICTOR_TYPES = ("binary_classifier", "multiclass_classifier", "regressor")
#: Losses each predictor type takes; ``auto`` is the first one after it.
LOSSES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "binary_classifier": ("auto", "logistic", "hinge_loss"),
        "multiclass_classifier": ("auto", "softmax_loss"),
        "regressor": (
            "auto",
            "squared_loss",
            "absolute_loss",
            "eps_insensitive_squared_loss",
            "eps_insensitive_absolute_loss",
            "quantile_loss",
            "huber_loss",
        ),
    }
)
ALL_LOSSES = (
    "auto",
    "logistic",
    "squared_loss",
    "absolute_loss",
    "hinge_loss",
    "eps_insensitive_squared_loss",
    "eps_insensitive_absolute_loss",
    "quantile_loss",
    "huber_loss",
    "softmax_loss",
)
SELECTION_CRITERIA = (
    "accuracy",
    "f1",
    "f_beta",
    "precision_at_target_recall",
    "recall_at_target_precision",
    "cross_entropy_loss",
    "loss_function",
)

#: Metrics reported for each predictor type (without the data-set prefix).
METRICS_BY_PREDICTOR: Mapping[str, Mapping[str, Direction]] = MappingProxyType(
    {
        "binary_classifier": {
            "objective_loss": "Minimize",
            "binary_classification_accuracy": "Maximize",
            "binary_f_beta": "Maximize",
            "precision": "Maximize",
            "recall": "Maximize",
            "roc_auc_score": "Maximize",
        },
        "multiclass_classifier": {
            "objective_loss": "Minimize",
            "multiclass_accuracy": "Maximize",
            "multiclass_top_k_accuracy": "Maximize",
            "macro_f_beta": "Maximize",
            "macro_precision": "Maximize",
            "macro_recall": "Maximize",
            "dcg": "Maximize",
        },
        "regressor": {
            "objective_loss": "Minimize",
            "mse": "Minimize",
            "rmse": "Minimize",
            "absolute_loss": "Minimize",
        },
    }
)
#: Every metric this algorithm can report: AMT's ``validation:`` and ``test:`` metrics of Linear
#: Learner (``test:rmse`` too), and ``train:objective_loss``, reported every epoch.
METRICS: Mapping[str, Direction] = MappingProxyType(
    {
        "train:objective_loss": "Minimize",
        **{
            f"{data_set}:{name}": direction
            for data_set in ("validation", "test")
            for by_name in METRICS_BY_PREDICTOR.values()
            for name, direction in by_name.items()
        },
    }
)


@dataclass(frozen=True)
class WordOrValueSpec(HyperparameterSpec):
    """A number or bool hyperparameter that also takes a few words, such as ``auto``.

    ``kind`` stays numeric so that the engine accepts continuous and integer ranges for it
    (``learning_rate`` is tuned while its default is ``auto``); the words parse to themselves.
    """

    words: tuple[str, ...] = ("auto",)

    def allowed(self) -> str:
        return " or ".join((*self.words, super().allowed()))

    def parse(self, name: str, raw: object) -> Any:
        text = str(raw).strip().lower()
        if text in self.words:
            return text
        try:
            return super().parse(name, raw)
        except ValueError:
            msg = f"hyperparameter {name!r}: got {raw!r}, must be {self.allowed()}"
            raise ValueError(msg) from None


def _spec(kind: Any, default: Any, description: str, **bounds: Any) -> HyperparameterSpec:
    return HyperparameterSpec(kind=kind, default=default, description=description, **bounds)


def _auto(kind: Any, default: Any, description: str, **bounds: Any) -> WordOrValueSpec:
    return WordOrValueSpec(kind=kind, default=default, description=description, **bounds)


def _unit_open(default: float, description: str) -> HyperparameterSpec:
    return _spec(
        "float", default, description, min_value=0, max_value=1, min_open=True, max_open=True
    )


#: SageMaker Linear Learner's hyperparameters (the developer guide's "Linear learner
#: hyperparameters" page; ranges as the SageMaker Python SDK validates them, or wider where the
#: page is: accuracy_top_k has no upper bound, normalize_data also takes auto).
HYPERPARAMETERS: Mapping[str, HyperparameterSpec] = MappingProxyType(
    {
        "predictor_type": HyperparameterSpec(
            "str", required=True, choices=PREDICTOR_TYPES, description="Type of target variable."
        ),
        "num_classes": _spec(
            "int",
            None,
            "Number of classes (labels 0 .. num_classes-1); required for multiclass_classifier.",
            min_value=3,
            max_value=1_000_000,
        ),
        "accuracy_top_k": _spec(
            "int",
            3,
            "k of the multiclass top-k accuracy metric (a positive integer).",
            min_value=1,
        ),
        "balance_multiclass_weights": _spec(
            "bool", False, "Weight classes so that each matters equally in the loss."
        ),
        "beta_1": _auto(
            "float", "auto", "Adam: first-moment decay.", min_value=0, max_value=1, max_open=True
        ),
        "beta_2": _auto(
            "float", "auto", "Adam: second-moment decay.", min_value=0, max_value=1, max_open=True
        ),
        "bias_lr_mult": _auto(
            "float",
            "auto",
            "Learning rate of the bias, times learning_rate.",
            min_value=0,
            min_open=True,
        ),
        "bias_wd_mult": _auto(
            "float", "auto", "L2 weight of the bias, times wd (auto: 0).", min_value=0
        ),
        "binary_classifier_model_selection_criteria": _spec(
            "str",
            "accuracy",
            "How binary classifiers choose the model and decision threshold.",
            choices=SELECTION_CRITERIA,
        ),
        "early_stopping_patience": _spec(
            "int", 3, "Epochs without improvement before training ends.", min_value=1
        ),
        "early_stopping_tolerance": _spec(
            "float", 0.001, "Relative improvement that counts.", min_value=0, min_open=True
        ),
        "epochs": _spec("int", 15, "Passes over the training data.", min_value=1),
        "f_beta": _spec("float", 1.0, "beta of the F-beta metrics.", min_value=0, min_open=True),
        "feature_dim": _auto(
            "int", "auto", "Number of features (auto: from the train channel).", min_value=1
        ),
        "huber_delta": _spec(
            "float", 1.0, "huber_loss: where it turns linear.", min_value=0, min_open=True
        ),
        "init_bias": _spec("float", 0.0, "Initial bias."),
        "init_method": _spec(
            "str", "uniform", "Distribution of the initial weights.", choices=("uniform", "normal")
        ),
        "init_scale": _spec(
            "float",
            0.07,
            "uniform init: weights in [-init_scale, init_scale].",
            min_value=0,
            min_open=True,
        ),
        "init_sigma": _spec(
            "float", 0.01, "normal init: standard deviation.", min_value=0, min_open=True
        ),
        "l1": _auto("float", "auto", "L1 regularisation weight.", min_value=0),
        "learning_rate": _auto(
            "float", "auto", "Step size of the optimizer.", min_value=0, min_open=True
        ),
        "loss": _spec(
            "str", "auto", "Loss function (depends on predictor_type).", choices=ALL_LOSSES
        ),
        "loss_insensitivity": _spec(
            "float",
            0.01,
            "eps_insensitive losses: errors below this cost nothing.",
            min_value=0,
            min_open=True,
        ),
        "lr_scheduler_factor": _auto(
            "float",
            "auto",
            "Learning rate decay factor.",
            min_value=0,
            max_value=1,
            min_open=True,
            max_open=True,
        ),
        "lr_scheduler_minimum_lr": _auto(
            "float", "auto", "Floor of the decayed learning rate.", min_value=0, min_open=True
        ),
        "lr_scheduler_step": _auto(
            "int", "auto", "Updates between learning rate decays.", min_value=1
        ),
        "margin": _spec("float", 1.0, "hinge_loss margin.", min_value=0),
        "mini_batch_size": _spec("int", 1000, "Rows per mini-batch.", min_value=1),
        "momentum": _auto(
            "float", "auto", "SGD momentum.", min_value=0, max_value=1, max_open=True
        ),
        "normalize_data": _auto("bool", True, "Scale features to unit variance (auto: true)."),
        "normalize_label": _auto("bool", "auto", "Scale the label (auto: regressors only)."),
        "num_calibration_samples": _auto(
            "int", "auto", "Rows used to choose the model and threshold.", min_value=1
        ),
        "num_models": _auto(
            "int", "auto", "Models trained in parallel (1 under tuning).", min_value=1
        ),
        "num_point_for_scaler": _spec(
            "int", 10000, "Rows used to compute the normalisation statistics.", min_value=1
        ),
        "optimizer": _spec(
            "str", "auto", "Optimizer (auto: adam).", choices=("auto", "sgd", "adam", "rmsprop")
        ),
        "positive_example_weight_mult": WordOrValueSpec(
            "float",
            1.0,
            description="Weight of positive examples (binary); balanced: n_negative/n_positive.",
            min_value=0,
            min_open=True,
            words=("auto", "balanced"),
        ),
        "quantile": _unit_open(0.5, "quantile_loss: the quantile."),
        "target_precision": _unit_open(0.8, "recall_at_target_precision: the precision."),
        "target_recall": _unit_open(0.8, "precision_at_target_recall: the recall."),
        "unbias_data": _auto("bool", "auto", "Shift features to zero mean (auto: dense data)."),
        "unbias_label": _auto("bool", "auto", "Shift the label to zero mean (auto: regressors)."),
        "use_bias": _spec("bool", True, "Learn a bias term."),
        "use_lr_scheduler": _spec("bool", True, "Decay the learning rate."),
        "wd": _auto("float", "auto", "L2 regularisation (weight decay).", min_value=0),
        "seed": _spec(
            "int", 0, "Random seed (this clone's addition).", min_value=0, max_value=2**63 - 1
        ),
    }
)


#: AMT's recommended ranges (its tuning page; AMT.md 17.2), what Autotune tunes over.
TUNING_RANGES: Mapping[str, TuningRange] = MappingProxyType(
    {
        "wd": continuous(1e-7, 1, "Logarithmic"),
        "l1": continuous(1e-7, 1, "Logarithmic"),
        "learning_rate": continuous(1e-5, 1, "Logarithmic"),
        "mini_batch_size": integer(100, 5000),
        "use_bias": categorical("True", "False"),
        "positive_example_weight_mult": continuous(1e-5, 1e5, "Logarithmic"),
    }
)

_AUTO_NUM_MODELS = 8
_AUTO_LEARNING_RATE = {"sgd": 0.1, "adam": 0.03, "rmsprop": 0.01}
#: ``learning_rate=auto`` of regressors where it differs from ``_AUTO_LEARNING_RATE``.
_AUTO_REGRESSOR_LEARNING_RATE = {"adam": 0.01}
#: ``lr_scheduler_step=auto`` decays once an epoch, but never more often than this many updates.
_MIN_AUTO_SCHEDULER_STEP = 100


# -- the model -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearLearnerModel:
    """A trained linear model on raw features: ``X @ weights + bias``.

    ``predict`` gives what SageMaker's endpoint calls ``predicted_label`` (0/1 for binary, the
    class for multiclass) or, for regressors, the prediction; ``predict_scores`` gives the
    ``score`` (probability of class 1 for logistic loss, the margin for hinge loss; class
    probabilities ``[n, num_classes]`` for multiclass).
    """

    predictor_type: str
    loss: str
    weights: np.ndarray  # [feature_dim, outputs]
    bias: np.ndarray  # [outputs]
    threshold: float = 0.5

    @property
    def feature_dim(self) -> int:
        return int(self.weights.shape[0])

    def raw(self, X: Features) -> np.ndarray:
        """``X @ weights + bias``, ``[n, outputs]``; ``X`` dense or sparse, raw features."""
        if X.shape[1] > self.feature_dim or (
            not scipy.sparse.issparse(X) and X.shape[1] != self.feature_dim
        ):
            msg = f"X has {X.shape[1]} features; the model was trained on {self.feature_dim}"
            raise InputError(msg)
        weights = self.weights[: X.shape[1]]
        product = X @ weights if scipy.sparse.issparse(X) else np.asarray(X, np.float64) @ weights
        return np.asarray(product) + self.bias

    def predict_scores(self, X: Features) -> np.ndarray:
        raw = self.raw(X)
        if self.predictor_type == "multiclass_classifier":
            return np.asarray(scipy.special.softmax(raw, axis=1))
        if self.predictor_type == "binary_classifier" and self.loss == "logistic":
            return np.asarray(scipy.special.expit(raw[:, 0]))
        return raw[:, 0]

    def predict(self, X: Features) -> np.ndarray:
        scores = self.predict_scores(X)
        if self.predictor_type == "multiclass_classifier":
            return np.argmax(scores, axis=1).astype(np.float64)
        if self.predictor_type == "binary_classifier":
            return (scores > self.threshold).astype(np.float64)
        return scores


def load(path: Path | str) -> LinearLearnerModel:
    """The model that ``train`` saved in ``path``, an output folder or the model file itself."""
    path = Path(path)
    file = path / MODEL_FILENAME if path.is_dir() else path
    if not file.is_file():
        msg = f"no linear-learner model at {file}"
        raise FileNotFoundError(msg)
    with np.load(file, allow_pickle=False) as stored:
        meta = json.loads(str(stored["meta"]))
        return LinearLearnerModel(
            predictor_type=meta["predictor_type"],
            loss=meta["loss"],
            weights=stored["weights"],
            bias=stored["bias"],
            threshold=float(meta["threshold"]),
        )


def _save(model: LinearLearnerModel, output_dir: Path) -> None:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "predictor_type": model.predictor_type,
        "loss": model.loss,
        "threshold": model.threshold,
        "feature_dim": model.feature_dim,
    }
    with (output_dir / MODEL_FILENAME).open("wb") as handle:
        np.savez(handle, weights=model.weights, bias=model.bias, meta=np.array(json.dumps(meta)))


# -- planning ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ModelSettings:
    """What differs between the models trained side by side."""

    learning_rate: float
    wd: float
    l1: float
    positive_weight: float | str  # a number or "balanced"


@dataclass
class _Plan:
    values: dict[str, Any]
    predictor_type: str
    loss: str
    outputs: int
    num_classes: int | None
    optimizer: str
    models: list[_ModelSettings]
    objective_metric: str | None
    feature_dim: int | None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


def _plan(values: dict[str, Any], channels: Mapping[str, Path]) -> _Plan:
    problems: list[str] = []
    predictor = values["predictor_type"]
    loss = values["loss"]
    if loss not in LOSSES[predictor]:
        problems.append(
            f"hyperparameter 'loss': {loss} is not a loss of a {predictor}; use one of "
            + ", ".join(LOSSES[predictor])
        )
    elif loss == "auto":
        loss = LOSSES[predictor][1]
    num_classes = values["num_classes"]
    if predictor == "multiclass_classifier":
        if num_classes is None:
            problems.append(
                "hyperparameter 'num_classes' is required when predictor_type is "
                "multiclass_classifier (an integer between 3 and 1000000)"
            )
    elif num_classes is not None:
        logger.info("num_classes is only used by multiclass_classifier; ignored")
        num_classes = None
    objective_metric = _objective_metric(
        values.get("_tuning_objective_metric"), predictor, channels, problems
    )
    if problems:
        raise HyperparameterError(problems)

    optimizer = "adam" if values["optimizer"] == "auto" else values["optimizer"]
    if objective_metric is not None:
        if values["num_models"] not in ("auto", 1):
            logger.info(
                "under tuning linear-learner trains one model, as in AMT: num_models ignored"
            )
        n_models = 1
    elif values["num_models"] == "auto":
        n_models = _AUTO_NUM_MODELS
    else:
        n_models = values["num_models"]
    rng = np.random.default_rng([values["seed"], 1])
    return _Plan(
        values=values,
        predictor_type=predictor,
        loss=loss,
        outputs=num_classes if predictor == "multiclass_classifier" else 1,
        num_classes=num_classes,
        optimizer=optimizer,
        models=_model_settings(values, optimizer, n_models, rng),
        objective_metric=objective_metric,
        feature_dim=None if values["feature_dim"] == "auto" else values["feature_dim"],
    )


def _objective_metric(
    raw: object, predictor: str, channels: Mapping[str, Path], problems: list[str]
) -> str | None:
    if raw is None:
        return None
    text = str(raw).strip()
    where = "hyperparameter '_tuning_objective_metric'"
    if text not in METRICS:
        problems.append(
            f"{where}: {text!r} is not a metric of linear-learner; known: {', '.join(METRICS)}"
        )
        return None
    data_set, _, name = text.partition(":")
    if name not in METRICS_BY_PREDICTOR[predictor]:
        reported = ", ".join(METRICS_BY_PREDICTOR[predictor])
        problems.append(f"{where}: a {predictor} does not report {name}; it reports {reported}")
    elif data_set not in channels:
        problems.append(f"{where}: {text} needs a {data_set!r} channel")
    return text


def _model_settings(
    values: Mapping[str, Any], optimizer: str, n_models: int, rng: np.random.Generator
) -> list[_ModelSettings]:
    """Model 0 as given; the others nearby (see the module docstring)."""
    lr = values["learning_rate"]
    if lr == "auto":
        lr = _AUTO_LEARNING_RATE[optimizer]
        if values["predictor_type"] == "regressor":
            lr = _AUTO_REGRESSOR_LEARNING_RATE.get(optimizer, lr)
    positive = values["positive_example_weight_mult"]

    def regulariser(given: float | str, k: int) -> float:
        if k == 0:
            return 0.0 if given == "auto" else float(given)
        if given == "auto":
            return float(10 ** rng.uniform(-7, -2))
        return float(given) * float(10 ** rng.uniform(-1, 1))

    settings = []
    for k in range(n_models):
        learning_rate = lr if k == 0 else lr * float(10 ** rng.uniform(-1, 1))
        wd, l1 = regulariser(values["wd"], k), regulariser(values["l1"], k)
        weight: float | str = positive
        if positive == "auto":
            weight = "balanced" if k % 2 else 1.0
        settings.append(_ModelSettings(learning_rate, wd, l1, weight))
    return settings


# -- data ----------------------------------------------------------------------------------------


@dataclass
class _Channel:
    name: str
    X: Features
    y: np.ndarray


def _load_data(plan: _Plan, channels: Mapping[str, Path]) -> dict[str, _Channel]:
    if "train" not in channels:
        got = ", ".join(repr(name) for name in channels) or "none"
        msg = f"linear-learner needs a 'train' channel (got {got})"
        raise InputError(msg)
    unknown = sorted(set(channels) - {"train", "validation", "test"})
    if unknown:
        logger.info("linear-learner reads train, validation and test; ignoring %s", unknown)
    data: dict[str, _Channel] = {}
    width = plan.feature_dim
    for name in ("train", "validation", "test"):
        if name not in channels:
            continue
        X, y = load_channel(channels[name])
        check_features(name, X, "linear-learner")
        check_labels(name, y, plan.predictor_type, plan.outputs)
        if width is None:
            width = int(X.shape[1])
        what = f"feature_dim is {width}" if plan.feature_dim else f"the train channel has {width}"
        data[name] = _Channel(name, fit_width(name, X, width, what=what), y)
    return data


# -- training ------------------------------------------------------------------------------------


class _Trainer:
    """K linear models trained side by side on normalised features (folded away at the end)."""

    def __init__(self, plan: _Plan, data: dict[str, _Channel], device: torch.device) -> None:
        self.plan = plan
        self.device = device
        self.data = data
        train = data["train"]
        rng = np.random.default_rng([plan["seed"], 2])
        self.generator = seeded_generator(plan["seed"])
        self.features = {name: DeviceFeatures(ch.X, device) for name, ch in data.items()}
        self.labels = {
            name: torch.as_tensor(ch.y, dtype=torch.float32, device=device)
            for name, ch in data.items()
        }
        self._set_scaling(train, rng)
        self._set_weights(train)
        self._build_parameters()
        self.best_loss = [math.inf] * len(plan.models)
        self.best_state = [self._state(k) for k in range(len(plan.models))]

    # setup

    def _set_scaling(self, train: _Channel, rng: np.random.Generator) -> None:
        plan = self.plan
        sparse = scipy.sparse.issparse(train.X)
        mean, std = feature_moments(train.X, plan["num_point_for_scaler"], rng)
        unbias = plan["unbias_data"]
        unbias = (not sparse and plan["use_bias"]) if unbias == "auto" else unbias
        mean = mean if unbias else np.zeros_like(mean)
        normalize = plan["normalize_data"]
        normalize = True if normalize == "auto" else normalize
        inverse = 1.0 / std if normalize else np.ones_like(std)
        self.inv_scale = torch.as_tensor(inverse, dtype=torch.float32, device=self.device)
        self.shift = torch.as_tensor(mean * inverse, dtype=torch.float32, device=self.device)
        self.label_mean, self.label_scale = 0.0, 1.0
        if plan.predictor_type == "regressor":
            unbias_label, normalize_label = plan["unbias_label"], plan["normalize_label"]
            if unbias_label == "auto":
                unbias_label = plan["use_bias"]
            if normalize_label == "auto":
                normalize_label = True
            sample = train.y[: plan["num_point_for_scaler"]]
            if unbias_label:
                self.label_mean = float(np.mean(sample))
            if normalize_label:
                spread = float(np.std(sample))
                self.label_scale = spread if spread > 1e-12 else 1.0
        elif plan["normalize_label"] is True or plan["unbias_label"] is True:
            logger.info("normalize_label and unbias_label apply to regressors only; ignored")

    def _set_weights(self, train: _Channel) -> None:
        plan = self.plan
        y = train.y
        self.positive_weights = torch.ones(len(plan.models), device=self.device)
        self.class_weights = None
        if plan.predictor_type == "binary_classifier":
            n_pos, n_neg = float(np.sum(y == 1)), float(np.sum(y == 0))
            balanced = n_neg / n_pos if n_pos > 0 and n_neg > 0 else 1.0
            positive = [
                balanced if s.positive_weight == "balanced" else float(s.positive_weight)
                for s in plan.models
            ]
            self.positive_weights = torch.tensor(positive, device=self.device)
        elif plan.predictor_type == "multiclass_classifier" and plan["balance_multiclass_weights"]:
            counts = np.bincount(y.astype(np.int64), minlength=plan.outputs).astype(np.float64)
            weights = np.where(counts > 0, y.size / (plan.outputs * np.maximum(counts, 1)), 0.0)
            self.class_weights = torch.as_tensor(weights, dtype=torch.float32, device=self.device)

    def _build_parameters(self) -> None:
        plan = self.plan
        d, c = self.features["train"].n_columns, plan.outputs
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []
        groups = []
        bias_lr = 1.0 if plan["bias_lr_mult"] == "auto" else plan["bias_lr_mult"]
        bias_wd = 0.0 if plan["bias_wd_mult"] == "auto" else plan["bias_wd_mult"]
        for settings in plan.models:
            if plan["init_method"] == "uniform":
                init = (torch.rand(d, c, generator=self.generator) * 2 - 1) * plan["init_scale"]
            else:
                init = torch.randn(d, c, generator=self.generator) * plan["init_sigma"]
            weight = init.to(self.device).requires_grad_(True)
            bias = torch.full((c,), float(plan["init_bias"]), device=self.device)
            bias.requires_grad_(plan["use_bias"])
            self.weights.append(weight)
            self.biases.append(bias)
            groups.append(
                {"params": [weight], "lr": settings.learning_rate, "weight_decay": settings.wd}
            )
            if plan["use_bias"]:
                groups.append(
                    {
                        "params": [bias],
                        "lr": settings.learning_rate * bias_lr,
                        "weight_decay": settings.wd * bias_wd,
                    }
                )
        self.l1 = torch.tensor([s.l1 for s in plan.models], device=self.device)
        self.optimizer = self._optimizer(groups)
        self.updates = 0
        n_batches = max(1, -(-self.features["train"].n_rows // plan["mini_batch_size"]))
        step = plan["lr_scheduler_step"]
        self.lr_step = max(n_batches, _MIN_AUTO_SCHEDULER_STEP) if step == "auto" else step
        factor = plan["lr_scheduler_factor"]
        self.lr_factor = 0.9 if factor == "auto" else factor
        minimum = plan["lr_scheduler_minimum_lr"]
        self.lr_minimum = 1e-5 if minimum == "auto" else minimum

    def _optimizer(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        plan = self.plan
        momentum = plan["momentum"]
        if plan.optimizer == "sgd":
            return torch.optim.SGD(
                groups, lr=0.1, momentum=0.9 if momentum == "auto" else momentum
            )
        if plan.optimizer == "rmsprop":
            return torch.optim.RMSprop(
                groups, lr=0.01, momentum=0.0 if momentum == "auto" else momentum
            )
        beta_1 = 0.9 if plan["beta_1"] == "auto" else plan["beta_1"]
        beta_2 = 0.999 if plan["beta_2"] == "auto" else plan["beta_2"]
        return torch.optim.Adam(groups, lr=0.01, betas=(beta_1, beta_2))

    # the model

    def _forward(self, rows: Rows, models: list[int] | None = None) -> torch.Tensor:
        """Scores in the training label space, ``[B, K, C]``."""
        chosen = range(len(self.weights)) if models is None else models
        weight = torch.cat([self.weights[k] for k in chosen], dim=1)
        bias = torch.cat([self.biases[k] for k in chosen])
        out = rows.matmul(weight * self.inv_scale[:, None]) - self.shift @ weight + bias
        return out.view(rows.n_rows, len(chosen), self.plan.outputs)

    def _pointwise_loss(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of each row under each model, ``[B, K]``, unweighted."""
        plan = self.plan
        loss = plan.loss
        if loss == "softmax_loss":
            classes = target.long()[:, None].expand(-1, raw.shape[1])
            return torch.nn.functional.cross_entropy(
                raw.permute(0, 2, 1), classes, reduction="none"
            )
        f = raw[..., 0]
        t = target[:, None].expand_as(f)
        if loss == "logistic":
            return torch.nn.functional.binary_cross_entropy_with_logits(f, t, reduction="none")
        if loss == "hinge_loss":
            return torch.relu(plan["margin"] - (2 * t - 1) * f)
        r = f - t
        if loss == "squared_loss":
            return r * r
        if loss == "absolute_loss":
            return r.abs()
        if loss == "eps_insensitive_squared_loss":
            return torch.relu(r.abs() - plan["loss_insensitivity"]) ** 2
        if loss == "eps_insensitive_absolute_loss":
            return torch.relu(r.abs() - plan["loss_insensitivity"])
        if loss == "quantile_loss":
            q = plan["quantile"]
            return torch.maximum(q * -r, (q - 1) * -r)
        delta = plan["huber_delta"]  # huber_loss
        return torch.where(r.abs() <= delta, 0.5 * r * r, delta * (r.abs() - 0.5 * delta))

    def _row_weights(self, target: torch.Tensor) -> torch.Tensor | None:
        if self.plan.predictor_type == "binary_classifier":
            return torch.where(target[:, None] > 0.5, self.positive_weights[None, :], 1.0)
        if self.class_weights is not None:
            return self.class_weights[target.long()][:, None]
        return None

    def _to_training_labels(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self.label_mean) / self.label_scale

    def _to_label_scale(self, raw: torch.Tensor) -> torch.Tensor:
        return raw * self.label_scale + self.label_mean

    # training

    def train_epoch(self) -> None:
        features, labels = self.features["train"], self.labels["train"]
        for index in shuffled_batches(
            features.n_rows, self.plan["mini_batch_size"], self.generator, self.device
        ):
            target = self._to_training_labels(labels[index])
            raw = self._forward(features.rows(index))
            loss = self._pointwise_loss(raw, target)
            weights = self._row_weights(target)
            if weights is not None:
                loss = loss * weights
            total = loss.mean(dim=0).sum()
            if bool((self.l1 > 0).any()):
                total = total + sum(
                    self.l1[k] * self.weights[k].abs().sum() for k in range(len(self.weights))
                )
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            self.optimizer.step()
            self._schedule()

    def _schedule(self) -> None:
        self.updates += 1
        if not self.plan["use_lr_scheduler"] or self.updates % self.lr_step:
            return
        for group in self.optimizer.param_groups:
            group["lr"] = max(group["lr"] * self.lr_factor, min(self.lr_minimum, group["lr"]))

    @torch.no_grad()
    def predict(self, channel: str, models: list[int] | None = None) -> torch.Tensor:
        """Scores of every row on the label scale, ``[n, K, C]``."""
        parts = [self._forward(rows, models) for rows in self.features[channel].batches()]
        return self._to_label_scale(torch.cat(parts))

    @torch.no_grad()
    def objective_losses(self, channel: str, raw: torch.Tensor | None = None) -> np.ndarray:
        """Mean unweighted loss of each model on ``channel``, on the label scale."""
        raw = self.predict(channel) if raw is None else raw
        return self._pointwise_loss(raw, self.labels[channel]).mean(dim=0).cpu().double().numpy()

    def remember_best(self, losses: np.ndarray) -> None:
        for k, loss in enumerate(losses):
            if loss < self.best_loss[k]:
                self.best_loss[k] = float(loss)
                self.best_state[k] = self._state(k)

    def checkpointed(self) -> dict[str, Any]:
        """What a checkpoint holds, as :func:`~algorithms.torch_util.save_training_state`
        and :func:`~algorithms.torch_util.restore_training_state` take it."""
        tensors = {f"weight{k}": w for k, w in enumerate(self.weights)}
        tensors.update({f"bias{k}": b for k, b in enumerate(self.biases)})
        return {"tensors": tensors, "optimizers": [self.optimizer], "generator": self.generator}

    def progress(self) -> dict[str, Any]:
        """The rest of a resumable state: the scheduler's count and each model's best epoch."""
        return {
            "updates": self.updates,
            "best_loss": self.best_loss,
            "best_state": self.best_state,
        }

    def restore_progress(self, saved: Mapping[str, Any]) -> None:
        self.updates = int(saved["updates"])
        self.best_loss = list(saved["best_loss"])
        self.best_state = list(saved["best_state"])

    def _state(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.weights[k].detach().clone(), self.biases[k].detach().clone()

    def restore_best(self) -> None:
        with torch.no_grad():
            for k, (weight, bias) in enumerate(self.best_state):
                self.weights[k].copy_(weight)
                self.biases[k].copy_(bias)

    # selection

    def finish(self) -> tuple[LinearLearnerModel, dict[str, float]]:
        """Restore each model's best epoch, choose one, and compute the final metrics."""
        self.restore_best()
        plan = self.plan
        channel = "validation" if "validation" in self.data else "train"
        labels = self.data[channel].y
        raw = self.predict(channel)
        limit = plan["num_calibration_samples"]
        if limit != "auto" and labels.size > limit:
            keep = np.sort(
                np.random.default_rng([plan["seed"], 3]).choice(labels.size, limit, replace=False)
            )
            raw, labels = raw[torch.as_tensor(keep, device=self.device)], labels[keep]
        chosen, threshold = self._select(raw, labels)
        model = self._fold(chosen, threshold)
        metrics: dict[str, float] = {}
        for name in ("train", "validation", "test"):
            if name not in self.data:
                continue
            scores = self.predict(name, [chosen])
            loss = float(self._pointwise_loss(scores, self.labels[name]).mean())
            if name == "train":
                metrics["train:objective_loss"] = loss
                continue
            found = self._metrics(
                scores[:, 0, :].cpu().double().numpy(), self.data[name].y, threshold
            )
            found["objective_loss"] = loss
            metrics.update(prefixed(name, finite(found)))
        return model, metrics

    def _select(self, raw: torch.Tensor, labels: np.ndarray) -> tuple[int, float]:
        plan = self.plan
        losses = self._pointwise_loss(
            raw, torch.as_tensor(labels, dtype=torch.float32, device=self.device)
        )
        losses_np = losses.mean(dim=0).cpu().double().numpy()
        if plan.predictor_type != "binary_classifier":
            return _argmin(losses_np), 0.5
        scores = self._binary_scores(raw[..., 0]).cpu().double().numpy()  # [n, K]
        default = 0.5 if plan.loss == "logistic" else 0.0
        criterion = plan["binary_classifier_model_selection_criteria"]
        if criterion == "loss_function":
            return _argmin(losses_np), default
        if criterion == "cross_entropy_loss":
            probabilities = scipy.special.expit(raw[..., 0].cpu().double().numpy())
            entropies = [
                binary_cross_entropy(labels, probabilities[:, k]) for k in range(raw.shape[1])
            ]
            return _argmin(np.asarray(entropies)), default
        name = "f_beta" if criterion == "f1" else criterion
        beta = 1.0 if criterion == "f1" else plan["f_beta"]
        target = (
            plan["target_recall"]
            if name == "precision_at_target_recall"
            else plan["target_precision"]
        )
        results = [
            best_threshold(labels, scores[:, k], name, beta=beta, target=target)
            for k in range(scores.shape[1])
        ]
        chosen = _argmin(-np.array([value for _, value in results]))
        return chosen, results[chosen][0]

    def _binary_scores(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(raw) if self.plan.loss == "logistic" else raw

    def _metrics(self, raw: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
        plan = self.plan
        if plan.predictor_type == "binary_classifier":
            scores = scipy.special.expit(raw[:, 0]) if plan.loss == "logistic" else raw[:, 0]
            return binary_metrics(labels, scores, threshold, plan["f_beta"])
        if plan.predictor_type == "multiclass_classifier":
            return multiclass_metrics(
                labels, raw, top_k=plan["accuracy_top_k"], beta=plan["f_beta"]
            )
        return regression_metrics(labels, raw[:, 0])

    def _fold(self, k: int, threshold: float) -> LinearLearnerModel:
        """Model ``k`` on raw features and the original label scale."""
        weight = self.weights[k].detach().cpu().double().numpy()
        bias = self.biases[k].detach().cpu().double().numpy()
        inverse = self.inv_scale.cpu().double().numpy()
        shift = self.shift.cpu().double().numpy()
        folded_weight = weight * inverse[:, None] * self.label_scale
        folded_bias = (bias - shift @ weight) * self.label_scale + self.label_mean
        return LinearLearnerModel(
            predictor_type=self.plan.predictor_type,
            loss=self.plan.loss,
            weights=folded_weight,
            bias=folded_bias,
            threshold=threshold,
        )


def _argmin(values: np.ndarray) -> int:
    """Index of the smallest value, NaN counting as worst (a diverged model is never chosen)."""
    return int(np.argmin(np.where(np.isnan(values), np.inf, values)))


@dataclass
class _EarlyStopping:
    """Stop after ``patience`` epochs not beating the best loss by ``tolerance`` (relative)."""

    patience: int
    tolerance: float
    best: float = math.inf
    stale: int = 0

    def update(self, loss: float) -> bool:
        if not math.isfinite(self.best) or self.best - loss > self.tolerance * abs(self.best):
            self.best, self.stale = min(loss, self.best), 0
            return False
        self.stale += 1
        return self.stale >= self.patience


def _resume(ctx: TrainingContext, trainer: _Trainer, stopping: _EarlyStopping) -> int:
    """Load the training job's checkpoint, if any, into ``trainer`` and ``stopping``; the first
    epoch still to train (past the last one when the checkpoint is of the final epoch)."""
    resumed = restore_training_state(ctx, "linear-learner", **trainer.checkpointed())
    if resumed is None:
        return 1
    epoch, extra = resumed
    trainer.restore_progress(extra)
    stopping.best, stopping.stale = extra["stopping"]
    if stopping.stale >= stopping.patience:
        return trainer.plan["epochs"] + 1  # early stopping had ended it: nothing left to train
    return epoch + 1


# -- the algorithm -------------------------------------------------------------------------------


class LinearLearnerAlgorithm:
    """SageMaker's built-in Linear Learner (``linear-learner`` image)."""

    name = "linear-learner"
    hyperparameters: Mapping[str, HyperparameterSpec] = HYPERPARAMETERS
    metrics: Mapping[str, Direction] = METRICS
    tuning_ranges: Mapping[str, TuningRange] = TUNING_RANGES

    def train(
        self,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
    ) -> None:
        """Train on ``train``, report every epoch, save ``linear-learner-model.npz``.

        Raises:
            HyperparameterError: a hyperparameter is unknown, missing or invalid, or the tuning
                objective is not reported for this predictor type or lacks its channel.
            InputError: the ``train`` channel is missing, or data or labels are malformed.
        """
        values = parse_hyperparameters(self.hyperparameters, hyperparameters)
        plan = _plan(values, channels)
        data = _load_data(plan, channels)
        device = torch_device(ctx.device)
        per_row = values_per_row(data["train"].X)
        configure_threads(plan["mini_batch_size"] * per_row * plan.outputs * len(plan.models))
        trainer = _Trainer(plan, data, device)
        selection = "validation" if "validation" in data else "train"
        stopping = _EarlyStopping(
            plan["early_stopping_patience"], plan["early_stopping_tolerance"]
        )
        model: LinearLearnerModel | None = None
        start = _resume(ctx, trainer, stopping)
        try:
            for epoch in range(start, plan["epochs"] + 1):
                if ctx.should_stop():
                    break
                trainer.train_epoch()
                losses: dict[str, np.ndarray] = {
                    name: trainer.objective_losses(name)
                    for name in ("train", "validation")
                    if name in data
                }
                trainer.remember_best(losses[selection])
                best = _argmin(losses[selection])
                last = stopping.update(float(losses[selection][best])) or epoch == plan["epochs"]
                metrics = {
                    f"{name}:objective_loss": float(loss[best]) for name, loss in losses.items()
                }
                if last:
                    model, final = trainer.finish()
                    metrics.update(final)
                ctx.report(epoch, **finite(metrics))
                extra = {**trainer.progress(), "stopping": (stopping.best, stopping.stale)}
                save_training_state(ctx, self.name, epoch, **trainer.checkpointed(), extra=extra)
                if last:
                    break
        except StopTraining:
            _save(model or trainer.finish()[0], ctx.output_dir)
            raise
        _save(model or trainer.finish()[0], ctx.output_dir)

    def load(self, path: Path | str) -> LinearLearnerModel:
        """The model a trial saved; ``path`` is its output folder or the model file."""
        return load(path)


ALGORITHM = LinearLearnerAlgorithm()
