"""Image input for image classification: SageMaker's image format and a folder-per-class layout.

SageMaker's image-classification algorithm reads a channel of image files (JPEG or PNG) together
with a ``.lst`` file, one tab-separated line per image: a unique integer index, the class label
(or, for multi-label training, one 0/1 column per class) and the image's path relative to the
image channel's root. The ``.lst`` file comes in its own channel (``train_lst``,
``validation_lst``) or, as a convenience here, lies at the top of the image channel itself. A
plain folder per class (``train/cat/*.png``, ``train/dog/*.png``) also works, as torchvision's
``ImageFolder`` and MXNet's ``im2rec`` read it. MXNet's RecordIO (``.rec``) files, which pack
the images and labels into one file, are read by :mod:`algorithms.image_recordio`.

Images are decoded by Pillow (JPEG, which real image channels and MXNet's ``.rec`` files hold,
PNG of any kind, BMP, GIF, TIFF, WebP), ``.npy`` arrays by numpy; scaling is Pillow's bilinear
resampling. :func:`write_png` writes 8-bit grey or RGB PNG files (Pillow too).

Every image is brought to the network's input shape ``(channels, height, width)`` the same way
for training and prediction: channels converted (grey copied to RGB, RGB to luminance), the
shorter side scaled to ``resize`` when given, scaled up if still smaller than the input, then
cropped at the centre.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from algorithms.base import InputError

#: File extensions taken as images in a folder-per-class layout.
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".npy", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
)

_NPY_MAGIC = b"\x93NUMPY"
#: Pillow modes of more than 8 bits per sample (16-bit PNG): scaled to 8 bits by their top byte.
_WIDE_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})


@dataclass(frozen=True)
class ImageRecord:
    """One image of a channel: its file and its label.

    ``label`` holds one class index, or (multi-label ``.lst`` files) one 0/1 value per class.
    """

    path: Path
    label: tuple[float, ...]


@dataclass(frozen=True)
class ImageList:
    """The images of a channel, in a fixed order, and the class names of a folder layout."""

    records: tuple[ImageRecord, ...]
    #: Folder name of each class index, for a folder-per-class layout; None for ``.lst`` input.
    class_names: dict[int, str] | None = None

    def __len__(self) -> int:
        return len(self.records)


# -- reading and writing -------------------------------------------------------------------------


def write_png(path: Path | str, image: np.ndarray) -> None:
    """Write an 8-bit grey ``(H, W)`` / ``(H, W, 1)`` or RGB ``(H, W, 3)`` image as PNG.

    Values are clipped to 0..255 and rounded. Parent folders are created.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        msg = f"write_png needs an (H, W), (H, W, 1) or (H, W, 3) array, got shape {array.shape}"
        raise ValueError(msg)
    if array.shape[0] == 0 or array.shape[1] == 0:
        msg = f"write_png needs a non-empty image, got shape {array.shape}"
        raise ValueError(msg)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _pil().fromarray(_to_uint8(array)).save(path, format="PNG")


def read_image(path: Path | str) -> np.ndarray:
    """The pixels of an image file as uint8, ``(H, W)`` or ``(H, W, 3)``.

    Alpha is dropped, a palette expanded, 16-bit samples scaled to 8 bits. Raises InputError
    naming the file when it cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"image {path} does not exist"
        raise InputError(msg)
    with path.open("rb") as handle:
        head = handle.read(len(_NPY_MAGIC))
    if head == _NPY_MAGIC:
        return _from_array(np.load(path, allow_pickle=False), path)
    try:
        with _pil().open(path) as image:
            return _pixels(image)
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's errors for bad files
        msg = f"{path} cannot be read as an image ({exc})"
        raise InputError(msg) from None


def _pixels(image: Any) -> np.ndarray:
    """A decoded Pillow image as uint8 grey or RGB pixels."""
    if image.mode in _WIDE_MODES:
        return (np.asarray(image, dtype=np.uint32) >> 8).clip(0, 255).astype(np.uint8)
    grey = image.mode in ("1", "L", "LA", "F") or (
        image.mode == "P" and image.palette is not None and image.palette.mode == "L"
    )
    converted = image.convert("L" if grey else "RGB")
    return np.asarray(converted, dtype=np.uint8).copy()


def _from_array(array: np.ndarray, path: Path) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] in (1, 3, 4):
        array = array[:, :, 0] if array.shape[2] == 1 else array[:, :, :3]
    if array.ndim not in (2, 3) or array.size == 0:
        msg = f"{path}: an image array must be (H, W) or (H, W, C), got shape {array.shape}"
        raise InputError(msg)
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        msg = f"{path}: an image array must hold numbers, got {array.dtype}"
        raise InputError(msg)
    return _to_uint8(array)


def _to_uint8(array: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(array, dtype=np.float64)), 0, 255).astype(np.uint8)


def _pil() -> Any:
    """Pillow's Image module (imported on first use: the package imports without it)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency of the package
        msg = "reading and writing images needs Pillow: pip install pillow"
        raise InputError(msg) from None
    return Image


