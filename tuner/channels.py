"""Manifest channels: SageMaker's ``ManifestFile`` and ``AugmentedManifestFile`` data sources.

A channel's ``S3DataSource.S3DataType`` says what its ``S3Uri`` names. ``S3Prefix`` (the
default) names the data itself: a file or a folder, handed to the algorithm as it is. The two
manifest types name a manifest, and SageMaker delivers what the manifest lists:

``ManifestFile``
    A JSON list whose first entry is ``{"prefix": PREFIX}`` and whose other entries are keys
    relative to it, ``[{"prefix": "s3://bucket/path/"}, "matrix_0.pbr", "matrix_1.pbr"]``: what
    the SageMaker Python SDK's ``record_set()`` writes (``.amazon.manifest``) for every
    first-party algorithm. Each file is ``PREFIX + key`` (string concatenation, as S3 keys are
    joined) and the channel holds exactly those files, at the key's path. In a local run the
    prefix is a local path or a ``file://`` URI; an ``s3://`` prefix is refused at validation,
    asking for a local copy. Every listed file must exist.

``AugmentedManifestFile``
    JSON Lines, one object per line; ``AttributeNames`` picks the attributes each record is
    made of, in order. An attribute whose name ends in ``-ref`` holds the path of a file whose
    contents are that part of the record (a local path or ``file://`` URI here, where SageMaker
    has an ``s3://`` URI); any other attribute is an inline value. How a record becomes the
    algorithm's input depends on who reads the channel:

    * image-classification (``train``, ``validation``): two attributes, an image (``-ref``)
      and its label, SageMaker's documented augmented-manifest image input
      (``["source-ref", "class"]``). The label is a class index (a number or a numeric string)
      or, for multi-label training, a list of 0/1 values, one per class (a JSON list or a
      string holding one). The channel becomes the images with a ``.lst`` file listing them,
      the algorithm's own image format. A ``<channel>_lst`` channel beside it is refused: the
      manifest carries the labels.
    * the record-based (tabular) algorithms, which read CSV, libsvm, Parquet and
      RecordIO-protobuf: either every attribute is a ``-ref`` to such a data file, and the
      channel holds those files, one per reference in manifest order; or no attribute is, and
      each line becomes one CSV row of its attributes' values in ``AttributeNames`` order
      (numbers, numeric strings or lists of them, flattened), so the first attribute is the
      label column as in any SageMaker CSV. A mix of both, a value that is not a number, rows
      of different widths, or a reference to an image are refused at validation.
    * anyone else (a Python callable, a channel no built-in reads): the channel is a folder with
      one JSON Lines file, ``augmented-manifest.jsonl``, holding each record's attributes in
      ``AttributeNames`` order, with ``-ref`` values turned into absolute local paths.

    SageMaker streams an augmented manifest in Pipe mode only; here the records are laid out as
    files whatever the ``InputMode`` and ``RecordWrapperType``, which are not required.

Relative paths inside a manifest (the prefix, ``-ref`` values) are taken against the manifest
file's folder, so a manifest and its data can move together. ``AttributeNames`` is required
for an augmented manifest and refused on any other channel.

``S3DataDistributionType`` ``ShardedByS3Key`` gives each instance of a training job its share of
the files; every training job here runs as one process, so a sharded channel, like a
``FullyReplicated`` one, delivers all of its files.

Validation (:func:`check_manifest`, called by :mod:`tuner.spec.data`) reads a manifest, checks
its shape and that every file it names exists, and returns the channel's :class:`Layout`;
nothing is written. When the job runs, :func:`trial_channels` lays each manifest channel out
once as a folder (symbolic links to the listed files, and the few files written for augmented
manifests) under ``<output root>/<tuning job>/input/data/<channel>``, SageMaker's
``/opt/ml/input/data/<channel>``, and the algorithms read folders as they always do.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import shutil
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from algorithms.images import IMAGE_EXTENSIONS
from tuner.errors import InvalidSpecError
from tuner.spec.inputs import CHANNELS_READ, IMAGES, TABULAR
from tuner.spec.problems import DEFINITION, Problems

MANIFEST, AUGMENTED = "ManifestFile", "AugmentedManifestFile"
MANIFEST_TYPES = frozenset({MANIFEST, AUGMENTED})
#: The files written into a channel laid out from an augmented manifest.
LST_NAME = "augmented-manifest.lst"
CSV_NAME = "augmented-manifest.csv"
JSONL_NAME = "augmented-manifest.jsonl"
CHANNELS = f"{DEFINITION}.InputDataConfig"
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")

_NOT_TABULAR = frozenset({*IMAGE_EXTENSIONS, ".lst"})
_TABULAR = frozenset({".csv", ".libsvm", ".svm", ".parquet", ".pq", ".pbr", ".protobuf"})


@dataclass(frozen=True)
class Layout:
    """What a manifest channel's folder holds: links to existing files and written files.

    ``links`` are ``(path in the folder, file it points to)``; ``files`` are ``(path in the
    folder, text)``. Paths in the folder are relative POSIX paths.
    """

    links: tuple[tuple[str, Path], ...] = ()
    files: tuple[tuple[str, str], ...] = ()


class _Refused(Exception):
    """One problem with a manifest: the field it is about and the message."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


