"""Semantic segmentation's networks (FCN, PSPNet, DeepLabv3) and the saved model that predicts.

Every network is a dilated ResNet encoder (:func:`algorithms.resnet.build_backbone`, output
stride 8 as in GluonCV's segmentation models, on which SageMaker's algorithm is built) and one
head on its last feature map, whose class scores are scaled back to the input's size
(bilinearly):

* ``fcn`` (Long et al., "Fully convolutional networks for semantic segmentation", CVPR 2015;
  GluonCV's head): a 3x3 convolution to a quarter of the channels, batch norm, ReLU, dropout
  0.1 and a 1x1 convolution to the classes.
* ``psp`` (Zhao et al., "Pyramid scene parsing network", CVPR 2017): the pyramid pooling
  module, average pooling to 1x1, 2x2, 3x3 and 6x6 bins, each reduced by a 1x1 convolution to a
  quarter of the channels and scaled back up, concatenated with the features, then the FCN head.
* ``deeplab`` (Chen et al., "Rethinking atrous convolution for semantic image segmentation",
  2017): atrous spatial pyramid pooling, a 1x1 convolution, three 3x3 convolutions dilated by
  12, 24 and 36 (the paper's rates at output stride 8) and image-level pooling, 256 channels
  each, concatenated and projected to 256, then a 3x3 convolution and a 1x1 to the classes.

The small-input path: the paper's atrous rates are for 513-pixel crops, whose feature map at
stride 8 is 65 pixels wide. On smaller crops a rate beyond the feature map only multiplies
padding (the 3x3 filter degenerates to its centre tap), so the rates are scaled by
``crop_size / 513`` where that is below 1 (at least 1 each): 64-pixel crops get rates 1, 3
and 4. The pyramid's bins are the paper's at every size (adaptive pooling also works on
feature maps smaller than 6x6). No auxiliary head is trained.

The saved file (``semantic-segmentation-model.pt``) holds ``{"architecture": ...,
"state_dict": ...}``; :func:`load` rebuilds the network and returns a :class:`Segmenter`, whose
``predict`` takes images (files or arrays) of any size and returns one class mask per image at
that image's size, and whose ``predict_png`` writes a mask as an 8-bit PNG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from algorithms.base import InputError
from algorithms.images import read_image, write_png
from algorithms.resnet import build_backbone

if TYPE_CHECKING:
    import torch

#: The model's file name in the output folder.
MODEL_FILENAME = "semantic-segmentation-model.pt"
#: ImageNet's per-channel mean and standard deviation (of pixels over 255), as GluonCV
#: normalises: what pretrained backbone weights expect.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
#: Backbone hyperparameter value -> ResNet depth.
BACKBONE_LAYERS = {"resnet-50": 50, "resnet-101": 101}
#: DeepLabv3's atrous rates at output stride 8, for crops of this many pixels.
ASPP_RATES, ASPP_CROP = (12, 24, 36), 513
PSP_BINS = (1, 2, 3, 6)
OUTPUT_STRIDE = 8


@dataclass(frozen=True)
class Architecture:
    """What the saved weights belong to: enough to rebuild the network."""

    algorithm: str  # fcn, psp or deeplab
    backbone: str  # resnet-50 or resnet-101
    num_classes: int
    crop_size: int  # sets DeepLab's atrous rates (the small-input path)


def _torch() -> Any:
    import torch

    return torch


def aspp_rates(crop_size: int) -> tuple[int, ...]:
    """DeepLab's atrous rates for ``crop_size`` crops (the paper's, scaled down below 513)."""
    scale = min(1.0, crop_size / ASPP_CROP)
    return tuple(max(1, round(rate * scale)) for rate in ASPP_RATES)


def build_segmentation_network(architecture: Architecture) -> torch.nn.Module:
    """The encoder and head of ``architecture`` (weights not seeded)."""
    from torch import nn

    backbone: Any = build_backbone(
        BACKBONE_LAYERS[architecture.backbone], 3, output_stride=OUTPUT_STRIDE
    )
    channels = int(backbone.channels[-1])
    classes = architecture.num_classes
    head: nn.Module
    if architecture.algorithm == "fcn":
        head = _fcn_head(channels, classes)
    elif architecture.algorithm == "psp":
        head = nn.Sequential(_PyramidPooling(channels), _fcn_head(channels * 2, classes))
    else:
        head = _deeplab_head(channels, classes, aspp_rates(architecture.crop_size))
    network = _SegmentationNetwork(backbone, head)
    for module in head.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    return network


def _conv_bn_relu(
    c_in: int, c_out: int, kernel: int = 1, dilation: int = 1, *, pooled: bool = False
) -> Any:
    """Convolution, batch norm, ReLU; ``pooled`` for a branch that may see one value a channel."""
    from torch import nn

    padding = dilation * (kernel // 2)
    norm = _modules()[3](c_out) if pooled else nn.BatchNorm2d(c_out)
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=padding, dilation=dilation, bias=False),
        norm,
        nn.ReLU(inplace=True),
    )


def _fcn_head(channels: int, classes: int) -> Any:
    from torch import nn

    inner = channels // 4
    return nn.Sequential(
        _conv_bn_relu(channels, inner, 3), nn.Dropout(0.1), nn.Conv2d(inner, classes, 1)
    )


def _deeplab_head(channels: int, classes: int, rates: Sequence[int]) -> Any:
    from torch import nn

    return nn.Sequential(
        _AtrousPyramid(channels, 256, rates),
        _conv_bn_relu(256, 256, 3),
        nn.Dropout(0.1),
        nn.Conv2d(256, classes, 1),
    )


def _modules() -> Any:
    """The torch modules of this file's networks (defined once torch is imported)."""
    global _MODULES
    if _MODULES is None:
        _MODULES = _define_modules()
    return _MODULES


