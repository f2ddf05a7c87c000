"""What every transport promises: hand a message over, and say exactly how the send ended.

Every failure is one of three kinds, because the caller's next step differs for each:

- `TemporaryFailure`: the server did not take the message (a 4xx reply, or the connection failed
  before the message's final dot was sent). Safe to send again later. Its subclass
  `ServerUnavailable` says the server itself is the problem (unreachable, dropped, closing,
  throttling): the caller should pause the whole run, not count it against the recipient.
- `PermanentFailure`: the server refused the message with a 5xx reply. Sending again will not help.
- `UncertainDelivery`: the whole message reached the server but its answer never came back. The
  server may have accepted it, so sending again may deliver it twice.

A plain `DeliveryError` means the transport itself cannot work (bad credentials, an untrusted
certificate, a server that will not talk to us): fix the configuration, not the message.
"""

from __future__ import annotations

import re
from typing import Protocol

from publisher.errors import PublisherError


class DeliveryError(PublisherError):
    """A message could not be handed over; the message names the server, address or file."""


class TemporaryFailure(DeliveryError):
    """Nothing was delivered; trying again later may work. `code` is the server's reply, if any."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class ServerUnavailable(TemporaryFailure):
    """The server, not the recipient, failed: no connection, a drop before the content, a 421,
    a throttling reply. Pause every send and try the server again; count no attempt."""


class PermanentFailure(DeliveryError):
    """The server refused the message with a 5xx reply, kept in `code`; `answer` is the reply
    without the envelope (the same text for every recipient a server refuses alike)."""

    def __init__(self, code: int, message: str, answer: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.answer = answer or message


class UncertainDelivery(DeliveryError):
    """The message was sent but never confirmed: it may have arrived, so never resend it blindly."""


class Transport(Protocol):
    """Somewhere messages go: a mail server or a local Maildir."""

    def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Hand over one message; returns once it was accepted, raises a DeliveryError if not."""

    def close(self) -> None:
        """Release the connection or files; a later `send` opens them again."""


_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
LINE_ENDING = re.compile(rb"\r\n|\r|\n")


def check_envelope(sender: str, recipient: str) -> None:
    """Refuse an address holding CR, LF or another control character.

    A line break in an envelope address would let its author add SMTP commands or headers.
    A bad sender is the config's fault (DeliveryError); a bad recipient can never be sent to,
    so it fails like a refused one (PermanentFailure 501), without holding up the others.
    """
    problem = "it contains a line break or control character"
    if _CONTROL_CHARACTER.search(sender):
        raise DeliveryError(f"refusing the sender {sender!r}: {problem}")
    if _CONTROL_CHARACTER.search(recipient):
        raise PermanentFailure(501, f"refusing the recipient {recipient!r}: {problem}")
