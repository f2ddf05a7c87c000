"""`publisher status`: where a site stands, read from its store, as text or as JSON.

`site_status` reads (the shell); `status_document` and `status_lines` only shape what was read
(the core), so the text and the JSON always tell the same thing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher.config import Config
from publisher.mail.delivery.ledger import RemainingRows
from publisher.store.analytics import EditionAnalytics, edition_analytics
from publisher.store.articles import count_articles
from publisher.store.database import Store
from publisher.store.editions import ledger_counts
from publisher.store.gathers import last_gather
from publisher.store.locks import daemon_is_active, daemon_is_waiting
from publisher.store.pings import pending_ping_count
from publisher.store.schema import editions, scheduler_jobs, subscribers, subscriptions
from publisher.store.statuses import ArticleStatus, DeliveryStatus, SubscriberStatus
from publisher.wording import count

# The ledger kinds every edition shows, in this order, even at zero. Another kind of count
# (say, bounces reported later) goes here and into `edition_ledger`.
LEDGER_KINDS: tuple[str, ...] = (
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.RETRYABLE,
    DeliveryStatus.UNCERTAIN,
    DeliveryStatus.PENDING,
    DeliveryStatus.SKIPPED,
)


@dataclass(frozen=True, slots=True)
class EditionStatus:
    """A digest's last edition and its delivery ledger."""

    id: int
    number: int
    created_at: datetime
    subject: str
    articles: int
    ledger: Mapping[str, int]
    analytics: EditionAnalytics | None = None  # digests that track clicks or opens


OPENS_CAVEAT = (
    "mail privacy proxies (Apple Mail and others) load every image, so opens are an upper bound"
)


@dataclass(frozen=True, slots=True)
class DigestStatus:
    name: str
    title: str
    last_edition: EditionStatus | None
    subscribers: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class JobStatus:
    id: str
    next_run: datetime | None


@dataclass(frozen=True, slots=True)
class DaemonStatus:
    """Whether a `publisher run` is the active one on this store, and the stored jobs."""

    active: bool
    jobs: tuple[JobStatus, ...]
    standby: bool = False


@dataclass(frozen=True, slots=True)
class GatherStatus:
    """When the last gather ran, how many errors it met, and the first ones as lines."""

    at: datetime
    error_count: int
    errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SiteStatus:
    title: str
    config: str
    store: str
    articles: Mapping[ArticleStatus, int]
    last_gather: GatherStatus | None
    digests: tuple[DigestStatus, ...]
    subscribers: Mapping[str, int]
    daemon: DaemonStatus
    websub_pings: int = 0  # publish pings waiting for the WebSub hub


def site_status(
    config: Config, store_: Store, show_path: Callable[[Path], str] = str
) -> SiteStatus:
    """Read everything `publisher status` shows from the store (and the daemon's lock).

    `show_path` writes the config file's and a SQLite store's paths as the user would type them.
    """
    with store_.read() as connection:
        articles = {kind: count_articles(connection, kind) for kind in ArticleStatus}
        digests = tuple(
            DigestStatus(
                name=digest.name,
                title=digest.title,
                last_edition=last_edition(
                    connection, digest.name, digest.track_clicks or digest.track_opens
                ),
                subscribers=subscriber_counts(connection, digest.name),
            )
            for digest in config.digests
        )
        gathered = last_gather(connection)
        everyone = subscriber_counts(connection)
        jobs = stored_jobs(connection)
        pings = pending_ping_count(connection)
    return SiteStatus(
        title=config.site.title,
        config=show_path(config.path),
        store=shown_store(config.store_url, show_path),
        articles=articles,
        last_gather=None
        if gathered is None
        else GatherStatus(
            at=gathered.at,
            error_count=gathered.error_count,
            errors=tuple(
                error.located(show_path(config.content_dir / error.path))
                for error in gathered.errors
            ),
        ),
        digests=digests,
        subscribers=everyone,
        daemon=DaemonStatus(
            active=daemon_is_active(config, store_.engine),
            jobs=jobs,
            standby=daemon_is_waiting(config, store_.engine),
        ),
        websub_pings=pings,
    )


