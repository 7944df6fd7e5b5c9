"""Box operations of SSD on torch: IoU, anchors, encoding, matching, hard negatives and NMS.

Written on torch (torchvision's wheels do not load here) after MXNet's contrib operators that
SageMaker's object detection uses (``MultiBoxPrior``, ``MultiBoxTarget``, ``MultiBoxDetection``).
Boxes are corner form ``(xmin, ymin, xmax, ymax)``, normalised to the image (0..1), as in
SageMaker's RecordIO labels and its endpoint's answers.

* Anchors (:func:`anchors`): for every cell of a ``rows x cols`` feature map, centred on the
  cell, one anchor per size at the first aspect ratio, then one per further ratio at the first
  size (``len(sizes) + len(ratios) - 1`` per cell, MultiBoxPrior's order); a ratio ``r`` gives
  width ``size * sqrt(r)`` and height ``size / sqrt(r)``. Anchors are not clipped.
* Offsets (:func:`encode` / :func:`decode`): centre shifts over the anchor's size and log size
  ratios, each divided by its variance (0.1, 0.1, 0.2, 0.2, as MultiBoxTarget's defaults).
* Matching (:func:`match_anchors`): every ground-truth box first takes the anchor it overlaps
  most (greedily by the largest IoU left, so two boxes never take the same anchor), then every
  other anchor takes the box it overlaps most when that IoU is above ``overlap_threshold``.
* Hard negatives (:func:`hard_negatives`): among unmatched anchors whose best IoU is below
  ``negative_threshold`` (0.5), the ``ratio`` (3) times as many as there are positives with the
  highest background loss.
* NMS (:func:`nms`, :func:`batched_nms`): greedy, by score; a box is dropped when its IoU with a
  kept box of the same class is above ``threshold`` (MultiBoxDetection without
  ``force_suppress``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: MultiBoxTarget's and MultiBoxDetection's default variances of (cx, cy, w, h) offsets.
VARIANCES = (0.1, 0.1, 0.2, 0.2)


def _torch() -> Any:
    import torch

    return torch


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Areas of ``(N, 4)`` corner-form boxes (0 for empty or inverted ones)."""
    widths = (boxes[..., 2] - boxes[..., 0]).clamp(min=0)
    heights = (boxes[..., 3] - boxes[..., 1]).clamp(min=0)
    return widths * heights


