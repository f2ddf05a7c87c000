"""Gather on SQLite and PostgreSQL: new, edited, deleted, scheduled, draft and broken articles."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from publisher.content import articles as content_module
from publisher.site.gather import gather
from publisher.store.articles import public_articles, public_articles_since
from publisher.store.database import Store
from publisher.store.schema import articles
from tests.conftest import MovableClock, Site


def article(title: str = "A headline", date: str = "2026-11-01T09:00:00", **extra: str) -> str:
    lines = ["---", f'title: "{title}"', f"date: {date}"]
    lines += [f"{key}: {value}" for key, value in extra.items()]
    return "\n".join([*lines, "---", "", f"The first paragraph of {title}.", ""])


def guids(store: Store) -> dict[str, str]:
    with store.transaction() as connection:
        rows = connection.execute(sa.select(articles.c.slug, articles.c.guid))
        return {row.slug: row.guid for row in rows}


def public_slugs(store: Store) -> set[str]:
    with store.transaction() as connection:
        return {published.article.slug for published in public_articles(connection)}


def test_first_gather_adds_the_sample_site(site: Site, store: Store, clock: MovableClock) -> None:
    report = gather(store, site.config(), clock)
    assert (report.new, report.updated, report.withdrawn, report.errors) == (16, 0, 0, [])
    assert report.scheduled == 1
    assert report.published == 14
    assert "sea-wall-repairs" not in public_slugs(store)  # the draft
    assert "time-capsule-opened" not in public_slugs(store)  # scheduled for 2031
    assert len(public_slugs(store)) == 14


def test_second_gather_of_unchanged_files_changes_nothing(
    site: Site, store: Store, clock: MovableClock
) -> None:
    gather(store, site.config(), clock)
    report = gather(store, site.config(), clock)
    assert (report.new, report.updated, report.withdrawn, report.published) == (0, 0, 0, 0)
    assert report.unchanged == 16


def test_unchanged_files_are_skipped_without_parsing(
    site: Site, store: Store, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    gather(store, site.config(), clock)
    touched = site.content / "news" / "coastal-path-reopens.md"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    parsed: list[str] = []
    real_parse = content_module.parse_article

    def counting_parse(source: str, *args: object) -> object:
        parsed.append(source)
        return real_parse(source, *args)  # type: ignore[arg-type]

    monkeypatch.setattr("publisher.site.gather.parse_article", counting_parse)
    report = gather(store, site.config(), clock)
    assert parsed == []  # the touched file's hash matched, so it was not parsed either
    assert report.updated == 0


def test_edited_article_keeps_its_guid_and_its_updated_date_moves(
    site: Site, store: Store, clock: MovableClock
) -> None:
    path = site.write_article("news/edit-me.md", article("Original title", slug="edit-me"))
    gather(store, site.config(), clock)
    before = guids(store)["edit-me"]
    clock.advance(hours=3)
    path.write_text(article("Corrected title", slug="edit-me"), encoding="utf-8")
    report = gather(store, site.config(), clock)
    assert report.updated == 1
    with store.transaction() as connection:
        [edited] = [p for p in public_articles(connection) if p.article.slug == "edit-me"]
    assert edited.guid == before
    assert edited.article.title == "Corrected title"
    assert edited.updated == clock.now


def test_front_matter_updated_date_is_used_when_given(
    site: Site, store: Store, clock: MovableClock
) -> None:
    path = site.write_article("news/edit-me.md", article("One", slug="edit-me"))
    gather(store, site.config(), clock)
    path.write_text(article("Two", slug="edit-me", updated="2026-11-03T10:00:00Z"), "utf-8")
    gather(store, site.config(), clock)
    with store.transaction() as connection:
        [edited] = [p for p in public_articles(connection) if p.article.slug == "edit-me"]
    assert edited.updated.isoformat() == "2026-11-03T10:00:00+00:00"


def test_changing_the_slug_keeps_the_guid(site: Site, store: Store, clock: MovableClock) -> None:
    path = site.write_article("news/renamed.md", article("Title", slug="old-slug"))
    gather(store, site.config(), clock)
    before = guids(store)["old-slug"]
    path.write_text(article("Title", slug="new-slug"), encoding="utf-8")
    gather(store, site.config(), clock)
    assert guids(store)["new-slug"] == before


def test_moved_article_with_an_id_keeps_its_guid_and_sequence(
    site: Site, store: Store, clock: MovableClock
) -> None:
    site.write_article("news/first-home.md", article("Moving", id="urn:uuid:1234"))
    gather(store, site.config(), clock)
    with store.transaction() as connection:
        before = {p.guid: p.sequence for p in public_articles(connection)}
    (site.content / "news" / "first-home.md").rename(site.content / "culture" / "second-home.md")
    report = gather(store, site.config(), clock)
    assert (report.withdrawn, report.new) == (1, 1)
    with store.transaction() as connection:
        after = {p.guid: p.sequence for p in public_articles(connection)}
    assert after["urn:uuid:1234"] == before["urn:uuid:1234"]


def test_deleted_article_is_withdrawn_from_the_public_list(
    site: Site, store: Store, clock: MovableClock
) -> None:
    gather(store, site.config(), clock)
    (site.content / "news" / "coastal-path-reopens.md").unlink()
    report = gather(store, site.config(), clock)
    assert report.withdrawn == 1
    assert "coastal-path-reopens" not in public_slugs(store)


def test_draft_never_becomes_public(site: Site, store: Store, clock: MovableClock) -> None:
    site.write_article("news/secret.md", article("Secret", draft="true"))
    gather(store, site.config(), clock)
    clock.advance(days=3650)
    gather(store, site.config(), clock)
    assert "secret" not in public_slugs(store)


def test_future_article_becomes_public_only_when_its_time_comes(
    site: Site, store: Store, clock: MovableClock
) -> None:
    site.write_article("news/later.md", article("Later", date="2026-11-25T15:00:00Z"))
    first = gather(store, site.config(), clock)  # the clock says 12:00 UTC
    assert "later" not in public_slugs(store)
    assert first.scheduled == 2
    clock.advance(hours=2, minutes=59)
    gather(store, site.config(), clock)
    assert "later" not in public_slugs(store)
    clock.advance(minutes=1)
    report = gather(store, site.config(), clock)
    assert report.published == 1
    assert "later" in public_slugs(store)


def test_publication_sequence_orders_articles_as_they_became_public(
    site: Site, store: Store, clock: MovableClock
) -> None:
    gather(store, site.config(), clock)
    with store.transaction() as connection:
        watermark = max(p.sequence for p in public_articles(connection))
    site.write_article("news/late.md", article("Late", date="2026-11-25T13:00:00Z"))
    site.write_article("news/backdated.md", article("Backdated", date="2020-01-01T00:00:00Z"))
    gather(store, site.config(), clock)
    clock.advance(hours=2)
    gather(store, site.config(), clock)
    with store.transaction() as connection:
        new = public_articles_since(connection, watermark)
    # A backdated article published now is still new to readers; the late one came after it.
    assert [p.article.slug for p in new] == ["backdated", "late"]
    assert [p.sequence for p in new] == [watermark + 1, watermark + 2]


def test_edited_article_keeps_its_sequence(site: Site, store: Store, clock: MovableClock) -> None:
    path = site.write_article("news/seq.md", article("Seq"))
    gather(store, site.config(), clock)
    with store.transaction() as connection:
        before = {p.article.slug: p.sequence for p in public_articles(connection)}["seq"]
    path.write_text(article("Seq, corrected"), encoding="utf-8")
    gather(store, site.config(), clock)
    with store.transaction() as connection:
        after = {p.article.slug: p.sequence for p in public_articles(connection)}["seq"]
    assert after == before


def test_broken_article_is_reported_and_the_rest_still_publish(
    site: Site, store: Store, clock: MovableClock
) -> None:
    site.write_article("news/broken.md", '---\ntitle: "Broken"\ndate: not-a-date\n---\nBody\n')
    report = gather(store, site.config(), clock)
    assert [str(error) for error in report.errors] == [
        "news/broken.md:3: date: " + report.errors[0].message.removeprefix("date: ")
    ]
    assert report.errors[0].line == 3
    assert len(public_slugs(store)) == 14


def test_broken_edit_keeps_the_published_version(
    site: Site, store: Store, clock: MovableClock
) -> None:
    path = site.write_article("news/fragile.md", article("Fragile"))
    gather(store, site.config(), clock)
    path.write_text("---\ntitle: [unclosed\n---\n", encoding="utf-8")
    report = gather(store, site.config(), clock)
    assert len(report.errors) == 1
    assert "fragile" in public_slugs(store)
    again = gather(store, site.config(), clock)
    assert len(again.errors) == 1  # still reported until it is fixed


def test_duplicate_slug_is_refused_and_the_first_keeps_it(
    site: Site, store: Store, clock: MovableClock
) -> None:
    site.write_article("news/a-one.md", article("One", slug="same"))
    site.write_article("news/b-two.md", article("Two", slug="same"))
    report = gather(store, site.config(), clock)
    assert len(report.errors) == 1
    assert report.errors[0].path == "news/b-two.md"
    assert "already used by news/a-one.md" in str(report.errors[0])


def test_duplicate_id_is_refused(site: Site, store: Store, clock: MovableClock) -> None:
    site.write_article("news/a-one.md", article("One", id="story-1"))
    site.write_article("news/b-two.md", article("Two", id="story-1"))
    report = gather(store, site.config(), clock)
    assert [error.path for error in report.errors] == ["news/b-two.md"]


def test_changing_the_site_url_renders_every_article_again(
    site: Site, store: Store, clock: MovableClock
) -> None:
    gather(store, site.config(), clock)
    text = site.config_path.read_text().replace("gazette.example.org", "news.example.net")
    site.config_path.write_text(text)
    report = gather(store, site.config(), clock)
    assert report.updated == 0  # the articles did not change, only where they live
    with store.transaction() as connection:
        urls = [p.article.url for p in public_articles(connection)]
    assert all(url.startswith("https://news.example.net/") for url in urls)


def test_missing_content_folder_is_an_error(site: Site, store: Store, clock: MovableClock) -> None:
    import shutil

    from publisher.errors import ContentError

    shutil.rmtree(site.content)
    with pytest.raises(ContentError, match="content folder does not exist"):
        gather(store, site.config(), clock)


def test_hidden_and_non_markdown_files_are_ignored(
    site: Site, store: Store, clock: MovableClock
) -> None:
    site.write_article(".drafts/hidden.md", article("Hidden"))
    site.write_article("news/.swap.md", article("Swap"))
    site.write_article("news/notes.txt", "not an article")
    report = gather(store, site.config(), clock)
    assert report.new == 16
    assert report.errors == []
