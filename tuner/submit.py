"""``tuner submit``: run a tuning job on a Ray cluster through Ray's Jobs API.

::

    tuner submit SPEC --address http://HEAD:8265 [--db URL] [--name NAME] [--follow]
    tuner submit --status JOB_ID | --logs JOB_ID | --stop JOB_ID  [--address ...]

What happens. The spec is validated here first (a bad spec is refused before anything is
shipped). Then the *current working directory* is zipped and uploaded to the cluster as the
job's ``runtime_env`` ``working_dir`` and the head node runs, inside that copy::

    python -m tuner.cli run SPEC --executor ray --ray-address auto --db URL [--name NAME]

so the coordinator runs on the head node and every training job runs as a Ray actor on the
cluster's nodes (``--executor local`` would run them as subprocesses of the head node).
``--follow`` streams the coordinator's output: one progress line every ~2 s, then the outcome.
Interrupting ``--follow`` stops following, not the job; ``--stop JOB_ID`` stops the job.

What ships. The working directory, minus ``.git``, virtual environments, ``__pycache__``,
database files (``*.db``), ``tuner-output`` and tool caches (:data:`EXCLUDES`), minus what its
``.gitignore`` and ``.rayignore`` files exclude. The spec must lie inside the working directory
and is referred to by its relative path there, so its relative data paths (``data/train.csv``)
resolve on the cluster as they do here. Before uploading, the files the job needs (the spec and
its local data channels) are checked against what would ship: when only ``.gitignore`` keeps
data out (a common case: ``data/`` is git-ignored), the directory is shipped without applying
``.gitignore``; when ``.rayignore`` or :data:`EXCLUDES` keeps it out, the submission is refused
with the paths named. Data channels given as absolute paths outside the working directory are
not shipped: they must exist at the same path on the cluster (a shared file system). The
cluster's Ray caps the zipped package (512 MiB in Ray 2.60, less in older releases); a larger
directory is refused by Ray, and the error names the size and the largest files. Submit from
a small folder holding the spec and its data, or list big files in ``.rayignore``.

Where the results are. The coordinator writes to the database given with ``--db`` *as seen
from the head node*. Without ``--db`` that is ``sqlite:///$HOME/tuner.db`` with ``$HOME``
expanded on the head node, so the results live in a SQLite file there. To get them back:

* give a shared database instead, e.g. ``--db postgresql://user:pw@dbhost/tuner``, and read it
  from anywhere: ``tuner describe NAME --db postgresql://...`` (likewise ``trials``, ``best``,
  ``list``; ``tuner stop NAME --db ...`` stops the tuning job gracefully);
* or copy the file once the job has ended, ``ray rsync-down cluster.yaml '~/tuner.db' .`` (a
  cluster made with the cluster launcher) or ``scp HEAD:tuner.db .``, then
  ``tuner describe NAME --db ./tuner.db``.

Model artifacts go where the spec's ``OutputDataConfig.S3OutputPath`` points when it is a local
path, else to ``tuner-output`` inside the job's copy of the working directory on the head node,
which Ray may delete once the job has ended: point ``S3OutputPath`` at a shared folder to keep
them.

What the cluster needs. This package and its dependencies installed in the Python that ``python``
means on the cluster's nodes (the image of the cluster, or ``pip install`` on each node), and
the same Ray version as here. The working directory ships code on ``sys.path`` too, so
submitting from a checkout of this project runs that checkout's ``tuner`` on the cluster, but
its third-party dependencies (numpy, xgboost, sqlalchemy, ...) must be installed there.

Nothing here needs ``ray.init()``: the Jobs API is plain HTTP to the head node's dashboard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shlex
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tuner.errors import MissingDependencyError, TunerError
from tuner.spec.loading import load_request_file, load_spec
from tuner.spec.model import TuningJobSpec
from tuner.spec.validation import spec_from_request

log = logging.getLogger(__name__)

#: Left out of the uploaded working directory, on top of ``.gitignore`` and ``.rayignore``
#: (gitignore patterns, matched at any depth).
EXCLUDES = [
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    "__pycache__",
    "*.pyc",
    "*.db",
    "*.db-wal",
    "*.db-shm",
    "*.db-journal",
    "tuner-output",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    ".tox",
    ".ipynb_checkpoints",
    "node_modules",
    "*.egg-info",
]

#: Ray job states after which nothing more happens.
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})

#: The database the coordinator uses when none is given: a SQLite file in the home folder of
#: the head node. ``$HOME`` is expanded by the shell that runs the entrypoint there.
DEFAULT_CLUSTER_DB = "sqlite:///$HOME/tuner.db"

_FALLBACK_MAX_PACKAGE = 100 * 1024 * 1024


class SubmitError(TunerError):
    """A submission was refused, or the Ray cluster could not be reached or asked."""


# --------------------------------------------------------------------------------------------
# The Jobs API client
# --------------------------------------------------------------------------------------------
def _client(address: str) -> Any:
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError as exc:
        msg = "tuner submit needs Ray's job client: pip install 'tuner[ray]' (or 'ray[default]')"
        raise MissingDependencyError(msg) from exc
    try:
        return JobSubmissionClient(address, headers=_auth_headers())
    except (ConnectionError, RuntimeError, ValueError, OSError) as exc:
        msg = (
            f"cannot reach the Ray Jobs API at {address}: {exc}\n"
            "Give the head node's dashboard address (http://HEAD:8265; --address or $RAY_ADDRESS)"
            " of a cluster started with Ray's dashboard (pip install 'ray[default]')."
        )
        raise SubmitError(msg) from exc


def _auth_headers() -> dict[str, str]:
    """Ray's cluster token as an HTTP header, when there is one here.

    Recent Ray releases (2.60 here) start a cluster with token authentication when a token
    exists where it starts (``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH`` or
    ``~/.ray/auth_token``; ``ray.init`` creates the latter). Ray's job client
    sends it only when ``RAY_AUTH_MODE=token`` is set in this process, while ``ray.init`` of an
    existing cluster sends it whenever a token exists: this does the latter, unless
    ``RAY_AUTH_MODE=disabled``. A cluster without token authentication ignores the header.
    """
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return {}
    try:
        from ray._raylet import AuthenticationTokenLoader  # type: ignore[attr-defined]

        loader = AuthenticationTokenLoader.instance()
        if not loader.has_token(ignore_auth_mode=True):
            return {}
        return dict(loader.get_token_for_http_header())
    except Exception:  # noqa: BLE001 - a Ray without token support: no header
        return {}


@contextlib.contextmanager
def _asking(address: str, job_id: str) -> Iterator[None]:
    """Turn the client's errors about one job into SubmitError (the CLI prints those)."""
    try:
        yield
    except (RuntimeError, ConnectionError, OSError) as exc:
        msg = f"Ray job {job_id} at {address}: {exc}"
        raise SubmitError(msg) from exc


