"""Detection through Centra's events queue (no webhooks): stored, then confirmed; replays make no new work."""

from __future__ import annotations

from sqlalchemy import func, select

from lockstep.domain.routing import sales_order_number
from lockstep.store import orders as order_store
from lockstep.store.tables import inbox_events, jobs

from ..harness import brand_world


def queued_order_events(world) -> list[str]:
    """Order events waiting (unconfirmed) in Centra's queues, by order number."""
    return [
        e.object_reference
        for queue in world.centra_state().queues.values()
        for e in queue.events.values()
        if e.object_type == "Order"
    ]


async def committed(world, task: str) -> list[dict]:
    """Payloads of the jobs of ``task`` another connection can see (i.e. committed)."""
    async with world.runtime.engine.connect() as conn:
        return [dict(r.payload) for r in await conn.execute(select(jobs.c.payload).where(jobs.c.task == task))]


async def inbox_count(world) -> int:
    async with world.runtime.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(inbox_events))


async def test_new_orders_in_the_events_queue_become_exports(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        # The scheduled drain runs before any order: from then on Centra queues events for Lockstep.
        await world.enqueue("orders.events")
        await world.run_jobs()
        placed = [
            await world.place("eu", "SE", [(world.seeded.items[7].sku, 1)], 51),
            await world.place("uk", "GB", [(world.seeded.items[8].sku, 2)], 52),
            await world.place("us", "US", [(world.seeded.items[9].sku, 1)], 53),
        ]
        assert sorted(set(queued_order_events(world))) == sorted(placed), "Lockstep subscribed to order events"

        await world.enqueue("orders.events")
        await world.run_jobs()
        async with world.runtime.engine.connect() as conn:
            states = [(await order_store.get(conn, world.brand, n)).state for n in placed]
        assert states == ["exported"] * 3
        assert sorted(world.api_orders()) == sorted(
            [
                sales_order_number(placed[0], "SE-STO"),
                sales_order_number(placed[1], "GB-MKN"),
                sales_order_number(placed[2], "GB-MKN"),  # US orders: Centra allocates from US Export (GB-MKN)
            ]
        )
        assert not queued_order_events(world), "every event was confirmed"


async def test_events_are_confirmed_only_after_the_commit_and_replays_make_no_new_work(db_url, tmp_path, monkeypatch):
    async with brand_world(db_url, tmp_path) as world:
        await world.enqueue("orders.events")
        await world.run_jobs()
        placed = [await world.place("eu", "DE", [(world.seeded.items[10 + n].sku, 1)], 60 + n) for n in range(3)]
        centra = world.runtime.centra(world.brand)
        real_confirm = centra.confirm_events
        seen_at_confirm: list[tuple[list[int], list[str]]] = []

        # 1. The commit fails: nothing is confirmed, so Centra keeps every event.
        import lockstep.flows.orders as flow

        real_enqueue = flow.enqueue

        async def broken_enqueue(*args, **kwargs):
            raise RuntimeError("database connection lost")

        monkeypatch.setattr(flow, "enqueue", broken_enqueue)
        await world.enqueue("orders.events", max_attempts=1)
        await world.run_jobs()
        monkeypatch.setattr(flow, "enqueue", real_enqueue)
        assert sorted(set(queued_order_events(world))) == sorted(placed)
        assert await inbox_count(world) == 0 and await committed(world, "orders.fetch") == []

        # 2. The commit succeeds but the confirmation is lost (Centra times out): at the moment of confirming, the
        # fetch jobs were already visible to another connection.
        async def confirm_then_lose(ids, **kwargs):
            numbers = sorted({p["number"] for p in await committed(world, "orders.fetch")})
            seen_at_confirm.append((list(ids), numbers))
            raise ConnectionError("confirmEvents: answer lost")

        monkeypatch.setattr(centra, "confirm_events", confirm_then_lose)
        await world.enqueue("orders.events", max_attempts=1)
        await world.run_jobs()
        monkeypatch.setattr(centra, "confirm_events", real_confirm)
        [(ids, numbers)] = seen_at_confirm
        assert numbers == sorted(placed) and len(ids) >= 3
        assert sorted(set(queued_order_events(world))) == sorted(placed), "unconfirmed: Centra will replay them"
        stored = await inbox_count(world)
        assert stored == len(ids)

        # 3. The replay: the same events again. Nothing new is stored or enqueued; now they are confirmed.
        await world.enqueue("orders.events")
        await world.run_jobs()
        assert not queued_order_events(world)
        assert await inbox_count(world) == stored
        fetches = await committed(world, "orders.fetch")
        assert sorted(p["number"] for p in fetches) == sorted(placed), "one fetch per order, none from the replay"
        assert len(await committed(world, "orders.export")) == 3
        assert sorted(world.api_orders()) == sorted(sales_order_number(n, "SE-STO") for n in placed)
