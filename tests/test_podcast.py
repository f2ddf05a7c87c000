"""Podcast episodes: `audio:` front matter, enclosures in every format, the iTunes podcast feed."""

from __future__ import annotations

import json
import wave
from zoneinfo import ZoneInfo

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from publisher.content.articles import (
    Author,
    MediaFile,
    PublishedArticle,
    SiteSettings,
    parse_article,
)
from publisher.errors import ConfigError, ContentError
from publisher.site.build import build
from publisher.site.feeds import FeedSpec, PodcastChannel, render_rss
from publisher.site.gather import gather
from publisher.store.database import Store
from tests.conftest import REPO, MovableClock, Site

SETTINGS = SiteSettings(
    "https://example.org/", ZoneInfo("UTC"), "/articles/{slug}/", "https://example.org/media/"
)
ITUNES = {"itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd"}


def article_with(audio: str) -> bytes:
    return f"---\ntitle: Episode\ndate: 2026-11-01\naudio: {audio}\n---\nText.\n".encode()


@pytest.mark.parametrize(
    ("duration", "seconds"), [('"12:34"', 754), ('"1:02:03"', 3723), ("95", 95), ('"0:08"', 8)]
)
def test_audio_file_gives_duration_length_and_type(duration: str, seconds: int) -> None:
    raw = article_with(f"{{ url: ../audio/ep.mp3, duration: {duration} }}")
    found = MediaFile(123456, "audio/mpeg")
    article = parse_article("news/ep.md", raw, SETTINGS, lambda path: found)
    assert article.audio is not None
    assert article.audio.url == "https://example.org/media/audio/ep.mp3"
    assert (article.audio.duration, article.audio.length) == (seconds, 123456)
    assert article.audio.media_type == "audio/mpeg"


def test_audio_url_takes_length_and_type_from_front_matter() -> None:
    raw = article_with("{ url: 'https://cdn.example.net/ep.m4a', length: 999, type: audio/mp4 }")
    article = parse_article("ep.md", raw, SETTINGS, lambda path: None)
    assert article.audio is not None
    assert (article.audio.url, article.audio.length) == ("https://cdn.example.net/ep.m4a", 999)
    assert article.audio.media_type == "audio/mp4"
    assert article.audio.duration is None


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        ("missing.mp3", r"ep\.md:4: audio file 'missing\.mp3' not found"),
        ("{ url: a.mp3, duration: '12:99' }", r"ep\.md:4: audio: duration '12:99' must be"),
        ("{ url: a.mp3, duration: soon }", r"ep\.md:4: audio: duration 'soon' must be"),
    ],
)
def test_bad_audio_is_refused_naming_file_line_and_key(audio: str, message: str) -> None:
    with pytest.raises(ContentError, match=message):
        parse_article("ep.md", article_with(audio), SETTINGS, lambda path: None)


def test_the_sample_episode_is_a_real_short_audio_file() -> None:
    path = REPO / "content/audio/sea-shanty-choir.wav"
    assert path.stat().st_size < 100_000
    with wave.open(str(path)) as audio:
        assert round(audio.getnframes() / audio.getframerate()) == 8


@pytest.fixture
def episodes(site: Site, store: Store, clock: MovableClock) -> Site:
    gather(store, site.config(), clock)
    build(store, site.config(), clock)
    return site


def test_podcast_feed_has_the_itunes_tags_feedparser_reads(episodes: Site) -> None:
    parsed = feedparser.parse(episodes.feeds / "podcast/rss.xml")
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    channel = parsed.feed
    assert channel.title == "The Harbour Gazette Audio"
    assert [tag.term for tag in channel.tags] == ["News", "Daily News"]
    assert channel.publisher_detail == {
        "name": "The Harbour Gazette newsroom",
        "email": "newsroom@gazette.example.org",
    }
    assert channel.image.href == "https://gazette.example.org/media/images/icon.png"
    assert channel.itunes_type == "episodic"
    assert not channel.get("itunes_explicit")
    tree = etree.parse(str(episodes.feeds / "podcast/rss.xml"))
    assert tree.xpath("/rss/channel/itunes:explicit/text()", namespaces=ITUNES) == ["false"]
    [episode] = parsed.entries
    assert episode.itunes_duration == "0:08"
    [enclosure] = episode.enclosures
    size = (episodes.root / "content/audio/sea-shanty-choir.wav").stat().st_size
    assert enclosure == {
        "href": "https://gazette.example.org/media/audio/sea-shanty-choir.wav",
        "length": str(size),
        "type": "audio/x-wav",
    }


