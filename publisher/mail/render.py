"""Email digests: an edition rendered from templates, its CSS inlined once, then personalized.

Rendering an edition (`render_edition`) runs Jinja and premailer once per edition, with
stand-in values (`StandIns`, with a key drawn per edition) where a subscriber's name, email
and unsubscribe URL go.
Personalizing it for one subscriber (`personalize`) is then plain string substitution, and gives
byte for byte what a full render for that subscriber (`render_for_recipient`: Jinja with real
values, then premailer) gives. Why the two agree is explained at `personalize`.

CSS is inlined without any network access: an @import or a <link rel="stylesheet"> in the
rendered HTML is refused with a DigestError naming the template, never silently dropped, so a
site author learns their rule is not applied (see `inline_css`).

Templates (`digest.html.j2`, `digest.txt.j2`, `email.css`, and the dark-mode stylesheets
`email-dark.css` and `email-outlook.css`, kept as written) live in the bundled `templates/`
folder, installed as the package `publisher.templates`; a site's own templates folder is
searched first, so it may override any of them.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
import lxml.html
from jinja2.bccache import Bucket
from jinja2.runtime import Context
from lxml import etree

from publisher import wording
from publisher.config import Config, DigestConfig, MailConfig
from publisher.content.articles import Article, PublishedArticle
from publisher.content.imagesize import (
    LOGO_HEIGHT,
    LOGO_WIDTH,
    DisplaySize,
    ImageSizes,
    sized_images,
)
from publisher.i18n.templating import environment_translations, speak

# Re-exported: callers import these from here; they live in the lighter `personal`.
from publisher.mail.personal import (
    END_IF as END_IF,
)
from publisher.mail.personal import (
    IF_NAME as IF_NAME,
)
from publisher.mail.personal import (
    LEGACY_KEY as LEGACY_KEY,
)
from publisher.mail.personal import (
    OTHERWISE as OTHERWISE,
)
from publisher.mail.personal import (
    PLACEHOLDERS as PLACEHOLDERS,
)
from publisher.mail.personal import (
    RESERVED as RESERVED,
)
from publisher.mail.personal import (
    DigestError as DigestError,
)
from publisher.mail.personal import (
    Placeholders as Placeholders,
)
from publisher.mail.personal import (
    Recipient as Recipient,
)
from publisher.mail.personal import (
    RenderedEdition as RenderedEdition,
)
from publisher.mail.personal import (
    StandIns as StandIns,
)
from publisher.mail.personal import (
    link_key_of as link_key_of,
)
from publisher.mail.personal import (
    new_edition_key as new_edition_key,
)
from publisher.mail.personal import (
    personalize as personalize,
)
from publisher.mail.personal import (
    shown_recipient as shown_recipient,
)
from publisher.mail.personal import (
    stand_ins as stand_ins,
)
from publisher.mail.personal import (
    with_both_wordings,
)
from publisher.templates import BUNDLED_TEMPLATES_PACKAGE
from publisher.wording import DATE_FORMAT

# The repository's top-level templates/ folder, shipped inside the distribution.
HTML_TEMPLATE = "digest.html.j2"
TEXT_TEMPLATE = "digest.txt.j2"

# Elements whose text lxml writes out raw (unescaped): a placeholder there could not be
# filled in with an escaped value, so `render_edition` refuses one.
_RAW_TEXT_ELEMENTS = frozenset(
    {"script", "style", "xmp", "iframe", "noembed", "noframes", "noscript", "plaintext"}
)
# CR, LF and every other character Python (and so the email package) takes as a line break.
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


@dataclass(frozen=True, slots=True)
class EditionInfo:
    """What identifies one edition of a digest; `archive_url` is its "view in browser" page."""

    number: int
    date: datetime
    archive_url: str

    def __post_init__(self) -> None:
        if self.date.tzinfo is None:
            raise DigestError(f"edition {self.number}: date {self.date.isoformat()} has no zone")


@dataclass(frozen=True, slots=True)
class Logo:
    """The site's logo as the masthead shows it."""

    url: str
    size: DisplaySize


