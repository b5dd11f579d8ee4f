"""The order flow end to end against both simulators as real servers, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

from lockstep.domain.routing import sales_order_number
from lockstep.store import exceptions as exc_store
from lockstep.store import orders as order_store

from ..harness import brand_world

# Written out by hand from config/example-brand.yaml, independent of the routing code under test.
EXPECTED_FACILITY = {"EU Stockholm": "SE-STO", "UK Milton Keynes": "GB-MKN", "US Export": "GB-MKN"}
MARKET_COUNTRIES = {"eu": ["SE", "DE", "NL", "FR"], "uk": ["GB", "IE"], "us": ["US"]}


def expected_split(world, number: str) -> dict[str, Counter]:
    """facility -> Counter(item -> units) from Centra's own allocations of the order."""
    state = world.centra_state()
    order = next(o for o in state.orders.values() if str(o.number) == number)
    warehouses = {w.id: w.name for w in state.warehouses.values()}
    sizes = state.sizes if hasattr(state, "sizes") else state.product_sizes
    split: dict[str, Counter] = defaultdict(Counter)
    for line in order.lines:
        size = sizes[line.size_id]
        for allocation in line.allocations:
            name = warehouses[allocation.warehouse_id]
            facility = EXPECTED_FACILITY[name]
            if name == "UK Milton Keynes" and order.shipping_address.country_code == "IE":
                facility = "SE-STO"  # the routing override in the example
            split[facility][size.sku] += allocation.quantity
    return split


def deposco_orders(world) -> dict[str, Counter]:
    found: dict[str, Counter] = {}
    for order in world.deposco_state().orders.values():
        if order.channel != "api":
            continue
        found[order.number] = Counter()
        for line in order.lines:
            found[order.number][line.item_number] += int(line.order_pack_quantity)
    return found