# --------------------------------------------------------------------------------------------
# What ships
# --------------------------------------------------------------------------------------------
def _max_package_bytes() -> int:
    try:
        from ray._private.runtime_env.packaging import GCS_STORAGE_MAX_SIZE
    except ImportError:  # pragma: no cover - Ray moved it
        return _FALLBACK_MAX_PACKAGE
    return int(GCS_STORAGE_MAX_SIZE)


def _shipped_files(workdir: Path, *, include_gitignore: bool) -> dict[Path, int] | None:
    """The files Ray would upload (relative path -> size), by Ray's own matching rules.

    None when this Ray has no such helpers (they are private); the checks are then skipped and
    Ray's own errors are all there is.
    """
    try:
        from ray._private import ray_constants
        from ray._private.runtime_env.packaging import _dir_travel, _get_excludes
    except ImportError:  # pragma: no cover - Ray moved them
        return None
    excludes = ray_constants.get_runtime_env_default_excludes() + EXCLUDES
    files: dict[Path, int] = {}

    def collect(path: Path) -> None:
        if path.is_file():
            files[path.relative_to(workdir)] = path.stat().st_size

    quiet = logging.getLogger("tuner.submit.ray_packaging")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    try:
        _dir_travel(
            workdir,
            [_get_excludes(workdir, excludes)],
            collect,
            include_gitignore=include_gitignore,
            logger=quiet,
        )
    except (TypeError, AttributeError):  # pragma: no cover - a private signature changed
        return None
    return files


