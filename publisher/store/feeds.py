"""Feed files as the last build wrote them, and the light article state their inputs hash."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher.store.schema import articles, author_profiles, feed_files
from publisher.store.statuses import ArticleStatus


@dataclass(frozen=True, slots=True)
class FeedFile:
    """A feed file the build wrote: its inputs' fingerprint, and its size and time on disk."""

    path: str
    fingerprint: str
    size: int
    mtime_ns: int


def feed_files_written(connection: Connection) -> dict[str, FeedFile]:
    """Every feed file of the last build, by its path in the feeds folder."""
    query = sa.select(
        feed_files.c.path, feed_files.c.fingerprint, feed_files.c.size, feed_files.c.mtime_ns
    )
    return {row.path: FeedFile(*row) for row in connection.execute(query).all()}


def put_feed_files(
    connection: Connection, files: Iterable[FeedFile], current: Iterable[str]
) -> None:
    """Record the files a build wrote or checked; forget those it no longer makes."""
    files = list(files)
    stored = set(connection.execute(sa.select(feed_files.c.path)).scalars())
    stale = (stored - set(current)) | {file.path for file in files if file.path in stored}
    if stale:
        connection.execute(feed_files.delete().where(feed_files.c.path.in_(sorted(stale))))
    if files:
        connection.execute(feed_files.insert(), [asdict(file) for file in files])


def public_article_revisions(connection: Connection) -> dict[str, tuple[object, ...]]:
    """Each public article's state in a few columns, by GUID: what changes when it does.

    Every write of an article's content writes its `content_hash` (the file's or the
    upstream item's) or its `updated_at`; a new rendering of all of them changes the
    render fingerprint setting instead. So these columns, and not its whole text, tell
    whether the feeds that hold the article must be rendered again.
    """
    # Times as the database gives them: comparing them is all a fingerprint needs.
    query = sa.select(
        articles.c.guid,
        articles.c.sequence,
        sa.type_coerce(articles.c.published_at, sa.String),
        sa.type_coerce(articles.c.updated_at, sa.String),
        articles.c.content_hash,
        articles.c.feed_source,
    ).where(articles.c.status == ArticleStatus.PUBLIC)
    return {row[0]: tuple(row[1:]) for row in connection.execute(query).all()}


def profile_revisions(connection: Connection) -> list[tuple[str, str]]:
    """Each author profile's slug and content hash: bylines link to the profiles."""
    query = sa.select(author_profiles.c.slug, author_profiles.c.content_hash).order_by(
        author_profiles.c.slug
    )
    return [(row.slug, row.content_hash) for row in connection.execute(query)]
