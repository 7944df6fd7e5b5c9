"""The dashboard: a read-only web app of tuning jobs and their trial history.

``tuner dashboard [--db URL] [--host 127.0.0.1] [--port 8765] [--token TOKEN]`` serves a list
of tuning jobs, a page per job (counters, best training job, the trials table, objective,
hyperparameter, parallel-coordinates and learning-curve charts, the report's correlation and
importance table, the spec) and a page per training job (hyperparameters, metrics by epoch,
failure reason, log tail). Pages of running jobs update themselves; a JSON API sits behind
every page. Everything is served locally: plotly.js comes from the installed ``plotly``.

Modules: :mod:`~tuner.dashboard.reader` (read-only SQL), :mod:`~tuner.dashboard.charts`
(bounded chart data from the report's figure builders), :mod:`~tuner.dashboard.app` (the
Starlette app, token and escaping rules), :mod:`~tuner.dashboard.server` (uvicorn) and
:mod:`~tuner.dashboard.cli` (``cmd_dashboard``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

__all__ = ["cmd_dashboard", "create_app"]


def cmd_dashboard(args: argparse.Namespace) -> int:
    """``tuner dashboard``: see :func:`tuner.dashboard.cli.cmd_dashboard`."""
    from tuner.dashboard.cli import cmd_dashboard as run

    return run(args)


def create_app(db: str, **kwargs: Any) -> Any:
    """The Starlette app: see :func:`tuner.dashboard.app.create_app`."""
    from tuner.dashboard.app import create_app as make

    return make(db, **kwargs)
