"""Every table of the store, as SQLAlchemy Core sees it; the migrations make them."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) too."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

articles = sa.Table(
    "articles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("guid", sa.String(512), nullable=False, unique=True),
    sa.Column("key", sa.String(512), nullable=True, unique=True),
    sa.Column("source", sa.String(1024), nullable=False),
    sa.Column("slug", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=True, unique=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=False),
    sa.Column("authors", sa.JSON, nullable=False),
    sa.Column("image", sa.JSON, nullable=True),
    sa.Column("categories", sa.JSON, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("published_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("first_seen_at", UtcDateTime, nullable=False),
    sa.Column("made_public_at", UtcDateTime, nullable=True),
    sa.Column("withdrawn_at", UtcDateTime, nullable=True),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("file_size", sa.BigInteger, nullable=False),
    sa.Column("file_mtime_ns", sa.BigInteger, nullable=False),
    sa.Column("feed_source", sa.String(64), nullable=True),  # made by migration 0009
    sa.Column("origin", sa.JSON, nullable=True),
    sa.Column("related_slugs", sa.JSON, nullable=True),  # made by migration 0011
    sa.Column("related", sa.JSON, nullable=True),  # GUIDs, chosen at each gather
    sa.Column("audio", sa.JSON, nullable=True),  # made by migration 0012
)

counters = sa.Table(
    "counters",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

settings = sa.Table(
    "settings",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


# Digest editions --------------------------------------------------------------------------

digest_watermarks = sa.Table(
    "digest_watermarks",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("watermark", sa.BigInteger, nullable=False),
)

editions = sa.Table(
    "editions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("slot", sa.String(128), nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("article_guids", sa.JSON, nullable=False),
    sa.Column("first_sequence", sa.BigInteger, nullable=False),
    sa.Column("last_sequence", sa.BigInteger, nullable=False),
    sa.Column("html", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("archive_html", sa.Text, nullable=False),
    sa.Column("delivery_started_at", UtcDateTime, nullable=True),
    sa.Column("delivered_at", UtcDateTime, nullable=True),
    # The key of the stand-ins its html and text hold (migration 0017; see mail.render).
    sa.Column("placeholder_key", sa.String(32), nullable=False, server_default="7f3c9e2a5b1d"),
    sa.UniqueConstraint("digest", "number", name="uq_editions_digest_number"),
    sa.UniqueConstraint("digest", "slot", name="uq_editions_digest_slot"),
)

subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("email_key", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("token_nonce", sa.String(64), nullable=False),
    sa.Column("hard_bounces", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("confirmed_at", UtcDateTime, nullable=True),
    sa.Column("unsubscribed_at", UtcDateTime, nullable=True),
    sa.Column("confirmation_sent_at", UtcDateTime, nullable=True),
    # Preferences (migration 0008): mail paused until, an address awaiting its confirmation,
    # when the welcome and the last preferences link went out.
    sa.Column("paused_until", UtcDateTime, nullable=True),
    sa.Column("pending_email", sa.Text, nullable=True),
    sa.Column("welcome_sent_at", UtcDateTime, nullable=True),
    sa.Column("preferences_sent_at", UtcDateTime, nullable=True),
    # When a VERP-signed probe last went to the address (0015).
    sa.Column("probe_sent_at", UtcDateTime, nullable=True),
)

# Paging one status in id order (migration 0016). Name search and address prefixes have their
# own indexes, made per database by migration 0016: an FTS5 table `subscriber_names` on SQLite,
# GIN over the words of the name on PostgreSQL (a generated column `name_words`, not declared
# here, since 0021), where `email_key` is in byte order (`COLLATE "C"`, migration 0018) so its
# unique index serves prefix ranges.
sa.Index("ix_subscribers_status_id", subscribers.c.status, subscribers.c.id)
# SQLite keeps the FTS5 index in this virtual table and its shadow tables (`subscriber_names_*`).
SQLITE_NAME_INDEX = "subscriber_names"

# How many subscribers have each status, overall (digest '') and per digest: kept in step by
# triggers (migration 0016) in the transaction of every change. On SQLite one row per digest
# and status; on PostgreSQL rows of differences, summed when read and folded now and then.
subscriber_counts = sa.Table(
    "subscriber_counts",
    metadata,
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
)

# One row per `subscribers import` run (migration 0016): one that never finished was stopped.
subscriber_imports = sa.Table(
    "subscriber_imports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.Text, nullable=False),  # the file's absolute path, or "-"
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Column("rows_done", sa.BigInteger, nullable=False, server_default="0"),
)

# A row here, only ever inside the transaction of a `subscribers import` batch, tells SQLite's
# insert triggers that the import counts and indexes the rows it inserts itself (migration
# 0018; PostgreSQL's triggers read a setting of the transaction instead).
subscriber_import_inserting = sa.Table(
    "subscriber_import_inserting",
    metadata,
    sa.Column("inserting", sa.Integer, nullable=False),
)

# Keyed hashes of addresses forgotten on request, so nothing re-adds them silently.
forgotten_addresses = sa.Table(
    "forgotten_addresses",
    metadata,
    sa.Column("address_hash", sa.String(64), primary_key=True),
    sa.Column("forgotten_at", UtcDateTime, nullable=False),
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column(
        "subscriber_id",
        sa.Integer,
        sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("digest", sa.String(64), primary_key=True),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("edition_id", sa.Integer, sa.ForeignKey("editions.id"), nullable=False),
    sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id"), nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("next_attempt_at", UtcDateTime, nullable=True),
    sa.Column("lease_owner", sa.Text, nullable=True),  # host:pid:tag, and host names run long
    sa.Column("lease_until", UtcDateTime, nullable=True),
    sa.Column("sent_at", UtcDateTime, nullable=True),
    sa.UniqueConstraint("edition_id", "subscriber_id", name="uq_deliveries_edition_subscriber"),
)


# Inbound events (bounces, complaints, unsubscribes by mail or webhook); made by migration 0010.

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(80), nullable=False, unique=True),
    sa.Column(
        "subscriber_id",
        sa.Integer,
        sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "delivery_id",
        sa.Integer,
        sa.ForeignKey("deliveries.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("code", sa.String(32), nullable=False),
    sa.Column("diagnostic", sa.Text, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("digest", sa.String(64), nullable=True),
    sa.Column("occurred_at", UtcDateTime, nullable=False),
    # False: a report carrying no token or Message-ID of ours, recorded but never acted on (0015).
    sa.Column("verified", sa.Boolean, nullable=False, server_default=sa.true()),
)


# The scheduler's job store: APScheduler 3.x reads and writes it; made by migration 0004.

SCHEDULER_JOBS_TABLE = "apscheduler_jobs"

scheduler_jobs = sa.Table(
    SCHEDULER_JOBS_TABLE,
    metadata,
    sa.Column("id", sa.Unicode(191), primary_key=True),
    sa.Column("next_run_time", sa.Float(25), index=True),
    sa.Column("job_state", sa.LargeBinary, nullable=False),
)


# The web's rate limits: one row per scope, client and fixed window; made by migration 0005.

rate_limits = sa.Table(
    "rate_limits",
    metadata,
    sa.Column("scope", sa.String(32), primary_key=True),
    sa.Column("client_key", sa.String(64), primary_key=True),
    sa.Column("window_start", sa.BigInteger, primary_key=True, index=True),
    sa.Column("count", sa.Integer, nullable=False),
)


# Upstream feeds: made by migration 0009 -------------------------------------------------

sources = sa.Table(
    "sources",
    metadata,
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
    sa.Column("last_fetch_at", UtcDateTime, nullable=True),
    sa.Column("last_status", sa.String(32), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("problem", sa.Text, nullable=True),
    sa.Column("next_fetch_at", UtcDateTime, nullable=True),
    sa.Column("failing_since", UtcDateTime, nullable=True),  # made by migration 0015
)

source_items = sa.Table(
    "source_items",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("item_id", sa.String(64), primary_key=True),
    sa.Column("article_id", sa.Integer, sa.ForeignKey("articles.id"), nullable=True),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("first_seen_at", UtcDateTime, nullable=False),
)


# Author profiles and related articles: made by migration 0011 ----------------------------

author_profiles = sa.Table(
    "author_profiles",
    metadata,
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


# WebSub publish pings waiting to reach the hub: made by migration 0012 ---------------------

websub_pings = sa.Table(
    "websub_pings",
    metadata,
    sa.Column("hub", sa.String(512), primary_key=True),
    sa.Column("topic", sa.String(512), primary_key=True),
    sa.Column("queued_at", UtcDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
)


# Operators: admin users, their sessions and API tokens; made by migration 0013 -------------

admin_users = sa.Table(
    "admin_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),  # argon2id, in its own PHC string
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_login_at", UtcDateTime, nullable=True),
)

# A session is kept by the SHA-256 of its id: the store never holds a cookie that works.
admin_sessions = sa.Table(
    "admin_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("admin_users.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False, index=True),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("scope", sa.String(8), nullable=False),  # "read" or "write"
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_used_at", UtcDateTime, nullable=True),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
)

# Sends asked for through the dashboard or the API, carried out by the daemon or the next
# `publisher send` (the web process never sends an edition itself); made by migration 0013.
send_requests = sa.Table(
    "send_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("edition_id", sa.Integer, sa.ForeignKey("editions.id"), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # "send" or "test"
    sa.Column("force", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("retry_uncertain", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("retry_failed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("test_address", sa.Text, nullable=True),
    sa.Column("requested_by", sa.String(80), nullable=False),
    sa.Column("requested_at", UtcDateTime, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=True),
    sa.Column("finished_at", UtcDateTime, nullable=True, index=True),
    sa.Column("outcome", sa.Text, nullable=True),
)


# Aggregate analytics (digests with track_clicks or track_opens): made by migration 0013 ------

# The URLs a tracked edition's links carried: a click redirects to exactly one of these.
edition_links = sa.Table(
    "edition_links",
    metadata,
    sa.Column("edition_id", sa.Integer, sa.ForeignKey("editions.id"), primary_key=True),
    sa.Column("link", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("url", sa.Text, nullable=False),
)

# One row per edition, link (-1: the open pixel) and recipient key: unique recipients are
# rows, every hit adds to `hits`. The key is opaque; `subscriber_id` is kept only with
# `[analytics] per_subscriber`. `early`: the first hit came within the scanner window.
link_hits = sa.Table(
    "link_hits",
    metadata,
    sa.Column("edition_id", sa.Integer, sa.ForeignKey("editions.id"), primary_key=True),
    sa.Column("link", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("recipient_key", sa.String(40), primary_key=True),
    sa.Column(
        "subscriber_id",
        sa.Integer,
        sa.ForeignKey("subscribers.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
    sa.Column("hits", sa.Integer, nullable=False),
    sa.Column("early", sa.Boolean, nullable=False),
    sa.Column("first_at", UtcDateTime, nullable=False),
)


# Feed files as the last build wrote them: made by migration 0014 ---------------------------

feed_files = sa.Table(
    "feed_files",
    metadata,
    sa.Column("path", sa.String(512), primary_key=True),  # relative to the feeds folder
    sa.Column("fingerprint", sa.String(64), nullable=False),  # of the inputs it was rendered from
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mtime_ns", sa.BigInteger, nullable=False),
)
