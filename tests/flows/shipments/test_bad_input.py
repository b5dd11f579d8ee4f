"""Bad input on the shipment side: never silently dropped, never duplicated; refused with evidence or ignored
when it is not ours or moved nothing. One world for all of them (real simulators, SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import delete, update

from lockstep.domain.routing import sales_order_number
from lockstep.store import exceptions as exc_store
from lockstep.store import orders as order_store
from lockstep.store import shipments as ship_store

from ..harness import brand_world
from .test_shipment_flow import centra_mutations, centra_shipments, exported, poll, records, ship


async def raised(world, kind: str) -> dict:
    async with world.runtime.engine.connect() as conn:
        return {
            r.dedupe_key: r
            for r in await exc_store.list_exceptions(conn, brand=world.brand)
            if r.kind == kind and r.status != exc_store.RESOLVED
        }


async def test_cancelled_order_too_many_units_unknown_order_label_only_and_other_channels(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        skus = [item.sku for item in world.seeded.items]
        cancelled = await exported(world, "eu", "SE", [(skus[0], 1)], 31)
        overshipped = await exported(world, "eu", "SE", [(skus[1], 2)], 32)
        unknown = await exported(world, "eu", "SE", [(skus[2], 1)], 33)
        label_only = await exported(world, "eu", "SE", [(skus[3], 1)], 34)

        # 1. Centra cancelled the order, but the warehouse shipped before the cancellation reached it.
        await world.centra_control("POST", f"/_sim/orders/{cancelled}/cancel", json={})
        shipped_cancelled = await ship(world, sales_order_number(cancelled, "SE-STO"))
        # 2. Deposco ships more than Lockstep believes is open (here: the units already count as shipped).
        async with world.runtime.engine.begin() as conn:
            await conn.execute(
                update(order_store.order_units)
                .where(order_store.order_units.c.order_number == overshipped)
                .values(shipped=1)
            )
        shipped_over = await ship(world, sales_order_number(overshipped, "SE-STO"))
        # 3. A Centra-numbered Deposco order Lockstep has no record of exporting.
        async with world.runtime.engine.begin() as conn:
            await conn.execute(
                delete(order_store.sales_orders).where(order_store.sales_orders.c.order_number == unknown)
            )
        shipped_unknown = await ship(world, sales_order_number(unknown, "SE-STO"))
        # 4. A label printed, nothing shipped (zero units), and 5. another channel's order shipped.
        await world.deposco_control("POST", f"/_sim/orders/{sales_order_number(label_only, 'SE-STO')}/label")
        other = await world.deposco_control(
            "POST",
            "/_sim/otherChannelOrders",
            json={"facility": "SE-STO", "lines": [{"itemNumber": skus[4], "quantity": 1}]},
        )
        await ship(world, other["number"])

        before = centra_mutations(world)
        await poll(world)
        await poll(world)  # seen again by the overlapping window: nothing is raised or sent twice

        rejected = await raised(world, "shipment_rejected")
        assert set(rejected) == {shipped_cancelled["number"], shipped_unknown["number"]}
        assert "CANCELLED" in rejected[shipped_cancelled["number"]].evidence["error"]
        assert rejected[shipped_unknown["number"]].evidence["sales_order"] == sales_order_number(unknown, "SE-STO")
        assert rejected[shipped_cancelled["number"]].occurrences == 1  # one record; the failed row is not retried
        [over] = (await raised(world, "over_shipment")).values()
        assert over.dedupe_key == shipped_over["number"]
        assert over.evidence["lines"][0]["shipped"] == 2 and over.evidence["lines"][0]["open"] == 1

        assert centra_shipments(world, cancelled) == [] and centra_shipments(world, overshipped) == []
        assert centra_shipments(world, unknown) == [] and centra_shipments(world, label_only) == []
        assert centra_mutations(world) - before == 1, "only the refused createShipment of the cancelled order"
        [refused] = await records(world, cancelled)
        assert refused.state == ship_store.FAILED and "CANCELLED" in refused.last_error
        [failed] = await records(world, overshipped)
        assert failed.state == ship_store.FAILED and failed.lines == []
        assert await records(world, unknown) == [] and await records(world, label_only) == []
        async with world.runtime.engine.connect() as conn:
            assert len(await ship_store.of_brand(conn, world.brand)) == 2  # the other channel's is not ours


async def test_order_is_shipped_when_its_last_line_is_shipped_or_cancelled(db_url, tmp_path):
    from ..orders.test_line_cancellation import cancel_units, line_ids

    async with brand_world(db_url, tmp_path) as world:
        first, second = world.seeded.items[4].sku, world.seeded.items[5].sku
        number = await exported(world, "eu", "SE", [(first, 3), (second, 2)], 35)
        a, b = line_ids(world, number)
        await cancel_units(world, number, b, 2)  # the whole second line, and one unit of the first
        await cancel_units(world, number, a, 1)
        await world.fetch(number)  # carried over to Deposco: it now ships 2 units of the first line only
        await ship(world, sales_order_number(number, "SE-STO"))
        await poll(world)
        [centra] = centra_shipments(world, number)
        assert centra.is_shipped and [(line.order_line_id, line.quantity) for line in centra.lines] == [(a, 2)]
        async with world.runtime.engine.connect() as conn:
            assert (await order_store.get(conn, world.brand, number)).state == order_store.SHIPPED
        assert world.centra_state().orders[int(number)].status == "SHIPPED"
