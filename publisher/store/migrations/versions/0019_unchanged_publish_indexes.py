"""Covering indexes for the two reads of every article that a publish with nothing changed makes.

On SQLite an article's row holds its body before its file state and revision columns, so
reading those columns follows each row's overflow pages: 10,000 articles cost a scan of the
whole table twice. These indexes hold exactly the columns `store.articles.stored_files` and
`store.feeds.public_article_revisions` read. Only on SQLite: PostgreSQL keeps long bodies out
of line (TOAST) already, and its index rows have a size limit that long GUIDs could pass.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

FILE_STATES = (
    "feed_source", "status", "id", "guid", "key", "slug", "source", "file_size",
    "file_mtime_ns", "content_hash",
)  # fmt: skip
REVISIONS = (
    "status",
    "guid",
    "sequence",
    "published_at",
    "updated_at",
    "content_hash",
    "feed_source",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_index("ix_articles_file_states", "articles", list(FILE_STATES))
    op.create_index("ix_articles_revisions", "articles", list(REVISIONS))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index("ix_articles_revisions", "articles")
    op.drop_index("ix_articles_file_states", "articles")
