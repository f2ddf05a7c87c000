"""The send workers' look for dead owners' leases, asked before every batch, runs on its index
on both databases instead of reading the whole ledger."""

from __future__ import annotations

from publisher.mail.delivery.ledger import leased_owners
from publisher.store.database import Store
from publisher.store.plans import plans_of


def test_leased_owners_are_found_on_the_lease_index(store: Store) -> None:
    with store.transaction() as connection:
        if connection.dialect.name == "postgresql":
            # An empty ledger is cheaper to scan: ask for the plan a million rows would get.
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        [plan] = plans_of(connection, lambda c: leased_owners(c, 1))
    assert plan.uses("ix_deliveries_leases"), "\n".join(plan.steps)