# -- validation ---------------------------------------------------------------------------------


def check_manifest(
    channel: Mapping[str, Any],
    manifest: Path,
    *,
    algorithm: str | None,
    channel_names: Collection[str],
    where: str,
    problems: Problems,
) -> Layout | None:
    """The layout of the manifest channel ``channel`` whose manifest file is ``manifest``.

    ``algorithm`` is the built-in algorithm that reads the channel (None for user code),
    ``channel_names`` every channel of the request, ``where`` the channel's field path. A
    problem is added to ``problems`` (one per channel at most) and None returned; nothing is
    written.
    """
    source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
    kind = source.get("S3DataType")
    name = str(channel.get("ChannelName"))
    uri_field = f"{where}.DataSource.S3DataSource.S3Uri"
    try:
        if manifest.is_dir():
            raise _Refused(
                uri_field,
                f"{manifest} is a folder; a {kind}'s S3Uri names the manifest file itself",
            )
        try:
            text = manifest.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _Refused(uri_field, f"cannot read the manifest {manifest} ({exc})") from None
        reads = _reader(algorithm, name)
        if kind == MANIFEST:
            return _manifest_layout(text, manifest, reads, algorithm, name, channel_names, where)
        return _augmented_layout(
            text,
            manifest,
            source.get("AttributeNames"),
            reads,
            algorithm,
            name,
            channel_names,
            where,
        )
    except _Refused as refused:
        problems.add(refused.field, refused.message)
        return None


def _reader(algorithm: str | None, channel: str) -> str | None:
    """TABULAR or IMAGES when a built-in algorithm reads ``channel``, else None."""
    if algorithm not in CHANNELS_READ:
        return None
    reads, names = CHANNELS_READ[algorithm]
    return reads if channel in names else None


def _manifest_layout(
    text: str,
    manifest: Path,
    reads: str | None,
    algorithm: str | None,
    name: str,
    channel_names: Collection[str],
    where: str,
) -> Layout:
    field = f"{where}.DataSource.S3DataSource.S3Uri"
    shape = '[{"prefix": "file:///path/to/data/"}, "relative/key", ...]'
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Refused(
            field,
            f"the ManifestFile {manifest} is not JSON ({exc.msg} at line {exc.lineno} column "
            f"{exc.colno}); a ManifestFile is a JSON list: {shape}",
        ) from None
    first = entries[0] if isinstance(entries, list) and entries else None
    if not isinstance(first, dict) or "prefix" not in first:
        raise _Refused(
            field,
            f"the ManifestFile {manifest} must be a JSON list whose first entry is "
            f'{{"prefix": ...}}, followed by keys relative to it: {shape}',
        )
    prefix = first["prefix"]
    if not isinstance(prefix, str) or not prefix:
        raise _Refused(
            field, f"the ManifestFile {manifest}: its prefix must be a non-empty string"
        )
    if _resolve(prefix, manifest.parent) is None:
        raise _Refused(
            field,
            f"the ManifestFile {manifest} has the prefix {prefix!r}, which a local run cannot "
            "reach; copy the data to a local folder and give its path or a file:// URI as "
            "the prefix",
        )
    keys = entries[1:]
    if not keys:
        raise _Refused(field, f"the ManifestFile {manifest} lists no files after its prefix")
    head = prefix.rsplit("/", 1)[-1]  # a prefix not ending in "/" starts the files' names
    listed: list[tuple[str, Path]] = []
    missing: list[str] = []
    for number, key in enumerate(keys, start=2):
        if not isinstance(key, str) or not key:
            raise _Refused(
                field,
                f"the ManifestFile {manifest}: entry {number} must be a key (a non-empty "
                f"string), got {key!r}",
            )
        relative = PurePosixPath(head + key)
        if relative.is_absolute() or ".." in relative.parts or key.endswith("/"):
            raise _Refused(
                field,
                f"the ManifestFile {manifest}: entry {number} {key!r} must name a file under "
                f"the prefix {prefix!r}",
            )
        path = _resolve(prefix + key, manifest.parent)
        assert path is not None  # the prefix's scheme was checked
        if not path.is_file():
            missing.append(f"{key!r} ({path})")
            continue
        listed.append((relative.as_posix(), path.resolve()))
    if missing:
        shown = ", ".join(missing[:3]) + (
            f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        )
        raise _Refused(
            field,
            f"the ManifestFile {manifest} lists files that do not exist: {shown}",
        )
    _check_listed_files(listed, reads, algorithm, name, channel_names, field, manifest)
    if reads == TABULAR:
        listed = _flat(listed)
    return Layout(links=tuple(dict(listed).items()))


