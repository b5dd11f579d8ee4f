"""A worker process SIGKILLed between Centra's createShipment and completeShipment: one completed shipment.

The Centra simulator creates the shipment but its answer is held back, so the killed worker never learnt the
Centra id and never completed it. The next worker finds it among the order's shipments by the Deposco shipment
number the create put in its message, and completes it — with no second create and no tagging mutation.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from lockstep.domain.routing import sales_order_number
from lockstep.flows.shipments import detect
from lockstep.store import shipments as ship_store

from ..harness import ROOT, brand_world
from .test_shipment_flow import centra_mutations, centra_shipments, exported, records, ship

pytestmark = pytest.mark.slow


class HoldCreateAnswer:
    """ASGI wrapper: the first ``createShipment`` is executed at once, but its answer is held back."""

    def __init__(self, app, hold_s: float):
        self.app, self.hold_s, self.held = app, hold_s, False
        self.sim = app.sim

    async def __call__(self, scope, receive, send):
        if self.held or scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        if b"createShipment" not in body:
            await self.app(scope, replay, send)
            return
        self.held = True
        messages = []

        async def keep(message):
            messages.append(message)

        await self.app(scope, replay, keep)  # Centra has now created (and captured) the shipment...
        await asyncio.sleep(self.hold_s)  # ...and the answer never reaches the killed worker
        for message in messages:
            await send(message)


async def test_sigkill_between_centra_create_and_complete_leaves_one_completed_shipment(db_url, tmp_path):
    async with brand_world(db_url, tmp_path, wrap_centra=lambda app: HoldCreateAnswer(app, hold_s=60)) as world:
        number = await exported(world, "eu", "SE", [(world.seeded.items[0].sku, 2)], 21)
        await ship(world, sales_order_number(number, "SE-STO"))
        # Detect in-process (what the poll does); leave the confirmation for the worker process.
        since = datetime.now(UTC) - timedelta(hours=1)
        async with world.runtime.engine.begin() as conn:
            async for shipment in world.runtime.deposco(world.brand).iter_shipments(since):
                await detect(conn, world.runtime, world.brand, shipment)

        env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCKSTEP_", "NORDWIND_"))}
        env.update(world.runtime.secrets[world.brand], PYTHONPATH=str(ROOT))
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lockstep.cli",
                "--config-dir",
                str(world.config_file.parent),
                "--database-url",
                db_url,
                "worker",
                "--lease",
                "2",
                "--concurrency",
                "1",
                "--no-scheduler",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while not centra_shipments(world, number):
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "the worker process never created the Centra shipment"
                await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGKILL)  # created in Centra; the worker knows nothing of it
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()

        [record] = await records(world, number)
        assert record.create_attempted_at is not None and record.centra_id is None
        [created] = centra_shipments(world, number)
        assert not created.is_shipped and created.additional_message == f"Warehouse shipment {record.deposco_number}"
        mutations_before = centra_mutations(world)

        await asyncio.sleep(2.2)  # the dead worker's lease expires
        await world.run_jobs(lease_s=2)
        [centra] = centra_shipments(world, number)
        assert centra.id == created.id and centra.is_shipped and not centra.external_id
        assert centra_mutations(world) - mutations_before == 1  # the completion alone
        assert world.centra_state().counters["shipments_created"] == 1
        assert world.centra_state().counters["shipments_completed"] == 1
        [record] = await records(world, number)
        assert record.state == ship_store.COMPLETED and record.centra_id == centra.id
