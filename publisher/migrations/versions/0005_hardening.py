"""Lease owners as long as host names get; (the shared web rate limit follows).

`deliveries.lease_owner` holds `host:pid:tag`; a host name alone may be 64 characters on
Linux and 253 in DNS, so the column becomes TEXT.

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


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column(
            "lease_owner", existing_type=sa.Text, type_=sa.String(64), existing_nullable=True
        )