class _CompiledTemplates(jinja2.BytecodeCache):
    """Compiled templates shared by every environment `template_environment` makes.

    Each edition, page or preview makes its own environment (its language, the site's
    templates); compiling a template costs ~10 ms, rendering it ~1 ms. Every environment here
    has the same options and extensions, so the code compiled for one fits all; a template is
    found by its name and file, and one whose source changed is compiled again (the bucket
    compares checksums).
    """

    def __init__(self) -> None:
        self._compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        compiled = self._compiled.get(bucket.key)
        if compiled is not None:
            bucket.bytecode_from_string(compiled)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._compiled[bucket.key] = bucket.bytecode_to_string()


_COMPILED_TEMPLATES = _CompiledTemplates()


def template_environment(
    site_templates: Path | None, language: str = "en", site_locale_dir: Path | None = None
) -> jinja2.Environment:
    """A Jinja environment over the site's templates folder (if any), then the bundled one.

    It speaks `language` (a BCP 47 tag; see `i18n.templating.speak`): gettext with the site's
    catalogs in `site_locale_dir` over the shipped ones, the `long_date`, `short_time` and
    `number` filters, the `language` and `text_direction` globals.
    `.html.j2` templates are autoescaped; the `date` filter shows a datetime in the digest's
    zone (`{{ edition.date | date }}` gives "25 November 2026"); `sized_images` gives the
    images of an article body their width and height (`{{ body | sized_images | safe }}`).
    """
    loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader(BUNDLED_TEMPLATES_PACKAGE, ".")]
    if site_templates is not None:
        if not site_templates.is_dir():
            raise DigestError(f"{site_templates}: templates folder not found ([templates] dir)")
        loaders.insert(0, jinja2.FileSystemLoader(site_templates))
    environment = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        bytecode_cache=_COMPILED_TEMPLATES,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "html.j2", "htm.j2"),
            default_for_string=False,
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["date"] = _date_filter
    environment.filters["html_paragraphs"] = _paragraphs_filter
    environment.filters["sized_images"] = _sized_images_filter
    speak(environment, language, site_locale_dir)
    return environment


def digest_environment(config: Config, digest: DigestConfig) -> jinja2.Environment:
    """The environment a digest's mail and archived copy render in: in the digest's language."""
    return template_environment(
        config.templates_dir, config.digest_language(digest), config.locale_dir
    )


_BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "figcaption")


IMAGE_LABEL = "[image: %(alt)s]"


def html_paragraphs(html: str, image_label: str = IMAGE_LABEL) -> list[str]:
    """An article body's text, one string per paragraph, heading or list item (for text mail).

    An image shows as `image_label` with its alt text: `[image: its alt text]`.
    """
    if not html.strip():
        return []
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    for image in root.iter("img"):
        alt = image.get("alt")
        image.tail = (image_label % {"alt": alt} if alt else "") + (image.tail or "")
    for element in root.iter(*_BLOCKS):
        element.tail = "\n\n" + (element.tail or "")
    for element in root.iter("br"):
        element.tail = "\n" + (element.tail or "")
    text = str(root.text_content())
    return [" ".join(block.split()) for block in text.split("\n\n") if block.strip()]


def format_date(value: datetime, zone: ZoneInfo | None = None, pattern: str = DATE_FORMAT) -> str:
    """`value` as readers see it, e.g. "25 November 2026", in `zone` (default: its own)."""
    try:
        return wording.format_date(value, zone, pattern)
    except ValueError as error:
        raise DigestError(str(error)) from None


@jinja2.pass_context
def _date_filter(
    context: Context,
    value: datetime,
    pattern: str = DATE_FORMAT,
    zone: str | ZoneInfo | None = None,
) -> str:
    """`{{ moment | date }}`: in `zone`, else the template's `zone`, else its site's zone.

    A template that knows neither (a macro imported without context) is an error, never UTC
    by default: a date shown in the wrong zone is a day early or late somewhere.
    """
    try:
        return wording.format_date(value, _zone_of(context, zone), pattern)
    except (ValueError, ZoneInfoNotFoundError) as error:
        raise jinja2.TemplateRuntimeError(f"date filter: {error}") from None


@jinja2.pass_environment
def _paragraphs_filter(environment: jinja2.Environment, html: str) -> list[str]:
    label = environment_translations(environment).gettext("[image: %(alt)s]")
    return html_paragraphs(html, label)


def _zone_of(context: Context, zone: str | ZoneInfo | None) -> ZoneInfo:
    if isinstance(zone, ZoneInfo):
        return zone
    if zone:
        return ZoneInfo(zone)
    found = context.get("zone")
    if isinstance(found, ZoneInfo):
        return found
    site_zone = getattr(context.get("site"), "zone", None)
    if isinstance(site_zone, ZoneInfo):
        return site_zone
    raise ValueError("no zone to show the date in: import the macro `with context`")


