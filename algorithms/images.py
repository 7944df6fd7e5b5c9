"""Image input for image classification: SageMaker's image format and a folder-per-class layout.

SageMaker's image-classification algorithm reads a channel of image files (JPEG or PNG) together
with a ``.lst`` file, one tab-separated line per image: a unique integer index, the class label
(or, for multi-label training, one 0/1 column per class) and the image's path relative to the
image channel's root. The ``.lst`` file comes in its own channel (``train_lst``,
``validation_lst``) or, as a convenience here, lies at the top of the image channel itself. A
plain folder per class (``train/cat/*.png``, ``train/dog/*.png``) also works, as torchvision's
``ImageFolder`` and MXNet's ``im2rec`` read it.

PNG (8- and 16-bit, grey, grey+alpha, RGB, RGBA and palette, without interlacing) is decoded here
with ``zlib`` and numpy, so no imaging library is needed; ``.npy`` arrays are read with numpy.
JPEG and other formats, and interlaced PNG, need Pillow when it is installed; otherwise the
error says so. :func:`write_png` writes 8-bit grey or RGB PNG files.

Every image is brought to the network's input shape ``(channels, height, width)`` the same way
for training and prediction: channels converted (grey copied to RGB, RGB to luminance), the
shorter side scaled to ``resize`` when given, scaled up if still smaller than the input, then
cropped at the centre.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from algorithms.base import InputError

#: File extensions taken as images in a folder-per-class layout.
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".npy", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_NPY_MAGIC = b"\x93NUMPY"
# Samples per pixel of each PNG colour type: grey, RGB, palette, grey+alpha, RGBA.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_LUMA = np.array([0.299, 0.587, 0.114])


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


# -- PNG -----------------------------------------------------------------------------------------


def write_png(path: Path | str, image: np.ndarray) -> None:
    """Write an 8-bit grey ``(H, W)`` / ``(H, W, 1)`` or RGB ``(H, W, 3)`` image as PNG.

    Values are clipped to 0..255 and rounded. Parent folders are created.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        colour_type = 0
    elif array.ndim == 3 and array.shape[2] == 3:
        colour_type = 2
    else:
        msg = f"write_png needs an (H, W), (H, W, 1) or (H, W, 3) array, got shape {array.shape}"
        raise ValueError(msg)
    if array.shape[0] == 0 or array.shape[1] == 0:
        msg = f"write_png needs a non-empty image, got shape {array.shape}"
        raise ValueError(msg)
    pixels = np.clip(np.rint(array.astype(np.float64)), 0, 255).astype(np.uint8)
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    raw = np.hstack([np.zeros((height, 1), dtype=np.uint8), rows]).tobytes()  # filter 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        _PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def read_png(path: Path | str) -> np.ndarray:
    """The pixels of a PNG file: ``(H, W)`` uint8 for grey, ``(H, W, 3)`` for colour.

    Alpha is dropped, palettes are expanded to RGB and 16-bit samples keep their high byte.
    Raises InputError for a malformed or interlaced file (interlaced PNG needs Pillow).
    """
    path = Path(path)
    data = path.read_bytes()
    if not data.startswith(_PNG_SIGNATURE):
        msg = f"{path} is not a PNG file"
        raise InputError(msg)
    header: tuple[int, ...] | None = None
    palette: np.ndarray | None = None
    compressed = bytearray()
    position = len(_PNG_SIGNATURE)
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        crc = data[position + 8 + length : position + 12 + length]
        if len(body) != length or len(crc) != 4:
            msg = f"{path}: truncated PNG chunk {kind!r}"
            raise InputError(msg)
        if struct.unpack(">I", crc)[0] != zlib.crc32(kind + body):
            msg = f"{path}: PNG chunk {kind!r} fails its CRC check (the file is corrupt)"
            raise InputError(msg)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = np.frombuffer(body, dtype=np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            compressed += body
        elif kind == b"IEND":
            break
        position += 12 + length
    if header is None:
        msg = f"{path}: PNG file without an IHDR chunk"
        raise InputError(msg)
    width, height, bit_depth, colour_type, _, _, interlace = header
    if colour_type not in _PNG_CHANNELS or bit_depth not in (1, 2, 4, 8, 16):
        msg = f"{path}: unsupported PNG colour type {colour_type} / bit depth {bit_depth}"
        raise InputError(msg)
    if interlace:
        msg = f"{path}: interlaced PNG is not supported without Pillow (pip install pillow)"
        raise InputError(msg)
    channels = _PNG_CHANNELS[colour_type]
    try:
        raw = zlib.decompress(bytes(compressed))
    except zlib.error as exc:
        msg = f"{path}: PNG image data do not decompress ({exc})"
        raise InputError(msg) from None
    bits_per_pixel = channels * bit_depth
    stride = math.ceil(width * bits_per_pixel / 8)
    if len(raw) < height * (stride + 1):
        msg = f"{path}: PNG image data are shorter than {width}x{height} pixels"
        raise InputError(msg)
    rows = _unfilter(raw, height, stride, max(1, bits_per_pixel // 8), path)
    if bit_depth == 16:
        samples = rows.reshape(height, width * channels, 2)[:, :, 0]  # big-endian high byte
    elif bit_depth == 8:
        samples = rows[:, : width * channels]
    else:
        bits = np.unpackbits(rows, axis=1)[:, : width * bit_depth]
        weights = 1 << np.arange(bit_depth - 1, -1, -1)
        samples = (bits.reshape(height, width, bit_depth) * weights).sum(axis=2).astype(np.uint8)
        if colour_type == 0:
            samples = (samples.astype(np.uint16) * 255 // ((1 << bit_depth) - 1)).astype(np.uint8)
    pixels = samples.reshape(height, width, channels)
    if colour_type == 3:
        if palette is None:
            msg = f"{path}: palette PNG without a PLTE chunk"
            raise InputError(msg)
        index = np.minimum(pixels[:, :, 0], len(palette) - 1)
        return np.ascontiguousarray(palette[index])
    if colour_type in (0, 4):
        return np.ascontiguousarray(pixels[:, :, 0])
    return np.ascontiguousarray(pixels[:, :, :3])


def _unfilter(raw: bytes, height: int, stride: int, bpp: int, path: Path) -> np.ndarray:
    """Undo PNG's per-row filters; ``bpp`` is bytes per complete pixel (at least 1)."""
    data = np.frombuffer(raw, dtype=np.uint8)[: height * (stride + 1)].reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    prior = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind, line = int(data[y, 0]), data[y, 1:]
        if kind == 0:
            row = line.copy()
        elif kind == 1:  # Sub: running sum of the byte bpp to the left, modulo 256
            padded = np.zeros(math.ceil(stride / bpp) * bpp, dtype=np.uint8)
            padded[:stride] = line
            row = np.cumsum(padded.reshape(-1, bpp), axis=0, dtype=np.uint8).reshape(-1)[:stride]
        elif kind == 2:  # Up
            row = line + prior
        elif kind in (3, 4):
            row = _unfilter_sequential(kind, line, prior, bpp)
        else:
            msg = f"{path}: PNG row {y} has unknown filter type {kind}"
            raise InputError(msg)
        out[y] = row
        prior = out[y]
    return out


def _unfilter_sequential(kind: int, line: np.ndarray, prior: np.ndarray, bpp: int) -> np.ndarray:
    """Average (3) and Paeth (4) filters, which depend on the pixel just decoded."""
    row = np.zeros(len(line), dtype=np.int32)
    above = prior.astype(np.int32)
    filtered = line.astype(np.int32)
    for start in range(0, len(line), bpp):
        stop = min(start + bpp, len(line))
        left = row[start - bpp : stop - bpp] if start >= bpp else np.zeros(stop - start, np.int32)
        up = above[start:stop]
        if kind == 3:
            predicted = (left + up) // 2
        else:
            upper_left = (
                above[start - bpp : stop - bpp]
                if start >= bpp
                else np.zeros(stop - start, np.int32)
            )
            estimate = left + up - upper_left
            pa, pb, pc = (
                np.abs(estimate - left),
                np.abs(estimate - up),
                np.abs(estimate - upper_left),
            )
            predicted = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upper_left))
        row[start:stop] = (filtered[start:stop] + predicted) & 0xFF
    return row.astype(np.uint8)


# -- any image -----------------------------------------------------------------------------------


def read_image(path: Path | str) -> np.ndarray:
    """The pixels of an image file as uint8, ``(H, W)`` or ``(H, W, 3)``.

    PNG is decoded here and ``.npy`` read with numpy; anything else (JPEG, BMP ...) and
    interlaced PNG need Pillow. Raises InputError naming the file when it cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"image {path} does not exist"
        raise InputError(msg)
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(_NPY_MAGIC):
        return _from_array(np.load(path, allow_pickle=False), path)
    if head == _PNG_SIGNATURE:
        try:
            return read_png(path)
        except InputError as exc:
            if "interlaced" not in str(exc) or not _has_pillow():
                raise
    return _read_with_pillow(path, head)


def _from_array(array: np.ndarray, path: Path) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] in (1, 3, 4):
        array = array[:, :, 0] if array.shape[2] == 1 else array[:, :, :3]
    if array.ndim not in (2, 3) or array.size == 0:
        msg = f"{path}: an image array must be (H, W) or (H, W, C), got shape {array.shape}"
        raise InputError(msg)
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        msg = f"{path}: an image array must hold numbers, got {array.dtype}"
        raise InputError(msg)
    return np.clip(np.rint(array.astype(np.float64)), 0, 255).astype(np.uint8)


def _has_pillow() -> bool:
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return False
    return True


def _read_with_pillow(path: Path, head: bytes) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        kind = "a JPEG image" if head.startswith(_JPEG_MAGIC) else "not a PNG or .npy image"
        msg = (
            f"{path} is {kind}: reading it needs Pillow (pip install pillow); without it, "
            "give PNG (non-interlaced) or .npy images"
        )
        raise InputError(msg) from None
    try:
        with Image.open(path) as image:
            converted = image.convert("L" if image.mode in ("1", "L", "LA", "I", "F") else "RGB")
            return np.asarray(converted, dtype=np.uint8).copy()
    except (OSError, ValueError) as exc:
        msg = f"{path} cannot be read as an image ({exc})"
        raise InputError(msg) from None


def fit_to_shape(
    image: np.ndarray, shape: Sequence[int], *, resize: int | None = None
) -> np.ndarray:
    """``image`` (``(H, W)`` or ``(H, W, C)``) as a ``(c, h, w)`` uint8 array for the network.

    Channels are converted (grey copied to three channels, colour to luminance), the shorter
    side is scaled to ``resize`` when given, the image is scaled up when it is still smaller
    than ``(h, w)``, and the centre ``(h, w)`` is cut out. Scaling is bilinear.
    """
    channels, height, width = (int(v) for v in shape)
    pixels = np.asarray(image, dtype=np.float64)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[2] == 4:
        pixels = pixels[:, :, :3]
    if channels == 1 and pixels.shape[2] == 3:
        pixels = (pixels @ _LUMA)[:, :, None]
    elif channels == 3 and pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    rows, cols = pixels.shape[:2]
    scale = resize / min(rows, cols) if resize is not None else 1.0
    scale = max(scale, height / rows, width / cols)  # never smaller than the input
    if scale != 1.0:
        rows, cols = max(height, round(rows * scale)), max(width, round(cols * scale))
        pixels = _resize_bilinear(pixels, rows, cols)
    top, left = (rows - height) // 2, (cols - width) // 2
    crop = pixels[top : top + height, left : left + width]
    return np.clip(np.rint(crop), 0, 255).astype(np.uint8).transpose(2, 0, 1).copy()


def _resize_bilinear(pixels: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Bilinear resampling of an ``(H, W, C)`` array, pixel centres aligned (half-pixel)."""

    def axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        source = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        low = np.floor(source).astype(np.int64)
        high = np.minimum(low + 1, n_in - 1)
        return low, high, source - low

    y0, y1, wy = axis(pixels.shape[0], rows)
    x0, x1, wx = axis(pixels.shape[1], cols)
    top = pixels[y0][:, x0] * (1 - wx)[None, :, None] + pixels[y0][:, x1] * wx[None, :, None]
    bottom = pixels[y1][:, x0] * (1 - wx)[None, :, None] + pixels[y1][:, x1] * wx[None, :, None]
    return top * (1 - wy)[:, None, None] + bottom * wy[:, None, None]


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
        InputError: the channel is missing or empty, holds RecordIO (``.rec``) files, a
            ``.lst`` line is malformed or names a missing image.
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
            f"{name} channel {channel} holds RecordIO (.rec) files, which are not supported; "
            "give the images with a .lst file (SageMaker's image format) or one folder per class"
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
