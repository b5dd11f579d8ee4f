"""Centra holds carried to Deposco, and orders that become eligible later, against both simulators."""

from __future__ import annotations

from lockstep.domain.routing import sales_order_number
from lockstep.store import orders as order_store

from ..harness import brand_world


async def _hold(world, number: str, on_hold: bool) -> None:
    body = {"isOnHold": on_hold, "holdReason": "WAITING_FOR_FRAUD_CHECK" if on_hold else None}
    answer = await world.centra_control("POST", f"/_sim/orders/{number}/flags", json=body)
    assert answer["isOnHold"] is on_hold


async def _state(world, number: str) -> str:
    async with world.runtime.engine.connect() as conn:
        return (await order_store.get(conn, world.brand, number)).state


async def test_a_hold_on_an_exported_order_holds_it_in_deposco_and_lifting_it_releases_it(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        sku = world.seeded.items[2].sku
        held = await world.place("eu", "SE", [(sku, 1)], 21)
        bystander = await world.place("eu", "DE", [(sku, 1)], 22)
        await world.fetch(held, bystander)
        held_so, bystander_so = sales_order_number(held, "SE-STO"), sales_order_number(bystander, "SE-STO")
        assert {n: o.status for n, o in world.api_orders().items()} == {held_so: "New", bystander_so: "New"}

        await _hold(world, held, True)
        await world.fetch(held)
        orders = world.api_orders()
        assert orders[held_so].status == "Hold"
        assert orders[bystander_so].status == "New"
        assert await _state(world, held) == "exported"  # still in Deposco; the hold is a status there

        # A repeated propagate (a retry, a duplicate notice) changes nothing.
        await world.enqueue("orders.propagate", {"number": held})
        await world.run_jobs()
        assert world.api_orders()[held_so].status == "Hold"

        await _hold(world, held, False)
        await world.fetch(held)
        orders = world.api_orders()
        assert orders[held_so].status == "New"
        assert len(orders) == 2, "holding and releasing never creates another Deposco order"
        assert await _state(world, held) == "exported"


async def test_orders_on_hold_or_unpaid_wait_and_are_exported_once_eligible(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        sku = world.seeded.items[3].sku
        held = await world.place("uk", "GB", [(sku, 1)], 31)
        await _hold(world, held, True)  # before Lockstep ever sees it (`place(on_hold=True)` gives a free-text reason)
        unpaid = await world.place("eu", "NL", [(sku, 1)], 32, waiting_for_payment=True)
        await world.enqueue("orders.refetch")
        await world.run_jobs()
        assert [await _state(world, n) for n in (held, unpaid)] == ["waiting", "waiting"]
        assert not world.api_orders()

        # Nothing changed in Centra: another re-fetch leaves them waiting and sends nothing.
        await world.enqueue("orders.refetch")
        await world.run_jobs()
        assert not world.api_orders()

        # The hold is lifted and the payment arrives; no webhook: the scheduled re-fetch picks them up. Centra's
        # updatedAt has whole seconds: pin the lifted hold into the same second as the version Lockstep read.
        order = world.centra_state().orders[int(held)]
        read_at = order.updated_at
        await _hold(world, held, False)
        order.updated_at = read_at.replace(microsecond=999_999)
        await world.centra_control("POST", f"/_sim/orders/{unpaid}/flags", json={"isWaitingForPayment": False})
        await world.enqueue("orders.refetch")
        await world.run_jobs()
        assert [await _state(world, n) for n in (held, unpaid)] == ["exported", "exported"]
        orders = world.api_orders()
        assert sorted(orders) == sorted([sales_order_number(held, "GB-MKN"), sales_order_number(unpaid, "SE-STO")])
        assert all(o.status == "New" for o in orders.values())
