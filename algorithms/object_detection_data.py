"""Object detection input: images with JSON annotations, and MXNet detection RecordIO.

SageMaker's object detection takes two input formats (its "Input/Output Interface" page):

**Image format** (``application/x-image``, ``image/jpeg``, ``image/png``): the images in the
``train`` and ``validation`` channels, and one JSON file per image in ``train_annotation`` and
``validation_annotation``::

    {"file": "x.jpg", "image_size": [{"width": 500, "height": 400, "depth": 3}],
     "annotations": [{"class_id": 0, "left": 111, "top": 134, "width": 61, "height": 128}],
     "categories": [{"class_id": 0, "name": "dog"}]}

``file`` is the image's path relative to its image channel (a bare name is also looked up
anywhere under the channel); boxes are in pixels. Choices where SageMaker's page is silent: the
boxes are normalised by the decoded image's own size, and an ``image_size`` that disagrees with
it is an error (the annotation belongs to another version of the image); a box reaching outside
the image is clipped to it, one wholly outside or of no area is an error; an image with an empty
``annotations`` list trains as background only; images with no annotation file are not used.

**RecordIO** (``application/x-recordio``): MXNet ``.rec`` files in ``train`` and ``validation``
(read by :func:`algorithms.image_recordio.iter_rec`), each record's label
``[header_width, object_width, (more header), class, xmin, ymin, xmax, ymax, (more), ...]``
with coordinates normalised to 0..1; objects of class -1 are padding and skipped. An MXNet
``.lst`` file is not read: SageMaker's object detection takes none (MXNet's ``im2rec`` turns
one into the ``.rec`` file it takes).

Every label must fit ``label_width`` numbers (SageMaker pads labels to it: the 2 header values
and 5 per object in the image format), or the image is refused naming ``label_width``. Images
are scaled to ``image_shape x image_shape`` (bilinear, aspect ratio not kept: the normalised
boxes stay right) and converted to RGB. Every error is an :class:`InputError` naming the
channel and the file (and the record or annotation).

:func:`write_shapes` writes the generated data the tests and benchmarks train on: coloured
shapes of known classes and boxes on a noisy background, in either format.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from algorithms.base import InputError
from algorithms.image_recordio import IRHeader, encode_image, iter_rec, rec_files, write_rec
from algorithms.images import IMAGE_EXTENSIONS, _pil, read_image, write_png

#: Numbers per object in the image format's label: class and the four corners.
OBJECT_WIDTH = 5
#: Header numbers of a label: its own width and the object width.
HEADER_WIDTH = 2


@dataclass(frozen=True)
class DetectionSet:
    """A channel's images, fitted to the input, with their boxes."""

    pixels: np.ndarray  # (N, 3, S, S) uint8
    #: Per image, ``(M, 5)`` float32 rows ``[class, xmin, ymin, xmax, ymax]``, normalised.
    boxes: tuple[np.ndarray, ...]
    sources: tuple[str, ...]  # each image's file (and record), for messages

    def __len__(self) -> int:
        return len(self.boxes)


def fit_square(image: np.ndarray, size: int) -> np.ndarray:
    """An ``(H, W)`` or ``(H, W, 3)`` uint8 image as ``(3, size, size)``: scaled, RGB."""
    picture = _pil().fromarray(np.ascontiguousarray(image)).convert("RGB")
    if picture.size != (size, size):
        picture = picture.resize((size, size), _pil().Resampling.BILINEAR)
    return np.asarray(picture, dtype=np.uint8).transpose(2, 0, 1).copy()


def load_split(
    channels: Mapping[str, Path], name: str, size: int, num_classes: int, label_width: int
) -> DetectionSet:
    """The ``name`` channel (``train`` or ``validation``) in whichever format it comes.

    RecordIO when the channel holds ``.rec`` files and no ``<name>_annotation`` channel is
    given; the image format otherwise, which needs the annotation channel.
    """
    annotation = channels.get(f"{name}_annotation")
    recs = rec_files(channels[name]) if annotation is None else []
    if recs:
        return _load_recordio(recs, name, size, num_classes, label_width)
    if annotation is None:
        msg = (
            f"the {name} channel holds no RecordIO (.rec) files, and its images need JSON "
            f"annotations in a '{name}_annotation' channel"
        )
        raise InputError(msg)
    return _load_annotated(
        Path(channels[name]), Path(annotation), name, size, num_classes, label_width
    )


