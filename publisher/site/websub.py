"""WebSub publish pings: tell the hub which feeds changed, once per change, retried with backoff.

A build queues one ping per changed feed file in the store (table `websub_pings`), in the
same run that wrote the file, then tries the hub. A ping the hub did not take stays queued and
is tried again by a later build (every `publish_every` under `publisher run`) once its backoff
has passed; a hub that is down never fails a build. The hub is asked like any outside server:
only a public address unless `[fetch] allow_private` is set, connected to the very address
that was checked, no redirects followed.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher.sources.fetch import FetchError, FetchSettings, allowed_addresses, parsed_http_url
from publisher.store.database import Store
from publisher.store.schema import websub_pings

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)
PING_TIMEOUT = 10.0  # seconds: a slow hub delays the end of a build by at most this, per ping


@dataclass(slots=True)
class PingReport:
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Part of the build's line: pings sent and pings left for later."""
        return f"websub: {len(self.sent)} pinged, {len(self.failed)} waiting"


def retry_delay(attempts: int) -> timedelta:
    """How long a ping that failed `attempts` times waits: doubling from a minute, up to 6 h."""
    delay: timedelta = FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 16)
    return min(delay, LONGEST_RETRY)


def queue_pings(connection: Connection, hub: str, topics: Iterable[str], now: datetime) -> None:
    """Record that the hub must hear of each topic (feed URL); a queued one is tried at once."""
    for topic in topics:
        updated = connection.execute(
            websub_pings.update()
            .where(websub_pings.c.hub == hub, websub_pings.c.topic == topic)
            .values(queued_at=now, next_attempt_at=now)
        )
        if updated.rowcount == 0:
            connection.execute(
                websub_pings.insert().values(
                    hub=hub, topic=topic, queued_at=now, attempts=0, next_attempt_at=now
                )
            )


def send_due_pings(
    store: Store,
    hub: str | None,
    settings: FetchSettings,
    now: datetime,
    budget: float = PING_TIMEOUT,
) -> PingReport:
    """Ping the hub for every queued topic whose time has come; keep the failed ones.

    The first failure ends the round: every ping still due waits its backoff too, so a hub
    that does not answer costs a build one timeout, not one per feed. The whole round takes
    at most `budget` seconds, however slowly the hub answers.
    """
    report = PingReport()
    deadline = time.monotonic() + budget
    # One TLS context for the round: making one loads the CA bundle (tens of ms a ping).
    tls = ssl.create_default_context()
    with store.transaction() as connection:
        # Pings for a hub no longer configured have nowhere to go.
        stale = websub_pings.delete()
        if hub is not None:
            stale = stale.where(websub_pings.c.hub != hub)
        connection.execute(stale)
        due = connection.execute(
            sa.select(websub_pings)
            .where(websub_pings.c.next_attempt_at <= now)
            # Oldest first, so a hub that fails now and then cannot starve any feed.
            .order_by(websub_pings.c.queued_at, websub_pings.c.topic)
        ).all()
    for position, row in enumerate(due):
        remaining = deadline - time.monotonic()
        error = (
            _ping(row.hub, row.topic, settings, remaining, tls)
            if remaining > 0
            else f"{row.hub}: the round's {budget:.0f} s were spent"
        )
        if error is None:
            with store.transaction() as connection:
                # Unless the feed changed again meanwhile: that change still needs its ping.
                connection.execute(
                    websub_pings.delete().where(
                        websub_pings.c.hub == row.hub,
                        websub_pings.c.topic == row.topic,
                        websub_pings.c.queued_at == row.queued_at,
                    )
                )
            report.sent.append(row.topic)
            continue
        log.warning("%s not pinged (attempt %d): %s", row.topic, row.attempts + 1, error)
        waiting = due[position:]
        with store.transaction() as connection:
            for left in waiting:
                attempts = left.attempts + 1
                connection.execute(
                    websub_pings.update()
                    .where(websub_pings.c.hub == left.hub, websub_pings.c.topic == left.topic)
                    .values(
                        attempts=attempts,
                        next_attempt_at=now + retry_delay(attempts),
                        last_error=error[:1000],
                    )
                )
        report.failed.extend(left.topic for left in waiting)
        break
    return report


def _ping(
    hub: str, topic: str, settings: FetchSettings, seconds: float, tls: ssl.SSLContext
) -> str | None:
    """None when the hub took the ping, else what went wrong."""
    form = {"hub.mode": "publish", "hub.url": topic}
    try:
        status = post_form(hub, form, settings, seconds, tls)
    except TimeoutError:
        return f"{hub}: no answer within {seconds:.0f} s"
    except (httpx.HTTPError, httpx.InvalidURL, FetchError, OSError, ValueError) as error:
        return f"{hub}: {type(error).__name__}: {error}"
    except Exception as error:  # a surprise must not fail the build: log it, try again later
        log.exception("websub: pinging %s", hub)
        return f"{hub}: {type(error).__name__}: {error}"
    if 200 <= status < 300:
        return None
    return f"{hub}: HTTP {status}"


def post_form(
    url: str, form: dict[str, str], settings: FetchSettings, seconds: float, tls: ssl.SSLContext
) -> int:
    """POST a form to `url` after the address checks; the response's status code.

    The whole exchange takes at most `seconds` (TimeoutError after), and the response's body
    is never read: a hub trickling headers or sending an endless body holds nothing for long.
    """
    return asyncio.run(asyncio.wait_for(_post_form(url, form, settings, tls), seconds))


async def _post_form(
    url: str, form: dict[str, str], settings: FetchSettings, tls: ssl.SSLContext
) -> int:
    parsed, port = parsed_http_url(url)
    assert parsed.host  # parsed_http_url refuses a URL without one
    answers = await asyncio.get_running_loop().getaddrinfo(
        parsed.host, port, type=socket.SOCK_STREAM
    )
    addresses = allowed_addresses(url, parsed.host, answers, settings)
    target = parsed.copy_with(host=str(addresses[0]))
    headers = {"host": parsed.netloc.decode("ascii"), "user-agent": settings.user_agent}
    timeout = min(settings.timeout, PING_TIMEOUT)
    async with httpx.AsyncClient(
        verify=tls, trust_env=False, follow_redirects=False, timeout=timeout
    ) as client:
        request = client.build_request(
            "POST",
            target,
            data=form,
            headers=headers,
            extensions={"sni_hostname": parsed.host},
        )
        response = await client.send(request, stream=True)
        await response.aclose()
        return response.status_code