_MODULES: Any = None


def _define_modules() -> Any:
    import torch
    import torch.nn.functional as F  # noqa: N812 - torch's own convention
    from torch import nn

    class SegmentationNetwork(nn.Module):
        """Backbone features, the head's class scores, scaled back to the input size."""

        def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
            super().__init__()
            self.backbone = backbone
            self.head = head

        def forward(self, x: Any) -> Any:
            features = self.backbone(x)[-1]
            scores = self.head(features)
            return F.interpolate(scores, size=x.shape[-2:], mode="bilinear", align_corners=False)

    class PyramidPooling(nn.Module):
        """PSPNet's pyramid pooling module: pooled bins, reduced, scaled up, concatenated."""

        def __init__(self, channels: int) -> None:
            super().__init__()
            self.levels = nn.ModuleList(
                nn.Sequential(
                    nn.AdaptiveAvgPool2d(bins),
                    _conv_bn_relu(channels, channels // 4, pooled=bins == 1),
                )
                for bins in PSP_BINS
            )

        def forward(self, x: Any) -> Any:
            size = x.shape[-2:]
            pooled = [
                F.interpolate(level(x), size=size, mode="bilinear", align_corners=False)
                for level in self.levels
            ]
            return torch.cat([x, *pooled], dim=1)

    class AtrousPyramid(nn.Module):
        """DeepLabv3's ASPP: 1x1, three dilated 3x3 and image pooling, projected together."""

        def __init__(self, channels: int, out: int, rates: Sequence[int]) -> None:
            super().__init__()
            self.branches = nn.ModuleList(
                [_conv_bn_relu(channels, out)]
                + [_conv_bn_relu(channels, out, 3, rate) for rate in rates]
            )
            self.image_pool = nn.Sequential(
                nn.AdaptiveAvgPool2d(1), _conv_bn_relu(channels, out, pooled=True)
            )
            self.project = nn.Sequential(
                _conv_bn_relu(out * (len(rates) + 2), out), nn.Dropout(0.5)
            )

        def forward(self, x: Any) -> Any:
            pooled = F.interpolate(self.image_pool(x), size=x.shape[-2:], mode="nearest")
            return self.project(torch.cat([b(x) for b in self.branches] + [pooled], dim=1))

    class PooledBatchNorm(nn.BatchNorm2d):
        """Batch norm that uses its running statistics where a batch has one value a channel.

        A 1x1-pooled branch of a one-image mini-batch (``mini_batch_size=1``, which AMT's
        range includes) has nothing to normalise over; plain batch norm refuses it.
        """

        def forward(self, x: Any) -> Any:
            if self.training and x.shape[0] * x.shape[2] * x.shape[3] == 1:
                return F.batch_norm(
                    x,
                    self.running_mean,
                    self.running_var,
                    self.weight,
                    self.bias,
                    training=False,
                    eps=self.eps,
                )
            return super().forward(x)

    return SegmentationNetwork, PyramidPooling, AtrousPyramid, PooledBatchNorm


def _SegmentationNetwork(backbone: Any, head: Any) -> Any:  # noqa: N802 - builds the class
    return _modules()[0](backbone, head)


def _PyramidPooling(channels: int) -> Any:  # noqa: N802
    return _modules()[1](channels)


def _AtrousPyramid(channels: int, out: int, rates: Sequence[int]) -> Any:  # noqa: N802
    return _modules()[2](channels, out, rates)


def normalise(pixels: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` uint8 pixels as the network takes them (ImageNet's normalisation)."""
    torch = _torch()
    mean = torch.as_tensor(MEAN, device=pixels.device).view(1, -1, 1, 1)
    std = torch.as_tensor(STD, device=pixels.device).view(1, -1, 1, 1)
    return (pixels.float() / 255.0 - mean) / std


class Segmenter:
    """A trained network; ``predict`` gives a class mask per image, ``predict_png`` a PNG."""

    def __init__(self, architecture: Architecture, state: Mapping[str, Any], device: str) -> None:
        torch = _torch()
        self.architecture = architecture
        self.device = torch.device(device)
        self.network = build_segmentation_network(architecture).to(self.device)
        self.network.load_state_dict(state)
        self.network.eval()

    def predict(self, images: Any) -> list[np.ndarray]:
        """One ``(H, W)`` uint8 mask of class indices per image, at the image's own size.

        ``images`` is an image file, a sequence of files, one ``(H, W, 3)`` or ``(H, W)`` array
        (pixels 0..255), a sequence of such arrays, or an ``(N, H, W, 3)`` array.
        """
        return [self._scores(image).argmax(0).astype(np.uint8) for image in _as_images(images)]

    def predict_proba(self, images: Any) -> list[np.ndarray]:
        """Class probabilities ``(classes, H, W)`` of each image (softmax over classes)."""
        return [self._scores(image) for image in _as_images(images)]

    def predict_png(self, image: Path | str | np.ndarray, path: Path | str) -> np.ndarray:
        """Write the mask of ``image`` to ``path`` as an 8-bit grey PNG; returns the mask."""
        mask = self.predict([image])[0]
        write_png(path, mask)
        return mask

    def _scores(self, image: np.ndarray) -> np.ndarray:
        torch = _torch()
        pixels = torch.as_tensor(image.transpose(2, 0, 1)[None].copy(), device=self.device)
        with torch.no_grad():
            scores = self.network(normalise(pixels)).softmax(1)[0]
        return scores.float().cpu().numpy()


def _as_images(images: Any) -> list[np.ndarray]:
    one_array = isinstance(images, np.ndarray) and (
        images.ndim == 2 or (images.ndim == 3 and images.shape[-1] in (3, 4))
    )
    if isinstance(images, (str, Path)) or one_array:
        images = [images]  # one image; an (N, H, W) array is N grey images
    out = []
    for image in images:
        array = read_image(image) if isinstance(image, (str, Path)) else np.asarray(image)
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        if array.ndim == 2:
            array = np.repeat(array[:, :, None], 3, axis=2)
        if array.ndim != 3 or array.shape[2] not in (3, 4) or min(array.shape[:2]) < 1:
            msg = f"an image must be (H, W) or (H, W, 3), got shape {array.shape}"
            raise InputError(msg)
        out.append(np.clip(np.rint(array[:, :, :3]), 0, 255).astype(np.uint8))
    return out


def load(path: Path | str, *, device: str = "cpu") -> Segmenter:
    """The model that training saved in ``path`` (an output folder or the model file)."""
    torch = _torch()
    path = Path(path)
    file = path / MODEL_FILENAME if path.is_dir() else path
    if not file.is_file():
        msg = f"no semantic-segmentation model at {file}"
        raise FileNotFoundError(msg)
    saved = torch.load(file, map_location=device, weights_only=True)
    return Segmenter(Architecture(**saved["architecture"]), saved["state_dict"], device)


def save(file: Path, architecture: Architecture, state: Mapping[str, Any]) -> None:
    """Write the model file (weights moved to the CPU)."""
    torch = _torch()
    file.parent.mkdir(parents=True, exist_ok=True)
    cpu_state = {name: value.detach().cpu() for name, value in state.items()}
    torch.save({"architecture": asdict(architecture), "state_dict": cpu_state}, file)
