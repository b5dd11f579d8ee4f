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


def test_tracking_is_merged_in_first_seen_order_and_only_new_numbers_are_late():
    from lockstep.domain.shipments import late_tracking, merge_tracking

    assert merge_tracking(["A"], ["B", "A", "", "C"]) == ("A", "B", "C")
    assert merge_tracking(["A", "B"], ["B"]) == ("A", "B"), "a later read listing fewer parcels takes nothing back"
    assert late_tracking(None, ["A"]) == (), "not completed yet: the completion carries everything"
    assert late_tracking([], ["A", "B"]) == ("A", "B")
    assert late_tracking(["A"], ["A", "B"]) == ("B",)


def test_order_progress_counts_cancelled_units_as_done():
    from lockstep.domain.shipments import PARTIALLY_SHIPPED, SHIPPED, order_progress

    # Centra quantities already exclude cancelled units: line 2 was cancelled in full, line 1 cut to 2.
    assert order_progress({1: 2, 2: 0}, {1: 2}, all_completed=True) == SHIPPED
    assert order_progress({1: 2, 2: 1}, {1: 2}, all_completed=True) == PARTIALLY_SHIPPED
    assert order_progress({1: 2}, {1: 2}, all_completed=False) == PARTIALLY_SHIPPED
    assert order_progress({1: 2}, {}, all_completed=True) is None


def test_capture_retries_back_off_to_hourly():
    from datetime import timedelta

    from lockstep.domain.shipments import capture_retry_delay

    assert [capture_retry_delay(n) for n in (1, 2, 3)] == [timedelta(minutes=m) for m in (1, 2, 4)]
    assert capture_retry_delay(30) == timedelta(hours=1)
