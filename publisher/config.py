"""Load and validate `config.toml`: every mistake is named by file and key."""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from string import Formatter
from typing import Annotated, Any, Literal
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from publisher import SOURCES_FILE
from publisher.errors import ConfigError
from publisher.urls import is_absolute_http_url

STORE_URL_VARIABLE = "PUBLISHER_STORE_URL"
FeedFormat = Literal["rss", "atom", "json"]


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown timezone {name!r} (use an IANA name such as 'Europe/London')"
        ) from None
    return name


def _check_absolute_url(url: str) -> str:
    if not is_absolute_http_url(url):
        raise ValueError(f"{url!r} is not an absolute http(s) URL")
    return url


def _check_http_url(url: str) -> str:
    """An absolute http(s) URL ending in "/": the base of pages under it."""
    _check_absolute_url(url)
    return url if url.endswith("/") else url + "/"


def _check_language_tag(tag: str) -> str:
    from publisher.i18n.tags import parse_language_tag

    parse_language_tag(tag)
    return tag


TimezoneName = Annotated[str, AfterValidator(_check_timezone)]
LanguageTag = Annotated[str, AfterValidator(_check_language_tag)]
HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
NonEmpty = Annotated[str, Field(min_length=1)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Person(_Section):
    """A named person, with optional email and web page."""

    name: NonEmpty
    email: str | None = None
    url: str | None = None


class SiteConfig(_Section):
    title: NonEmpty
    url: HttpUrl
    description: str = ""
    language: LanguageTag = "en"
    timezone: TimezoneName = "UTC"
    author: Person
    article_url: str = "/articles/{slug}/"
    logo: str | None = None  # a file in the content folder, or an absolute http(s) URL
    icon: str | None = None
    output: Path = Path("site")  # where `publisher build` writes the static site
    static: bool = True  # false: no static site (pages only from `publisher serve`)

    @field_validator("author", mode="before")
    @classmethod
    def _author_from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("article_url")
    @classmethod
    def _article_url_uses_slug(cls, value: str) -> str:
        allowed = {"slug", "year", "month", "day"}
        try:
            names = [field for _, field, _, _ in Formatter().parse(value) if field is not None]
        except ValueError as error:
            raise ValueError(f"{value!r} is not a valid pattern ({error})") from None
        if any(name not in allowed for name in names):
            raise ValueError(f"{value!r} may only use {{slug}}, {{year}}, {{month}} and {{day}}")
        if "slug" not in names:
            raise ValueError(f"{value!r} must contain {{slug}}")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class ContentConfig(_Section):
    dir: Path = Path("content")
    media_url: str = "/media/"


class StoreConfig(_Section):
    url: str = "sqlite:///publisher.db"

    @field_validator("url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError:
            raise ValueError(f"{value!r} is not a database URL") from None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"{value!r}: only sqlite:/// and postgresql:// stores are supported")
        return value


ContentMode = Literal["full", "summary"]


class PodcastOwner(_Section):
    name: NonEmpty
    email: NonEmpty


class PodcastConfig(_Section):
    """`[feeds.podcast]`: the episodes' feed (`feeds/podcast/`) with Apple's iTunes tags."""

    title: str | None = None  # default: the site's title
    category: NonEmpty
    subcategory: str | None = None
    explicit: bool = False
    owner: PodcastOwner
    image: str | None = None  # a content file or a URL (JPEG or PNG); default: [site] icon
    author: str | None = None  # default: the site author's name
    type: Literal["episodic", "serial"] = "episodic"

    @field_validator("image")
    @classmethod
    def _jpeg_or_png(cls, value: str | None) -> str | None:
        if value is not None and not urlsplit(value).path.lower().endswith((".jpg", ".png")):
            raise ValueError(f"{value!r}: the podcast image must be a .jpg or .png file")
        return value


class FeedsConfig(_Section):
    dir: Path = Path("feeds")
    url: str = "/feeds/"
    max_items: Annotated[int, Field(ge=1, le=10_000, strict=True)] = 50
    formats: Annotated[tuple[FeedFormat, ...], Field(min_length=1)] = ("rss", "atom", "json")
    archive_page_size: Annotated[int, Field(ge=1, le=10_000, strict=True)] = 50
    content: ContentMode = "full"
    category_content: dict[str, ContentMode] = {}  # a category's slug -> its feeds' content
    websub_hub: Annotated[str, AfterValidator(_check_absolute_url)] | None = None
    podcast: PodcastConfig | None = None

    @field_validator("formats")
    @classmethod
    def _formats_unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("each format may be listed once")
        return value


def _check_crontab(line: str) -> str:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(line, timezone="UTC")
    except ValueError as error:
        raise ValueError(f"bad crontab {line!r}: {error}") from None
    return line


def _check_template(source: str) -> str:
    from jinja2 import Environment, TemplateSyntaxError

    try:
        Environment(autoescape=False).parse(source)  # noqa: S701 (a subject line, not HTML)
    except TemplateSyntaxError as error:
        raise ValueError(f"bad template {source!r}: {error.message}") from None
    return source


def _check_header_text(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("may not contain a line break (CR or LF)")
    return value


HeaderText = Annotated[str, AfterValidator(_check_header_text)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=64)]


class DigestConfig(_Section):
    """One `[[digests]]` table: an email edition of the newest articles."""

    name: Slug
    title: Annotated[HeaderText, Field(min_length=1)]
    description: str = ""
    schedule: Annotated[str, AfterValidator(_check_crontab)] = "0 7 * * *"
    timezone: TimezoneName | None = None
    language: LanguageTag | None = None  # a BCP 47 tag; default: the site's
    subject: Annotated[HeaderText, AfterValidator(_check_template)] = (
        "{{ site.title }}: {{ edition.date | long_date }}"
    )
    min_articles: Annotated[int, Field(ge=1)] = 1
    max_articles: Annotated[int, Field(ge=1, le=500)] = 20
    categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    # "each": every new article is its own message, subject its title (the way Ghost mails).
    mode: Literal["digest", "each"] = "digest"
    order: Literal["newest", "oldest"] = "newest"
    # The email shows the first `max_stories` articles; "N more stories" links the web copy.
    max_stories: Annotated[int, Field(ge=1, le=500, strict=True)] = 10
    thumbnails: bool = True  # a small image beside each story after the lead
    note: Path | None = None  # an editor's note: a Markdown file, relative to the config
    # Aggregate analytics, off unless asked for: links through `/r/...`, an open pixel.
    track_clicks: bool = False
    track_opens: bool = False

    @field_validator("categories")
    @classmethod
    def _category_slugs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from slugify import slugify

        return tuple(dict.fromkeys(str(slugify(name)) for name in value))

    @model_validator(mode="before")
    @classmethod
    def _each_is_titled_by_its_article(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("mode") == "each" and "subject" not in data:
            return {**data, "subject": "{{ articles[0].title }}"}
        return data


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """`"30s"`, `"5m"`, `"1h"` or `"2d"` as a timedelta; ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration such as '30s', '5m', '1h' or '2d'")
    return timedelta(seconds=float(match.group(1)) * _DURATION_UNITS[match.group(2)])


def duration_text(value: timedelta) -> str:
    """A duration the way the config writes it: `"30s"`, `"5m"`, `"1h"`, `"2d"`."""
    seconds = value.total_seconds()
    for unit, size in sorted(_DURATION_UNITS.items(), key=lambda item: -item[1]):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds, 3):g}s"


def _as_duration(value: object) -> timedelta:
    duration = parse_duration(value) if isinstance(value, str) else value
    if not isinstance(duration, timedelta):
        raise ValueError(f"{value!r} is not a duration such as '30s', '5m', '1h' or '2d'")
    if duration <= timedelta(0):
        raise ValueError(f"{value!r} must be longer than zero")
    return duration


# Written as text in the config ("5m"), validated once at load, carried as a timedelta.
Duration = Annotated[timedelta, BeforeValidator(_as_duration)]
EnvironmentName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class SmtpConfig(_Section):
    """`[mail.smtp]`: the server, and the *name* of the variable holding its password."""

    host: NonEmpty
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    password_env: EnvironmentName | None = None
    ca_file: Path | None = None
    timeout: Annotated[float, Field(gt=0)] = 30.0
    connections: Annotated[int, Field(ge=1, le=32)] = 1
    max_per_connection: Annotated[int, Field(ge=1)] = 100
    rate_limit: Annotated[float, Field(ge=0)] = 0.0
    daily_limit: Annotated[int, Field(ge=0)] = 0


class DkimConfig(_Section):
    """`[mail.dkim]`: sign every message; the private key (PEM) from the variable
    `private_key_env` names, or from `private_key_file` (relative to the config file)."""

    domain: Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]+$", min_length=1, max_length=253)]
    selector: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+$", min_length=1, max_length=63)]
    private_key_env: EnvironmentName | None = None
    private_key_file: Path | None = None
    algorithm: Literal["rsa-sha256", "ed25519-sha256"] = "rsa-sha256"

    @model_validator(mode="after")
    def _one_key_source(self) -> DkimConfig:
        if (self.private_key_env is None) == (self.private_key_file is None):
            raise ValueError("set exactly one of private_key_env and private_key_file")
        return self


class MailConfig(_Section):
    """`[mail]`: who digests come from, the postal address anti-spam laws require, the transport."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    sender: Annotated[HeaderText, Field(alias="from", min_length=3)]
    reply_to: HeaderText | None = None
    postal_address: Annotated[str, Field(min_length=1)]
    unsubscribe_mailto: HeaderText | None = None
    bounce_address: HeaderText | None = None
    transport: Literal["maildir", "smtp"] = "maildir"
    maildir: Path = Path("outbox")
    smtp: SmtpConfig | None = None
    dkim: DkimConfig | None = None

    @field_validator("bounce_address")
    @classmethod
    def _bounce_address_takes_tokens(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9._=-]+@[A-Za-z0-9.-]+", value):
            raise ValueError(
                f"{value!r} must be a bare ASCII address (bounces@example.org) without '+'"
            )
        return value

    @model_validator(mode="after")
    def _smtp_needs_a_server(self) -> MailConfig:
        if self.transport == "smtp" and self.smtp is None:
            raise ValueError("transport 'smtp' needs a [mail.smtp] section with at least host")
        return self


class DeliveryConfig(_Section):
    """`[delivery]`: retries, bounces, batches and how stale an edition may be."""

    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 200
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 5
    retry_backoff: Annotated[float, Field(ge=0)] = 2.0
    bounce_limit: Annotated[int, Field(ge=1)] = 3
    max_age: Duration = timedelta(days=2)
    lease: Duration = timedelta(minutes=10)
    soft_bounce_limit: Annotated[int, Field(ge=1)] = 5
    soft_bounce_window: Duration = timedelta(days=30)
    outage_patience: Duration = timedelta(hours=1)


class ScheduleConfig(_Section):
    """`[schedule]`: how `publisher run` paces its jobs."""

    publish_every: Duration = timedelta(minutes=5)
    misfire_grace: Duration = timedelta(hours=6)
    standby_poll: Duration = timedelta(seconds=5)


class WebConfig(_Section):
    """`[web]`: where the subscription pages live, the name of the secret's variable, and limits.

    `confirm_expiry`: how long a confirmation link works. `confirm_resend`: a pending address
    is mailed again at most this often. `subscribe_limit` sign-ups per `subscribe_window` per
    client IP. `trusted_proxies`: peers whose X-Forwarded-For names the real client.
    """

    base_url: HttpUrl | None = None
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    secret_env: EnvironmentName = "PUBLISHER_SECRET"  # noqa: S105 (a variable's name)
    confirm_expiry: Duration = timedelta(days=2)
    confirm_resend: Duration = timedelta(hours=1)
    subscribe_limit: Annotated[int, Field(ge=1, le=100_000)] = 10
    subscribe_window: Duration = timedelta(hours=1)
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    # Mail each subscriber one welcome when they confirm.
    welcome: bool = True

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (such as '10.0.0.0/8')"
                ) from None
        return value


class AdminConfig(_Section):
    """`[admin]`: the dashboard under `/admin/` and the API under `/api/v1/`.

    `enabled`: unset means on once an admin user exists. `login_limit` sign-in attempts per
    `login_window` per client; `api_limit` requests per `api_window` per token.
    """

    enabled: bool | None = None
    session_lifetime: Duration = timedelta(hours=12)
    login_limit: Annotated[int, Field(ge=1, le=10_000)] = 10
    login_window: Duration = timedelta(minutes=15)
    api_limit: Annotated[int, Field(ge=1, le=1_000_000)] = 300
    api_window: Duration = timedelta(minutes=1)


class AnalyticsConfig(_Section):
    """`[analytics]`: how clicks and opens are counted, for digests that track them.

    `per_subscriber`: also keep who clicked (off: counts only, unique per recipient).
    `scanner_window`: a recipient whose every link is followed this soon after delivery is
    a link scanner, counted apart.
    """

    per_subscriber: bool = False
    scanner_window: Duration = timedelta(seconds=60)


class InboundConfig(_Section):
    """`[inbound]`: the mailbox bounces, complaints and mailto unsubscribes arrive in.

    `maildir`: a Maildir read by `publisher inbound` (and where `inbound -` files what it
    reads). `imap_host` and the rest: an IMAP folder read over verified TLS, the password in
    the variable named by `password_env`. `every`: how often `publisher run` reads them.
    """

    maildir: Path | None = None
    every: Duration | None = None
    imap_host: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] = 993
    security: Literal["tls", "starttls"] = "tls"
    username: str | None = None
    password_env: EnvironmentName | None = None
    folder: NonEmpty = "INBOX"
    processed_folder: NonEmpty = "processed"
    unrecognized_folder: NonEmpty = "unrecognized"
    ca_file: Path | None = None
    timeout: Annotated[float, Field(gt=0)] = 30.0

    @model_validator(mode="after")
    def _imap_needs_credentials(self) -> InboundConfig:
        if self.imap_host and not (self.username and self.password_env):
            raise ValueError("imap_host needs username and password_env")
        return self