def _needed_files(
    spec: TuningJobSpec, spec_path: Path, workdir: Path
) -> tuple[set[Path], list[Path]]:
    """(files under workdir the job reads, channel paths outside workdir)."""
    needed = {spec_path.relative_to(workdir)}
    outside = []
    for channel in spec.channels.values():
        path = Path(channel).resolve()
        try:
            rel = path.relative_to(workdir)
        except ValueError:
            outside.append(path)
            continue
        if path.is_dir():
            needed.update(p.relative_to(workdir) for p in path.rglob("*") if p.is_file())
        else:
            needed.add(rel)
    return needed, outside


def _size(n: float) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / (1024 * 1024):.1f} MiB"


def _plan_upload(spec: TuningJobSpec, spec_path: Path, workdir: Path) -> tuple[bool, str]:
    """Check the job's files ship; returns (apply .gitignore?, a line on what ships)."""
    needed, outside = _needed_files(spec, spec_path, workdir)
    for path in outside:
        log.warning(
            "data channel %s is outside the working directory %s and does not ship: "
            "it must exist at that path on the cluster's nodes",
            path,
            workdir,
        )
    shipped = _shipped_files(workdir, include_gitignore=True)
    if shipped is None:
        return True, f"the working directory {workdir}"
    include_gitignore = True
    missing = needed - shipped.keys()
    if missing:
        shipped = _shipped_files(workdir, include_gitignore=False) or {}
        still = needed - shipped.keys()
        if still:
            names = ", ".join(sorted(str(p) for p in still)[:10])
            msg = (
                f"these files the job needs would not ship to the cluster: {names}. "
                f"They are excluded by a .rayignore file or by tuner's excludes "
                f"({', '.join(EXCLUDES)}); rename or move them, or un-ignore them."
            )
            raise SubmitError(msg)
        include_gitignore = False
        log.warning(
            ".gitignore excludes files the job needs (%s); shipping %s without .gitignore",
            ", ".join(sorted(str(p) for p in missing)[:5]),
            workdir,
        )
    total = sum(shipped.values())
    largest = sorted(shipped.items(), key=lambda kv: -kv[1])[:5]
    summary = (
        f"the working directory {workdir} ({len(shipped)} files, {_size(total)} before "
        f"compression; largest: {', '.join(f'{p} {_size(s)}' for p, s in largest) or '-'})"
    )
    limit = _max_package_bytes()
    if total > limit // 2:
        log.warning("shipping %s; Ray refuses packages over %s zipped", summary, _size(limit))
    return include_gitignore, summary


@contextlib.contextmanager
def _gitignore_applied(apply: bool) -> Iterator[None]:
    """Ray's client reads whether to apply .gitignore from an environment variable."""
    name = "RAY_RUNTIME_ENV_IGNORE_GITIGNORE"
    if apply:
        yield
        return
    before = os.environ.get(name)
    os.environ[name] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


# --------------------------------------------------------------------------------------------
# The API the CLI calls
# --------------------------------------------------------------------------------------------
def entrypoint_for(
    spec_rel: Path | str, *, db: str | None, name: str | None, executor: str = "ray"
) -> str:
    """The shell command the head node runs (``$HOME`` in the default database expands there)."""
    parts = ["python", "-m", "tuner.cli", "run", shlex.quote(Path(spec_rel).as_posix())]
    parts += ["--executor", shlex.quote(executor)]
    if executor == "ray":
        parts += ["--ray-address", "auto"]
    parts += ["--db", shlex.quote(db) if db else f'"{DEFAULT_CLUSTER_DB}"']
    if name:
        parts += ["--name", shlex.quote(name)]
    return " ".join(parts)


