"""Loading a SageMaker data channel into numpy, the way the built-in algorithms read it.

A channel is a file or a folder of files. SageMaker's built-in algorithms read CSV with the label
in the first column and no header row (``text/csv``), libsvm (``text/libsvm``), Parquet
(``application/x-parquet``) and RecordIO-wrapped protobuf (``application/x-recordio-protobuf``,
see :mod:`algorithms.recordio`); gzip-compressed files are read as they are. Every algorithm needs
the same few things from a channel, ``(X, y)`` as numpy (or a scipy CSR matrix for libsvm), so the
reading lives here once, with errors that name the file and line a user has to fix.

The fast readers (pandas, scikit-learn's svmlight loader) do the work. Only when they fail or
find something suspicious (missing values, which may hide a short row) is a file scanned line by
line to say exactly what is wrong and where.

:func:`check_channel` runs the same readers over the first MiB of each file, so that a request
whose data no training job could read is refused before anything runs; :func:`load_channel`
still finds what lies deeper in a large file, when a training job reads it.
"""

from __future__ import annotations

import gzip
import io
import math
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal, TypeAlias, cast

import numpy as np
import pandas as pd
import scipy.sparse

from algorithms.base import InputError
from algorithms.recordio import MAGIC_BYTES as _RECORDIO_MAGIC
from algorithms.recordio import check_recordio_protobuf, read_recordio_protobuf

Format = Literal["csv", "libsvm", "parquet", "recordio-protobuf"]
#: A channel's features: dense for CSV and Parquet, CSR for libsvm and sparse RecordIO.
Features: TypeAlias = np.ndarray | scipy.sparse.csr_matrix

_CONTENT_TYPES: dict[str, Format] = {
    "text/csv": "csv",
    "csv": "csv",
    "text/x-csv": "csv",
    "text/libsvm": "libsvm",
    "text/x-libsvm": "libsvm",
    "libsvm": "libsvm",
    "application/x-parquet": "parquet",
    "application/parquet": "parquet",
    "parquet": "parquet",
    "application/x-recordio-protobuf": "recordio-protobuf",
    "recordio-protobuf": "recordio-protobuf",
}
_EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".libsvm": "libsvm",
    ".svm": "libsvm",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".pbr": "recordio-protobuf",  # the SageMaker Python SDK's name for its shards
    ".recordio": "recordio-protobuf",
    ".protobuf": "recordio-protobuf",
}
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_NO_HEADER_HINT = "(SageMaker CSV has no header row: the label is the first column of every row)"


class MissingDependencyError(ImportError):
    """An optional package needed for this input is not installed; the message says how to."""


def load_channel(path: Path | str, content_type: str | None = None) -> tuple[Features, np.ndarray]:
    """Features and labels of a data channel: a file, or a folder whose files are concatenated.

    Args:
        path: a file, or a folder; a folder's regular files that are not hidden (``.name``) are
            read in sorted order and their rows concatenated. Empty files are skipped.
        content_type: ``text/csv``, ``text/libsvm``, ``application/x-parquet`` or
            ``application/x-recordio-protobuf`` (parameters such as ``;label_size=1`` are
            ignored). ``None`` infers the format of each file from its extension (``.csv``,
            ``.libsvm``/``.svm``, ``.parquet``, ``.pbr``/``.recordio``, each optionally ``.gz``)
            or else from its content (the Parquet or RecordIO magic number, else the first
            non-empty line: ``idx:val`` tokens mean libsvm, commas CSV).

    Returns:
        ``(X, y)``: ``X`` is a float64 array, or a ``scipy.sparse.csr_matrix`` for libsvm whose
        feature indices are kept as written (index ``i`` is column ``i``) and for sparse
        RecordIO; ``y`` is a float64 vector of labels, the first column of every row (for
        RecordIO the record's label, NaN where a record has none).

    Raises:
        InputError: the channel is missing or empty, a file cannot be read (permissions, a
            broken gzip stream), the content type is unknown, the files mix formats, a file is
            not of its format (a ``.parquet`` file that is not Parquet), or a row is malformed
            (the message names the file and line).
        MissingDependencyError: Parquet input without ``pyarrow`` installed.
    """
    path = Path(path)
    fmt = _format_of_content_type(content_type) if content_type is not None else None
    files = _channel_files(path)
    parts: list[tuple[Path, Features, np.ndarray]] = []
    seen: dict[Format, Path] = {}
    for file in files:
        try:
            file_fmt = fmt or _infer_format(file)
            if file_fmt is None:  # an empty file: nothing to infer, nothing to read
                continue
            _check_one_format(path, seen, file_fmt, file)
            loaded = _READERS[file_fmt](file)
        except _UNREADABLE as exc:
            raise InputError(_cannot_read(file, exc)) from None
        if loaded is not None:
            parts.append((file, *loaded))
    if not parts:
        msg = f"channel {path} has no data rows"
        raise InputError(msg)
    return _concatenate(parts)


