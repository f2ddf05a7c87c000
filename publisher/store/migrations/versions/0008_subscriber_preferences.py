"""Subscriber preferences: a pause, a pending address change, the welcome, forgotten addresses.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "subscribers", sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("subscribers", sa.Column("pending_email", sa.Text, nullable=True))
    op.add_column(
        "subscribers", sa.Column("welcome_sent_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "subscribers",
        sa.Column("preferences_sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "forgotten_addresses",
        sa.Column("address_hash", sa.String(64), primary_key=True),
        sa.Column("forgotten_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("forgotten_addresses")
    for column in ("preferences_sent_at", "welcome_sent_at", "pending_email", "paused_until"):
        op.drop_column("subscribers", column)
