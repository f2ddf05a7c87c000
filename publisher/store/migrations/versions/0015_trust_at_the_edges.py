"""Evidence we cannot authenticate, probes, failing sources.

- `events.verified`: false for a bounce or complaint that carried no token or Message-ID of
  ours (recorded and shown, never acted on by itself);
- `subscribers.probe_sent_at`: when a VERP-signed probe last went to the address;
- `sources.failing_since`: when a source's current run of failed fetches began.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(
            sa.Column("verified", sa.Boolean, nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("probe_sent_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table, column in (
        ("sources", "failing_since"),
        ("subscribers", "probe_sent_at"),
        ("events", "verified"),
    ):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
