"""The sample site published in each shipped language: its subscribe pages, its mails, a digest
and its feeds hold no English template string, show dates as the language writes them and say
which language they are in; an Arabic site (a catalog made here) is written right to left."""

from __future__ import annotations

import email
import email.policy
import html
import re
from collections.abc import Iterable, Iterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import httpx
import lxml.etree
import lxml.html
import pytest

from publisher.audience.links import digest_unsubscribe_url, forget_url, preferences_url
from publisher.audience.subscribers import Subscriber, add_subscriber
from publisher.config import Config
from publisher.content.articles import PublishedArticle
from publisher.i18n.catalogs import template_message_ids, translations_for
from publisher.i18n.formats import long_date
from publisher.inbound.probes import probe_message
from publisher.mail.render import (
    EditionInfo,
    Recipient,
    digest_environment,
    personalize,
    render_edition,
    template_environment,
)
from publisher.store.articles import public_articles
from tests.conftest import SAMPLE_NOW, MovableClock, Site
from tests.test_i18n import write_catalog
from tests.test_web import SECRET, Web, published, running

TRANSLATED = ["de", "fr", "es", "ja"]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
READER = Recipient("Ada Byron", "ada@example.org", "https://x.example/u/1", "https://x.example/p/1")


def english_pieces(language: str) -> set[str]:
    """The English words of each template string that `language` words otherwise: the text
    between placeholders, four characters or more, that its translation does not also hold."""
    translations = translations_for(language)
    pieces = set()
    for message_id in template_message_ids():
        english = message_id if isinstance(message_id, str) else message_id[0]
        if isinstance(message_id, str):
            translated = translations.gettext(english)
        else:
            translated = " ".join(translations.ngettext(*message_id, n) for n in (1, 2, 5))
        for piece in PLACEHOLDER.split(english):
            piece = piece.strip(" ,.:?")
            if len(piece) >= 4 and piece not in translated:
                pieces.add(piece)
    return pieces


def content_words(config: Config, articles: Iterable[PublishedArticle]) -> str:
    """Everything the site's own content puts in front of readers (English in the sample)."""
    shown = [config.site.title, config.site.description or ""]
    for digest in config.digests:
        shown += [digest.title, digest.description or ""]
    for published_article in articles:
        article = published_article.article
        shown += [article.title, article.summary, *(a.name for a in article.authors)]
    if config.mail is not None:
        shown.append(config.mail.postal_address)
    return "\n".join(shown)


def english_left(shown: str, language: str, content: str) -> list[str]:
    """The English template words in `shown` that the site's content does not explain: in a
    page, its text and the attributes a reader meets (not class names or URLs)."""
    text = visible_text(shown) if shown.lstrip().startswith("<") else html.unescape(shown)
    return sorted(p for p in english_pieces(language) if p in text and p not in content)


def visible_text(document: str) -> str:
    root = lxml.html.document_fromstring(document)
    for hidden in root.xpath("//style | //script"):
        hidden.drop_tree()
    shown = [str(root.text_content())]
    shown += [
        str(value) for value in root.xpath("//@alt | //@title | //@aria-label | //@placeholder")
    ]
    shown += [str(value) for value in root.xpath("//meta[@name='description']/@content")]
    return "\n".join(shown)


def html_language(document: str) -> tuple[str | None, str | None]:
    root = lxml.html.document_fromstring(document)
    return root.get("lang"), root.get("dir")


def body_of(message: EmailMessage, kind: str) -> str:
    part = message.get_body((kind,))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def in_language(site: Site, tag: str) -> None:
    text = site.config_path.read_text(encoding="utf-8")
    assert '"en-GB"' in text
    site.config_path.write_text(text.replace('"en-GB"', f'"{tag}"'), encoding="utf-8")


@pytest.fixture(params=TRANSLATED)
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def web(site: Site, clock: MovableClock, language: str) -> Iterator[Web]:
    in_language(site, language)
    yield from running(published(site, None, clock), clock)