# -- the image format ----------------------------------------------------------------------------


def _load_annotated(
    images: Path, annotations: Path, name: str, size: int, num_classes: int, label_width: int
) -> DetectionSet:
    files = (
        [annotations]
        if annotations.is_file()
        else sorted(p for p in annotations.rglob("*.json") if not p.name.startswith("."))
    )
    if not files:
        msg = f"the {name}_annotation channel ({annotations}) holds no .json annotation files"
        raise InputError(msg)
    lookup = _image_lookup(images)
    pixels, boxes, sources = [], [], []
    for file in files:
        record = _read_json(file, name)
        image_file = _image_file(record, images, lookup, file, name)
        image = read_image(image_file)
        found = _annotation_boxes(record, image.shape[:2], file, name, num_classes)
        _check_label_width(len(found), label_width, f"{name}_annotation channel: {file}")
        pixels.append(fit_square(image, size))
        boxes.append(found)
        sources.append(str(image_file))
    return DetectionSet(np.stack(pixels), tuple(boxes), tuple(sources))


def _image_lookup(images: Path) -> dict[str, Path]:
    """Image files of a channel by bare name (for ``file`` values without their folder)."""
    if images.is_file():
        return {images.name: images}
    if not images.is_dir():
        return {}
    return {
        p.name: p
        for p in sorted(images.rglob("*"))
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    }


def _read_json(file: Path, name: str) -> dict[str, Any]:
    try:
        record = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{name}_annotation channel: {file} is not a JSON annotation ({exc})"
        raise InputError(msg) from None
    if not isinstance(record, dict) or not isinstance(record.get("file"), str):
        msg = f'{name}_annotation channel: {file} needs a "file" naming its image'
        raise InputError(msg)
    if not isinstance(record.get("annotations"), list):
        msg = f'{name}_annotation channel: {file} needs an "annotations" list (it may be empty)'
        raise InputError(msg)
    return record


def _image_file(
    record: Mapping[str, Any], images: Path, lookup: Mapping[str, Path], file: Path, name: str
) -> Path:
    relative = Path(record["file"])
    candidate = images / relative if images.is_dir() else images
    if candidate.is_file() and (images.is_dir() or images.name == relative.name):
        return candidate
    if relative.name in lookup:
        return lookup[relative.name]
    msg = (
        f"{name}_annotation channel: {file} names image {record['file']!r}, not in the {name} "
        f"channel ({images})"
    )
    raise InputError(msg)


def _annotation_boxes(
    record: Mapping[str, Any],
    shape: Sequence[int],
    file: Path,
    name: str,
    num_classes: int,
) -> np.ndarray:
    height, width = int(shape[0]), int(shape[1])
    where = f"{name}_annotation channel: {file}"
    _check_image_size(record.get("image_size"), width, height, where)
    rows = []
    for index, item in enumerate(record["annotations"]):
        at = f"{where}, annotation {index}"
        if not isinstance(item, Mapping):
            raise InputError(f"{at} is not an object")
        values = {}
        for key in ("class_id", "left", "top", "width", "height"):
            value = item.get(key)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                raise InputError(f"{at}: {key!r} must be a number, got {value!r}")
            values[key] = float(value)
        label = values["class_id"]
        if label != int(label) or not 0 <= label < num_classes:
            msg = f"{at}: class_id {label:g} is not a class of num_classes={num_classes}"
            raise InputError(msg)
        if values["width"] <= 0 or values["height"] <= 0:
            raise InputError(f"{at}: width and height must be positive")
        left, top = values["left"] / width, values["top"] / height
        right = (values["left"] + values["width"]) / width
        bottom = (values["top"] + values["height"]) / height
        rows.append(_clipped(label, left, top, right, bottom, at))
    return np.asarray(rows, dtype=np.float32).reshape(-1, 5)


def _check_image_size(sizes: Any, width: int, height: int, where: str) -> None:
    if sizes is None:
        return
    first = sizes[0] if isinstance(sizes, list) and sizes else sizes
    if not isinstance(first, Mapping):
        raise InputError(f'{where}: "image_size" must be [{{"width", "height", "depth"}}]')
    given = (first.get("width"), first.get("height"))
    if given != (width, height):
        msg = (
            f"{where}: image_size says {given[0]}x{given[1]} but the image is "
            f"{width}x{height} pixels"
        )
        raise InputError(msg)


