"""Image classification as SageMaker's built-in algorithm runs it: a ResNet trained from scratch.

SageMaker's image-classification algorithm (MXNet) trains a ResNet (He et al., "Deep residual
learning for image recognition", CVPR 2016, and "Identity mappings in deep residual networks",
ECCV 2016) of ``num_layers`` layers on the ``train`` channel and reports ``train:accuracy`` and
``validation:accuracy`` after every epoch. This module does the same in torch, on ``ctx.device``:

* ``num_layers`` 18 and 34 build ImageNet's basic-block ResNets, 50, 101, 152 and 200 its
  bottleneck ResNets (four stages of 64 to 512 channels). Any other ``6n + 2`` (SageMaker lists
  20, 32, 44, 56 and 110; smaller ones such as 8 and 14 are accepted here too) builds the CIFAR
  ResNet of the paper's section 4.2: three stages of 16, 32 and 64 channels, ``n`` basic blocks
  each. Inputs of at most 32 pixels get a 3x3 stem without max-pooling, larger ones ImageNet's
  7x7 stem with stride 2 and max-pooling.
* Images come as SageMaker's image format (images with a ``.lst`` file, in a ``<channel>_lst``
  channel or at the top of the image channel) or one folder per class; see
  :mod:`algorithms.images`. RecordIO (``.rec``) input is not supported.
* Optimisers are SGD, Nesterov SGD (``nag``), Adam and RMSprop with SageMaker's
  hyperparameters; ``weight_decay`` applies to sgd and nag only, as documented. The learning
  rate is multiplied by ``lr_scheduler_factor`` after each epoch listed in
  ``lr_scheduler_step``.
* ``augmentation_type`` works on the batch, on the device: ``crop`` pads by an eighth of the
  side, crops at random and flips horizontally; ``crop_color`` also shifts hue (±36 degrees),
  saturation and lightness (±50/255); ``crop_color_transform`` also rotates (±10 degrees),
  shears (±0.1) and changes the aspect ratio (±25%).
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

Training is seeded (weights, shuffling, augmentation): on the CPU the same hyperparameters give
the same metrics; CUDA kernels may differ in the last bits from run to run.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from algorithms.base import (
    Direction,
    HyperparameterError,
    HyperparameterSpec,
    InputError,
    StopTraining,
    TrainingContext,
    parse_hyperparameters,
)
from algorithms.images import fit_to_shape, list_images, load_images, read_image

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

#: The model's file name in the output folder.
MODEL_FILENAME = "image-classification-model.pt"
#: Periodic checkpoints (``checkpoint_frequency``), by epoch, as MXNet names its parameter files.
CHECKPOINT_PATTERN = "image-classification-{epoch:04d}.pt"

#: Seed of the weights, the shuffling and the augmentation (SageMaker's algorithm takes none).
SEED = 0

METRICS: Mapping[str, Direction] = MappingProxyType(
    {
        "validation:accuracy": "Maximize",
        "train:accuracy": "Maximize",
        "validation:top_k_accuracy": "Maximize",
        "train:top_k_accuracy": "Maximize",
    }
)

#: num_layers of ImageNet's ResNets: block kind and blocks per stage.
IMAGENET_LAYERS: Mapping[int, tuple[str, tuple[int, ...]]] = MappingProxyType(
    {
        18: ("basic", (2, 2, 2, 2)),
        34: ("basic", (3, 4, 6, 3)),
        50: ("bottleneck", (3, 4, 6, 3)),
        101: ("bottleneck", (3, 4, 23, 3)),
        152: ("bottleneck", (3, 8, 36, 3)),
        200: ("bottleneck", (3, 24, 36, 3)),
    }
)
#: The values SageMaker documents; other 6n+2 values are accepted too (CIFAR-style).
DOCUMENTED_LAYERS = (18, 34, 50, 101, 152, 200, 20, 32, 44, 56, 110)
_SMALL_INPUT = 32  # at most this many pixels a side: 3x3 stem, no max-pooling


def _spec(kind: Any, default: Any = None, description: str = "", **bounds: Any) -> Any:
    return HyperparameterSpec(kind=kind, default=default, description=description, **bounds)


def _unit(default: float | None, description: str, **bounds: Any) -> HyperparameterSpec:
    return _spec("float", default, description, min_value=0, max_value=1, **bounds)


def _flag(default: int, description: str) -> HyperparameterSpec:
    return _spec("int", default, description, min_value=0, max_value=1)


#: SageMaker image classification's hyperparameters ("Image Classification Hyperparameters").
HYPERPARAMETERS: Mapping[str, HyperparameterSpec] = MappingProxyType(
    {
        "num_classes": HyperparameterSpec(
            "int", required=True, min_value=2, description="Number of output classes."
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
        "beta_1": _unit(0.9, "Adam: decay rate of the first moment.", max_open=True),
        "beta_2": _unit(0.999, "Adam: decay rate of the second moment.", max_open=True),
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
        "eps": _unit(1e-8, "Adam and RMSprop: epsilon.", min_open=True),
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
        "learning_rate": _unit(0.1, "Initial learning rate.", min_open=True),
        "lr_scheduler_factor": _unit(
            0.1, "Learning-rate multiplier at each lr_scheduler_step epoch.", min_open=True
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


# -- the network ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Architecture:
    """What the saved weights belong to; enough to rebuild the network and its input."""

    num_layers: int
    num_classes: int
    image_shape: tuple[int, int, int]
    multi_label: bool
    resize: int | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: dict[int, str] | None = None


def _torch() -> Any:
    import torch

    return torch


def build_network(
    num_layers: int, num_classes: int, image_shape: Sequence[int]
) -> torch.nn.Sequential:
    """The ResNet of ``num_layers`` layers for ``image_shape`` inputs (weights not seeded)."""
    from torch import nn

    channels, height, width = image_shape
    small = max(height, width) <= _SMALL_INPUT

    def conv3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
        return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)

    class Basic(nn.Module):
        expansion = 1

        def __init__(self, c_in: int, width: int, stride: int) -> None:
            super().__init__()
            self.body = nn.Sequential(
                conv3(c_in, width, stride),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                conv3(width, width),
                nn.BatchNorm2d(width),
            )
            self.shortcut = _shortcut(c_in, width, stride)

        def forward(self, x: Any) -> Any:
            return (self.body(x) + self.shortcut(x)).relu()

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, c_in: int, width: int, stride: int) -> None:
            super().__init__()
            out = width * 4
            self.body = nn.Sequential(
                nn.Conv2d(c_in, width, 1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                conv3(width, width, stride),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.Conv2d(width, out, 1, bias=False),
                nn.BatchNorm2d(out),
            )
            self.shortcut = _shortcut(c_in, out, stride)

        def forward(self, x: Any) -> Any:
            return (self.body(x) + self.shortcut(x)).relu()

    def _shortcut(c_in: int, c_out: int, stride: int) -> nn.Module:
        if stride == 1 and c_in == c_out:
            return nn.Identity()
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
        )

    blocks: tuple[int, ...]
    widths: tuple[int, ...]
    if num_layers in IMAGENET_LAYERS:
        kind, blocks = IMAGENET_LAYERS[num_layers]
        block: type[nn.Module] = Basic if kind == "basic" else Bottleneck
        widths, stem_width = (64, 128, 256, 512), 64
    else:
        block, widths, stem_width = Basic, (16, 32, 64), 16
        blocks = ((num_layers - 2) // 6,) * 3
    if small or num_layers not in IMAGENET_LAYERS:
        stem: list[nn.Module] = [conv3(channels, stem_width)]
    else:
        stem = [nn.Conv2d(channels, stem_width, 7, stride=2, padding=3, bias=False)]
    stem += [nn.BatchNorm2d(stem_width), nn.ReLU(inplace=True)]
    if not small and num_layers in IMAGENET_LAYERS:
        stem.append(nn.MaxPool2d(3, stride=2, padding=1))
    layers = list(stem)
    c_in = stem_width
    for stage, (width, count) in enumerate(zip(widths, blocks, strict=True)):
        for i in range(count):
            stride = 2 if stage > 0 and i == 0 else 1
            layers.append(block(c_in, width, stride))
            c_in = width * block.expansion  # type: ignore[attr-defined]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes)]
    network = nn.Sequential(*layers)
    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    return network


# -- model ---------------------------------------------------------------------------------------


class ImageClassifier:
    """A trained network and its input handling; ``predict`` takes images or image files."""

    def __init__(self, architecture: Architecture, state: Mapping[str, Any], device: str) -> None:
        torch = _torch()
        self.architecture = architecture
        self.device = torch.device(device)
        self.network = build_network(
            architecture.num_layers, architecture.num_classes, architecture.image_shape
        ).to(self.device)
        self.network.load_state_dict(state)
        self.network.eval()

    def predict(self, images: Any) -> np.ndarray:
        """Class indices (or, multi-label, 0/1 per class) of ``images``.

        ``images`` is a sequence of image files, a ``(N, C, H, W)`` or ``(N, H, W, C)`` array,
        or a ``(N, H, W)`` array of grey images (pixel values 0..255); each is fitted to the
        model's ``image_shape`` as at training.
        """
        scores = self.predict_proba(images)
        if self.architecture.multi_label:
            return (scores > 0.5).astype(np.int64)
        return np.argmax(scores, axis=1)

    def predict_proba(self, images: Any) -> np.ndarray:
        """Class probabilities (softmax; sigmoid per class for multi-label), ``(N, classes)``."""
        torch = _torch()
        batch = torch.as_tensor(self._pixels(images), device=self.device)
        outputs = []
        with torch.no_grad():
            for start in range(0, len(batch), 256):
                logits = self.network(_normalise(batch[start : start + 256], self.architecture))
                scores = logits.sigmoid() if self.architecture.multi_label else logits.softmax(1)
                outputs.append(scores.float().cpu().numpy())
        if not outputs:
            return np.zeros((0, self.architecture.num_classes))
        return np.concatenate(outputs)

    def _pixels(self, images: Any) -> np.ndarray:
        shape, resize = self.architecture.image_shape, self.architecture.resize
        if isinstance(images, (str, Path)) or (
            isinstance(images, Sequence) and images and isinstance(images[0], (str, Path))
        ):
            files = [images] if isinstance(images, (str, Path)) else list(images)
            return np.stack([fit_to_shape(read_image(f), shape, resize=resize) for f in files])
        array = np.asarray(images)
        if array.ndim == 3:  # a batch of grey images
            array = array[:, None]
        if array.ndim != 4:
            msg = f"images must be (N, C, H, W), (N, H, W, C) or (N, H, W), got {array.shape}"
            raise InputError(msg)
        if array.shape[1] not in (1, 3, 4) and array.shape[-1] in (1, 3, 4):
            array = array.transpose(0, 3, 1, 2)
        return np.stack(
            [fit_to_shape(image.transpose(1, 2, 0), shape, resize=resize) for image in array]
        )


def load(path: Path | str, *, device: str = "cpu") -> ImageClassifier:
    """The model that ``train`` saved in ``path`` (an output folder or a model/checkpoint file)."""
    torch = _torch()
    path = Path(path)
    file = path / MODEL_FILENAME if path.is_dir() else path
    if not file.is_file():
        msg = f"no image-classification model at {file}"
        raise FileNotFoundError(msg)
    saved = torch.load(file, map_location=device, weights_only=True)
    config = dict(saved["architecture"])
    config["image_shape"] = tuple(config["image_shape"])
    config["mean"], config["std"] = tuple(config["mean"]), tuple(config["std"])
    if config.get("class_names") is not None:
        config["class_names"] = {int(k): v for k, v in config["class_names"].items()}
    return ImageClassifier(Architecture(**config), saved["state_dict"], device)


def _save(file: Path, architecture: Architecture, state: Mapping[str, Any]) -> None:
    torch = _torch()
    file.parent.mkdir(parents=True, exist_ok=True)
    config = asdict(architecture)
    config["image_shape"] = list(architecture.image_shape)
    config["mean"], config["std"] = list(architecture.mean), list(architecture.std)
    if architecture.class_names is not None:
        config["class_names"] = {str(k): v for k, v in architecture.class_names.items()}
    cpu_state = {name: value.detach().cpu() for name, value in state.items()}
    torch.save({"architecture": config, "state_dict": cpu_state}, file)


def _normalise(pixels: torch.Tensor, architecture: Architecture) -> torch.Tensor:
    torch = _torch()
    mean = torch.as_tensor(architecture.mean, device=pixels.device).view(1, -1, 1, 1)
    std = torch.as_tensor(architecture.std, device=pixels.device).view(1, -1, 1, 1)
    return (pixels.float() / 255.0 - mean) / std


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

    Class folders are matched to the training classes by name, so a validation channel that
    lacks a class still labels the others as the training channel does.
    """
    values = plan.values
    images = list_images(channels[name], channels.get(f"{name}_lst"), name=name)
    num_classes = values["num_classes"]
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
    widths = {len(label) for label in raw}
    first = images.records[0].path
    if plan.multi_label:
        if widths != {num_classes}:
            msg = (
                f"{name} channel: multi_label=1 needs num_classes ({num_classes}) label columns "
                f"in the .lst file, one 0/1 value per class; found {sorted(widths)} (near {first})"
            )
            raise InputError(msg)
        labels = np.asarray(raw, dtype=np.float32)
        if not np.isin(labels, (0.0, 1.0)).all():
            msg = f"{name} channel: multi-label values must be 0 or 1"
            raise InputError(msg)
    else:
        if widths != {1}:
            msg = (
                f"{name} channel: the .lst file has {max(widths)} label columns; one class "
                "label per image is needed (or set multi_label=1)"
            )
            raise InputError(msg)
        flat = np.asarray([label[0] for label in raw], dtype=np.float64)
        bad = np.flatnonzero((flat < 0) | (flat >= num_classes) | (flat != np.floor(flat)))
        if bad.size:
            record = images.records[int(bad[0])]
            msg = (
                f"{name} channel: label {flat[bad[0]]:g} of {record.path} is not a class of "
                f"num_classes={num_classes}; labels must be integers in [0, {num_classes})"
            )
            raise InputError(msg)
        labels = flat.astype(np.int64)
    pixels = load_images(images.records, plan.image_shape, resize=values["resize"])
    return _Split(pixels, labels, images.class_names)


