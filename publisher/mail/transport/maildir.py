"""Write messages into a local Maildir instead of sending them: the outbox of a new site."""

from __future__ import annotations

import logging
import mailbox
import threading
from pathlib import Path

from publisher.mail.transport.protocol import (
    LINE_ENDING,
    DeliveryError,
    ServerUnavailable,
    check_envelope,
)

logger = logging.getLogger(__name__)


class MaildirTransport:
    """Writes each message into a Maildir (`tmp/`, `new/`, `cur/`) that mail readers can open.

    The envelope is not kept: the message's own headers say who it is from and to. Line endings
    become LF, as in every local mail file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            for folder in ("tmp", "new", "cur"):
                (path / folder).mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise DeliveryError(f"{path}: cannot create the Maildir: {error}") from error
        self._mailbox = mailbox.Maildir(path, create=False)
        self._lock = threading.Lock()

    def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Add `message` to `new/`; mailbox writes it under `tmp/` first, so no reader sees half."""
        check_envelope(sender, recipient)
        try:
            with self._lock:
                key = self._mailbox.add(LINE_ENDING.sub(b"\n", message))
        except (OSError, mailbox.Error) as error:
            # A full disk, a quota or a read-only mount fails every message alike: the outbox
            # is down, not the recipient's address, so the run pauses and spends no attempt.
            raise ServerUnavailable(
                f"{self.path}: cannot write the message to {recipient}: {error}"
            ) from error
        logger.debug("wrote the message to %s as %s in %s", recipient, key, self.path)

    def close(self) -> None:
        """Nothing stays open between messages; kept for the Transport protocol."""
        self._mailbox.close()
