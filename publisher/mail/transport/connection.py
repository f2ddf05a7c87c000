"""One SMTP connection reused across messages, and retired when used up or in doubt."""

from __future__ import annotations

import contextlib
import smtplib

from publisher.mail.transport.handshake import Handshake
from publisher.mail.transport.session import Refused


class ReusedConnection:
    """A connection opened on demand, replaced after `max_per_connection` messages, and
    dropped after any failure that leaves the server's state in doubt. Not thread-safe."""

    def __init__(self, handshake: Handshake, max_per_connection: int) -> None:
        self._handshake = handshake
        self._max_per_connection = max_per_connection
        self._connection: smtplib.SMTP | None = None
        self._messages = 0

    @property
    def is_open(self) -> bool:
        """Whether a connection from an earlier message is still held."""
        return self._connection is not None

    def open(self) -> smtplib.SMTP:
        """The held connection, or a new one."""
        if self._connection is None:
            self._connection = self._handshake.open()
            self._messages = 0
        return self._connection

    def message_started(self) -> None:
        """Count one more message against `max_per_connection`."""
        self._messages += 1

    def recover_from_refusal(self, refused: Refused) -> None:
        """RSET after a plain 4xx or 5xx, so the next message starts clean; else drop it."""
        # 421 means the server is closing, and any other reply means we no longer know what
        # state it is in.
        if self._connection is None:
            return
        if refused.code == 421 or not 400 <= refused.code <= 599:
            self.discard()
            return
        try:
            reset, _ = self._connection.rset()
        except OSError:
            reset = 0
        if reset != 250:
            self.discard()

    def retire_if_used_up(self) -> None:
        """Say QUIT once the connection carried `max_per_connection` messages."""
        if self._messages >= self._max_per_connection:
            self.quit()

    def discard(self) -> None:
        """Close the connection without a word: its state is in doubt."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def quit(self) -> None:
        """Say QUIT and close the connection, if one is open."""
        if self._connection is None:
            return
        with contextlib.suppress(OSError):
            self._connection.quit()
        self.discard()