def submit_job(
    spec: str | Path,
    *,
    address: str,
    db: str | None = None,
    name: str | None = None,
    executor: str = "ray",
) -> str:
    """Ship the working directory and run ``spec``'s tuning job on the cluster at ``address``.

    Returns the Ray job's submission id, ``tuner-<tuning job name>-<6 hex digits>``.

    Raises:
        InvalidSpecError: the spec is invalid (nothing was shipped).
        SubmitError: the spec is outside the working directory, files it needs would not ship,
            the cluster cannot be reached, or Ray refused the job (e.g. the package is too big).
    """
    from tuner.pools.factory import EXECUTORS

    if executor not in EXECUTORS:
        msg = f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}"
        raise ValueError(msg)
    spec_path = Path(spec)
    if name:
        request = load_request_file(spec_path)
        request["HyperParameterTuningJobName"] = name
        parsed = spec_from_request(request, base_dir=spec_path.resolve().parent)
    else:
        parsed = load_spec(spec_path)
    workdir = Path.cwd().resolve()
    spec_abs = spec_path.resolve()
    try:
        spec_rel = spec_abs.relative_to(workdir)
    except ValueError:
        msg = (
            f"the spec {spec} ({spec_abs}) is not inside the working directory {workdir}, "
            "which is what ships to the cluster; run tuner submit from a folder that holds "
            "the spec and its data"
        )
        raise SubmitError(msg) from None
    include_gitignore, shipping = _plan_upload(parsed, spec_abs, workdir)
    client = _client(address)
    entrypoint = entrypoint_for(spec_rel, db=db, name=name, executor=executor)
    submission_id = f"tuner-{parsed.name}-{secrets.token_hex(3)}"
    runtime_env = {
        "working_dir": str(workdir),
        "excludes": list(EXCLUDES),
        "env_vars": {"PYTHONUNBUFFERED": "1"},
    }
    log.info("submitting %s to %s: %s (shipping %s)", submission_id, address, entrypoint, shipping)
    try:
        with _gitignore_applied(include_gitignore):
            return str(
                client.submit_job(
                    entrypoint=entrypoint,
                    submission_id=submission_id,
                    runtime_env=runtime_env,
                    metadata={"tuner_job": parsed.name, "tuner_spec": spec_rel.as_posix()},
                )
            )
    except (RuntimeError, ValueError, ConnectionError, OSError) as exc:
        msg = (
            f"Ray at {address} refused the job while shipping {shipping}: {exc}\n"
            "To ship less, submit from a folder holding only the spec and its data, or list "
            "large files in a .rayignore file."
        )
        raise SubmitError(msg) from exc


def job_status(job_id: str, *, address: str) -> str:
    """The Ray job's status: PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED."""
    client = _client(address)
    with _asking(address, job_id):
        status = client.get_job_status(job_id)
    return str(getattr(status, "value", status))


def job_logs(job_id: str, *, address: str) -> str:
    """Everything the job's entrypoint (the coordinator) has written so far."""
    client = _client(address)
    with _asking(address, job_id):
        return str(client.get_job_logs(job_id))


def stop_job(job_id: str, *, address: str) -> bool:
    """Stop the Ray job (SIGTERM, then SIGKILL); False when it had already ended."""
    client = _client(address)
    with _asking(address, job_id):
        return bool(client.stop_job(job_id))


def _tail(client: Any, job_id: str, write: Callable[[str], None], count: list[int]) -> None:
    """Stream the logs over the Jobs API's websocket, adding to ``count[0]`` what was written."""

    async def run() -> None:
        async for chunk in client.tail_job_logs(job_id):
            write(chunk)
            count[0] += len(chunk)

    asyncio.run(run())


def follow_job(
    job_id: str,
    *,
    address: str,
    write: Callable[[str], None],
    poll_s: float = 1.0,
) -> str:
    """Stream the job's output through ``write`` until the job ends; returns its final status.

    Streams over the websocket the Jobs API offers; if that is not possible (an event loop is
    already running in this thread, a proxy drops websockets) it polls the logs every
    ``poll_s`` seconds and writes what is new.
    """
    client = _client(address)
    written = [0]
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop running here: asyncio.run can be used
        try:
            _tail(client, job_id, write, written)
        except Exception as exc:  # noqa: BLE001 - any failure: fall back to polling
            log.info("following %s by polling (log stream: %s)", job_id, exc)
    while True:
        with _asking(address, job_id):
            raw = client.get_job_status(job_id)  # before the logs: if final, the logs are whole
            logs = str(client.get_job_logs(job_id))
        status = str(getattr(raw, "value", raw))
        if len(logs) > written[0]:
            write(logs[written[0] :])
            written[0] = len(logs)
        if status in TERMINAL:
            return status
        time.sleep(poll_s)
