"""Schema migrations of the tuner database, run by Alembic.

Why Alembic: SQLAlchemy is already the storage layer, and Alembic's operations (``op``) hide
what SQLite and PostgreSQL do differently when a column or a table is added. Revisions live in
``versions/``, one per schema version (``v1`` ... ``vN``), each recording its number in the
``schema_version`` table as well, so an engine older than the file sees at once that the file
is newer than it understands (it reads ``schema_version``; ``alembic_version`` came later).

To change the schema: edit :mod:`tuner.storage.schema` (the tables a fresh database gets),
bump ``SCHEMA_VERSION``, and add ``versions/vN_<what>.py`` with ``revision = "vN"``,
``down_revision = "vN-1"`` and an ``upgrade()`` that brings a version N-1 database to the same
tables and ends with ``record(N)``. A migration is additive and never drops what a user wrote.
"""

from tuner.storage.migrations.run import (
    DatabaseTooNewError,
    current_version,
    upgrade,
)

__all__ = ["DatabaseTooNewError", "current_version", "upgrade"]
