"""Version 4: the lease of the coordinator that runs a job (one coordinator per job)."""

import sqlalchemy as sa
from alembic import op

from tuner.storage.migrations.run import record

revision = "v4"
down_revision = "v3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tuning_jobs", sa.Column("lease_holder", sa.String(200)))
    op.add_column("tuning_jobs", sa.Column("lease_expires_at", sa.Float()))
    record(4)
