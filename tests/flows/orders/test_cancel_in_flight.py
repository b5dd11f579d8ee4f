"""A line cancelled in Centra while its Deposco create is in flight still reaches Deposco."""

from __future__ import annotations

import asyncio

from lockstep.domain.routing import sales_order_number
from lockstep.queue import Worker

from ..harness import brand_world
from .test_crash import AnswerLate
from .test_line_cancellation import cancel_units, deposco_lines, line_ids


async def test_units_cancelled_during_the_export_are_cancelled_after_it(db_url, tmp_path):
    async with brand_world(db_url, tmp_path, wrap_deposco=lambda app: AnswerLate(app, hold_s=1.5)) as world:
        number = await world.place("eu", "SE", [(world.seeded.items[7].sku, 3)], 51)
        [line] = line_ids(world, number)
        so = sales_order_number(number, "SE-STO")
        await world.enqueue("orders.fetch", {"number": number})
        worker = Worker(world.runtime.engine, world.runtime.registry, services=world.runtime, poll_interval_s=0.02)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        for _ in range(200):  # Deposco has created the order; its answer is being held back
            if so in world.api_orders():
                break
            await asyncio.sleep(0.02)
        assert so in world.api_orders()
        await cancel_units(world, number, line, 1)  # meanwhile the shop cancels one unit
        await world.enqueue("orders.fetch", {"number": number}, dedupe_key=f"fetch:{number}")
        await asyncio.sleep(2.0)
        stop.set()
        await running
        await world.run_jobs()
        assert deposco_lines(world, so) == {str(line): (3, 1)}  # 3 sent before the cancel, 1 of them cancelled
        assert len(world.api_orders()) == 1
