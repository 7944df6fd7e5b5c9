"""Object detection as SageMaker's built-in algorithm runs it: SSD on VGG-16 or ResNet-50.

SageMaker's object detection (MXNet) trains a Single Shot MultiBox Detector on a VGG-16 or
ResNet-50 trunk (``base_network``) and reports ``validation:mAP`` (mean average precision at IoU
0.5) after every epoch, which AMT tunes and early-stops on. This module does the same in torch,
on ``ctx.device``:

* Input (:mod:`algorithms.object_detection_data`): images with one JSON annotation file each in
  ``train`` / ``validation`` and ``train_annotation`` / ``validation_annotation``, or MXNet
  detection RecordIO (``.rec``) in ``train`` / ``validation``.
* The network (:mod:`algorithms.object_detection_network`), box operations
  (:mod:`algorithms.boxes`), mAP (:mod:`algorithms.object_detection_metric`) and the saved model
  with its predictions (:mod:`algorithms.object_detection_model`) each have their own module.
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

import copy
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - torch's own convention

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
from algorithms.boxes import encode, hard_negatives, match_anchors
from algorithms.object_detection_data import DetectionSet, load_split
from algorithms.object_detection_metric import mean_average_precision
from algorithms.object_detection_model import (
    MODEL_FILENAME,
    Architecture,
    ObjectDetector,
    detections,
    load,
    normalise,
    save,
)
from algorithms.object_detection_network import BASE_NETWORKS, SSD, anchor_boxes, build_ssd
from algorithms.torch_util import configure_threads, seeded_generator, torch_device

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

logger = logging.getLogger(__name__)

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
        configure_threads()
        device = torch_device(ctx.device)
        size, classes, width = values["image_shape"], values["num_classes"], values["label_width"]
        train = load_split(channels, "train", size, classes, width)
        validation = None
        if "validation" in channels:
            validation = load_split(channels, "validation", size, classes, width)
        if len(train) != values["num_training_samples"]:
            logger.warning(
                "num_training_samples is %d but the train channel has %d images",
                values["num_training_samples"],
                len(train),
            )
        architecture = Architecture(
            values["base_network"], classes, size, values["nms_threshold"], self.width_divisor
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            network = build_ssd(architecture.base_network, classes, self.width_divisor)
        if values["use_pretrained_model"] == 1:
            load_pretrained(network, Path(channels[PRETRAINED_CHANNEL]), architecture)
        frozen = _freeze(network, plan.freeze)
        run = _Run(plan, architecture, network.to(device), device, frozen, train, validation)
        run.fit(ctx)

    def load(self, path: Path | str, *, device: str = "cpu") -> ObjectDetector:
        """The model a trial saved; ``path`` is its output folder or the model file."""
        return load(path, device=device)


ALGORITHM = ObjectDetectionAlgorithm()


def load_pretrained(network: SSD, channel: Path, architecture: Architecture) -> list[str]:
    """Load the matching weights of the ``.pt`` file in ``channel``; the names loaded.

    Raises InputError naming the channel when there is no such file, it cannot be read, it is
    a model of another base network, or it holds none of the trunk's weights.
    """
    files = [channel] if channel.is_file() else sorted(channel.rglob("*.pt*"))
    if len(files) != 1:
        msg = (
            f"the {PRETRAINED_CHANNEL} channel ({channel}) must hold one .pt file of weights, "
            f"found {len(files)}"
        )
        raise InputError(msg)
    try:
        saved = torch.load(files[0], map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        msg = f"{PRETRAINED_CHANNEL} channel: {files[0]} cannot be read as torch weights ({exc})"
        raise InputError(msg) from None
    if isinstance(saved, Mapping) and "state_dict" in saved:
        base = (saved.get("architecture") or {}).get("base_network", architecture.base_network)
        if base != architecture.base_network:
            msg = (
                f"{PRETRAINED_CHANNEL} channel: {files[0]} is a {base} model; base_network is "
                f"{architecture.base_network}"
            )
            raise InputError(msg)
        saved = saved["state_dict"]
    own = network.state_dict()
    matching = {
        name: value
        for name, value in (saved.items() if isinstance(saved, Mapping) else ())
        if name in own and getattr(value, "shape", None) == own[name].shape
    }
    if not any(name.startswith(("stage_one.", "stage_two.")) for name in matching):
        msg = (
            f"{PRETRAINED_CHANNEL} channel: {files[0]} holds no weights of the "
            f"{architecture.base_network} trunk of this network (names and shapes must match)"
        )
        raise InputError(msg)
    network.load_state_dict(matching, strict=False)
    logger.info("loaded %d of %d weight tensors from %s", len(matching), len(own), files[0])
    return sorted(matching)


def _freeze(network: SSD, pattern: re.Pattern[str] | None) -> list[torch.nn.Module]:
    """Freeze the trunk layers whose names match ``pattern``; the layers frozen."""
    if pattern is None:
        return []
    frozen = [layer for name, layer in network.base_layers().items() if pattern.search(name)]
    if not frozen:
        logger.warning("freeze_layer_pattern %r matches no layer of the trunk", pattern.pattern)
    for layer in frozen:
        layer.requires_grad_(False)
    return frozen


def _optimizer(values: Mapping[str, Any], parameters: Any) -> torch.optim.Optimizer:
    name, rate, decay = values["optimizer"], values["learning_rate"], values["weight_decay"]
    trainable = [p for p in parameters if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(trainable, lr=rate, momentum=values["momentum"], weight_decay=decay)
    if name == "adam":
        return torch.optim.Adam(trainable, lr=rate)
    if name == "rmsprop":
        return torch.optim.RMSprop(trainable, lr=rate, weight_decay=decay)
    return torch.optim.Adadelta(trainable, lr=rate)


# -- training ------------------------------------------------------------------------------------


class _Run:
    """One training run: epochs, their reports, the best model and stopping."""

    def __init__(
        self,
        plan: _Plan,
        architecture: Architecture,
        network: SSD,
        device: torch.device,
        frozen: list[torch.nn.Module],
        train: DetectionSet,
        validation: DetectionSet | None,
    ) -> None:
        self.values, self.plan = plan.values, plan
        self.architecture, self.network, self.device = architecture, network, device
        self.frozen = frozen
        self.generator = seeded_generator(SEED)
        self.anchors = anchor_boxes(architecture.base_network, architecture.image_size).to(device)
        self.train_pixels = torch.as_tensor(train.pixels, device=device)
        self.train_boxes = [torch.as_tensor(b, device=device) for b in train.boxes]
        self.validation = validation
        self.optimizer = _optimizer(self.values, network.parameters())
        self.best_state: dict[str, Any] | None = None
        self.best_map = -math.inf
        self.best_epoch = 0

    def fit(self, ctx: TrainingContext) -> None:
        values = self.values
        output_dir = Path(ctx.output_dir)
        stale = 0
        for epoch in range(1, values["epochs"] + 1):
            self._set_learning_rate(epoch)
            metrics = self._train_epoch()
            if self.validation is not None:
                metrics["validation:mAP"] = self.evaluate(self.validation)
                score = metrics["validation:mAP"]
                tolerance = values["early_stopping_tolerance"]
                floor = self.best_map * (1 + tolerance) if self.best_map > 0 else self.best_map
                improved = score > floor
                stale = 0 if improved else stale + 1
            if self.validation is None or metrics["validation:mAP"] > self.best_map:
                self.best_state = copy.deepcopy(self.network.state_dict())
                self.best_epoch = epoch
                self.best_map = metrics.get("validation:mAP", self.best_map)
            try:
                ctx.report(epoch, **metrics)
            except StopTraining:
                self._save_best(output_dir)  # keep what was learnt, then stop
                raise
            if ctx.should_stop():
                break
            if (
                values["early_stopping"]
                and self.validation is not None
                and epoch >= values["early_stopping_min_epochs"]
                and stale >= values["early_stopping_patience"]
            ):
                logger.info("early stopping after epoch %d (best %d)", epoch, self.best_epoch)
                break
        self._save_best(output_dir)

    def _save_best(self, output_dir: Path) -> None:
        state = self.best_state if self.best_state is not None else self.network.state_dict()
        save(output_dir / MODEL_FILENAME, self.architecture, state)

    def _set_learning_rate(self, epoch: int) -> None:
        passed = sum(1 for step in self.plan.lr_steps if step < epoch)
        rate = self.values["learning_rate"] * self.values["lr_scheduler_factor"] ** passed
        for group in self.optimizer.param_groups:
            group["lr"] = rate

    def _train_epoch(self) -> dict[str, float]:
        self.network.train()
        for layer in self.frozen:
            layer.eval()  # frozen layers keep their batch-norm statistics too
        order = torch.randperm(len(self.train_boxes), generator=self.generator)
        batches = list(torch.split(order, self.values["mini_batch_size"]))
        if len(batches) > 1 and len(batches[-1]) == 1:
            batches.pop()  # batch norm cannot train on a single image
        totals = np.zeros(3)  # cross-entropy, smooth L1, matched anchors
        for index in batches:
            flips = torch.rand(len(index), generator=self.generator) < 0.5
            pixels, boxes = self._batch(index.tolist(), flips.tolist())
            logits, offsets = self.network(normalise(pixels))
            cross_entropy, smooth_l1, matched = self._losses(logits, offsets, boxes)
            self.optimizer.zero_grad(set_to_none=True)
            ((cross_entropy + smooth_l1) / max(matched, 1)).backward()
            self.optimizer.step()
            totals += (float(cross_entropy.detach()), float(smooth_l1.detach()), matched)
        matched = max(totals[2], 1.0)
        return {"train:cross_entropy": totals[0] / matched, "train:smooth_l1": totals[1] / matched}

    def _batch(
        self, index: list[int], flips: list[bool]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The images of ``index``, those of ``flips`` mirrored left-right with their boxes."""
        pixels = self.train_pixels[index]
        boxes = []
        for position, (image, flip) in enumerate(zip(index, flips, strict=True)):
            found = self.train_boxes[image]
            if flip:
                pixels[position] = pixels[position].flip(-1)
                found = torch.stack(
                    [found[:, 0], 1 - found[:, 3], found[:, 2], 1 - found[:, 1], found[:, 4]],
                    dim=1,
                )
            boxes.append(found)
        return pixels, boxes

    def _losses(
        self, logits: torch.Tensor, offsets: torch.Tensor, boxes: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Summed cross-entropy (matched and hard-negative anchors), summed smooth L1, matches."""
        threshold = self.values["overlap_threshold"]
        labels = torch.zeros(logits.shape[:2], dtype=torch.int64, device=self.device)
        targets = torch.zeros_like(offsets)
        best = torch.zeros(logits.shape[:2], device=self.device)
        for image, found in enumerate(boxes):
            matched, best[image] = match_anchors(found[:, 1:], self.anchors, threshold)
            positive = matched >= 0
            labels[image, positive] = found[matched[positive], 0].long() + 1
            targets[image, positive] = encode(found[matched[positive], 1:], self.anchors[positive])
        positive = labels > 0
        losses = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")
        losses = losses.view(labels.shape)
        with torch.no_grad():
            background = -F.log_softmax(logits.float(), dim=-1)[..., 0]
            negative = torch.stack(
                [hard_negatives(background[i], positive[i], best[i]) for i in range(len(boxes))]
            )
        cross_entropy = losses[positive | negative].sum()
        smooth_l1 = F.smooth_l1_loss(offsets[positive], targets[positive], reduction="sum")
        return cross_entropy, smooth_l1, int(positive.sum())

    def evaluate(self, split: DetectionSet) -> float:
        """``validation:mAP`` of the network on ``split``."""
        self.network.eval()
        found: list[np.ndarray] = []
        batch = max(self.values["mini_batch_size"], 64)
        with torch.no_grad():
            for start in range(0, len(split), batch):
                pixels = torch.as_tensor(split.pixels[start : start + batch], device=self.device)
                logits, offsets = self.network(normalise(pixels))
                threshold = self.architecture.nms_threshold
                found.extend(detections(logits, offsets, self.anchors, threshold))
        return mean_average_precision(found, split.boxes, self.architecture.num_classes)
