"""Image classification as SageMaker's built-in algorithm runs it: a ResNet trained from scratch.

SageMaker's image-classification algorithm (MXNet) trains a ResNet (He et al., "Deep residual
learning for image recognition", CVPR 2016, and "Identity mappings in deep residual networks",
ECCV 2016) of ``num_layers`` layers on the ``train`` channel and reports ``train:accuracy`` and
``validation:accuracy`` after every epoch. This module does the same in torch, on ``ctx.device``:

* ``num_layers`` picks an ImageNet ResNet (18 to 200) or a CIFAR ResNet (any other
  ``6n + 2``); see :mod:`algorithms.resnet`.
* Images come in SageMaker's two input formats. ``application/x-image``: image files (JPEG,
  PNG, ...) with a ``.lst`` file (``index<TAB>label(s)<TAB>relative/path``, as im2rec writes
  it) in a ``<channel>_lst`` channel (``train_lst``, ``validation_lst``) or at the top of the
  image channel, or one folder per class; see :mod:`algorithms.images`.
  ``application/x-recordio``: MXNet image RecordIO, one or more ``.rec`` files in the channel
  (or the channel a ``.rec`` file), as im2rec packs them (a scalar label, or with
  ``--pack-label`` one label per class for ``multi_label=1``); see
  :mod:`algorithms.image_recordio`. A channel is read as RecordIO when it holds ``.rec`` files
  and no ``<channel>_lst`` channel is given (a ``.lst`` or ``.idx`` file beside the ``.rec``
  files is then ignored).
* Optimisers are SGD, Nesterov SGD (``nag``), Adam and RMSprop with SageMaker's
  hyperparameters; ``weight_decay`` applies to sgd and nag only, as documented. The learning
  rate is multiplied by ``lr_scheduler_factor`` after each epoch listed in
  ``lr_scheduler_step``.
* ``augmentation_type`` (``crop``, ``crop_color``, ``crop_color_transform``) augments each
  batch on the device; see :mod:`algorithms.image_augmentation`.
* The model saved (``image-classification-model.pt``) is the epoch with the best validation
  accuracy (the last epoch without a validation channel), as SageMaker keeps its best
  checkpoint; ``checkpoint_frequency`` also saves ``image-classification-NNNN.pt`` every so
  many epochs. ``early_stopping`` ends training after ``early_stopping_patience`` epochs without
  a relative improvement above ``early_stopping_tolerance`` (not before
  ``early_stopping_min_epochs``).
* ``multi_label=1`` trains one sigmoid per class on ``.lst`` files with one 0/1 column per
  class; accuracy is then the share of correct (image, class) decisions at 0.5, and
  ``use_weighted_loss=1`` weighs each class's positives by its negative/positive ratio.
* ``use_pretrained_model=1`` is refused: no pretrained weights can be downloaded here.
  ``kv_store`` (distributed training) is accepted and ignored: training runs in one process.
  ``precision_dtype=float16`` trains with CUDA autocast and gradient scaling; on a CPU it falls
  back to float32.
* Ranges are the developer guide's: ``beta_1``, ``beta_2``, ``eps``, ``learning_rate`` and
  ``lr_scheduler_factor`` take all of [0, 1] and ``num_classes`` any positive integer. Adam's
  betas of exactly 1 (which torch refuses) run as ``1 - 1e-7``, their limit.

Training is seeded (weights, shuffling, augmentation): on the CPU the same hyperparameters give
the same metrics; CUDA kernels may differ in the last bits from run to run.

This module holds the hyperparameters and their checks, the channels' images and labels, and the
training loop. The network is :mod:`algorithms.resnet`; the saved model (its file,
:func:`load`, :class:`ImageClassifier`) is :mod:`algorithms.image_model`; augmentation is
:mod:`algorithms.image_augmentation`. Their public names are re-exported here, so
``from algorithms.image_classification import ...`` keeps working for every name it offered.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Mapping
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
from algorithms.image_augmentation import _augment
from algorithms.image_model import (
    CHECKPOINT_PATTERN,
    MODEL_FILENAME,
    Architecture,
    ImageClassifier,
    _normalise,
    _save,
    load,
)
from algorithms.image_recordio import load_rec, rec_files
from algorithms.images import list_images, load_images
from algorithms.resnet import IMAGENET_LAYERS, build_network

__all__ = [
    # algorithms.resnet
    "IMAGENET_LAYERS",
    "build_network",
    # algorithms.image_model
    "CHECKPOINT_PATTERN",
    "MODEL_FILENAME",
    "Architecture",
    "ImageClassifier",
    "load",
    # this module
    "ALGORITHM",
    "DOCUMENTED_LAYERS",
    "HYPERPARAMETERS",
    "METRICS",
    "SEED",
    "ImageClassificationAlgorithm",
]

logger = logging.getLogger(__name__)

#: Seed of the weights, the shuffling and the augmentation (SageMaker's algorithm takes none).
SEED = 0
#: The name checkpoints are tagged with (a checkpoint of another algorithm is not resumed).
ALGORITHM_NAME = "image-classification"

METRICS: Mapping[str, Direction] = MappingProxyType(
    {
        "validation:accuracy": "Maximize",
        "train:accuracy": "Maximize",
        "validation:top_k_accuracy": "Maximize",
        "train:top_k_accuracy": "Maximize",
    }
)

#: The values SageMaker documents; other 6n+2 values are accepted too (CIFAR-style).
DOCUMENTED_LAYERS = (18, 34, 50, 101, 152, 200, 20, 32, 44, 56, 110)


def _spec(kind: Any, default: Any = None, description: str = "", **bounds: Any) -> Any:
    return HyperparameterSpec(kind=kind, default=default, description=description, **bounds)


def _unit(default: float | None, description: str, **bounds: Any) -> HyperparameterSpec:
    return _spec("float", default, description, min_value=0, max_value=1, **bounds)


def _flag(default: int, description: str) -> HyperparameterSpec:
    return _spec("int", default, description, min_value=0, max_value=1)


#: SageMaker image classification's hyperparameters ("Image Classification Hyperparameters"),
#: with the ranges that page gives: num_classes a positive integer; beta_1, beta_2, eps, gamma,
#: learning_rate, lr_scheduler_factor, momentum and weight_decay in [0, 1].
HYPERPARAMETERS: Mapping[str, HyperparameterSpec] = MappingProxyType(
    {
        "num_classes": HyperparameterSpec(
            "int", required=True, min_value=1, description="Number of output classes."
        ),
        "num_training_samples": HyperparameterSpec(
            "int",
            required=True,
            min_value=1,
            description="Training images in the input (a mismatch is logged).",
        ),
        "augmentation_type": _spec(
            "str",
            None,
            "Data augmentation; none by default.",
            choices=("crop", "crop_color", "crop_color_transform"),
        ),
        "beta_1": _unit(
            0.9, "Adam: decay rate of the first moment, in [0, 1] (1 runs as 1 - 1e-7)."
        ),
        "beta_2": _unit(
            0.999, "Adam: decay rate of the second moment, in [0, 1] (1 runs as 1 - 1e-7)."
        ),
        "checkpoint_frequency": _spec(
            "int", None, "Also save the model every this many epochs (<= epochs).", min_value=1
        ),
        "early_stopping": _spec("bool", False, "Stop when validation accuracy stops improving."),
        "early_stopping_min_epochs": _spec(
            "int", 10, "Epochs before early stopping may act.", min_value=1
        ),
        "early_stopping_patience": _spec(
            "int", 5, "Epochs without improvement before stopping.", min_value=1
        ),
        "early_stopping_tolerance": _unit(
            0.0, "Relative accuracy improvement below which an epoch does not count."
        ),
        "epochs": _spec("int", 30, "Training epochs.", min_value=1),
        "eps": _unit(1e-8, "Adam and RMSprop: epsilon, in [0, 1]."),
        "gamma": _unit(0.9, "RMSprop: decay of the moving average of squared gradients."),
        "image_shape": _spec(
            "str", "3,224,224", "Input shape 'channels,height,width' (channels 1 or 3)."
        ),
        "kv_store": _spec(
            "str",
            None,
            "Distributed weight synchronisation; accepted, not used (one process).",
            choices=("dist_sync", "dist_async"),
        ),
        "learning_rate": _unit(0.1, "Initial learning rate, in [0, 1]."),
        "lr_scheduler_factor": _unit(
            0.1, "Learning-rate multiplier at each lr_scheduler_step epoch, in [0, 1]."
        ),
        "lr_scheduler_step": _spec(
            "str", None, "Comma-separated epochs after which the learning rate is reduced."
        ),
        "mini_batch_size": _spec("int", 32, "Images per mini-batch.", min_value=1),
        "momentum": _unit(0.9, "sgd and nag: momentum."),
        "multi_label": _flag(0, "1: multi-label classification (.lst with a column per class)."),
        "num_layers": _spec(
            "int",
            152,
            "ResNet depth: 18, 34, 50, 101, 152, 200 (ImageNet-style) or 20, 32, 44, 56, 110 "
            "(CIFAR-style); any 6n+2 >= 8 is also accepted.",
            min_value=8,
        ),
        "optimizer": _spec("str", "sgd", "Optimiser.", choices=("sgd", "adam", "rmsprop", "nag")),
        "precision_dtype": _spec(
            "str", "float32", "Training precision.", choices=("float32", "float16")
        ),
        "resize": _spec(
            "int", None, "Scale every image's shorter side to this many pixels first.", min_value=1
        ),
        "top_k": _spec(
            "int", None, "Also report top-k accuracy (2 <= top_k < num_classes).", min_value=2
        ),
        "use_pretrained_model": _flag(0, "1: start from pretrained weights (not available)."),
        "use_weighted_loss": _flag(0, "Multi-label: weigh positives by class frequency."),
        "weight_decay": _unit(0.0001, "sgd and nag: L2 weight decay."),
    }
)


#: AMT's recommended ranges (its tuning page; AMT.md 17.2), what Autotune tunes over.
TUNING_RANGES: Mapping[str, TuningRange] = MappingProxyType(
    {
        "beta_1": continuous(1e-6, 0.999),
        "beta_2": continuous(1e-6, 0.999),
        "eps": continuous(1e-8, 1.0, "Logarithmic"),
        "gamma": continuous(1e-8, 0.999),
        "learning_rate": continuous(1e-6, 0.5, "Logarithmic"),
        "mini_batch_size": integer(8, 512),
        "momentum": continuous(0, 0.999),
        "optimizer": categorical("sgd", "adam", "rmsprop", "nag"),
        "weight_decay": continuous(0, 0.999),
    }
)


def _torch() -> Any:
    import torch

    return torch


# -- planning ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    values: Mapping[str, Any]
    image_shape: tuple[int, int, int]
    lr_steps: tuple[int, ...]
    multi_label: bool
    top_k: int | None


def _plan(values: Mapping[str, Any], channels: Mapping[str, Path]) -> _Plan:
    problems: list[str] = []
    if values["use_pretrained_model"] == 1:
        problems.append(
            "hyperparameter 'use_pretrained_model': pretrained weights cannot be downloaded "
            "here; set use_pretrained_model=0 to train the network from scratch"
        )
    num_layers = values["num_layers"]
    if num_layers not in IMAGENET_LAYERS and (num_layers - 2) % 6 != 0:
        problems.append(
            f"hyperparameter 'num_layers': got {num_layers}, must be one of "
            + ", ".join(map(str, DOCUMENTED_LAYERS))
            + " (or another 6n+2 >= 8 for a CIFAR-style ResNet)"
        )
    image_shape = _image_shape(values["image_shape"], problems)
    lr_steps = _lr_steps(values["lr_scheduler_step"], problems)
    frequency = values["checkpoint_frequency"]
    if frequency is not None and frequency > values["epochs"]:
        problems.append(
            f"hyperparameter 'checkpoint_frequency': got {frequency}, must be at most epochs "
            f"({values['epochs']})"
        )
    top_k = values["top_k"]
    multi_label = values["multi_label"] == 1
    if top_k is not None and top_k >= values["num_classes"]:
        problems.append(
            f"hyperparameter 'top_k': got {top_k}, must be less than num_classes "
            f"({values['num_classes']})"
        )
    if top_k is not None and multi_label:
        problems.append("hyperparameter 'top_k' does not apply with multi_label=1")
    if values["use_weighted_loss"] == 1 and not multi_label:
        logger.info("use_weighted_loss applies only with multi_label=1; ignored")
    objective = values.get("_tuning_objective_metric")
    if objective is not None:
        if objective not in METRICS:
            problems.append(
                f"hyperparameter '_tuning_objective_metric': {objective!r} is not a metric of "
                f"image classification; known: {', '.join(METRICS)}"
            )
        elif objective.startswith("validation:") and "validation" not in channels:
            problems.append(
                f"hyperparameter '_tuning_objective_metric': {objective} needs a 'validation' "
                "channel"
            )
        elif "top_k" in objective and top_k is None:
            problems.append(
                f"hyperparameter '_tuning_objective_metric': {objective} needs top_k to be set"
            )
    if problems:
        raise HyperparameterError(problems)
    assert image_shape is not None
    return _Plan(values, image_shape, lr_steps, multi_label, top_k)


def _image_shape(text: str, problems: list[str]) -> tuple[int, int, int] | None:
    parts = [part.strip() for part in str(text).strip().strip("()[]").split(",")]
    if len(parts) == 3 and all(part.isdigit() for part in parts):
        channels, height, width = (int(part) for part in parts)
        if channels in (1, 3) and height >= 1 and width >= 1:
            return channels, height, width
    problems.append(
        f"hyperparameter 'image_shape': got {text!r}, must be 'channels,height,width' with "
        "channels 1 or 3 and positive height and width, such as '3,224,224'"
    )
    return None


def _lr_steps(text: str | None, problems: list[str]) -> tuple[int, ...]:
    if text is None or not str(text).strip():
        return ()
    parts = [part.strip() for part in str(text).split(",") if part.strip()]
    if not parts or not all(part.isdigit() and int(part) >= 1 for part in parts):
        problems.append(
            f"hyperparameter 'lr_scheduler_step': got {text!r}, must be comma-separated "
            "epochs (positive integers), such as '10,20'"
        )
        return ()
    return tuple(sorted(int(part) for part in parts))


# -- data ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Split:
    pixels: np.ndarray  # (N, c, h, w) uint8
    labels: np.ndarray  # (N,) int64, or (N, classes) float32 for multi-label
    class_names: dict[int, str] | None


def _load_split(
    channels: Mapping[str, Path],
    name: str,
    plan: _Plan,
    *,
    known: Mapping[int, str] | None = None,
) -> _Split:
    """A channel's images and labels; ``known`` are the training classes of a folder layout.

    A channel of MXNet RecordIO (``.rec``) files is read when no ``<name>_lst`` channel is
    given; otherwise the images are listed by :func:`list_images` (``.lst`` files or class
    folders). Class folders are matched to the training classes by name, so a validation channel
    that lacks a class still labels the others as the training channel does.
    """
    values = plan.values
    lst = channels.get(f"{name}_lst")
    recs = rec_files(channels[name]) if lst is None else []
    if recs:  # one pass: the labels come with the images
        rec = load_rec(recs, plan.image_shape, resize=values["resize"])
        labels = _labels(list(rec.labels), rec.where, name, plan, "the RecordIO records")
        return _Split(rec.pixels, labels, None)
    images = list_images(channels[name], lst, name=name)
    raw = [record.label for record in images.records]
    if known is not None and images.class_names is not None:
        by_name = {folder: label for label, folder in known.items()}
        missing = sorted(set(images.class_names.values()) - set(by_name))
        if missing:
            msg = (
                f"{name} channel: class folder(s) {', '.join(missing)} are not in the train "
                f"channel (its classes: {', '.join(sorted(by_name))})"
            )
            raise InputError(msg)
        remap = {label: by_name[folder] for label, folder in images.class_names.items()}
        raw = [(float(remap[int(label[0])]),) for label in raw]
    labels = _labels(raw, lambda i: str(images.records[i].path), name, plan, "the .lst file")
    pixels = load_images(images.records, plan.image_shape, resize=values["resize"])
    return _Split(pixels, labels, images.class_names)


def _labels(
    raw: list[tuple[float, ...]],
    where: Callable[[int], str],
    name: str,
    plan: _Plan,
    source: str,
) -> np.ndarray:
    """The labels of a channel as training takes them, checked against ``num_classes``.

    ``where(i)`` names image ``i`` in messages; ``source`` says where the labels come from.
    """
    num_classes = plan.values["num_classes"]
    width = num_classes if plan.multi_label else 1
    odd = next((i for i, label in enumerate(raw) if len(label) != width), None)
    if plan.multi_label:
        if odd is not None:
            msg = (
                f"{name} channel: multi_label=1 needs num_classes ({num_classes}) label columns "
                f"in {source}, one 0/1 value per class; found {len(raw[odd])} at {where(odd)}"
            )
            raise InputError(msg)
        labels = np.asarray(raw, dtype=np.float32)
        if not np.isin(labels, (0.0, 1.0)).all():
            msg = f"{name} channel: multi-label values must be 0 or 1"
            raise InputError(msg)
        return labels
    if odd is not None:
        msg = (
            f"{name} channel: {len(raw[odd])} label values for {where(odd)} in {source}; one "
            "class label per image is needed (or set multi_label=1)"
        )
        raise InputError(msg)
    flat = np.asarray([label[0] for label in raw], dtype=np.float64)
    bad = np.flatnonzero((flat < 0) | (flat >= num_classes) | (flat != np.floor(flat)))
    if bad.size:
        msg = (
            f"{name} channel: label {flat[bad[0]]:g} of {where(int(bad[0]))} is not a class of "
            f"num_classes={num_classes}; labels must be integers in [0, {num_classes})"
        )
        raise InputError(msg)
    return flat.astype(np.int64)


# -- training ------------------------------------------------------------------------------------


class ImageClassificationAlgorithm:
    """SageMaker's built-in image classification algorithm (the ``image-classification`` image)."""

    name = ALGORITHM_NAME
    hyperparameters: Mapping[str, HyperparameterSpec] = HYPERPARAMETERS
    metrics: Mapping[str, Direction] = METRICS
    tuning_ranges: Mapping[str, TuningRange] = TUNING_RANGES

    def train(
        self,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
    ) -> None:
        """Train on the ``train`` images, report every epoch, save the best model.

        Raises:
            HyperparameterError: a hyperparameter is unknown, missing or invalid (including
                ``use_pretrained_model=1``), or the objective cannot be evaluated.
            InputError: a channel is missing or malformed, an image cannot be read, or a label
                is not a class of ``num_classes``.
        """
        values = parse_hyperparameters(self.hyperparameters, hyperparameters)
        plan = _plan(values, channels)
        if "train" not in channels:
            msg = (
                "image classification needs a 'train' channel (got "
                + (", ".join(channels) or "none")
                + ")"
            )
            raise InputError(msg)
        torch = _torch()
        from algorithms.torch_util import configure_threads, seeded_generator, torch_device

        configure_threads()
        device = torch_device(ctx.device)
        train = _load_split(channels, "train", plan)
        validation = None
        if "validation" in channels:
            validation = _load_split(channels, "validation", plan, known=train.class_names)
        if len(train.labels) != values["num_training_samples"]:
            logger.warning(
                "num_training_samples is %d but the train channel has %d images",
                values["num_training_samples"],
                len(train.labels),
            )
        pixels = train.pixels.astype(np.float64) / 255.0
        mean = pixels.mean(axis=(0, 2, 3))
        std = np.maximum(pixels.std(axis=(0, 2, 3)), 1e-3)
        architecture = Architecture(
            num_layers=values["num_layers"],
            num_classes=values["num_classes"],
            image_shape=plan.image_shape,
            multi_label=plan.multi_label,
            resize=values["resize"],
            mean=tuple(float(v) for v in mean),
            std=tuple(float(v) for v in std),
            class_names=train.class_names,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            network = build_network(
                architecture.num_layers, architecture.num_classes, architecture.image_shape
            )
        network = network.to(device)
        run = _Run(plan, architecture, network, device, seeded_generator(SEED), train, validation)
        run.fit(ctx)

    def load(self, path: Path | str, *, device: str = "cpu") -> ImageClassifier:
        """The model a trial saved; ``path`` is its output folder or a model file."""
        return load(path, device=device)


ALGORITHM = ImageClassificationAlgorithm()


class _Run:
    """One training run: the loop over epochs, its reports, checkpoints and stopping."""

    def __init__(
        self,
        plan: _Plan,
        architecture: Architecture,
        network: Any,
        device: Any,
        generator: Any,
        train: _Split,
        validation: _Split | None,
    ) -> None:
        torch = _torch()
        self.plan, self.values = plan, plan.values
        self.architecture, self.network, self.device = architecture, network, device
        self.generator = generator
        self.train_pixels = torch.as_tensor(train.pixels, device=device)
        self.train_labels = torch.as_tensor(train.labels, device=device)
        self.validation = (
            (
                torch.as_tensor(validation.pixels, device=device),
                torch.as_tensor(validation.labels, device=device),
            )
            if validation is not None
            else None
        )
        self.optimizer = _optimizer(self.values, network.parameters())
        self.loss = self._loss_function(train.labels)
        self.half = self.values["precision_dtype"] == "float16" and device.type == "cuda"
        if self.values["precision_dtype"] == "float16" and not self.half:
            logger.info("precision_dtype=float16 needs a CUDA device; training in float32")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.half)
        self.best_state: dict[str, Any] | None = None
        self.best_accuracy = -math.inf
        self.best_epoch = 0

    def _loss_function(self, labels: np.ndarray) -> Any:
        torch = _torch()
        if not self.plan.multi_label:
            return torch.nn.CrossEntropyLoss()
        pos_weight = None
        if self.values["use_weighted_loss"] == 1:
            positives = labels.sum(axis=0)
            ratio = (len(labels) - positives) / np.maximum(positives, 1.0)
            pos_weight = torch.as_tensor(ratio, dtype=torch.float32, device=self.device)
        return torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)

    def fit(self, ctx: TrainingContext) -> None:
        values = self.values
        output_dir = Path(ctx.output_dir)
        stale, start = self._resume(ctx)
        for epoch in range(start, values["epochs"] + 1):
            self._set_learning_rate(epoch)
            metrics = self._train_epoch()
            if self.validation is not None:
                metrics.update(self._evaluate(*self.validation, "validation"))
            accuracy = metrics.get("validation:accuracy", metrics["train:accuracy"])
            improved = accuracy > self.best_accuracy * (1 + values["early_stopping_tolerance"])
            if self.validation is None or accuracy > self.best_accuracy or self.best_state is None:
                self.best_state = copy.deepcopy(self.network.state_dict())
                self.best_epoch = epoch
            stale = 0 if improved else stale + 1
            self.best_accuracy = max(self.best_accuracy, accuracy)
            frequency = values["checkpoint_frequency"]
            if frequency is not None and epoch % frequency == 0:
                file = output_dir / CHECKPOINT_PATTERN.format(epoch=epoch)
                _save(file, self.architecture, self.network.state_dict())
            try:
                ctx.report(epoch, **metrics)
            except StopTraining:
                self._save_best(output_dir)  # keep what was learnt, then stop
                raise
            stalled = (
                values["early_stopping"]
                and self.validation is not None
                and epoch >= values["early_stopping_min_epochs"]
                and stale >= values["early_stopping_patience"]
            )
            self._checkpoint(ctx, epoch, stale, stalled=stalled)
            if ctx.should_stop():
                break
            if stalled:
                logger.info(
                    "early stopping after epoch %d (best epoch %d)", epoch, self.best_epoch
                )
                break
        self._save_best(output_dir)

    def _checkpointed(self) -> dict[str, Any]:
        return {
            "modules": {"network": self.network},
            "optimizers": [self.optimizer],
            "generator": self.generator,
        }

    def _checkpoint(self, ctx: TrainingContext, epoch: int, stale: int, *, stalled: bool) -> None:
        """Checkpoint the run after ``epoch`` when the training job asked for it: the network,
        optimizer and random states, and the best epoch so far with its weights."""
        from algorithms.torch_util import save_training_state

        extra = {
            "stale": stale,
            "stalled": stalled,
            "best_state": self.best_state,
            "best_accuracy": self.best_accuracy,
            "best_epoch": self.best_epoch,
            "scaler": self.scaler.state_dict() if self.half else None,
        }
        save_training_state(ctx, ALGORITHM_NAME, epoch, **self._checkpointed(), extra=extra)

    def _resume(self, ctx: TrainingContext) -> tuple[int, int]:
        """(stale epochs, first epoch to train) after the training job's checkpoint, if any."""
        from algorithms.torch_util import restore_training_state

        resumed = restore_training_state(ctx, ALGORITHM_NAME, **self._checkpointed())
        if resumed is None:
            return 0, 1
        epoch, extra = resumed
        self.best_state, self.best_epoch = extra["best_state"], extra["best_epoch"]
        self.best_accuracy = extra["best_accuracy"]
        if extra["scaler"]:
            self.scaler.load_state_dict(extra["scaler"])
        done = extra["stalled"]  # early stopping had ended it: only the model is left to save
        return extra["stale"], self.values["epochs"] + 1 if done else epoch + 1

    def _save_best(self, output_dir: Path) -> None:
        state = self.best_state if self.best_state is not None else self.network.state_dict()
        _save(output_dir / MODEL_FILENAME, self.architecture, state)

    def _set_learning_rate(self, epoch: int) -> None:
        passed = sum(1 for step in self.plan.lr_steps if step < epoch)
        rate = self.values["learning_rate"] * self.values["lr_scheduler_factor"] ** passed
        for group in self.optimizer.param_groups:
            group["lr"] = rate

    def _train_epoch(self) -> dict[str, float]:
        torch = _torch()
        self.network.train()
        n_rows = len(self.train_labels)
        order = torch.randperm(n_rows, generator=self.generator)
        batches = list(torch.split(order, self.values["mini_batch_size"]))
        if len(batches) > 1 and len(batches[-1]) == 1:
            batches.pop()  # batch norm cannot train on a single image
        correct = top_k_correct = seen = 0.0
        for index in batches:
            pixels = self.train_pixels[index.to(self.device)]
            labels = self.train_labels[index.to(self.device)]
            pixels = _augment(pixels, self.values["augmentation_type"], self.generator)
            inputs = _normalise(pixels, self.architecture)
            self.optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.float16, enabled=self.half):
                logits = self.network(inputs)
                loss = self.loss(logits.float(), labels)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            hits, top_hits = self._hits(logits.detach().float(), labels)
            correct, top_k_correct, seen = (
                correct + hits,
                top_k_correct + top_hits,
                seen + len(index),
            )
        return self._accuracies("train", correct, top_k_correct, seen)

    def _evaluate(self, pixels: Any, labels: Any, prefix: str) -> dict[str, float]:
        torch = _torch()
        self.network.eval()
        correct = top_k_correct = 0.0
        batch = max(self.values["mini_batch_size"], 256)
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=self.half):
            for start in range(0, len(labels), batch):
                logits = self.network(_normalise(pixels[start : start + batch], self.architecture))
                hits, top_hits = self._hits(logits.float(), labels[start : start + batch])
                correct, top_k_correct = correct + hits, top_k_correct + top_hits
        return self._accuracies(prefix, correct, top_k_correct, len(labels))

    def _hits(self, logits: Any, labels: Any) -> tuple[float, float]:
        if self.plan.multi_label:
            decisions = (logits > 0).float() == labels
            return float(decisions.float().mean(dim=1).sum()), 0.0
        hits = float((logits.argmax(dim=1) == labels).sum())
        top_hits = 0.0
        if self.plan.top_k is not None:
            top = logits.topk(self.plan.top_k, dim=1).indices
            top_hits = float((top == labels[:, None]).any(dim=1).sum())
        return hits, top_hits

    def _accuracies(
        self, prefix: str, correct: float, top_k_correct: float, seen: float
    ) -> dict[str, float]:
        seen = max(seen, 1.0)
        metrics = {f"{prefix}:accuracy": correct / seen}
        if self.plan.top_k is not None:
            metrics[f"{prefix}:top_k_accuracy"] = top_k_correct / seen
        return metrics


#: Adam's betas as torch takes them: below 1. SageMaker documents beta_1 and beta_2 in [0, 1];
#: 1 runs as this, the limit in which Adam's bias-corrected moments are the running means of
#: all gradients (and their squares) so far.
_ADAM_BETA_MAX = 1.0 - 1e-7


def _optimizer(values: Mapping[str, Any], parameters: Any) -> Any:
    torch = _torch()
    name, rate = values["optimizer"], values["learning_rate"]
    if name in ("sgd", "nag"):
        momentum = values["momentum"]
        return torch.optim.SGD(
            parameters,
            lr=rate,
            momentum=momentum,
            weight_decay=values["weight_decay"],
            nesterov=name == "nag" and momentum > 0,  # Nesterov without momentum is plain SGD
        )
    if name == "adam":
        betas = (min(values["beta_1"], _ADAM_BETA_MAX), min(values["beta_2"], _ADAM_BETA_MAX))
        return torch.optim.Adam(parameters, lr=rate, betas=betas, eps=values["eps"])
    return torch.optim.RMSprop(parameters, lr=rate, alpha=values["gamma"], eps=values["eps"])
