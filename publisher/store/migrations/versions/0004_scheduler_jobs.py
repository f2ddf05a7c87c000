"""The table APScheduler's SQLAlchemyJobStore keeps `publisher run`'s jobs in.

Made here, in APScheduler 3.x's exact shape, so the schema changes only through migrations;
APScheduler then finds it and creates nothing.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(191), primary_key=True),
        sa.Column("next_run_time", sa.Float(25), index=True),
        sa.Column("job_state", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("apscheduler_jobs")
