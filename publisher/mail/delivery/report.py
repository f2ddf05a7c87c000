"""What one `send` of one edition did: this run's counts, the ledger's, and what remains."""

from __future__ import annotations

from dataclasses import dataclass, field

from publisher.mail.delivery.ledger import RemainingRows
from publisher.store.statuses import DeliveryStatus

# The counter of each final status; a row put back in the queue (pending) is not counted.
_COUNTERS = {
    DeliveryStatus.SENT: "sent",
    DeliveryStatus.FAILED: "failed",
    DeliveryStatus.UNCERTAIN: "uncertain",
    DeliveryStatus.SKIPPED: "skipped",
    DeliveryStatus.RETRYABLE: "retryable",
}


@dataclass(slots=True)
class SendReport:
    """What one `send` of one edition did."""

    edition_id: int
    sent: int = 0
    failed: int = 0
    uncertain: int = 0
    skipped: int = 0
    stale: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    retryable: int = 0
    remaining: RemainingRows = field(default_factory=RemainingRows)

    def count(self, status: DeliveryStatus) -> None:
        """Count one row that ended this run in `status` (nothing for a pending one)."""
        counter = _COUNTERS.get(status)
        if counter is not None:
            setattr(self, counter, getattr(self, counter) + 1)

    def summary(self) -> str:
        """This run's results and the edition's whole ledger, then one line per kind of row
        that remains with the command that sends it."""
        if self.stale:
            return f"edition {self.edition_id}: too old to send (use --force to send anyway)"
        ledger = ", ".join(f"{self.counts.get(s, 0)} {s}" for s in tuple(DeliveryStatus))
        line = (
            f"edition {self.edition_id}: {self.sent} sent, {self.failed} failed, "
            f"{self.retryable} failed temporarily, {self.uncertain} uncertain, "
            f"{self.skipped} skipped this run; ledger: {ledger}"
        )
        hints = self.remaining.hints(self.edition_id)
        return "\n".join([line, *(f"  remaining: {hint}" for hint in hints)])