@jinja2.pass_context
def _sized_images_filter(context: Context, body_html: str) -> str:
    display_size = context.get("image_size")
    return sized_images(body_html, display_size) if callable(display_size) else body_html


def render_subject(
    environment: jinja2.Environment,
    config: Config,
    digest: DigestConfig,
    edition: EditionInfo,
    articles: Sequence[PublishedArticle],
) -> str:
    """The edition's subject line from `digest.subject`; DigestError if it spans lines.

    The subject template sees `site`, `digest`, `edition` and `articles`, where each article is
    the `Article` itself (`{{ articles[0].title }}`), as a subject line is written in config.
    """
    context = {
        "site": config.site,
        "digest": digest,
        "edition": edition,
        "articles": [published.article for published in articles],
        "zone": config.digest_zone(digest),
    }
    where = f"{config.path}: digests.{digest.name}.subject"
    try:
        subject = environment.from_string(digest.subject).render(context)
    except jinja2.TemplateError as error:
        raise DigestError(f"{where}: {error.message}") from None
    if _LINE_BREAK.search(subject):
        raise DigestError(f"{where}: the subject {subject!r} has a line break (CR or LF)")
    if not subject.strip():
        raise DigestError(f"{where}: the subject is empty")
    return subject.strip()


def render_edition(
    environment: jinja2.Environment,
    config: Config,
    digest: DigestConfig,
    edition: EditionInfo,
    articles: Sequence[PublishedArticle],
    note_html: str = "",
    key: str | None = None,
) -> RenderedEdition:
    """Render an edition once, with placeholders where each subscriber's values will go.

    Jinja and premailer run three times (for a subscriber with a name, one without, and the
    archive copy): per edition, never per subscriber. The first two are renders for a
    recipient (`render_for_recipient`) whose values are the placeholders, made from `key`
    (default: a new random one that the edition's own text does not hold). `note_html` is the
    editor's note, already sanitized.
    """
    _require_articles(digest, edition, articles)
    subject = render_subject(environment, config, digest, edition, articles)
    context = _context(config, digest, edition, articles, subject, note_html)
    archive_source = _render(environment, HTML_TEMPLATE, {**context, "subscriber": None})
    archive_html = _inline_template_css(environment, archive_source)
    own = stand_ins(key or _key_not_in(subject + archive_html))
    named = own.placeholders.recipient()
    named_html, named_text = render_for_recipient(
        environment, config, digest, edition, articles, named, note_html
    )
    _check_placeholders(environment, named_html, named_text, own)
    nameless = own.placeholders.recipient(named=False)
    nameless_html, nameless_text = render_for_recipient(
        environment, config, digest, edition, articles, nameless, note_html
    )
    _check_placeholders(environment, nameless_html, nameless_text, own)
    return RenderedEdition(
        subject=subject,
        html=with_both_wordings(named_html, nameless_html, own),
        text=with_both_wordings(named_text, nameless_text, own),
        archive_html=archive_html,
        key=own.key,
    )


def _key_not_in(edition_text: str) -> str:
    """A new edition key that `edition_text` (its articles, note and config) does not hold."""
    while (key := new_edition_key()) in edition_text.lower():
        pass
    return key


def render_for_recipient(
    environment: jinja2.Environment,
    config: Config,
    digest: DigestConfig,
    edition: EditionInfo,
    articles: Sequence[PublishedArticle],
    recipient: Recipient,
    note_html: str = "",
) -> tuple[str, str]:
    """The (html, text) of an edition for one subscriber, rendered and inlined from scratch."""
    _require_articles(digest, edition, articles)
    subject = render_subject(environment, config, digest, edition, articles)
    context = _context(config, digest, edition, articles, subject, note_html)
    html_source, text = _render_both(environment, context, shown_recipient(recipient))
    return _inline_template_css(environment, html_source), text


