"""Related articles: chosen from shared tags and categories, then recency; a pure function.

A shared tag counts twice, a shared category once: a category as wide as "News" says less
about two stories than a tag they share. Ties go to the newer article, then the smaller
GUID, so the same articles always give the same choice. An article's `related: [slug, ...]`
replaces the choice with the articles it names (those public, in its order).
"""

from __future__ import annotations

import heapq
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
    ordered = sorted(candidates, key=_order)
    by_slug: dict[str, RelatedCandidate] = {}
    for candidate in ordered:
        by_slug.setdefault(candidate.slug, candidate)  # the newest, should two share a slug
    by_tag: dict[str, list[RelatedCandidate]] = defaultdict(list)
    by_category: dict[str, list[RelatedCandidate]] = defaultdict(list)
    for candidate in ordered:  # so each list is newest first
        for tag in _tags(candidate):
            by_tag[tag].append(candidate)
        for slug in set(candidate.categories):
            by_category[slug].append(candidate)
    related = {}
    for candidate in candidates:
        if candidate.chosen is not None:
            related[candidate.guid] = _chosen(candidate, by_slug)
            continue
        sharing_tags = _sharing_tags(candidate, by_tag)
        scored = [
            (TAG_WEIGHT * shared + CATEGORY_WEIGHT * _shared_categories(candidate, other), other)
            for other, shared in sharing_tags.values()
        ]
        scored += _sharing_categories_only(candidate, by_category, sharing_tags, count)
        scored.sort(key=lambda pair: (-pair[0], *_order(pair[1])))
        related[candidate.guid] = tuple(other.guid for _, other in scored[:count])
    return related


def _tags(candidate: RelatedCandidate) -> set[str]:
    return {tag.casefold() for tag in candidate.tags}


def _shared_categories(one: RelatedCandidate, other: RelatedCandidate) -> int:
    return len(set(one.categories) & set(other.categories))


def _sharing_tags(
    candidate: RelatedCandidate, by_tag: dict[str, list[RelatedCandidate]]
) -> dict[str, tuple[RelatedCandidate, int]]:
    """The other articles sharing a tag with `candidate`, with how many tags they share."""
    found: dict[str, tuple[RelatedCandidate, int]] = {}
    for tag in _tags(candidate):
        for other in by_tag[tag]:
            if other.guid != candidate.guid:
                found[other.guid] = (other, found.get(other.guid, (other, 0))[1] + 1)
    return found


def _sharing_categories_only(
    candidate: RelatedCandidate,
    by_category: dict[str, list[RelatedCandidate]],
    sharing_tags: dict[str, tuple[RelatedCandidate, int]],
    count: int,
) -> list[tuple[int, RelatedCandidate]]:
    """The best `count` of the articles sharing only categories, each with its score.

    A category as wide as "News" holds most articles, so its members are walked newest first
    and the walk stops once `count` of them share every category: no older one can beat those.
    """
    categories = set(candidate.categories)
    if not categories:
        return []
    members = [by_category[slug] for slug in sorted(categories)]
    best: dict[int, list[RelatedCandidate]] = defaultdict(list)
    seen: set[str] = {candidate.guid, *sharing_tags}
    for other in heapq.merge(*members, key=_order):
        if other.guid in seen:
            continue
        seen.add(other.guid)
        shared = _shared_categories(candidate, other)
        if len(best[shared]) < count:
            best[shared].append(other)
        if len(best[len(categories)]) >= count:
            break
    return [(CATEGORY_WEIGHT * shared, other) for shared, found in best.items() for other in found]


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