#: How much of a channel :func:`check_channel` reads: the head of each file, and of all of them.
CHECK_HEAD_BYTES = 1 << 20
CHECK_CHANNEL_BYTES = 8 << 20
#: What is read of each file once the channel's budget is spent (the format, the first rows).
_MIN_HEAD_BYTES = 4096


def check_channel(path: Path | str) -> None:
    """Refuse, cheaply, a channel that :func:`load_channel` certainly cannot read.

    For checking a request before any training job runs. Each file is read as ``load_channel``
    reads it (its format inferred the same way), but only its first :data:`CHECK_HEAD_BYTES`
    (and, once :data:`CHECK_CHANNEL_BYTES` have been read for the channel, only the first few
    KiB of each further file): a file that cannot be opened, a broken gzip stream, mixed
    formats, a Parquet file without Parquet's magic number or footer (or with a column that is
    not numeric), a RecordIO file without RecordIO framing, a malformed row among the first
    ones, a channel without any row. A file no longer than what is read is checked whole, so
    for small files this finds what ``load_channel`` would. What lies deeper in a larger file
    is found by ``load_channel`` when a training job reads it.

    Only what ``load_channel`` would refuse is refused: the rows checked are whole rows, and a
    problem the readers see only in part of a file is not reported.

    Raises:
        InputError: naming the channel, or the file and line (or record).
    """
    path = Path(path)
    try:
        files = _channel_files(path)
    except OSError as exc:  # a folder that cannot be listed
        raise InputError(_cannot_read(path, exc)) from None
    seen: dict[Format, Path] = {}
    budget = CHECK_CHANNEL_BYTES
    has_rows = False
    for file in files:
        size = max(min(CHECK_HEAD_BYTES, budget), _MIN_HEAD_BYTES)
        try:
            fmt = _infer_format(file)
            if fmt is None:
                continue
            _check_one_format(path, seen, fmt, file)
            has_rows = _check_head(file, fmt, size) or has_rows
        except (OSError, *_UNREADABLE) as exc:  # before any training job: whatever the cause
            raise InputError(_cannot_read(file, exc)) from None
        budget -= size
    if not has_rows:
        msg = f"channel {path} has no data rows"
        raise InputError(msg)


def _check_head(file: Path, fmt: Format, size: int) -> bool:
    """Raise InputError if the first ``size`` bytes of ``file`` cannot be read as ``fmt``.

    Returns whether the file has rows (True when what was read does not tell).
    """
    if fmt == "parquet":
        return _check_parquet(file)
    with _open_binary(file) as handle:
        head = handle.read(size + 1)
    whole = len(head) <= size
    if fmt == "recordio-protobuf":
        return check_recordio_protobuf(head[:size], str(file), complete=whole) > 0 or not whole
    data = head if whole else head[: head.rfind(b"\n") + 1]
    if not data:  # empty, or one line longer than the head: nothing to check cheaply
        return not whole
    if fmt == "csv":
        try:
            return _read_csv(file, data) is not None or not whole
        except InputError:
            if whole:
                raise
            # Part of a file: only a line the scan names is certain to be refused in the whole.
            _scan_csv(file, data)
            return True
    return _read_libsvm(file, data) is not None or not whole


