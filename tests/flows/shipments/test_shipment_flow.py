"""The shipment flow end to end: Deposco ships (simulator control API), Lockstep confirms in the Centra simulator.

Both simulators run as real servers; every test runs on SQLite and PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

from sqlalchemy import update

from lockstep.domain.routing import sales_order_number
from lockstep.sim.truth import read_truth
from lockstep.store import exceptions as exc_store
from lockstep.store import orders as order_store
from lockstep.store import shipments as ship_store

from ..harness import brand_world

MUTATIONS = ("createShipment", "updateShipment", "captureShipment", "completeShipment")


async def exported(world, market: str, country: str, lines: list[tuple[str, int]], shopper: int) -> str:
    number = await world.place(market, country, lines, shopper)
    await world.fetch(number)
    async with world.runtime.engine.connect() as conn:
        assert (await order_store.get(conn, world.brand, number)).state == order_store.EXPORTED
    return number


async def ship(world, sales_order: str, **body) -> dict:
    """The warehouse ships (all that is open, or ``lines={lineNumber: packs}``)."""
    answer = await world.deposco_control(
        "POST", f"/_sim/orders/{sales_order}/advance", json={"to": "Ship Complete", **body}
    )
    assert answer["shipment"] is not None, answer
    return answer["shipment"]


async def poll(world) -> None:
    await world.enqueue("shipments.poll", dedupe_key="shipments.poll")
    await world.run_jobs()


def centra_shipments(world, number: str) -> list:
    return [s for s in world.centra_state().shipments.values() if str(s.order_number) == str(number)]


def centra_mutations(world) -> int:
    counters = world.sims.centra_app.sim.counters
    return sum(counters[f"calls:{name}"] for name in MUTATIONS)


async def records(world, number: str) -> list[ship_store.ShipmentRecord]:
    async with world.runtime.engine.connect() as conn:
        return await ship_store.of_order(conn, world.brand, number)


async def test_shipped_order_is_completed_in_centra_with_tracking_and_email(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        skus = [item.sku for item in world.seeded.items]
        number = await exported(world, "eu", "SE", [(skus[0], 2), (skus[1], 1)], 1)
        shipped = await ship(world, sales_order_number(number, "SE-STO"), packages=2)
        before = centra_mutations(world)
        await poll(world)

        [centra] = centra_shipments(world, number)
        assert centra.is_shipped and centra.is_captured and centra.is_paid
        assert centra.additional_message.startswith(f"Warehouse shipment {shipped['number']}. Further")  # tag kept
        assert not centra.external_id  # no third mutation to tag it (shipments.tag_external_id is off)
        assert centra.tracking_number == shipped["trackingNumber"]
        assert centra.number_of_packages == 2
        assert centra.carrier and centra.service
        assert centra.email_sent is world.topology.shipments.send_email is True
        assert sum(line.quantity for line in centra.lines) == 3
        [record] = await records(world, number)
        assert record.state == ship_store.COMPLETED and record.centra_id == centra.id
        assert record.mutations == centra_mutations(world) - before == 2  # create (captured, tagged), complete
        async with world.runtime.engine.connect() as conn:
            assert (await order_store.get(conn, world.brand, number)).state == order_store.SHIPPED
            units = await order_store.units(conn, world.brand, number)
        assert all(u.shipped == u.quantity for u in units)
        assert world.centra_state().orders[int(number)].status == "SHIPPED"

        await poll(world)  # the overlapping window sees the shipment again: nothing happens twice
        assert len(centra_shipments(world, number)) == 1
        assert centra_mutations(world) - before == 2
        truth = await read_truth(world.sims.endpoints(), world.topology.routing_table())
        assert truth["unconfirmed_shipments"]["shipments"] == 0  # the simulators' own view: confirmed by its tag


async def test_brand_that_wants_external_ids_pays_a_third_mutation(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        settings = world.topology.shipments.model_copy(update={"tag_external_id": True})
        world.use_topology(world.topology.model_copy(update={"shipments": settings}))
        number = await exported(world, "eu", "SE", [(world.seeded.items[0].sku, 1)], 11)
        shipped = await ship(world, sales_order_number(number, "SE-STO"))
        before = centra_mutations(world)
        await poll(world)
        [centra] = centra_shipments(world, number)
        assert centra.is_shipped and centra.external_id == shipped["number"]
        [record] = await records(world, number)
        assert record.mutations == centra_mutations(world) - before == 3 and record.tagged_at is not None


async def test_send_email_follows_the_brand_setting(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        settings = world.topology.shipments.model_copy(update={"send_email": False})
        world.use_topology(world.topology.model_copy(update={"shipments": settings}))
        number = await exported(world, "eu", "DE", [(world.seeded.items[0].sku, 1)], 2)
        await ship(world, sales_order_number(number, "SE-STO"))
        await poll(world)
        [centra] = centra_shipments(world, number)
        assert centra.is_shipped and not centra.email_sent


async def test_split_order_from_two_facilities_lands_on_the_one_centra_order(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        # US-NJ live and a little New Jersey stock: 4 units of one SKU are allocated 3 from New Jersey and 1 from
        # US Export (GB-MKN), so one Centra line is split across two facilities, and another line ships from GB-MKN.
        promoted = tuple(
            f.model_copy(update={"state": "live"}) if f.code == "US-NJ" else f for f in world.topology.facilities
        )
        world.use_topology(world.topology.model_copy(update={"facilities": promoted}))
        skus = [item.sku for item in world.seeded.items]
        await world.centra_control(
            "PUT", "/_sim/stock", json={"warehouse": "US New Jersey", "items": [{"sku": skus[0], "physical": 3}]}
        )
        await world.deposco_control(
            "PUT", "/_sim/stock", json={"facility": "US-NJ", "itemNumber": skus[0], "onHand": 3}
        )
        number = await exported(world, "us", "US", [(skus[0], 4), (skus[1], 1)], 3)
        assert set(world.api_orders()) == {sales_order_number(number, "US-NJ"), sales_order_number(number, "GB-MKN")}
        await ship(world, sales_order_number(number, "US-NJ"))
        await ship(world, sales_order_number(number, "GB-MKN"))
        await poll(world)

        found = centra_shipments(world, number)
        assert len(found) == 2 and all(s.is_shipped for s in found)
        tags = {s.additional_message.removeprefix("Warehouse shipment ") for s in found}
        assert tags == {r.deposco_number for r in await records(world, number)}
        per_line: dict[int, int] = {}
        for shipment in found:
            for line in shipment.lines:
                per_line[line.order_line_id] = per_line.get(line.order_line_id, 0) + line.quantity
        assert sorted(per_line.values()) == [1, 4]
        pools = {r.pool for r in await records(world, number)}
        assert pools == {"us", "us-export"}
        assert world.centra_state().orders[int(number)].status == "SHIPPED"


async def test_partial_shipment_then_the_rest(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        skus = [item.sku for item in world.seeded.items]
        number = await exported(world, "eu", "SE", [(skus[0], 3), (skus[1], 1)], 4)
        so = sales_order_number(number, "SE-STO")
        first_line = min(world.api_orders()[so].lines, key=lambda line: line.line_number).line_number
        await ship(world, so, lines={first_line: 2})
        await poll(world)
        [partial] = centra_shipments(world, number)
        assert partial.is_shipped and sum(line.quantity for line in partial.lines) == 2
        async with world.runtime.engine.connect() as conn:
            assert (await order_store.get(conn, world.brand, number)).state == order_store.PARTIALLY_SHIPPED
        assert world.centra_state().orders[int(number)].status == "PROCESSING"
        charged = world.centra_state().orders[int(number)].shipping_cost
        assert charged > 0 and partial.internal_shipping_cost == charged  # the first shipment carries shipping

        await ship(world, so)  # the rest
        await poll(world)
        found = centra_shipments(world, number)
        assert len(found) == 2 and all(s.is_shipped for s in found)
        assert sum(line.quantity for s in found for line in s.lines) == 4
        assert [s.internal_shipping_cost for s in sorted(found, key=lambda s: s.id)] == [charged, 0.0]
        async with world.runtime.engine.connect() as conn:
            assert (await order_store.get(conn, world.brand, number)).state == order_store.SHIPPED


async def test_rerun_after_losing_the_local_record_of_the_create_makes_no_second_shipment(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        number = await exported(world, "eu", "SE", [(world.seeded.items[0].sku, 1)], 5)
        await ship(world, sales_order_number(number, "SE-STO"))
        await poll(world)
        [record] = await records(world, number)
        # A crash after createShipment, before anything was recorded: the row is back to "detected", no Centra id.
        async with world.runtime.engine.begin() as conn:
            await conn.execute(
                update(ship_store.shipments)
                .where(ship_store.shipments.c.id == record.id)
                .values(state="detected", centra_id=None, create_attempted_at=None, tagged_at=None)
            )
        before = centra_mutations(world)
        await world.enqueue("shipments.confirm", {"shipment": record.id})
        await world.run_jobs()
        [centra] = centra_shipments(world, number)
        assert centra.is_shipped
        assert centra_mutations(world) == before, "found by its tag: nothing to create, capture or complete"
        [record] = await records(world, number)
        assert record.state == ship_store.COMPLETED and record.centra_id == centra.id


def crash_after_the_first_create(monkeypatch, *, tagged: bool = True) -> list[int]:
    """The worker dies straight after its first ``createShipment`` reached Centra (the Centra id is returned
    in the list); ``tagged=False`` makes creates that carry no tag, as an older Lockstep's did."""
    from lockstep.connectors.centra.client import CentraClient

    real_create = CentraClient.create_shipment
    crashes: list[int] = []

    async def create_then_crash(self, *args, **kwargs):
        result = await real_create(self, *args, **(kwargs if tagged else {**kwargs, "tag": ""}))
        if not crashes:
            crashes.append(result.value.shipment_id)
            raise RuntimeError("worker died after createShipment")
        return result

    monkeypatch.setattr(CentraClient, "create_shipment", create_then_crash)
    return crashes


