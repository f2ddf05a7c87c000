"""When a run must wait, and for how long: for a mail server that is down, for the next day's
allowance under `daily_limit`, for a row's next retry. The waiting itself is injected."""

from __future__ import annotations

import logging
from collections.abc import Callable

from publisher.clock import Clock
from publisher.config import Config, duration_text
from publisher.mail.delivery.ledger import messages_started_since
from publisher.mail.delivery.pacing import OutageBackoff, allowed_today, day_start, next_day_start
from publisher.mail.transport.protocol import DeliveryError, ServerUnavailable
from publisher.store.database import Store

log = logging.getLogger(__name__)

# Blocks for about that many seconds, or less when the run is told to stop.
Wait = Callable[[float], object]


class ServerOutage(DeliveryError):
    """The mail server stayed unavailable for `[delivery] outage_patience`; rows stay pending."""


class Pauses:
    """The waits of one run of one edition, each through `wait`."""

    def __init__(
        self, store: Store, config: Config, edition_id: int, clock: Clock, wait: Wait
    ) -> None:
        self.store, self.config, self.edition_id = store, config, edition_id
        self.clock, self.wait = clock, wait
        smtp = config.mail.smtp if config.mail and config.mail.transport == "smtp" else None
        self.daily_limit = smtp.daily_limit if smtp else 0
        self.outage = OutageBackoff(config.delivery.outage_patience)

    def batch_size_allowed_today(self) -> int:
        """Rows the next claim may take under `daily_limit`: 0 means wait for tomorrow."""
        now = self.clock()
        used = 0
        if self.daily_limit:
            since = day_start(now, self.config.site.zone)
            used = messages_started_since(self.store, since, now)
        allowed = allowed_today(self.daily_limit, used)
        batch_size = self.config.delivery.batch_size
        return batch_size if allowed is None else min(batch_size, allowed)

    def wait_for_next_day(self) -> None:
        """Wait until midnight in the site's zone."""
        now = self.clock()
        resume = next_day_start(now, self.config.site.zone)
        log.warning(
            "edition %s: mail.smtp.daily_limit (%s) reached; waiting until %s",
            self.edition_id,
            self.daily_limit,
            resume.isoformat(),
        )
        self.wait(max(1.0, (resume - now).total_seconds()))

    def wait_for_server(self, error: ServerUnavailable) -> None:
        """Back off before trying the server again; ServerOutage once patience is spent."""
        now = self.clock()
        wait = self.outage.next_wait(now)
        if wait is None:
            raise ServerOutage(
                f"edition {self.edition_id}: the mail server has been unavailable for "
                f"{self.outage.waited_for(now)} (delivery.outage_patience is "
                f"{duration_text(self.config.delivery.outage_patience)}): {error}; "
                "every unsent row is still "
                f"pending: run `publisher send {self.edition_id}` once the server is back"
            )
        if wait:
            log.warning("mail server unavailable (%s); trying again in %.0fs", error, wait)
            self.wait(wait)
