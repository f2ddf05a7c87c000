"""Lease owners as long as host names get, and the web's rate limits kept in the store.

`deliveries.lease_owner` holds `host:pid:tag`; a host name alone may be 64 characters on
Linux and 253 in DNS, so the column becomes TEXT. `rate_limits` counts requests per scope
(`subscribe`), client and fixed window, so every `publisher serve` process shares one limit.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column(
            "lease_owner", existing_type=sa.String(64), type_=sa.Text, existing_nullable=True
        )
    op.create_table(
        "rate_limits",
        sa.Column("scope", sa.String(32), primary_key=True),
        sa.Column("client_key", sa.String(64), primary_key=True),
        sa.Column("window_start", sa.BigInteger, primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_index("ix_rate_limits_window_start", "rate_limits", ["window_start"])


def downgrade() -> None:
    op.drop_index("ix_rate_limits_window_start", table_name="rate_limits")
    op.drop_table("rate_limits")
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column(
            "lease_owner", existing_type=sa.Text, type_=sa.String(64), existing_nullable=True
        )
