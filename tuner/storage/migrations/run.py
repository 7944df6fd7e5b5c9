"""Bring a database to this engine's schema version with Alembic, or refuse one that is newer.

The fast path costs one look at the table names and one query: Alembic (which imports every
revision) runs only when a database is fresh, older than the engine, or not yet stamped with an
Alembic revision (written before the migrations moved to Alembic, schema versions 1 to 4).
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, func, insert, inspect, select

from tuner.errors import StorageError
from tuner.storage import schema

#: Alembic's bookkeeping table (one row: the revision the database is at).
ALEMBIC_TABLE = "alembic_version"


class DatabaseTooNewError(StorageError):
    """The database was written by a newer tuner: nothing reads or writes it here."""


def _config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", "tuner.storage:migrations")
    config.attributes["connection"] = conn
    return config


def revision_of(version: int) -> str:
    """The Alembic revision of a schema version (revisions are named after them)."""
    return f"v{version}"


def current_version(conn: Connection) -> int | None:
    """The database's schema version; None for a database without the engine's tables."""
    if schema.schema_version.name not in inspect(conn).get_table_names():
        return None
    version = conn.execute(select(func.max(schema.schema_version.c.version))).scalar()
    return int(version) if version is not None else None


def refuse_newer(version: int | None, url: str) -> None:
    """Raise DatabaseTooNewError, before anything is written, for a database of a newer tuner."""
    if version is not None and version > schema.SCHEMA_VERSION:
        msg = (
            f"the database {url} has schema version {version}, newer than this engine's "
            f"{schema.SCHEMA_VERSION}: it was written by a newer tuner; upgrade the tuner "
            "package (nothing was read or written)"
        )
        raise DatabaseTooNewError(msg)


def upgrade(conn: Connection, url: str) -> tuple[int | None, int]:
    """Create the schema in a fresh database or migrate an older one, inside the caller's
    transaction; returns (version before, version after)."""
    version = current_version(conn)
    refuse_newer(version, url)
    stamped = ALEMBIC_TABLE in inspect(conn).get_table_names()
    if version == schema.SCHEMA_VERSION and stamped:
        return version, version
    config = _config(conn)
    if version is None:
        schema.metadata.create_all(conn, checkfirst=True)
        conn.execute(insert(schema.schema_version).values(version=schema.SCHEMA_VERSION))
        command.stamp(config, revision_of(schema.SCHEMA_VERSION))
        return None, schema.SCHEMA_VERSION
    # schema_version is the record every engine reads; Alembic's stamp follows it.
    if MigrationContext.configure(conn).get_current_revision() != revision_of(version):
        command.stamp(config, revision_of(version), purge=True)
    command.upgrade(config, revision_of(schema.SCHEMA_VERSION))
    return version, schema.SCHEMA_VERSION


def record(version: int) -> None:
    """Inside a revision's ``upgrade()``: note the schema version it brought the database to
    (older engines read ``schema_version`` to refuse a newer file)."""
    from alembic import op

    op.get_bind().execute(insert(schema.schema_version).values(version=version))