def inline_css(html: str, *, origin: str = "digest HTML") -> str:
    """`html` with its <style> rules inlined into style attributes, without any network access.

    Media queries and pseudo-classes stay in a <style> block. A <link rel="stylesheet"> or an
    @import would make premailer (cssutils) or the reader's mail client fetch a URL, so either
    is refused with a DigestError naming `origin`; every rule belongs in `email.css`.
    """
    try:
        root = etree.fromstring(html.strip(), etree.HTMLParser())
    except (etree.LxmlError, ValueError) as error:
        raise DigestError(f"{origin}: not an HTML document: {error}") from None
    if root is None:
        raise DigestError(f"{origin}: the HTML document is empty")
    _refuse_external_styles(root, origin)
    # Imported here: premailer and cssutils cost a third of a second to import, and sending an
    # edition (already rendered when it was made) never inlines.
    from premailer import Premailer
    from premailer.premailer import PremailerError

    inliner = Premailer(
        allow_network=False,
        allow_loading_external_files=False,
        session=_NoNetwork(origin),
        # Keep !important on the media query rules so they beat the inlined styles.
        strip_important=False,
        # Classes stay: the media queries select by them.
        remove_classes=False,
        # Images and tables carry the pixel widths Outlook needs as attributes; CSS widths
        # (100%) must not overwrite them.
        disable_basic_attributes=["width", "height"],
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
    )
    try:
        inlined = inliner.transform(root)
    except (PremailerError, ValueError, etree.LxmlError) as error:
        raise DigestError(f"{origin}: cannot inline its CSS: {error}") from None
    return str(etree.tostring(inlined, method="html", encoding="unicode"))


