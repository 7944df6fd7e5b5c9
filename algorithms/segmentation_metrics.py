"""Semantic segmentation's metrics: mIOU and pixel accuracy, from one confusion matrix.

SageMaker reports ``validation:mIOU`` and ``validation:pixel_accuracy`` after every epoch (both
to maximise). Both come from a confusion matrix accumulated over every labelled pixel of the
validation set (pixels labelled 255 are left out, as in training):

* pixel accuracy: correctly classified pixels over labelled pixels;
* mIOU: the mean, over the classes present (in the ground truth or in the predictions, so
  that a class never seen and never predicted neither helps nor hurts), of each class's
  intersection over union, ``TP / (TP + FP + FN)``. A class that is predicted but absent from
  the ground truth counts with an IoU of 0.

The matrix is summed over the whole set before the ratios are taken (as GluonCV's
``SegmentationMetric`` does), not averaged image by image.
"""

from __future__ import annotations

import numpy as np

from algorithms.segmentation_data import IGNORE_LABEL


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """``(num_classes, num_classes)`` counts, rows the true class, columns the predicted one.

    Pixels whose true label is 255 (:data:`IGNORE_LABEL`) are not counted.
    """
    truth = np.asarray(truth).ravel().astype(np.int64)
    predicted = np.asarray(predicted).ravel().astype(np.int64)
    if truth.shape != predicted.shape:
        msg = f"truth and predictions differ in size: {truth.size} and {predicted.size}"
        raise ValueError(msg)
    keep = truth != IGNORE_LABEL
    index = truth[keep] * num_classes + predicted[keep]
    counts = np.bincount(index, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def pixel_accuracy(confusion: np.ndarray) -> float:
    """Share of labelled pixels classified correctly (0 when none is labelled)."""
    total = confusion.sum()
    return float(np.trace(confusion) / total) if total else 0.0


def mean_iou(confusion: np.ndarray) -> float:
    """Mean intersection over union of the classes present (0 when none is)."""
    intersection = np.diag(confusion).astype(np.float64)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - intersection
    present = union > 0
    return float((intersection[present] / union[present]).mean()) if present.any() else 0.0
