"""Podcast episodes on articles, and WebSub publish pings waiting for the hub.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("articles", sa.Column("audio", sa.JSON, nullable=True))
    op.create_table(
        "websub_pings",
        sa.Column("hub", sa.String(512), primary_key=True),
        sa.Column("topic", sa.String(512), primary_key=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("websub_pings")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("audio")