def _clipped(
    label: float, left: float, top: float, right: float, bottom: float, at: str
) -> list[float]:
    corners = [min(max(v, 0.0), 1.0) for v in (left, top, right, bottom)]
    if corners[2] <= corners[0] or corners[3] <= corners[1]:
        raise InputError(f"{at}: the box lies outside the image")
    return [label, *corners]


def _check_label_width(objects: int, label_width: int, where: str) -> None:
    needed = HEADER_WIDTH + OBJECT_WIDTH * objects
    if needed > label_width:
        msg = (
            f"{where}: {objects} objects need a label of {needed} numbers, more than "
            f"hyperparameter 'label_width' ({label_width}); raise label_width"
        )
        raise InputError(msg)


# -- RecordIO ------------------------------------------------------------------------------------


def _load_recordio(
    files: Sequence[Path], name: str, size: int, num_classes: int, label_width: int
) -> DetectionSet:
    pixels, boxes, sources = [], [], []
    for file in files:
        for record in iter_rec(file):
            where = f"{name} channel: {record.where}"
            if len(record.label) > label_width:
                msg = (
                    f"{where}: a label of {len(record.label)} numbers is longer than "
                    f"hyperparameter 'label_width' ({label_width}); raise label_width"
                )
                raise InputError(msg)
            boxes.append(record_boxes(record.label, num_classes, where))
            pixels.append(fit_square(record.decode(), size))
            sources.append(record.where)
    if not pixels:
        msg = f"the {name} channel's RecordIO files hold no records"
        raise InputError(msg)
    return DetectionSet(np.stack(pixels), tuple(boxes), tuple(sources))


def record_boxes(label: Sequence[float], num_classes: int, where: str) -> np.ndarray:
    """The ``(M, 5)`` boxes of a detection record's label; InputError naming ``where``."""
    values = np.asarray(label, dtype=np.float64)
    if len(values) < HEADER_WIDTH or values[0] < HEADER_WIDTH or values[1] < OBJECT_WIDTH:
        msg = (
            f"{where}: not a detection label (it must start with its header width >= 2 and "
            f"object width >= 5), got {values[:2].tolist()}"
        )
        raise InputError(msg)
    header, width = int(values[0]), int(values[1])
    body = values[header:]
    if header != values[0] or width != values[1] or header > len(values) or len(body) % width:
        msg = (
            f"{where}: {len(values)} label numbers do not split into a {values[0]:g}-number "
            f"header and objects of {values[1]:g}"
        )
        raise InputError(msg)
    objects = body.reshape(-1, width)[:, :5]
    objects = objects[objects[:, 0] != -1]  # padding
    bad_class = (objects[:, 0] < 0) | (objects[:, 0] >= num_classes) | (objects[:, 0] % 1 != 0)
    if bad_class.any():
        label_value = objects[np.flatnonzero(bad_class)[0], 0]
        msg = f"{where}: class {label_value:g} is not a class of num_classes={num_classes}"
        raise InputError(msg)
    corners = objects[:, 1:]
    inverted = (corners[:, 2] <= corners[:, 0]) | (corners[:, 3] <= corners[:, 1])
    if ((corners < 0) | (corners > 1)).any() or inverted.any():
        msg = (
            f"{where}: box corners must be normalised (0..1) with xmin < xmax and ymin < ymax, "
            f"got {corners.tolist()}"
        )
        raise InputError(msg)
    return objects.astype(np.float32)


def detection_label(boxes: np.ndarray) -> list[float]:
    """A RecordIO label ``[2, 5, class, xmin, ymin, xmax, ymax, ...]`` for ``(M, 5)`` boxes."""
    return [float(HEADER_WIDTH), float(OBJECT_WIDTH), *np.asarray(boxes, float).ravel().tolist()]


# -- generated data ------------------------------------------------------------------------------

#: The classes of :func:`write_shapes`: (name, RGB colour), each drawn as its own shape.
SHAPE_CLASSES = (
    ("red square", (220, 40, 40)),
    ("green disc", (40, 200, 60)),
    ("blue triangle", (50, 80, 230)),
)


