"""MXNet image RecordIO (``.rec``, ``application/x-recordio``), read and written.

The input of SageMaker's image-classification notebooks that do not use ``.lst`` files: MXNet's
``im2rec`` tool packs every image of a ``.lst`` file into one record of a ``.rec`` file (and
writes a ``.idx`` file of ``key<TAB>byte offset`` lines beside it, which sequential reading
does not need). Two layers:

**RecordIO framing**, as for RecordIO-protobuf: :func:`algorithms.recordio.frame_record` and
:func:`algorithms.recordio.iter_records` (magic number ``0xced7230a``, a length word with a
continuation flag, payloads padded to 4 bytes).

**The image record** (``mxnet.recordio.pack``): a 24-byte ``IRHeader``, little-endian
``struct`` ``'<IfQQ'``: ``flag`` (uint32), ``label`` (float32), ``id`` (uint64, the image's
index in the ``.lst`` file) and ``id2`` (uint64, 0). When ``flag`` is 0 the label is the
header's ``label``; when ``flag`` is ``n > 0`` the label is the ``n`` float32 values that follow
the header (multi-label records, ``im2rec --pack-label``; object detection) and the header's
``label`` field is 0 and ignored. The rest of the record is the encoded image, JPEG (im2rec's
default) or PNG, decoded here by Pillow.

Reading is one pass: the file is memory-mapped, not read into memory, and every image is
decoded and fitted to the network's input shape as its record comes, so only one decoded
image is held at a time (:func:`load_rec`). A corrupt or truncated record, a header that does
not fit its record, or an image that cannot be decoded raises :class:`InputError` naming the
file, the record's number (from 1) and its byte offset.
"""

from __future__ import annotations

import contextlib
import io
import mmap
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from algorithms.base import InputError
from algorithms.images import IMAGE_EXTENSIONS, _pil, _pixels, fit_to_shape
from algorithms.recordio import CONTENT_TYPE as _PROTOBUF_CONTENT_TYPE
from algorithms.recordio import MAGIC_BYTES, frame_record, iter_records

CONTENT_TYPE = "application/x-recordio"
#: File extensions taken as MXNet image RecordIO without looking inside.
REC_EXTENSIONS = frozenset({".rec", ".recordio"})
#: MXNet's ``IRHeader`` on disk (``mxnet.recordio._IR_FORMAT``, little-endian).
HEADER = struct.Struct("<IfQQ")
#: MXNet's im2rec default JPEG quality.
DEFAULT_QUALITY = 95

_NOT_SNIFFED = frozenset({*IMAGE_EXTENSIONS, ".lst", ".idx"})


class IRHeader(NamedTuple):
    """The header of an image record (``mxnet.recordio.IRHeader``).

    ``label`` is one number, or a sequence of numbers (written after the header, with ``flag``
    set to their count, as ``mxnet.recordio.pack`` does).
    """

    flag: int
    label: float | Sequence[float]
    id: int
    id2: int = 0


@dataclass(frozen=True)
class RecImage:
    """One record of a ``.rec`` file: where it is, its header, labels and encoded image."""

    file: Path
    number: int  # from 1
    offset: int  # byte offset of its first RecordIO part
    header: IRHeader  # as stored: label is the header's float (0 when flag > 0)
    label: tuple[float, ...]  # (header.label,) when flag is 0, else the flag float32 values
    image: bytes  # the encoded image

    @property
    def where(self) -> str:
        return f"{self.file}, record {self.number} (id {self.header.id}, at byte {self.offset})"

    def decode(self) -> np.ndarray:
        """The record's pixels as uint8, ``(H, W)`` or ``(H, W, 3)``."""
        return decode_image(self.image, self.where)


@dataclass(frozen=True)
class RecImages:
    """The images of one or more ``.rec`` files, fitted to the input shape, and their labels."""

    pixels: np.ndarray  # (N, c, h, w) uint8
    labels: tuple[tuple[float, ...], ...]
    files: tuple[Path, ...]
    #: The file (an index into ``files``), record number and id of each image, for messages.
    sources: np.ndarray  # (N, 3) uint64

    def __len__(self) -> int:
        return len(self.labels)

    def where(self, index: int) -> str:
        """``file, record n (id i)`` of image ``index``."""
        file, number, ident = (int(v) for v in self.sources[index])
        return f"{self.files[file]}, record {number} (id {ident})"


# -- the image record ----------------------------------------------------------------------------