def _check_one_format(path: Path, seen: dict[Format, Path], fmt: Format, file: Path) -> None:
    """Record ``file``'s format in ``seen``; InputError when the channel's files mix formats."""
    seen.setdefault(fmt, file)
    if len(seen) > 1:
        (fmt_a, file_a), (fmt_b, file_b) = list(seen.items())[:2]
        msg = (
            f"channel {path} mixes formats: {file_a.name} is {fmt_a} but {file_b.name} is "
            f"{fmt_b}; give the channel's content type or keep one format per channel"
        )
        raise InputError(msg)


#: What reading a file may raise that retrying cannot help: permissions, a broken gzip stream.
_UNREADABLE = (PermissionError, IsADirectoryError, gzip.BadGzipFile, EOFError, zlib.error)


def _cannot_read(file: Path, exc: BaseException) -> str:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    if isinstance(exc, (gzip.BadGzipFile, EOFError, zlib.error)):
        reason = f"a broken gzip stream: {reason}"
    return f"{file}: cannot be read ({reason})"


def write_csv(path: Path | str, X: Features, y: np.ndarray) -> None:
    """Write ``X`` and ``y`` as SageMaker CSV: label first, no header; gzip if ``path`` ends .gz.

    Missing values (NaN) are written as empty fields. Parent folders are created.
    """
    path = Path(path)
    dense = X.toarray() if isinstance(X, scipy.sparse.spmatrix | scipy.sparse.sparray) else X
    features = np.asarray(dense, dtype=np.float64)
    labels = np.asarray(y, dtype=np.float64).reshape(-1)
    if features.ndim != 2 or features.shape[0] != labels.shape[0]:
        msg = f"X must be 2-D with one row per label, got shape {features.shape} for {labels.size}"
        raise InputError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(np.column_stack([labels, features]))
    # float_format=None keeps Python's shortest round-trip repr, so values read back exactly.
    frame.to_csv(path, header=False, index=False, na_rep="", compression="infer")