class WebhooksConfig(_Section):
    """`[webhooks]`: ESP event webhooks; each is on only when its key is set.

    `ses_topics`: the SNS topic ARNs whose notifications are accepted. The other keys name
    environment variables: Postmark's `user:password`, Mailgun's signing key, SendGrid's
    verification key (base64 DER public key). `max_age`: older signed events are refused.
    """

    ses_topics: tuple[str, ...] = ()
    postmark_auth_env: EnvironmentName = "PUBLISHER_POSTMARK_WEBHOOK_AUTH"
    mailgun_key_env: EnvironmentName = "PUBLISHER_MAILGUN_SIGNING_KEY"
    sendgrid_key_env: EnvironmentName = "PUBLISHER_SENDGRID_WEBHOOK_KEY"
    max_age: Duration = timedelta(minutes=10)


class ArchiveConfig(_Section):
    dir: Path = Path("archive")
    url: str = "/archive/"


class TemplatesConfig(_Section):
    """`[templates] dir`: a site's own templates, used before the bundled ones."""

    dir: Path | None = None


FeedUrl = Annotated[str, AfterValidator(_check_absolute_url)]


class SourceConfig(_Section):
    """One `[[sources]]` table: an upstream RSS, Atom or JSON feed whose items become articles."""

    name: Slug
    url: FeedUrl
    title: str = ""
    categories: tuple[str, ...] = ()
    author: str | None = None
    content: Literal["full", "summary"] = "full"
    every: Duration = timedelta(minutes=15)
    backfill: Annotated[int, Field(ge=0, le=1000)] = 0


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _network(value: object) -> object:
    """A network in CIDR notation from the config's text; a bare address is a network of one."""
    if not isinstance(value, str):
        return value
    try:
        return ipaddress.ip_network(value.strip())
    except ValueError:
        pass
    try:
        meant = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(
            f"{value!r} is not an address or a network such as '10.0.0.0/8' or 'fd00::/8'"
        ) from None
    raise ValueError(f"{value!r} has bits set after the prefix: write '{meant}'")