def shown_store(url: str, show_path: Callable[[Path], str] = str) -> str:
    """A SQLite store as its file's path; any other as its URL without the password."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return show_path(Path(parsed.database))
    return parsed.render_as_string(hide_password=True)


def edition_ledger(connection: Connection, edition_id: int) -> dict[str, int]:
    """An edition's deliveries by kind: each of `LEDGER_KINDS` (0 when none), then any other
    status its ledger holds."""
    counts = ledger_counts(connection, edition_id)
    shown = {kind: counts.pop(kind, 0) for kind in LEDGER_KINDS}
    return shown | dict(sorted(counts.items()))


def last_edition(
    connection: Connection, digest: str, tracked: bool = False
) -> EditionStatus | None:
    """The digest's newest edition with its ledger counts (and, `tracked`, its clicks and
    opens), or None before its first."""
    row = connection.execute(
        sa.select(
            editions.c.id,
            editions.c.number,
            editions.c.created_at,
            editions.c.subject,
            editions.c.article_guids,
        )
        .where(editions.c.digest == digest)
        .order_by(editions.c.number.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    found = EditionStatus(
        id=row.id,
        number=row.number,
        created_at=row.created_at,
        subject=row.subject,
        articles=len(row.article_guids),
        ledger=edition_ledger(connection, row.id),
    )
    if tracked:
        found = dataclasses.replace(found, analytics=edition_analytics(connection, row.id))
    return found


def subscriber_counts(connection: Connection, digest: str | None = None) -> dict[str, int]:
    """Subscribers by status (each status, 0 when none): all of them, or one digest's."""
    query = sa.select(subscribers.c.status, sa.func.count()).group_by(subscribers.c.status)
    if digest is not None:
        query = query.join(subscriptions, subscriptions.c.subscriber_id == subscribers.c.id).where(
            subscriptions.c.digest == digest
        )
    found = {status: int(count) for status, count in connection.execute(query)}
    return {status: found.get(status, 0) for status in tuple(SubscriberStatus)}


def stored_jobs(connection: Connection) -> tuple[JobStatus, ...]:
    """The daemon's persistent jobs and their next run times, soonest first."""
    jobs = scheduler_jobs
    rows = connection.execute(sa.select(jobs.c.id, jobs.c.next_run_time).order_by(jobs.c.id))
    found = [
        JobStatus(id=str(job_id), next_run=_from_timestamp(next_run)) for job_id, next_run in rows
    ]
    never = datetime.max.replace(tzinfo=UTC)
    return tuple(sorted(found, key=lambda job: (job.next_run or never, job.id)))


