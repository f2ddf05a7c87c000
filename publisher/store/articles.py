"""Articles in the store: file state, publication, and the public queries pages and feeds read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher.content.articles import (
    Article,
    Audio,
    Author,
    Category,
    Image,
    Origin,
    PublishedArticle,
)
from publisher.content.related import RelatedCandidate
from publisher.store.database import take_sequence_numbers
from publisher.store.schema import articles
from publisher.store.statuses import ArticleStatus

# Articles ---------------------------------------------------------------------------------

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
        query = query.where(articles.c.status != ArticleStatus.WITHDRAWN)
    return [StoredFile(*row) for row in connection.execute(query).all()]


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


def insert_articles(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Add article rows, all with the same columns, in one statement run for each."""
    if rows:
        connection.execute(articles.insert(), list(rows))


def update_article(connection: Connection, article_id: int, values: dict[str, Any]) -> None:
    """Change columns of one article row."""
    connection.execute(articles.update().where(articles.c.id == article_id).values(**values))


@dataclass(slots=True)
class WithdrawnArticles:
    """The withdrawn rows an article coming back can take again, read once per gather."""

    by_key: dict[str, int]
    by_guid: dict[str, int]
    taken: set[int] = field(default_factory=set)

    def take(self, *, key: str | None, guid: str) -> int | None:
        """The row with the same `id` key, else (for an article without one) the same GUID;
        a row taken is not offered again."""
        found = self.by_key.get(key) if key else self.by_guid.get(guid)
        if found is None or found in self.taken:
            return None
        self.taken.add(found)
        return found


def withdrawn_articles(connection: Connection) -> WithdrawnArticles:
    """Every withdrawn row's id by its key and by its GUID."""
    rows = connection.execute(
        sa.select(articles.c.id, articles.c.key, articles.c.guid).where(
            articles.c.status == ArticleStatus.WITHDRAWN
        )
    ).all()
    return WithdrawnArticles(
        by_key={row.key: row.id for row in rows if row.key},
        by_guid={row.guid: row.id for row in rows},
    )


def publish_due_articles(connection: Connection, now: datetime) -> int:
    """Make scheduled articles whose time has come public; returns how many."""
    result = connection.execute(
        articles.update()
        .where(articles.c.status == ArticleStatus.SCHEDULED, articles.c.published_at <= now)
        .values(status=ArticleStatus.PUBLIC)
    )
    return result.rowcount


def assign_publication_sequence(connection: Connection, now: datetime) -> int:
    """Number the public articles that have no sequence yet, oldest first; returns how many."""
    waiting = (
        connection.execute(
            sa.select(articles.c.id)
            .where(articles.c.status == ArticleStatus.PUBLIC, articles.c.sequence.is_(None))
            .order_by(articles.c.published_at, articles.c.guid)
        )
        .scalars()
        .all()
    )
    if not waiting:
        return 0
    numbers = take_sequence_numbers(connection, PUBLICATION_COUNTER, len(waiting))
    connection.execute(
        articles.update()
        .where(articles.c.id == sa.bindparam("row_id"))
        .values(sequence=sa.bindparam("number"), made_public_at=now),
        [
            {"row_id": article_id, "number": number}
            for article_id, number in zip(waiting, numbers, strict=True)
        ],
    )
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
        .where(articles.c.status == ArticleStatus.PUBLIC)
        .order_by(articles.c.published_at.desc(), articles.c.guid)
        .limit(limit)
        .offset(offset or None)
    )
    return [_published(row._mapping) for row in connection.execute(query)]


def public_articles_since(connection: Connection, sequence: int) -> list[PublishedArticle]:
    """Public articles whose publication sequence is above `sequence`, in publication order."""
    query = (
        sa.select(articles)
        .where(articles.c.status == ArticleStatus.PUBLIC, articles.c.sequence > sequence)
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


def public_articles_with_guids(
    connection: Connection, guids: Sequence[str]
) -> dict[str, PublishedArticle]:
    """The public articles among `guids`, by GUID."""
    if not guids:
        return {}
    query = sa.select(articles).where(
        articles.c.status == ArticleStatus.PUBLIC, articles.c.guid.in_(guids)
    )
    found = [_published(row._mapping) for row in connection.execute(query)]
    return {published.guid: published for published in found}


def public_article_at(connection: Connection, url: str) -> PublishedArticle | None:
    """The public article whose permanent URL is `url`, or None; never an upstream item."""
    row = connection.execute(
        sa.select(articles)
        .where(
            articles.c.status == ArticleStatus.PUBLIC,
            articles.c.url == url,
            articles.c.feed_source.is_(None),
        )
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


def related_candidates(connection: Connection) -> list[RelatedCandidate]:
    """What choosing related articles needs of each public article of the site's own."""
    query = sa.select(
        articles.c.guid,
        articles.c.slug,
        articles.c.published_at,
        articles.c.tags,
        articles.c.categories,
        articles.c.related_slugs,
    ).where(articles.c.status == ArticleStatus.PUBLIC, articles.c.feed_source.is_(None))
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
    changes = [
        {"row_guid": guid, "chosen": list(chosen)}
        for guid, chosen in related.items()
        if stored.get(guid) != list(chosen)
    ]
    if changes:
        connection.execute(
            articles.update()
            .where(articles.c.guid == sa.bindparam("row_guid"))
            .values(related=sa.bindparam("chosen")),
            changes,
        )
    return len(changes)


def related_public_articles(connection: Connection, guid: str) -> list[PublishedArticle]:
    """The public articles chosen as related to the article `guid`, in their order."""
    chosen = connection.scalar(sa.select(articles.c.related).where(articles.c.guid == guid))
    if not chosen:
        return []
    rows = connection.execute(
        sa.select(articles).where(
            articles.c.guid.in_(chosen), articles.c.status == ArticleStatus.PUBLIC
        )
    )
    found = {row.guid: _published(row._mapping) for row in rows}
    return [found[item] for item in chosen if item in found]


def public_article_guids_by_url(connection: Connection) -> dict[str, str]:
    """Each own public article's URL and GUID (the newest article's where two share a URL)."""
    rows = connection.execute(
        sa.select(articles.c.url, articles.c.guid)
        .where(articles.c.status == ArticleStatus.PUBLIC, articles.c.feed_source.is_(None))
        .order_by(articles.c.published_at, articles.c.guid.desc())
    )
    return {row.url: row.guid for row in rows}


def related_guids(connection: Connection) -> dict[str, tuple[str, ...]]:
    """Each public article's chosen related GUIDs, in their order (one read for a whole site)."""
    rows = connection.execute(
        sa.select(articles.c.guid, articles.c.related).where(
            articles.c.status == ArticleStatus.PUBLIC
        )
    )
    return {row.guid: tuple(row.related or ()) for row in rows}
