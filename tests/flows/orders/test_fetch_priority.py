"""Which order fetches go first on Centra's budget: those that may still have to reach Deposco."""

from __future__ import annotations

from types import SimpleNamespace

from lockstep.connectors.budget import Priority
from lockstep.flows.orders import _fetch_priority
from lockstep.store import orders as store


def known(**states: str) -> dict:
    return {number: SimpleNamespace(state=state) for number, state in states.items()}


def test_a_new_or_unexported_order_makes_the_fetch_urgent():
    assert _fetch_priority(["1"], {}) == Priority.HIGH  # never seen: it is on its way to Deposco
    assert _fetch_priority(["1"], known(**{"1": store.QUARANTINED})) == Priority.HIGH  # may be released now
    mixed = known(**{"1": store.EXPORTED, "2": store.EXPORTING})
    assert _fetch_priority(["1", "2"], mixed) == Priority.HIGH


def test_orders_already_in_deposco_can_wait():
    settled = known(**{"1": store.EXPORTED, "2": store.SHIPPED, "3": store.CANCELLED, "4": store.PARTIALLY_SHIPPED})
    assert _fetch_priority(["1", "2", "3", "4"], settled) == Priority.NORMAL
