"""A trained object detector: the file training saves, :func:`load`, and its predictions.

A saved model is ``{"architecture": ..., "state_dict": ...}`` (:class:`Architecture` as a plain
dict, weights on the CPU) in ``object-detection-model.pt``. :class:`ObjectDetector` answers as
SageMaker's object detection endpoint does: for each image a list of
``[class, score, xmin, ymin, xmax, ymax]`` rows (``{"prediction": rows}`` for one encoded image
from :meth:`ObjectDetector.response`), coordinates normalised to the image, best score first.

Detection (MXNet's ``MultiBoxDetection`` defaults): class probabilities by softmax, candidates
of score above 0.01, the 400 best of them decoded from their anchors and clipped to the image,
per-class NMS at ``nms_threshold``, at most 100 kept per image. Images are normalised by
ImageNet's channel means and deviations (as SageMaker's MXNet networks take them), scaled to the
model's square ``image_shape``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from algorithms.base import InputError
from algorithms.boxes import batched_nms, decode
from algorithms.image_recordio import decode_image
from algorithms.images import read_image
from algorithms.object_detection_data import fit_square

if TYPE_CHECKING:
    import torch

    from algorithms.object_detection_network import SSD

MODEL_FILENAME = "object-detection-model.pt"
#: The trunks of ``base_network`` (:mod:`algorithms.object_detection_network` builds them).
BASE_NETWORKS = ("vgg-16", "resnet-50")
#: ImageNet's per-channel mean and standard deviation of pixels over 255 (RGB).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
#: MultiBoxDetection's defaults: the lowest score kept, candidates before NMS, kept after.
SCORE_THRESHOLD = 0.01
CANDIDATES = 400
KEPT = 100


@dataclass(frozen=True)
class Architecture:
    """What the saved weights belong to: enough to rebuild the network and its detection."""

    base_network: str
    num_classes: int
    image_size: int
    nms_threshold: float
    width_divisor: int = 1


def _torch() -> Any:
    import torch

    return torch


def normalise(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, 3, S, S)`` pixels as the network takes them."""
    torch = _torch()
    mean = torch.as_tensor(MEAN, device=pixels.device).view(1, 3, 1, 1)
    std = torch.as_tensor(STD, device=pixels.device).view(1, 3, 1, 1)
    return (pixels.float() / 255.0 - mean) / std


def detections(
    logits: torch.Tensor, offsets: torch.Tensor, anchors: torch.Tensor, nms_threshold: float
) -> list[np.ndarray]:
    """Per image, ``(K, 6)`` rows ``[class, score, xmin, ymin, xmax, ymax]``, best first."""
    torch = _torch()
    probabilities = logits.float().softmax(dim=-1)[..., 1:].cpu()
    boxes = decode(offsets.float().cpu(), anchors.cpu()).clamp(0.0, 1.0)
    found = []
    for scores, image_boxes in zip(probabilities, boxes, strict=True):
        flat = scores.reshape(-1)
        candidates = torch.nonzero(flat > SCORE_THRESHOLD).squeeze(1)
        candidates = candidates[flat[candidates].argsort(descending=True, stable=True)]
        candidates = candidates[:CANDIDATES]
        anchor, label = candidates // scores.shape[1], candidates % scores.shape[1]
        chosen = image_boxes[anchor]
        keep = batched_nms(chosen, flat[candidates], label, nms_threshold)[:KEPT]
        rows = torch.cat(
            [label[keep, None].float(), flat[candidates][keep, None], chosen[keep]], dim=1
        )
        found.append(rows.numpy().astype(np.float64))
    return found


class ObjectDetector:
    """A trained SSD and its input handling; ``predict`` takes images, files or encoded bytes."""

    def __init__(self, architecture: Architecture, state: Mapping[str, Any], device: str) -> None:
        from algorithms.object_detection_network import anchor_boxes, build_ssd

        torch = _torch()
        self.architecture = architecture
        self.device = torch.device(device)
        self.network: SSD = build_ssd(
            architecture.base_network, architecture.num_classes, architecture.width_divisor
        ).to(self.device)
        self.network.load_state_dict(state)
        self.network.eval()
        self.anchors = anchor_boxes(architecture.base_network, architecture.image_size)

    def predict(self, images: Any) -> list[list[list[float]]]:
        """For each image, its ``[class, score, xmin, ymin, xmax, ymax]`` detections.

        ``images``: image files, encoded images (bytes), or an array of images ``(N, H, W, 3)``,
        ``(N, 3, H, W)`` or ``(N, H, W)`` of pixel values 0..255.
        """
        torch = _torch()
        pixels = torch.as_tensor(self._pixels(images), device=self.device)
        found: list[list[list[float]]] = []
        with torch.no_grad():
            for start in range(0, len(pixels), 64):
                logits, offsets = self.network(normalise(pixels[start : start + 64]))
                rows = detections(logits, offsets, self.anchors, self.architecture.nms_threshold)
                found.extend(r.tolist() for r in rows)
        return found

    def response(self, payload: bytes) -> dict[str, list[list[float]]]:
        """The endpoint's answer to one encoded image (JPEG, PNG): ``{"prediction": rows}``."""
        return {"prediction": self.predict([payload])[0]}

    def _pixels(self, images: Any) -> np.ndarray:
        size = self.architecture.image_size
        if isinstance(images, (str, Path, bytes)):
            images = [images]
        if isinstance(images, Sequence) and images and isinstance(images[0], (str, Path, bytes)):
            decoded = [
                decode_image(i, "request") if isinstance(i, bytes) else read_image(i)
                for i in images
            ]
            return np.stack([fit_square(image, size) for image in decoded])
        array = np.asarray(images)
        if array.ndim == 3:
            array = array[..., None].repeat(3, axis=-1)  # a batch of grey images
        if array.ndim != 4:
            msg = f"images must be (N, H, W, 3), (N, 3, H, W) or (N, H, W), got {array.shape}"
            raise InputError(msg)
        if array.shape[1] in (1, 3) and array.shape[-1] not in (1, 3):
            array = array.transpose(0, 2, 3, 1)
        if array.shape[-1] == 1:
            array = array.repeat(3, axis=-1)
        array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
        if len(array) == 0:
            return np.zeros((0, 3, size, size), dtype=np.uint8)
        return np.stack([fit_square(image, size) for image in array])


def save(file: Path, architecture: Architecture, state: Mapping[str, Any]) -> None:
    """Write a model file :func:`load` reads."""
    torch = _torch()
    file.parent.mkdir(parents=True, exist_ok=True)
    cpu_state = {name: value.detach().cpu() for name, value in state.items()}
    torch.save({"architecture": asdict(architecture), "state_dict": cpu_state}, file)


def load(path: Path | str, *, device: str = "cpu") -> ObjectDetector:
    """The model that training saved in ``path`` (its output folder or the model file)."""
    torch = _torch()
    path = Path(path)
    file = path / MODEL_FILENAME if path.is_dir() else path
    if not file.is_file():
        msg = f"no object-detection model at {file}"
        raise FileNotFoundError(msg)
    saved = torch.load(file, map_location=device, weights_only=True)
    return ObjectDetector(Architecture(**saved["architecture"]), saved["state_dict"], device)
