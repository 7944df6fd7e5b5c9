"""Generated images with known masks, in semantic segmentation's channel layout.

For tests, the benchmark and examples: nothing is downloaded, so the data is drawn. Each image
is a noisy grey-brown background (class 0) with up to one rectangle (class 1) and one disc
(class 2) of jittered colours (reddish rectangles, bluish discs), partly overlapping at times
(the disc drawn last). Images are written as JPEG (``train/NNNN.jpg``) and their masks as 8-bit
PNG (``train_annotation/NNNN.png``), the layout SageMaker documents; a thin ring of 255 (the
ignore label) marks each disc's edge, where a JPEG's blur leaves the class uncertain.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from algorithms.images import _pil, write_png
from algorithms.segmentation_data import IGNORE_LABEL

#: The classes drawn: background, rectangle, disc.
NUM_CLASSES = 3


def draw_shapes(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One ``(size, size, 3)`` uint8 image and its ``(size, size)`` uint8 mask."""
    image = rng.normal(110, 18, size=(size, size, 3)) + np.array([10.0, 5.0, -10.0])
    mask = np.zeros((size, size), dtype=np.uint8)
    rows, cols = np.mgrid[:size, :size]
    if rng.random() < 0.8:
        h, w = rng.integers(size // 5, size // 2, size=2)
        top, left = rng.integers(0, size - h), rng.integers(0, size - w)
        inside = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)
        image[inside] = np.array([200.0, 60.0, 50.0]) + rng.normal(0, 15, size=3)
        mask[inside] = 1
    if rng.random() < 0.8:
        radius = rng.uniform(size / 10, size / 4)
        cy, cx = rng.uniform(radius, size - radius, size=2)
        distance = np.hypot(rows - cy, cols - cx)
        inside = distance <= radius
        image[inside] = np.array([50.0, 90.0, 210.0]) + rng.normal(0, 15, size=3)
        mask[inside] = 2
        mask[np.abs(distance - radius) < 0.75] = IGNORE_LABEL
    noisy = image + rng.normal(0, 8, size=image.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8), mask


def write_shapes(
    root: Path, *, n_train: int = 32, n_validation: int = 16, size: int = 64, seed: int = 0
) -> dict[str, Path]:
    """Write ``train``/``validation`` images and their annotation channels under ``root``.

    Returns the four channels (name -> folder).
    """
    rng = np.random.default_rng(seed)
    channels = {}
    for name, count in (("train", n_train), ("validation", n_validation)):
        images, masks = root / name, root / f"{name}_annotation"
        images.mkdir(parents=True, exist_ok=True)
        for n in range(count):
            image, mask = draw_shapes(size, rng)
            _pil().fromarray(image).save(images / f"{n:04d}.jpg", format="JPEG", quality=95)
            write_png(masks / f"{n:04d}.png", mask)
        channels[name], channels[f"{name}_annotation"] = images, masks
    return channels


def majority_class_scores(channels: dict[str, Path]) -> tuple[float, float]:
    """(mIOU, pixel accuracy) on ``validation`` of predicting the training masks' commonest
    class everywhere: the constant reference a trained model must beat."""
    from algorithms.segmentation_data import load_split
    from algorithms.segmentation_metrics import confusion_matrix, mean_iou, pixel_accuracy

    train = load_split(channels["train"], channels["train_annotation"], "train", 255, None)
    counts = np.bincount(np.concatenate([m.ravel() for m in train.masks]), minlength=256)
    counts[IGNORE_LABEL] = 0
    majority = int(np.argmax(counts))
    validation = load_split(
        channels["validation"], channels["validation_annotation"], "validation", 255, None
    )
    classes = int(max(int(m[m != IGNORE_LABEL].max(initial=0)) for m in validation.masks)) + 1
    classes = max(classes, majority + 1)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    for mask in validation.masks:
        confusion += confusion_matrix(mask, np.full_like(mask, majority), classes)
    return mean_iou(confusion), pixel_accuracy(confusion)
