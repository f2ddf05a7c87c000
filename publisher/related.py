"""Related articles: chosen from shared tags and categories, then recency; a pure function.

A shared tag counts twice, a shared category once: a category as wide as "News" says less
about two stories than a tag they share. Ties go to the newer article, then the smaller
GUID, so the same articles always give the same choice. An article's `related: [slug, ...]`
replaces the choice with the articles it names (those public, in its order).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

RELATED_COUNT = 3
TAG_WEIGHT = 2
CATEGORY_WEIGHT = 1


@dataclass(frozen=True, slots=True)
class RelatedCandidate:
    """What choosing related articles needs of one public article."""

    guid: str
    slug: str
    date: datetime
    tags: tuple[str, ...]
    categories: tuple[str, ...]  # slugs
    chosen: tuple[str, ...] | None = None  # the `related:` slugs of its front matter


def related_articles(
    candidates: Sequence[RelatedCandidate], count: int = RELATED_COUNT
) -> dict[str, tuple[str, ...]]:
    """For each article's GUID, the GUIDs of its related articles, most related first."""
    by_slug: dict[str, RelatedCandidate] = {}
    for candidate in sorted(candidates, key=_order):
        by_slug.setdefault(candidate.slug, candidate)  # the newest, should two share a slug
    holders: dict[str, list[RelatedCandidate]] = defaultdict(list)
    for candidate in candidates:
        for key, _ in _keys(candidate):
            holders[key].append(candidate)
    related = {}
    for candidate in candidates:
        if candidate.chosen is not None:
            related[candidate.guid] = _chosen(candidate, by_slug)
            continue
        scores: dict[str, int] = defaultdict(int)
        others: dict[str, RelatedCandidate] = {}
        for key, weight in _keys(candidate):
            for other in holders[key]:
                if other.guid != candidate.guid:
                    scores[other.guid] += weight
                    others[other.guid] = other
        ranked = sorted(others.values(), key=lambda o: (-scores[o.guid], *_order(o)))
        related[candidate.guid] = tuple(other.guid for other in ranked[:count])
    return related


def _keys(candidate: RelatedCandidate) -> set[tuple[str, int]]:
    tags = {(f"tag:{tag.casefold()}", TAG_WEIGHT) for tag in candidate.tags}
    categories = {(f"category:{slug}", CATEGORY_WEIGHT) for slug in candidate.categories}
    return tags | categories


def _order(candidate: RelatedCandidate) -> tuple[float, str]:
    """Newest first, then by GUID."""
    return (-candidate.date.timestamp(), candidate.guid)


def _chosen(candidate: RelatedCandidate, by_slug: dict[str, RelatedCandidate]) -> tuple[str, ...]:
    guids: dict[str, None] = {}
    for slug in candidate.chosen or ():
        other = by_slug.get(slug)
        if other is not None and other.guid != candidate.guid:
            guids.setdefault(other.guid)
    return tuple(guids)
