"""Read inbound mail from an IMAP folder (placeholder until IMAP lands)."""

from __future__ import annotations

from collections.abc import Mapping

from publisher.config import InboundConfig
from publisher.errors import PublisherError
from publisher.inbound.readers import Inbound, InboundReport


def read_imap(
    inbound: Inbound, settings: InboundConfig, environ: Mapping[str, str], report: InboundReport
) -> InboundReport:
    """Process every message in the configured IMAP folder."""
    raise PublisherError(f"IMAP ({settings.imap_host}) is not supported yet")
