"""Articles by status, for `articles list`, the dashboard and the API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from publisher.store.dashboard import ArticleRow, article_rows
from publisher.store.database import Store

MAX_ARTICLES = 100_000


def articles_by_status(store: Store, statuses: Sequence[str] = ()) -> list[ArticleRow]:
    """Articles newest first; only the given statuses when any are given."""
    with store.transaction() as connection:
        found = article_rows(connection, None, MAX_ARTICLES)
    return [row for row in found if not statuses or row.status in statuses]


def article_record(row: ArticleRow) -> dict[str, Any]:
    """One article as JSON-ready values: times in UTC, ISO 8601."""
    return {
        "id": row.id,
        "title": row.title,
        "status": row.status,
        "url": row.url,
        "published_at": row.published_at.astimezone(UTC).isoformat(),
        "updated_at": row.updated_at.astimezone(UTC).isoformat(),
        "source": row.feed_source or row.source,
    }


def article_document(rows: Sequence[ArticleRow]) -> dict[str, Any]:
    """Articles as one JSON document."""
    return {"articles": [article_record(row) for row in rows]}
