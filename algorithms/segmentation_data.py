"""Semantic segmentation's input: images, their PNG label masks, the label map and the crops.

SageMaker's semantic-segmentation algorithm reads four channels in its "image format": ``train``
and ``validation`` hold the images (JPEG; any image Pillow decodes is taken here), and
``train_annotation`` and ``validation_annotation`` hold one PNG mask per image under the same
name with a ``.png`` extension (``train/0001.jpg`` and ``train_annotation/0001.png``). A mask is a
single-channel image (8-bit grey or palette; 16-bit grey too) whose pixel values are class
indices; 255 marks pixels to ignore, in the loss and in the metrics, as SageMaker documents.
Subfolders are allowed: an image's mask is found at the same relative path.

An optional ``label_map`` channel holds a JSON file that rewrites the mask values before they
are checked against ``num_classes``. SageMaker documents ``{"scale": N}`` (masks saved with
classes N apart, for visibility, as 0, N, 2N ...); this module reads it as integer division of
every value but 255 by N. A mapping of old values to new ones is also read, as
``{"map": {"0": 0, "128": 1, ...}}`` or as the bare ``{"0": 0, "128": 1, ...}``: values it does
not name are left as they are, and 255 stays the ignore label unless the map names it. A file
named ``<channel>_label_map.json`` (``train_label_map.json``, ``validation_label_map.json``)
applies to that channel only; otherwise the channel's one JSON file applies to both.

Crops follow GluonCV's segmentation datasets, on which SageMaker's algorithm is built:
training takes a random horizontal flip, scales the image so that its long side is ``base_size``
times a random factor in [0.5, 2], pads it to ``crop_size`` where shorter (the mask with 255,
so padding is ignored) and cuts a random ``crop_size`` square. Validation scales the short side
to ``crop_size`` and cuts the centre square. Images are scaled bilinearly, masks by nearest
neighbour so that no new class values appear.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from algorithms.base import InputError
from algorithms.images import read_image

#: The mask value of pixels that are not labelled: left out of the loss and the metrics.
IGNORE_LABEL = 255
#: The image files a ``train``/``validation`` channel may hold.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
#: Pillow modes of a single-channel mask: grey, palette (indices), 1-bit, 16- and 32-bit grey.
_MASK_MODES = frozenset({"L", "P", "1", "I", "I;16", "I;16B", "I;16L", "I;16N"})


@dataclass(frozen=True)
class LabelMap:
    """How a channel's mask values become class indices: a ``scale`` or a ``mapping``."""

    scale: int | None = None
    mapping: Mapping[int, int] | None = None

    def apply(self, mask: np.ndarray) -> np.ndarray:
        """The mask with the map applied (a wider integer array; 255 kept unless mapped)."""
        values = mask.astype(np.int64)
        if self.scale is not None:
            keep = values == IGNORE_LABEL
            values = np.where(keep, IGNORE_LABEL, values // self.scale)
        if self.mapping:
            lookup = dict(self.mapping)
            unique = np.unique(values)
            out = values.copy()
            for value in unique:
                if int(value) in lookup:
                    out[values == value] = lookup[int(value)]
            values = out
        return values


@dataclass(frozen=True)
class SegmentationSplit:
    """The images of one channel (``(H, W, 3)`` uint8) and their masks (``(H, W)`` uint8)."""

    images: tuple[np.ndarray, ...]
    masks: tuple[np.ndarray, ...]
    files: tuple[Path, ...]

    def __len__(self) -> int:
        return len(self.images)


# -- label map -----------------------------------------------------------------------------------


def read_label_map(channel: Path | None, name: str) -> LabelMap | None:
    """The label map of channel ``name`` (``train``, ``validation``) from ``label_map``; or None.

    Raises InputError naming the file when it is not JSON of a form this module reads.
    """
    if channel is None:
        return None
    files = [channel] if channel.is_file() else sorted(channel.rglob("*.json"))
    files = [f for f in files if not f.name.startswith(".")]
    if not files:
        msg = f"label_map channel: no .json file in {channel}"
        raise InputError(msg)
    own = [f for f in files if f.name == f"{name}_label_map.json"]
    shared = [f for f in files if not f.name.endswith("_label_map.json")] or files
    if own:
        file = own[0]
    elif len(shared) == 1:
        file = shared[0]
    elif any(f.name.endswith("_label_map.json") for f in files):
        return None  # only other channels' maps
    else:
        msg = (
            f"label_map channel: {len(shared)} JSON files ({', '.join(f.name for f in shared)}); "
            f"give one, or name them <channel>_label_map.json"
        )
        raise InputError(msg)
    return _parse_label_map(file)


def _parse_label_map(file: Path) -> LabelMap:
    try:
        content = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"label_map channel: {file.name} is not JSON ({exc})"
        raise InputError(msg) from None
    bad = InputError(
        f'label_map channel: {file.name} must be {{"scale": N}} with N a positive integer, '
        'or a map of mask values to classes such as {"map": {"0": 0, "128": 1}}'
    )
    if not isinstance(content, dict) or not content:
        raise bad
    if set(content) == {"scale"}:
        scale = _integer(content["scale"])
        if scale is None or scale < 1:
            raise bad
        return LabelMap(scale=scale)
    raw = content["map"] if set(content) == {"map"} else content
    if not isinstance(raw, dict) or not raw:
        raise bad
    mapping: dict[int, int] = {}
    for key, value in raw.items():
        source, target = _integer(key), _integer(value)
        if source is None or target is None or source < 0 or not 0 <= target <= IGNORE_LABEL:
            raise bad
        mapping[source] = target
    return LabelMap(mapping=mapping)


def _integer(value: Any) -> int | None:
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


# -- reading a channel pair ----------------------------------------------------------------------


def image_files(channel: Path, name: str) -> list[Path]:
    """The image files of channel ``name`` in a fixed (sorted) order; InputError if none."""
    if channel.is_file():
        return [channel]
    if not channel.is_dir():
        msg = f"{name} channel: {channel} does not exist"
        raise InputError(msg)
    files = sorted(
        p
        for p in channel.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(channel).parts)
    )
    if not files:
        msg = f"{name} channel: no images (.jpg, .jpeg or .png files) in {channel}"
        raise InputError(msg)
    return files


