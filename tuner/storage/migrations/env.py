"""Alembic's environment: migrations run on the connection the engine hands over (online
mode only; a tuner database is always upgraded in place, inside the caller's transaction)."""

from alembic import context

from tuner.storage import schema

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=schema.metadata)
with context.begin_transaction():
    context.run_migrations()
