"""Training object detection's SSD in torch: the run behind :mod:`algorithms.object_detection`.

Kept apart so that the algorithm's hyperparameters and checks load without torch (the engine
validates a request before any training job starts); :func:`train_detector` is what
``ObjectDetectionAlgorithm.train`` calls once they are checked. The training itself (loss,
hard negatives, flips, schedule, early stopping, the model kept, pretrained weights and frozen
layers) is described in :mod:`algorithms.object_detection`.
"""

from __future__ import annotations

import copy
import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - torch's own convention

from algorithms.base import InputError, StopTraining, TrainingContext
from algorithms.boxes import encode, hard_negatives, match_anchors
from algorithms.object_detection import PRETRAINED_CHANNEL, SEED
from algorithms.object_detection_data import DetectionSet, load_split
from algorithms.object_detection_metric import mean_average_precision
from algorithms.object_detection_model import (
    MODEL_FILENAME,
    Architecture,
    detections,
    normalise,
    save,
)
from algorithms.object_detection_network import SSD, anchor_boxes, build_ssd
from algorithms.torch_util import (
    configure_threads,
    restore_training_state,
    save_training_state,
    seeded_generator,
    torch_device,
)

__all__ = ["load_pretrained", "train_detector"]

logger = logging.getLogger(__name__)


def train_detector(
    values: Mapping[str, Any],
    lr_steps: tuple[int, ...],
    freeze: re.Pattern[str] | None,
    channels: Mapping[str, Path],
    ctx: TrainingContext,
    width_divisor: int = 1,
) -> None:
    """Read the channels, build (and maybe load) the SSD, train it, report, save the best.

    ``values`` are the parsed hyperparameters; ``lr_steps`` the epochs after which the learning
    rate steps down; ``freeze`` the pattern of trunk layers to freeze.
    """
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
        values["base_network"], classes, size, values["nms_threshold"], width_divisor
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        network = build_ssd(architecture.base_network, classes, width_divisor)
    if values["use_pretrained_model"] == 1:
        load_pretrained(network, Path(channels[PRETRAINED_CHANNEL]), architecture)
    frozen = _freeze(network, freeze)
    run = _Run(
        values, lr_steps, architecture, network.to(device), device, frozen, train, validation
    )
    run.fit(ctx)


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
        values: Mapping[str, Any],
        lr_steps: tuple[int, ...],
        architecture: Architecture,
        network: SSD,
        device: torch.device,
        frozen: list[torch.nn.Module],
        train: DetectionSet,
        validation: DetectionSet | None,
    ) -> None:
        self.values, self.lr_steps = values, lr_steps
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
        first, stale, ended = self._resume(ctx)
        remaining = range(0) if ended else range(first, values["epochs"] + 1)
        for epoch in remaining:
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
            ended = self._early_stopping_ends(epoch, stale)
            self._checkpoint(ctx, epoch, stale, ended)
            if ctx.should_stop():
                break
            if ended:
                logger.info("early stopping after epoch %d (best %d)", epoch, self.best_epoch)
                break
        self._save_best(output_dir)

    def _early_stopping_ends(self, epoch: int, stale: int) -> bool:
        values = self.values
        return bool(
            values["early_stopping"]
            and self.validation is not None
            and epoch >= values["early_stopping_min_epochs"]
            and stale >= values["early_stopping_patience"]
        )

    def _checkpointed(self) -> dict[str, Any]:
        return {
            "modules": {"network": self.network},
            "optimizers": [self.optimizer],
            "generator": self.generator,
        }

    def _checkpoint(self, ctx: TrainingContext, epoch: int, stale: int, ended: bool) -> None:
        """Save the epoch when the job asked for checkpoints: weights, optimizer, random
        states, and the best epoch so far with early stopping's count."""
        best = {"state": self.best_state, "map": self.best_map, "epoch": self.best_epoch}
        extra = {"best": best, "stale": stale, "ended": ended}
        save_training_state(ctx, "object-detection", epoch, **self._checkpointed(), extra=extra)

    def _resume(self, ctx: TrainingContext) -> tuple[int, int, bool]:
        """Load the job's checkpoint, if any: (the first epoch to train, the epochs without
        improvement so far, whether early stopping had already ended it)."""
        resumed = restore_training_state(ctx, "object-detection", **self._checkpointed())
        if resumed is None:
            return 1, 0, False
        epoch, extra = resumed
        best = extra["best"]
        self.best_state, self.best_map, self.best_epoch = best["state"], best["map"], best["epoch"]
        return epoch + 1, int(extra["stale"]), bool(extra["ended"])

    def _save_best(self, output_dir: Path) -> None:
        state = self.best_state if self.best_state is not None else self.network.state_dict()
        save(output_dir / MODEL_FILENAME, self.architecture, state)

    def _set_learning_rate(self, epoch: int) -> None:
        passed = sum(1 for step in self.lr_steps if step < epoch)
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
