"""The database schema: tuning jobs, their training jobs, every reported metric, and tags.

SQLAlchemy Core tables rather than ORM classes: the coordinator's hot path (one insert per
trial, one per report, one update when a trial ends) stays a handful of plain statements, which
keeps storage under 2 ms per trial on SQLite.

Times are seconds since the epoch (UTC) as floats; JSON columns hold AMT's string maps.
Schema changes are migrations: bump ``SCHEMA_VERSION`` and add an Alembic revision (see
:mod:`tuner.storage.migrations`); a database is never dropped or silently rebuilt.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 4

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
)

tuning_jobs = Table(
    "tuning_jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("request_json", Text, nullable=False),
    Column("strategy", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("failure_reason", Text),
    Column("seed", Integer, nullable=False),
    # cloudpickled training callable when the algorithm is user code (Python API), for resume.
    Column("callable_blob", LargeBinary),
    # Who runs the job: None for ``tuner run`` and the Python API, "serve" for a job created
    # through the HTTP API; after a restart the server resumes only the jobs it owns.
    Column("runner", String(32)),
    # The lease of the coordinator that runs the job ("host:pid:token"), renewed while it
    # runs; a second coordinator is refused while the lease is live and its holder alive.
    Column("lease_holder", String(200)),
    Column("lease_expires_at", Float),
    Column("created_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("last_modified_at", Float, nullable=False),
    Column("completion_json", Text),
)

training_jobs = Table(
    "training_jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "tuning_job_id", Integer, ForeignKey("tuning_jobs.id", ondelete="CASCADE"), nullable=False
    ),
    Column("number", Integer, nullable=False),
    Column("name", String(96), nullable=False),
    Column("hyperparameters_json", Text, nullable=False),
    Column("status", String(32), nullable=False),
    Column("final_value", Float),
    Column("final_metrics_json", Text),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("ended_at", Float),
    Column("failure_reason", Text),
    Column("retryable", Boolean),
    Column("attempt", Integer, nullable=False, default=1),
    # JSON list of the failure reasons of earlier attempts (a retried job keeps its name).
    Column("retry_reasons_json", Text),
    Column("n_reports", Integer, nullable=False, default=0),
    Column("bracket", Integer),
    Column("worker", String(128)),
    Column("output_dir", Text),
    UniqueConstraint("tuning_job_id", "number"),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "training_job_id",
        Integer,
        ForeignKey("training_jobs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("attempt", Integer, nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("name", String(255), nullable=False),
    Column("value", Float, nullable=False),
    Column("at", Float, nullable=False),
)

#: Tags of any resource (AddTags/ListTags/DeleteTags of the API), keyed by the ARN the caller
#: gives; storage does not compute ARNs, nor delete tags with their resource.
tags = Table(
    "tags",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("resource_arn", String(256), nullable=False),
    Column("key", String(128), nullable=False),
    Column("value", String(256), nullable=False),
    UniqueConstraint("resource_arn", "key"),
)

Index("ix_training_jobs_job_status", training_jobs.c.tuning_job_id, training_jobs.c.status)
Index("ix_metrics_training_job", metrics.c.training_job_id, metrics.c.attempt, metrics.c.epoch)
Index("ix_tags_resource_arn", tags.c.resource_arn)
