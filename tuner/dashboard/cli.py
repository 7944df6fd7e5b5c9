"""``tuner dashboard``: serve the dashboard (registered by :mod:`tuner.cli`).

::

    tuner dashboard [--db URL] [--host 127.0.0.1] [--port 8765] [--token TOKEN]

It binds to 127.0.0.1 unless told otherwise. Any other address needs a token (``--token`` or
``$TUNER_DASHBOARD_TOKEN``) that every request must carry; without one it refuses to start.
Also runnable as ``python -m tuner.dashboard`` with the same arguments.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Sequence

from rich.console import Console

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
TOKEN_ENV = "TUNER_DASHBOARD_TOKEN"

err = Console(stderr=True, soft_wrap=True)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options after ``tuner dashboard`` (``--db`` is added by tuner.cli for every command)."""
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to bind (default 127.0.0.1; any other address needs a token)",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--token",
        default=None,
        help=f"token every request must carry (default ${TOKEN_ENV}); "
        "required when binding to anything but localhost",
    )


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the dashboard until interrupted; ``args`` has db, host, port and token.

    Returns 2 (bad input) when the database cannot be read or a token is missing.
    """
    from tuner.errors import StorageError

    host = str(args.host)
    token = getattr(args, "token", None) or os.environ.get(TOKEN_ENV) or None
    loopback = is_loopback(host)
    if not loopback and token is None:
        err.print(
            f"error: refusing to serve the dashboard on {host} without a token: anyone who can "
            f"reach that address could read every tuning job. Pass --token TOKEN or set "
            f"{TOKEN_ENV}, or bind to 127.0.0.1 (the default).",
            markup=False,
            highlight=False,
        )
        return 2
    try:
        from tuner.dashboard.server import serve

        return serve(args.db, host=host, port=int(args.port), token=token, console=err)
    except StorageError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        return 2
    except KeyboardInterrupt:
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tuner.dashboard", description="Serve the tuner dashboard (read-only)."
    )
    parser.add_argument(
        "--db",
        default=os.environ.get("TUNER_DB", "sqlite:///tuner.db"),
        help="SQLAlchemy URL or SQLite file (default ./tuner.db)",
    )
    add_arguments(parser)
    return cmd_dashboard(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
