"""Each edition's own placeholder key.

- `editions.placeholder_key`: the random key of the stand-ins an edition's html and text hold
  (see `mail.render.StandIns`), drawn when it is rendered, so no article can hold them.
  Editions stored before have the key every edition then shared.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

LEGACY_KEY = "7f3c9e2a5b1d"


def upgrade() -> None:
    with op.batch_alter_table("editions") as batch:
        batch.add_column(
            sa.Column("placeholder_key", sa.String(32), nullable=False, server_default=LEGACY_KEY)
        )


def downgrade() -> None:
    with op.batch_alter_table("editions") as batch:
        batch.drop_column("placeholder_key")
