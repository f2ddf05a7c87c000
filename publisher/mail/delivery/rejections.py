"""A server that refuses everyone, told apart from recipients that do not exist.

A misconfigured relay answers the same 5xx to every message; counted as bounces, that would
mark the whole list bounced. So a permanent refusal is held back until the next answer: the
same answer for `SAME_ANSWERS` recipients in a row, on at least `DOMAINS` domains, is the
server's fault (the run pauses as in an outage, and those rows go back to pending, counting no
bounce); any other answer lets the held refusals count as the bounces they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from publisher.mail.delivery.ledger import Claimed
from publisher.mail.transport.protocol import PermanentFailure, ServerUnavailable

SAME_ANSWERS = 3
DOMAINS = 2

Held = tuple[Claimed, PermanentFailure]


@dataclass(slots=True)
class Refusals:
    """The permanent refusals held back, all with one answer, in the order they came."""

    held: list[Held] = field(default_factory=list)

    def refused(self, claimed: Claimed, failure: PermanentFailure) -> tuple[list[Held], list[Held]]:
        """Hold one refusal. Returns the refusals to record now as bounces (an earlier, other
        answer), and those that are the server's fault (the caller puts them back, pauses)."""
        bounces: list[Held] = []
        if self.held and self.held[0][1].answer != failure.answer:
            bounces = self.released()
        self.held.append((claimed, failure))
        if len(self.held) >= SAME_ANSWERS and len(_domains(self.held)) >= DOMAINS:
            return bounces, self.released()
        return bounces, []

    def released(self) -> list[Held]:
        """The refusals held so far, to record as the bounces they are (another answer came)."""
        held, self.held = self.held, []
        return held


def server_refuses_everyone(held: list[Held]) -> ServerUnavailable:
    """The pause's reason: the answer, and how many recipients on how many domains got it."""
    return ServerUnavailable(
        f"{held[-1][1].answer} for {len(held)} recipients in a row on {len(_domains(held))} "
        "domains: the server refuses every message, not these recipients; no bounce was counted"
    )


def _domains(held: list[Held]) -> set[str]:
    return {claimed.email.rpartition("@")[2].casefold() for claimed, _ in held}