def _check_listed_files(
    listed: Sequence[tuple[str, Path]],
    reads: str | None,
    algorithm: str | None,
    name: str,
    channel_names: Collection[str],
    field: str,
    manifest: Path,
) -> None:
    """Whether ``algorithm`` can read the files a ManifestFile lists."""
    if reads == TABULAR:
        unreadable = [rel for rel, _ in listed if _extension(rel) in _NOT_TABULAR]
        if unreadable:
            raise _Refused(
                field,
                f"{algorithm} cannot read images or .lst files ({_listing(unreadable)}, listed "
                f"in {manifest}); it reads CSV, libsvm, Parquet or RecordIO-protobuf files",
            )
    elif reads == IMAGES:
        names = [rel for rel, _ in listed]
        if all(_extension(rel) in _TABULAR for rel in names):
            raise _Refused(
                field,
                f"{algorithm} cannot read {_listing(names)} (listed in {manifest}): it reads "
                "images with a .lst file, or one sub-folder of images per class",
            )
        top_lst = any("/" not in rel and _extension(rel) == ".lst" for rel in names)
        folders = any("/" in rel for rel in names)
        if not (top_lst or folders or f"{name}_lst" in channel_names):
            raise _Refused(
                field,
                f"{algorithm} needs labels for the images {manifest} lists: list a .lst file "
                f"beside them, list them in class folders (cat/1.jpg), or add a "
                f"'{name}_lst' channel",
            )


def _flat(listed: Sequence[tuple[str, Path]]) -> list[tuple[str, Path]]:
    """Files of a tabular channel all at the folder's top (the readers do not descend).

    A nested key's ``/`` become ``_``; a name taken by another file gets its place number.
    """
    out: dict[str, Path] = {}
    for number, (rel, path) in enumerate(listed):
        flat = rel.replace("/", "_")
        if flat in out and out[flat] != path:
            flat = f"{number:05d}-{flat}"
        out.setdefault(flat, path)
    return list(out.items())


def _augmented_layout(
    text: str,
    manifest: Path,
    attribute_names: Any,
    reads: str | None,
    algorithm: str | None,
    name: str,
    channel_names: Collection[str],
    where: str,
) -> Layout:
    uri_field = f"{where}.DataSource.S3DataSource.S3Uri"
    names_field = f"{where}.DataSource.S3DataSource.AttributeNames"
    if not attribute_names:
        raise _Refused(
            names_field,
            "is required for an AugmentedManifestFile: the attributes of each line that make "
            'a record, in order (e.g. ["source-ref", "class"])',
        )
    names = [str(n) for n in attribute_names]
    records: list[tuple[int, list[Any]]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        at = f"the AugmentedManifestFile {manifest}, line {lineno}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _Refused(
                uri_field,
                f"{at} is not JSON ({exc.msg}); an augmented manifest is JSON Lines, one "
                "object per line",
            ) from None
        if not isinstance(item, dict):
            raise _Refused(uri_field, f"{at} is not a JSON object (JSON Lines, one per line)")
        absent = [n for n in names if n not in item]
        if absent:
            raise _Refused(
                names_field,
                f"{at} has no attribute {absent[0]!r}; its attributes are "
                + ", ".join(repr(k) for k in item),
            )
        values = []
        for attribute in names:
            value = item[attribute]
            if attribute.endswith("-ref"):
                value = _reference(value, attribute, manifest, f"{at}: {attribute!r}", uri_field)
            values.append(value)
        records.append((lineno, values))
    if not records:
        raise _Refused(uri_field, f"the AugmentedManifestFile {manifest} has no records")
    refs = [n.endswith("-ref") for n in names]
    if reads == IMAGES:
        return _image_layout(records, names, refs, manifest, algorithm, name, channel_names, where)
    if reads == TABULAR:
        return _tabular_layout(records, names, refs, manifest, algorithm, uri_field, names_field)
    return _jsonl_layout(records, names)


