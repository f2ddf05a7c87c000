"""Related articles: shared tags and categories, then recency, then GUID; chosen by hand."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command
from hypothesis import given
from hypothesis import strategies as st

from publisher.content.related import RelatedCandidate, related_articles
from publisher.site.gather import gather
from publisher.store.articles import public_articles, related_public_articles
from publisher.store.database import Store, _alembic_config, create_engine, open_store
from publisher.store.profiles import profiles
from tests.conftest import MovableClock, Site

DAY = datetime(2026, 11, 1, tzinfo=UTC)


def candidate(
    guid: str,
    day: int = 0,
    tags: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    chosen: tuple[str, ...] | None = None,
) -> RelatedCandidate:
    return RelatedCandidate(guid, guid, DAY + timedelta(days=day), tags, categories, chosen)


def test_shared_tags_count_more_than_a_shared_category_then_newer_first() -> None:
    articles = [
        candidate("base", tags=("harbour", "ferry"), categories=("news",)),
        candidate("one-tag-old", day=1, tags=("harbour",)),
        candidate("two-tags", day=0, tags=("ferry", "Harbour")),
        candidate("category-only", day=9, categories=("news",)),
        candidate("one-tag-new", day=5, tags=("ferry",)),
        candidate("unrelated", day=20, tags=("lanterns",), categories=("culture",)),
    ]
    related = related_articles(articles)
    assert related["base"] == ("two-tags", "one-tag-new", "one-tag-old")


def test_three_at_most_and_never_the_article_itself_nor_one_sharing_nothing() -> None:
    articles = [candidate(f"a{n}", day=n, categories=("news",)) for n in range(6)]
    articles.append(candidate("alone", tags=("unique",)))
    related = related_articles(articles)
    assert related["a0"] == ("a5", "a4", "a3")
    assert related["alone"] == ()


def test_ties_are_broken_by_guid() -> None:
    articles = [
        candidate("base", tags=("t",)),
        candidate("tag:b", day=3, tags=("t",)),
        candidate("tag:a", day=3, tags=("t",)),
        candidate("tag:c", day=3, tags=("t",)),
        candidate("tag:0", day=3, tags=("t",)),
    ]
    assert related_articles(articles)["base"] == ("tag:0", "tag:a", "tag:b")


def test_related_front_matter_overrides_in_its_order_skipping_unknown_and_itself() -> None:
    articles = [
        candidate("base", tags=("t",), chosen=("far", "missing", "base", "far", "near")),
        candidate("near", tags=("t",)),
        candidate("far", tags=("other",)),
    ]
    assert related_articles(articles)["base"] == ("far", "near")


def test_empty_override_shows_no_related_articles() -> None:
    articles = [candidate("base", tags=("t",), chosen=()), candidate("near", tags=("t",))]
    assert related_articles(articles)["base"] == ()


words = st.sampled_from(["harbour", "ferry", "council", "tide", "lanterns"])
candidates = st.lists(
    st.builds(
        candidate,
        guid=st.text("abcdef", min_size=1, max_size=4),
        day=st.integers(0, 5),
        tags=st.lists(words, max_size=3).map(tuple),
        categories=st.lists(st.sampled_from(["news", "culture", "sport"]), max_size=3).map(tuple),
    ),
    unique_by=lambda c: c.guid,
    max_size=16,
)


@given(candidates, st.randoms(use_true_random=False))
def test_same_articles_in_any_order_give_the_same_choice(
    articles: list[RelatedCandidate], shuffler: random.Random
) -> None:
    shuffled = list(articles)
    shuffler.shuffle(shuffled)
    first = related_articles(articles)
    assert related_articles(shuffled) == first
    for guid, chosen in first.items():
        assert guid not in chosen
        assert len(chosen) <= 3


def every_pair_scored(articles: list[RelatedCandidate]) -> dict[str, tuple[str, ...]]:
    """The choice made the slow way: every pair of articles scored."""
    chosen = {}
    for one in articles:
        scored = []
        for other in articles:
            tags = {t.casefold() for t in one.tags} & {t.casefold() for t in other.tags}
            score = 2 * len(tags) + len(set(one.categories) & set(other.categories))
            if other.guid != one.guid and score:
                scored.append((-score, -other.date.timestamp(), other.guid))
        chosen[one.guid] = tuple(guid for *_, guid in sorted(scored)[:3])
    return chosen


@given(candidates)
def test_choice_is_the_one_every_pair_scored_would_make(articles: list[RelatedCandidate]) -> None:
    assert related_articles(articles) == every_pair_scored(articles)


def related_slugs(store: Store, slug: str) -> list[str]:
    with store.transaction() as connection:
        [guid] = [p.guid for p in public_articles(connection) if p.article.slug == slug]
        return [p.article.slug for p in related_public_articles(connection, guid)]


def test_gather_chooses_again_when_an_article_changes(site: Site, clock: MovableClock) -> None:
    config = site.config()
    with open_store(config.store_url) as store:
        gather(store, config, clock)
        assert related_slugs(store, "harbour-dredging-march") == [
            "winter-ferry-timetable",
            "boatyard-apprentices",
            "tide-gauge-record-surge",
        ]
        before = related_slugs(store, "dark-sky-status")
        assert len(before) == 3
        site.write_article(
            "science/comet.md",
            "---\ntitle: Comet over the bay\ndate: 2026-11-24T20:00:00Z\n"
            "tags: [astronomy, dark-sky, observatory, night-sky]\ncategories: [Science]\n---\n"
            "A comet.\n",
        )
        (site.content / "news/harbour-dredging-to-begin.md").unlink()
        gather(store, config, clock)
        after = related_slugs(store, "dark-sky-status")
    assert after[0] == "comet"
    assert "harbour-dredging-march" not in after


def test_store_made_before_0011_gets_profiles_and_related_at_its_next_gather(
    site: Site, clock: MovableClock, store_url: str
) -> None:
    config = dataclasses.replace(site.config(), store_url=store_url)
    with open_store(store_url) as store:
        gather(store, config, clock)
    engine = create_engine(store_url)
    with engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0010")
        # What the publisher before 0011 left: its own rendering fingerprint.
        connection.execute(
            sa.text("UPDATE settings SET value = 'older' WHERE name = :name"),
            {"name": "render_fingerprint"},
        )
    engine.dispose()
    with open_store(store_url) as store:
        report = gather(store, config, clock)
        assert report.errors == []
        with store.transaction() as connection:
            assert len(profiles(connection)) == 7
        assert related_slugs(store, "harbour-dredging-march")[0] == "winter-ferry-timetable"
        assert len(related_slugs(store, "coastal-path-reopens")) == 3
