"""Persistence of tuning jobs, training jobs, metrics and tags (SQLAlchemy; SQLite by default)."""

from tuner.storage.base import Storage
from tuner.storage.migrations import DatabaseTooNewError
from tuner.storage.records import JobRecord, MetricPoint, TrainingJobRecord
from tuner.storage.sql import (
    DEFAULT_URL,
    DatabaseNotFoundError,
    DatabaseOpenError,
    SqlStorage,
    normalise_url,
    sqlite_file,
)

__all__ = [
    "DEFAULT_URL",
    "DatabaseNotFoundError",
    "DatabaseOpenError",
    "DatabaseTooNewError",
    "JobRecord",
    "MetricPoint",
    "SqlStorage",
    "Storage",
    "TrainingJobRecord",
    "normalise_url",
    "sqlite_file",
]
