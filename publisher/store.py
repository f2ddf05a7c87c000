"""The store: SQLAlchemy Core over SQLite (WAL) or PostgreSQL, schema managed by Alembic."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection, Engine

from publisher.authors import AuthorProfile, ProfileLink
from publisher.content import (
    Article,
    Audio,
    Author,
    Category,
    Image,
    Origin,
    PublishedArticle,
)
from publisher.errors import StoreError
from publisher.related import RelatedCandidate

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_SECONDS = 30


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


@dataclass(frozen=True, slots=True)
class SchemaState:
    current: str | None
    head: str


class Store:
    """An open store whose schema is at the version this code knows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction; on SQLite it takes the write lock at once, so writers queue.

        A database failure (a corrupt file, a lost server) leaves as a StoreError naming the
        store; an IntegrityError stays itself, since callers resolve races with it.
        """
        try:
            with self.engine.begin() as connection:
                yield connection
        except sa.exc.IntegrityError:
            raise
        except sa.exc.DBAPIError as error:
            raise store_failure(self.engine, error) from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def store_failure(engine: Engine, error: sa.exc.DBAPIError) -> StoreError:
    """A one-line StoreError naming the store (without its password) and what went wrong."""
    detail = str(error.orig).strip()
    problem = detail.splitlines()[0] if detail else type(error.orig).__name__
    return StoreError(f"store {engine.url.render_as_string(hide_password=True)}: {problem}")


def open_store(url: str) -> Store:
    """Connect to the store at `url`, bring its schema up to date, refuse one that is newer."""
    engine = create_engine(url)
    try:
        upgrade_schema(engine)
    except Exception:
        engine.dispose()
        raise
    return Store(engine)


def create_engine(url: str) -> Engine:
    """An engine for `url`: SQLite in WAL mode with a busy timeout, or PostgreSQL via psycopg 3."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    database = parsed.database or ""
    if database and database != ":memory:" and not Path(database).parent.is_dir():
        raise StoreError(f"store {url}: folder {Path(database).parent} does not exist")
    engine = sa.create_engine(
        parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}, pool_pre_ping=True
    )
    sa.event.listen(engine, "connect", _configure_sqlite_connection)
    sa.event.listen(engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: object) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred and lazy).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _alembic_config(connection: Connection | None = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", "publisher:migrations")
    config.attributes["connection"] = connection
    return config


def schema_state(engine: Engine) -> SchemaState:
    """The schema revision the store is at, and the newest this code knows."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except sa.exc.DBAPIError as error:
        # The whole family: "file is not a database" is a DatabaseError, not an OperationalError.
        raise store_failure(engine, error) from None
    return SchemaState(current=current, head=head)


def upgrade_schema(engine: Engine) -> None:
    """Migrate the store to the newest schema; refuse a store made by a newer publisher."""
    state = schema_state(engine)
    if state.current == state.head:
        return
    scripts = ScriptDirectory.from_config(_alembic_config())
    if state.current is not None:
        try:
            scripts.get_revision(state.current)
        except CommandError:
            raise StoreError(
                f"the store's schema ({state.current}) is newer than this publisher knows "
                f"(up to {state.head}): upgrade publisher before using this store"
            ) from None
    log.info("upgrading the store schema from %s to %s", state.current or "empty", state.head)
    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), "head")
    except sa.exc.DBAPIError as error:
        raise store_failure(engine, error) from None


def setting(connection: Connection, name: str) -> str | None:
    """A stored setting's value, or None."""
    value = connection.scalar(sa.select(settings.c.value).where(settings.c.name == name))
    return None if value is None else str(value)


def put_setting(connection: Connection, name: str, value: str) -> None:
    """Store a setting, replacing any earlier value."""
    updated = connection.execute(
        settings.update().where(settings.c.name == name).values(value=value)
    )
    if updated.rowcount == 0:
        connection.execute(settings.insert().values(name=name, value=value))


def take_sequence_numbers(connection: Connection, counter: str, count: int) -> range:
    """Reserve `count` consecutive numbers from a counter; the row lock orders concurrent takers."""
    last = connection.scalar(
        counters.update()
        .where(counters.c.name == counter)
        .values(value=counters.c.value + count)
        .returning(counters.c.value)
    )
    if last is None:
        raise StoreError(f"counter {counter!r} is missing from the store")
    return range(int(last) - count + 1, int(last) + 1)


def counter_value(connection: Connection, counter: str) -> int:
    """The last number a counter handed out (0 if it has none yet)."""
    value = connection.scalar(sa.select(counters.c.value).where(counters.c.name == counter))
    return int(value or 0)


def lock_counter(connection: Connection, counter: str) -> None:
    """Hold a counter's row until the transaction ends: PostgreSQL writers of it take turns.

    SQLite needs no lock: its writers already queue (BEGIN IMMEDIATE).
    """
    connection.execute(
        sa.select(counters.c.value).where(counters.c.name == counter).with_for_update()
    )


# Articles ---------------------------------------------------------------------------------

DRAFT, SCHEDULED, PUBLIC, WITHDRAWN = "draft", "scheduled", "public", "withdrawn"
PUBLICATION_COUNTER = "publication"


@dataclass(frozen=True, slots=True)
class StoredFile:
    """What the store remembers of an article's source file, to skip it when unchanged."""

    id: int
    guid: str
    key: str | None
    slug: str
    source: str
    status: str
    file_size: int
    file_mtime_ns: int
    content_hash: str


def stored_files(connection: Connection, *, include_withdrawn: bool = False) -> list[StoredFile]:
    """Every article row's file state; withdrawn rows only when asked."""
    query = sa.select(
        articles.c.id,
        articles.c.guid,
        articles.c.key,
        articles.c.slug,
        articles.c.source,
        articles.c.status,
        articles.c.file_size,
        articles.c.file_mtime_ns,
        articles.c.content_hash,
    )
    query = query.where(articles.c.feed_source.is_(None))  # items of upstream feeds have none
    if not include_withdrawn:
        query = query.where(articles.c.status != WITHDRAWN)
    return [StoredFile(**row._mapping) for row in connection.execute(query)]


def article_values(article: Article) -> dict[str, Any]:
    """The columns that come from an article's parsed content."""
    return {
        "key": article.key,
        "source": article.source,
        "slug": article.slug,
        "url": article.url,
        "title": article.title,
        "summary": article.summary,
        "body_html": article.body_html,
        "authors": [asdict(author) for author in article.authors],
        "image": asdict(article.image) if article.image else None,
        "categories": [asdict(category) for category in article.categories],
        "tags": list(article.tags),
        "published_at": article.date,
        "feed_source": article.origin.name if article.origin else None,
        "origin": asdict(article.origin) if article.origin else None,
        "audio": asdict(article.audio) if article.audio else None,
        "related_slugs": list(article.related) if article.related is not None else None,
    }


def insert_article(connection: Connection, values: dict[str, Any]) -> int:
    """Add an article row; returns its id."""
    result = connection.execute(articles.insert().values(**values).returning(articles.c.id))
    return int(result.scalar_one())


def update_article(connection: Connection, article_id: int, values: dict[str, Any]) -> None:
    """Change columns of one article row."""
    connection.execute(articles.update().where(articles.c.id == article_id).values(**values))


def withdrawn_article_id(connection: Connection, *, key: str | None, guid: str) -> int | None:
    """A withdrawn row the same article can take back: same `id` key, else same GUID."""
    condition = articles.c.key == key if key else articles.c.guid == guid
    found = connection.scalar(
        sa.select(articles.c.id).where(condition, articles.c.status == WITHDRAWN)
    )
    return None if found is None else int(found)


def publish_due_articles(connection: Connection, now: datetime) -> int:
    """Make scheduled articles whose time has come public; returns how many."""
    result = connection.execute(
        articles.update()
        .where(articles.c.status == SCHEDULED, articles.c.published_at <= now)
        .values(status=PUBLIC)
    )
    return result.rowcount


def assign_publication_sequence(connection: Connection, now: datetime) -> int:
    """Number the public articles that have no sequence yet, oldest first; returns how many."""
    waiting = (
        connection.execute(
            sa.select(articles.c.id)
            .where(articles.c.status == PUBLIC, articles.c.sequence.is_(None))
            .order_by(articles.c.published_at, articles.c.guid)
        )
        .scalars()
        .all()
    )
    if not waiting:
        return 0
    numbers = take_sequence_numbers(connection, PUBLICATION_COUNTER, len(waiting))
    for article_id, number in zip(waiting, numbers, strict=True):
        update_article(connection, article_id, {"sequence": number, "made_public_at": now})
    return len(waiting)


def count_articles(connection: Connection, status: str) -> int:
    """How many articles have `status`."""
    return int(
        connection.scalar(
            sa.select(sa.func.count()).select_from(articles).where(articles.c.status == status)
        )
        or 0
    )


def public_articles(
    connection: Connection, limit: int | None = None, offset: int = 0
) -> list[PublishedArticle]:
    """Public articles, newest first (by date, then GUID so ties are stable), from `offset`."""
    query = (
        sa.select(articles)
        .where(articles.c.status == PUBLIC)
        .order_by(articles.c.published_at.desc(), articles.c.guid)
        .limit(limit)
        .offset(offset or None)
    )
    return [_published(row._mapping) for row in connection.execute(query)]


def public_articles_since(connection: Connection, sequence: int) -> list[PublishedArticle]:
    """Public articles whose publication sequence is above `sequence`, in publication order."""
    query = (
        sa.select(articles)
        .where(articles.c.status == PUBLIC, articles.c.sequence > sequence)
        .order_by(articles.c.sequence)
    )
    return [_published(row._mapping) for row in connection.execute(query)]


def _published(row: Any) -> PublishedArticle:
    image = row["image"]
    article = Article(
        source=row["source"],
        key=row["key"],
        slug=row["slug"],
        url=row["url"],
        title=row["title"],
        date=row["published_at"],
        updated=row["updated_at"],
        authors=tuple(Author(**author) for author in row["authors"]),
        summary=row["summary"],
        body_html=row["body_html"],
        image=Image(**image) if image else None,
        categories=tuple(Category(**category) for category in row["categories"]),
        tags=tuple(row["tags"]),
        draft=False,
        origin=Origin(**row["origin"]) if row["origin"] else None,
        audio=Audio(**row["audio"]) if row["audio"] else None,
        related=tuple(row["related_slugs"]) if row["related_slugs"] is not None else None,
    )
    return PublishedArticle(
        guid=row["guid"],
        sequence=row["sequence"],
        updated=max(row["updated_at"], row["published_at"]),
        article=article,
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
    sa.UniqueConstraint("digest", "number", name="uq_editions_digest_number"),
    sa.UniqueConstraint("digest", "slot", name="uq_editions_digest_slot"),
)


# Subscribers and deliveries ---------------------------------------------------------------

PENDING, CONFIRMED, UNSUBSCRIBED, BOUNCED = "pending", "confirmed", "unsubscribed", "bounced"
# Reported mail as spam: only a new double opt-in (a confirmed web sign-up) undoes it.
COMPLAINED = "complained"
FORGOTTEN = "forgotten"
SUBSCRIBER_STATUSES = (PENDING, CONFIRMED, UNSUBSCRIBED, BOUNCED, COMPLAINED, FORGOTTEN)

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


def count_hard_bounces(connection: Connection, subscriber_ids: Sequence[int], limit: int) -> None:
    """Count one hard bounce for each id (an id listed twice counts twice); a confirmed
    subscriber whose count reaches `limit` becomes bounced."""
    for subscriber_id in subscriber_ids:
        connection.execute(
            subscribers.update()
            .where(subscribers.c.id == subscriber_id)
            .values(hard_bounces=subscribers.c.hard_bounces + 1)
        )
    connection.execute(
        subscribers.update()
        .where(
            subscribers.c.id.in_(subscriber_ids),
            subscribers.c.hard_bounces >= limit,
            subscribers.c.status == CONFIRMED,
        )
        .values(status=BOUNCED)
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


# Web pages (read-only queries) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EditionSummary:
    """What a list of past editions shows: no bodies."""

    digest: str
    number: int
    subject: str
    created_at: datetime
    article_guids: tuple[str, ...] = ()


def edition_summary(connection: Connection, digest: str, number: int) -> EditionSummary | None:
    """One stored edition without its bodies (with its articles' GUIDs), or None."""
    row = connection.execute(
        sa.select(
            editions.c.digest,
            editions.c.number,
            editions.c.subject,
            editions.c.created_at,
            editions.c.article_guids,
        ).where(editions.c.digest == digest, editions.c.number == number)
    ).first()
    if row is None:
        return None
    values = dict(row._mapping)
    return EditionSummary(**{**values, "article_guids": tuple(values["article_guids"])})


def public_articles_with_guids(
    connection: Connection, guids: Sequence[str]
) -> dict[str, PublishedArticle]:
    """The public articles among `guids`, by GUID."""
    if not guids:
        return {}
    query = sa.select(articles).where(articles.c.status == PUBLIC, articles.c.guid.in_(guids))
    found = [_published(row._mapping) for row in connection.execute(query)]
    return {published.guid: published for published in found}


def edition_summaries(connection: Connection, limit: int | None = None) -> list[EditionSummary]:
    """Stored editions without their bodies, newest first."""
    query = (
        sa.select(editions.c.digest, editions.c.number, editions.c.subject, editions.c.created_at)
        .order_by(editions.c.created_at.desc(), editions.c.id.desc())
        .limit(limit)
    )
    return [EditionSummary(**row._mapping) for row in connection.execute(query)]


def public_article_at(connection: Connection, url: str) -> PublishedArticle | None:
    """The public article whose permanent URL is `url`, or None; never an upstream item."""
    row = connection.execute(
        sa.select(articles)
        .where(articles.c.status == PUBLIC, articles.c.url == url, articles.c.feed_source.is_(None))
        .order_by(articles.c.published_at.desc(), articles.c.guid)
        .limit(1)
    ).first()
    return None if row is None else _published(row._mapping)


def public_articles_in_category(
    connection: Connection, slug: str, limit: int | None = None
) -> list[PublishedArticle]:
    """Public articles in the category `slug`, newest first.

    Categories are a JSON list per article, which SQLite and PostgreSQL query differently, so
    the match is made here rather than in SQL.
    """
    found = [
        published
        for published in public_articles(connection)
        if any(category.slug == slug for category in published.article.categories)
    ]
    return found[:limit] if limit is not None else found


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


@dataclass(frozen=True, slots=True)
class StoredProfile:
    """What the store remembers of a profile's file, to skip it when unchanged."""

    slug: str
    source: str
    content_hash: str
    file_size: int
    file_mtime_ns: int


def stored_profiles(connection: Connection) -> list[StoredProfile]:
    """Every stored profile's file state."""
    query = sa.select(
        author_profiles.c.slug,
        author_profiles.c.source,
        author_profiles.c.content_hash,
        author_profiles.c.file_size,
        author_profiles.c.file_mtime_ns,
    )
    return [StoredProfile(**row._mapping) for row in connection.execute(query)]


def put_profile(connection: Connection, profile: AuthorProfile, file: dict[str, Any]) -> None:
    """Store a parsed profile (replacing the one of the same slug) with its file state."""
    values = {
        "source": profile.source,
        "name": profile.name,
        "bio_html": profile.bio_html,
        "avatar": profile.avatar,
        "url": profile.url,
        "email": profile.email,
        "links": [asdict(link) for link in profile.links],
        **file,
    }
    updated = connection.execute(
        author_profiles.update().where(author_profiles.c.slug == profile.slug).values(**values)
    )
    if updated.rowcount == 0:
        connection.execute(author_profiles.insert().values(slug=profile.slug, **values))


def update_profile_file(connection: Connection, slug: str, file: dict[str, Any]) -> None:
    """Record a profile's new file state (size, mtime) when its content did not change."""
    connection.execute(
        author_profiles.update().where(author_profiles.c.slug == slug).values(**file)
    )


def delete_profile(connection: Connection, slug: str) -> None:
    """Forget a profile whose file is gone."""
    connection.execute(author_profiles.delete().where(author_profiles.c.slug == slug))


def profiles(connection: Connection) -> list[AuthorProfile]:
    """Every stored author profile, by slug."""
    query = sa.select(author_profiles).order_by(author_profiles.c.slug)
    return [
        AuthorProfile(
            source=row.source,
            slug=row.slug,
            name=row.name,
            bio_html=row.bio_html,
            avatar=row.avatar,
            url=row.url,
            email=row.email,
            links=tuple(ProfileLink(**link) for link in row.links),
        )
        for row in connection.execute(query)
    ]


def related_candidates(connection: Connection) -> list[RelatedCandidate]:
    """What choosing related articles needs of each public article of the site's own."""
    query = sa.select(
        articles.c.guid,
        articles.c.slug,
        articles.c.published_at,
        articles.c.tags,
        articles.c.categories,
        articles.c.related_slugs,
    ).where(articles.c.status == PUBLIC, articles.c.feed_source.is_(None))
    return [
        RelatedCandidate(
            guid=row.guid,
            slug=row.slug,
            date=row.published_at,
            tags=tuple(row.tags),
            categories=tuple(category["slug"] for category in row.categories),
            chosen=tuple(row.related_slugs) if row.related_slugs is not None else None,
        )
        for row in connection.execute(query)
    ]


def put_related(connection: Connection, related: dict[str, tuple[str, ...]]) -> int:
    """Store each article's related GUIDs where they changed; returns how many changed."""
    query = sa.select(articles.c.guid, articles.c.related)
    stored = {row.guid: row.related for row in connection.execute(query)}
    changed = 0
    for guid, chosen in related.items():
        if stored.get(guid) != list(chosen):
            connection.execute(
                articles.update().where(articles.c.guid == guid).values(related=list(chosen))
            )
            changed += 1
    return changed


def related_public_articles(connection: Connection, guid: str) -> list[PublishedArticle]:
    """The public articles chosen as related to the article `guid`, in their order."""
    chosen = connection.scalar(sa.select(articles.c.related).where(articles.c.guid == guid))
    if not chosen:
        return []
    rows = connection.execute(
        sa.select(articles).where(articles.c.guid.in_(chosen), articles.c.status == PUBLIC)
    )
    found = {row.guid: _published(row._mapping) for row in rows}
    return [found[item] for item in chosen if item in found]


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
