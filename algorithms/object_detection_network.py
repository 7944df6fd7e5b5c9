"""The SSD networks of SageMaker's object detection: VGG-16 or ResNet-50 trunks, SSD heads.

SSD (Liu et al., "SSD: Single Shot MultiBox Detector", ECCV 2016) as MXNet's SSD example
builds it, the network SageMaker's algorithm trains (``base_network`` ``vgg-16`` or
``resnet-50``), in torch:

* ``vgg-16``: VGG-16's thirteen 3x3 convolutions (``conv1_1`` ... ``conv5_3``, max-pooling
  between blocks, ``pool5`` 3x3 with stride 1), ``fc6`` as a 3x3 convolution dilated 6 and
  ``fc7`` as a 1x1 convolution of 1024 channels; the features of ``conv4_3`` (stride 8) and
  ``fc7`` (stride 16), then four extra layers (1x1 then 3x3 with stride 2: 512, 256, 256, 256).
* ``resnet-50``: ResNet-50 v1 (``conv0`` 7x7 with stride 2, max-pooling, stages of 3, 4, 6 and 3
  bottleneck units, ``stage{s}_unit{u}``); the features of stages 3 (stride 16) and 4 (stride
  32), then four extra layers (512, 256, 256, 128).
* Each of the six feature maps has a 3x3 convolution for class scores (background and
  ``num_classes``) and one for box offsets, per anchor; anchors follow MXNet's SSD sizes
  (0.1 to 0.961 of the image) and ratios (1, 2, 1/2, and 3, 1/3 on the middle four maps).

Choices: every convolution of the trunk and the extra layers is followed by batch
normalisation. The networks train from scratch here (no ImageNet weights can be downloaded), and
SSD trained from scratch needs it (Zhu et al., "ScratchDet", CVPR 2019); for the same reason
``conv4_3`` has no L2 normalisation layer. Extra layers are 3x3 with stride 2 and padding 1, so a
map halves down to 1x1 and stays there, which lets any input of 32 pixels or more run.
``width_divisor`` divides every layer's channels (at least 4 each): 1 is the real network, larger
ones keep its structure at a fraction of its cost, for tests on a CPU.

Layer names follow MXNet's (``conv1_1``, ``fc7``, ``stage2_unit3``): ``freeze_layer_pattern``
is matched against them (:meth:`SSD.base_layers`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from algorithms.boxes import anchors
from algorithms.object_detection_model import BASE_NETWORKS

#: MXNet SSD's anchor sizes for six feature maps (fractions of the image side).
ANCHOR_SIZES = (
    (0.1, 0.141),
    (0.2, 0.272),
    (0.37, 0.447),
    (0.54, 0.619),
    (0.71, 0.79),
    (0.88, 0.961),
)
#: MXNet SSD's anchor aspect ratios for six feature maps.
ANCHOR_RATIOS = (
    (1.0, 2.0, 0.5),
    (1.0, 2.0, 0.5, 3.0, 1.0 / 3),
    (1.0, 2.0, 0.5, 3.0, 1.0 / 3),
    (1.0, 2.0, 0.5, 3.0, 1.0 / 3),
    (1.0, 2.0, 0.5),
    (1.0, 2.0, 0.5),
)
_VGG_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
_RESNET_STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))
_EXTRAS = {"vgg-16": (512, 256, 256, 256), "resnet-50": (512, 256, 256, 128)}


def _half(side: int) -> int:
    """The side after a stride-2 step (3x3 with padding 1, or 2x2 pooling rounding up)."""
    return (side + 1) // 2


def feature_sizes(base_network: str, image_size: int) -> list[int]:
    """The side of each of the six feature maps for a square input of ``image_size``."""
    side = image_size
    for _ in range(3 if base_network == "vgg-16" else 4):
        side = _half(side)
    sides = [side, _half(side)]
    for _ in range(4):
        sides.append(_half(sides[-1]))
    return sides


def anchor_boxes(base_network: str, image_size: int) -> torch.Tensor:
    """Every anchor of the network, in the order of its outputs: ``(A, 4)`` normalised."""
    maps = feature_sizes(base_network, image_size)
    parts = [
        anchors(side, side, sizes, ratios)
        for side, sizes, ratios in zip(maps, ANCHOR_SIZES, ANCHOR_RATIOS, strict=True)
    ]
    return torch.cat(parts)


def _conv(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, dilation: int = 1) -> Any:
    padding = dilation * (kernel // 2)
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def _vgg_trunk(scale: Any) -> tuple[Any, Any, int, int]:
    """(layers up to conv4_3, layers from pool4 to fc7, their channels)."""
    first, second = nn.ModuleDict(), nn.ModuleDict()
    c_in = 3
    for block, (width, count) in enumerate(_VGG_BLOCKS, start=1):
        target = first if block <= 4 else second
        if block > 1:
            target[f"pool{block - 1}"] = nn.MaxPool2d(2, 2, ceil_mode=True)
        for layer in range(1, count + 1):
            target[f"conv{block}_{layer}"] = _conv(c_in, scale(width))
            c_in = scale(width)
    features = c_in
    second["pool5"] = nn.MaxPool2d(3, 1, padding=1)
    second["fc6"] = _conv(c_in, scale(1024), 3, dilation=6)
    second["fc7"] = _conv(scale(1024), scale(1024), 1)
    return first, second, features, scale(1024)


class _Bottleneck(nn.Module):
    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        out = width * 4
        self.body = nn.Sequential(
            _conv(c_in, width, 1),
            _conv(width, width, 3, stride),
            nn.Conv2d(width, out, 1, bias=False),
            nn.BatchNorm2d(out),
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and c_in == out
            else nn.Sequential(nn.Conv2d(c_in, out, 1, stride, bias=False), nn.BatchNorm2d(out))
        )

    def forward(self, x: Any) -> Any:
        return (self.body(x) + self.shortcut(x)).relu()


def _resnet_trunk(scale: Any) -> tuple[Any, Any, int, int]:
    """(layers up to stage 3, stage 4, their channels): ResNet-50 v1 with MXNet's names."""
    first, second = nn.ModuleDict(), nn.ModuleDict()
    nn_stem = nn.Sequential(
        nn.Conv2d(3, scale(64), 7, 2, 3, bias=False), nn.BatchNorm2d(scale(64)), nn.ReLU(True)
    )
    first["conv0"] = nn_stem
    first["pool0"] = nn.MaxPool2d(3, 2, padding=1)
    c_in = scale(64)
    channels = []
    for stage, (width, count) in enumerate(_RESNET_STAGES, start=1):
        target = first if stage <= 3 else second
        for unit in range(1, count + 1):
            stride = 2 if stage > 1 and unit == 1 else 1
            target[f"stage{stage}_unit{unit}"] = _Bottleneck(c_in, scale(width), stride)
            c_in = scale(width) * 4
        channels.append(c_in)
    return first, second, channels[2], channels[3]


