"""Version 2: retried training jobs keep the reasons of their earlier attempts."""

import sqlalchemy as sa
from alembic import op

from tuner.storage.migrations.run import record

revision = "v2"
down_revision = "v1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("training_jobs", sa.Column("retry_reasons_json", sa.Text()))
    record(2)
