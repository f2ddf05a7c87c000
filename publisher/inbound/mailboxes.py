"""Read every configured mailbox: `[inbound] maildir`, then the IMAP folder."""

from __future__ import annotations

from collections.abc import Mapping

from publisher.errors import PublisherError
from publisher.inbound.imap import read_imap
from publisher.inbound.readers import Inbound, InboundReport, inbound_maildir, read_maildir


def has_mailbox(inbound: Inbound) -> bool:
    """Whether `[inbound]` names a Maildir or an IMAP server."""
    return inbound_maildir(inbound.config) is not None or bool(inbound.config.inbound.imap_host)


def read_mailboxes(inbound: Inbound, environ: Mapping[str, str]) -> InboundReport:
    """Process the configured Maildir and IMAP folder; a mailbox's failure is an error line."""
    report = InboundReport()
    folder = inbound_maildir(inbound.config)
    if folder is not None:
        try:
            read_maildir(inbound, folder, report)
        except PublisherError as error:
            report.errors.append(str(error))
    if inbound.config.inbound.imap_host:
        try:
            read_imap(inbound, environ, report)
        except PublisherError as error:
            report.errors.append(str(error))
    return report
