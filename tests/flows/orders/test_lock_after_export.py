"""``lock_after_export``: an order Lockstep exported is locked in Centra; one it held back is not (both databases)."""

from __future__ import annotations

from lockstep.domain.routing import sales_order_number
from lockstep.store import orders as order_store

from ..harness import brand_world


def locking(topology, on: bool):
    return topology.model_copy(update={"orders": topology.orders.model_copy(update={"lock_after_export": on})})


def centra_locked(world, number: str) -> bool:
    return world.centra_state().orders[int(number)].is_locked


async def test_exported_orders_are_locked_in_centra_and_held_ones_are_not(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        world.use_topology(locking(world.topology, True))
        sku = world.seeded.items[4].sku
        exported = [await world.place("eu", "SE", [(sku, 1)], n) for n in (41, 42)]
        async with world.sims.endpoints().centra_client() as http:  # the US pool's facility is draft: held back
            await http.put("/_sim/stock", json={"warehouse": "US New Jersey", "items": [{"sku": sku, "physical": 5}]})
        held = await world.place("us", "US", [(sku, 1)], 43)
        assert not any(centra_locked(world, n) for n in [*exported, held])

        await world.fetch(*exported, held)

        async with world.runtime.engine.connect() as conn:
            states = {n: (await order_store.get(conn, world.brand, n)).state for n in [*exported, held]}
        assert states == {exported[0]: "exported", exported[1]: "exported", held: "quarantined"}
        assert set(world.api_orders()) == {sales_order_number(n, "SE-STO") for n in exported}
        assert [centra_locked(world, n) for n in exported] == [True, True]
        assert not centra_locked(world, held)


async def test_without_the_setting_exported_orders_stay_unlocked(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        assert world.topology.orders.lock_after_export is False  # the default
        number = await world.place("eu", "SE", [(world.seeded.items[4].sku, 1)], 44)
        await world.fetch(number)
        assert sales_order_number(number, "SE-STO") in world.api_orders()
        assert not centra_locked(world, number)