def read_mask(path: Path, channel: str) -> np.ndarray:
    """The class values of a PNG mask, ``(H, W)`` int64; InputError naming the file if not one."""
    from algorithms.images import _pil

    if not path.is_file():
        msg = f"{channel} channel: mask {path} does not exist"
        raise InputError(msg)
    try:
        with _pil().open(path) as image:
            mode = image.mode
            if mode not in _MASK_MODES:
                msg = (
                    f"{channel} channel: mask {path.name} is a {mode} image; a mask must be a "
                    "single-channel PNG (grey or palette) of class indices"
                )
                raise InputError(msg)
            return np.asarray(image).astype(np.int64)
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's errors for bad files
        msg = f"{channel} channel: {path.name} cannot be read as a PNG mask ({exc})"
        raise InputError(msg) from None


def load_split(
    images_channel: Path,
    masks_channel: Path,
    name: str,
    num_classes: int,
    label_map: LabelMap | None,
) -> SegmentationSplit:
    """Channel ``name``'s images and masks (``<name>_annotation``), checked and label-mapped.

    Raises InputError naming the channel and file for an image without a mask, a mask of
    another size, or a mask value that is neither a class of ``num_classes`` nor 255.
    """
    annotation = f"{name}_annotation"
    if not masks_channel.is_dir():
        msg = f"{annotation} channel: {masks_channel} is not a folder of PNG masks"
        raise InputError(msg)
    root = images_channel if images_channel.is_dir() else images_channel.parent
    images, masks, files = [], [], []
    for file in image_files(images_channel, name):
        mask_file = masks_channel / file.relative_to(root).with_suffix(".png")
        if not mask_file.is_file():
            msg = (
                f"{annotation} channel: no mask {mask_file.relative_to(masks_channel)} for "
                f"the {name} image {file.relative_to(root)}"
            )
            raise InputError(msg)
        image = _rgb(read_image(file))
        mask = read_mask(mask_file, annotation)
        if mask.shape != image.shape[:2]:
            msg = (
                f"{annotation} channel: mask {mask_file.name} is {mask.shape[1]}x{mask.shape[0]}"
                f" but its image {file.name} is {image.shape[1]}x{image.shape[0]}"
            )
            raise InputError(msg)
        images.append(image)
        masks.append(_checked(mask, label_map, num_classes, annotation, mask_file))
        files.append(file)
    return SegmentationSplit(tuple(images), tuple(masks), tuple(files))


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image


