"""Checkpoints of a training job: saved by the training code, read back when it runs again.

A training job's checkpoints live in one folder of its own (SageMaker's
``CheckpointConfig.LocalPath``, ``/opt/ml/checkpoints`` in its containers; the tuner chooses
the folder, see ``tuner.checkpointing``). Only the latest checkpoint is kept: what a retried or
resumed job needs is where it was, not its history, and a per-epoch history of a large model
would fill the disk.

A checkpoint is either a Python object (a dict of tensors, optimizer state, random generator
state, the epoch ...), pickled, or a file or folder the training code wrote, copied in. Writes
are atomic (a temporary name, then a rename over the old one): a job killed while saving leaves
the previous checkpoint whole. pickle, not ``torch.save``: the state of xgboost and numpy models
is pickled as well, and torch tensors pickle through their own ``__reduce_ex__``; loading a
checkpoint is loading code the same training job wrote, the trust ``torch.load`` asks for.

Built-in algorithms call :func:`resume_state` before their first epoch and
:func:`save_epoch` after each one. Both accept any :class:`~algorithms.base.TrainingContext`:
one without checkpoint support (``load_checkpoint``/``save_checkpoint``) simply has none, and
``checkpoint_each_epoch`` (set when the training job definition has a ``CheckpointConfig``)
says whether per-epoch checkpoints are wanted, so jobs that did not ask pay nothing.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

STATE_FILE = "state.pkl"
FILES_DIR = "files"
META_FILE = "checkpoint.json"


class CheckpointStore:
    """The latest checkpoint of one training job, in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def save(self, state: Any) -> None:
        """Keep ``state`` (an object to pickle, or a ``Path``/``os.PathLike`` of a file or
        folder to copy; a ``str`` is a state like any other) as the latest checkpoint,
        replacing the one before once the new one is whole."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if isinstance(state, os.PathLike):
            self._save_path(Path(state))
            kind = "path"
        else:
            temporary = self.folder / f".{STATE_FILE}.{os.getpid()}"
            with temporary.open("wb") as handle:
                pickle.dump(state, handle, protocol=pickle.HIGHEST_PROTOCOL)
                handle.flush()
                os.fsync(handle.fileno())
            temporary.replace(self.folder / STATE_FILE)
            kind = "state"
        self._write_meta({"kind": kind})

    def _save_path(self, source: Path) -> None:
        if not source.exists():
            msg = f"save_checkpoint: {source} does not exist (give a file, a folder or a state)"
            raise FileNotFoundError(msg)
        staged = self.folder / f".{FILES_DIR}.{os.getpid()}"
        shutil.rmtree(staged, ignore_errors=True)
        if source.is_dir():
            shutil.copytree(source, staged)
        else:
            staged.mkdir()
            shutil.copy2(source, staged / source.name)
        old = self.folder / f".{FILES_DIR}.old.{os.getpid()}"
        target = self.folder / FILES_DIR
        if target.exists():
            target.replace(old)
        staged.replace(target)
        shutil.rmtree(old, ignore_errors=True)

    def _write_meta(self, meta: dict[str, Any]) -> None:
        temporary = self.folder / f".{META_FILE}.{os.getpid()}"
        temporary.write_text(json.dumps(meta))
        temporary.replace(self.folder / META_FILE)

    def load(self) -> Any | None:
        """The latest checkpoint (the object saved, or the ``Path`` of the copied file or
        folder), or None when there is none."""
        try:
            meta = json.loads((self.folder / META_FILE).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        if meta.get("kind") == "path":
            files = self.folder / FILES_DIR
            if not files.exists():
                return None
            entries = list(files.iterdir())
            return entries[0] if len(entries) == 1 and entries[0].is_file() else files
        try:
            with (self.folder / STATE_FILE).open("rb") as handle:
                return pickle.load(handle)  # noqa: S301 - this training job's own checkpoint
        except FileNotFoundError:
            return None

    def clear(self) -> None:
        """Remove every checkpoint (a new training job must not resume a stale one)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def resume_state(ctx: Any) -> Any | None:
    """The latest checkpoint ``ctx`` has for this training job, or None (no checkpoint, or a
    context without checkpoint support)."""
    load = getattr(ctx, "load_checkpoint", None)
    return load() if load is not None else None


def wants_epoch_checkpoints(ctx: Any) -> bool:
    """Whether this training job asked for a checkpoint after every epoch."""
    return bool(getattr(ctx, "checkpoint_each_epoch", False))


def save_epoch(ctx: Any, state: Any) -> None:
    """Save ``state`` as this training job's checkpoint when per-epoch checkpoints are wanted
    (build a costly state only after :func:`wants_epoch_checkpoints`)."""
    if wants_epoch_checkpoints(ctx):
        ctx.save_checkpoint(state)
