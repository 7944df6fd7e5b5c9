"""Whether a built-in algorithm can read its channels: content types and file extensions.

Checked when the request is validated, so that a channel no training job could read is refused
before anything runs. Conservative on purpose: only what is certainly unreadable is refused.

* The tabular algorithms read every channel with :func:`algorithms.data.load_channel`: CSV,
  libsvm, Parquet and RecordIO-protobuf (:data:`TABULAR_CONTENT_TYPES`, with the spellings
  ``load_channel`` accepts). Another ``ContentType`` is refused, and so is a channel holding
  images or ``.lst`` files, which no tabular reader can parse.
* image-classification reads images (with a ``.lst`` file, or one folder per class). A tabular
  ``ContentType`` is refused, and so is a channel that is nothing but tabular files (a CSV
  file, or a folder of them without a ``.lst`` file or class folders). Other content types
  (``application/x-image``, ``image/*``, MXNet RecordIO's ``application/x-recordio``) pass.
* semantic-segmentation reads JPEG images (train, validation) and PNG masks (their
  ``_annotation`` channels): as for image-classification, a tabular ``ContentType`` and a channel
  of nothing but tabular files are refused.
* object-detection reads images (train, validation) with one JSON annotation per image (their
  ``_annotation`` channels), or MXNet RecordIO (``.rec``) in train and validation: as for
  image-classification, a tabular ``ContentType`` and a channel of nothing but tabular files
  are refused.
* blazingtext reads plain text (``text/plain``, one sentence or example a line): no content
  type or file is refused here; the algorithm names a line it cannot read.
* deepar reads JSON Lines time series (``application/jsonlines``, gzipped or not): a tabular
  or image ``ContentType`` is refused; the algorithm names a record it cannot read.
* object2vec reads JSON Lines pairs (``application/jsonlines``, ``{"label", "in0", "in1"}`` a
  line) in train, validation and test: a tabular or image ``ContentType`` is refused; the
  algorithm names a record it cannot read. (Its auxiliary channel is not checked.)
* seq2seq reads RecordIO-protobuf token-id pairs (SageMaker's ``application/x-recordio-protobuf``)
  or our plain-text ``source<TAB>target`` lines in train and validation, and
  ``vocab.src.json`` / ``vocab.trg.json`` in vocab: as for blazingtext, no content type or file
  is refused here; the algorithm names a record, line or vocabulary file it cannot read.
* The data of every channel read by :func:`algorithms.data.load_channel` (the algorithms of
  :data:`LOAD_CHANNEL_READS`) is checked by :func:`algorithms.data.check_channel`, which reads
  the head of each file (1 MiB; files no larger are checked whole): a file that cannot be
  opened, a ``.parquet`` file that is not Parquet, a truncated RecordIO record, a ragged row or
  a label that is not a number among the first rows, a channel with no rows. A bad row deeper in
  a large file fails the training jobs instead, with a ClientError naming the file and line.
* Channels of a manifest (``S3DataType`` ManifestFile or AugmentedManifestFile) are skipped
  here: their ``S3Uri`` names a manifest, not the data, and :func:`tuner.channels.check_manifest`
  checks the files the manifest lists instead. Channels an algorithm does not read, and
  algorithms not in :data:`CHANNELS_READ`, are not checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from algorithms.images import IMAGE_EXTENSIONS
from tuner.spec.problems import DEFINITION, Problems

CHANNELS = f"{DEFINITION}.InputDataConfig"

#: The content types of the tabular readers, as shown in messages.
TABULAR_CONTENT_TYPES = (
    "text/csv",
    "text/libsvm",
    "application/x-parquet",
    "application/x-recordio-protobuf",
)
#: Every spelling :func:`algorithms.data.load_channel` takes (parameters such as
#: ``;label_size=1`` aside).
_TABULAR_SPELLINGS = frozenset(
    {
        *TABULAR_CONTENT_TYPES,
        "csv",
        "text/x-csv",
        "text/x-libsvm",
        "libsvm",
        "application/parquet",
        "parquet",
        "recordio-protobuf",
    }
)
#: Extensions of tabular files. ``.recordio`` is left out: MXNet's image RecordIO uses it too.
_TABULAR_EXTENSIONS = frozenset(
    {".csv", ".libsvm", ".svm", ".parquet", ".pq", ".pbr", ".protobuf"}
)
#: Extensions no tabular reader can parse: images and image lists.
_NOT_TABULAR_EXTENSIONS = frozenset({*IMAGE_EXTENSIONS, ".lst"})

TABULAR, IMAGES, TEXT = "tabular", "images", "text"
#: DeepAR's JSON Lines time series (gzipped or not).
JSON_LINES = "jsonlines"
#: Built-in algorithm -> (what it reads, the channels it reads).
CHANNELS_READ: dict[str, tuple[str, tuple[str, ...]]] = {
    **{
        name: (TABULAR, ("train", "validation", "test"))
        for name in (
            "factorization-machines",
            "ip-insights",
            "kmeans",
            "knn",
            "lda",
            "linear-learner",
            "ntm",
            "pca",
            "random-cut-forest",
            "xgboost",
        )
    },
    "image-classification": (IMAGES, ("train", "validation")),
    "blazingtext": (TEXT, ("train", "validation")),  # plain text: no content type refused
    "semantic-segmentation": (
        IMAGES,
        ("train", "validation", "train_annotation", "validation_annotation"),
    ),
    "deepar": (JSON_LINES, ("train", "test")),  # JSON Lines: tabular/image types refused
    "object-detection": (
        IMAGES,
        ("train", "validation", "train_annotation", "validation_annotation"),
    ),
    "object2vec": (JSON_LINES, ("train", "validation", "test")),  # JSON Lines pairs
    "seq2seq": (TEXT, ("train", "validation", "vocab")),  # RecordIO-protobuf or text pairs
}
#: Built-in algorithm -> the channels it reads with :func:`algorithms.data.load_channel`, whose
#: data :func:`algorithms.data.check_channel` checks. (ip-insights reads its own CSV of entity
#: and IP strings; image-classification and blazingtext are not tabular.)
LOAD_CHANNEL_READS: dict[str, tuple[str, ...]] = {
    "factorization-machines": ("train", "validation", "test"),
    "kmeans": ("train", "test"),
    "knn": ("train", "test"),
    "lda": ("train", "test"),
    "linear-learner": ("train", "validation", "test"),
    "ntm": ("train", "validation", "test"),
    "pca": ("train",),
    "random-cut-forest": ("train", "test"),
    "xgboost": ("train", "validation"),
}


def check_inputs(
    definition: Mapping[str, Any],
    algorithm: str | None,
    channels: Mapping[str, Path],
    problems: Problems,
) -> None:
    """Each channel ``algorithm`` reads has a content type and files it can read.

    ``channels`` are the channels whose data was found (name -> local path).
    """
    if algorithm not in CHANNELS_READ:
        return
    reads, names = CHANNELS_READ[algorithm]
    seen: set[str] = set()
    for i, channel in enumerate(definition.get("InputDataConfig") or []):
        if not isinstance(channel, Mapping) or channel.get("ChannelName") not in names:
            continue
        name = str(channel["ChannelName"])
        if name in seen:
            continue  # a repeated channel is reported by itself
        seen.add(name)
        source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        if source.get("S3DataType", "S3Prefix") != "S3Prefix":
            continue  # a manifest: the data files are listed in it
        where = f"{CHANNELS}[{i}] ({name!r})"
        content_type = channel.get("ContentType")
        if isinstance(content_type, str) and content_type.strip():
            problem = _content_type_problem(algorithm, reads, content_type)
            if problem:
                problems.add(f"{where}.ContentType", problem)
                continue
        if name in channels:
            problem = _files_problem(algorithm, reads, channels[name]) or _data_problem(
                algorithm, name, channels[name]
            )
            if problem:
                problems.add(f"{where}.DataSource.S3DataSource.S3Uri", problem)


def _data_problem(algorithm: str, name: str, path: Path) -> str | None:
    """What :func:`algorithms.data.check_channel` finds in a channel ``algorithm`` loads."""
    if name not in LOAD_CHANNEL_READS.get(algorithm, ()):
        return None
    # Here, not at the top: pandas and scipy are paid for only by a request with such a channel.
    from algorithms.base import InputError
    from algorithms.data import MissingDependencyError, check_channel

    try:
        check_channel(path)
    except MissingDependencyError:  # where the training jobs run may have it
        return None
    except InputError as exc:
        return f"{algorithm} cannot read the {name} channel: {exc}"
    return None


def _content_type_problem(algorithm: str, reads: str, content_type: str) -> str | None:
    tabular = content_type.split(";", 1)[0].strip().lower() in _TABULAR_SPELLINGS
    if reads == TABULAR and not tabular:
        return (
            f"{algorithm} cannot read {content_type!r}; it reads "
            + ", ".join(TABULAR_CONTENT_TYPES[:-1])
            + f" or {TABULAR_CONTENT_TYPES[-1]}"
        )
    if (
        algorithm == "object2vec"
        and reads == JSON_LINES
        and (tabular or content_type.strip().lower().startswith("image/"))
    ):
        return (
            f"{algorithm} reads JSON Lines pairs (application/jsonlines, a record "
            f'{{"label": ..., "in0": [...], "in1": [...]}} a line), not {content_type!r}'
        )
    if reads == JSON_LINES and (tabular or content_type.strip().lower().startswith("image/")):
        return (
            f"{algorithm} reads JSON Lines time series (application/jsonlines, gzipped or "
            f"not), not {content_type!r}"
        )
    if reads == IMAGES and tabular:
        return (
            f"{algorithm} reads images (application/x-image, image/jpeg, image/png), "
            f"not {content_type!r}"
        )
    return None


def _extension(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def _listing(files: list[Path]) -> str:
    shown = ", ".join(f.name for f in files[:3])
    return shown + (f" and {len(files) - 3} more" if len(files) > 3 else "")


def _files_problem(algorithm: str, reads: str, path: Path) -> str | None:
    if path.is_file():
        entries = [path]
    else:
        try:
            entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
        except OSError as exc:
            return f"cannot list the folder {path} ({exc.strerror or exc})"
    files = [p for p in entries if p.is_file()]
    if reads == TABULAR:
        unreadable = [f for f in files if _extension(f) in _NOT_TABULAR_EXTENSIONS]
        if unreadable:
            return (
                f"{algorithm} cannot read images or .lst files ({_listing(unreadable)}); "
                "it reads CSV, libsvm, Parquet or RecordIO-protobuf files"
            )
        return None
    if reads != IMAGES:
        return None
    only_tabular = files and len(files) == len(entries)
    if only_tabular and all(_extension(f) in _TABULAR_EXTENSIONS for f in files):
        if algorithm == "semantic-segmentation":
            return (
                f"{algorithm} cannot read {_listing(files)}: it reads images (JPEG) and their "
                "label masks (PNG)"
            )
        if algorithm == "object-detection":
            return (
                f"{algorithm} cannot read {_listing(files)}: it reads images with one JSON "
                "annotation each, or RecordIO (.rec) files"
            )
        return (
            f"{algorithm} cannot read {_listing(files)}: it reads images with a .lst file, "
            "or a folder with one sub-folder of images per class"
        )
    return None
