"""Editions on SQLite and PostgreSQL: watermarks, slots, caps, categories, archive, preview."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.mail.editions import (
    EditionOutcome,
    archive_path,
    create_edition,
    list_editions,
    preview_edition,
)
from publisher.site.gather import gather
from publisher.store.articles import public_articles
from publisher.store.database import Store, open_store
from tests.conftest import MovableClock, Site, run_publisher


def article(slug: str, date: str = "2026-11-25T10:00:00Z", categories: str = "[News]") -> str:
    return (
        f'---\ntitle: "Story {slug}"\ndate: {date}\nslug: {slug}\ncategories: {categories}\n---\n\n'
        f"The first paragraph of {slug}.\n"
    )


def with_config(site: Site, old: str, new: str) -> Config:
    site.config_path.write_text(site.config_path.read_text().replace(old, new))
    return site.config()


@pytest.fixture
def gathered(site: Site, store: Store, clock: MovableClock) -> Site:
    gather(store, site.config(), clock)
    return site


def test_first_edition_holds_every_public_article_newest_first(
    gathered: Site, store: Store, clock: MovableClock
) -> None:
    outcome = create_edition(store, gathered.config(), "daily", clock)
    assert outcome.created
    assert outcome.edition is not None
    with store.transaction() as connection:
        public = sorted(public_articles(connection), key=lambda p: p.article.date, reverse=True)
    assert outcome.edition.article_guids == tuple(p.guid for p in public)
    assert outcome.edition.number == 1
    assert outcome.edition.subject.startswith("The Harbour Gazette: ")


def test_two_creates_in_a_row_make_one_edition_then_nothing_new(
    gathered: Site, store: Store, clock: MovableClock
) -> None:
    first = create_edition(store, gathered.config(), "daily", clock)
    second = create_edition(store, gathered.config(), "daily", clock)
    assert first.created
    assert (second.created, second.edition) == (False, None)
    assert "nothing new" in second.message
    assert len(list_editions(store)) == 1


def test_same_slot_twice_makes_one_edition(
    gathered: Site, store: Store, clock: MovableClock
) -> None:
    slot = "2026-10-25T01:30 Europe/London"
    first = create_edition(store, gathered.config(), "daily", clock, slot=slot)
    gathered.write_article("news/late.md", article("late"))
    gather(store, gathered.config(), clock)
    second = create_edition(store, gathered.config(), "daily", clock, slot=slot)
    assert first.edition is not None
    assert second.edition == first.edition
    assert not second.created
    assert len(list_editions(store)) == 1
    third = create_edition(
        store, gathered.config(), "daily", clock, slot="2026-10-26T01:30 Europe/London"
    )
    assert third.edition is not None
    assert [guid.endswith(":late") for guid in third.edition.article_guids] == [True]


def test_article_published_between_editions_lands_in_exactly_one(
    gathered: Site, store: Store, clock: MovableClock
) -> None:
    config = gathered.config()
    gathered.write_article("news/between.md", article("between", date="2026-11-25T13:00:00Z"))
    gather(store, config, clock)  # scheduled: the clock says 12:00
    first = create_edition(store, config, "daily", clock)
    clock.advance(hours=2)
    gather(store, config, clock)  # now it is public
    second = create_edition(store, config, "daily", clock)
    assert first.edition is not None
    assert second.edition is not None
    all_guids = first.edition.article_guids + second.edition.article_guids
    assert [g for g in all_guids if g.endswith(":between")] == [second.edition.article_guids[0]]
    assert len(all_guids) == len(set(all_guids))


def test_backdated_article_published_late_still_reaches_the_next_edition(
    gathered: Site, store: Store, clock: MovableClock
) -> None:
    config = gathered.config()
    create_edition(store, config, "daily", clock)
    gathered.write_article("news/old-news.md", article("old-news", date="2019-01-01T00:00:00Z"))
    gather(store, config, clock)
    outcome = create_edition(store, config, "daily", clock)
    assert outcome.edition is not None
    assert outcome.edition.article_guids[0].endswith(":old-news")


def test_digest_with_categories_takes_only_those(
    gathered: Site, store: Store, clock: MovableClock
) -> None:
    outcome = create_edition(store, gathered.config(), "culture", clock)
    assert outcome.edition is not None
    with store.transaction() as connection:
        by_guid = {p.guid: p for p in public_articles(connection)}
    chosen = [by_guid[guid] for guid in outcome.edition.article_guids]
    assert chosen
    assert all("culture" in {c.slug for c in p.article.categories} for p in chosen)
    culture = [p for p in by_guid.values() if "culture" in {c.slug for c in p.article.categories}]
    assert len(chosen) == len(culture)


def test_other_categories_do_not_wake_a_category_digest(
    gathered: Site, store: Store, clock: MovableClock
) -> None:
    create_edition(store, gathered.config(), "culture", clock)
    gathered.write_article("news/only-news.md", article("only-news"))
    gather(store, gathered.config(), clock)
    outcome = create_edition(store, gathered.config(), "culture", clock)
    assert outcome.edition is None


def test_fewer_than_min_articles_makes_no_edition_and_keeps_them_for_later(
    gathered: Site, store: Store, clock: MovableClock
) -> None:
    config = with_config(gathered, "min_articles = 1", "min_articles = 2")
    create_edition(store, config, "daily", clock)
    gathered.write_article("news/one.md", article("one"))
    gather(store, config, clock)
    waiting = create_edition(store, config, "daily", clock)
    assert waiting.edition is None
    assert "fewer than min_articles (2)" in waiting.message
    gathered.write_article("news/two.md", article("two"))
    gather(store, config, clock)
    made = create_edition(store, config, "daily", clock)
    assert made.edition is not None
    # Newest first; the two share a date, so the later published leads.
    assert [g.rsplit(":", 1)[1] for g in made.edition.article_guids] == ["two", "one"]


def test_max_articles_caps_an_edition_and_the_rest_roll_over(
    gathered: Site, store: Store, clock: MovableClock
) -> None:
    config = with_config(gathered, "max_articles = 20", "max_articles = 5")
    create_edition(store, config, "daily", clock)
    for number in range(7):
        gathered.write_article(f"news/n{number}.md", article(f"n{number}"))
    gather(store, config, clock)
    first = create_edition(store, config, "daily", clock)
    second = create_edition(store, config, "daily", clock)
    assert first.edition is not None
    assert second.edition is not None
    assert len(first.edition.article_guids) == 5
    assert len(second.edition.article_guids) == 2
    assert first.edition.last_sequence < second.edition.first_sequence


def test_new_digest_starts_with_the_newest_articles_not_the_back_catalogue(
    gathered: Site, store: Store, clock: MovableClock
) -> None:
    config = with_config(gathered, "max_articles = 20", "max_articles = 3")
    outcome = create_edition(store, config, "daily", clock)
    assert outcome.edition is not None
    with store.transaction() as connection:
        newest = sorted(public_articles(connection), key=lambda p: p.sequence)[-3:]
    shown = sorted(newest, key=lambda p: (p.article.date, p.sequence), reverse=True)
    assert outcome.edition.article_guids == tuple(p.guid for p in shown)


def test_edition_is_archived_without_personal_data(
    gathered: Site, store: Store, clock: MovableClock
) -> None:
    config = gathered.config()
    outcome = create_edition(store, config, "daily", clock)
    assert outcome.edition is not None
    path = archive_path(config, "daily", outcome.edition.number)
    assert path == gathered.root / "archive" / "daily" / "1.html"
    archived = path.read_text(encoding="utf-8")
    assert archived == outcome.edition.archive_html
    assert "Harbour" in archived
    assert "unsubscribe/" not in archived.lower()


def test_preview_writes_files_and_stores_nothing(
    gathered: Site, store: Store, clock: MovableClock, tmp_path: Path
) -> None:
    paths = preview_edition(store, gathered.config(), "daily", tmp_path / "out", clock)
    assert paths is not None
    html_path, text_path = paths
    assert html_path.name == "preview.html"
    assert "<html" in html_path.read_text(encoding="utf-8").lower()
    assert "The Harbour Gazette" in text_path.read_text(encoding="utf-8")
    assert list_editions(store) == []
    assert create_edition(store, gathered.config(), "daily", clock).created


def test_concurrent_creates_for_one_slot_make_one_edition(
    gathered: Site, store_url: str, clock: MovableClock
) -> None:
    config = gathered.config()
    outcomes: list[EditionOutcome] = []
    errors: list[BaseException] = []

    def create() -> None:
        try:
            with open_store(store_url) as own_store:
                outcomes.append(create_edition(own_store, config, "daily", clock, slot="s1"))
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with open_store(store_url) as own_store:
        assert len(list_editions(own_store)) == 1
    assert sum(outcome.created for outcome in outcomes) == 1
    assert len({outcome.edition.id for outcome in outcomes if outcome.edition}) == 1


def test_unknown_digest_is_a_clear_error(gathered: Site, store: Store, clock: MovableClock) -> None:
    from publisher.errors import ConfigError

    with pytest.raises(ConfigError, match="no digest named 'weekly'"):
        create_edition(store, gathered.config(), "weekly", clock)


def test_the_digests_note_file_is_atop_each_edition_while_it_exists(
    gathered: Site, store: Store, clock: MovableClock
) -> None:
    config = with_config(gathered, 'name = "daily"\n', 'name = "daily"\nnote = "notes/daily.md"\n')
    (gathered.root / "notes").mkdir()
    (gathered.root / "notes" / "daily.md").write_text("Good *morning*, [readers](/about/).\n")
    first = create_edition(store, config, "daily", clock).edition
    assert first is not None
    assert "Good <em>morning</em>" in first.archive_html
    assert 'href="https://gazette.example.org/about/"' in first.archive_html
    (gathered.root / "notes" / "daily.md").unlink()
    gathered.write_article("news/later.md", article("later"))
    gather(store, config, clock)
    second = create_edition(store, config, "daily", clock).edition
    assert second is not None
    assert 'class="note"' not in second.archive_html


def test_digest_create_note_gives_one_edition_its_own_note(site: Site) -> None:
    note = site.root / "today.md"
    note.write_text("A *quiet* week on the estuary.\n", encoding="utf-8")
    assert run_publisher(site.root, "gather").returncode == 0
    done = run_publisher(site.root, "digest", "create", "daily", "--note", str(note))
    assert done.returncode == 0, done.stderr
    with open_store(site.config().store_url) as own:
        [made] = list_editions(own, "daily")
    assert "A <em>quiet</em> week on the estuary." in made.archive_html
    assert "A quiet week on the estuary." in made.text
