"""Centra webhooks into the inbox through a real HTTP server; the scheduled re-fetch recovers dropped ones."""

from __future__ import annotations

import asyncio

import httpx

from lockstep.connectors.centra.webhooks import signature_header
from lockstep.sim.server import running
from lockstep.store import orders as order_store
from lockstep.store.tables import inbox_events
from lockstep.web.app import create_app

from ..harness import brand_world


def served_app(world):
    """The HTTP app as `lockstep api` serves it: its own engine, used only on the server's thread and loop."""
    from dataclasses import replace

    from lockstep.store.db import create_engine

    engine_url = world.runtime.engine.url.render_as_string(hide_password=False)
    return running(create_app(replace(world.runtime, engine=create_engine(engine_url), _clients={})))


async def _configure_webhooks(world, url: str, **faults) -> None:
    secret = world.runtime.secrets[world.brand][world.topology.centra.webhook_secret_env]
    async with world.sims.endpoints().centra_client() as http:
        response = await http.put("/_sim/webhooks", json={"url": url, "secret": secret, **faults})
        assert response.status_code == 200, response.text


async def _wait_for(predicate, timeout: float = 10.0):
    for _ in range(int(timeout / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def _inbox_count(world) -> int:
    async with world.runtime.engine.connect() as conn:
        return len((await conn.execute(inbox_events.select())).all())


async def test_signed_webhooks_are_stored_once_and_drive_the_export(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        with served_app(world) as base:
            await _configure_webhooks(world, f"{base}/webhooks/centra/{world.brand}", duplicate=1.0)
            numbers = [await world.place("eu", "SE", [(world.seeded.items[n].sku, 1)], n) for n in range(3)]

            async def arrived():
                return await _inbox_count(world) >= 3

            await _wait_for(arrived)
            await world.run_jobs()
            async with world.runtime.engine.connect() as conn:
                states = [(await order_store.get(conn, world.brand, n)).state for n in numbers]
                events = (await conn.execute(inbox_events.select())).all()
            assert states == ["exported"] * 3
            # every call was sent twice: the inbox kept one row per event
            assert len(events) == len({e.event_id for e in events})


async def test_bad_signature_unknown_brand_and_malformed_body(db_url, tmp_path):
    async with brand_world(db_url, tmp_path, items=False) as world:
        secret = world.runtime.secrets[world.brand][world.topology.centra.webhook_secret_env]
        body = b"payload=%7B%22events%22%3A%5B%7B%22type%22%3A%22order%22%2C%22id%22%3A1%7D%5D%7D"
        import time

        good = signature_header(secret, int(time.time()), body)
        with served_app(world) as base:
            url = f"{base}/webhooks/centra/{world.brand}"
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            async with httpx.AsyncClient() as http:
                forged = await http.post(url, content=body, headers={**headers, "X-Centra-Signature": "t=1,v1=00"})
                unknown = await http.post(f"{base}/webhooks/centra/nobody", content=body, headers=headers)
                bad = b"payload=%7Bnope"
                malformed = await http.post(
                    url,
                    content=bad,
                    headers={**headers, "X-Centra-Signature": signature_header(secret, int(time.time()), bad)},
                )
                ok = await http.post(url, content=body, headers={**headers, "X-Centra-Signature": good})
                again = await http.post(url, content=body, headers={**headers, "X-Centra-Signature": good})
        assert forged.status_code == 401
        assert unknown.status_code == 404
        assert malformed.status_code == 400 and "JSON" in malformed.json()["error"]
        assert ok.json() == {"stored": 1, "duplicates": 0}
        assert again.json() == {"stored": 0, "duplicates": 1}
        assert await _inbox_count(world) == 1


async def test_scheduled_refetch_recovers_orders_whose_webhooks_were_dropped(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        with served_app(world) as base:
            await _configure_webhooks(world, f"{base}/webhooks/centra/{world.brand}", drop=1.0)
            numbers = [await world.place("uk", "GB", [(world.seeded.items[n].sku, 1)], n) for n in range(4)]
            await asyncio.sleep(0.5)
            assert await _inbox_count(world) == 0
            await world.enqueue("orders.refetch")
            await world.run_jobs()
        async with world.runtime.engine.connect() as conn:
            states = [(await order_store.get(conn, world.brand, n)).state for n in numbers]
        assert states == ["exported"] * 4
