"""Rows whose attempts ran out on temporary failures become `retryable`; sent rows by time.

Before this revision such rows were `failed` like hard bounces, told apart only by their
error text, so nothing could send them again. The index serves `[mail.smtp] daily_limit`,
which counts the messages sent since the start of the day.

Revision ID: 0007
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

deliveries = sa.table(
    "deliveries",
    sa.column("status", sa.String(16)),
    sa.column("last_error", sa.Text),
)


def upgrade() -> None:
    op.execute(
        deliveries.update()
        .where(deliveries.c.status == "failed", deliveries.c.last_error.like("gave up after %"))
        .values(status="retryable")
    )
    op.create_index("ix_deliveries_status_sent_at", "deliveries", ["status", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_status_sent_at", table_name="deliveries")
    op.execute(
        deliveries.update().where(deliveries.c.status == "retryable").values(status="failed")
    )