# -- training ------------------------------------------------------------------------------------


class ImageClassificationAlgorithm:
    """SageMaker's built-in image classification algorithm (the ``image-classification`` image)."""

    name = "image-classification"
    hyperparameters: Mapping[str, HyperparameterSpec] = HYPERPARAMETERS
    metrics: Mapping[str, Direction] = METRICS

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
        stale = 0
        for epoch in range(1, values["epochs"] + 1):
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
            if ctx.should_stop():
                break
            if (
                values["early_stopping"]
                and self.validation is not None
                and epoch >= values["early_stopping_min_epochs"]
                and stale >= values["early_stopping_patience"]
            ):
                logger.info(
                    "early stopping after epoch %d (best epoch %d)", epoch, self.best_epoch
                )
                break
        self._save_best(output_dir)

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
        return torch.optim.Adam(
            parameters, lr=rate, betas=(values["beta_1"], values["beta_2"]), eps=values["eps"]
        )
    return torch.optim.RMSprop(parameters, lr=rate, alpha=values["gamma"], eps=values["eps"])


# -- augmentation --------------------------------------------------------------------------------


def _augment(pixels: torch.Tensor, kind: str | None, generator: torch.Generator) -> torch.Tensor:
    """A randomly augmented copy of a ``(B, C, H, W)`` uint8 batch, as float pixels 0..255."""
    torch = _torch()
    x = pixels.float()
    if kind is None:
        return x
    batch, channels, height, width = x.shape
    device = x.device

    def uniform(low: float, high: float) -> Any:
        draw = torch.rand(batch, generator=generator, dtype=torch.float32)
        return (low + (high - low) * draw).to(device)

    # crop: pad by an eighth of each side, cut a random window, flip half the images.
    pad_y, pad_x = max(1, height // 8), max(1, width // 8)
    padded = torch.nn.functional.pad(x, (pad_x, pad_x, pad_y, pad_y), mode="replicate")
    top = torch.randint(0, 2 * pad_y + 1, (batch,), generator=generator).to(device)
    left = torch.randint(0, 2 * pad_x + 1, (batch,), generator=generator).to(device)
    rows = (top[:, None] + torch.arange(height, device=device))[:, None, :, None]
    cols = (left[:, None] + torch.arange(width, device=device))[:, None, None, :]
    images = torch.arange(batch, device=device)[:, None, None, None]
    x = padded[images, torch.arange(channels, device=device)[None, :, None, None], rows, cols]
    flip = (torch.rand(batch, generator=generator) < 0.5).to(device)
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if kind in ("crop_color", "crop_color_transform"):
        x = _shift_colour(x, uniform(-36, 36), uniform(-50, 50), uniform(-50, 50))
    if kind == "crop_color_transform":
        angle = uniform(-10, 10) * math.pi / 180
        shear = uniform(-0.1, 0.1)
        aspect = torch.sqrt(1 + uniform(-0.25, 0.25))
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.zeros(batch, 2, 3, device=device)
        theta[:, 0, 0] = cos * aspect
        theta[:, 0, 1] = -sin + shear
        theta[:, 1, 0] = sin
        theta[:, 1, 1] = cos / aspect
        grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
        x = torch.nn.functional.grid_sample(
            x, grid, mode="bilinear", padding_mode="border", align_corners=False
        )
    return x.clamp(0, 255)


def _shift_colour(x: Any, hue_degrees: Any, saturation: Any, lightness: Any) -> Any:
    """Shift hue (degrees), saturation and lightness (on 0..255) of each image of a batch.

    Hue turns the chroma plane of YIQ space; saturation scales the distance from grey by
    ``1 + saturation / 255``; lightness is added to every channel. Grey images only change in
    lightness.
    """
    torch = _torch()
    x = x + lightness[:, None, None, None]
    if x.shape[1] != 3:
        return x
    rgb_to_yiq = torch.tensor(
        [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
        device=x.device,
    )
    yiq = torch.einsum("ij,bjhw->bihw", rgb_to_yiq, x)
    angle = hue_degrees * math.pi / 180
    cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    scale = (1 + saturation / 255)[:, None, None]
    i, q = yiq[:, 1], yiq[:, 2]
    turned = torch.stack((yiq[:, 0], scale * (cos * i - sin * q), scale * (sin * i + cos * q)), 1)
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(rgb_to_yiq), turned)