def fit_to_shape(
    image: np.ndarray, shape: Sequence[int], *, resize: int | None = None
) -> np.ndarray:
    """``image`` (``(H, W)`` or ``(H, W, C)``) as a ``(c, h, w)`` uint8 array for the network.

    Channels are converted (grey copied to three channels, colour to ITU-R 601 luminance), the
    shorter side is scaled to ``resize`` when given, the image is scaled up when it is still
    smaller than ``(h, w)``, and the centre ``(h, w)`` is cut out. Scaling is bilinear.
    """
    channels, height, width = (int(v) for v in shape)
    pixels = _to_uint8(image)
    if pixels.ndim == 3:
        pixels = pixels[:, :, 0] if pixels.shape[2] == 1 else pixels[:, :, :3]
    picture = _pil().fromarray(pixels).convert("L" if channels == 1 else "RGB")
    cols, rows = picture.size
    scale = resize / min(rows, cols) if resize is not None else 1.0
    scale = max(scale, height / rows, width / cols)  # never smaller than the input
    if scale != 1.0:
        rows, cols = max(height, round(rows * scale)), max(width, round(cols * scale))
        picture = picture.resize((cols, rows), _pil().Resampling.BILINEAR)
    array = np.asarray(picture, dtype=np.uint8).reshape(rows, cols, channels)
    top, left = (rows - height) // 2, (cols - width) // 2
    crop = array[top : top + height, left : left + width]
    return crop.transpose(2, 0, 1).copy()


def load_images(
    records: Iterable[ImageRecord], shape: Sequence[int], *, resize: int | None = None
) -> np.ndarray:
    """The images of ``records`` fitted to ``shape``: a ``(N, c, h, w)`` uint8 array."""
    arrays = [fit_to_shape(read_image(r.path), shape, resize=resize) for r in records]
    if not arrays:
        return np.zeros((0, *(int(v) for v in shape)), dtype=np.uint8)
    return np.stack(arrays)


# -- channels ------------------------------------------------------------------------------------


def list_images(
    channel: Path | str, lst: Path | str | None = None, *, name: str = "train"
) -> ImageList:
    """The images and labels of an image channel.

    Args:
        channel: the image channel: a folder of images with a ``.lst`` file at its top (or in
            ``lst``), a ``.lst`` file itself (paths relative to its folder), or a folder with
            one sub-folder per class.
        lst: the ``<name>_lst`` channel, a ``.lst`` file or a folder of them; paths in it are
            relative to ``channel``.
        name: the channel's name, for error messages.

    In a folder-per-class layout the classes are the sub-folders: when every name is an integer
    (``0``, ``1`` ... ``10``) that integer is the label, otherwise the position in sorted order.

    Raises:
        InputError: the channel is missing or empty, holds RecordIO (``.rec``) files (read by
            :mod:`algorithms.image_recordio`), a ``.lst`` line is malformed or names a missing
            image.
    """
    channel = Path(channel)
    if not channel.exists():
        msg = f"{name} channel {channel} does not exist"
        raise InputError(msg)
    if lst is not None:
        root = channel if channel.is_dir() else channel.parent
        return ImageList(tuple(_records_of_lst_files(_lst_files(Path(lst), f"{name}_lst"), root)))
    if channel.is_file():
        if channel.suffix.lower() != ".lst":
            msg = (
                f"{name} channel {channel} is a single file; give a folder of images with a .lst "
                "file, a .lst file, or a folder with one sub-folder per class"
            )
            raise InputError(msg)
        return ImageList(tuple(_records_of_lst_files([channel], channel.parent)))
    entries = sorted(p for p in channel.iterdir() if not p.name.startswith("."))
    lst_files = [p for p in entries if p.is_file() and p.suffix.lower() == ".lst"]
    if lst_files:
        return ImageList(tuple(_records_of_lst_files(lst_files, channel)))
    if any(p.suffix.lower() in (".rec", ".idx") for p in entries if p.is_file()):
        msg = (
            f"{name} channel {channel} holds RecordIO (.rec) files, which list_images does not "
            "read (algorithms.image_recordio does); give the images with a .lst file "
            "(SageMaker's image format) or one folder per class"
        )
        raise InputError(msg)
    class_dirs = [p for p in entries if p.is_dir()]
    if not class_dirs:
        msg = (
            f"{name} channel {channel} has no .lst file and no class folders; give a "
            f"'{name}_lst' channel, a .lst file in the channel, or one sub-folder per class"
        )
        raise InputError(msg)
    return _folder_layout(channel, class_dirs, name)


