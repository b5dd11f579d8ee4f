"""An unconfirmed shipment is visible: `lockstep shipments pending` lists it with its age, and the monitor raises
``shipment_unconfirmed`` past the brand's threshold (auto-resolved once the shipment is completed)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from lockstep.clock import utcnow
from lockstep.domain.routing import sales_order_number
from lockstep.store import exceptions as exc_store
from lockstep.store import shipments as ship_store

from ..harness import brand_world
from ..orders.test_orders_cli import lockstep
from .test_shipment_flow import exported, poll, records, ship


async def active(world, kind: str) -> list:
    async with world.runtime.engine.connect() as conn:
        return [
            r
            for r in await exc_store.list_exceptions(conn, brand=world.brand)
            if r.kind == kind and r.status != exc_store.RESOLVED
        ]


async def test_unconfirmed_shipment_is_listed_with_its_age_and_raised_past_the_threshold(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        await world.centra_control("PUT", "/_sim/capture", json={"mode": "fail"})
        number = await exported(world, "eu", "SE", [(world.seeded.items[0].sku, 1)], 8)
        await ship(world, sales_order_number(number, "SE-STO"))
        await poll(world)
        [record] = await records(world, number)
        minutes = world.topology.thresholds.shipment_unconfirmed_minutes
        async with world.runtime.engine.begin() as conn:  # shipped long ago, as far as Lockstep knows
            await conn.execute(
                update(ship_store.shipments)
                .where(ship_store.shipments.c.id == record.id)
                .values(shipped_at=record.shipped_at - timedelta(minutes=minutes + 5))
            )

        listed = lockstep(world, db_url, "shipments", "pending")
        assert listed.returncode == 0, listed.stderr
        assert record.deposco_number in listed.stdout and number in listed.stdout and "failed" in listed.stdout

        await world.enqueue("monitor.shipments")
        await world.run_jobs()
        [raised] = await active(world, "shipment_unconfirmed")
        assert raised.evidence["age_minutes"] >= minutes and raised.evidence["order"] == number

        shown = lockstep(world, db_url, "shipments", "show", record.deposco_number)
        assert shown.returncode == 0, shown.stderr
        assert f"order {number}" in shown.stdout and "capture_failed (open)" in shown.stdout
        assert "payment capture failed" in shown.stdout

        # Finance sorted the payment out; the confirmation is retried and succeeds; the monitor clears.
        await world.centra_control("PUT", "/_sim/capture", json={"mode": "success"})
        retried = lockstep(world, db_url, "shipments", "retry", str(record.id))
        assert retried.returncode == 0 and "queued" in retried.stdout, retried.stderr
        await world.run_jobs()
        shown = lockstep(world, db_url, "shipments", "show", str(record.id))
        assert "state completed" in shown.stdout and "capture_failed (resolved)" in shown.stdout
        await world.enqueue("monitor.shipments")
        await world.run_jobs()
        assert await active(world, "shipment_unconfirmed") == []
        assert await active(world, "capture_failed") == []
        assert "no shipment is waiting" in lockstep(world, db_url, "shipments", "pending").stdout


async def test_retry_refuses_what_a_retry_cannot_fix(db_url, tmp_path):
    from lockstep.flows.shipments import NotRetryable, retry

    async with brand_world(db_url, tmp_path, items=False) as world:
        base = {
            "brand": world.brand,
            "sales_order": "C1-SE-STO",
            "order_number": "1",
            "facility": "SE-STO",
            "pool": "eu",
            "carrier": "",
            "service": "",
            "tracking": [],
            "packages": 1,
            "detected_at": utcnow(),
        }
        async with world.runtime.engine.begin() as conn:
            done = await ship_store.insert_new(
                conn, deposco_id="1", deposco_number="S1", state=ship_store.COMPLETED, lines=[[1, 1]], **base
            )
            unmapped = await ship_store.insert_new(
                conn, deposco_id="2", deposco_number="S2", state=ship_store.FAILED, lines=[], **base
            )
            for shipment_id, why in ((done, "already completed"), (unmapped, "does not fit")):
                try:
                    await retry(conn, await ship_store.get(conn, shipment_id))
                except NotRetryable as error:
                    assert why in str(error)
                else:
                    raise AssertionError(f"shipment {shipment_id} was queued")
            assert (await ship_store.find(conn, "S2")).id == unmapped
            assert (await ship_store.find(conn, str(done))).deposco_number == "S1"
            assert await ship_store.find(conn, "nothing") is None
