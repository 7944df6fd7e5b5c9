"""SageMaker's RecordIO-wrapped protobuf (``application/x-recordio-protobuf``), read and written.

Two layers, both written out here so that no protobuf package is needed:

**RecordIO framing** (MXNet's dmlc-core ``RecordIOWriter``). Every record starts with two
little-endian uint32 words: the magic number ``0xced7230a`` and a header whose top 3 bits are a
continuation flag and whose low 29 bits are the length of the payload that follows. The payload
is padded with zero bytes to a multiple of 4. Flag 0 is a whole record; a record whose payload
contains the magic number at a 4-byte-aligned offset is split there into parts flagged 1 (first),
2 (middle) and 3 (last), the magic number itself left out, and the reader puts it back between
the parts. (The SageMaker Python SDK writes flag 0 only and its reader ignores the flag; this
module writes and reads both, as MXNet does.)

**Protobuf payload**, one ``aialgs.data.Record`` per row. Field numbers, checked against
``aws/sagemaker-python-sdk: src/sagemaker/amazon/record.proto``::

    message Float32Tensor { repeated float  values = 1 [packed]; repeated uint64 keys = 2 [packed];
                            repeated uint64 shape = 3 [packed]; }
    message Float64Tensor { repeated double values = 1 [packed]; keys = 2; shape = 3 (as above) }
    message Int32Tensor   { repeated int32  values = 1 [packed]; keys = 2; shape = 3 (as above) }
    message Bytes         { repeated bytes value = 1; optional string content_type = 2; }
    message Value  { oneof value { Float32Tensor float32_tensor = 2;
                                   Float64Tensor float64_tensor = 3;
                                   Int32Tensor int32_tensor = 7; Bytes bytes = 9; } }
    message Record { map<string, Value> features = 1; map<string, Value> label = 2;
                     optional string uid = 3; optional string metadata = 4;
                     optional string configuration = 5; }

A map entry is a nested message with ``key = 1`` and ``value = 2``. Features and label live under
the key ``"values"``. A tensor with ``keys`` is sparse: ``keys[i]`` is the column of
``values[i]`` and ``shape`` (required then) gives the row's width, ``[n_columns]`` as the SDK
writes it. A tensor without keys is dense. Labels are one number per record.

Wire format: a field is a varint tag ``(number << 3) | wire_type`` followed by a varint (type 0),
8 bytes (type 1), a varint length and that many bytes (type 2), or 4 bytes (type 5). Packed
repeated fields are one length-delimited field holding the concatenated encodings; the reader
also accepts the unpacked form, as every protobuf parser must. Unknown fields are skipped.
"""

from __future__ import annotations

import gzip
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse

from algorithms.base import InputError

CONTENT_TYPE = "application/x-recordio-protobuf"
#: The RecordIO magic number, and how it looks on disk (little-endian).
MAGIC = 0xCED7230A
MAGIC_BYTES = struct.pack("<I", MAGIC)
_MAX_LENGTH = (1 << 29) - 1
_GZIP_MAGIC = b"\x1f\x8b"

# Wire types.
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
# Field numbers (see the module docstring).
_RECORD_FEATURES, _RECORD_LABEL = 1, 2
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_VALUE_FLOAT32, _VALUE_FLOAT64, _VALUE_INT32, _VALUE_BYTES = 2, 3, 7, 9
_TENSOR_VALUES, _TENSOR_KEYS, _TENSOR_SHAPE = 1, 2, 3
_FEATURE_KEY = "values"


# -- public API ----------------------------------------------------------------------------------


