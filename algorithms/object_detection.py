"""Object detection as SageMaker's built-in algorithm runs it: SSD on VGG-16 or ResNet-50.

SageMaker's object detection (MXNet) trains a Single Shot MultiBox Detector on a VGG-16 or
ResNet-50 trunk (``base_network``) and reports ``validation:mAP`` (mean average precision at IoU
0.5) after every epoch, which AMT tunes and early-stops on. This module does the same in torch,
on ``ctx.device``:

* Input (:mod:`algorithms.object_detection_data`): images with one JSON annotation file each in
  ``train`` / ``validation`` and ``train_annotation`` / ``validation_annotation``, or MXNet
  detection RecordIO (``.rec``) in ``train`` / ``validation``.
* The network (:mod:`algorithms.object_detection_network`), box operations
  (:mod:`algorithms.boxes`), mAP (:mod:`algorithms.object_detection_metric`), the saved model
  with its predictions (:mod:`algorithms.object_detection_model`) and the training run
  (:mod:`algorithms.object_detection_training`) each have their own module. This one imports
  no torch: its hyperparameters and checks load without it.
* Training: anchors matched to boxes at ``overlap_threshold``, softmax cross-entropy on the
  matched anchors and three times as many hard negatives, smooth L1 on the matched anchors'
  offsets, both over the number of matched anchors (SSD's loss, MXNet's MultiBoxTarget). Each
  image is flipped left-right at random (seeded); SageMaker's further crops and colour changes
  are left out. Optimisers sgd, adam, rmsprop and adadelta; ``momentum`` applies to sgd and
  ``weight_decay`` to sgd and rmsprop, as SageMaker documents. The learning rate is multiplied
  by ``lr_scheduler_factor`` after each epoch listed in ``lr_scheduler_step``.
* Every epoch reports ``validation:mAP`` (with a validation channel) and the informational
  ``train:cross_entropy`` and ``train:smooth_l1`` (mean losses per matched anchor). The model
  kept (``object-detection-model.pt``) is the epoch of best validation mAP (the last without a
  validation channel). ``early_stopping`` ends training after ``early_stopping_patience`` epochs
  without a relative improvement of mAP above ``early_stopping_tolerance``, not before
  ``early_stopping_min_epochs``.
* ``use_pretrained_model=1`` (SageMaker's default) cannot download ImageNet weights here: it
  loads the weights of a ``.pt`` file in the ``model`` channel (SageMaker's channel for
  incremental training): a model this algorithm saved, or a state dict of the network. Every
  tensor whose name and shape match is loaded; a file with none of the trunk's is an error, and
  so is a missing ``model`` channel. Set ``use_pretrained_model=0`` to train from scratch.
* ``freeze_layer_pattern`` is a regular expression searched in the trunk's MXNet layer names
  (``conv1_1`` ... ``fc7``, ``conv0``, ``stage1_unit1`` ...); matching layers keep their weights
  and batch-norm statistics. ``kv_store`` (distributed training) is accepted and ignored.
* Choice: ``image_shape`` is the side of the square input. SageMaker requires at least 300;
  any side from 32 is accepted here so that small images train quickly on a CPU (300 and 512
  remain the sizes SageMaker recommends, and 300 is the default).

Training is seeded: on the CPU the same hyperparameters and data give the same metrics.
``ObjectDetectionAlgorithm(width_divisor=8)`` builds the same networks with an eighth of the
channels, for tests; the registered algorithm builds the real ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from algorithms.base import (
    Direction,
    HyperparameterError,
    HyperparameterSpec,
    InputError,
    TrainingContext,
    TuningRange,
    categorical,
    continuous,
    integer,
    parse_hyperparameters,
)
from algorithms.object_detection_model import (
    BASE_NETWORKS,
    MODEL_FILENAME,
    Architecture,
    ObjectDetector,
    load,
)

__all__ = [
    "ALGORITHM",
    "HYPERPARAMETERS",
    "METRICS",
    "MODEL_FILENAME",
    "SEED",
    "TUNING_RANGES",
    "Architecture",
    "ObjectDetectionAlgorithm",
    "ObjectDetector",
    "load",
]

#: Seed of the weights, the shuffling and the flips (SageMaker's algorithm takes none).
SEED = 0
#: The channel ``use_pretrained_model=1`` reads weights from.
PRETRAINED_CHANNEL = "model"

METRICS: Mapping[str, Direction] = MappingProxyType({"validation:mAP": "Maximize"})


def _spec(kind: Any, default: Any = None, description: str = "", **bounds: Any) -> Any:
    return HyperparameterSpec(kind=kind, default=default, description=description, **bounds)


def _fraction(default: float, description: str, **bounds: Any) -> HyperparameterSpec:
    """A number in (0, 1] unless ``bounds`` say otherwise."""
    limits = {"min_value": 0, "max_value": 1, "min_open": True, **bounds}
    return _spec("float", default, description, **limits)


#: SageMaker object detection's hyperparameters ("Object Detection Hyperparameters"). momentum
#: and weight_decay also take 0, where the tuning page's ranges start.
HYPERPARAMETERS: Mapping[str, HyperparameterSpec] = MappingProxyType(
    {
        "num_classes": HyperparameterSpec(
            "int", required=True, min_value=1, description="Number of object classes."
        ),
        "num_training_samples": HyperparameterSpec(
            "int",
            required=True,
            min_value=1,
            description="Training images in the input (a mismatch is logged).",
        ),
        "base_network": _spec("str", "vgg-16", "The trunk.", choices=BASE_NETWORKS),
        "early_stopping": _spec("bool", False, "Stop when validation mAP stops improving."),
        "early_stopping_min_epochs": _spec(
            "int", 10, "Epochs before early stopping may act.", min_value=1
        ),
        "early_stopping_patience": _spec(
            "int", 5, "Epochs without improvement before stopping.", min_value=1
        ),
        "early_stopping_tolerance": _spec(
            "float",
            0.0,
            "Relative mAP improvement below which an epoch does not count.",
            min_value=0,
            max_value=1,
            max_open=True,
        ),
        "epochs": _spec("int", 30, "Training epochs.", min_value=1),
        "freeze_layer_pattern": _spec(
            "str", None, "Regular expression: trunk layers whose names match are frozen."
        ),
        "image_shape": _spec(
            "int", 300, "Side of the square input images (SageMaker: >= 300).", min_value=32
        ),
        "kv_store": _spec(
            "str",
            None,
            "Distributed weight synchronisation; accepted, not used (one process).",
            choices=("dist_sync", "dist_async"),
        ),
        "label_width": _spec(
            "int", 350, "Numbers per padded label (2 + 5 per object must fit).", min_value=1
        ),
        "learning_rate": _fraction(0.001, "Initial learning rate, in (0, 1]."),
        "lr_scheduler_factor": _fraction(0.1, "Learning-rate multiplier at each step epoch."),
        "lr_scheduler_step": _spec(
            "str", None, "Comma-separated epochs after which the learning rate is reduced."
        ),
        "mini_batch_size": _spec("int", 32, "Images per mini-batch.", min_value=1),
        "momentum": _fraction(0.9, "sgd: momentum.", min_open=False),
        "nms_threshold": _fraction(0.45, "IoU above which NMS drops the lower-scored box."),
        "optimizer": _spec(
            "str", "sgd", "Optimiser.", choices=("sgd", "adam", "rmsprop", "adadelta")
        ),
        "overlap_threshold": _fraction(0.5, "IoU above which an anchor matches a box."),
        "use_pretrained_model": _spec(
            "int", 1, "1: start from the weights in the 'model' channel.", min_value=0, max_value=1
        ),
        "weight_decay": _fraction(
            0.0005, "sgd and rmsprop: L2 weight decay, in [0, 1).", min_open=False, max_open=True
        ),
    }
)
#: AMT's recommended ranges (the object-detection-tuning page), what Autotune tunes over.
TUNING_RANGES: Mapping[str, TuningRange] = MappingProxyType(
    {
        "learning_rate": continuous(1e-6, 0.5, "Logarithmic"),
        "mini_batch_size": integer(8, 64),
        "momentum": continuous(0, 0.999),
        "optimizer": categorical("sgd", "adam", "rmsprop", "adadelta"),
        "weight_decay": continuous(0, 0.999),
    }
)


# -- planning ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    values: Mapping[str, Any]
    lr_steps: tuple[int, ...]
    freeze: re.Pattern[str] | None


def _plan(values: Mapping[str, Any], channels: Mapping[str, Path]) -> _Plan:
    problems: list[str] = []
    if values["use_pretrained_model"] == 1 and PRETRAINED_CHANNEL not in channels:
        problems.append(
            "hyperparameter 'use_pretrained_model': 1 needs the pretrained weights as a .pt "
            f"file in a '{PRETRAINED_CHANNEL}' channel (none can be downloaded here); give one "
            "or set use_pretrained_model=0 to train from scratch"
        )
    lr_steps = _lr_steps(values["lr_scheduler_step"], problems)
    freeze = None
    pattern = values["freeze_layer_pattern"]
    if pattern:
        try:
            freeze = re.compile(pattern)
        except re.error as exc:
            problems.append(
                f"hyperparameter 'freeze_layer_pattern': {pattern!r} is not a regular "
                f"expression ({exc})"
            )
    objective = values.get("_tuning_objective_metric")
    if objective is not None and objective not in METRICS:
        problems.append(
            f"hyperparameter '_tuning_objective_metric': {objective!r} is not a metric of "
            f"object detection; known: {', '.join(METRICS)}"
        )
    elif objective is not None and "validation" not in channels:
        problems.append(
            f"hyperparameter '_tuning_objective_metric': {objective} needs a 'validation' channel"
        )
    if problems:
        raise HyperparameterError(problems)
    return _Plan(values, lr_steps, freeze)


def _lr_steps(text: str | None, problems: list[str]) -> tuple[int, ...]:
    if text is None or not str(text).strip():
        return ()
    parts = [part.strip() for part in str(text).split(",") if part.strip()]
    if not parts or not all(part.isdigit() and int(part) >= 1 for part in parts):
        problems.append(
            f"hyperparameter 'lr_scheduler_step': got {text!r}, must be comma-separated "
            "epochs (positive integers), such as '20,40'"
        )
        return ()
    return tuple(sorted(int(part) for part in parts))


# -- the algorithm -------------------------------------------------------------------------------


class ObjectDetectionAlgorithm:
    """SageMaker's built-in object detection (the ``object-detection`` image).

    ``width_divisor`` divides the networks' channels (1: the real VGG-16 and ResNet-50).
    """

    name = "object-detection"
    hyperparameters: Mapping[str, HyperparameterSpec] = HYPERPARAMETERS
    metrics: Mapping[str, Direction] = METRICS
    tuning_ranges: Mapping[str, TuningRange] = TUNING_RANGES

    def __init__(self, width_divisor: int = 1) -> None:
        if width_divisor < 1:
            msg = f"width_divisor must be a positive integer, got {width_divisor}"
            raise ValueError(msg)
        self.width_divisor = width_divisor

    def train(
        self,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
    ) -> None:
        """Train on the ``train`` channel, report every epoch, save the best model.

        Raises:
            HyperparameterError: a hyperparameter is unknown, missing or invalid (including
                ``use_pretrained_model=1`` without a ``model`` channel).
            InputError: a channel is missing or malformed: an image, annotation or record is
                named.
        """
        values = parse_hyperparameters(self.hyperparameters, hyperparameters)
        plan = _plan(values, channels)
        if "train" not in channels:
            msg = (
                "object detection needs a 'train' channel (got "
                + (", ".join(channels) or "none")
                + ")"
            )
            raise InputError(msg)
        from algorithms.object_detection_training import train_detector

        train_detector(values, plan.lr_steps, plan.freeze, channels, ctx, self.width_divisor)

    def load(self, path: Path | str, *, device: str = "cpu") -> ObjectDetector:
        """The model a trial saved; ``path`` is its output folder or the model file."""
        return load(path, device=device)


ALGORITHM = ObjectDetectionAlgorithm()