def box_iou(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """The ``(N, M)`` intersections over union of ``(N, 4)`` and ``(M, 4)`` boxes (0 if empty)."""
    torch = _torch()
    top_left = torch.maximum(first[:, None, :2], second[None, :, :2])
    bottom_right = torch.minimum(first[:, None, 2:], second[None, :, 2:])
    overlap = (bottom_right - top_left).clamp(min=0).prod(dim=2)
    union = box_area(first)[:, None] + box_area(second)[None, :] - overlap
    return torch.where(union > 0, overlap / union.clamp(min=1e-12), torch.zeros_like(overlap))


def anchors(rows: int, cols: int, sizes: Sequence[float], ratios: Sequence[float]) -> torch.Tensor:
    """The ``(rows * cols * k, 4)`` anchors of a feature map, cells row by row (MultiBoxPrior)."""
    torch = _torch()
    shapes = [(size * math.sqrt(ratios[0]), size / math.sqrt(ratios[0])) for size in sizes]
    shapes += [(sizes[0] * math.sqrt(r), sizes[0] / math.sqrt(r)) for r in ratios[1:]]
    half = torch.tensor(shapes, dtype=torch.float32) / 2  # (k, 2): half width, half height
    cy = (torch.arange(rows, dtype=torch.float32) + 0.5) / rows
    cx = (torch.arange(cols, dtype=torch.float32) + 0.5) / cols
    centres = torch.stack(torch.meshgrid(cx, cy, indexing="xy"), dim=-1).reshape(-1, 1, 2)
    corners = torch.cat([centres - half, centres + half], dim=-1)  # (cells, k, 4)
    return corners.reshape(-1, 4)


def _centre_size(boxes: torch.Tensor) -> torch.Tensor:
    torch = _torch()
    size = boxes[..., 2:] - boxes[..., :2]
    return torch.cat([boxes[..., :2] + size / 2, size], dim=-1)


def encode(
    boxes: torch.Tensor, anchor_boxes: torch.Tensor, variances: Sequence[float] = VARIANCES
) -> torch.Tensor:
    """The offsets of ``boxes`` from their ``anchor_boxes`` (both ``(N, 4)``), for training."""
    torch = _torch()
    box, anchor = _centre_size(boxes), _centre_size(anchor_boxes)
    scale = torch.as_tensor(variances, dtype=boxes.dtype, device=boxes.device)
    centre = (box[..., :2] - anchor[..., :2]) / anchor[..., 2:]
    size = torch.log(box[..., 2:].clamp(min=1e-6) / anchor[..., 2:])
    return torch.cat([centre, size], dim=-1) / scale


def decode(
    offsets: torch.Tensor, anchor_boxes: torch.Tensor, variances: Sequence[float] = VARIANCES
) -> torch.Tensor:
    """The corner-form boxes that ``offsets`` (``(..., N, 4)``) describe (:func:`encode`'s
    inverse)."""
    torch = _torch()
    anchor = _centre_size(anchor_boxes)
    scale = torch.as_tensor(variances, dtype=offsets.dtype, device=offsets.device)
    scaled = offsets * scale
    centre = anchor[..., :2] + scaled[..., :2] * anchor[..., 2:]
    size = anchor[..., 2:] * torch.exp(scaled[..., 2:].clamp(max=math.log(1000.0)))
    return torch.cat([centre - size / 2, centre + size / 2], dim=-1)


def match_anchors(
    truth: torch.Tensor, anchor_boxes: torch.Tensor, overlap_threshold: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Which ground-truth box each anchor is matched to (-1: none), and each anchor's best IoU.

    ``truth`` is ``(G, 4)``; returns ``((A,) int64, (A,) float)``. Each box first takes its own
    best anchor (greedy by largest IoU, one anchor per box), then any anchor whose best IoU is
    above ``overlap_threshold`` takes that box.
    """
    torch = _torch()
    count = anchor_boxes.shape[0]
    matched = torch.full((count,), -1, dtype=torch.int64, device=anchor_boxes.device)
    if truth.shape[0] == 0:
        return matched, torch.zeros(count, device=anchor_boxes.device)
    overlaps = box_iou(truth, anchor_boxes)  # (G, A)
    best_iou, best_box = overlaps.max(dim=0)
    above = best_iou > overlap_threshold
    matched[above] = best_box[above]
    remaining = overlaps.clone()
    for _ in range(truth.shape[0]):
        flat = int(remaining.argmax())
        box, anchor = divmod(flat, count)
        if remaining[box, anchor] <= 0:
            break  # the boxes left overlap no anchor at all
        matched[anchor] = box
        remaining[box, :] = -1
        remaining[:, anchor] = -1
    return matched, best_iou


def hard_negatives(
    background_loss: torch.Tensor,
    positive: torch.Tensor,
    best_iou: torch.Tensor,
    ratio: float = 3.0,
    negative_threshold: float = 0.5,
) -> torch.Tensor:
    """A boolean mask of the anchors (``(A,)``) taken as negatives for one image.

    Eligible: not positive and best IoU below ``negative_threshold``. Taken: the
    ``ratio * max(positives, 1)`` eligible anchors of highest ``background_loss``.
    """
    torch = _torch()
    eligible = ~positive & (best_iou < negative_threshold)
    wanted = min(int(ratio * max(int(positive.sum()), 1)), int(eligible.sum()))
    chosen = torch.zeros_like(positive)
    if wanted == 0:
        return chosen
    losses = torch.where(eligible, background_loss, torch.full_like(background_loss, -math.inf))
    chosen[losses.topk(wanted).indices] = True
    return chosen


def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Indices of the boxes greedy NMS keeps, best score first (stable among equal scores)."""
    torch = _torch()
    order = torch.sort(scores, descending=True, stable=True).indices
    if order.numel() == 0:
        return order
    overlaps = box_iou(boxes[order], boxes[order])
    suppressed = torch.zeros(order.numel(), dtype=torch.bool, device=boxes.device)
    keep = []
    for position in range(order.numel()):
        if bool(suppressed[position]):
            continue
        keep.append(position)
        suppressed |= overlaps[position] > threshold
    return order[torch.as_tensor(keep, dtype=torch.int64, device=boxes.device)]


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, threshold: float
) -> torch.Tensor:
    """:func:`nms` within each class: boxes of different classes never suppress each other."""
    torch = _torch()
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    # Shift each class's boxes apart so that boxes of two classes never overlap.
    span = float((boxes.max() - boxes.min()).item()) + 1.0
    shifted = boxes + (classes.to(boxes.dtype) * span)[:, None]
    return nms(shifted, scores, threshold)