AllowedNetwork = Annotated[IPNetwork, BeforeValidator(_network)]


class FetchConfig(_Section):
    """`[fetch]`: how upstream feeds are fetched."""

    timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    max_bytes: Annotated[int, Field(ge=1024)] = 10 * 1024 * 1024
    concurrency: Annotated[int, Field(ge=1, le=256)] = 8
    user_agent: Annotated[HeaderText, Field(min_length=1)] | None = None
    allow_private: bool = False
    allow_addresses: tuple[AllowedNetwork, ...] = ()


class _SourcesFile(_Section):
    sources: tuple[SourceConfig, ...] = ()


class _ConfigFile(_Section):
    site: SiteConfig
    content: ContentConfig = ContentConfig()
    store: StoreConfig = StoreConfig()
    feeds: FeedsConfig = FeedsConfig()
    digests: tuple[DigestConfig, ...] = ()
    mail: MailConfig | None = None
    archive: ArchiveConfig = ArchiveConfig()
    templates: TemplatesConfig = TemplatesConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    web: WebConfig = WebConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    inbound: InboundConfig = InboundConfig()
    webhooks: WebhooksConfig = WebhooksConfig()
    sources: tuple[SourceConfig, ...] = ()
    fetch: FetchConfig = FetchConfig()
    admin: AdminConfig = AdminConfig()
    analytics: AnalyticsConfig = AnalyticsConfig()

    @model_validator(mode="after")
    def _sources_are_known(self) -> _ConfigFile:
        names = [source.name for source in self.sources]
        if len(set(names)) != len(names):
            raise ValueError("sources: each source name may be used once")
        for digest in self.digests:
            unknown = [name for name in digest.sources if name not in names]
            if unknown:
                raise ValueError(f"digests[{digest.name}].sources: no source named {unknown[0]!r}")
        return self

    @model_validator(mode="after")
    def _digests_need_mail(self) -> _ConfigFile:
        names = [digest.name for digest in self.digests]
        if len(set(names)) != len(names):
            raise ValueError("digests: each digest name may be used once")
        if self.digests and self.mail is None:
            raise ValueError(
                "mail: a [mail] section (from, postal_address) is required for digests"
            )
        return self


