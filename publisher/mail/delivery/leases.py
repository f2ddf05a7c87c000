"""This process's leases on an edition's ledger rows: claimed in batches under a name no
other process has, for `[delivery] lease`, and taken back from dead processes on this host."""

from __future__ import annotations

import os
import socket

from publisher.clock import Clock
from publisher.config import Config
from publisher.mail.delivery.ledger import Claimed, claim_rows, release_dead_leases
from publisher.store.database import Store


class Leases:
    """Claims one edition's pending rows for this process."""

    def __init__(self, store: Store, config: Config, edition_id: int, clock: Clock) -> None:
        self.store, self.edition_id, self.clock = store, edition_id, clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"
        self.duration = config.delivery.lease

    def claim(self, limit: int) -> list[Claimed]:
        """Lease up to `limit` due rows; an empty list when none is left or due."""
        return claim_rows(
            self.store, self.edition_id, self.owner, self.clock(), self.duration, limit
        )

    def release_dead(self) -> None:
        """Free the rows leased by processes of this host that are gone (a kill -9)."""
        release_dead_leases(self.store, self.edition_id, socket.gethostname())