def write_libsvm(path: Path | str, X: Features, y: np.ndarray) -> None:
    """Write ``X`` and ``y`` as libsvm, ``label idx:val ...`` with 0-based column indices.

    A sparse ``X`` is written entry by stored entry (explicit zeros included); for a dense ``X``
    zeros and NaNs are left out, as libsvm writers do. Gzip if ``path`` ends with ``.gz``.
    """
    path = Path(path)
    matrix = scipy.sparse.csr_matrix(X)
    if not scipy.sparse.issparse(X):
        dense = np.asarray(X, dtype=np.float64)
        matrix = scipy.sparse.csr_matrix(np.where(np.isnan(dense), 0.0, dense))
    labels = np.asarray(y, dtype=np.float64).reshape(-1)
    if matrix.shape[0] != labels.shape[0]:
        msg = f"X has {matrix.shape[0]} rows but y has {labels.size} labels"
        raise InputError(msg)
    matrix.sort_indices()
    lines = []
    for row, label in enumerate(labels):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        tokens = [_format_number(label)]
        tokens += [
            f"{col}:{_format_number(val)}"
            for col, val in zip(matrix.indices[start:end], matrix.data[start:end], strict=True)
        ]
        lines.append(" ".join(tokens) + "\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(lines).encode()
    if path.suffix == ".gz":
        text = gzip.compress(text)
    path.write_bytes(text)


# -- formats and files ---------------------------------------------------------------------------


def _format_of_content_type(content_type: str) -> Format:
    key = content_type.split(";", 1)[0].strip().lower()
    fmt = _CONTENT_TYPES.get(key)
    if fmt is None:
        msg = (
            f"content type {content_type!r} is not supported; use text/csv, text/libsvm, "
            "application/x-parquet or application/x-recordio-protobuf"
        )
        raise InputError(msg)
    return fmt


def _channel_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        msg = f"channel path {path} does not exist"
        raise InputError(msg)
    files = sorted(p for p in path.iterdir() if not p.name.startswith(".") and p.is_file())
    if not files:
        msg = f"channel folder {path} has no files"
        raise InputError(msg)
    return files


def _infer_format(file: Path) -> Format | None:
    """The format of ``file`` from its extension, else its content; None if it is empty."""
    suffixes = [s.lower() for s in file.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    if suffixes and suffixes[-1] in _EXTENSIONS:
        return _EXTENSIONS[suffixes[-1]]
    with file.open("rb") as handle:
        head = handle.read(4)
    if head == _PARQUET_MAGIC:
        return "parquet"
    with _open_binary(file) as handle:
        if handle.read(4) == _RECORDIO_MAGIC:
            return "recordio-protobuf"
    with _open_text(file) as text:
        for line in text:
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if any(":" in token for token in stripped.split()[1:]):
                return "libsvm"
            return "csv"
    return None


def _is_gzip(file: Path) -> bool:
    with file.open("rb") as handle:
        return handle.read(2) == _GZIP_MAGIC


def _open_text(file: Path) -> IO[str]:
    if _is_gzip(file):
        return gzip.open(file, "rt", encoding="utf-8", errors="replace")
    return file.open(encoding="utf-8", errors="replace")


def _open_binary(file: Path) -> IO[bytes]:
    if _is_gzip(file):
        return cast(IO[bytes], gzip.open(file, "rb"))
    return file.open("rb")


def _numbered_lines(file: Path, data: bytes | None = None) -> Iterator[tuple[int, str]]:
    """The lines of ``file`` (of ``data``, its first bytes, when given), numbered from 1."""
    if data is not None:
        yield from enumerate(io.StringIO(data.decode("utf-8", errors="replace")), start=1)
        return
    with _open_text(file) as text:
        yield from enumerate(text, start=1)


def _quoted(value: object, limit: int = 40) -> str:
    """``value``'s repr for a message, cut to about ``limit`` characters (a binary file's
    "field" may be a megabyte long)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _format_number(value: float) -> str:
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


# -- CSV -----------------------------------------------------------------------------------------


def _read_csv(file: Path, data: bytes | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows of a CSV file (of ``data``, its first lines, when given); None if it has none."""
    try:
        with _open_binary(file) if data is None else io.BytesIO(data) as handle:
            frame = pd.read_csv(handle, header=None, low_memory=False, skip_blank_lines=True)
    except pd.errors.EmptyDataError:
        return None
    except pd.errors.ParserError as exc:
        _scan_csv(file, data)  # names the line; anything it misses is reported as pandas saw it
        msg = f"{file}: {exc}".strip()
        raise InputError(msg) from exc
    except UnicodeDecodeError as exc:
        _scan_csv(file, data)  # the line whose bytes are not UTF-8 holds a field not a number
        msg = f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start} of a chunk)"
        raise InputError(msg) from None
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric or frame.isna().to_numpy().any():
        # A string cell, or NaNs that are either empty fields (allowed: missing values) or the
        # padding of a short row (not allowed); only a line scan tells which.
        _scan_csv(file, data)
    if non_numeric:  # cells Python reads as numbers but pandas does not, such as 1_000
        msg = f"{file}: column {non_numeric[0] + 1} is not numeric"
        raise InputError(msg)
    values = frame.to_numpy(dtype=np.float64)
    return np.ascontiguousarray(values[:, 1:]), values[:, 0].copy()


def _scan_csv(file: Path, data: bytes | None = None) -> None:
    """Raise an InputError naming the first malformed line of a CSV file (of ``data``)."""
    expected: int | None = None
    for lineno, line in _numbered_lines(file, data):
        text = line.strip()
        if not text:
            continue
        fields = [field.strip() for field in text.split(",")]
        if expected is None:
            expected = len(fields)
        elif len(fields) != expected:
            msg = (
                f"{file}, line {lineno}: {len(fields)} comma-separated values, but the first row "
                f"has {expected}; every row needs the label and the same features"
            )
            raise InputError(msg)
        for column, field in enumerate(fields, start=1):
            if field == "":
                if column == 1:
                    msg = f"{file}, line {lineno}: the label (first column) is empty"
                    raise InputError(msg)
                continue  # a missing feature value
            try:
                number = float(field)
            except ValueError:
                hint = f" {_NO_HEADER_HINT}" if expected is not None and lineno == 1 else ""
                shown = _quoted(field)
                msg = f"{file}, line {lineno}, column {column}: {shown} is not a number{hint}"
                raise InputError(msg) from None
            if column == 1 and math.isnan(number):
                shown = _quoted(field)
                msg = f"{file}, line {lineno}: the label (first column) is missing ({shown})"
                raise InputError(msg)


