"""A real PostgreSQL server for the tests, started from the machine's own binaries.

``initdb`` makes a cluster in a temporary folder and ``pg_ctl`` starts it on a Unix socket in
that folder (no TCP port, so parallel runs cannot collide); it is stopped when the test
session ends. As root, PostgreSQL refuses to run, so the server runs as the ``postgres``
user. Nothing is downloaded: without the binaries (or the psycopg driver) the tests that need
it skip, saying why.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

SERVER_BINARIES = ("initdb", "pg_ctl")


def _binary(name: str) -> str | None:
    """``name`` on the PATH, else in Debian's versioned folder (the postgresql package)."""
    found = shutil.which(name)
    if found is None:
        versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
        found = str(versions[0]) if versions else None
    return found


def missing() -> str | None:
    """Why PostgreSQL cannot be started here, or None."""
    absent = [b for b in SERVER_BINARIES if _binary(b) is None]
    if absent:
        return f"PostgreSQL's server binaries are not installed ({', '.join(absent)})"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg driver is not installed (pip install 'psycopg[binary]')"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to start PostgreSQL as another user"
    return None


def _as_server_user(args: list[str]) -> list[str]:
    command = [_binary(args[0]) or args[0], *args[1:]]
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def running_server(root: Path) -> Iterator[str]:
    """Start a server under ``root``; yields the SQLAlchemy URL prefix (without a database)."""
    data, socket_dir = root / "data", root / "socket"
    socket_dir.mkdir(parents=True)
    user = "postgres" if os.geteuid() == 0 else getpass.getuser()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(socket_dir, "postgres")
    subprocess.run(
        _as_server_user(["initdb", "-D", str(data), "-U", user, "-A", "trust", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    options = f"-k {socket_dir} -c listen_addresses='' -c fsync=off"
    subprocess.run(
        _as_server_user(
            ["pg_ctl", "-D", str(data), "-o", options, "-w", "-l", str(root / "log"), "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://{user}@/?host={socket_dir}"
    finally:
        subprocess.run(
            _as_server_user(["pg_ctl", "-D", str(data), "-m", "immediate", "stop"]),
            check=False,
            capture_output=True,
        )


def new_database(server_url: str) -> str:
    """Create an empty database on the server; its SQLAlchemy URL."""
    import psycopg

    host = server_url.split("host=", 1)[1]
    user = server_url.split("://", 1)[1].split("@", 1)[0]
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=host, user=user, dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.replace("/?", f"/{name}?", 1)
