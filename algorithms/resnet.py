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
* :func:`build_backbone` gives the same ImageNet ResNets' stages without the classifier, each
  stage's output returned, optionally dilated (output stride 8 or 16) for dense prediction:
  semantic segmentation's encoder. Both share the residual blocks; ``build_network``'s networks,
  their parameter names and their seeded weights are as they were before it existed.
"""

from __future__ import annotations

import functools
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
    basic, bottleneck = _block_types()
    conv3 = _conv3

    blocks: tuple[int, ...]
    widths: tuple[int, ...]
    if num_layers in IMAGENET_LAYERS:
        kind, blocks = IMAGENET_LAYERS[num_layers]
        block: type[nn.Module] = basic if kind == "basic" else bottleneck
        widths, stem_width = (64, 128, 256, 512), 64
    else:
        block, widths, stem_width = basic, (16, 32, 64), 16
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
    _init_convolutions(network)
    return network


def build_backbone(
    num_layers: int,
    in_channels: int = 3,
    *,
    output_stride: int = 32,
    small_stem: bool = False,
) -> torch.nn.Module:
    """The convolutional stages of an ImageNet ResNet, as a feature extractor (not seeded).

    For dense prediction (:mod:`algorithms.semantic_segmentation`): the network of
    :func:`build_network` for ``num_layers`` in :data:`IMAGENET_LAYERS`, without its pooling and
    classifier. Its ``forward`` returns the output of each of the four stages (strides 4, 8, 16
    and 32 of the input with the ImageNet stem). ``output_stride`` 16 or 8 keeps the last one or
    two stages at the resolution reached so far and dilates their 3x3 convolutions instead
    (by 2, then 4), as DeepLab and PSPNet do, so the last feature map keeps more detail while
    each filter still sees as far. ``small_stem`` swaps the 7x7 stride-2 stem and max-pooling
    for :func:`build_network`'s 3x3 stem of small inputs: the stages then run at strides 1, 2, 4
    and 8 (at most ``output_stride``).
    The module's ``channels`` gives each stage's output channels, ``output_stride`` the last
    stage's stride. Each residual block's last batch-norm scale starts at zero, so that every
    block starts as the identity (Goyal et al., "Accurate, large minibatch SGD", 2017): trained
    from scratch on a few images, a 50- or 101-layer encoder then learns within tens of steps
    where the plain initialisation (kept by :func:`build_network`) needs many more.
    """
    from torch import nn

    if num_layers not in IMAGENET_LAYERS:
        msg = f"build_backbone needs an ImageNet ResNet depth ({sorted(IMAGENET_LAYERS)})"
        raise ValueError(msg)
    if output_stride not in (8, 16, 32):
        msg = f"output_stride must be 8, 16 or 32, got {output_stride}"
        raise ValueError(msg)
    kind, blocks = IMAGENET_LAYERS[num_layers]
    basic, bottleneck = _block_types()
    block = basic if kind == "basic" else bottleneck
    if small_stem:
        stem: list[nn.Module] = [_conv3(in_channels, 64)]
    else:
        stem = [nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)]
    stem += [nn.BatchNorm2d(64), nn.ReLU(inplace=True)]
    if not small_stem:
        stem.append(nn.MaxPool2d(3, stride=2, padding=1))
    stride_so_far = 1 if small_stem else 4
    stages: list[Any] = []  # nn.Sequential of residual blocks
    out_channels: list[int] = []
    c_in, dilation = 64, 1
    for stage, (width, count) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
        stride = 2 if stage > 0 else 1
        if stride == 2 and stride_so_far * 2 > output_stride:
            stride, dilation = 1, dilation * 2  # dilate instead of striding
        stride_so_far *= stride
        layers = []
        for i in range(count):
            layers.append(block(c_in, width, stride if i == 0 else 1, dilation))
            c_in = width * block.expansion
        stages.append(nn.Sequential(*layers))
        out_channels.append(c_in)
    network = _Features(nn.Sequential(*stem), nn.ModuleList(stages))
    network.channels = tuple(out_channels)
    network.output_stride = stride_so_far
    _init_convolutions(network)
    for stage_module in stages:
        for residual in stage_module:  # each block starts as the identity (see the docstring)
            nn.init.zeros_(residual.body[-1].weight)
    return network


def _init_convolutions(network: Any) -> None:
    from torch import nn

    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")


def _conv3(c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> Any:
    from torch import nn

    return nn.Conv2d(
        c_in, c_out, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
    )


@functools.cache
def _block_types() -> tuple[Any, Any]:
    """The residual blocks (classes made on first use, so that torch loads only then)."""
    from torch import nn

    class Basic(nn.Module):
        expansion = 1

        def __init__(self, c_in: int, width: int, stride: int, dilation: int = 1) -> None:
            super().__init__()
            self.body = nn.Sequential(
                _conv3(c_in, width, stride, dilation),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                _conv3(width, width, 1, dilation),
                nn.BatchNorm2d(width),
            )
            self.shortcut = _shortcut(c_in, width, stride)

        def forward(self, x: Any) -> Any:
            return (self.body(x) + self.shortcut(x)).relu()

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, c_in: int, width: int, stride: int, dilation: int = 1) -> None:
            super().__init__()
            out = width * 4
            self.body = nn.Sequential(
                nn.Conv2d(c_in, width, 1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                _conv3(width, width, stride, dilation),
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

    return Basic, Bottleneck


@functools.cache
def _features_type() -> Any:
    from torch import nn

    class Features(nn.Module):
        """A stem and stages; ``forward`` returns every stage's output."""

        channels: tuple[int, ...] = ()
        output_stride: int = 32

        def __init__(self, stem: nn.Module, stages: nn.ModuleList) -> None:
            super().__init__()
            self.stem = stem
            self.stages = stages

        def forward(self, x: Any) -> list[Any]:
            outputs = []
            x = self.stem(x)
            for stage in self.stages:
                x = stage(x)
                outputs.append(x)
            return outputs

    return Features


def _Features(stem: Any, stages: Any) -> Any:  # noqa: N802 - stands for the class
    return _features_type()(stem, stages)