@dataclass(frozen=True, slots=True)
class SiteImage:
    """The site's logo or icon: its public URL and, for a file of the content folder, its path."""

    url: str
    path: Path | None


@dataclass(frozen=True, slots=True)
class Config:
    """A validated config with every path and URL resolved."""

    path: Path
    site: SiteConfig
    content_dir: Path
    media_url: str
    store_url: str
    feeds_dir: Path
    feeds_url: str
    feeds: FeedsConfig
    digests: tuple[DigestConfig, ...]
    mail: MailConfig | None
    archive_dir: Path
    archive_url: str
    templates_dir: Path | None
    delivery: DeliveryConfig
    web: WebConfig
    schedule: ScheduleConfig
    web_base_url: str
    maildir: Path
    smtp_ca_file: Path | None
    inbound: InboundConfig
    webhooks: WebhooksConfig
    sources: tuple[SourceConfig, ...] = ()
    fetch: FetchConfig = field(default_factory=FetchConfig)
    logo: SiteImage | None = None
    icon: SiteImage | None = None
    admin: AdminConfig = field(default_factory=AdminConfig)
    analytics: AnalyticsConfig = field(default_factory=AnalyticsConfig)
    # The site's own catalogs: `locale/<language>/LC_MESSAGES/messages.po` beside the config.
    locale_dir: Path | None = None
    site_dir: Path | None = Path("site")  # `[site] output`: the static site; None: none

    def source(self, name: str) -> SourceConfig:
        """The source called `name`; ConfigError if there is none."""
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none configured"
        raise ConfigError(f"{self.path}: no source named {name!r} (sources: {known})")

    def digest(self, name: str) -> DigestConfig:
        """The digest called `name`; ConfigError if there is none."""
        for digest in self.digests:
            if digest.name == name:
                return digest
        known = ", ".join(d.name for d in self.digests) or "none configured"
        raise ConfigError(f"{self.path}: no digest named {name!r} (digests: {known})")

    def digest_zone(self, digest: DigestConfig) -> ZoneInfo:
        """The zone a digest's schedule and dates are in: its own, else the site's."""
        return ZoneInfo(digest.timezone or self.site.timezone)

    def digest_language(self, digest: DigestConfig) -> str:
        """The language (BCP 47) a digest's mail and archive are in: its own, else the site's."""
        return digest.language or self.site.language


