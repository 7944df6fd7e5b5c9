"""Version 1: the schema before migrations existed (tuning jobs, training jobs, metrics).

Nothing to do: a version 1 database is stamped with this revision and upgraded from it."""

revision = "v1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """A version 1 database already has these tables."""
