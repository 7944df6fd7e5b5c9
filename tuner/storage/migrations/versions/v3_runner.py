"""Version 3: a job remembers who runs it (the HTTP server resumes only its own jobs), and the
tags of the API's AddTags/ListTags/DeleteTags are stored."""

import sqlalchemy as sa
from alembic import op

from tuner.storage import schema
from tuner.storage.migrations.run import record

revision = "v3"
down_revision = "v2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tuning_jobs", sa.Column("runner", sa.String(32)))
    schema.tags.create(op.get_bind(), checkfirst=True)
    record(3)