def _checked(
    mask: np.ndarray, label_map: LabelMap | None, num_classes: int, channel: str, file: Path
) -> np.ndarray:
    values = label_map.apply(mask) if label_map is not None else mask
    bad = (values != IGNORE_LABEL) & ((values < 0) | (values >= num_classes))
    if bad.any():
        value = int(values[bad][0])
        msg = (
            f"{channel} channel: mask {file.name} has the value {value}, not a class of "
            f"num_classes={num_classes} (0..{num_classes - 1}) nor {IGNORE_LABEL} (ignored)"
            + ("; is a label_map needed?" if label_map is None else " after the label map")
        )
        raise InputError(msg)
    return values.astype(np.uint8)


# -- crops ---------------------------------------------------------------------------------------


def round_crop_size(crop_size: int) -> int:
    """``crop_size`` rounded up to a multiple of 8, as SageMaker documents."""
    return -(-crop_size // 8) * 8


def _resize(array: np.ndarray, width: int, height: int, *, nearest: bool) -> np.ndarray:
    from algorithms.images import _pil

    pil = _pil()
    resample = pil.Resampling.NEAREST if nearest else pil.Resampling.BILINEAR
    return np.asarray(pil.fromarray(array).resize((width, height), resample))


def training_crop(
    image: np.ndarray, mask: np.ndarray, base_size: int, crop_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A random training crop (flip, rescale about ``base_size``, pad, crop); see the module."""
    if rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    height, width = mask.shape
    long_side = int(rng.integers(int(base_size * 0.5), int(base_size * 2.0) + 1))
    if height > width:
        new_h, new_w = long_side, max(1, round(width * long_side / height))
    else:
        new_w, new_h = long_side, max(1, round(height * long_side / width))
    image = _resize(np.ascontiguousarray(image), new_w, new_h, nearest=False)
    mask = _resize(np.ascontiguousarray(mask), new_w, new_h, nearest=True)
    pad_h, pad_w = max(crop_size - new_h, 0), max(crop_size - new_w, 0)
    if pad_h or pad_w:
        image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)))
        mask = np.pad(mask, ((0, pad_h), (0, pad_w)), constant_values=IGNORE_LABEL)
    top = int(rng.integers(0, mask.shape[0] - crop_size + 1))
    left = int(rng.integers(0, mask.shape[1] - crop_size + 1))
    window = (slice(top, top + crop_size), slice(left, left + crop_size))
    return image[window], mask[window]


def validation_crop(
    image: np.ndarray, mask: np.ndarray, crop_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The validation crop: the short side scaled to ``crop_size``, the centre square cut."""
    height, width = mask.shape
    if width > height:
        new_h, new_w = crop_size, max(crop_size, round(width * crop_size / height))
    else:
        new_w, new_h = crop_size, max(crop_size, round(height * crop_size / width))
    image = _resize(image, new_w, new_h, nearest=False)
    mask = _resize(mask, new_w, new_h, nearest=True)
    top, left = (new_h - crop_size) // 2, (new_w - crop_size) // 2
    window = (slice(top, top + crop_size), slice(left, left + crop_size))
    return image[window], mask[window]