async def test_crash_after_create_resumes_without_a_second_shipment(db_url, tmp_path, monkeypatch):
    crashes = crash_after_the_first_create(monkeypatch)
    async with brand_world(db_url, tmp_path) as world:
        number = await exported(world, "eu", "SE", [(world.seeded.items[0].sku, 2)], 6)
        shipped = await ship(world, sales_order_number(number, "SE-STO"))
        await poll(world)
        assert crashes
        [centra] = centra_shipments(world, number)
        assert centra.id == crashes[0] and centra.is_shipped
        assert centra.additional_message == f"Warehouse shipment {shipped['number']}"
        assert world.sims.centra_app.sim.counters["calls:createShipment"] == 1


async def test_untagged_shipment_of_a_crashed_attempt_is_found_by_its_lines_and_tagged(db_url, tmp_path, monkeypatch):
    """A create that reached Centra without the tag (made by an older Lockstep, or its message edited by a person)
    and whose answer was lost: found among the order's shipments by exactly its lines, tagged, completed."""
    crashes = crash_after_the_first_create(monkeypatch, tagged=False)
    async with brand_world(db_url, tmp_path) as world:
        number = await exported(world, "eu", "SE", [(world.seeded.items[0].sku, 2)], 12)
        shipped = await ship(world, sales_order_number(number, "SE-STO"))
        await poll(world)
        [centra] = centra_shipments(world, number)
        assert centra.id == crashes[0] and centra.is_shipped and centra.external_id == shipped["number"]
        assert world.sims.centra_app.sim.counters["calls:createShipment"] == 1
        assert world.sims.centra_app.sim.counters["calls:updateShipment"] == 1  # the tag it lacked


