"""Digest editions and each digest's publication-sequence watermark.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_watermarks",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("watermark", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "editions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("slot", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("article_guids", sa.JSON, nullable=False),
        sa.Column("first_sequence", sa.BigInteger, nullable=False),
        sa.Column("last_sequence", sa.BigInteger, nullable=False),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("archive_html", sa.Text, nullable=False),
        sa.UniqueConstraint("digest", "number", name="uq_editions_digest_number"),
        sa.UniqueConstraint("digest", "slot", name="uq_editions_digest_slot"),
    )


def downgrade() -> None:
    op.drop_table("editions")
    op.drop_table("digest_watermarks")