def _reference(value: Any, attribute: str, manifest: Path, at: str, field: str) -> Path:
    if not isinstance(value, str) or not value:
        raise _Refused(field, f"{at} must be a path or file:// URI, got {value!r}")
    path = _resolve(value, manifest.parent)
    if path is None:
        raise _Refused(
            field,
            f"{at} is {value!r}, which a local run cannot reach; copy the file to a local "
            "folder and give its path or a file:// URI",
        )
    if not path.is_file():
        raise _Refused(field, f"{at} names {value!r}, but {path} does not exist")
    return path.resolve()


def _image_layout(
    records: Sequence[tuple[int, list[Any]]],
    names: Sequence[str],
    refs: Sequence[bool],
    manifest: Path,
    algorithm: str | None,
    name: str,
    channel_names: Collection[str],
    where: str,
) -> Layout:
    names_field = f"{where}.DataSource.S3DataSource.AttributeNames"
    uri_field = f"{where}.DataSource.S3DataSource.S3Uri"
    if len(names) != 2 or not refs[0] or refs[1]:
        raise _Refused(
            names_field,
            f"{algorithm} reads two attributes from an augmented manifest, the image (a '-ref' "
            f'attribute) and then its label, e.g. ["source-ref", "class"]; got {list(names)}',
        )
    if f"{name}_lst" in channel_names:
        raise _Refused(
            where,
            f"an augmented manifest carries the labels of its images; remove the "
            f"'{name}_lst' channel",
        )
    links: list[tuple[str, Path]] = []
    lines: list[str] = []
    for index, (lineno, (image, label)) in enumerate(records):
        at = f"the AugmentedManifestFile {manifest}, line {lineno}"
        if _extension(image.name) not in IMAGE_EXTENSIONS:
            raise _Refused(
                uri_field,
                f"{at}: {names[0]!r} names {image.name}, which is not an image ("
                + ", ".join(sorted(IMAGE_EXTENSIONS))
                + ")",
            )
        columns = _label_columns(label)
        if columns is None:
            raise _Refused(
                uri_field,
                f"{at}: the label {names[1]!r} must be a class index or a list of 0/1 values "
                f"(one per class), got {label!r}",
            )
        linked = f"{index:06d}-{image.name}"
        links.append((linked, image))
        lines.append(f"{index}\t" + "\t".join(columns) + f"\t{linked}\n")
    return Layout(links=tuple(links), files=((LST_NAME, "".join(lines)),))


def _label_columns(label: Any) -> list[str] | None:
    """A label as ``.lst`` columns: one class index, or one value per class."""
    if isinstance(label, str):
        stripped = label.strip()
        if stripped.startswith("["):
            try:
                label = json.loads(stripped)
            except json.JSONDecodeError:
                return None
        else:
            label = stripped
    values = label if isinstance(label, list) else [label]
    numbers = [_number(v) for v in values]
    if not numbers or any(n is None for n in numbers):
        return None
    return [_format(n) for n in numbers if n is not None]


