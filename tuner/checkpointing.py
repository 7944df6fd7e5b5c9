"""Where a training job's checkpoints live, and what ``CheckpointConfig`` means here.

SageMaker's ``CheckpointConfig`` (``S3Uri``, optional ``LocalPath``) makes a container write
checkpoints to ``LocalPath`` (``/opt/ml/checkpoints``) and syncs them to ``S3Uri``; for a
tuning job each training job's checkpoints go under the URI in a folder named after the
training job, so trials never share one. Here:

* every training job has a checkpoint folder, ``<output>/<training job>/checkpoints``, that
  its attempts share: a retry (RetryStrategy) or the run after a coordinator crash resumes
  from the latest checkpoint, where AMT's retry starts the training job from scratch;
* ``S3Uri`` as an absolute local path or ``file://`` URI puts that folder at
  ``<S3Uri>/<training job>`` instead; an ``s3://`` URI cannot be reached from here, so the
  checkpoints stay in the output folder (the request runs unchanged; ``describe`` echoes it);
* ``LocalPath`` is accepted and not used as a folder: trials here share one file system, so a
  literal ``/opt/ml/checkpoints`` would be one folder for every training job;
* a definition with a ``CheckpointConfig`` asks the built-in algorithms to save a checkpoint
  after every epoch (they save none otherwise: per-epoch checkpoints cost disk and time).

A brand-new training job removes any checkpoint folder of its name first (left by an earlier
database with the same job name): it must start from scratch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tuner.spec.problems import DEFINITION, Problems

CHECKPOINT_CONFIG = "CheckpointConfig"
CHECKPOINTS_DIR = "checkpoints"


def _local_root(uri: str) -> Path | None:
    """The folder an ``S3Uri`` names on this machine, or None for an ``s3://`` URI."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        return None
    return Path(parsed.path if parsed.scheme == "file" else uri)


def check_checkpoint_config(definition: Mapping[str, Any], problems: Problems) -> None:
    """``CheckpointConfig.S3Uri``: an ``s3://`` URI, an absolute path or a ``file://`` URI."""
    config = definition.get(CHECKPOINT_CONFIG)
    if config is None:
        return
    field = f"{DEFINITION}.{CHECKPOINT_CONFIG}.S3Uri"
    uri = config.get("S3Uri") if isinstance(config, Mapping) else None
    if not isinstance(uri, str) or not uri.strip():
        problems.add(field, "is required: an s3:// URI, an absolute path or a file:// URI")
        return
    scheme = urlparse(uri).scheme
    if scheme not in ("", "s3", "file"):
        allowed = "an s3:// URI, an absolute path or a file:// URI"
        problems.add(field, f"must be {allowed}, got {uri!r}")
    elif scheme != "s3" and not Path(_local_root(uri) or "").is_absolute():
        problems.add(field, f"must be an absolute path or a file:// URI here, got {uri!r}")


def checkpoint_dir(definition: Mapping[str, Any], output_root: Path, training_job: str) -> Path:
    """The checkpoint folder of ``training_job`` (shared by all of its attempts)."""
    config = definition.get(CHECKPOINT_CONFIG) or {}
    root = _local_root(str(config["S3Uri"])) if config.get("S3Uri") else None
    if root is not None:
        return root / training_job
    return output_root / training_job / CHECKPOINTS_DIR


def checkpoint_each_epoch(definition: Mapping[str, Any]) -> bool:
    """Whether the built-in algorithms save a checkpoint after every epoch."""
    return definition.get(CHECKPOINT_CONFIG) is not None
