"""One Alembic revision per schema version (see :mod:`tuner.storage.migrations`)."""
