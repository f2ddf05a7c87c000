"""Related articles: chosen from shared tags and categories, then recency; a pure function.

A shared tag counts twice, a shared category once: a category as wide as "News" says less
about two stories than a tag they share. Ties go to the newer article, then the smaller
GUID, so the same articles always give the same choice. An article's `related: [slug, ...]`
replaces the choice with the articles it names (those public, in its order).
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
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
    # Each article is known by its rank, newest first: a smaller rank wins a tie.
    ordered = sorted(candidates, key=_order)
    rank = {candidate.guid: number for number, candidate in enumerate(ordered)}
    tags = [_tags(candidate) for candidate in ordered]
    categories = [frozenset(candidate.categories) for candidate in ordered]
    by_slug: dict[str, RelatedCandidate] = {}
    by_tag: dict[str, list[int]] = defaultdict(list)
    by_category: dict[str, list[int]] = defaultdict(list)
    for number, candidate in enumerate(ordered):  # so each list is newest first
        by_slug.setdefault(candidate.slug, candidate)  # the newest, should two share a slug
        for tag in tags[number]:
            by_tag[tag].append(number)
        for slug in categories[number]:
            by_category[slug].append(number)
    related = {}
    for candidate in candidates:
        if candidate.chosen is not None:
            related[candidate.guid] = _chosen(candidate, by_slug)
            continue
        number = rank[candidate.guid]
        sharing_tags = Counter[int]()
        for tag in tags[number]:
            sharing_tags.update(by_tag[tag])
        del sharing_tags[number]
        mine = categories[number]
        scored = [
            (-(TAG_WEIGHT * shared + CATEGORY_WEIGHT * len(mine & categories[other])), other)
            for other, shared in _contenders(sharing_tags, len(mine), count)
        ]
        scored += _sharing_categories_only(number, categories, by_category, sharing_tags, count)
        related[candidate.guid] = tuple(
            ordered[other].guid for _, other in heapq.nsmallest(count, scored)
        )
    return related


def _tags(candidate: RelatedCandidate) -> set[str]:
    return {tag.casefold() for tag in candidate.tags}


def _contenders(sharing_tags: Counter[int], categories: int, count: int) -> list[tuple[int, int]]:
    """The articles sharing tags that may still rank among the best `count`.

    The `count`-th most tags shared scores at least TAG_WEIGHT times that; an article that
    shares fewer tags than that cannot catch up with categories alone.
    """
    if len(sharing_tags) <= count:
        return list(sharing_tags.items())
    cutoff = TAG_WEIGHT * heapq.nlargest(count, sharing_tags.values())[-1]
    reach = CATEGORY_WEIGHT * categories
    return [
        (other, shared)
        for other, shared in sharing_tags.items()
        if TAG_WEIGHT * shared + reach >= cutoff
    ]


def _sharing_categories_only(
    number: int,
    categories: list[frozenset[str]],
    by_category: dict[str, list[int]],
    sharing_tags: Counter[int],
    count: int,
) -> list[tuple[int, int]]:
    """The best `count` of the articles sharing only categories with article `number`, each
    as (minus its score, its rank).

    A category as wide as "News" holds most articles, so its members are walked newest first
    and the walk stops once `count` of them share every category: no older one can beat those.
    """
    mine = categories[number]
    if not mine:
        return []
    best: dict[int, list[int]] = defaultdict(list)
    seen: set[int] = {number}
    for other in heapq.merge(*(by_category[slug] for slug in sorted(mine))):
        if other in seen or other in sharing_tags:
            continue
        seen.add(other)
        shared = len(mine & categories[other])
        if len(best[shared]) < count:
            best[shared].append(other)
        if len(best[len(mine)]) >= count:
            break
    return [(-CATEGORY_WEIGHT * shared, other) for shared, found in best.items() for other in found]


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
