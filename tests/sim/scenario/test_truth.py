"""The cross-system truth as a pure function: each number counted exactly as the module docstring defines it."""

from __future__ import annotations

import pytest

from lockstep.sim.scenario.world import load_topology
from lockstep.sim.truth import (
    CentraAllocation,
    CentraLine,
    CentraOrder,
    CentraShipment,
    CentraSnapshot,
    DeposcoLine,
    DeposcoOrder,
    DeposcoShipment,
    DeposcoSnapshot,
    cross_truth,
    link_orders,
)

EU, UK, US, US_EXPORT = "EU Stockholm", "UK Milton Keynes", "US New Jersey", "US Export"


@pytest.fixture(scope="module")
def routing():
    return load_topology().routing_table()


def c_order(number, *lines, status="CONFIRMED", country="SE", created=100.0, **flags) -> CentraOrder:
    return CentraOrder(str(number), status, country, tuple(lines), created_at=created, **flags)


def c_line(sku, quantity, warehouse=EU, shipped=0) -> CentraLine:
    return CentraLine(sku, f"ean-{sku}", quantity, (CentraAllocation(warehouse, quantity, shipped),))


def d_order(number, facility, *lines, status="New", channel="api", customer=None, short=0.0) -> DeposcoOrder:
    return DeposcoOrder(number, status, facility, tuple(lines), channel, customer, short)


def truth(routing, centra_orders=(), deposco_orders=(), on_hand=None, centra_shipments=(), shipments=()):
    centra = CentraSnapshot(tuple(centra_orders), tuple(centra_shipments), now=200.0)
    deposco = DeposcoSnapshot(tuple(deposco_orders), tuple(shipments), on_hand or {}, now=1000.0)
    return cross_truth(centra, deposco, routing)


# --- oversold --------------------------------------------------------------------------------------------------


def test_centra_units_beyond_stock_left_after_other_channels_are_oversold(routing):
    other = d_order("OC-1", "SE-STO", DeposcoLine("A", 3), channel="other")
    on_hand = {("SE-STO", "A"): 5}
    covered = truth(routing, [c_order(1001, c_line("A", 2))], [other], on_hand)["oversold"]
    assert covered["units"] == 0 and covered["examples"] == []

    result = truth(routing, [c_order(1001, c_line("A", 2)), c_order(1002, c_line("A", 1))], [other], on_hand)
    oversold = result["oversold"]
    assert oversold["units"] == oversold["open_units"] == 1
    assert oversold["by_facility"] == {"SE-STO": 1}
    assert oversold["examples"] == [
        {
            "facility": "SE-STO",
            "item": "A",
            "oversold": 1,
            "on_hand": 5,
            "other_open": 3,
            "centra_in_deposco": 0,
            "centra_in_flight": 3,
            "pools": {"eu": 3},
        }
    ]


def test_exported_orders_count_their_open_deposco_units_once(routing):
    # 4 sold, all in Deposco, 3 shipped (not yet completed in Centra), 0 left on hand: 1 unit can never ship.
    order = c_order(1001, c_line("A", 4))
    sales_order = d_order("1001-SE-STO", "SE-STO", DeposcoLine("A", 4, shipped=3), customer="1001", status="Picking")
    result = truth(routing, [order], [sales_order], {("SE-STO", "A"): 0})
    row = result["oversold"]["examples"][0]
    assert (row["oversold"], row["centra_in_deposco"], row["centra_in_flight"]) == (1, 1, 0)
    assert row["pools"] == {"eu": 1}
    assert result["missing_in_deposco"]["orders"] == 0


def test_shared_facility_sums_demand_of_every_pool_and_honours_routing_overrides(routing):
    orders = [
        c_order(1001, c_line("A", 2)),  # eu -> SE-STO
        c_order(1002, c_line("A", 1, warehouse=UK), country="IE"),  # uk, Ireland override -> SE-STO
        c_order(1003, c_line("A", 5, warehouse=UK), country="GB"),  # uk -> GB-MKN
    ]
    result = truth(routing, orders, [], {("SE-STO", "A"): 2, ("GB-MKN", "A"): 5})
    assert result["oversold"]["examples"] == [
        {
            "facility": "SE-STO",
            "item": "A",
            "oversold": 1,
            "on_hand": 2,
            "other_open": 0,
            "centra_in_deposco": 0,
            "centra_in_flight": 3,
            "pools": {"eu": 2, "uk": 1},
        }
    ]


def test_closed_short_shipped_orders_add_their_shortfall_capped_at_units_not_shipped(routing):
    # Deposco recorded 6 short units over repeated attempts; only 2 units of the order were never shipped.
    order = c_order(1001, c_line("A", 3, shipped=1), status="PROCESSING")
    sales_order = d_order(
        "1001-SE-STO", "SE-STO", DeposcoLine("A", 3, shipped=1, canceled=2), customer="1001", status="Ship Complete"
    )
    sales_order = DeposcoOrder(**{**sales_order.__dict__, "short_units": 6.0})
    other_short = d_order("OC-1", "SE-STO", DeposcoLine("A", 3, shipped=1, canceled=2), channel="other")
    oversold = truth(routing, [order], [sales_order, other_short], {})["oversold"]
    assert oversold["short_shipped_units"] == 2 and oversold["open_units"] == 0 and oversold["units"] == 2
    assert oversold["short_shipped_examples"] == [{"sales_order": "1001-SE-STO", "centra_order": "1001", "units": 2}]


def test_cancelled_pending_and_shipped_centra_orders_hold_no_demand(routing):
    orders = [
        c_order(1001, c_line("A", 2), status="CANCELLED"),
        c_order(1002, CentraLine("A", "e", 2), status="PENDING"),
        c_order(1003, c_line("A", 2, shipped=2), status="SHIPPED"),
    ]
    result = truth(routing, orders, [], {})
    assert result["oversold"]["units"] == 0 and result["missing_in_deposco"]["orders"] == 0