def test_every_page_and_mail_a_reader_meets_speaks_the_site_s_language(
    web: Web, language: str
) -> None:
    # One test for all of them: each language's published site is built once.
    with web.store.transaction() as connection:
        content = content_words(web.config, public_articles(connection))
    check_subscribe_flow(web, language, content)
    check_a_subscriber_s_own_pages(web, language, content)
    check_errors_archive_and_probe(web, language, content)
    check_reading_pages(web, language, content)


def check_subscribe_flow(web: Web, language: str, content: str) -> None:
    """The sign-up, confirm, manage and unsubscribe pages and the mails they send."""
    check_inbox = web.sign_up("ada@example.org", "Ada")
    [confirmation] = web.mails()
    confirm_path = web.confirm_path(confirmation)
    confirm = web.client.get(confirm_path)
    confirmed = web.press(confirm_path)
    welcome = web.mails()[-1]
    web.sign_up("ada@example.org", "Ada")  # already subscribed: mailed the preferences link
    preferences = web.mails()[-1]
    assert "/preferences/" in body_of(preferences, "plain")
    manage = web.client.get("/manage/")
    leave_path = web.unsubscribe_path(web.subscriber("ada@example.org"))
    leave = web.client.get(leave_path)
    left = web.press(leave_path)
    pages = {
        "check inbox": check_inbox.text,
        "confirm": confirm.text,
        "confirmed": confirmed.text,
        "unsubscribe": leave.text,
        "unsubscribed": left.text,
        "manage": manage.text,
    }
    for name, page in pages.items():
        assert html_language(page) == (language, "ltr"), name
        assert english_left(page, language, content) == [], name
    mails = {"confirmation": confirmation, "welcome": welcome, "preferences": preferences}
    for name, message in mails.items():
        text = str(message["Subject"]) + "\n" + body_of(message, "plain")
        assert english_left(text, language, content) == [], name
    assert html_language(body_of(welcome, "html")) == (language, "ltr")
    assert english_left(body_of(welcome, "html"), language, content) == []
    expires_on = re.search(r"\d{4}", body_of(confirmation, "plain"))
    assert expires_on is not None  # the link's end date, in the language's long format


def test_a_digest_and_its_archived_copy_speak_the_site_s_language(web: Web, language: str) -> None:
    config = web.config
    with web.store.transaction() as connection:
        articles = public_articles(connection)
    content = content_words(config, articles)
    daily = config.digest("daily")
    edition = EditionInfo(14, SAMPLE_NOW, f"{config.archive_url}daily/14.html")
    rendered = render_edition(digest_environment(config, daily), config, daily, edition, articles)
    mail_html, mail_text = personalize(rendered, READER)
    dated = long_date(SAMPLE_NOW, language, config.site.zone)
    for name, shown in {"html": mail_html, "text": mail_text, "web": rendered.archive_html}.items():
        assert english_left(shown, language, content) == [], name
        assert dated in html.unescape(shown), name
    assert html_language(mail_html) == (language, "ltr")
    assert html_language(rendered.archive_html) == (language, "ltr")
    byline_date = long_date(articles[0].article.date, language, config.site.zone)
    assert byline_date in html.unescape(mail_html)


def path_of(url: str) -> str:
    return urlsplit(url).path


def submit(web: Web, path: str, **fields: str) -> httpx.Response:
    """Open the form page at `path` and post `fields` with its token, as a reader does."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.client.get(path).text)
    assert token is not None
    return web.client.post(path, data={"csrf_token": token.group(1), **fields})


def own_page(web: Web, link: object, subscriber: Subscriber, *digest: str) -> str:
    """The path of a subscriber's page (`link` is a function of publisher.audience.links)."""
    base, secret = web.config.web_base_url, SECRET.encode()
    assert callable(link)
    return path_of(str(link(base, secret, subscriber.id, subscriber.token_nonce, *digest)))


