"""The words of each subscriber's name, stored, for the name search on PostgreSQL.

The GIN index of 0016 was over the expression `to_tsvector('simple', name)`. Where the planner
walks the ids in order and tests each name (a search many names match, with a filter), it
computed that expression for every row it read, about 4 µs a row, which it prices as cheap:
"zo" with a digest read 31,000 rows for a page of 50, 146-193 ms at a million subscribers.
A generated column keeps the words with the row (computed once, when the name is written), the
index is over it, and a walk reads them: 22 ms. Upgrading rewrites the table (about 10 s at a
million). SQLite has its FTS5 table instead (0016).

With the walk cheap, the planner's estimate of how many names match decides it, and with the
default statistics a rare word's prefix ("beltanquin", 49 names) was estimated at 1,622: the
planner walked every id for a page (340 ms). A thousand statistics for the column (as 0020 gives
the address key) made it 63, and every search measured 4-38 ms.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE subscribers ADD COLUMN name_words tsvector"
        " GENERATED ALWAYS AS (to_tsvector('simple', name)) STORED"
    )
    op.execute("DROP INDEX ix_subscribers_name_words")
    op.execute("ALTER TABLE subscribers ALTER COLUMN name_words SET STATISTICS 1000")
    op.execute("CREATE INDEX ix_subscribers_name_words ON subscribers USING gin (name_words)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_subscribers_name_words")
    op.execute("ALTER TABLE subscribers DROP COLUMN name_words")
    op.execute(
        "CREATE INDEX ix_subscribers_name_words ON subscribers"
        " USING gin (to_tsvector('simple', name))"
    )