class SSD(nn.Module):
    """SSD on a VGG-16 or ResNet-50 trunk; ``forward`` gives class logits and box offsets.

    ``forward(x)`` on ``(B, 3, S, S)`` normalised images returns ``(B, A, num_classes + 1)``
    logits (class 0 is the background) and ``(B, A, 4)`` offsets, ``A`` anchors in the order of
    :func:`anchor_boxes`.
    """

    def __init__(self, base_network: str, num_classes: int, width_divisor: int = 1) -> None:
        super().__init__()

        def scale(width: int) -> int:
            return max(4, width // width_divisor)

        build = _vgg_trunk if base_network == "vgg-16" else _resnet_trunk
        self.stage_one, self.stage_two, c_one, c_two = build(scale)
        self.extras = nn.ModuleDict()
        channels = [c_one, c_two]
        c_in = c_two
        for index, width in enumerate(_EXTRAS[base_network], start=1):
            self.extras[f"multi_feat_{index}"] = nn.Sequential(
                _conv(c_in, scale(width) // 2, 1), _conv(scale(width) // 2, scale(width), 3, 2)
            )
            c_in = scale(width)
            channels.append(c_in)
        self.num_classes = num_classes
        per_cell = [len(s) + len(r) - 1 for s, r in zip(ANCHOR_SIZES, ANCHOR_RATIOS, strict=True)]
        self.class_heads = nn.ModuleList(
            nn.Conv2d(c, k * (num_classes + 1), 3, padding=1)
            for c, k in zip(channels, per_cell, strict=True)
        )
        self.box_heads = nn.ModuleList(
            nn.Conv2d(c, k * 4, 3, padding=1) for c, k in zip(channels, per_cell, strict=True)
        )
        self._initialise()

    def _initialise(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        for head in [*self.class_heads, *self.box_heads]:
            nn.init.normal_(head.weight, std=0.01)
            nn.init.zeros_(head.bias)
        # Start every anchor at a background probability of about 0.99 (Lin et al., focal loss
        # paper): early gradients then do not drown in the many easy background anchors.
        for head in self.class_heads:
            assert isinstance(head, nn.Conv2d) and head.bias is not None
            bias = head.bias.view(-1, self.num_classes + 1)
            bias.data[:, 0] = math.log(0.99 * self.num_classes / 0.01)

    def base_layers(self) -> dict[str, Any]:
        """The trunk's layers by MXNet name (what ``freeze_layer_pattern`` is matched against)."""
        return {**dict(self.stage_one.items()), **dict(self.stage_two.items())}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for layer in self.stage_one.values():
            x = layer(x)
        maps = [x]
        for layer in self.stage_two.values():
            x = layer(x)
        maps.append(x)
        for layer in self.extras.values():
            x = layer(x)
            maps.append(x)
        batch = x.shape[0]
        logits = [
            head(m).permute(0, 2, 3, 1).reshape(batch, -1, self.num_classes + 1)
            for head, m in zip(self.class_heads, maps, strict=True)
        ]
        offsets = [
            head(m).permute(0, 2, 3, 1).reshape(batch, -1, 4)
            for head, m in zip(self.box_heads, maps, strict=True)
        ]
        return torch.cat(logits, dim=1), torch.cat(offsets, dim=1)


def build_ssd(base_network: str, num_classes: int, width_divisor: int = 1) -> SSD:
    """The SSD for ``base_network`` (weights not seeded: seed torch around the call)."""
    if base_network not in BASE_NETWORKS:
        msg = f"base_network must be one of {', '.join(BASE_NETWORKS)}, got {base_network!r}"
        raise ValueError(msg)
    return SSD(base_network, num_classes, width_divisor)


def parameter_count(network: Any) -> int:
    """Trainable and frozen parameters of ``network``."""
    return sum(p.numel() for p in network.parameters())


__all__: Sequence[str] = (
    "ANCHOR_RATIOS",
    "ANCHOR_SIZES",
    "BASE_NETWORKS",
    "SSD",
    "anchor_boxes",
    "build_ssd",
    "feature_sizes",
    "parameter_count",
)
