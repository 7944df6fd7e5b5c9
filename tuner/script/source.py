"""The ``sagemaker_*`` values and the user's source directory: where it is, checks, its copy.

The SageMaker SDK JSON-encodes the values it adds (``"sagemaker_program": "\\"train.py\\""``),
and so do hand-written requests sometimes not; :func:`decode_value` reads both, as the
training toolkit does (``json.loads``, else the string itself). ``sagemaker_submit_directory``
is what the SDK uploads, a ``sourcedir.tar.gz``; here it may also be a local folder or a
``file://`` URI. An ``s3://`` location cannot be read by a local run, so it is refused with a
request for a local copy rather than downloaded with credentials the engine does not hold.

Each training job gets a copy of the source (the folder copied, or the archive extracted),
which is its working directory: a script that writes next to itself cannot disturb the user's
folder or a parallel trial. ``requirements.txt`` is installed only on request
(``--install-requirements``), once per job, into this environment: installing packages behind
the user's back is worse than a warning.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuner.spec.model import TuningJobSpec

PROGRAM = "sagemaker_program"
SUBMIT_DIR = "sagemaker_submit_directory"
REQUIREMENTS = "requirements.txt"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


def decode_value(value: Any) -> Any:
    """A hyperparameter as the toolkit reads it: JSON if it parses, else the string itself."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def resolve_submit_directory(value: Any, base_dir: Path | None = None) -> Path | None:
    """The local folder or archive ``value`` names (None for an s3:// or other remote URI).

    A relative path is taken against ``base_dir`` when it exists there, else the working
    directory (the rule of the data channels).
    """
    text = str(value)
    if text.startswith("file://"):
        text = text[len("file://") :]
    elif "://" in text:
        return None
    path = Path(text)
    with contextlib.suppress(RuntimeError):  # ~user of a user this machine lacks: as written
        path = path.expanduser()
    if path.is_absolute():
        return path
    if base_dir is not None and (base_dir / path).exists():
        return (base_dir / path).resolve()
    return (Path.cwd() / path).resolve()


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.endswith(ARCHIVE_SUFFIXES)


def _archive_members(path: Path) -> set[str]:
    with tarfile.open(path) as archive:
        return {str(PurePosixPath(m.name)) for m in archive.getmembers() if m.isfile()}


def source_problem(value: Any, program: Any, base_dir: Path | None = None) -> tuple[str, str]:
    """("", "") when the source and entry point are usable, else (which key, what is wrong)."""
    if not isinstance(value, str) or not value:
        return SUBMIT_DIR, (
            "is required in script mode: the local folder, file:// URI or sourcedir.tar.gz "
            f"holding {PROGRAM}"
        )
    source = resolve_submit_directory(value, base_dir)
    if source is None:
        return SUBMIT_DIR, (
            f"{value!r} is not on this machine, and a local run cannot read S3 or other remote "
            "storage: download it (the folder, or the sourcedir.tar.gz the SDK uploaded) and "
            "give its local path or a file:// URI"
        )
    if not source.exists():
        return SUBMIT_DIR, f"no such folder or file: {source}"
    if not (source.is_dir() or is_archive(source)):
        return SUBMIT_DIR, f"{source} must be a folder or a .tar.gz archive"
    if not isinstance(program, str) or not program:
        return PROGRAM, 'must name the entry point script (for example "train.py")'
    entry = PurePosixPath(program)
    if entry.is_absolute() or ".." in entry.parts:
        return PROGRAM, f"{program!r} must be a path inside {SUBMIT_DIR}"
    try:
        found = (
            (source / program).is_file()
            if source.is_dir()
            else str(entry) in _archive_members(source)
        )
    except (OSError, tarfile.TarError) as exc:
        return SUBMIT_DIR, f"cannot read the archive {source}: {exc}"
    if not found:
        return PROGRAM, f"no entry point {program!r} in {source}"
    return "", ""


def copy_source(source: Path, destination: Path) -> Path:
    """A fresh copy of the source folder or archive at ``destination`` (the trial's code)."""
    if destination.exists():
        shutil.rmtree(destination)
    if source.is_dir():
        shutil.copytree(source, destination, symlinks=True)
        return destination
    destination.mkdir(parents=True)
    with tarfile.open(source) as archive:
        if hasattr(tarfile, "data_filter"):  # no absolute paths, no escaping links
            archive.extractall(destination, filter="data")
        else:  # pragma: no cover - Python without extraction filters
            archive.extractall(destination)  # noqa: S202
    return destination


def has_requirements(source: Path) -> bool:
    if source.is_dir():
        return (source / REQUIREMENTS).is_file()
    try:
        return REQUIREMENTS in _archive_members(source)
    except (OSError, tarfile.TarError):
        return False


def install_requirements(source: Path, workdir: Path) -> None:
    """``pip install -r requirements.txt`` of the source into this environment."""
    code = source if source.is_dir() else copy_source(source, workdir / "requirements-source")
    command = [sys.executable, "-m", "pip", "install", "-r", str(code / REQUIREMENTS)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        from tuner.errors import TunerError

        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-10:])
        msg = f"pip could not install {REQUIREMENTS} of {source}:\n{tail}"
        raise TunerError(msg)


def prepare_job(spec: TuningJobSpec, *, install: bool = False) -> tuple[TuningJobSpec, list[str]]:
    """Once per job, before it runs: install the requirements if asked (of each script-mode
    definition, in a multi-algorithm job).

    Returns the spec to run (it remembers an installation, so trials do not warn) and the
    warnings to show the user.
    """
    import dataclasses

    script, warnings = _prepare_script(spec.script, install)
    spec = dataclasses.replace(spec, script=script)
    definitions = []
    for definition in spec.definitions:
        own, more = _prepare_script(definition.script, install)
        warnings += more
        definitions.append(dataclasses.replace(definition, script=own))
    return dataclasses.replace(spec, definitions=tuple(definitions)), warnings


def _prepare_script(
    script: Mapping[str, Any] | None, install: bool
) -> tuple[Mapping[str, Any] | None, list[str]]:
    if script is None or not script["source"]:
        return script, []
    source = Path(script["source"])
    if not has_requirements(source):
        return script, []
    if not install:
        return script, [
            f"{source} has a {REQUIREMENTS}, which is not installed: the script runs with this "
            f"environment's packages ({sys.executable}); install them yourself, or pass "
            "--install-requirements (install_requirements=True in Python)"
        ]
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tuner-requirements-") as tmp:
        install_requirements(source, Path(tmp))
    return {**script, "requirements_installed": True}, []