def write_recordio_protobuf(
    path: Path | str, X: np.ndarray | scipy.sparse.spmatrix, y: np.ndarray | None = None
) -> None:
    """Write one Record per row of ``X``, with its label ``y[i]`` if ``y`` is given.

    A dense ``X`` gives dense Float32 tensors; a scipy sparse ``X`` gives sparse ones (``keys`` are
    the column indices of the stored entries, ``shape`` is ``[n_columns]``), as the SageMaker
    Python SDK's ``write_numpy_to_dense_tensor`` and ``write_spmatrix_to_sparse_tensor`` do.
    Values are stored as float32. Parent folders are created.
    """
    path = Path(path)
    if len(X.shape) != 2:
        msg = f"X must be 2-D, got shape {X.shape}"
        raise InputError(msg)
    labels = None if y is None else np.asarray(y, dtype=np.float32).reshape(-1)
    if labels is not None and labels.shape[0] != X.shape[0]:
        msg = f"X has {X.shape[0]} rows but y has {labels.shape[0]} labels"
        raise InputError(msg)
    chunks: list[bytes] = []
    for row, tensor in enumerate(_feature_tensors(X)):
        record = _map_entry(_RECORD_FEATURES, tensor)
        if labels is not None:
            record += _map_entry(_RECORD_LABEL, _tensor(labels[row : row + 1], None, None))
        chunks.append(frame_record(record))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(chunks))


def read_recordio_protobuf(
    path: Path | str,
) -> tuple[np.ndarray | scipy.sparse.csr_matrix, np.ndarray | None]:
    """Features and labels of a RecordIO-protobuf file (gzip-compressed files too).

    Returns:
        ``(X, y)``: ``X`` is a float64 array when every record is dense, else a CSR matrix as
        wide as the widest record; ``y`` is a float64 vector (NaN for a record without a label),
        or None when no record has a label. A file without records gives a ``(0, 0)`` array.

    Raises:
        InputError: the file is not RecordIO (wrong magic number), is truncated, or holds a record
            that is not a valid ``aialgs.data.Record`` of numbers; the message names the file,
            the record and the byte offset.
    """
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == _GZIP_MAGIC:
        data = gzip.decompress(data)
    rows: list[_Row] = []
    for number, (offset, payload) in enumerate(iter_records(data, str(path)), start=1):
        try:
            rows.append(_parse_record(payload))
        except _ParseError as exc:
            msg = f"{path}: record {number} (at byte {offset}) is not a valid Record: {exc}"
            raise InputError(msg) from None
    return _assemble(rows, path)


