"""Carrier mapping end to end: the Centra shipping option becomes each Deposco sales order's ship via, carrier and
service (both simulators as real servers, SQLite and PostgreSQL); an option the mapping does not cover is held."""

from __future__ import annotations

from lockstep.config.topology import Carriers
from lockstep.domain.routing import sales_order_number
from lockstep.store import exceptions as exc_store
from lockstep.store import orders as order_store

from ..harness import brand_world
from .test_orders_cli import lockstep

KIND = "unmapped_shipping_option"


def carrier_of(world, number: str, facility: str) -> tuple:
    fields = world.api_orders()[sales_order_number(number, facility)].fields
    return fields.get("shipVia"), fields.get("shipVendor"), fields.get("shipMethod")


async def state_of(world, number: str):
    async with world.runtime.engine.connect() as conn:
        return await order_store.get(conn, world.brand, number)


async def test_each_sales_order_ships_as_its_shipping_option_maps(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        sku = [item.sku for item in world.seeded.items]
        express_se = await world.place("eu", "SE", [(sku[0], 1)], 1, shipping_option="express")
        express_de = await world.place("eu", "DE", [(sku[1], 1)], 2, shipping_option="Express delivery")  # by name
        express_gb = await world.place("uk", "GB", [(sku[2], 1)], 3, shipping_option="express")
        standard_gb = await world.place("uk", "GB", [(sku[3], 1)], 4)
        pickup_se = await world.place("eu", "SE", [(sku[4], 1)], 5, shipping_option="pickup-point")
        none_se = await world.place("eu", "SE", [(sku[5], 1)], 6, shipping_option=None)
        await world.fetch(express_se, express_de, express_gb, standard_gb, pickup_se, none_se)

        assert carrier_of(world, express_se, "SE-STO") == ("PostNord Express", "PostNord", "Express")  # rule 0
        assert carrier_of(world, express_de, "SE-STO") == ("DHL Express", "DHL", "Express Worldwide")  # rule 1
        assert carrier_of(world, express_gb, "GB-MKN") == ("DHL Express", "DHL", "Express Worldwide")
        assert carrier_of(world, standard_gb, "GB-MKN") == ("UPS Standard", "UPS", "Standard")  # GB-MKN default
        assert carrier_of(world, pickup_se, "SE-STO") == ("PostNord Service Point", "PostNord", "Service Point")
        assert carrier_of(world, none_se, "SE-STO") == ("PostNord Parcel", "PostNord", "Parcel")  # SE-STO default

        shown = lockstep(world, db_url, "orders", "show", express_gb)
        assert shown.returncode == 0, shown.stderr
        assert "shipping option: express (Express delivery)" in shown.stdout
        assert "DHL Express / DHL / Express Worldwide" in shown.stdout
        assert "carriers.rules[1] maps shipping option 'express'" in shown.stdout

        # A brand without any carrier mapping lets Deposco choose, as before the mapping existed.
        world.use_topology(world.topology.model_copy(update={"carriers": Carriers()}))
        free = await world.place("eu", "SE", [(sku[6], 1)], 7, shipping_option="express")
        await world.fetch(free)
        assert (await state_of(world, free)).state == "exported"
        assert carrier_of(world, free, "SE-STO") == (None, None, None)


async def test_an_option_without_a_carrier_is_held_then_released_once_mapped(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        mapped = world.topology
        carriers = mapped.carriers.model_copy(
            update={"defaults": {k: v for k, v in mapped.carriers.defaults.items() if k != "GB-MKN"}}
        )
        world.use_topology(mapped.model_copy(update={"carriers": carriers}))
        sku = [item.sku for item in world.seeded.items]
        held = [await world.place("uk", "GB", [(sku[n], 1)], n) for n in range(3)]  # standard, from GB-MKN
        covered = await world.place("eu", "SE", [(sku[3], 1)], 3)  # standard, from SE-STO: its default
        await world.fetch(*held, covered)

        assert (await state_of(world, covered)).state == "exported"
        for number in held:
            record = await state_of(world, number)
            assert record.state == "quarantined"
            [cause] = record.causes
            assert cause["kind"] == KIND and cause["facility"] == "GB-MKN" and cause["shipping_option"] == "standard"
            assert "no carrier mapping" in cause["detail"]
            assert sales_order_number(number, "GB-MKN") not in world.api_orders()  # never sent with a guess
        async with world.runtime.engine.connect() as conn:
            [incident] = await exc_store.list_exceptions(conn, brand=world.brand, kind=KIND)
        assert incident.occurrences == 3 and incident.dedupe_key == "shipping:GB-MKN:standard"  # one incident, counted
        assert incident.owner_team == "ops" and incident.evidence["facility"] == "GB-MKN"

        world.use_topology(mapped)  # the mapping fixed: GB-MKN has its default again
        await world.fetch(*held)  # what `lockstep orders release --cause unmapped_shipping_option` enqueues

        for number in held:
            assert (await state_of(world, number)).state == "exported"
            assert carrier_of(world, number, "GB-MKN") == ("UPS Standard", "UPS", "Standard")
        async with world.runtime.engine.connect() as conn:
            [incident] = await exc_store.list_exceptions(conn, brand=world.brand, kind=KIND)
        assert incident.status == "resolved"
