"""Semantic segmentation as SageMaker's built-in algorithm runs it: FCN, PSPNet or DeepLabv3.

SageMaker's semantic-segmentation algorithm (MXNet and GluonCV) trains a dilated ResNet-50 or
ResNet-101 encoder with an FCN, PSP or DeepLabv3 head on images and their PNG label masks, and
reports ``validation:mIOU`` and ``validation:pixel_accuracy`` after every epoch. This module
does the same in torch, on ``ctx.device``:

* Channels: ``train``, ``train_annotation``, ``validation``, ``validation_annotation``, an
  optional ``label_map``; masks use 255 for pixels to ignore. See
  :mod:`algorithms.segmentation_data` for the files, the label map and the crops
  (``base_size``, ``crop_size``, rounded up to a multiple of 8). The validation channels are
  required, as the metrics are computed on them.
* Networks: :mod:`algorithms.segmentation_model` (``algorithm`` fcn, psp or deeplab;
  ``backbone`` resnet-50 or resnet-101, the ResNet of :mod:`algorithms.resnet`, dilated to
  output stride 8). Metrics: :mod:`algorithms.segmentation_metrics`.
* ``use_pretrained_model`` (SageMaker's default True) cannot download ImageNet weights here: it
  takes the backbone's weights from a ``model`` channel instead, a ``.pt``/``.pth`` file
  (or a folder holding one) with a state dict of the backbone (the names
  :func:`algorithms.resnet.build_backbone` gives, bare or under ``backbone.``) or a model file
  this algorithm saved. Without such a channel training fails at once with a
  HyperparameterError that says to set ``use_pretrained_model=False``.
* Learning rate: ``poly`` (``(1 - t/T)^0.9`` per iteration, GluonCV's), ``cosine`` (per
  iteration) or ``step`` (multiplied by ``lr_scheduler_factor`` after each epoch listed in
  ``lr_scheduler_step``, required then). ``T`` is ``epochs`` times the iterations of an epoch
  of ``num_training_samples`` images, as SageMaker documents that the scheduler is set up from
  it; a channel holding a different number of images is logged.
* Optimisers: ``sgd`` and ``nag`` (with ``momentum``), ``adam``, ``adagrad``, ``rmsprop``
  (``gamma1`` the squared-gradient decay, ``gamma2`` the momentum), all with ``weight_decay``
  as L2. The tuning page also lists ``adadelta`` as an optimizer value: it is accepted.
* ``syncbn`` is accepted and has no effect: training runs in one process on one device, where
  batch norm already sees the whole mini-batch.
* The loss is per-pixel cross-entropy over labelled pixels (255 left out); a mini-batch whose
  crops hold no labelled pixel is skipped.
* The model saved is the epoch with the best validation mIOU, as SageMaker keeps its best
  checkpoint. ``early_stopping`` ends training after ``early_stopping_patience`` epochs without
  a relative mIOU improvement above ``early_stopping_tolerance``, not before
  ``early_stopping_min_epochs``.

Training is seeded (weights, crops, shuffling): on the CPU the same hyperparameters give the
same metrics; CUDA kernels may differ in the last bits from run to run.

Checkpoints (when the training job asks for them, :mod:`algorithms.checkpoints`): after every
epoch's report, the network (batch norm's statistics included), the optimizer's state, the
scheduler's position (the iteration), the best model and its mIOU, the early-stopping count and
every random state (the crops' and shuffles' numpy generator, torch's for the dropout, CUDA's
on a GPU). A job run again resumes after that epoch exactly as if it had never stopped; one
whose checkpoint is the epoch early stopping ended it at only saves its best model again.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping
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
from algorithms.checkpoints import resume_state, wants_epoch_checkpoints
from algorithms.segmentation_data import (
    IGNORE_LABEL,
    SegmentationSplit,
    load_split,
    read_label_map,
    round_crop_size,
    training_crop,
    validation_crop,
)
from algorithms.segmentation_metrics import confusion_matrix, mean_iou, pixel_accuracy
from algorithms.segmentation_model import (
    BACKBONE_LAYERS,
    MODEL_FILENAME,
    Architecture,
    Segmenter,
    build_segmentation_network,
    load,
    normalise,
    save,
)

__all__ = [
    "ALGORITHM",
    "HYPERPARAMETERS",
    "METRICS",
    "MODEL_FILENAME",
    "SEED",
    "TUNING_RANGES",
    "Architecture",
    "SemanticSegmentationAlgorithm",
    "Segmenter",
    "load",
]

logger = logging.getLogger(__name__)

#: Seed of the weights, the crops and the shuffling (SageMaker's algorithm takes none).
SEED = 0

METRICS: Mapping[str, Direction] = MappingProxyType(
    {"validation:mIOU": "Maximize", "validation:pixel_accuracy": "Maximize"}
)


def _spec(kind: Any, default: Any = None, description: str = "", **bounds: Any) -> Any:
    return HyperparameterSpec(kind=kind, default=default, description=description, **bounds)


def _unit(default: float, description: str) -> HyperparameterSpec:
    return _spec("float", default, description, min_value=0, max_value=1)


#: SageMaker's "Semantic Segmentation Hyperparameters", with that page's defaults and ranges.
HYPERPARAMETERS: Mapping[str, HyperparameterSpec] = MappingProxyType(
    {
        "backbone": _spec(
            "str", "resnet-50", "The encoder's ResNet.", choices=tuple(BACKBONE_LAYERS)
        ),
        "use_pretrained_model": _spec(
            "bool", True, "Start the backbone from weights given in a 'model' channel."
        ),
        "algorithm": _spec(
            "str", "fcn", "The segmentation head.", choices=("fcn", "psp", "deeplab")
        ),
        "num_classes": _spec(
            "int",
            None,
            "Classes to segment (255 is the ignore label).",
            min_value=2,
            max_value=254,
            required=True,
        ),
        "num_training_samples": _spec(
            "int",
            None,
            "Training images; sets up the learning-rate schedule.",
            min_value=1,
            required=True,
        ),
        "base_size": _spec(
            "int", 520, "Long side before cropping, times a random 0.5..2 (> 16).", min_value=17
        ),
        "crop_size": _spec(
            "int", 240, "Training crop side, rounded up to a multiple of 8 (> 16).", min_value=17
        ),
        "early_stopping": _spec("bool", False, "Stop when validation mIOU stops improving."),
        "early_stopping_min_epochs": _spec(
            "int", 5, "Epochs before early stopping may act.", min_value=1
        ),
        "early_stopping_patience": _spec(
            "int", 4, "Epochs without improvement before stopping.", min_value=1
        ),
        "early_stopping_tolerance": _unit(
            0.0, "Relative mIOU improvement below which an epoch does not count."
        ),
        "epochs": _spec("int", 10, "Training epochs.", min_value=1),
        "gamma1": _unit(0.9, "rmsprop: decay of the moving average of squared gradients."),
        "gamma2": _unit(0.9, "rmsprop: momentum."),
        "learning_rate": _unit(0.001, "Initial learning rate."),
        "lr_scheduler": _spec(
            "str", "poly", "Learning-rate schedule.", choices=("poly", "cosine", "step")
        ),
        "lr_scheduler_factor": _unit(0.1, "step: learning-rate multiplier at each step."),
        "lr_scheduler_step": _spec(
            "str", None, "step: comma-separated epochs after which the rate is reduced."
        ),
        "mini_batch_size": _spec("int", 16, "Training images per mini-batch.", min_value=1),
        "momentum": _unit(0.9, "sgd and nag: momentum."),
        "optimizer": _spec(
            "str",
            "sgd",
            "Optimiser.",
            choices=("sgd", "adam", "adagrad", "nag", "rmsprop", "adadelta"),
        ),
        "syncbn": _spec("bool", False, "Batch norm across GPUs; no effect in one process."),
        "validation_mini_batch_size": _spec(
            "int", 16, "Validation images per batch.", min_value=1
        ),
        "weight_decay": _unit(0.0001, "L2 weight decay."),
    }
)

#: AMT's recommended ranges (its semantic-segmentation tuning page).
TUNING_RANGES: Mapping[str, TuningRange] = MappingProxyType(
    {
        "learning_rate": continuous(1e-4, 1e-1, "Logarithmic"),
        "mini_batch_size": integer(1, 128),
        "momentum": continuous(0.9, 0.999),
        "optimizer": categorical("sgd", "adam", "adadelta"),
        "weight_decay": continuous(1e-5, 1e-3, "Logarithmic"),
    }
)

#: Channels that must be given, in the order they are checked.
REQUIRED_CHANNELS = ("train", "train_annotation", "validation", "validation_annotation")
#: The channel of pretrained backbone weights (``use_pretrained_model=True``).
WEIGHTS_CHANNEL = "model"


def _torch() -> Any:
    import torch

    return torch


# -- planning ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    values: Mapping[str, Any]
    crop_size: int
    lr_steps: tuple[int, ...]


def _plan(values: Mapping[str, Any], channels: Mapping[str, Path]) -> _Plan:
    problems: list[str] = []
    if values["use_pretrained_model"] and WEIGHTS_CHANNEL not in channels:
        problems.append(
            "hyperparameter 'use_pretrained_model': True needs the backbone's weights in a "
            f"'{WEIGHTS_CHANNEL}' channel (a .pt state dict), and none was given: pretrained "
            "weights cannot be downloaded here; set use_pretrained_model=False to train from "
            "scratch"
        )
    lr_steps: tuple[int, ...] = ()
    if values["lr_scheduler"] == "step":
        lr_steps = _lr_steps(values["lr_scheduler_step"], problems)
    objective = values.get("_tuning_objective_metric")
    if objective is not None and objective not in METRICS:
        problems.append(
            f"hyperparameter '_tuning_objective_metric': {objective!r} is not a metric of "
            f"semantic segmentation; known: {', '.join(METRICS)}"
        )
    if problems:
        raise HyperparameterError(problems)
    return _Plan(values, round_crop_size(values["crop_size"]), lr_steps)


def _lr_steps(text: str | None, problems: list[str]) -> tuple[int, ...]:
    parts = [part.strip() for part in str(text or "").strip("[]").split(",") if part.strip()]
    if not parts or not all(part.isdigit() and int(part) >= 1 for part in parts):
        problems.append(
            f"hyperparameter 'lr_scheduler_step': got {text!r}; lr_scheduler=step needs "
            "comma-separated epochs (positive integers), such as '10,20'"
        )
        return ()
    return tuple(sorted(int(part) for part in parts))


def _check_channels(channels: Mapping[str, Path]) -> None:
    for name in REQUIRED_CHANNELS:
        if name not in channels:
            msg = (
                f"semantic segmentation needs a '{name}' channel (it reads "
                + ", ".join(REQUIRED_CHANNELS)
                + " and an optional label_map; got "
                + (", ".join(channels) or "none")
                + ")"
            )
            raise InputError(msg)


# -- pretrained weights --------------------------------------------------------------------------


def _load_pretrained(network: Any, channel: Path) -> None:
    """Copy the backbone's weights from the ``model`` channel's file into ``network``."""
    torch = _torch()
    files = (
        [channel]
        if channel.is_file()
        else sorted(p for suffix in ("*.pt", "*.pth") for p in channel.glob(suffix))
    )
    if len(files) != 1:
        msg = (
            f"{WEIGHTS_CHANNEL} channel: use_pretrained_model=True needs one .pt or .pth file "
            f"of backbone weights in {channel}, found {len(files)}"
        )
        raise InputError(msg)
    try:
        saved = torch.load(files[0], map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a file that is not its own
        msg = f"{WEIGHTS_CHANNEL} channel: {files[0].name} is not a torch state dict ({exc})"
        raise InputError(msg) from None
    if isinstance(saved, dict) and "state_dict" in saved:
        saved = saved["state_dict"]
    if not isinstance(saved, dict):
        msg = f"{WEIGHTS_CHANNEL} channel: {files[0].name} does not hold a state dict"
        raise InputError(msg)
    prefixed = {
        (key if key.startswith("backbone.") else f"backbone.{key}"): value
        for key, value in saved.items()
    }
    wanted = {k: v for k, v in network.state_dict().items() if k.startswith("backbone.")}
    missing = [k for k in wanted if k not in prefixed]
    wrong = [k for k in wanted if k in prefixed and prefixed[k].shape != wanted[k].shape]
    if missing or wrong:
        first = (missing or wrong)[0]
        msg = (
            f"{WEIGHTS_CHANNEL} channel: {files[0].name} does not fit the backbone: "
            f"{len(missing)} weights missing, {len(wrong)} of another shape (first: {first})"
        )
        raise InputError(msg)
    network.load_state_dict({k: prefixed[k] for k in wanted}, strict=False)


# -- training ------------------------------------------------------------------------------------


class SemanticSegmentationAlgorithm:
    """SageMaker's built-in semantic segmentation (the ``semantic-segmentation`` image)."""

    name = "semantic-segmentation"
    hyperparameters: Mapping[str, HyperparameterSpec] = HYPERPARAMETERS
    metrics: Mapping[str, Direction] = METRICS
    tuning_ranges: Mapping[str, TuningRange] = TUNING_RANGES

    def train(
        self,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        ctx: TrainingContext,
    ) -> None:
        """Train on the ``train`` images and masks, report every epoch, save the best model.

        Raises:
            HyperparameterError: a hyperparameter is unknown, missing or invalid (including
                ``use_pretrained_model=True`` without a ``model`` channel).
            InputError: a channel is missing, an image or mask cannot be read, a mask does not
                fit its image, or a mask value is not a class.
        """
        values = parse_hyperparameters(self.hyperparameters, hyperparameters)
        plan = _plan(values, channels)
        _check_channels(channels)
        torch = _torch()
        from algorithms.torch_util import configure_threads, torch_device

        configure_threads()
        device = torch_device(ctx.device)
        splits = {}
        for name in ("train", "validation"):
            label_map = read_label_map(channels.get("label_map"), name)
            splits[name] = load_split(
                channels[name],
                channels[f"{name}_annotation"],
                name,
                values["num_classes"],
                label_map,
            )
        if len(splits["train"]) != values["num_training_samples"]:
            logger.warning(
                "num_training_samples is %d but the train channel has %d images",
                values["num_training_samples"],
                len(splits["train"]),
            )
        architecture = Architecture(
            values["algorithm"], values["backbone"], values["num_classes"], plan.crop_size
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            network = build_segmentation_network(architecture)
        if values["use_pretrained_model"]:
            _load_pretrained(network, Path(channels[WEIGHTS_CHANNEL]))
        run = _Run(plan, architecture, network.to(device), device, splits)
        cuda = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):  # dropout draws from torch's global RNG
            torch.manual_seed(SEED)
            run.fit(ctx)

    def load(self, path: Path | str, *, device: str = "cpu") -> Segmenter:
        """The model a trial saved; ``path`` is its output folder or the model file."""
        return load(path, device=device)