def _tabular_layout(
    records: Sequence[tuple[int, list[Any]]],
    names: Sequence[str],
    refs: Sequence[bool],
    manifest: Path,
    algorithm: str | None,
    uri_field: str,
    names_field: str,
) -> Layout:
    if all(refs):
        links: list[tuple[str, Path]] = []
        for lineno, paths in records:
            for path in paths:
                if _extension(path.name) in _NOT_TABULAR:
                    raise _Refused(
                        uri_field,
                        f"the AugmentedManifestFile {manifest}, line {lineno}: {algorithm} "
                        f"cannot read {path.name}; it reads CSV, libsvm, Parquet or "
                        "RecordIO-protobuf files",
                    )
                links.append((f"{len(links):06d}-{path.name}", path))
        return Layout(links=tuple(links))
    if any(refs):
        raise _Refused(
            names_field,
            f"{algorithm} reads an augmented manifest either as '-ref' attributes naming data "
            "files, or as inline numbers forming one CSV row per line; "
            f"{list(names)} mixes the two",
        )
    rows: list[str] = []
    width: tuple[int, int] | None = None
    for lineno, values in records:
        row: list[str] = []
        for attribute, value in zip(names, values, strict=True):
            numbers = _numbers(value)
            if numbers is None:
                raise _Refused(
                    uri_field,
                    f"the AugmentedManifestFile {manifest}, line {lineno}: {attribute!r} must "
                    f"be a number or a list of numbers for {algorithm} (one CSV row per "
                    f"line), got {_short(value)}",
                )
            row.extend(_format(n) for n in numbers)
        if width is None:
            width = (len(row), lineno)
        elif len(row) != width[0]:
            raise _Refused(
                uri_field,
                f"the AugmentedManifestFile {manifest}, line {lineno} has {len(row)} values, "
                f"line {width[1]} has {width[0]}; every record must have as many",
            )
        rows.append(",".join(row) + "\n")
    return Layout(files=((CSV_NAME, "".join(rows)),))


def _jsonl_layout(records: Sequence[tuple[int, list[Any]]], names: Sequence[str]) -> Layout:
    lines = []
    for _, values in records:
        item = {
            n: str(v) if isinstance(v, Path) else v for n, v in zip(names, values, strict=True)
        }
        lines.append(json.dumps(item) + "\n")
    return Layout(files=((JSONL_NAME, "".join(lines)),))


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _numbers(value: Any) -> list[float] | None:
    values = value if isinstance(value, list) else [value]
    numbers = [_number(v) for v in values]
    if not numbers or any(n is None for n in numbers):
        return None
    return [n for n in numbers if n is not None]


def _format(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _resolve(uri: str, folder: Path) -> Path | None:
    """A path of a manifest: ``file://`` or plain, relative to ``folder``; None for a URL."""
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    elif _SCHEME.match(uri):
        return None
    path = Path(uri)
    with contextlib.suppress(RuntimeError):  # ~user of a user this machine lacks: as written
        path = path.expanduser()
    return path if path.is_absolute() else folder / path


def _extension(name: str) -> str:
    suffixes = [s.lower() for s in PurePosixPath(name).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(PurePosixPath(n).name for n in names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


# -- laying a channel out for the training jobs ---------------------------------------------------


def materialise(layout: Layout, folder: Path) -> Path:
    """Lay ``layout`` out as ``folder`` (replacing what was there); returns ``folder``.

    The folder is built beside its final place and moved there at the end, so a reader never
    sees half of it.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        for rel, target in layout.links:
            link = building / rel
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)
        for rel, text in layout.files:
            path = building / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        if folder.is_symlink() or folder.is_file():
            folder.unlink()
        elif folder.exists():
            shutil.rmtree(folder)
        building.rename(folder)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return folder


def trial_channels(
    definition: Mapping[str, Any],
    channels: Mapping[str, Path],
    algorithm: str | None,
    root: Path,
) -> dict[str, Path]:
    """``channels`` with each manifest channel laid out as a folder under ``root``.

    ``definition`` is the request's TrainingJobDefinition, ``channels`` the validated channel
    paths (a manifest channel's path is its manifest file). A channel of another type keeps its
    path and nothing is written for it. A manifest that no longer passes validation (its data
    moved since) raises InvalidSpecError.
    """
    out = dict(channels)
    entries = [c for c in definition.get("InputDataConfig") or [] if isinstance(c, Mapping)]
    names = [str(c.get("ChannelName")) for c in entries]
    problems = Problems()
    for i, channel in enumerate(entries):
        source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        name = names[i]
        if source.get("S3DataType") not in MANIFEST_TYPES or name not in channels:
            continue
        layout = check_manifest(
            channel,
            Path(channels[name]),
            algorithm=algorithm,
            channel_names=names,
            where=f"{CHANNELS}[{i}] ({name!r})",
            problems=problems,
        )
        if layout is not None:
            out[name] = materialise(layout, root / "input" / "data" / name)
    if problems:
        raise InvalidSpecError(problems.items)
    return out
