"""Runs the dashboard app under uvicorn."""

from __future__ import annotations

import ctypes
import logging
import urllib.parse

from rich.console import Console

from tuner.dashboard.app import COOKIE, LOOPBACK_HOSTS, create_app
from tuner.dashboard.cli import is_loopback

logger = logging.getLogger(__name__)


def url_for(host: str, port: int, token: str | None = None) -> str:
    """The address to open in a browser (with the token, which the page trades for a cookie)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    query = f"/?token={urllib.parse.quote(token, safe='')}" if token else "/"
    return f"http://{shown}:{port}{query}"


def _limit_malloc_arenas(n_arenas: int = 2) -> None:
    """Ask glibc for few malloc arenas, so that worker threads do not each grow their own.

    Without this, a server whose requests run in a dozen threads settles at twice the memory
    it needs (each thread's arena keeps its peak). Same as ``MALLOC_ARENA_MAX=2``; a no-op
    off glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, n_arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):
        logger.debug("mallopt is not available; memory arenas left as they are")


def serve(
    db: str,
    *,
    host: str,
    port: int,
    token: str | None,
    console: Console | None = None,
) -> int:
    """Serve until interrupted (uvicorn, one process; database reads run in worker threads)."""
    import uvicorn

    _limit_malloc_arenas()
    loopback = is_loopback(host)
    allowed = tuple(LOOPBACK_HOSTS | {host}) if loopback and token is None else None
    app = create_app(db, token=token, allowed_hosts=allowed, cookie=f"{COOKIE}_{port}")
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    if console is not None:
        console.print(
            f"tuner dashboard of {db} at {url_for(host, port, token)} (read-only; Ctrl+C stops)",
            markup=False,
            highlight=False,
        )
    server.run()
    return 0