def _lst_files(path: Path, name: str) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".lst")
        if files:
            return files
        msg = f"{name} channel {path} holds no .lst file"
        raise InputError(msg)
    msg = f"{name} channel {path} does not exist"
    raise InputError(msg)


def _records_of_lst_files(files: Sequence[Path], root: Path) -> list[ImageRecord]:
    records: list[ImageRecord] = []
    seen: dict[int, tuple[Path, int]] = {}
    for file in files:
        text = file.read_text(encoding="utf-8", errors="replace")
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split("\t")
            where = f"{file}, line {lineno}"
            if len(fields) < 3:
                msg = (
                    f"{where}: expected tab-separated 'index<TAB>label<TAB>path', got "
                    f"{len(fields)} field(s)"
                )
                raise InputError(msg)
            try:
                index = float(fields[0])
                labels = tuple(float(v) for v in fields[1:-1])
            except ValueError:
                msg = f"{where}: the index and label columns must be numbers, got {fields[:-1]}"
                raise InputError(msg) from None
            if not index.is_integer():
                msg = f"{where}: the image index {fields[0]!r} is not an integer"
                raise InputError(msg)
            if int(index) in seen:
                first_file, first_line = seen[int(index)]
                msg = (
                    f"{where}: image index {int(index)} is used again (first at {first_file}, "
                    f"line {first_line}); indices must be unique"
                )
                raise InputError(msg)
            seen[int(index)] = (file, lineno)
            image = root / fields[-1].strip()
            if not image.is_file():
                msg = f"{where}: image {fields[-1].strip()!r} not found under {root}"
                raise InputError(msg)
            records.append(ImageRecord(image, labels))
    if not records:
        msg = f"no images listed in {', '.join(str(f) for f in files)}"
        raise InputError(msg)
    return records


def _folder_layout(channel: Path, class_dirs: Sequence[Path], name: str) -> ImageList:
    names = [d.name for d in class_dirs]
    numeric = all(n.isdigit() for n in names)
    labels = [int(n) for n in names] if numeric else list(range(len(names)))
    if len(set(labels)) != len(labels):
        msg = f"{name} channel {channel}: class folders {names} name the same label twice"
        raise InputError(msg)
    records: list[ImageRecord] = []
    for label, folder in zip(labels, class_dirs, strict=True):
        images = sorted(
            p
            for p in folder.rglob("*")
            if p.is_file()
            and p.suffix.lower() in IMAGE_EXTENSIONS
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        )
        records.extend(ImageRecord(p, (float(label),)) for p in images)
    if not records:
        msg = (
            f"{name} channel {channel}: the class folders hold no images "
            f"({', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
        raise InputError(msg)
    return ImageList(tuple(records), dict(zip(labels, names, strict=True)))


def write_lst(path: Path | str, records: Sequence[ImageRecord], root: Path | str) -> None:
    """Write ``records`` as a SageMaker ``.lst`` file with paths relative to ``root``."""
    root = Path(root)
    lines = []
    for index, record in enumerate(records):
        labels = "\t".join(_format_label(v) for v in record.label)
        relative = Path(record.path).resolve().relative_to(root.resolve()).as_posix()
        lines.append(f"{index}\t{labels}\t{relative}\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8")


def _format_label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
