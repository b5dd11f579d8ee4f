"""A worker process SIGKILLed after Deposco created the order but before Lockstep committed: no duplicate."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

from lockstep.domain.routing import sales_order_number
from lockstep.queue import Worker
from lockstep.store import orders as order_store

from ..harness import ROOT, brand_world

pytestmark = pytest.mark.slow


class AnswerLate:
    """ASGI wrapper: the first sales-order POST is processed at once, but its answer is held back."""

    def __init__(self, app, hold_s: float):
        self.app, self.hold_s, self.held = app, hold_s, False
        self.sim = app.sim

    async def __call__(self, scope, receive, send):
        late = (
            not self.held
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].endswith(("/orders/salesOrders", "/orders"))  # REST create or V1 batch import
        )
        if not late:
            await self.app(scope, receive, send)
            return
        self.held = True
        messages = []

        async def keep(message):
            messages.append(message)

        await self.app(scope, receive, keep)  # Deposco has now created the order...
        await asyncio.sleep(self.hold_s)  # ...and the answer never reaches the killed worker
        for message in messages:
            await send(message)


async def test_sigkill_between_deposco_create_and_local_commit_makes_no_duplicate(db_url, tmp_path):
    async with brand_world(db_url, tmp_path, wrap_deposco=lambda app: AnswerLate(app, hold_s=60)) as world:
        number = await world.place("eu", "SE", [(world.seeded.items[0].sku, 1)], 1)
        await world.enqueue("orders.fetch", {"number": number})
        # Decide in-process (fetch + route); leave the export job for the worker process.
        worker = Worker(world.runtime.engine, world.runtime.registry, services=world.runtime, concurrency=1)
        from lockstep.queue import jobs as q

        async with world.runtime.engine.begin() as conn:
            [fetch_job] = await q.claim(conn, worker_id="test", limit=1, lease_s=30)
        await worker._execute(fetch_job)

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
        so = sales_order_number(number, "SE-STO")
        try:
            deadline = time.monotonic() + 30
            while not any(o.number == so for o in world.deposco_state().orders.values()):
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "the worker process never created the Deposco order"
                await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGKILL)  # created in Deposco, not yet committed in Lockstep
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()

        async with world.runtime.engine.connect() as conn:
            [sale] = await order_store.sales_orders_of(conn, world.brand, number)
        assert sale.attempted_at is not None and sale.confirmed_at is None

        await asyncio.sleep(2.2)  # the dead worker's lease expires
        await world.run_jobs(lease_s=2)
        created = [o.number for o in world.deposco_state().orders.values() if o.channel == "api"]
        assert created == [so]
        async with world.runtime.engine.connect() as conn:
            [sale] = await order_store.sales_orders_of(conn, world.brand, number)
            record = await order_store.get(conn, world.brand, number)
        assert sale.confirmed_at is not None
        assert record.state == order_store.EXPORTED