def test_explicit_podcast_says_so(site: Site, store: Store, clock: MovableClock) -> None:
    text = site.config_path.read_text().replace("explicit = false", "explicit = true")
    site.config_path.write_text(text)
    gather(store, site.config(), clock)
    build(store, site.config(), clock)
    # Apple and the W3C validator want true/false; feedparser 6 reads only "yes" as True.
    tree = etree.parse(str(site.feeds / "podcast/rss.xml"))
    assert tree.xpath("/rss/channel/itunes:explicit/text()", namespaces=ITUNES) == ["true"]


def test_every_feed_with_the_episode_carries_its_audio(episodes: Site) -> None:
    audio = "https://gazette.example.org/media/audio/sea-shanty-choir.wav"
    for name in ("rss.xml", "atom.xml", "categories/culture/atom.xml", "podcast/atom.xml"):
        entries = feedparser.parse(episodes.feeds / name).entries
        [entry] = [e for e in entries if e.link.endswith("/sea-shanty-choir-album/")]
        assert audio in {enclosure.href for enclosure in entry.enclosures}, name
    items = json.loads((episodes.feeds / "feed.json").read_text())["items"]
    [item] = [i for i in items if i["url"].endswith("/sea-shanty-choir-album/")]
    assert item["attachments"][0] == {
        "url": audio,
        "mime_type": "audio/x-wav",
        "size_in_bytes": (episodes.root / "content/audio/sea-shanty-choir.wav").stat().st_size,
        "duration_in_seconds": 8,
    }


def test_without_podcast_config_there_is_no_podcast_feed(
    site: Site, store: Store, clock: MovableClock
) -> None:
    text = site.config_path.read_text()
    start = text.index("[feeds.podcast]")
    end = text.index("\n\n", start)
    site.config_path.write_text(text[:start] + text[end:])
    gather(store, site.config(), clock)
    build(store, site.config(), clock)
    assert not (site.feeds / "podcast").exists()


@settings(max_examples=100, deadline=None)
@given(seconds=st.integers(min_value=0, max_value=10**6), style=st.sampled_from(["s", "clock"]))
def test_any_duration_reads_back_and_is_written_for_podcast_apps(seconds: int, style: str) -> None:
    hours, rest = divmod(seconds, 3600)
    written = (
        str(seconds)
        if style == "s"
        else f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
        if hours
        else f"{rest // 60}:{rest % 60:02d}"
    )
    raw = article_with(f"{{ url: 'https://cdn.example.net/a.mp3', duration: '{written}' }}")
    article = parse_article("ep.md", raw, SETTINGS, lambda path: None)
    assert article.audio is not None
    assert article.audio.duration == seconds
    published = PublishedArticle("urn:x", 1, article.date, article)
    spec = FeedSpec(
        folder="podcast",
        title="Show",
        home_url="https://example.org/",
        feed_url="https://example.org/feeds/podcast/",
        description="Show",
        language="en",
        author=Author("Host"),
        entries=(published,),
        podcast=PodcastChannel(
            "News", None, False, "Host", "host@example.org", None, "Host", "episodic"
        ),
    )
    parsed = feedparser.parse(render_rss(spec))
    assert parsed.bozo == 0
    [episode] = parsed.entries
    parts = [int(part) for part in episode.itunes_duration.split(":")]
    assert sum(value * 60**power for power, value in enumerate(reversed(parts))) == seconds


def test_removing_the_podcast_config_removes_its_feed_and_nothing_else(
    episodes: Site, store: Store
) -> None:
    (episodes.feeds / "mine").mkdir()  # a folder the build never wrote stays
    text = episodes.config_path.read_text()
    start = text.index("[feeds.podcast]")
    episodes.config_path.write_text(text[:start] + text[text.index("\n\n", start) :])
    report = build(store, episodes.config())
    assert report.removed == ["podcast/atom.xml", "podcast/feed.json", "podcast/rss.xml"]
    assert not (episodes.feeds / "podcast").exists()
    assert (episodes.feeds / "mine").is_dir()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('image = "images/icon.png"', 'image = "images/icon.gif"', r"feeds\.podcast\.image"),
        ('category = "News"\n', "", r"feeds\.podcast\.category"),
        ('type = "episodic"', 'type = "daily"', r"feeds\.podcast\.type"),
        (
            '# websub_hub = "https://pubsubhubbub.appspot.com/"',
            'websub_hub = "hub.example.org"',
            r"feeds\.websub_hub: .*not an absolute http\(s\) URL",
        ),
        ('content = "full"', 'content = "some"', r"feeds\.content"),
    ],
)
def test_bad_feed_settings_are_refused_naming_the_key(
    site: Site, old: str, new: str, message: str
) -> None:
    text = site.config_path.read_text()
    assert old in text
    site.config_path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError, match=message):
        site.config()
