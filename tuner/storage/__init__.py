"""Persistence of tuning jobs, training jobs and metrics (SQLAlchemy; SQLite by default)."""

from tuner.storage.base import Storage
from tuner.storage.records import JobRecord, MetricPoint, TrainingJobRecord
from tuner.storage.sql import DEFAULT_URL, SqlStorage, normalise_url

__all__ = [
    "DEFAULT_URL",
    "JobRecord",
    "MetricPoint",
    "SqlStorage",
    "Storage",
    "TrainingJobRecord",
    "normalise_url",
]