def check_a_subscriber_s_own_pages(web: Web, language: str, content: str) -> None:
    """Preferences (saved, refused, address sent), the address change and its mail, leaving
    one digest, forgetting."""
    config = web.config
    digests = ["daily", "culture"]
    bea, _ = add_subscriber(web.store, "bea@example.org", "Bea", digests, web.clock.now)
    preferences = own_page(web, preferences_url, bea)
    pause = web.clock.now + timedelta(days=10)
    paused = submit(web, preferences, action="save", digest="daily", paused_until=f"{pause:%F}")
    assert long_date(pause, language, config.site.zone) in html.unescape(paused.text)
    refused = submit(web, preferences, action="save", digest="daily", paused_until="soon")
    assert refused.status_code == 400  # a form validation error
    moving = submit(web, preferences, action="change_address", new_email="bea@new.example.net")
    [address_mail] = [m for m in web.mails() if "bea@new.example.net" in str(m["To"])]
    link = re.search(r"https://\S+/address/\S+", body_of(address_mail, "plain"))
    assert link is not None
    confirm_address = web.client.get(path_of(link.group()))
    changed = web.press(path_of(link.group()))
    bea = web.subscriber("bea@new.example.net")
    leave = web.client.get(own_page(web, digest_unsubscribe_url, bea, "culture"))
    left = web.press(own_page(web, digest_unsubscribe_url, bea, "culture"))
    forget = web.client.get(own_page(web, forget_url, bea))
    forgotten = web.press(own_page(web, forget_url, bea))
    pages = {
        "preferences, paused": paused,
        "preferences, refused": refused,
        "preferences, address sent": moving,
        "confirm address": confirm_address,
        "address changed": changed,
        "leave a digest": leave,
        "left a digest": left,
        "forget": forget,
        "forgotten": forgotten,
    }
    check_pages(pages, language, content)
    check_mail(address_mail, language, content)


def check_errors_archive_and_probe(web: Web, language: str, content: str) -> None:
    """A page not found, the archive's index, an archived edition's banner, a probe mail."""
    config = web.config
    missing = web.client.get("/no-such-page/")
    assert missing.status_code == 404
    archive = web.client.get(path_of(config.archive_url))
    edition = web.client.get(path_of(f"{config.archive_url}daily/1.html"))
    pages = {"not found": missing, "archive": archive, "archived edition": edition}
    check_pages(pages, language, content)
    banner = lxml.html.document_fromstring(edition.text).find_class("publisher-where")
    assert len(banner) == 1
    _, probe = probe_message(config, "Ada", "ada@example.org", web.clock.now)
    check_mail(email.message_from_bytes(probe, policy=email.policy.default), language, content)


ENGLISH_MONTHS = ("January", "February", "March", "April", "June", "July", "August", "September")
ENGLISH_MONTHS += ("October", "November", "December")


def is_an_article(url: str) -> bool:
    path = urlsplit(url).path
    return path.startswith("/articles/") and path.count("/") > 2 and "/page/" not in path


def check_reading_pages(web: Web, language: str, content: str) -> None:
    """The home page, the article list, an article, and the author, category and tag pages it
    links to: their words and their dates (month in words) in the language."""
    site_url = web.config.site.url
    home = web.client.get("/")
    links = lxml.html.document_fromstring(home.text).xpath("//a/@href")
    article_url = next(str(url) for url in links if is_an_article(str(url)))
    article = web.client.get(path_of(article_url))
    linked = [str(url) for url in lxml.html.document_fromstring(article.text).xpath("//a/@href")]
    pages = {"home": home, "articles": web.client.get(path_of(f"{site_url}articles/"))}
    pages["article"] = article
    for kind in ("authors", "categories", "tags"):
        url = next(url for url in linked if f"/{kind}/" in url and url.startswith(site_url))
        pages[kind] = web.client.get(path_of(url))
    check_pages(pages, language, content)
    for name, page in pages.items():
        shown = visible_text(page.text)
        months = [month for month in ENGLISH_MONTHS if month in shown and month not in content]
        assert months == [], name


