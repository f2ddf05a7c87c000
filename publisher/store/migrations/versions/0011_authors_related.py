"""Author profiles, and each article's related articles (chosen by hand, and computed).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "author_profiles",
        sa.Column("slug", sa.String(255), primary_key=True),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("bio_html", sa.Text, nullable=False),
        sa.Column("avatar", sa.Text, nullable=True),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("email", sa.Text, nullable=True),
        sa.Column("links", sa.JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("file_size", sa.BigInteger, nullable=False),
        sa.Column("file_mtime_ns", sa.BigInteger, nullable=False),
    )
    op.add_column("articles", sa.Column("related_slugs", sa.JSON, nullable=True))
    op.add_column("articles", sa.Column("related", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("related")
        batch.drop_column("related_slugs")
    op.drop_table("author_profiles")
