"""500 orders across the 3 markets and all 4 stock pools land in the right facilities, split correctly."""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict

from lockstep.domain.routing import sales_order_number
from lockstep.store import orders as order_store

from ..harness import brand_world

ORDERS = 500
# Written out by hand from config/example-brand.yaml (with US-NJ promoted to live for this test), independent of the
# routing code under test: Centra warehouse (= stock pool) -> Deposco facility.
FACILITY_OF_WAREHOUSE = {
    "EU Stockholm": "SE-STO",
    "UK Milton Keynes": "GB-MKN",
    "US New Jersey": "US-NJ",
    "US Export": "GB-MKN",
}
IRISH_OVERRIDE = ("UK Milton Keynes", "IE", "SE-STO")  # pool uk ships Irish orders from Stockholm
MARKETS = [("eu", ["SE", "DE", "NL", "FR", "DK"], 0.45), ("uk", ["GB", "IE"], 0.35), ("us", ["US"], 0.2)]


def expected_split(world, number: str) -> tuple[dict[str, Counter], set[str]]:
    """facility -> Counter(item -> units), from Centra's own allocations; and the Centra warehouses used."""
    state = world.centra_state()
    order = state.orders[int(number)]
    names = {w.id: w.name for w in state.warehouses.values()}
    item_of = {item.sku: item.item for item in world.seeded.items}
    split: dict[str, Counter] = defaultdict(Counter)
    used = set()
    for line in order.lines:
        sku = state.sizes[line.size_id].sku
        for allocation in line.allocations:
            name = names[allocation.warehouse_id]
            used.add(name)
            facility = FACILITY_OF_WAREHOUSE[name]
            if (name, order.shipping_address.country_code) == IRISH_OVERRIDE[:2]:
                facility = IRISH_OVERRIDE[2]
            split[facility][item_of[sku]] += allocation.quantity
    return split, used


def sent_to_deposco(world) -> dict[str, tuple[str, Counter]]:
    """Lockstep's Deposco orders: number -> (facility, Counter(item -> units))."""
    return {
        number: (
            order.facility,
            Counter({line.item_number: int(line.order_pack_quantity) for line in order.lines}),
        )
        for number, order in world.api_orders().items()
    }


async def test_500_orders_across_all_markets_and_pools_land_in_the_right_facilities(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        started = time.monotonic()
        # Promote US-NJ (as `lockstep facility promote` would) and give the us pool a little stock, so US orders
        # are allocated from New Jersey first and spill over to US Export: lines split across facilities.
        facilities = world.topology.facilities
        promoted = tuple(f.model_copy(update={"state": "live"}) if f.code == "US-NJ" else f for f in facilities)
        world.use_topology(world.topology.model_copy(update={"facilities": promoted}))
        skus = [item.sku for item in world.seeded.items]
        nj_skus = skus[:40]
        stock = {"warehouse": "US New Jersey", "items": [{"sku": sku, "physical": 3} for sku in nj_skus]}
        await world.centra_control("PUT", "/_sim/stock", json=stock)

        rng = random.Random(500)
        placed: list[str] = []
        attempts = 0
        while len(placed) < ORDERS and attempts < ORDERS * 2:
            batch = []
            for _ in range(ORDERS - len(placed)):
                attempts += 1
                market, countries, _ = rng.choices(MARKETS, weights=[m[2] for m in MARKETS])[0]
                catalog = nj_skus if market == "us" and rng.random() < 0.7 else skus
                lines = [(sku, rng.randint(1, 2)) for sku in rng.sample(catalog, rng.randint(1, 3))]
                batch.append((market, rng.choice(countries), lines, attempts))
            placed += [n for n in await world.place_many(batch) if n is not None]  # refused: out of stock
        assert len(placed) == ORDERS, f"Centra accepted only {len(placed)} of {attempts} orders"
        placed_s = time.monotonic() - started

        await world.enqueue("orders.refetch")
        await world.run_jobs(timeout=120)
        flow_s = time.monotonic() - started - placed_s

        sent = sent_to_deposco(world)
        expected: dict[str, tuple[str, Counter]] = {}
        centra_number: dict[str, str] = {}
        pools_used: set[str] = set()
        split_orders = 0
        for number in placed:
            split, used = expected_split(world, number)
            pools_used |= used
            split_orders += len(split) > 1
            for facility, items in split.items():
                expected[sales_order_number(number, facility)] = (facility, items)
                centra_number[sales_order_number(number, facility)] = number
        assert sent == expected, "every Deposco order, and only those, with the expected facility and lines"
        assert pools_used == set(FACILITY_OF_WAREHOUSE), "all 4 stock pools were used"
        assert {facility for facility, _ in sent.values()} == {"SE-STO", "GB-MKN", "US-NJ"}
        assert split_orders >= 5, f"only {split_orders} orders were split across facilities"
        irish = [n for n in placed if world.centra_state().orders[int(n)].shipping_address.country_code == "IE"]
        assert irish and all(sales_order_number(n, "SE-STO") in sent for n in irish)
        assert {n: so.fields["customerOrderNumber"] for n, so in world.api_orders().items()} == centra_number
        async with world.runtime.engine.connect() as conn:
            states = await order_store.counts_by_state(conn, world.brand)
        assert states["exported"] == ORDERS and sum(states.values()) == ORDERS
        print(f"\n{ORDERS} orders: placed in {placed_s:.1f}s, exported in {flow_s:.1f}s, {split_orders} split")