def pack(header: IRHeader | Sequence[Any], payload: bytes) -> bytes:
    """An image record (not yet framed): ``header`` and ``payload``, as ``mxnet.recordio.pack``.

    A numeric ``header.label`` is stored in the header with ``flag`` 0 (whatever ``flag`` was
    given); a sequence of labels is stored as float32 values after the header, ``flag`` set to
    their count and the header's label to 0.
    """
    _, label, ident, ident2 = IRHeader(*header)
    if isinstance(label, (int, float, np.number)):
        return HEADER.pack(0, float(label), int(ident), int(ident2)) + bytes(payload)
    labels = np.asarray(label, dtype="<f4").reshape(-1)
    return HEADER.pack(labels.size, 0.0, int(ident), int(ident2)) + labels.tobytes() + payload


class _RecordError(Exception):
    pass


def unpack(record: bytes) -> tuple[IRHeader, tuple[float, ...], bytes]:
    """``(header, labels, image bytes)`` of an image record, as ``mxnet.recordio.unpack``.

    ``labels`` is ``(header.label,)`` when ``flag`` is 0, else the ``flag`` float32 values after
    the header. Raises InputError when the record is too short for its header or labels.
    """
    try:
        return _unpack(record)
    except _RecordError as exc:
        raise InputError(str(exc)) from None


def _unpack(record: bytes | memoryview) -> tuple[IRHeader, tuple[float, ...], bytes]:
    if len(record) < HEADER.size:
        msg = f"the record has {len(record)} bytes, fewer than the {HEADER.size}-byte IRHeader"
        raise _RecordError(msg)
    flag, label, ident, ident2 = HEADER.unpack_from(record)
    header = IRHeader(flag, label, ident, ident2)
    start = HEADER.size
    if flag == 0:
        return header, (float(label),), bytes(record[start:])
    end = start + 4 * flag
    if end > len(record):
        msg = (
            f"its IRHeader announces {flag} float32 labels ({4 * flag} bytes) but only "
            f"{len(record) - start} bytes follow the header"
        )
        raise _RecordError(msg)
    labels = np.frombuffer(record, dtype="<f4", count=flag, offset=start)
    return header, tuple(float(v) for v in labels), bytes(record[end:])


def encode_image(
    image: np.ndarray, *, quality: int = DEFAULT_QUALITY, img_fmt: str = ".jpg"
) -> bytes:
    """An 8-bit grey ``(H, W)`` or RGB ``(H, W, 3)`` image encoded as JPEG or PNG by Pillow."""
    fmt = img_fmt.lower().lstrip(".")
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.dtype != np.uint8:
        array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    picture = _pil().fromarray(array)
    if fmt in ("jpg", "jpeg"):
        picture.save(buffer, format="JPEG", quality=int(quality))
    elif fmt == "png":
        picture.save(buffer, format="PNG")
    else:
        msg = f"img_fmt must be '.jpg' or '.png', got {img_fmt!r}"
        raise ValueError(msg)
    return buffer.getvalue()


def pack_img(
    header: IRHeader | Sequence[Any],
    image: np.ndarray,
    *,
    quality: int = DEFAULT_QUALITY,
    img_fmt: str = ".jpg",
) -> bytes:
    """``image`` encoded (:func:`encode_image`) and packed with ``header``: MXNet's ``pack_img``.

    MXNet encodes with OpenCV (BGR arrays); this takes RGB arrays and encodes with Pillow, so
    the image bytes can differ from OpenCV's while the record layout is the same.
    """
    return pack(header, encode_image(image, quality=quality, img_fmt=img_fmt))


def decode_image(data: bytes, where: str = "<bytes>") -> np.ndarray:
    """Encoded image bytes (JPEG, PNG, ...) as uint8 pixels, ``(H, W)`` or ``(H, W, 3)``."""
    if not data:
        msg = f"{where}: the record holds no image bytes after its header"
        raise InputError(msg)
    try:
        with _pil().open(io.BytesIO(data)) as image:
            return _pixels(image)
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's errors for bad images
        msg = f"{where}: the image ({len(data)} bytes) cannot be decoded ({exc})"
        raise InputError(msg) from None


# -- files ---------------------------------------------------------------------------------------