def check_pages(pages: dict[str, httpx.Response], language: str, content: str) -> None:
    for name, page in pages.items():
        assert html_language(page.text) == (language, "ltr"), name
        assert english_left(page.text, language, content) == [], name


def check_mail(message: object, language: str, content: str) -> None:
    assert isinstance(message, EmailMessage)
    assert message["Content-Language"] == language
    text = str(message["Subject"]) + "\n" + body_of(message, "plain")
    assert english_left(text, language, content) == [], text


SIGN_UP_PROBLEMS = ["email_missing", "email_too_long", "email_invalid", "name_too_long"]
SIGN_UP_PROBLEMS += ["name_invalid", "digest_none", "digest_unknown", "an_unknown_code"]


def test_each_sign_up_form_problem_is_worded_in_the_language(language: str) -> None:
    def problems(tag: str) -> Any:
        environment = template_environment(None, tag)
        return environment.get_template("web/form-problems.html.j2").module

    english, worded = problems("en-GB"), problems(language)
    assert str(english.sign_up_problem("email_invalid")) == (
        "Enter an email address like name@example.com."
    )
    for code in SIGN_UP_PROBLEMS:
        said = str(worded.sign_up_problem(code))
        assert said != str(english.sign_up_problem(code)), code
        assert english_left(said, language, content="") == [], code


def test_the_feeds_name_the_site_s_language(web: Web, language: str) -> None:
    feeds = web.config.feeds_dir
    written = {path.name: path.read_text(encoding="utf-8") for path in feeds.glob("*.*")}
    assert f"<language>{language}</language>" in written["rss.xml"]
    assert f'xml:lang="{language}"' in written["atom.xml"]
    assert f'"language": "{language}"' in written["feed.json"]
    # A category's and an author's feed describe themselves in words built in Python.
    with web.store.transaction() as connection:
        content = content_words(web.config, public_articles(connection))
    channels = [lxml.etree.parse(path).find("channel") for path in feeds.rglob("rss.xml")]
    described = "\n".join(channel.findtext("description") or "" for channel in channels)
    assert len(channels) > 3
    assert english_left(described, language, content) == []


def test_an_arabic_site_is_written_right_to_left(site: Site, clock: MovableClock) -> None:
    words = {"Check your inbox": "تحقق من بريدك الوارد", "Read more": "اقرأ المزيد"}
    write_catalog(site.root / "locale", "ar", words)
    in_language(site, "ar")
    for web in running(published(site, None, clock), clock):
        page = web.sign_up("ada@example.org", "Ada")
        assert html_language(page.text) == ("ar", "rtl")
        assert "تحقق من بريدك الوارد" in page.text
        config = web.config
        with web.store.transaction() as connection:
            articles = public_articles(connection)
        daily = config.digest("daily")
        edition = EditionInfo(14, SAMPLE_NOW, f"{config.archive_url}daily/14.html")
        environment = digest_environment(config, daily)
        rendered = render_edition(environment, config, daily, edition, articles)
        mail_html, _ = personalize(rendered, READER)
        assert html_language(mail_html) == ("ar", "rtl")
        assert "اقرأ المزيد" in mail_html
        [confirmation] = web.mails()
        assert confirmation["Subject"]  # the site's mails still go out in an unshipped language


def test_the_check_finds_english_template_words(language: str) -> None:
    # The control: the same page in English is caught, so a pass above means something.
    footer = "Follow in a feed reader: Manage your subscription"
    found = english_left(f"<h1>Check your inbox</h1><p>{footer}</p>", language, content="")
    assert {"Check your inbox", "Follow in a feed reader", "Manage your subscription"} <= set(found)
