"""Data augmentation of image classification (``augmentation_type``), on a batch on the device.

Its own module because the random transforms of a batch need nothing of the training loop but
the batch and the run's seeded generator (so augmentation repeats with the seed), and the loop in
:mod:`algorithms.image_classification` calls only ``_augment``:

* ``augmentation_type`` works on the batch, on the device: ``crop`` pads by an eighth of the
  side, crops at random and flips horizontally; ``crop_color`` also shifts hue (±36 degrees),
  saturation and lightness (±50/255); ``crop_color_transform`` also rotates (±10 degrees),
  shears (±0.1) and changes the aspect ratio (±25%).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def _torch() -> Any:
    import torch

    return torch


def _augment(pixels: torch.Tensor, kind: str | None, generator: torch.Generator) -> torch.Tensor:
    """A randomly augmented copy of a ``(B, C, H, W)`` uint8 batch, as float pixels 0..255."""
    torch = _torch()
    x = pixels.float()
    if kind is None:
        return x
    batch, channels, height, width = x.shape
    device = x.device

    def uniform(low: float, high: float) -> Any:
        draw = torch.rand(batch, generator=generator, dtype=torch.float32)
        return (low + (high - low) * draw).to(device)

    # crop: pad by an eighth of each side, cut a random window, flip half the images.
    pad_y, pad_x = max(1, height // 8), max(1, width // 8)
    padded = torch.nn.functional.pad(x, (pad_x, pad_x, pad_y, pad_y), mode="replicate")
    top = torch.randint(0, 2 * pad_y + 1, (batch,), generator=generator).to(device)
    left = torch.randint(0, 2 * pad_x + 1, (batch,), generator=generator).to(device)
    rows = (top[:, None] + torch.arange(height, device=device))[:, None, :, None]
    cols = (left[:, None] + torch.arange(width, device=device))[:, None, None, :]
    images = torch.arange(batch, device=device)[:, None, None, None]
    x = padded[images, torch.arange(channels, device=device)[None, :, None, None], rows, cols]
    flip = (torch.rand(batch, generator=generator) < 0.5).to(device)
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if kind in ("crop_color", "crop_color_transform"):
        x = _shift_colour(x, uniform(-36, 36), uniform(-50, 50), uniform(-50, 50))
    if kind == "crop_color_transform":
        angle = uniform(-10, 10) * math.pi / 180
        shear = uniform(-0.1, 0.1)
        aspect = torch.sqrt(1 + uniform(-0.25, 0.25))
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.zeros(batch, 2, 3, device=device)
        theta[:, 0, 0] = cos * aspect
        theta[:, 0, 1] = -sin + shear
        theta[:, 1, 0] = sin
        theta[:, 1, 1] = cos / aspect
        grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
        x = torch.nn.functional.grid_sample(
            x, grid, mode="bilinear", padding_mode="border", align_corners=False
        )
    return x.clamp(0, 255)


def _shift_colour(x: Any, hue_degrees: Any, saturation: Any, lightness: Any) -> Any:
    """Shift hue (degrees), saturation and lightness (on 0..255) of each image of a batch.

    Hue turns the chroma plane of YIQ space; saturation scales the distance from grey by
    ``1 + saturation / 255``; lightness is added to every channel. Grey images only change in
    lightness.
    """
    torch = _torch()
    x = x + lightness[:, None, None, None]
    if x.shape[1] != 3:
        return x
    rgb_to_yiq = torch.tensor(
        [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
        device=x.device,
    )
    yiq = torch.einsum("ij,bjhw->bihw", rgb_to_yiq, x)
    angle = hue_degrees * math.pi / 180
    cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    scale = (1 + saturation / 255)[:, None, None]
    i, q = yiq[:, 1], yiq[:, 2]
    turned = torch.stack((yiq[:, 0], scale * (cos * i - sin * q), scale * (sin * i + cos * q)), 1)
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(rgb_to_yiq), turned)
