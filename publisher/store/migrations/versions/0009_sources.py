"""Upstream feeds: the sources' fetch state, the items seen, and articles' origin.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("articles", sa.Column("feed_source", sa.String(64), nullable=True))
    op.add_column("articles", sa.Column("origin", sa.JSON, nullable=True))
    op.create_index("ix_articles_feed_source", "articles", ["feed_source"])
    op.create_table(
        "sources",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("configured_url", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("etag", sa.Text, nullable=True),
        sa.Column("last_modified", sa.Text, nullable=True),
        sa.Column("title", sa.Text, nullable=True),
        sa.Column("home_url", sa.Text, nullable=True),
        sa.Column("primed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("items", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_fetch_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("problem", sa.Text, nullable=True),
        sa.Column("next_fetch_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "source_items",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("item_id", sa.String(64), primary_key=True),
        sa.Column("article_id", sa.Integer, sa.ForeignKey("articles.id"), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("source_items")
    op.drop_table("sources")
    op.drop_index("ix_articles_feed_source", "articles")
    op.drop_column("articles", "origin")
    op.drop_column("articles", "feed_source")
