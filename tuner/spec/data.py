"""Validation of where data and artifacts are: InputDataConfig channels, S3OutputPath.

Relative data paths (``S3Uri`` without a scheme, or ``file://`` with a relative path) are
resolved against ``base_dir`` (the spec file's folder for ``tuner run``, the working directory
for the Python API), falling back to the working directory. ``s3://`` URIs are refused (no AWS
access from a local run).

A ``ManifestFile`` or ``AugmentedManifestFile`` channel's ``S3Uri`` names its manifest: the
manifest is read and checked here (its shape, that every file it names exists, that the
algorithm can read them) by :func:`tuner.channels.check_manifest`, without writing anything, and
the channel's path is the manifest file; :func:`tuner.channels.trial_channels` lays it out as a
folder when the job runs. ``S3DataDistributionType`` ``ShardedByS3Key`` is accepted: a training
job here is one instance, which gets every file of the channel.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.channels import AUGMENTED, MANIFEST_TYPES, check_manifest
from tuner.spec.algorithm import check_algorithm
from tuner.spec.problems import DEFINITION, Problems

CHANNELS = f"{DEFINITION}.InputDataConfig"
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def local_path(uri: str, base_dir: Path) -> Path | None:
    """A local path from ``file://`` or a plain path; None for schemes we cannot reach.

    A relative path is taken against ``base_dir`` (the spec file's folder) and, if nothing
    exists there, against the working directory.
    """
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    elif _SCHEME.match(uri):
        return None
    p = Path(uri)
    with contextlib.suppress(RuntimeError):  # ~user of no user: taken as written (no such file)
        p = p.expanduser()
    if p.is_absolute():
        return p
    candidate = base_dir / p
    return candidate if candidate.exists() or not (Path.cwd() / p).exists() else Path.cwd() / p


def check_channels(
    definition: Mapping[str, Any], *, builtin: bool, base_dir: Path, problems: Problems
) -> dict[str, Path]:
    """Channel name -> local path; a built-in algorithm needs a ``train`` channel."""
    channels: dict[str, Path] = {}
    entries = definition.get("InputDataConfig") or []
    names = [str(c["ChannelName"]) for c in entries if isinstance(c, dict) and "ChannelName" in c]
    # The algorithm that reads the channels, for manifests (its own problems are reported
    # by the algorithm check).
    algorithm = check_algorithm(definition, None, Problems()) if builtin else None
    for i, channel in enumerate(entries):
        if not isinstance(channel, dict) or "ChannelName" not in channel:
            continue
        name = channel["ChannelName"]
        where = f"{CHANNELS}[{i}] ({name!r})"
        if name in channels:
            problems.add(where, f"channel {name!r} is given twice")
            continue
        path = _channel_path(channel, where, base_dir, problems)
        if path is not None and _is_manifest(channel):
            try:
                layout = check_manifest(
                    channel,
                    path,
                    algorithm=algorithm,
                    channel_names=names,
                    where=where,
                    problems=problems,
                )
            except RuntimeError:  # Path.expanduser: "~user/..." of no such user
                problems.add(
                    f"{where}.DataSource.S3DataSource.S3Uri",
                    f"manifest {path}: a path in it starts with '~' of a user this machine lacks",
                )
                layout = None
            path = path if layout is not None else None
        if path is not None:
            channels[name] = path
    if builtin:
        if definition.get("InputDataConfig") is None:
            problems.add(CHANNELS, "is required for a built-in algorithm (a 'train' channel)")
        elif "train" not in channels and not problems.about("InputDataConfig"):
            problems.add(CHANNELS, "a 'train' channel is required")
    return channels


def _channel_path(
    channel: Mapping[str, Any], where: str, base_dir: Path, problems: Problems
) -> Path | None:
    source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
    if source.get("AttributeNames") and source.get("S3DataType") != AUGMENTED:
        problems.add(
            f"{where}.DataSource.S3DataSource.AttributeNames",
            f"is only for an {AUGMENTED} channel (S3DataType is "
            f"{source.get('S3DataType', 'S3Prefix')!r})",
        )
        return None
    uri = source.get("S3Uri")
    if not isinstance(uri, str):
        problems.add(
            f"{where}.DataSource", "needs S3DataSource.S3Uri (a local path or file:// URI)"
        )
        return None
    try:
        local = local_path(uri, base_dir)
        if local is None:
            problems.add(
                f"{where}.DataSource.S3DataSource.S3Uri",
                f"{uri!r} is not reachable from a local run; use a local path or a file:// URI",
            )
            return None
        if not local.exists():
            problems.add(
                f"{where}.DataSource.S3DataSource.S3Uri", f"no such file or folder: {local}"
            )
            return None
        return local.resolve()
    except (OSError, ValueError) as exc:  # a folder on the way that cannot be read; a NUL
        problems.add(f"{where}.DataSource.S3DataSource.S3Uri", f"cannot open {uri!r} ({exc})")
        return None


def _is_manifest(channel: Mapping[str, Any]) -> bool:
    source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
    return source.get("S3DataType") in MANIFEST_TYPES


def output_path(definition: Mapping[str, Any], base_dir: Path) -> Path | None:
    """A local S3OutputPath (model artifacts go there), else None (the default folder)."""
    uri = (definition.get("OutputDataConfig") or {}).get("S3OutputPath")
    return local_path(uri, base_dir) if isinstance(uri, str) else None
