"""``tuner db check`` and ``tuner db upgrade``: the database's integrity and its schema.

``check`` reads only (its own engine, never :class:`~tuner.storage.SqlStorage`, which would
upgrade an older file on open), so it may be pointed at a database in use, or at one a newer
tuner wrote. ``upgrade`` migrates an older database in place with Alembic
(:mod:`tuner.storage.migrations`); every open by a writer does the same, so the command is for
a shared database that a team moves to a new version on purpose.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

out = Console(soft_wrap=True)


def cmd_db_check(args: argparse.Namespace) -> int:
    """Exit 0 when every check passes, 1 when one found a problem (2: no database)."""
    from sqlalchemy import create_engine

    from tuner.storage import schema
    from tuner.storage.integrity import CheckStatus, check_database
    from tuner.storage.sql import normalise_url, require_database

    url = normalise_url(args.db)
    require_database(url)
    engine = create_engine(url)
    try:
        checks = check_database(engine, expected_version=schema.SCHEMA_VERSION)
    finally:
        engine.dispose()
    problems = [c for c in checks if c.status is CheckStatus.PROBLEM]
    if args.json:
        out.print_json(json.dumps({"Database": url, "Checks": [c.as_json() for c in checks]}))
    else:
        _print_checks(url, checks)
    return 1 if problems else 0


def _print_checks(url: str, checks: list[Any]) -> None:
    table = Table(title=f"database {url}", title_justify="left")
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for check in checks:
        style = "green" if check.status.value == "ok" else "red"
        table.add_row(check.name, f"[{style}]{check.status.value}[/{style}]", check.detail)
    out.print(table)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Migrate an existing database to this engine's schema (a newer one is refused: exit 2)."""
    from tuner.storage import SqlStorage

    storage = SqlStorage(args.db, create=False)
    before, after = storage.schema_change
    storage.close()
    if before == after:
        out.print(f"{storage.url}: schema version {after}, already current", highlight=False)
    else:
        out.print(
            f"{storage.url}: upgraded from schema version {before} to {after}", highlight=False
        )
    return 0


def add_db_command(sub: Any, db_default: str) -> None:
    """``tuner db check|upgrade [--db URL]``."""
    parser = sub.add_parser(
        "db", help="check or upgrade the database", description="check or upgrade the database"
    )
    verbs = parser.add_subparsers(dest="db_command", required=True)
    for name, fn, text in (
        ("check", cmd_db_check, "verify the schema version, foreign keys, counters and rows"),
        ("upgrade", cmd_db_upgrade, "migrate the database to this tuner's schema (Alembic)"),
    ):
        p = verbs.add_parser(name, help=text, description=text)
        p.set_defaults(fn=fn)
        p.add_argument(
            "--db", default=db_default, help="SQLAlchemy URL or SQLite file (default ./tuner.db)"
        )
    verbs.choices["check"].add_argument("--json", action="store_true", help="the checks as JSON")