def frame_record(payload: bytes) -> bytes:
    """``payload`` wrapped in RecordIO framing, split where it contains the magic number."""
    length = len(payload)
    if length > _MAX_LENGTH:
        msg = f"a RecordIO record holds at most {_MAX_LENGTH} bytes, got {length}"
        raise InputError(msg)
    out = bytearray()
    aligned = np.frombuffer(payload[: length // 4 * 4], dtype="<u4")
    start = 0
    for hit in (np.flatnonzero(aligned == MAGIC) * 4).tolist():
        out += MAGIC_BYTES + struct.pack("<I", (1 if start == 0 else 2) << 29 | (hit - start))
        out += payload[start:hit]  # aligned: no padding needed
        start = hit + 4
    out += MAGIC_BYTES + struct.pack("<I", (3 if start else 0) << 29 | (length - start))
    out += payload[start:]
    out += b"\x00" * (-length % 4)
    return bytes(out)


def iter_records(data: bytes, name: str = "<bytes>") -> Iterator[tuple[int, bytes]]:
    """``(byte offset, payload)`` of each RecordIO record in ``data``, parts joined."""
    view = memoryview(data)
    offset = 0
    record_start = 0
    parts: list[bytes] = []
    while offset < len(data):
        head = bytes(view[offset : offset + 4])
        if head != MAGIC_BYTES:
            found = f"0x{struct.unpack('<I', head)[0]:08x}" if len(head) == 4 else repr(head)
            msg = (
                f"{name}: not {CONTENT_TYPE} data: expected the RecordIO magic number "
                f"0x{MAGIC:08x} at byte {offset}, found {found}"
            )
            raise InputError(msg)
        if len(data) - offset < 8:
            msg = f"{name}: truncated RecordIO header at byte {offset}"
            raise InputError(msg)
        (header,) = struct.unpack_from("<I", data, offset + 4)
        flag, length = header >> 29, header & _MAX_LENGTH
        body = offset + 8
        if body + length > len(data):
            msg = (
                f"{name}: truncated RecordIO record at byte {offset}: the header says "
                f"{length} bytes, {len(data) - body} are left"
            )
            raise InputError(msg)
        if flag > 3 or (flag in (0, 1)) == bool(parts):
            msg = (
                f"{name}: bad RecordIO continuation flag {flag} at byte {offset} "
                f"({'inside' if parts else 'outside'} a multi-part record)"
            )
            raise InputError(msg)
        if not parts:
            record_start = offset
        parts.append(bytes(view[body : body + length]))
        offset = body + length + (-length % 4)
        if flag in (0, 3):
            yield record_start, MAGIC_BYTES.join(parts)
            parts = []
    if parts:
        msg = f"{name}: the multi-part RecordIO record at byte {record_start} has no last part"
        raise InputError(msg)


# -- encoding ------------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _packed_varints(values: np.ndarray) -> bytes:
    """The concatenated varint encodings of unsigned integers, vectorised."""
    values = np.asarray(values, dtype=np.uint64)
    if values.size == 0:
        return b""
    groups = (values[:, None] >> (7 * np.arange(10, dtype=np.uint64))) & np.uint64(0x7F)
    thresholds = np.uint64(1) << (7 * np.arange(1, 10, dtype=np.uint64))
    n_bytes = 1 + (values[:, None] >= thresholds).sum(axis=1)
    column = np.arange(10)
    more = column[None, :] < (n_bytes[:, None] - 1)
    encoded = (groups | (more.astype(np.uint64) << np.uint64(7))).astype(np.uint8)
    return encoded[column[None, :] < n_bytes[:, None]].tobytes()


def _feature_tensors(X: np.ndarray | scipy.sparse.spmatrix) -> Iterator[bytes]:
    """One Float32Tensor Value per row: sparse (keys, shape) for a sparse ``X``, else dense."""
    if not scipy.sparse.issparse(X):
        for row in np.asarray(X, dtype=np.float32):
            yield _tensor(row, None, None)
        return
    csr = scipy.sparse.csr_matrix(X)
    csr.sort_indices()
    data = np.asarray(csr.data, dtype=np.float32)
    indices = np.asarray(csr.indices, dtype=np.uint64)
    shape = _packed_varints(np.array([csr.shape[1]], dtype=np.uint64))
    for start, end in zip(csr.indptr[:-1], csr.indptr[1:], strict=True):
        yield _tensor(data[start:end], indices[start:end], shape)


def _field(number: int, wire_type: int, body: bytes) -> bytes:
    tag = _varint(number << 3 | wire_type)
    if wire_type == _LEN:
        return tag + _varint(len(body)) + body
    return tag + body


def _tensor(values: np.ndarray, keys: np.ndarray | None, shape: bytes | None) -> bytes:
    """A Value holding a Float32Tensor (dense when ``keys`` is None)."""
    body = b""
    if len(values):
        body += _field(_TENSOR_VALUES, _LEN, np.asarray(values, dtype="<f4").tobytes())
    if keys is not None and len(keys):
        body += _field(_TENSOR_KEYS, _LEN, _packed_varints(keys))
    if shape:
        body += _field(_TENSOR_SHAPE, _LEN, shape)
    return _field(_VALUE_FLOAT32, _LEN, body)


def _map_entry(field_number: int, value: bytes) -> bytes:
    entry = _field(_ENTRY_KEY, _LEN, _FEATURE_KEY.encode()) + _field(_ENTRY_VALUE, _LEN, value)
    return _field(field_number, _LEN, entry)


# -- decoding ------------------------------------------------------------------------------------


class _ParseError(Exception):
    pass


@dataclass
class _Row:
    values: np.ndarray  # float64
    keys: np.ndarray | None  # uint64 column indices, None for a dense tensor
    width: int  # columns this row spans
    label: float


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            msg = "truncated varint"
            raise _ParseError(msg)
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            msg = "varint longer than 10 bytes"
            raise _ParseError(msg)


@dataclass(frozen=True)
class _Field:
    """One protobuf field: a varint in ``integer``, any other field's bytes in ``payload``."""

    number: int
    wire_type: int
    integer: int = 0
    payload: bytes = b""


def _fields(buf: bytes) -> Iterator[_Field]:
    """The fields of the message ``buf``, in order."""
    pos = 0
    while pos < len(buf):
        tag, pos = _read_varint(buf, pos)
        number, wire_type = tag >> 3, tag & 7
        if number == 0:
            msg = "field number 0"
            raise _ParseError(msg)
        if wire_type == _VARINT:
            value, pos = _read_varint(buf, pos)
            yield _Field(number, wire_type, integer=value)
            continue
        if wire_type == _LEN:
            size, pos = _read_varint(buf, pos)
        elif wire_type == _I64:
            size = 8
        elif wire_type == _I32:
            size = 4
        else:
            msg = f"unsupported wire type {wire_type} (field {number})"
            raise _ParseError(msg)
        if pos + size > len(buf):
            msg = f"field {number} runs past the end of its message"
            raise _ParseError(msg)
        yield _Field(number, wire_type, payload=bytes(buf[pos : pos + size]))
        pos += size


def _unpack_varints(buf: bytes) -> np.ndarray:
    """Every varint in ``buf`` (a packed field), as uint64, vectorised."""
    raw = np.frombuffer(buf, dtype=np.uint8)
    if raw.size == 0:
        return np.zeros(0, dtype=np.uint64)
    if raw[-1] >= 0x80:
        msg = "truncated packed varints"
        raise _ParseError(msg)
    ends = np.flatnonzero(raw < 0x80)
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts + 1
    if lengths.max() > 10:
        msg = "varint longer than 10 bytes"
        raise _ParseError(msg)
    shifts = 7 * (np.arange(raw.size) - np.repeat(starts, lengths))
    parts = (raw & 0x7F).astype(np.uint64) << shifts.astype(np.uint64)
    return np.bitwise_or.reduceat(parts, starts)


_ELEMENT = {  # value type -> (numpy dtype of packed values, wire type when unpacked)
    _VALUE_FLOAT32: ("<f4", _I32),
    _VALUE_FLOAT64: ("<f8", _I64),
    _VALUE_INT32: (None, _VARINT),
}


def _parse_tensor(kind: int, buf: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dtype, unpacked_wire = _ELEMENT[kind]
    values: list[np.ndarray] = []
    keys: list[np.ndarray] = []
    shape: list[np.ndarray] = []
    for field in _fields(buf):
        if field.number == _TENSOR_VALUES:
            if field.wire_type in (_LEN, unpacked_wire):
                values.append(_tensor_values(dtype, field))
                continue
        elif field.number in (_TENSOR_KEYS, _TENSOR_SHAPE):
            target = keys if field.number == _TENSOR_KEYS else shape
            if field.wire_type == _LEN:
                target.append(_unpack_varints(field.payload))
                continue
            if field.wire_type == _VARINT:
                target.append(np.array([field.integer], dtype=np.uint64))
                continue
        else:
            continue  # an unknown field
        msg = f"tensor field {field.number} has wire type {field.wire_type}"
        raise _ParseError(msg)
    return _joined(values, np.float64), _joined(keys, np.uint64), _joined(shape, np.uint64)


def _tensor_values(dtype: str | None, field: _Field) -> np.ndarray:
    if dtype is None:  # int32: varints, negatives sign-extended to 64 bits
        if field.wire_type == _LEN:
            raw = _unpack_varints(field.payload)
        else:
            raw = np.array([field.integer], dtype=np.uint64)
        return raw.view(np.int64).astype(np.int32).astype(np.float64)
    value = field.payload
    if len(value) % np.dtype(dtype).itemsize:
        msg = f"packed values of {len(value)} bytes are not whole {np.dtype(dtype).name}s"
        raise _ParseError(msg)
    return np.frombuffer(value, dtype=dtype).astype(np.float64)


def _joined(chunks: list[np.ndarray], dtype: type) -> np.ndarray:
    if not chunks:
        return np.zeros(0, dtype=dtype)
    return np.concatenate(chunks).astype(dtype, copy=False)


def _parse_value(buf: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    found = None
    for field in _fields(buf):
        if field.number in _ELEMENT and field.wire_type == _LEN:
            found = field
        elif field.number == _VALUE_BYTES:
            msg = "Bytes values are not supported; features and labels must be numeric tensors"
            raise _ParseError(msg)
    if found is None:
        msg = "a Value without a float32, float64 or int32 tensor"
        raise _ParseError(msg)
    return _parse_tensor(found.number, found.payload)


def _parse_map(entries: list[bytes], what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    by_key: dict[str, bytes] = {}
    for entry in entries:
        key, value = "", b""
        for field in _fields(entry):
            if field.number == _ENTRY_KEY and field.wire_type == _LEN:
                key = field.payload.decode("utf-8", errors="replace")
            elif field.number == _ENTRY_VALUE and field.wire_type == _LEN:
                value = field.payload
        by_key[key] = value
    if _FEATURE_KEY in by_key:
        return _parse_value(by_key[_FEATURE_KEY])
    if len(by_key) == 1:
        return _parse_value(next(iter(by_key.values())))
    msg = f"{what} has no {_FEATURE_KEY!r} entry (keys: {sorted(by_key)})"
    raise _ParseError(msg)


def _parse_record(payload: bytes) -> _Row:
    features: list[bytes] = []
    labels: list[bytes] = []
    for field in _fields(payload):
        if field.wire_type == _LEN and field.number == _RECORD_FEATURES:
            features.append(field.payload)
        elif field.wire_type == _LEN and field.number == _RECORD_LABEL:
            labels.append(field.payload)
    if not features:
        msg = "no features"
        raise _ParseError(msg)
    values, keys, shape = _parse_map(features, "features")
    label = math.nan
    if labels:
        label_values, _, _ = _parse_map(labels, "label")
        if label_values.size != 1:
            msg = f"the label has {label_values.size} values; one number per record is supported"
            raise _ParseError(msg)
        label = float(label_values[0])
    width = int(np.prod(shape)) if shape.size else values.size
    if keys.size != 0 and keys.size != values.size:
        msg = f"a sparse tensor with {values.size} values but {keys.size} keys"
        raise _ParseError(msg)
    sparse = keys.size > 0 or (shape.size > 0 and values.size != width)
    if sparse:
        if not shape.size:
            msg = "a sparse tensor (with keys) needs a shape"
            raise _ParseError(msg)
        if keys.size and int(keys.max()) >= width:
            msg = f"key {int(keys.max())} is outside the tensor's shape {shape.tolist()}"
            raise _ParseError(msg)
    return _Row(values, keys if sparse else None, width, label)


def _assemble(
    rows: list[_Row], path: Path
) -> tuple[np.ndarray | scipy.sparse.csr_matrix, np.ndarray | None]:
    labels = np.array([row.label for row in rows], dtype=np.float64)
    y = None if np.isnan(labels).all() else labels
    if not rows:
        return np.zeros((0, 0)), None
    if all(row.keys is None for row in rows):
        width = rows[0].width
        for number, row in enumerate(rows, start=1):
            if row.width != width:
                msg = (
                    f"{path}: record {number} has {row.width} features but record 1 has {width}; "
                    "dense records of one file must have the same length"
                )
                raise InputError(msg)
        return np.vstack([row.values for row in rows]).reshape(len(rows), width), y
    width = max(row.width for row in rows)
    columns = [
        row.keys.astype(np.int64) if row.keys is not None else np.arange(row.values.size)
        for row in rows
    ]
    indptr = np.concatenate([[0], np.cumsum([row.values.size for row in rows])])
    matrix = scipy.sparse.csr_matrix(
        (np.concatenate([row.values for row in rows]), np.concatenate(columns), indptr),
        shape=(len(rows), width),
    )
    matrix.sum_duplicates()
    return matrix, y