async def test_capture_failure_raises_capture_failed_and_does_not_complete(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        await world.centra_control("PUT", "/_sim/capture", json={"mode": "fail"})
        number = await exported(world, "eu", "SE", [(world.seeded.items[0].sku, 1)], 7)
        await ship(world, sales_order_number(number, "SE-STO"))
        await poll(world)
        [centra] = centra_shipments(world, number)
        assert not centra.is_captured and not centra.is_shipped and not centra.email_sent
        [record] = await records(world, number)
        assert record.state == ship_store.FAILED and record.centra_id == centra.id
        async with world.runtime.engine.connect() as conn:
            [raised] = [
                r for r in await exc_store.list_exceptions(conn, brand=world.brand) if r.kind == "capture_failed"
            ]
        assert raised.owner_team == "finance" and raised.evidence["deposco_shipment"] == record.deposco_number


async def test_tracking_without_a_carrier_is_completed_with_the_tracking_and_no_made_up_carrier(db_url, tmp_path):
    """A 3PL that keys in tracking numbers but no ship via, carrier or method: Centra gets the tracking, the
    customer the e-mail, and the carrier fields stay empty rather than guessed."""
    async with brand_world(db_url, tmp_path) as world:
        number = await exported(world, "eu", "SE", [(world.seeded.items[0].sku, 1)], 13)
        shipped = await ship(world, sales_order_number(number, "SE-STO"), carrier=False)
        [dispatched] = [s for s in world.deposco_state().shipments.values() if s.number == shipped["number"]]
        assert dispatched.ship_vendor is None and dispatched.ship_via is None and dispatched.tracking_number
        await poll(world)
        [centra] = centra_shipments(world, number)
        assert centra.is_shipped and centra.email_sent and centra.tracking_number == shipped["trackingNumber"]
        assert not centra.carrier and not centra.service
        [record] = await records(world, number)
        assert record.state == ship_store.COMPLETED and record.carrier == "" and record.mutations == 2
