"""Bad input from the storefront: each order ends exported correctly or quarantined with its reason."""

from __future__ import annotations

from lockstep.domain.routing import sales_order_number
from lockstep.sim.centra.model import OrderLine as CentraLine
from lockstep.store import exceptions as exc_store
from lockstep.store import orders as order_store

from ..harness import brand_world
from .test_line_cancellation import cancel_units

LONG_STREET = "Drottninggatan 112, gården, andra trappan till vänster efter cykelrummet"  # 72 characters
ADDRESS = {
    "firstName": "Åsa 🌸",
    "lastName": "Lindqvist",
    "address1": LONG_STREET,
    "address2": "c/o Lindqvist",  # line 2 taken: the long line 1 cannot continue there and must be cut
    "city": "Stockholm",
    "zipCode": "11122",
    "email": "asa@example.com",
}


async def place_with_address(world, market: str, country: str, sku: str, address: dict) -> str:
    body = {
        "market": world.seeded.markets[market],
        "country": country,
        "lines": [{"sku": sku, "quantity": 1}],
        "address": address,
    }
    return str((await world.centra_control("POST", "/_sim/orders", json=body))["number"])


async def record(world, number: str):
    async with world.runtime.engine.connect() as conn:
        return await order_store.get(conn, world.brand, number)


def with_overlong_fields(topology, mode: str):
    return topology.model_copy(update={"orders": topology.orders.model_copy(update={"overlong_fields": mode})})


async def test_emoji_and_an_overlong_address_line_are_cleaned_with_a_note_by_default(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        assert world.topology.orders.overlong_fields == "truncate"  # the default
        number = await place_with_address(world, "eu", "SE", world.seeded.items[11].sku, ADDRESS)
        await world.fetch(number)

        sent = world.api_orders()[sales_order_number(number, "SE-STO")]
        contact, address = sent.fields["shipToContact"], sent.fields["shipToAddress"]
        assert contact["firstName"] == "Åsa" and contact["lastName"] == "Lindqvist"
        assert address["line1"] == LONG_STREET[:64].rstrip() and len(address["line1"]) <= 64
        assert address["line2"] == "c/o Lindqvist"
        assert address["city"] == "Stockholm" and address["country"] == "SE"
        assert sent.fields["customerOrderNumber"] == number

        stored = await record(world, number)
        assert stored.state == "exported" and stored.causes == []
        notes = {n["field"]: n["change"] for n in stored.notes}
        assert notes == {
            "ship_to.first_name": "characters outside 3-byte UTF-8 removed",
            "ship_to.address1": "truncated to 64 characters",
        }
        assert all(n["sales_order"] == sales_order_number(number, "SE-STO") for n in stored.notes)


async def test_with_the_quarantine_setting_the_same_order_is_held_as_invalid_address(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        world.use_topology(with_overlong_fields(world.topology, "quarantine"))
        bad = await place_with_address(world, "uk", "GB", world.seeded.items[12].sku, ADDRESS)
        fine = await world.place("uk", "GB", [(world.seeded.items[12].sku, 1)], 71)
        await world.fetch(bad, fine)

        held = await record(world, bad)
        assert held.state == "quarantined"
        assert {c["kind"] for c in held.causes} == {"invalid_address"}
        details = " | ".join(c["detail"] for c in held.causes)
        assert "ship_to.first_name" in details and "ship_to.address1" in details
        assert (await record(world, fine)).state == "exported"
        assert sorted(world.api_orders()) == [sales_order_number(fine, "GB-MKN")]
        async with world.runtime.engine.connect() as conn:
            [incident] = await exc_store.list_exceptions(conn, brand=world.brand, kind="invalid_address")
        assert incident.status == "open" and incident.entity_id == bad


async def test_zero_quantity_lines_are_ignored(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        kept, dropped, placeholder = (world.seeded.items[n] for n in (13, 14, 15))
        number = await world.place("eu", "FR", [(kept.sku, 2), (dropped.sku, 1)], 72)
        centra_order = world.centra_state().orders[int(number)]
        kept_line, dropped_line = (line.id for line in centra_order.lines)
        await cancel_units(world, number, dropped_line, 1)  # a whole line cancelled: quantity 0 in Centra
        # ...and a zero-quantity line with no allocation at all (as left behind by an edited order).
        size_id = next(s.id for s in world.centra_state().sizes.values() if s.sku == placeholder.sku)
        centra_order.lines.append(CentraLine(world.centra_state().next_id("order_line"), size_id, 0, 0.0))
        await world.fetch(number)

        stored = await record(world, number)
        assert stored.state == "exported", stored.causes
        sent = world.api_orders()[sales_order_number(number, "SE-STO")]
        sent_lines = [(ln.customer_line_number, ln.item_number, int(ln.order_pack_quantity)) for ln in sent.lines]
        assert sent_lines == [(str(kept_line), kept.item, 2)]


async def test_an_order_with_150_lines_is_exported_whole(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        eu = next(w.id for w in world.centra_state().warehouses.values() if w.name == "EU Stockholm")
        stock = (await world.centra_control("GET", "/_sim/stock", params={"warehouseId": eu}))["stock"]
        free = {row["sku"] for row in stock if row["freeToAllocate"] >= 2}
        skus = [item.sku for item in world.seeded.items if item.sku in free][:150]
        assert len(skus) == 150, f"the seeded EU pool has only {len(skus)} SKUs with 2 units free"
        lines = [(sku, 1 + n % 2) for n, sku in enumerate(skus)]
        number = await world.place("eu", "SE", lines, 73)
        before = dict(world.sims.deposco_app.sim.counters.calls)
        await world.fetch(number)

        assert (await record(world, number)).state == "exported"
        [(so_number, sent)] = world.api_orders().items()
        assert so_number == sales_order_number(number, "SE-STO")
        item_of = {item.sku: item.item for item in world.seeded.items}
        centra_lines = world.centra_state().orders[int(number)].lines
        assert len(sent.lines) == 150
        sent_lines = sorted((ln.customer_line_number, ln.item_number, int(ln.order_pack_quantity)) for ln in sent.lines)
        wanted = sorted((str(ln.id), item_of[sku], units) for ln, (sku, units) in zip(centra_lines, lines, strict=True))
        assert sent_lines == wanted
        posts = {k: v - before.get(k, 0) for k, v in world.sims.deposco_app.sim.counters.calls.items()}
        assert posts.get("POST /orders/salesOrders") == 2, posts  # 100 lines, then the remaining 50
        assert (sent.fields["shipVia"], sent.fields["shipVendor"]) == ("PostNord Parcel", "PostNord")  # REST too
