"""Mapping a warehouse shipment onto the Centra order's open lines (pure)."""

from __future__ import annotations

from lockstep.domain.model import ShipmentLine, WarehouseShipment
from lockstep.domain.shipments import OpenUnits, map_shipment


def shipment(*lines: tuple[str, int]) -> WarehouseShipment:
    return WarehouseShipment(
        shipment_id="9",
        number="S9",
        sales_order_number="C1-SE-STO",
        facility="SE-STO",
        lines=tuple(ShipmentLine(customer_line_number=key, item=f"ITEM-{key}", quantity=q) for key, q in lines),
        status="Shipped",
    )


ROWS = [OpenUnits(1, 10, "eu", 2), OpenUnits(2, 11, "eu", 1)]


def test_lines_map_through_the_customer_line_number_and_parcels_of_one_line_are_summed():
    mapping = map_shipment(shipment(("10", 1), ("10", 1), ("11", 1), ("11", 0)), ROWS)
    assert mapping.ok and mapping.centra_lines == ((10, 2), (11, 1)) and mapping.pool == "eu"


def test_more_than_open_or_an_unknown_line_is_a_problem_with_evidence_never_a_partial_confirmation():
    over = map_shipment(shipment(("10", 3)), ROWS)
    assert not over.ok and over.problems[0].open == 2 and over.problems[0].shipped == 3
    unknown = map_shipment(shipment(("10", 1), ("99", 1)), ROWS)
    assert not unknown.ok and unknown.problems[0].customer_line_number == "99"


def test_a_line_spread_over_two_pools_at_one_facility_fills_them_in_order():
    rows = [OpenUnits(1, 10, "uk", 1), OpenUnits(2, 10, "us-export", 2)]
    mapping = map_shipment(shipment(("10", 3)), rows)
    assert mapping.ok and [(t.pool, t.units) for t in mapping.takes] == [("uk", 1), ("us-export", 2)]


def test_zero_unit_shipment_maps_to_nothing():
    assert not map_shipment(shipment(("10", 0)), ROWS).ok
