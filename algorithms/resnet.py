"""The ResNet that image classification trains: depth from ``num_layers``, stem from input size.

Its own module because the network is what both training (:mod:`algorithms.image_classification`)
and a saved model (:mod:`algorithms.image_model`) build, and it needs nothing of SageMaker's
hyperparameters, channels or training loop; torch is imported when a network is built, not with
the module. The networks are those of He et al., "Deep residual learning for image recognition",
CVPR 2016, and "Identity mappings in deep residual networks", ECCV 2016:

* ``num_layers`` 18 and 34 build ImageNet's basic-block ResNets, 50, 101, 152 and 200 its
  bottleneck ResNets (four stages of 64 to 512 channels). Any other ``6n + 2`` (SageMaker lists
  20, 32, 44, 56 and 110; smaller ones such as 8 and 14 are accepted here too) builds the CIFAR
  ResNet of the paper's section 4.2: three stages of 16, 32 and 64 channels, ``n`` basic blocks
  each. Inputs of at most 32 pixels get a 3x3 stem without max-pooling, larger ones ImageNet's
  7x7 stem with stride 2 and max-pooling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

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
_SMALL_INPUT = 32  # at most this many pixels a side: 3x3 stem, no max-pooling


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