# --- missing in Deposco ------------------------------------------------------------------------------------------


def test_eligible_confirmed_orders_without_a_deposco_order_are_missing(routing):
    orders = [
        c_order(1001, c_line("A", 1), created=50.0),
        c_order(1002, c_line("A", 2), created=150.0),
        c_order(1003, c_line("A", 1), on_hold=True),
        c_order(1004, c_line("A", 1), waiting_for_payment=True),
        c_order(1005, c_line("A", 1), status="PROCESSING"),
    ]
    missing = truth(routing, orders, [], {("SE-STO", "A"): 100})["missing_in_deposco"]
    assert (missing["orders"], missing["units"], missing["held_back"]) == (2, 3, 2)
    assert missing["oldest_age_s"] == 150.0
    assert [e["order"] for e in missing["examples"]] == ["1001", "1002"]
    assert missing["examples"][0]["facilities"] == ["SE-STO"] and missing["partial"] == 0


def test_partly_exported_orders_are_missing_the_units_not_in_deposco(routing):
    order = c_order(1001, c_line("A", 1), c_line("B", 2, warehouse=UK), country="GB")
    exported = d_order("1001-SE-STO", "SE-STO", DeposcoLine("A", 1), customer="1001")
    missing = truth(routing, [order], [exported], {})["missing_in_deposco"]
    assert (missing["orders"], missing["units"], missing["partial"]) == (1, 2, 1)
    assert missing["examples"][0]["facilities"] == ["GB-MKN"]


def test_units_in_a_pool_without_a_live_facility_are_missing_and_unroutable(routing):
    order = c_order(1001, c_line("A", 1, warehouse=US), country="US")
    stray = c_order(1002, c_line("A", 1, warehouse="Nowhere"))
    missing = truth(routing, [order, stray], [], {})["missing_in_deposco"]
    assert (missing["orders"], missing["unroutable"]) == (2, 2)
    reasons = [e["unroutable"][0]["why"] for e in missing["examples"]]
    assert "no live facility" in reasons[0] and "maps to no pool" in reasons[1]


def test_deposco_orders_link_by_customer_order_number_or_by_derived_number(routing):
    centra = CentraSnapshot((c_order(1001, c_line("A", 1)), c_order(1002, c_line("A", 1))))
    deposco = DeposcoSnapshot(
        (
            d_order("X-1", "SE-STO", DeposcoLine("A", 1), customer="1001"),
            d_order("C1002-GB-MKN", "GB-MKN", DeposcoLine("A", 1)),
            d_order("1002-SE-STO", "SE-STO", DeposcoLine("A", 1), channel="other"),
            d_order("9999-SE-STO", "SE-STO", DeposcoLine("A", 1)),
        )
    )
    assert link_orders(centra, deposco) == {"X-1": "1001", "C1002-GB-MKN": "1002"}


# --- unconfirmed shipments ---------------------------------------------------------------------------------------


def test_shipped_in_deposco_without_a_completed_centra_shipment_is_unconfirmed(routing):
    orders = [c_order(n, c_line("A", 1), status="PROCESSING") for n in (1001, 1002, 1003, 1004)]
    deposco_orders = [
        d_order(f"{n}-SE-STO", "SE-STO", DeposcoLine("A", 1, shipped=1), customer=str(n), status="Ship Complete")
        for n in (1001, 1002, 1003, 1004)
    ] + [d_order("OC-1", "SE-STO", DeposcoLine("A", 1, shipped=1), channel="other", status="Ship Complete")]
    shipments = [
        DeposcoShipment("S1", "1001-SE-STO", "SE-STO", 1, shipped_at=400.0),
        DeposcoShipment("S2", "1002-SE-STO", "SE-STO", 1, shipped_at=900.0),
        DeposcoShipment("S3", "1003-SE-STO", "SE-STO", 1, shipped_at=900.0),
        DeposcoShipment("S4", "1004-SE-STO", "SE-STO", 0, shipped_at=900.0),  # label only
        DeposcoShipment("S5", "OC-1", "SE-STO", 1, shipped_at=900.0),  # other channel
    ]
    centra_shipments = [CentraShipment("1002", "S2", completed=False), CentraShipment("1003", "S3", completed=True)]
    result = truth(routing, orders, deposco_orders, {}, centra_shipments, shipments)["unconfirmed_shipments"]
    assert (result["shipments"], result["units"], result["absent"], result["not_completed"]) == (2, 2, 1, 1)
    assert result["oldest_age_s"] == 600.0
    assert [(e["shipment"], e["state"], e["centra_order"]) for e in result["examples"]] == [
        ("S1", "absent", "1001"),
        ("S2", "not_completed", "1002"),
    ]


def test_totals_summarise_both_sides(routing):
    result = truth(
        routing,
        [c_order(1001, c_line("A", 1)), c_order(1002, c_line("A", 1), status="CANCELLED")],
        [d_order("OC-1", "SE-STO", DeposcoLine("A", 2, shipped=2), channel="other", status="Ship Complete")],
        {("SE-STO", "A"): 3, ("GB-MKN", "A"): -1},
        shipments=[DeposcoShipment("S1", "OC-1", "SE-STO", 2)],
    )
    assert result["totals"] == {
        "centra_orders": {"CANCELLED": 1, "CONFIRMED": 1},
        "centra_shipments_completed": 0,
        "deposco_orders": 1,
        "deposco_orders_open": 0,
        "deposco_centra_orders": 0,
        "deposco_shipments": 1,
        "deposco_units_shipped": 2,
        "deposco_units_on_hand": 3,
    }
