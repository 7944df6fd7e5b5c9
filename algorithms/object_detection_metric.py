"""Mean average precision at IoU 0.5 (``validation:mAP``), VOC style, on numpy.

SageMaker's object detection reports ``validation:mAP``, the mean over classes of the average
precision at an IoU of 0.5, as MXNet's SSD example computes it (``MApMetric``, after the PASCAL
VOC devkit). The choices, where SageMaker's page is silent:

* Detections of a class are taken best score first over all images (equal scores in the order
  given). One is a true positive when its largest IoU with a ground-truth box of its class in its
  image is above ``iou_threshold`` (strictly, as the VOC devkit) and that box was not yet taken;
  otherwise it is a false positive (a second detection of a taken box counts against).
* Average precision is the area under the precision envelope at every recall reached
  (VOC 2010 onwards); ``recall_points=11`` gives VOC 2007's 11-point mean and
  ``recall_points=101`` COCO's 101-point mean (which pycocotools computes, used to test this).
* The mean is over the classes with at least one ground-truth box; a class with boxes but no
  detections has AP 0. With no ground-truth box at all the mAP is 0.
* Boxes are normalised corner form, so no "+1 pixel" in widths as in the VOC devkit.

:func:`mean_box_detections` is the baseline the tests and the benchmark compare against: every
class detected at its mean training box in every image, which sees no image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def iou_matrix(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """IoU of ``(N, 4)`` and ``(M, 4)`` corner-form boxes, ``(N, M)``."""
    top_left = np.maximum(first[:, None, :2], second[None, :, :2])
    bottom_right = np.minimum(first[:, None, 2:], second[None, :, 2:])
    overlap = np.clip(bottom_right - top_left, 0, None).prod(axis=2)

    def area(b: np.ndarray) -> np.ndarray:
        return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)

    union = area(first)[:, None] + area(second)[None, :] - overlap
    return np.where(union > 0, overlap / np.maximum(union, 1e-12), 0.0)


def average_precision(
    recall: np.ndarray, precision: np.ndarray, recall_points: int | None = None
) -> float:
    """The area under the precision envelope (all points), or its mean at ``recall_points``."""
    envelope = np.concatenate([[0.0], precision, [0.0]])
    for i in range(len(envelope) - 2, -1, -1):
        envelope[i] = max(envelope[i], envelope[i + 1])
    reached = np.concatenate([[0.0], recall, [1.0]])
    if recall_points is None:
        steps = np.flatnonzero(reached[1:] != reached[:-1])
        return float(np.sum((reached[steps + 1] - reached[steps]) * envelope[steps + 1]))
    levels = np.linspace(0.0, 1.0, recall_points)
    # The precision at a recall level: the envelope at the first recall reaching that level.
    where = np.searchsorted(recall, levels, side="left")
    values = np.where(where < len(recall), envelope[1:-1][np.minimum(where, len(recall) - 1)], 0)
    return float(np.mean(values)) if len(recall) else 0.0


def class_average_precisions(
    detections: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    num_classes: int,
    iou_threshold: float = 0.5,
    recall_points: int | None = None,
) -> dict[int, float]:
    """AP of each class that has ground-truth boxes.

    ``detections[i]``: image ``i``'s ``(K, 6)`` rows ``[class, score, xmin, ymin, xmax, ymax]``;
    ``truths[i]``: its ``(M, 5)`` rows ``[class, xmin, ymin, xmax, ymax]``.
    """
    if len(detections) != len(truths):
        msg = f"{len(detections)} images of detections but {len(truths)} of ground truth"
        raise ValueError(msg)
    tables = [np.asarray(t, dtype=np.float64).reshape(-1, 5) for t in truths]
    results: dict[int, float] = {}
    for label in range(num_classes):
        boxes = [t[t[:, 0] == label, 1:5] for t in tables]
        total = sum(len(b) for b in boxes)
        if total == 0:
            continue
        hits = _hits(detections, boxes, label, iou_threshold)
        if hits.size == 0:
            results[label] = 0.0
            continue
        true_positives = np.cumsum(hits)
        recall = true_positives / total
        precision = true_positives / np.arange(1, len(hits) + 1)
        results[label] = average_precision(recall, precision, recall_points)
    return results


def _hits(
    detections: Sequence[np.ndarray], boxes: list[np.ndarray], label: int, iou_threshold: float
) -> np.ndarray:
    """1.0 for each true positive of class ``label``'s detections, best score first."""
    rows = [(image, d) for image, found in enumerate(detections) for d in _rows(found, label)]
    order = sorted(range(len(rows)), key=lambda i: -rows[i][1][1])  # stable: ties keep order
    taken = [np.zeros(len(b), dtype=bool) for b in boxes]
    hits = np.zeros(len(rows))
    for position, index in enumerate(order):
        image, row = rows[index]
        if len(boxes[image]) == 0:
            continue
        overlaps = iou_matrix(row[None, 2:6], boxes[image])[0]
        best = int(np.argmax(overlaps))
        if overlaps[best] > iou_threshold and not taken[image][best]:
            taken[image][best] = True
            hits[position] = 1.0
    return hits


def _rows(found: np.ndarray, label: int) -> np.ndarray:
    found = np.asarray(found, dtype=np.float64).reshape(-1, 6)
    return found[found[:, 0] == label]


def mean_average_precision(
    detections: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    num_classes: int,
    iou_threshold: float = 0.5,
    recall_points: int | None = None,
) -> float:
    """The mean of :func:`class_average_precisions` (0 when no class has ground truth)."""
    per_class = class_average_precisions(
        detections, truths, num_classes, iou_threshold, recall_points
    )
    return float(np.mean(list(per_class.values()))) if per_class else 0.0


def mean_box_detections(
    train: Sequence[np.ndarray], count: int, num_classes: int
) -> list[np.ndarray]:
    """A baseline that looks at no image: for each of ``count`` images, every class's mean box.

    Each class present in ``train`` (``(M, 5)`` boxes per image) is detected at its mean
    training box with a score of its share of the training boxes, in every image. Its mAP
    (:func:`mean_average_precision`) is what knowing only where each class tends to be gives.
    """
    tables = [np.asarray(t, dtype=np.float64).reshape(-1, 5) for t in train]
    every = np.concatenate(tables) if tables else np.zeros((0, 5))
    rows = []
    for label in range(num_classes):
        boxes = every[every[:, 0] == label, 1:5]
        if len(boxes):
            rows.append([label, len(boxes) / len(every), *boxes.mean(axis=0)])
    found = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    return [found.copy() for _ in range(count)]
