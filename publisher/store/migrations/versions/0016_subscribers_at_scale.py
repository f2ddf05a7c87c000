"""Subscribers at a million: counts kept in step, name search, paging indexes, import runs.

- `subscriber_counts`: how many subscribers have each status, overall (digest '') and per
  digest, kept in step by triggers inside the transaction that changes a status, a
  subscription or a row, whatever code does it; a GROUP BY over a million rows is too slow for
  a page that shows them. On SQLite one row per digest and status; on PostgreSQL rows of
  differences, summed when read (see the triggers).
- Name search: an FTS5 index over `subscribers.name` on SQLite (kept by triggers; its rowid is
  the subscriber's id), a GIN index over the name's words on PostgreSQL.
- Paging: `(status, id)` pages one status in id order; on PostgreSQL `email_key COLLATE "C"`
  serves address-prefix ranges whatever the database's collation.
- `subscriber_imports`: one row per `subscribers import` run, finished or not, so an import
  that was killed is known and can be run again.
- `ix_deliveries_leases`: the rows of an edition leased right now, found without reading the
  whole ledger (each send worker looks for dead owners' leases before every batch; at a
  million rows a scan of the ledger cost 100-150 ms a batch on PostgreSQL).

A later migration that rebuilds `subscribers` or `subscriptions` on SQLite (a batch
`ALTER TABLE` copies the table) drops their triggers: it must create them again.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# SQLite: one row per digest and status, kept by upserts (its writers already take turns).
# The name index keeps which names have a word, not where (`detail='none'`): words and their
# prefixes are all a search asks, and each row costs less to index.
SQLITE_TRIGGERS = (
    "CREATE UNIQUE INDEX ux_subscriber_counts ON subscriber_counts (digest, status)",
    """
    CREATE TRIGGER subscribers_counted_insert AFTER INSERT ON subscribers BEGIN
      INSERT INTO subscriber_counts (digest, status, count) VALUES ('', NEW.status, 1)
        ON CONFLICT (digest, status) DO UPDATE SET count = count + 1;
    END
    """,
    """
    CREATE TRIGGER subscribers_counted_status AFTER UPDATE OF status ON subscribers
    WHEN OLD.status IS NOT NEW.status BEGIN
      UPDATE subscriber_counts SET count = count - 1
        WHERE status = OLD.status
          AND (digest = '' OR digest IN (
            SELECT digest FROM subscriptions WHERE subscriber_id = OLD.id));
      INSERT INTO subscriber_counts (digest, status, count)
        SELECT digest, NEW.status, 1 FROM (
          SELECT '' AS digest UNION ALL
          SELECT digest FROM subscriptions WHERE subscriber_id = NEW.id)
        WHERE true
        ON CONFLICT (digest, status) DO UPDATE SET count = count + 1;
    END
    """,
    # Its subscriptions go first, while its status is still there to count them by.
    """
    CREATE TRIGGER subscribers_counted_delete BEFORE DELETE ON subscribers BEGIN
      DELETE FROM subscriptions WHERE subscriber_id = OLD.id;
      UPDATE subscriber_counts SET count = count - 1 WHERE digest = '' AND status = OLD.status;
    END
    """,
    """
    CREATE TRIGGER subscriptions_counted_insert AFTER INSERT ON subscriptions BEGIN
      INSERT INTO subscriber_counts (digest, status, count)
        SELECT NEW.digest, status, 1 FROM subscribers WHERE id = NEW.subscriber_id AND true
        ON CONFLICT (digest, status) DO UPDATE SET count = count + 1;
    END
    """,
    """
    CREATE TRIGGER subscriptions_counted_delete AFTER DELETE ON subscriptions BEGIN
      UPDATE subscriber_counts SET count = count - 1
        WHERE digest = OLD.digest
          AND status = (SELECT status FROM subscribers WHERE id = OLD.subscriber_id);
    END
    """,
    """
    CREATE TRIGGER subscriptions_counted_update AFTER UPDATE ON subscriptions BEGIN
      UPDATE subscriber_counts SET count = count - 1
        WHERE digest = OLD.digest
          AND status = (SELECT status FROM subscribers WHERE id = OLD.subscriber_id);
      INSERT INTO subscriber_counts (digest, status, count)
        SELECT NEW.digest, status, 1 FROM subscribers WHERE id = NEW.subscriber_id AND true
        ON CONFLICT (digest, status) DO UPDATE SET count = count + 1;
    END
    """,
    """
    CREATE VIRTUAL TABLE subscriber_names USING fts5(
      name, content='subscribers', content_rowid='id',
      tokenize='unicode61 remove_diacritics 2', detail='none', columnsize=0)
    """,
    """
    CREATE TRIGGER subscribers_named_insert AFTER INSERT ON subscribers BEGIN
      INSERT INTO subscriber_names (rowid, name) VALUES (NEW.id, NEW.name);
    END
    """,
    """
    CREATE TRIGGER subscribers_named_update AFTER UPDATE OF name ON subscribers
    WHEN OLD.name IS NOT NEW.name BEGIN
      INSERT INTO subscriber_names (subscriber_names, rowid, name)
        VALUES ('delete', OLD.id, OLD.name);
      INSERT INTO subscriber_names (rowid, name) VALUES (NEW.id, NEW.name);
    END
    """,
    """
    CREATE TRIGGER subscribers_named_delete AFTER DELETE ON subscribers BEGIN
      INSERT INTO subscriber_names (subscriber_names, rowid, name)
        VALUES ('delete', OLD.id, OLD.name);
    END
    """,
)

# PostgreSQL: every change adds rows of differences (never an update of a shared row, so
# writers never wait for each other or deadlock over the counts); `subscriber_counts` sums
# them and folds them into one row per digest and status now and then. Inserts and deletes are
# counted once per statement (transition tables); a status change per row (rare, and the WHEN
# clause spares every other update a call). A subscription's status is read under a share
# lock, so a concurrent status change of the same subscriber waits and then sees it.
POSTGRESQL_TRIGGERS = (
    """
    CREATE FUNCTION subscribers_counted_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO subscriber_counts (digest, status, count)
        SELECT '', status, count(*) FROM inserted_rows GROUP BY status;
      RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER subscribers_counted_insert AFTER INSERT ON subscribers
      REFERENCING NEW TABLE AS inserted_rows
      FOR EACH STATEMENT EXECUTE FUNCTION subscribers_counted_insert()
    """,
    """
    CREATE FUNCTION subscribers_counted_status() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO subscriber_counts (digest, status, count)
        SELECT '', OLD.status, -1
        UNION ALL SELECT '', NEW.status, 1
        UNION ALL SELECT digest, OLD.status, -1 FROM subscriptions WHERE subscriber_id = OLD.id
        UNION ALL SELECT digest, NEW.status, 1 FROM subscriptions WHERE subscriber_id = NEW.id;
      RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER subscribers_counted_status AFTER UPDATE OF status ON subscribers
      FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
      EXECUTE FUNCTION subscribers_counted_status()
    """,
    # Its subscriptions go first, while its status is still there to count them by.
    """
    CREATE FUNCTION subscribers_counted_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM subscriptions WHERE subscriber_id = OLD.id;
      INSERT INTO subscriber_counts (digest, status, count) VALUES ('', OLD.status, -1);
      RETURN OLD;
    END $$
    """,
    """
    CREATE TRIGGER subscribers_counted_delete BEFORE DELETE ON subscribers
      FOR EACH ROW EXECUTE FUNCTION subscribers_counted_delete()
    """,
    """
    CREATE FUNCTION subscriptions_counted_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP IN ('DELETE', 'UPDATE') THEN
        INSERT INTO subscriber_counts (digest, status, count)
          SELECT gone.digest, holder.status, -count(*)
          FROM removed_rows AS gone
          JOIN LATERAL (
            SELECT status FROM subscribers WHERE id = gone.subscriber_id FOR SHARE
          ) AS holder ON true
          GROUP BY gone.digest, holder.status;
      END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO subscriber_counts (digest, status, count)
          SELECT added.digest, holder.status, count(*)
          FROM added_rows AS added
          JOIN LATERAL (
            SELECT status FROM subscribers WHERE id = added.subscriber_id FOR SHARE
          ) AS holder ON true
          GROUP BY added.digest, holder.status;
      END IF;
      RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER subscriptions_counted_insert AFTER INSERT ON subscriptions
      REFERENCING NEW TABLE AS added_rows
      FOR EACH STATEMENT EXECUTE FUNCTION subscriptions_counted_change()
    """,
    """
    CREATE TRIGGER subscriptions_counted_delete AFTER DELETE ON subscriptions
      REFERENCING OLD TABLE AS removed_rows
      FOR EACH STATEMENT EXECUTE FUNCTION subscriptions_counted_change()
    """,
    """
    CREATE TRIGGER subscriptions_counted_update AFTER UPDATE ON subscriptions
      REFERENCING OLD TABLE AS removed_rows NEW TABLE AS added_rows
      FOR EACH STATEMENT EXECUTE FUNCTION subscriptions_counted_change()
    """,
    """
    CREATE INDEX ix_subscribers_name_words ON subscribers
      USING gin (to_tsvector('simple', name))
    """,
    'CREATE INDEX ix_subscribers_email_key_bytes ON subscribers (email_key COLLATE "C")',
)

POSTGRESQL_DROPS = (
    "DROP INDEX ix_subscribers_email_key_bytes",
    "DROP INDEX ix_subscribers_name_words",
    "DROP TRIGGER subscriptions_counted_update ON subscriptions",
    "DROP TRIGGER subscriptions_counted_delete ON subscriptions",
    "DROP TRIGGER subscriptions_counted_insert ON subscriptions",
    "DROP FUNCTION subscriptions_counted_change()",
    "DROP TRIGGER subscribers_counted_delete ON subscribers",
    "DROP FUNCTION subscribers_counted_delete()",
    "DROP TRIGGER subscribers_counted_status ON subscribers",
    "DROP FUNCTION subscribers_counted_status()",
    "DROP TRIGGER subscribers_counted_insert ON subscribers",
    "DROP FUNCTION subscribers_counted_insert()",
)

SQLITE_DROPS = (
    "DROP TRIGGER subscribers_named_delete",
    "DROP TRIGGER subscribers_named_update",
    "DROP TRIGGER subscribers_named_insert",
    "DROP TABLE subscriber_names",
    "DROP TRIGGER subscriptions_counted_update",
    "DROP TRIGGER subscriptions_counted_delete",
    "DROP TRIGGER subscriptions_counted_insert",
    "DROP TRIGGER subscribers_counted_delete",
    "DROP TRIGGER subscribers_counted_status",
    "DROP TRIGGER subscribers_counted_insert",
    "DROP INDEX ux_subscriber_counts",
)

# The counts of the rows already there, overall and per digest.
BACKFILL_COUNTS = """
    INSERT INTO subscriber_counts (digest, status, count)
    SELECT '', status, count(*) FROM subscribers GROUP BY status
    UNION ALL
    SELECT subscriptions.digest, subscribers.status, count(*)
    FROM subscriptions JOIN subscribers ON subscribers.id = subscriptions.subscriber_id
    GROUP BY subscriptions.digest, subscribers.status
"""


def upgrade() -> None:
    op.create_table(
        "subscriber_counts",
        sa.Column("digest", sa.String(64), nullable=False),  # '' for every subscriber
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "subscriber_imports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rows_done", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.drop_index("ix_subscribers_status", table_name="subscribers")
    op.create_index("ix_subscribers_status_id", "subscribers", ["status", "id"])
    op.create_index("ix_deliveries_leases", "deliveries", ["edition_id", "status", "lease_owner"])
    op.execute(BACKFILL_COUNTS)
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
        op.execute("INSERT INTO subscriber_names (subscriber_names) VALUES ('rebuild')")


def downgrade() -> None:
    drops = POSTGRESQL_DROPS if op.get_bind().dialect.name == "postgresql" else SQLITE_DROPS
    for statement in drops:
        op.execute(statement)
    op.drop_index("ix_deliveries_leases", table_name="deliveries")
    op.drop_index("ix_subscribers_status_id", table_name="subscribers")
    op.create_index("ix_subscribers_status", "subscribers", ["status"])
    op.drop_table("subscriber_imports")
    op.drop_table("subscriber_counts")