def shapes(
    count: int, size: int = 64, seed: int = 0, max_objects: int = 2
) -> tuple[np.ndarray, list[np.ndarray]]:
    """``count`` generated ``(size, size, 3)`` images of 1 to ``max_objects`` coloured shapes.

    Each shape is a class of :data:`SHAPE_CLASSES` (a square, a disc or a triangle, each in its
    colour, the colour jittered), 25% to 50% of the image wide, on a noisy grey background;
    shapes of one image do not overlap. Returns the images and their ``(M, 5)`` normalised
    boxes ``[class, xmin, ymin, xmax, ymax]``.
    """
    rng = np.random.default_rng(seed)
    images = np.empty((count, size, size, 3), dtype=np.uint8)
    all_boxes = []
    grid_y, grid_x = np.mgrid[0:size, 0:size] + 0.5
    for index in range(count):
        canvas = rng.normal(110, 20, (size, size, 3))
        boxes: list[list[float]] = []
        for _ in range(int(rng.integers(1, max_objects + 1))):
            placed = _place(rng, size, boxes)
            if placed is None:
                continue
            label, (x0, y0, side) = int(rng.integers(len(SHAPE_CLASSES))), placed
            mask = _shape_mask(label, grid_x - x0, grid_y - y0, side)
            colour = np.asarray(SHAPE_CLASSES[label][1]) + rng.normal(0, 15, 3)
            canvas[mask] = colour
            boxes.append([label, x0 / size, y0 / size, (x0 + side) / size, (y0 + side) / size])
        images[index] = np.clip(canvas, 0, 255).astype(np.uint8)
        all_boxes.append(np.asarray(boxes, dtype=np.float32).reshape(-1, 5))
    return images, all_boxes


def _place(
    rng: np.random.Generator, size: int, boxes: list[list[float]]
) -> tuple[int, int, int] | None:
    for _ in range(20):
        side = int(rng.integers(size // 4, size // 2 + 1))
        x0, y0 = (int(v) for v in rng.integers(0, size - side + 1, 2))
        box = np.asarray([x0, y0, x0 + side, y0 + side]) / size
        if all(
            box[2] <= b[1] or b[3] <= box[0] or box[3] <= b[2] or b[4] <= box[1] for b in boxes
        ):
            return x0, y0, side
    return None


def _shape_mask(label: int, dx: np.ndarray, dy: np.ndarray, side: int) -> np.ndarray:
    inside = (dx >= 0) & (dx < side) & (dy >= 0) & (dy < side)
    if label == 0:
        return inside
    if label == 1:
        return (dx - side / 2) ** 2 + (dy - side / 2) ** 2 <= (side / 2) ** 2
    return inside & (np.abs(dx - side / 2) <= dy / 2)  # apex at the top centre


def write_shapes(
    directory: Path | str,
    n_train: int,
    n_validation: int,
    *,
    size: int = 64,
    seed: int = 0,
    recordio: bool = False,
) -> dict[str, Path]:
    """Generated shapes (:func:`shapes`) as channels: PNG images with JSON annotations (the
    ``train``, ``validation``, ``train_annotation`` and ``validation_annotation`` channels), or
    with ``recordio`` one ``.rec`` file of JPEG records per channel."""
    root = Path(directory)
    channels: dict[str, Path] = {}
    for offset, (name, count) in enumerate((("train", n_train), ("validation", n_validation))):
        images, boxes = shapes(count, size, seed=seed * 2 + offset)
        if recordio:
            path = root / name / f"{name}.rec"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_rec(
                path,
                (
                    (IRHeader(0, detection_label(b), i), encode_image(image))
                    for i, (image, b) in enumerate(zip(images, boxes, strict=True))
                ),
            )
            channels[name] = path.parent
            continue
        channels[name] = root / name
        channels[f"{name}_annotation"] = root / f"{name}_annotation"
        channels[f"{name}_annotation"].mkdir(parents=True, exist_ok=True)
        for i, (image, b) in enumerate(zip(images, boxes, strict=True)):
            write_png(root / name / f"{i:05d}.png", image)
            annotation = _annotation(f"{i:05d}.png", b, size)
            (channels[f"{name}_annotation"] / f"{i:05d}.json").write_text(json.dumps(annotation))
    return channels


def _annotation(file: str, boxes: np.ndarray, size: int) -> dict[str, Any]:
    return {
        "file": file,
        "image_size": [{"width": size, "height": size, "depth": 3}],
        "annotations": [
            {
                "class_id": int(b[0]),
                "left": round(float(b[1]) * size),
                "top": round(float(b[2]) * size),
                "width": round(float(b[3] - b[1]) * size),
                "height": round(float(b[4] - b[2]) * size),
            }
            for b in boxes
        ],
        "categories": [{"class_id": i, "name": n} for i, (n, _) in enumerate(SHAPE_CLASSES)],
    }