def write_rec(
    path: Path | str,
    records: Iterable[tuple[IRHeader | Sequence[Any], bytes]],
    *,
    idx: Path | str | bool = False,
) -> None:
    """Write ``(header, image bytes)`` records as a ``.rec`` file, as ``MXRecordIO.write`` does.

    ``idx`` (True: ``path`` with the suffix ``.idx``) also writes the ``.idx`` file of
    ``MXIndexedRecordIO``: one ``id<TAB>byte offset`` line per record. Parent folders are
    created.
    """
    path = Path(path)
    chunks: list[bytes] = []
    lines: list[str] = []
    offset = 0
    for header, payload in records:
        framed = frame_record(pack(header, payload))
        lines.append(f"{int(IRHeader(*header).id)}\t{offset}\n")
        chunks.append(framed)
        offset += len(framed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(chunks))
    if idx:
        idx_path = path.with_suffix(".idx") if idx is True else Path(idx)
        idx_path.write_text("".join(lines), encoding="utf-8")


def iter_rec(path: Path | str) -> Iterator[RecImage]:
    """The records of an image ``.rec`` file, in order, without reading it into memory.

    Raises:
        InputError: the file is missing, not RecordIO, truncated, or a record is too short for
            its header and labels; the message names the file, the record and its byte offset.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"RecordIO file {path} does not exist"
        raise InputError(msg)
    with path.open("rb") as handle:
        if path.stat().st_size == 0:
            return
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        records = iter_records(mapped, str(path))  # type: ignore[arg-type]  # a buffer will do
        try:
            number = 0
            while True:
                problem = None
                try:
                    offset, payload = next(records)
                except StopIteration:
                    break
                except InputError as exc:
                    problem = _framing_message(path, number + 1, str(exc))
                if problem is not None:  # raised here, so that no traceback keeps the map open
                    raise InputError(problem)
                number += 1
                try:
                    header, label, image = _unpack(payload)
                except _RecordError as exc:
                    problem = f"{path}, record {number} (at byte {offset}): {exc}"
                if problem is not None:
                    raise InputError(problem)
                del payload
                yield RecImage(path, number, offset, header, label, image)
        finally:
            del records  # the last reference: the generator closes and drops its view of the map
            with contextlib.suppress(BufferError):  # a view still alive: the collector closes it
                mapped.close()


def _framing_message(path: Path, number: int, detail: str) -> str:
    prefix = f"{path}: "
    detail = detail[len(prefix) :] if detail.startswith(prefix) else detail
    wrong_format = f"not {_PROTOBUF_CONTENT_TYPE} data: "
    if detail.startswith(wrong_format):
        detail = detail[len(wrong_format) :]
        if number == 1 and "at byte 0," in detail:
            return f"{path} is not MXNet image RecordIO: {detail}"
    return f"{path}, record {number} is corrupt or truncated: {detail}"


def is_rec(path: Path) -> bool:
    """Whether ``path`` is MXNet RecordIO: a ``.rec``/``.recordio`` file, or one that starts with
    the RecordIO magic number (image and ``.lst``/``.idx`` files are not opened)."""
    suffix = path.suffix.lower()
    if suffix in REC_EXTENSIONS:
        return True
    if suffix in _NOT_SNIFFED or not path.is_file():
        return False
    with path.open("rb") as handle:
        return handle.read(len(MAGIC_BYTES)) == MAGIC_BYTES


def rec_files(channel: Path | str) -> list[Path]:
    """The RecordIO files of a channel, sorted: the channel itself when it is one, else those
    anywhere under its folder (hidden files and folders left out). Empty when there are none."""
    channel = Path(channel)
    if channel.is_file():
        return [channel] if is_rec(channel) else []
    if not channel.is_dir():
        return []
    return sorted(
        p
        for p in channel.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(channel).parts)
        and is_rec(p)
    )


def load_rec(
    files: Sequence[Path | str], shape: Sequence[int], *, resize: int | None = None
) -> RecImages:
    """Every image of ``files`` fitted to ``shape`` (:func:`algorithms.images.fit_to_shape`).

    One pass over each file; each image is decoded, fitted and dropped before the next.

    Raises:
        InputError: a file is corrupt or truncated, a record's image cannot be decoded, or the
            files hold no records.
    """
    paths = tuple(Path(f) for f in files)
    arrays: list[np.ndarray] = []
    labels: list[tuple[float, ...]] = []
    sources: list[tuple[int, int, int]] = []
    for index, path in enumerate(paths):
        for record in iter_rec(path):
            arrays.append(fit_to_shape(record.decode(), shape, resize=resize))
            labels.append(record.label)
            sources.append((index, record.number, record.header.id))
    if not arrays:
        msg = f"no image records in {', '.join(str(p) for p in paths) or 'no files'}"
        raise InputError(msg)
    return RecImages(
        np.stack(arrays), tuple(labels), paths, np.asarray(sources, dtype=np.uint64).reshape(-1, 3)
    )
