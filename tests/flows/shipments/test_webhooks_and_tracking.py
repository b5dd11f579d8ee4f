"""Deposco shipment webhooks through the real HTTP app, and tracking numbers that arrive after the shipment.

The Deposco simulator POSTs its (unsigned) notifications to Lockstep's receiver served on 127.0.0.1; the hint
job re-reads each shipment through the API. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select

from lockstep.domain.routing import sales_order_number
from lockstep.store import shipments as ship_store
from lockstep.store.tables import inbox_events, jobs

from ..harness import brand_world
from ..orders.test_webhooks import served_app
from .test_shipment_flow import centra_mutations, centra_shipments, exported, poll, records, ship

SECRET_ENV = "NORDWIND_DEPOSCO_WEBHOOK_SECRET"
SECRET = "s3cret-hook"


def require_secret(world) -> None:
    deposco = world.topology.deposco.model_copy(update={"webhook_secret_env": SECRET_ENV})
    world.use_topology(world.topology.model_copy(update={"deposco": deposco}))
    world.runtime.secrets[world.brand][SECRET_ENV] = SECRET


async def inbox_rows(world) -> list:
    async with world.runtime.engine.connect() as conn:
        return list(await conn.execute(select(inbox_events).where(inbox_events.c.source == "deposco-webhook")))


async def wait_for(predicate, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_duplicate_webhooks_make_one_hint_and_one_completed_shipment_late_tracking_once(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        require_secret(world)
        with served_app(world) as base:
            url = f"{base}/webhooks/deposco/{world.brand}"
            host = url.removeprefix("http://")
            await world.deposco_control(
                "PUT", "/_sim/webhooks", json={"url": f"http://lockstep:{SECRET}@{host}", "faults": {"duplicate": 1.0}}
            )
            async with httpx.AsyncClient() as http:  # refused calls store nothing
                body = b'{"shipment": {"id": 1, "shipmentNumber": "1"}}'
                no_secret = await http.post(url, content=body, headers={"Content-Type": "application/json"})
                wrong = await http.post(url, content=body, auth=("lockstep", "nope"))
                header_ok_unknown_brand = await http.post(
                    f"{base}/webhooks/deposco/nobody", content=body, headers={"X-Lockstep-Webhook-Secret": SECRET}
                )
                unreadable = await http.post(url, content=b"{}", headers={"X-Lockstep-Webhook-Secret": SECRET})
            assert (no_secret.status_code, wrong.status_code) == (401, 401)
            assert header_ok_unknown_brand.status_code == 404 and unreadable.status_code == 400
            assert await inbox_rows(world) == []

            # Shipped without tracking: every notification arrives twice.
            number = await exported(world, "eu", "SE", [(world.seeded.items[0].sku, 2)], 11)
            shipped = await ship(world, sales_order_number(number, "SE-STO"), tracking=False, packages=2)

            async def stored(count: int):
                async def check():
                    return len(await inbox_rows(world)) >= count

                return check

            await wait_for(await stored(1))
            await world.deposco_control("POST", "/_sim/webhooks/drain")
            async with world.runtime.engine.connect() as conn:
                hints = list(await conn.execute(select(jobs).where(jobs.c.task == "shipments.hint")))
            assert len(await inbox_rows(world)) == 1 and len(hints) == 1, "the duplicate was recognised"
            before = centra_mutations(world)
            await world.run_jobs()  # no poll: the hint alone gets it confirmed
            [centra] = centra_shipments(world, number)
            assert centra.is_shipped and not centra.tracking_number
            assert centra.additional_message == f"Warehouse shipment {shipped['number']}"
            assert centra_mutations(world) - before == 2

            # The labels are printed later: the tracking notification differs, so it is kept; sent to Centra once.
            await world.deposco_control("POST", f"/_sim/shipments/{shipped['id']}/tracking")
            await wait_for(await stored(2))
            await world.deposco_control("POST", "/_sim/webhooks/drain")
            await world.run_jobs()
            [record] = await records(world, number)
            assert len(record.tracking) == 2 and record.centra_tracking == record.tracking
            [centra] = centra_shipments(world, number)
            assert all(t in (centra.additional_message or "") for t in record.tracking)
            assert centra.additional_message.startswith(f"Warehouse shipment {shipped['number']}. ")  # tag kept
            assert centra_mutations(world) - before == 3 and record.mutations == 3

            await poll(world)  # the poll sees the same shipment (and its new tracking) again: nothing more
            await world.run_jobs()
            assert centra_mutations(world) - before == 3 and len(centra_shipments(world, number)) == 1
            assert len(await inbox_rows(world)) == 2

            # Webhooks get lost: the scheduled poll still confirms the shipment, exactly once.
            await world.deposco_control("PUT", "/_sim/webhooks", json={"url": None, "faults": {}})
            lost = await exported(world, "eu", "SE", [(world.seeded.items[1].sku, 1)], 14)
            await ship(world, sales_order_number(lost, "SE-STO"))
            await world.run_jobs()
            assert centra_shipments(world, lost) == [] and len(await inbox_rows(world)) == 2
            await poll(world)
            [centra] = centra_shipments(world, lost)
            assert centra.is_shipped and centra.tracking_number


async def test_tracking_added_before_completion_rides_along_and_pending_capture_is_retried(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        await world.centra_control("PUT", "/_sim/capture", json={"mode": "pending"})
        number = await exported(world, "eu", "SE", [(world.seeded.items[0].sku, 1)], 12)
        shipped = await ship(world, sales_order_number(number, "SE-STO"), tracking=False)
        await poll(world)
        [record] = await records(world, number)
        assert record.state == ship_store.CAPTURE_PENDING and record.capture_attempts == 1
        assert record.next_capture_at is not None
        [centra] = centra_shipments(world, number)
        assert not centra.is_shipped and not centra.email_sent

        # Tracking arrives while the provider still thinks; then the capture settles.
        await world.deposco_control("POST", f"/_sim/shipments/{shipped['id']}/tracking")
        await world.centra_control("POST", f"/_sim/shipments/{centra.id}/settle-capture", json={"success": True})
        await poll(world)  # records the tracking and pulls the scheduled confirmation forward
        [record] = await records(world, number)
        [centra] = centra_shipments(world, number)
        assert record.state == ship_store.COMPLETED and centra.is_shipped and centra.email_sent
        assert centra.tracking_number == record.tracking[0] and record.centra_tracking == record.tracking
        assert centra.additional_message == f"Warehouse shipment {shipped['number']}", (
            "no late update: the completion carried the tracking"
        )

        # A second order: the capture stays pending, then the provider declines it -> capture_failed for finance.
        number = await exported(world, "eu", "SE", [(world.seeded.items[1].sku, 1)], 13)
        await ship(world, sales_order_number(number, "SE-STO"))
        await poll(world)
        [record] = await records(world, number)
        assert record.state == ship_store.CAPTURE_PENDING
        await world.centra_control("PUT", "/_sim/capture", json={"orders": {number: "fail"}})
        await world.enqueue("shipments.confirm", {"shipment": record.id}, dedupe_key=f"confirm:{record.id}")
        await world.run_jobs()
        [record] = await records(world, number)
        assert record.state == ship_store.FAILED and "capture" in record.last_error
        [centra] = centra_shipments(world, number)
        assert not centra.is_shipped and not centra.email_sent
        from lockstep.store import exceptions as exc_store

        async with world.runtime.engine.connect() as conn:
            [raised] = [
                r for r in await exc_store.list_exceptions(conn, brand=world.brand) if r.kind == "capture_failed"
            ]
        assert raised.owner_team == "finance" and raised.evidence["order"] == number