def _from_timestamp(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


# The core: shaping what was read -----------------------------------------------------------


def status_document(status: SiteStatus) -> dict[str, Any]:
    """The status as JSON-ready values: times in UTC, ISO 8601."""
    return {
        "site": status.title,
        "config": status.config,
        "store": status.store,
        "articles": dict(status.articles),
        "last_gather": None
        if status.last_gather is None
        else {
            "at": _iso(status.last_gather.at),
            "error_count": status.last_gather.error_count,
            "errors": list(status.last_gather.errors),
        },
        "digests": [
            {
                "name": digest.name,
                "title": digest.title,
                "last_edition": _edition_document(digest.last_edition),
                "subscribers": dict(digest.subscribers),
            }
            for digest in status.digests
        ],
        "subscribers": dict(status.subscribers),
        "daemon": {
            "active": status.daemon.active,
            "standby": status.daemon.standby,
            "jobs": [{"id": job.id, "next_run": _iso(job.next_run)} for job in status.daemon.jobs],
        },
        "websub_pings": status.websub_pings,
    }


def _edition_document(edition: EditionStatus | None) -> dict[str, Any] | None:
    if edition is None:
        return None
    return {
        "id": edition.id,
        "number": edition.number,
        "created_at": _iso(edition.created_at),
        "subject": edition.subject,
        "articles": edition.articles,
        "ledger": dict(edition.ledger),
        "remaining": remaining_hints(edition),
        **(
            {}
            if edition.analytics is None
            else {"analytics": analytics_document(edition.analytics)}
        ),
    }


def analytics_document(found: EditionAnalytics) -> dict[str, Any]:
    """An edition's clicks and opens as JSON-ready values."""
    return {
        "clicks": {
            "unique_recipients": found.unique_clickers,
            "link_scanners": found.scanners,
            "links": [
                {
                    "link": link.link,
                    "url": link.url,
                    "unique": link.unique,
                    "total": link.total,
                    "scanners": link.scanners,
                }
                for link in found.links
            ],
        },
        "opens": {
            "unique": found.opens_unique,
            "total": found.opens_total,
            "caveat": OPENS_CAVEAT,
        },
    }


def analytics_line(found: EditionAnalytics) -> str:
    """An edition's clicks and opens in one line."""
    clicks = sum(link.total for link in found.links)
    return (
        f"clicks: {count(found.unique_clickers, 'reader')} ({count(clicks, 'click')}), "
        f"{count(found.scanners, 'link scanner')} apart; opens: {found.opens_unique} "
        "(an upper bound: privacy proxies open every message)"
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def status_lines(status: SiteStatus, zone: ZoneInfo) -> list[str]:
    """The status as lines of text for one screen; times in `zone`."""
    articles = status.articles
    lines = [
        f"{status.title} ({status.config}; store {status.store})",
        "articles: "
        + ", ".join(
            (
                f"{articles[ArticleStatus.PUBLIC]} public",
                f"{articles[ArticleStatus.SCHEDULED]} scheduled",
                f"{count(articles[ArticleStatus.DRAFT], 'draft')} skipped",
                f"{articles[ArticleStatus.WITHDRAWN]} withdrawn",
            )
        ),
    ]
    gathered = status.last_gather
    if gathered is None:
        lines.append("last gather: never")
    else:
        lines.append(
            f"last gather: {_local(gathered.at, zone)}, {count(gathered.error_count, 'error')}"
        )
        lines.extend(f"  {error}" for error in gathered.errors)
        if gathered.error_count > len(gathered.errors):
            lines.append(f"  ... and {gathered.error_count - len(gathered.errors)} more")
    lines.append("digests:" if status.digests else "digests: none configured")
    for digest in status.digests:
        lines.append(f"  {digest.name}: {_edition_line(digest.last_edition, zone)}")
        if digest.last_edition is not None:
            lines.extend(f"    remaining: {hint}" for hint in remaining_hints(digest.last_edition))
            if digest.last_edition.analytics is not None:
                lines.append(f"    {analytics_line(digest.last_edition.analytics)}")
        lines.append(f"    subscribers: {_by_status(digest.subscribers)}")
    lines.append(f"subscribers: {_by_status(status.subscribers)}")
    if status.websub_pings:
        lines.append(f"websub: {count(status.websub_pings, 'ping')} waiting for the hub")
    lines.append(_daemon_line(status.daemon))
    lines.extend(
        f"  {job.id}: next run {_local(job.next_run, zone) if job.next_run else 'paused'}"
        for job in status.daemon.jobs
    )
    return lines


def remaining_hints(edition: EditionStatus) -> list[str]:
    """What still needs sending in an edition, by kind, each with the command that sends it."""
    ledger = edition.ledger
    remaining = RemainingRows(
        pending=ledger.get(DeliveryStatus.PENDING, 0),
        uncertain=ledger.get(DeliveryStatus.UNCERTAIN, 0),
        retryable=ledger.get(DeliveryStatus.RETRYABLE, 0),
        failed=ledger.get(DeliveryStatus.FAILED, 0),
    )
    return remaining.hints(edition.id)


def _edition_line(edition: EditionStatus | None, zone: ZoneInfo) -> str:
    if edition is None:
        return "no edition yet"
    ledger = ", ".join(f"{number} {kind}" for kind, number in edition.ledger.items())
    return (
        f"edition #{edition.number} (id {edition.id}), {_local(edition.created_at, zone)}, "
        f"{count(edition.articles, 'article')}; deliveries: {ledger}"
    )


def _by_status(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{number} {status}" for status, number in counts.items())


def _daemon_line(daemon: DaemonStatus) -> str:
    state = "active on this store" if daemon.active else "not running"
    if daemon.standby:
        state += ", a standby waiting"
    if not daemon.jobs:
        return f"daemon: {state}; no jobs stored yet (publisher run has not started here)"
    return f"daemon: {state}; stored jobs:"


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