async def test_orders_across_markets_land_in_the_right_facilities(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        rng = random.Random(7)
        skus = [item.sku for item in world.seeded.items]
        placed = []
        for shopper in range(90):
            market = rng.choice(["eu", "uk", "uk", "us"])
            lines = [(sku, rng.randint(1, 2)) for sku in rng.sample(skus, rng.randint(1, 3))]
            number = await world.try_place(market, rng.choice(MARKET_COUNTRIES[market]), lines, shopper)
            if number is not None:
                placed.append(number)
        assert len(placed) >= 60
        await world.enqueue("orders.refetch")
        await world.run_jobs()

        in_deposco = deposco_orders(world)
        facilities_used = Counter()
        for number in placed:
            for facility, items in expected_split(world, number).items():
                so = sales_order_number(number, facility)
                assert in_deposco.get(so) == items, (number, facility)
                facilities_used[facility] += 1
        assert len(in_deposco) == sum(facilities_used.values()), "no Deposco order beyond the expected ones"
        assert set(facilities_used) == {"SE-STO", "GB-MKN"}
        async with world.runtime.engine.connect() as conn:
            states = await order_store.counts_by_state(conn, world.brand)
        assert states["exported"] == len(placed)


async def test_retried_export_after_a_crash_creates_no_second_order(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        number = await world.place("eu", "SE", [(world.seeded.items[0].sku, 1)], 1)
        await world.enqueue("orders.fetch", {"number": number})
        await world.run_jobs()
        # Simulate "Deposco created it, then the worker died before the local commit": forget the confirmation.
        async with world.runtime.engine.begin() as conn:
            await conn.execute(order_store.sales_orders.update().values(confirmed_at=None, deposco_id=None))
            await order_store.set_state(conn, world.brand, number, order_store.EXPORTING)
        await world.enqueue("orders.export", {"number": number})
        await world.run_jobs()
        numbers = [o.number for o in world.deposco_state().orders.values() if o.channel == "api"]
        assert numbers == [sales_order_number(number, "SE-STO")]
        async with world.runtime.engine.connect() as conn:
            [sale] = await order_store.sales_orders_of(conn, world.brand, number)
            record = await order_store.get(conn, world.brand, number)
        assert sale.confirmed_at is not None and sale.deposco_id
        assert record.state == order_store.EXPORTED


async def test_unroutable_orders_are_quarantined_as_one_incident_and_released_after_the_fix(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        # The US pool's only facility is draft: orders Centra allocates there cannot be routed.
        state = world.centra_state()
        us = next(w for w in state.warehouses.values() if w.name == "US New Jersey")
        sku = world.seeded.items[0].sku
        async with world.sims.endpoints().centra_client() as http:
            await http.put("/_sim/stock", json={"warehouse": "US New Jersey", "items": [{"sku": sku, "physical": 50}]})
        numbers = [await world.place("us", "US", [(sku, 1)], n) for n in range(3)]
        assert all(
            any(a.warehouse_id == us.id for line in o.lines for a in line.allocations)
            for o in state.orders.values()
            if str(o.number) in numbers
        )
        await world.enqueue("orders.refetch")
        await world.run_jobs()
        async with world.runtime.engine.connect() as conn:
            held = [await order_store.get(conn, world.brand, n) for n in numbers]
            incidents = await exc_store.list_exceptions(conn, brand=world.brand, kind="facility_not_live")
        assert [r.state for r in held] == ["quarantined"] * 3
        assert all(r.causes[0]["kind"] == "facility_not_live" and r.causes[0]["pool"] == "us" for r in held)
        [incident] = incidents
        assert incident.occurrences == 3 and incident.status == "open"
        assert not [o for o in world.deposco_state().orders.values() if o.channel == "api"]

        # The fix: US-NJ goes live. Release = re-evaluate the held orders with the new mapping.
        live = world.topology.model_copy(
            update={
                "facilities": tuple(
                    f.model_copy(update={"state": "live"}) if f.code == "US-NJ" else f
                    for f in world.topology.facilities
                )
            }
        )
        world.runtime.config.brands[world.brand] = live
        world.topology = live
        async with world.sims.endpoints().deposco_client() as http:
            await http.post("/_sim/facilities", json={"number": "US-NJ"})
        for number in numbers:
            await world.enqueue("orders.fetch", {"number": number}, dedupe_key=f"fetch:{number}")
        await world.run_jobs()
        async with world.runtime.engine.connect() as conn:
            released = [await order_store.get(conn, world.brand, n) for n in numbers]
            [incident] = await exc_store.list_exceptions(conn, brand=world.brand, kind="facility_not_live")
        assert [r.state for r in released] == ["exported"] * 3
        assert incident.status == "resolved" and incident.resolution == "auto"
        assert sorted(deposco_orders(world)) == sorted(sales_order_number(n, "US-NJ") for n in numbers)


async def test_unknown_sku_and_bad_address_are_quarantined_with_every_reason(db_url, tmp_path):
    async with brand_world(db_url, tmp_path, items=False) as world:  # no item sync: Deposco items unvouched
        number = await world.place("eu", "SE", [(world.seeded.items[0].sku, 1)], 5)
        await world.enqueue("orders.fetch", {"number": number})
        await world.run_jobs()
        async with world.runtime.engine.connect() as conn:
            record = await order_store.get(conn, world.brand, number)
            [incident] = await exc_store.list_exceptions(conn, brand=world.brand, kind="unknown_sku")
        assert record.state == "quarantined"
        assert {c["kind"] for c in record.causes} == {"unknown_sku"}
        assert incident.dedupe_key == f"sku:{world.seeded.items[0].item}"
        assert not deposco_orders(world)


async def test_cancellation_and_hold_propagate_and_a_late_cancellation_raises(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        sku = world.seeded.items[1].sku
        first = await world.place("eu", "SE", [(sku, 2)], 11)
        second = await world.place("eu", "DE", [(sku, 1)], 12)
        for number in (first, second):
            await world.enqueue("orders.fetch", {"number": number}, dedupe_key=f"fetch:{number}")
        await world.run_jobs()
        # Deposco starts picking the second order: too late to cancel it.
        async with world.sims.endpoints().deposco_client() as http:
            so = sales_order_number(second, "SE-STO")
            response = await http.post(f"/_sim/orders/{so}/advance", json={"to": "Picking"})
            assert response.status_code == 200, response.text
        async with world.sims.endpoints().centra_client() as http:
            for number in (first, second):
                response = await http.post(f"/_sim/orders/{number}/cancel", json={})
                assert response.status_code == 200, response.text
        for number in (first, second):
            await world.enqueue("orders.fetch", {"number": number}, dedupe_key=f"fetch:{number}")
        await world.run_jobs()
        by_number = {o.number: o for o in world.deposco_state().orders.values()}
        assert by_number[sales_order_number(first, "SE-STO")].status == "Canceled"
        assert by_number[sales_order_number(second, "SE-STO")].status != "Canceled"
        async with world.runtime.engine.connect() as conn:
            [late] = await exc_store.list_exceptions(conn, brand=world.brand, kind="cancellation_too_late")
            assert (await order_store.get(conn, world.brand, first)).state == "cancelled"
        assert late.entity_id == second
        assert late.evidence["sales_orders"][0]["deposco_status"] == "Picking"