def load_config(path: Path | str, environ: Mapping[str, str] | None = None) -> Config:
    """Read, validate and resolve the config file at `path`.

    `PUBLISHER_STORE_URL` in `environ` overrides `[store] url`, so a database password can
    live in the environment instead of the config file.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found (run `publisher init` to make a new site, or give "
            "--config)"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config file: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    raw = _with_sources_file(raw, path.parent / SOURCES_FILE)
    store_url = (environ or {}).get(STORE_URL_VARIABLE)
    if store_url and isinstance(raw.setdefault("store", {}), dict):
        raw["store"]["url"] = store_url
    return config_from_mapping(raw, path)


def config_from_mapping(raw: dict[str, Any], path: Path) -> Config:
    """Validate an already parsed config; `path` names it in errors and anchors relative paths."""
    try:
        parsed = _ConfigFile.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, path, raw)) from None
    base = path.resolve().parent
    site_url = parsed.site.url
    media_url = _ensure_trailing_slash(urljoin(site_url, parsed.content.media_url))
    return Config(
        path=path,
        site=parsed.site,
        content_dir=base / parsed.content.dir,
        media_url=media_url,
        store_url=_resolve_store_url(parsed.store.url, base),
        feeds_dir=base / parsed.feeds.dir,
        feeds_url=_ensure_trailing_slash(urljoin(site_url, parsed.feeds.url)),
        feeds=parsed.feeds,
        digests=parsed.digests,
        mail=parsed.mail,
        archive_dir=base / parsed.archive.dir,
        archive_url=_ensure_trailing_slash(urljoin(site_url, parsed.archive.url)),
        templates_dir=base / parsed.templates.dir if parsed.templates.dir else None,
        delivery=parsed.delivery,
        web=parsed.web,
        schedule=parsed.schedule,
        web_base_url=parsed.web.base_url or site_url,
        maildir=base / (parsed.mail.maildir if parsed.mail else Path("outbox")),
        smtp_ca_file=_smtp_ca_file(parsed.mail, base),
        sources=parsed.sources,
        fetch=parsed.fetch,
        inbound=parsed.inbound,
        webhooks=parsed.webhooks,
        logo=_site_image("logo", parsed.site.logo, base / parsed.content.dir, media_url),
        icon=_site_image("icon", parsed.site.icon, base / parsed.content.dir, media_url),
        site_dir=base / parsed.site.output if parsed.site.static else None,
        admin=parsed.admin,
        analytics=parsed.analytics,
        locale_dir=base / "locale",
    )


def _site_image(key: str, value: str | None, content_dir: Path, media_url: str) -> SiteImage | None:
    """`[site] logo` or `icon`: an absolute URL as it is, or a file of the content folder."""
    if value is None:
        return None
    if urlsplit(value).scheme in ("http", "https"):
        return SiteImage(url=value, path=None)
    path = (content_dir / value).resolve()
    if Path(value).is_absolute() or not path.is_relative_to(content_dir.resolve()):
        raise ConfigError(
            f"[site] {key}: {value!r} is neither a URL nor a path inside the content folder"
        )
    return SiteImage(
        url=urljoin(media_url, path.relative_to(content_dir.resolve()).as_posix()), path=path
    )


def _with_sources_file(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """Add the `[[sources]]` of `sources.toml` beside the config (if there is one) to `raw`."""
    if not path.is_file():
        return raw
    try:
        extra = tomllib.loads(path.read_text(encoding="utf-8"))
        _SourcesFile.model_validate(extra)
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except ValidationError as error:
        raise ConfigError(_describe(error, path, extra)) from None
    own = raw.get("sources", [])
    if not isinstance(own, list):
        return raw  # the config's own error is reported by validation
    return raw | {"sources": own + list(extra.get("sources", []))}


def _smtp_ca_file(mail: MailConfig | None, base: Path) -> Path | None:
    if mail is None or mail.smtp is None or mail.smtp.ca_file is None:
        return None
    return base / mail.smtp.ca_file


def _describe(error: ValidationError, path: Path, raw: dict[str, Any]) -> str:
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"])
        digest = _digest_named_by(problem["loc"], raw)
        if digest:
            table = problem["loc"][0]
            key = key.replace(f"{table}.{problem['loc'][1]}", f"{table}[{digest}]", 1)
        if problem["type"] == "extra_forbidden":
            message = "unknown key (check its spelling)"
        elif problem["type"] == "missing":
            message = "required value is missing"
        else:
            message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {key}: {message}" if key else f"{path}: {message}")
    return "\n".join(lines)


def _digest_named_by(location: tuple[int | str, ...], raw: dict[str, Any]) -> str | None:
    """The name of the `[[digests]]` table an error points into, so messages can say which."""
    if len(location) < 2 or location[0] not in ("digests", "sources"):
        return None
    if not isinstance(location[1], int):
        return None
    tables = raw.get(str(location[0]))
    if not isinstance(tables, list) or location[1] >= len(tables):
        return None
    table = tables[location[1]]
    name = table.get("name") if isinstance(table, dict) else None
    return name if isinstance(name, str) and name else None


def _resolve_store_url(url: str, base: Path) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not Path(database).is_absolute():
            parsed = parsed.set(database=str(base / database))
    elif parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _ensure_trailing_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def configured_languages(config: Config) -> list[tuple[str, str]]:
    """Each configured language with the key that sets it: the site's, then each digest's own."""
    found = [("[site] language", config.site.language)]
    found += [
        (f"digests[{digest.name}].language", digest.language)
        for digest in config.digests
        if digest.language is not None
    ]
    return found
