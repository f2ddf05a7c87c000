"""The sending side of a run: one transport per connection, each on its own thread, each with
at most one accepted message not yet committed to the ledger while another is in flight."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence

from publisher.mail.delivery.ledger import Claimed, LedgerWriter
from publisher.mail.transport.protocol import Transport


class Sender:
    """One transport and the ledger tickets of its last two messages.

    A message starts only once the one two before it is committed, so at most one accepted
    message per connection is ever unrecorded while another is in flight.
    """

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.unrecorded: list[int] = []

    def wait_before_next(self, writer: LedgerWriter) -> None:
        """Block until a new message may start: the one two before it is committed."""
        while len(self.unrecorded) >= 2:
            writer.wait_until_written(self.unrecorded.pop(0))

    def recorded(self, ticket: int, writer: LedgerWriter) -> None:
        """Note the ledger ticket of the message just sent."""
        self.unrecorded.append(ticket)
        if len(self.unrecorded) >= 2:
            writer.hurry(self.unrecorded[0])  # the next message will wait for it


def send_in_parallel(
    batch: Sequence[Claimed],
    senders: Sequence[Sender],
    deliver: Callable[[Claimed, Sender], None],
    must_stop: Callable[[], bool],
) -> tuple[list[Claimed], BaseException | None]:
    """Deliver the batch's rows over every sender at once, one thread each (none when there is
    one), until the rows run out, `must_stop` says so or a delivery raises.

    Returns the rows never started, for the caller to put back, and the first error raised,
    for the caller to raise once it has.
    """
    work: queue.SimpleQueue[Claimed] = queue.SimpleQueue()
    for claimed in batch:
        work.put(claimed)
    errors: list[BaseException] = []

    def drain(sender: Sender) -> None:
        try:
            while not must_stop() and not errors:
                try:
                    claimed = work.get_nowait()
                except queue.Empty:
                    return
                deliver(claimed, sender)
        except BaseException as error:  # handed to the calling thread
            errors.append(error)

    if len(senders) == 1:
        drain(senders[0])
    else:
        threads = [threading.Thread(target=drain, args=(s,), daemon=True) for s in senders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    left = []
    while not work.empty():
        left.append(work.get_nowait())
    return left, errors[0] if errors else None