# -- libsvm --------------------------------------------------------------------------------------


def _read_libsvm(
    file: Path, data: bytes | None = None
) -> tuple[scipy.sparse.csr_matrix, np.ndarray] | None:
    """The rows of a libsvm file (of ``data``, its first lines, when given); None if none."""
    from sklearn.datasets import load_svmlight_file

    if data is None:
        with _open_binary(file) as handle:
            data = handle.read()
    if not data.strip():
        return None
    try:
        X, y = load_svmlight_file(io.BytesIO(data), zero_based=True, dtype=np.float64)
    except ValueError:
        # Malformed, or merely unsorted/duplicate indices, which the fast loader refuses:
        # parse by hand, raising with the line for a real error.
        return _parse_libsvm(file, data)
    if X.shape[0] == 0:
        return None
    return scipy.sparse.csr_matrix(X), np.asarray(y, dtype=np.float64)


def _parse_libsvm(
    file: Path, data: bytes | None = None
) -> tuple[scipy.sparse.csr_matrix, np.ndarray] | None:
    """A slow, line-by-line libsvm reader that says exactly which line is malformed.

    Feature indices may come in any order within a line (as dmlc's and XGBoost's readers take
    them); an index given twice on one line is refused.
    """
    labels: list[float] = []
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for lineno, line in _numbered_lines(file, data):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        tokens = text.split()
        where = f"{file}, line {lineno}"
        try:
            label = float(tokens[0])
        except ValueError:
            msg = f"{where}: label {_quoted(tokens[0])} is not a number"
            raise InputError(msg) from None
        row = len(labels)
        labels.append(label)
        seen: set[int] = set()
        for token in tokens[1:]:
            index_text, sep, value_text = token.partition(":")
            if index_text == "qid":
                continue
            index = int(index_text) if sep and index_text.isdigit() else -1
            if index < 0:
                msg = f"{where}: {_quoted(token)} is not of the form index:value (index >= 0)"
                raise InputError(msg)
            try:
                value = float(value_text)
            except ValueError:
                msg = f"{where}: the value in {_quoted(token)} is not a number"
                raise InputError(msg) from None
            if index in seen:
                msg = f"{where}: feature index {index} appears twice"
                raise InputError(msg)
            seen.add(index)
            rows.append(row)
            cols.append(index)
            vals.append(value)
    if not labels:
        return None
    shape = (len(labels), max(cols, default=-1) + 1)
    matrix = scipy.sparse.csr_matrix((vals, (rows, cols)), shape=shape, dtype=np.float64)
    matrix.sort_indices()
    return matrix, np.asarray(labels, dtype=np.float64)


# -- Parquet -------------------------------------------------------------------------------------


def _read_parquet(file: Path) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        frame = pd.read_parquet(file)
    except ImportError as exc:
        msg = f"reading Parquet ({file}) needs pyarrow: pip install pyarrow ({exc})"
        raise MissingDependencyError(msg) from exc
    except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid, ArrowIOError
        if not _check_parquet_magic(file):  # else says which bytes are wrong
            return None  # empty, as empty files of the other formats are
        raise InputError(_not_parquet(file, exc)) from None
    if frame.shape[0] == 0:
        return None
    _check_parquet_columns(file, frame)
    values = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.flatnonzero(np.isnan(values[:, 0]))
    if missing.size:
        msg = f"{file}: row {missing[0] + 1} has no label (the first column is missing)"
        raise InputError(msg)
    return np.ascontiguousarray(values[:, 1:]), values[:, 0].copy()


