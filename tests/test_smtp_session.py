"""The pipelined SMTP transaction against a loopback server that records every read it makes."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from publisher.config import SmtpConfig
from publisher.mail.transport.protocol import (
    PermanentFailure,
    ServerUnavailable,
    TemporaryFailure,
    UncertainDelivery,
)
from publisher.mail.transport.session import is_server_refusal
from publisher.mail.transport.smtp import SmtpTransport

MESSAGE = b"From: a@t.example\r\nTo: b@r.example\r\nSubject: Hi\r\n\r\nHello.\r\n"


@dataclass
class Script:
    """What the recording server answers, and every chunk it read, in order."""

    pipelining: bool = True
    rcpt_reply: dict[str, bytes] = field(default_factory=dict)  # recipient -> reply
    close_at: str | None = None  # "rcpt" or "content": close instead of answering
    reads: list[bytes] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)


class RecordingSmtpHandler(socketserver.StreamRequestHandler):
    script: Script

    def handle(self) -> None:
        self.request.sendall(b"220 recorder ready\r\n")
        buffer = b""
        in_data = False
        recipient = ""
        while True:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            self.script.reads.append(chunk)
            buffer += chunk
            replies = b""
            while True:
                if in_data:
                    end = buffer.find(b"\r\n.\r\n")
                    if end < 0:
                        break
                    buffer = buffer[end + 5 :]
                    in_data = False
                    if self.script.close_at == "content":
                        return
                    self.script.delivered.append(recipient)
                    replies += b"250 queued\r\n"
                    continue
                line, found, rest = buffer.partition(b"\r\n")
                if not found:
                    break
                buffer = rest
                verb = line[:4].upper()
                if verb == b"EHLO":
                    extra = b"250-PIPELINING\r\n" if self.script.pipelining else b""
                    replies += b"250-recorder\r\n" + extra + b"250 8BITMIME\r\n"
                elif verb == b"RCPT":
                    recipient = line.split(b"<", 1)[1].split(b">", 1)[0].decode()
                    if self.script.close_at == "rcpt":
                        self.request.sendall(replies)
                        return
                    reply = self.script.rcpt_reply.get(recipient, b"250 ok")
                    if not reply.startswith(b"250"):
                        recipient = ""
                    replies += reply + b"\r\n"
                elif verb == b"DATA":
                    if recipient:
                        in_data = True
                        replies += b"354 go on\r\n"
                    else:
                        replies += b"554 no valid recipients\r\n"
                elif verb == b"QUIT":
                    self.request.sendall(replies + b"221 bye\r\n")
                    return
                else:
                    replies += b"250 ok\r\n"
            if replies:
                self.request.sendall(replies)


@pytest.fixture
def recorder() -> Iterator[tuple[Script, SmtpTransport]]:
    script = Script()
    handler = type("Handler", (RecordingSmtpHandler,), {"script": script})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings = SmtpConfig(host="127.0.0.1", port=server.server_address[1], security="none")
    transport = SmtpTransport(settings)
    try:
        yield script, transport
    finally:
        transport.close()
        server.shutdown()
        server.server_close()


def test_mail_rcpt_and_data_arrive_in_one_read(recorder: tuple[Script, SmtpTransport]) -> None:
    script, transport = recorder
    for n in range(3):
        transport.send("news@t.example", f"r{n}@r.example", MESSAGE)
    together = [
        read
        for read in script.reads
        if read.startswith(b"MAIL FROM:<news@t.example>") and b"\r\nRCPT TO:<" in read
    ]
    assert len(together) == 3
    assert all(read.endswith(b"\r\nDATA\r\n") for read in together)
    assert script.delivered == ["r0@r.example", "r1@r.example", "r2@r.example"]


def test_without_pipelining_each_command_waits_for_its_reply(
    recorder: tuple[Script, SmtpTransport],
) -> None:
    script, transport = recorder
    script.pipelining = False
    transport.send("news@t.example", "r@r.example", MESSAGE)
    assert not any(b"RCPT" in read and b"MAIL" in read for read in script.reads)
    assert script.delivered == ["r@r.example"]


def test_pipelined_refusal_at_rcpt_is_that_recipients_and_the_connection_goes_on(
    recorder: tuple[Script, SmtpTransport],
) -> None:
    script, transport = recorder
    script.rcpt_reply["gone@r.example"] = b"550 5.1.1 no such user"
    script.rcpt_reply["full@r.example"] = b"452 4.2.2 mailbox full"
    with pytest.raises(PermanentFailure) as refused:
        transport.send("news@t.example", "gone@r.example", MESSAGE)
    assert refused.value.code == 550
    assert "RCPT TO" in str(refused.value)
    with pytest.raises(TemporaryFailure) as full:
        transport.send("news@t.example", "full@r.example", MESSAGE)
    assert not isinstance(full.value, ServerUnavailable)
    transport.send("news@t.example", "ok@r.example", MESSAGE)
    assert script.delivered == ["ok@r.example"]
    assert sum(read.upper().startswith(b"EHLO") for read in script.reads) == 1  # one connection


def test_pipelined_drop_before_the_content_is_safe_to_retry(
    recorder: tuple[Script, SmtpTransport],
) -> None:
    script, transport = recorder
    script.close_at = "rcpt"
    with pytest.raises(ServerUnavailable, match=r"RCPT TO.*nothing was delivered"):
        transport.send("news@t.example", "r@r.example", MESSAGE)


def test_pipelined_drop_after_the_content_is_uncertain(
    recorder: tuple[Script, SmtpTransport],
) -> None:
    script, transport = recorder
    script.close_at = "content"
    with pytest.raises(UncertainDelivery):
        transport.send("news@t.example", "r@r.example", MESSAGE)


@pytest.mark.parametrize(
    ("code", "reply", "server"),
    [
        (421, "4.3.2 closing", True),
        (454, "4.7.0 Throttling", True),
        (451, "4.7.1 rate limit exceeded, slow down", True),
        (450, "4.2.0 Too many connections", True),
        (451, "4.3.0 try again later", False),
        (452, "4.2.2 mailbox full", False),
        (550, "5.7.1 rate of spam too high", False),
    ],
)
def test_server_refusals_are_told_from_recipient_refusals(
    code: int, reply: str, server: bool
) -> None:
    assert is_server_refusal(code, reply) is server


def test_a_closed_port_is_a_server_failure() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = SmtpTransport(SmtpConfig(host="127.0.0.1", port=port, security="none"))
    with pytest.raises(ServerUnavailable, match="cannot connect"):
        transport.send("news@t.example", "r@r.example", MESSAGE)
