"""`monitor.orders`: eligible orders not in Deposco after the brand's threshold become one `order_stuck` incident."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from lockstep.clock import utcnow
from lockstep.store import exceptions as exc_store
from lockstep.store import orders as order_store

from ..harness import brand_world


async def test_stuck_orders_raise_one_incident_that_clears_itself(db_url, tmp_path):
    async with brand_world(db_url, tmp_path, items=False) as world:  # no item sync: orders stay quarantined
        numbers = [await world.place("eu", "SE", [(world.seeded.items[n].sku, 1)], n) for n in range(2)]
        await world.enqueue("orders.refetch")
        await world.run_jobs()
        await world.enqueue("monitor.orders")
        await world.run_jobs()
        async with world.runtime.engine.connect() as conn:
            assert await exc_store.list_exceptions(conn, brand=world.brand, kind="order_stuck") == []

        threshold = world.topology.thresholds.order_stuck_minutes
        async with world.runtime.engine.begin() as conn:  # an hour passes
            await conn.execute(
                update(order_store.orders).values(state_since=utcnow() - timedelta(minutes=threshold + 1))
            )
        await world.enqueue("monitor.orders")
        await world.run_jobs()
        async with world.runtime.engine.connect() as conn:
            [incident] = await exc_store.list_exceptions(conn, brand=world.brand, kind="order_stuck")
        assert incident.status == "open" and incident.evidence["count"] == 2
        assert {o["order"] for o in incident.evidence["oldest"]} == set(numbers)
        assert all("not in Deposco" in reason for o in incident.evidence["oldest"] for reason in o["held_up_by"])

        # The item master is fixed and the orders are released: nothing is stuck any more.
        await world.enqueue("items.sync", {"full": True})
        await world.run_jobs()
        for number in numbers:
            await world.enqueue("orders.fetch", {"number": number}, dedupe_key=f"fetch:{number}")
        await world.run_jobs()
        await world.enqueue("monitor.orders")
        await world.run_jobs()
        async with world.runtime.engine.connect() as conn:
            [incident] = await exc_store.list_exceptions(conn, brand=world.brand, kind="order_stuck")
            states = [(await order_store.get(conn, world.brand, n)).state for n in numbers]
        assert states == ["exported", "exported"]
        assert incident.status == "resolved" and incident.resolution == "auto"