def _check_parquet(file: Path) -> bool:
    """Raise InputError unless ``file`` has Parquet's framing, a footer and numeric columns,
    reading only its first and last bytes and its footer; returns whether it has rows."""
    if not _check_parquet_magic(file):
        return False
    try:
        import pyarrow.parquet as pq
    except ImportError:  # the training job says how to install it
        return True
    try:
        metadata = pq.read_metadata(file)
        # An empty table of the file's schema: the columns pandas would make, index restored.
        frame = metadata.schema.to_arrow_schema().empty_table().to_pandas()
    except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid, ArrowIOError
        raise InputError(_not_parquet(file, exc)) from None
    if metadata.num_rows == 0:
        return False
    _check_parquet_columns(file, frame)
    return True


def _check_parquet_magic(file: Path) -> bool:
    """InputError unless ``file`` starts and ends with Parquet's magic number ``PAR1``; False
    for an empty file (skipped, as empty files of the other formats are)."""
    with file.open("rb") as handle:
        head = handle.read(4)
        size = handle.seek(0, io.SEEK_END)
        handle.seek(max(size - 4, 0))
        tail = handle.read(4)
    if size == 0:
        return False
    if size < 12 or head != _PARQUET_MAGIC or tail != _PARQUET_MAGIC:
        msg = (
            f"{file}: not a Parquet file: Parquet starts and ends with {_PARQUET_MAGIC!r}, this "
            f"file ({size} bytes) starts with {head!r} and ends with {tail!r}"
        )
        raise InputError(msg)
    return True


def _not_parquet(file: Path, exc: BaseException) -> str:
    return f"{file}: not a readable Parquet file ({type(exc).__name__}: {exc})"


def _check_parquet_columns(file: Path, frame: pd.DataFrame) -> None:
    if frame.shape[1] == 0:
        msg = f"{file}: no columns; the first column must be the label"
        raise InputError(msg)
    for position, name in enumerate(frame.columns, start=1):
        column = frame[name]
        if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
            msg = f"{file}: column {position} ({_quoted(name)}) is {column.dtype}, not numeric"
            raise InputError(msg)


# -- RecordIO-protobuf ---------------------------------------------------------------------------


def _read_recordio(file: Path) -> tuple[Features, np.ndarray] | None:
    X, y = read_recordio_protobuf(file)
    if X.shape[0] == 0:
        return None
    labels = np.full(X.shape[0], np.nan) if y is None else y
    return X, labels


_READERS = {
    "csv": _read_csv,
    "libsvm": _read_libsvm,
    "parquet": _read_parquet,
    "recordio-protobuf": _read_recordio,
}


# -- concatenation -------------------------------------------------------------------------------


def _concatenate(parts: list[tuple[Path, Features, np.ndarray]]) -> tuple[Features, np.ndarray]:
    y = np.concatenate([labels for _, _, labels in parts])
    if len(parts) == 1:
        return parts[0][1], y
    if all(scipy.sparse.issparse(X) for _, X, _ in parts):
        width = max(X.shape[1] for _, X, _ in parts)
        blocks = [_widen(X, width) for _, X, _ in parts]
        return scipy.sparse.vstack(blocks, format="csr"), y
    if any(scipy.sparse.issparse(X) for _, X, _ in parts):
        # Only RecordIO files can be dense in one file and sparse in the next.
        width = max(X.shape[1] for _, X, _ in parts)
        blocks = [_widen(scipy.sparse.csr_matrix(X), width) for _, X, _ in parts]
        return scipy.sparse.vstack(blocks, format="csr"), y
    first_file, first, _ = parts[0]
    for file, X, _ in parts[1:]:
        if X.shape[1] != first.shape[1]:
            msg = (
                f"{file} has {X.shape[1] + 1} columns but {first_file} has {first.shape[1] + 1}; "
                "files of one channel must have the same columns"
            )
            raise InputError(msg)
    return np.vstack([X for _, X, _ in parts]), y


def _widen(X: scipy.sparse.csr_matrix, width: int) -> scipy.sparse.csr_matrix:
    """``X`` with ``width`` columns (libsvm files of one channel may end at different indices)."""
    if X.shape[1] == width:
        return X
    return scipy.sparse.csr_matrix((X.data, X.indices, X.indptr), shape=(X.shape[0], width))
