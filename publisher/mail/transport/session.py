"""One mail transaction on an open SMTP connection, pipelined (RFC 2920) when the server allows.

Each reply is still judged on its own, so the caller knows exactly where a transaction ended:
`Refused` names the command the server said no to, `Dropped` the step during which the
connection failed. Everything before `Phase.REPLY` is safe to send again; a failure at
`Phase.REPLY` means the whole message reached the server and may have been delivered.
"""

from __future__ import annotations

import enum
import re
import smtplib


class Phase(enum.Enum):
    """Where in the SMTP dialogue something went wrong."""

    GREETING = "the greeting"
    HELLO = "EHLO"
    STARTTLS = "STARTTLS"
    AUTH = "AUTH"
    MAIL = "MAIL FROM"
    RCPT = "RCPT TO"
    DATA = "DATA"
    CONTENT = "the message content"
    REPLY = "the end of the message"


class Refused(Exception):
    """The server answered with a reply other than the one that lets us go on."""

    def __init__(self, phase: Phase, code: int, reply: bytes | str) -> None:
        super().__init__(phase, code)
        self.phase = phase
        self.code = code
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        self.reply = text.replace("\n", " ")


class Dropped(Exception):
    """The connection failed (closed, reset or timed out) while in `phase`."""

    def __init__(self, phase: Phase, error: OSError) -> None:
        super().__init__(phase, error)
        self.phase = phase
        self.error = error


def expect(phase: Phase, reply: tuple[int, bytes], wanted: int | None = None) -> None:
    """Raise `Refused` unless `reply` is `wanted` (any 2xx when None)."""
    code, text = reply
    accepted = code == wanted if wanted is not None else 200 <= code < 300
    if not accepted:
        raise Refused(phase, code, text)


def run_transaction(
    connection: smtplib.SMTP, sender: str, recipient: str, data: bytes, options: list[str]
) -> None:
    """MAIL, RCPT, DATA, the content and its reply, one round trip each; `Refused` or
    `Dropped` name the step."""
    # smtplib.sendmail does all of this in one call, which hides whether a dropped connection
    # came before the content was sent (safe to retry) or after (maybe delivered).
    phase = Phase.MAIL
    try:
        expect(phase, connection.mail(sender, options))
        phase = Phase.RCPT
        expect(phase, connection.rcpt(recipient))
        phase = Phase.DATA
        connection.putcmd("data")
        expect(phase, connection.getreply(), wanted=354)
        _send_content(connection, data)
    except OSError as error:
        raise Dropped(phase, error) from error


def run_pipelined_transaction(
    connection: smtplib.SMTP, sender: str, recipient: str, data: bytes, options: list[str]
) -> None:
    """MAIL, RCPT and DATA in one write, then the content: two round trips in all.

    The server must have offered PIPELINING. The three replies are read in order and each is
    judged as if its command had been sent alone.
    """
    suffix = "".join(f" {option}" for option in options)
    encoding = "utf-8" if "SMTPUTF8" in options else "ascii"
    commands = (
        f"MAIL FROM:{_path(sender)}{suffix}\r\nRCPT TO:{_path(recipient)}\r\nDATA\r\n"
    ).encode(encoding)
    phase = Phase.MAIL
    try:
        connection.send(commands)
        replies = []
        for step in (Phase.MAIL, Phase.RCPT, Phase.DATA):
            phase = step
            replies.append(connection.getreply())
    except OSError as error:
        raise Dropped(phase, error) from error
    try:
        expect(Phase.MAIL, replies[0])
        expect(Phase.RCPT, replies[1])
    except Refused:
        if replies[2][0] == 354:
            # The server waits for content it must not get: only closing the connection ends
            # this transaction safely (the caller's RSET then fails and it reconnects).
            connection.close()
        raise
    expect(Phase.DATA, replies[2], wanted=354)
    phase = Phase.CONTENT
    try:
        _send_content(connection, data)
    except OSError as error:
        raise Dropped(phase, error) from error


def _path(address: str) -> str:
    """`<address>`; smtplib's quoteaddr parses the address each time, which shows per message."""
    if "<" in address or ">" in address or not address:
        return smtplib.quoteaddr(address)
    return f"<{address}>"


def _send_content(connection: smtplib.SMTP, data: bytes) -> None:
    phase = Phase.CONTENT
    try:
        connection.send(data)
        phase = Phase.REPLY
        expect(phase, connection.getreply())
    except OSError as error:
        raise Dropped(phase, error) from error


_THROTTLING_WORDS = re.compile(r"throttl|rate|too many|slow down", re.IGNORECASE)


def is_server_refusal(code: int, reply: str) -> bool:
    """Whether a 4xx reply is about the server's state rather than one message or recipient:
    421 (closing), 454 or a rate or throttling complaint (`451 4.7.x rate limited`)."""
    if code in (421, 454):
        return True
    return 400 <= code <= 499 and _THROTTLING_WORDS.search(reply) is not None