ALGORITHM = SemanticSegmentationAlgorithm()


class _Run:
    """One training run: the loop over epochs, its reports, the best model and stopping."""

    def __init__(
        self,
        plan: _Plan,
        architecture: Architecture,
        network: Any,
        device: Any,
        splits: Mapping[str, SegmentationSplit],
    ) -> None:
        torch = _torch()
        self.plan, self.values = plan, plan.values
        self.architecture, self.network, self.device = architecture, network, device
        self.train = splits["train"]
        crops = [
            validation_crop(image, mask, plan.crop_size)
            for image, mask in zip(
                splits["validation"].images, splits["validation"].masks, strict=True
            )
        ]
        self.validation_pixels = torch.as_tensor(
            np.stack([image.transpose(2, 0, 1) for image, _ in crops]), device=device
        )
        self.validation_masks = np.stack([mask for _, mask in crops])
        self.rng = np.random.default_rng(SEED)
        self.optimizer = _optimizer(self.values, network.parameters())
        batch = self.values["mini_batch_size"]
        per_epoch = max(1, math.ceil(self.values["num_training_samples"] / batch))
        self.total_iterations = per_epoch * self.values["epochs"]
        self.iteration = 0
        # The best epoch's weights; while ``best_is_network`` they are the network's own,
        # copied only before training changes them (a final best epoch is never copied).
        self.best_state: dict[str, Any] | None = None
        self.best_is_network = False
        self.best_miou = -math.inf

    def fit(self, ctx: TrainingContext) -> None:
        values = self.values
        output_dir = Path(ctx.output_dir)
        stale, start = 0, 1
        resumed = self._resume(ctx)
        if resumed is not None:
            start, stale, stopped = resumed
            if stopped:  # early stopping had ended it: only the best model is left to save
                self._save_best(output_dir)
                return
        for epoch in range(start, values["epochs"] + 1):
            self._train_epoch(epoch)
            metrics = self._evaluate()
            miou = metrics["validation:mIOU"]
            improved = miou > self.best_miou * (1 + values["early_stopping_tolerance"])
            no_best = self.best_state is None and not self.best_is_network
            best_now = miou > self.best_miou or no_best
            if best_now:
                self.best_state, self.best_is_network = None, True
            stale = 0 if improved else stale + 1
            self.best_miou = max(self.best_miou, miou)
            try:
                ctx.report(epoch, **metrics)
            except StopTraining:
                self._save_best(output_dir)  # keep what was learnt, then stop
                raise
            stopped = (
                values["early_stopping"]
                and epoch >= values["early_stopping_min_epochs"]
                and stale >= values["early_stopping_patience"]
            )
            if wants_epoch_checkpoints(ctx):
                self._checkpoint(ctx, epoch, stale, stopped, best_now=best_now)
            if ctx.should_stop():
                break
            if stopped:
                logger.info("early stopping after epoch %d", epoch)
                break
        self._save_best(output_dir)

    def _checkpoint(
        self, ctx: TrainingContext, epoch: int, stale: int, stopped: bool, *, best_now: bool
    ) -> None:
        """Save the state the epochs after ``epoch`` start from (see :meth:`_resume`); the
        best model only when it is not this epoch's network (a copy of the weights less)."""
        from algorithms.torch_util import save_training_state

        torch = _torch()
        best = None if best_now else self._best_weights()
        extra = {
            "rng": self.rng.bit_generator.state,
            "cuda_rng": torch.cuda.get_rng_state(self.device)
            if self.device.type == "cuda"
            else None,
            "iteration": self.iteration,
            "best_state": {k: v.detach().cpu() for k, v in best.items()} if best else None,
            "best_miou": self.best_miou,
            "stale": stale,
            "stopped": stopped,
        }
        save_training_state(
            _ArrayCheckpoints(ctx),
            "semantic-segmentation",
            epoch,
            modules={"network": self.network},
            optimizers=[self.optimizer],
            extra=extra,
        )

    def _resume(self, ctx: TrainingContext) -> tuple[int, int, bool] | None:
        """Load the training job's checkpoint, if any: (the first epoch to train, the
        early-stopping count, whether early stopping had ended training)."""
        from algorithms.torch_util import restore_training_state

        torch = _torch()
        resumed = restore_training_state(
            _ArrayCheckpoints(ctx),
            "semantic-segmentation",
            modules={"network": self.network},
            optimizers=[self.optimizer],
        )
        if resumed is None:
            return None
        epoch, extra = resumed
        self.rng.bit_generator.state = extra["rng"]
        if extra["cuda_rng"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(extra["cuda_rng"], self.device)
        self.iteration = int(extra["iteration"])
        best = extra["best_state"]
        self.best_is_network = best is None  # the best was that epoch's network
        self.best_state = (
            {k: v.to(self.device) for k, v in best.items()} if best is not None else None
        )
        self.best_miou = float(extra["best_miou"])
        return epoch + 1, int(extra["stale"]), bool(extra["stopped"])

    def _best_weights(self) -> dict[str, Any]:
        """The best epoch's weights (the network's own while it is the best)."""
        if self.best_is_network or self.best_state is None:
            return dict(self.network.state_dict())
        return self.best_state

    def _keep_best(self) -> None:
        """Copy the network's weights aside when they are the best, before they change."""
        if self.best_is_network:
            self.best_state = copy.deepcopy(self.network.state_dict())
            self.best_is_network = False

    def _save_best(self, output_dir: Path) -> None:
        save(output_dir / MODEL_FILENAME, self.architecture, self._best_weights())

    def _learning_rate(self, epoch: int) -> float:
        return learning_rate_at(
            self.values, epoch, self.iteration / self.total_iterations, self.plan.lr_steps
        )

    def _batches(self) -> list[np.ndarray]:
        order = self.rng.permutation(len(self.train))
        size = self.values["mini_batch_size"]
        return [order[start : start + size] for start in range(0, len(order), size)]

    def _crops(self, index: np.ndarray) -> tuple[Any, Any]:
        torch = _torch()
        pairs = [
            training_crop(
                self.train.images[i],
                self.train.masks[i],
                self.values["base_size"],
                self.plan.crop_size,
                self.rng,
            )
            for i in index
        ]
        pixels = np.stack([image.transpose(2, 0, 1) for image, _ in pairs])
        masks = np.stack([mask for _, mask in pairs]).astype(np.int64)
        return (
            torch.as_tensor(pixels, device=self.device),
            torch.as_tensor(masks, device=self.device),
        )

    def _train_epoch(self, epoch: int) -> None:
        torch = _torch()
        self._keep_best()
        self.network.train()
        for index in self._batches():
            pixels, masks = self._crops(index)
            for group in self.optimizer.param_groups:
                group["lr"] = self._learning_rate(epoch)
            self.iteration += 1
            labelled = int((masks != IGNORE_LABEL).sum())
            if labelled == 0:
                continue  # nothing to learn from: every crop is padding or ignored
            scores = self.network(normalise(pixels))
            loss = (
                torch.nn.functional.cross_entropy(
                    scores, masks, ignore_index=IGNORE_LABEL, reduction="sum"
                )
                / labelled
            )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()

    def _evaluate(self) -> dict[str, float]:
        torch = _torch()
        self.network.eval()
        classes = self.architecture.num_classes
        confusion = np.zeros((classes, classes), dtype=np.int64)
        batch = self.values["validation_mini_batch_size"]
        with torch.no_grad():
            for start in range(0, len(self.validation_masks), batch):
                pixels = self.validation_pixels[start : start + batch]
                predicted = self.network(normalise(pixels)).argmax(1).cpu().numpy()
                truth = self.validation_masks[start : start + batch]
                confusion += confusion_matrix(truth, predicted, classes)
        return {
            "validation:mIOU": mean_iou(confusion),
            "validation:pixel_accuracy": pixel_accuracy(confusion),
        }


@dataclass(frozen=True)
class _Array:
    """A torch tensor in a checkpoint, held as its numpy array (see :class:`_ArrayCheckpoints`)."""

    values: np.ndarray


def _to_arrays(state: Any) -> Any:
    torch = _torch()
    if isinstance(state, torch.Tensor):
        return _Array(state.detach().cpu().numpy())
    if isinstance(state, dict):
        return {key: _to_arrays(value) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_to_arrays(value) for value in state)
    return state


def _to_tensors(state: Any) -> Any:
    torch = _torch()
    if isinstance(state, _Array):
        values = state.values if state.values.flags.writeable else state.values.copy()
        return torch.from_numpy(values)
    if isinstance(state, dict):
        return {key: _to_tensors(value) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_to_tensors(value) for value in state)
    return state


class _ArrayCheckpoints:
    """``ctx``'s checkpoints with every torch tensor held as a numpy array (on the CPU).

    A checkpoint is pickled (:mod:`algorithms.checkpoints`): pickle writes an array's bytes
    at once, where a tensor pickles through a ``torch.save`` of its storage, about twice as
    slow to write and to read for the ~260 MB of a ResNet-50's weights and momentum.
    """

    def __init__(self, ctx: TrainingContext) -> None:
        self.ctx = ctx
        self.checkpoint_each_epoch = wants_epoch_checkpoints(ctx)

    def save_checkpoint(self, state: Any) -> None:
        self.ctx.save_checkpoint(_to_arrays(state))  # type: ignore[attr-defined]

    def load_checkpoint(self) -> Any:
        return _to_tensors(resume_state(self.ctx))


def learning_rate_at(
    values: Mapping[str, Any], epoch: int, progress: float, lr_steps: tuple[int, ...] = ()
) -> float:
    """The learning rate of ``lr_scheduler`` in ``epoch`` (1-based), ``progress`` (0..1) of the
    iterations through: poly ``(1 - progress)^0.9``, cosine, or step (``lr_scheduler_factor``
    once for each epoch of ``lr_steps`` already finished)."""
    base = values["learning_rate"]
    schedule = values["lr_scheduler"]
    if schedule == "step":
        passed = sum(1 for step in lr_steps if step < epoch)
        return float(base * values["lr_scheduler_factor"] ** passed)
    progress = min(max(progress, 0.0), 1.0)
    if schedule == "poly":
        return float(base * (1.0 - progress) ** 0.9)
    return float(base * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _optimizer(values: Mapping[str, Any], parameters: Any) -> Any:
    torch = _torch()
    name, rate, decay = values["optimizer"], values["learning_rate"], values["weight_decay"]
    if name in ("sgd", "nag"):
        momentum = values["momentum"]
        return torch.optim.SGD(
            parameters,
            lr=rate,
            momentum=momentum,
            weight_decay=decay,
            nesterov=name == "nag" and momentum > 0,  # Nesterov without momentum is plain SGD
        )
    if name == "adam":
        return torch.optim.Adam(parameters, lr=rate, weight_decay=decay)
    if name == "adagrad":
        return torch.optim.Adagrad(parameters, lr=rate, weight_decay=decay)
    if name == "adadelta":
        return torch.optim.Adadelta(parameters, lr=rate, weight_decay=decay)
    return torch.optim.RMSprop(
        parameters,
        lr=rate,
        alpha=values["gamma1"],
        momentum=values["gamma2"],
        weight_decay=decay,
    )
