"""A trained image-classification model: the file training saves, :func:`load`, and predictions.

Its own module because the saved file is written (``_save``) and read (:func:`load`) in one
place, next to the :class:`Architecture` it records and the :class:`ImageClassifier` that
:func:`load` returns; :mod:`algorithms.image_classification` trains, saves through ``_save`` and
re-exports these names. A file holds ``{"architecture": ..., "state_dict": ...}``: the
:class:`Architecture` as plain lists and string-keyed dicts, and the weights moved to the CPU.
``_normalise`` (pixels over 255, less the training images' per-channel mean, over their standard
deviation) is here because training and prediction must feed the network alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from algorithms.base import InputError
from algorithms.images import fit_to_shape, read_image
from algorithms.resnet import build_network

if TYPE_CHECKING:
    import torch

#: The model's file name in the output folder.
MODEL_FILENAME = "image-classification-model.pt"
#: Periodic checkpoints (``checkpoint_frequency``), by epoch, as MXNet names its parameter files.
CHECKPOINT_PATTERN = "image-classification-{epoch:04d}.pt"


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