class _NoNetwork:
    """Stands in for premailer's `requests` session: any fetch is a bug, so it is refused."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def get(self, url: str, **_options: object) -> NoReturn:
        raise DigestError(f"{self.origin}: refused to fetch {url} while inlining CSS")


def _refuse_external_styles(root: Any, origin: str) -> None:
    for link in root.iter("link"):
        if "stylesheet" in (link.get("rel") or "").lower().split():
            raise DigestError(
                f'{origin}: <link rel="stylesheet" href="{link.get("href", "")}"> is refused: '
                "an email may not load stylesheets; put the rules in email.css"
            )
    for style in root.iter("style"):
        imported = _imported_stylesheets(style.text or "")
        if imported:
            raise DigestError(
                f"{origin}: @import of {imported[0]!r} in a <style> block (of this template or "
                "one it includes, such as email.css) is refused: it would be fetched over the "
                "network; put the rules in email.css"
            )


@functools.lru_cache(maxsize=16)
def _imported_stylesheets(css: str) -> tuple[str, ...]:
    """Every URL a stylesheet imports, found with the same parser premailer uses.

    The parser's fetcher only records what cssutils tries to load, so this never touches the
    network or the disk, and it also catches imports cssutils would fetch but then drop.
    Cached by the stylesheet's text: parsing email.css takes ~0.1 s, and every edition
    renders the same one.
    """
    wanted: list[str] = []

    def record(url: str) -> None:
        wanted.append(url)

    import cssutils  # with premailer: see inline_css

    parser = cssutils.CSSParser(fetcher=record, validate=False, loglevel=logging.CRITICAL)
    sheet = parser.parseString(css)
    imports = [str(rule.href) for rule in sheet if rule.type == rule.IMPORT_RULE]
    return (*imports, *wanted)


def _context(
    config: Config,
    digest: DigestConfig,
    edition: EditionInfo,
    articles: Sequence[PublishedArticle],
    subject: str,
    note_html: str = "",
) -> dict[str, Any]:
    sizes = ImageSizes(config.media_url, config.content_dir)
    return {
        "site": config.site,
        "digest": digest,
        "edition": edition,
        "articles": list(articles),
        "labels": {published.guid: label(digest, published.article) for published in articles},
        "note_html": note_html,
        "mail": _mail(config, digest),
        "subject": subject,
        "zone": config.digest_zone(digest),
        "image_size": sizes.display_size,
        "logo": _logo(config, sizes),
        "subscribe_url": subscribe_url(config),
    }


def label(digest: DigestConfig, article: Article) -> str:
    """The category an article is filed under in a digest: the first of its categories that
    the digest collects (a digest of every category: its first), or ""."""
    for category in article.categories:
        if not digest.categories or category.slug in digest.categories:
            return category.name
    return ""


def subscribe_url(config: Config) -> str:
    """Where a reader of a forwarded digest signs up: the sign-up form on the home page."""
    return f"{config.web_base_url}#subscribe"


def _logo(config: Config, sizes: ImageSizes) -> Logo | None:
    if config.logo is None:
        return None
    return Logo(config.logo.url, sizes.display_size(config.logo.url, LOGO_WIDTH, LOGO_HEIGHT))


def _require_articles(
    digest: DigestConfig, edition: EditionInfo, articles: Sequence[PublishedArticle]
) -> None:
    if not articles:
        raise DigestError(f"digest {digest.name!r}: edition {edition.number} has no articles")


def _mail(config: Config, digest: DigestConfig) -> MailConfig:
    if config.mail is None:
        raise DigestError(f"{config.path}: digest {digest.name!r} needs a [mail] section")
    return config.mail


def _render_both(
    environment: jinja2.Environment, context: Mapping[str, Any], subscriber: Recipient
) -> tuple[str, str]:
    personal = {**context, "subscriber": subscriber}
    return (
        _render(environment, HTML_TEMPLATE, personal),
        _render(environment, TEXT_TEMPLATE, personal),
    )


def _render(environment: jinja2.Environment, name: str, context: Mapping[str, Any]) -> str:
    try:
        template = environment.get_template(name)
    except jinja2.TemplateNotFound:
        raise DigestError(f"template {name} not found") from None
    except jinja2.TemplateSyntaxError as error:
        raise DigestError(f"{error.filename or name}:{error.lineno}: {error.message}") from None
    try:
        return template.render(context)
    except jinja2.TemplateError as error:
        where = template.filename or name
        raise DigestError(f"{where}{_template_line(error, where)}: {error.message}") from None


def _template_line(error: BaseException, filename: str) -> str:
    """`:N`, the line of `filename` being rendered when `error` was raised, if known."""
    # Jinja rewrites tracebacks so that template frames carry the template's file and line.
    lines = [
        frame.lineno
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename == filename and frame.lineno
    ]
    return f":{lines[-1]}" if lines else ""


def _template_path(environment: jinja2.Environment, name: str) -> str:
    try:
        return environment.get_template(name).filename or name
    except jinja2.TemplateError:
        return name


def _inline_template_css(environment: jinja2.Environment, html: str) -> str:
    return inline_css(html, origin=_template_path(environment, HTML_TEMPLATE))


def _check_placeholders(
    environment: jinja2.Environment, html: str, text: str, own: StandIns
) -> None:
    """Refuse templates whose subscriber values `personalize` could not fill in exactly."""
    origin = _template_path(environment, HTML_TEMPLATE)
    text_origin = _template_path(environment, TEXT_TEMPLATE)
    for where, rendered in ((origin, html), (text_origin, text)):
        # Every placeholder holds the key once; a key in any other form went through a filter.
        whole = sum(rendered.count(token) for token in dataclasses.astuple(own.placeholders))
        if rendered.lower().count(own.key) != whole:
            raise DigestError(f"{where}: subscriber values may not go through a filter")
    texts, attributes = _text_and_attributes(html)
    placeholders = own.placeholders
    for field, token in (("name", placeholders.name), ("email", placeholders.email)):
        if html.count(token) != texts.count(token):
            raise DigestError(
                f"{origin}: subscriber.{field} may only be shown as text, not in an attribute, "
                "a comment or a <style> block"
            )
    for field, token in (
        ("unsubscribe_url", placeholders.unsubscribe_url),
        ("preferences_url", placeholders.preferences_url),
    ):
        if html.count(token) != texts.count(token) + attributes.count(token):
            raise DigestError(
                f"{origin}: subscriber.{field} may only be shown as text or an attribute, "
                "not in a comment or a <style> block"
            )
    token = placeholders.unsubscribe_url
    if token not in html:
        raise DigestError(f"{origin}: no unsubscribe link ({{{{ subscriber.unsubscribe_url }}}})")
    if token not in text:
        raise DigestError(
            f"{text_origin}: no unsubscribe URL ({{{{ subscriber.unsubscribe_url }}}})"
        )


def _text_and_attributes(html: str) -> tuple[str, str]:
    """All text lxml escapes when writing `html`, and all attribute values, NUL-separated."""
    root = etree.fromstring(html, etree.HTMLParser())
    return "\0".join(_texts(root)), "\0".join(
        value for element in root.iter(tag=etree.Element) for value in element.attrib.values()
    )


def _texts(root: Any) -> Iterator[str]:
    for node in root.iter():
        if isinstance(node.tag, str) and node.tag.lower() not in _RAW_TEXT_ELEMENTS and node.text:
            yield node.text
        if node.tail and node is not root:
            yield node.tail
