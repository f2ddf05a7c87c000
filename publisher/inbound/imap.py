"""Read inbound mail from an IMAP folder over verified TLS, and file each message on the server.

Like the Maildir reader: a message is moved to `[inbound] processed_folder` (or
`unrecognized_folder`) only after its events are stored, so a failure leaves it in place to be
read again, which changes nothing.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from publisher.errors import PublisherError
from publisher.inbound.readers import PROCESSED, Inbound, InboundReport, folder_for

log = logging.getLogger(__name__)

FETCH_BATCH = 50
BODY = b"BODY[]"


def read_imap(inbound: Inbound, environ: Mapping[str, str], report: InboundReport) -> InboundReport:
    """Process every message in `[inbound] folder` of `[inbound] imap_host`."""
    settings = inbound.config.inbound
    where = f"IMAP {settings.username}@{settings.imap_host}:{settings.port}"
    password = environ.get(settings.password_env or "")
    if not password:
        raise PublisherError(f"{where}: set the password in ${settings.password_env}")
    ca_file = settings.ca_file and inbound.config.path.resolve().parent / settings.ca_file
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as error:
        raise PublisherError(f"[inbound] ca_file {ca_file}: {error}") from None
    try:
        client = IMAPClient(
            settings.imap_host or "",
            port=settings.port,
            ssl=settings.security == "tls",
            ssl_context=context,
            timeout=settings.timeout,
        )
    except (OSError, IMAPClientError) as error:
        raise PublisherError(f"{where}: cannot connect: {error}") from None
    try:
        if settings.security == "starttls":
            client.starttls(context)
        client.login(settings.username or "", password)
        _read_folder(client, inbound, report)
    except (OSError, IMAPClientError) as error:
        raise PublisherError(f"{where}: {error}") from None
    finally:
        try:
            client.logout()
        except (OSError, IMAPClientError):
            log.debug("%s: logout failed", where)
    return report


def _read_folder(client: IMAPClient, inbound: Inbound, report: InboundReport) -> None:
    settings = inbound.config.inbound
    targets = {PROCESSED: settings.processed_folder}
    targets["unrecognized"] = settings.unrecognized_folder
    for folder in targets.values():
        if not client.folder_exists(folder):
            client.create_folder(folder)
    client.select_folder(settings.folder)
    uids = client.search(["NOT", "DELETED"])
    move = client.has_capability("MOVE")
    for start in range(0, len(uids), FETCH_BATCH):
        batch = uids[start : start + FETCH_BATCH]
        for uid, data in client.fetch(batch, ["BODY.PEEK[]"]).items():
            raw = data.get(BODY)
            if not isinstance(raw, bytes):
                report.errors.append(f"{settings.folder} message {uid}: no body fetched")
                continue
            target = targets[folder_for(inbound.process(raw, report))]
            if move:
                client.move([uid], target)
            else:
                client.copy([uid], target)
                client.delete_messages([uid])
                client.uid_expunge([uid])
