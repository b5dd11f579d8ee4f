"""Responses → domain: the real Deposco samples, shipments, V1 availability, and every odd shape Deposco sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from lockstep.connectors.deposco import translate as t
from lockstep.connectors.deposco.values import MalformedPayload, decode_body
from lockstep.connectors.errors import Permanent

from .conftest import EXAMPLES


def load(name: str):
    return json.loads((EXAMPLES / name).read_text())


def test_real_sales_order_list_parses_with_status_and_quantities():
    payload = load("get-sales-orders.with-embedded-lines.excerpt.json")
    page = t.page(payload)
    assert page.complete is True and page.next_href is None  # one page: links [] and complete true
    order = t.sales_order(page.rows[0])
    assert (order.number, order.order_id, order.status) == ("5003767", "5203", "Ship Complete")
    assert order.customer_order_number == "PWS-2235925057" and order.facility == "LVL"
    assert order.ship_to.city == "Van Nuys" and order.ship_to.country == "USA"
    assert order.order_date == datetime(2025, 12, 3, 18, 0, 38, tzinfo=UTC)
    assert order.lines == ()  # nested lines stop at 10: never used, lines come from the sub-resource
    # the excerpt's nested collection claims more pages: it is not trusted as complete
    assert t.nested_rows(page.rows[0], "orderLines") is None
    lines = [t.sales_order_line(row) for row in page.rows[0]["orderLines"]["data"]]
    complete, cancelled = lines
    assert (complete.line_number, complete.customer_line_number, complete.item) == (15, "15", "PWS243490134358")
    assert (complete.quantity, complete.shipped_quantity, complete.cancelled_quantity) == (15, 15, 0)
    assert complete.status == "Complete" and complete.open_quantity == 0
    assert (cancelled.quantity, cancelled.cancelled_quantity, cancelled.open_quantity) == (1, 1, 0)
    assert (complete.line_id, cancelled.line_id) == ("195913", "195912")  # Deposco ids, for cancellations


def test_real_order_line_page_parses_with_links():
    payload = load("get-sales-order-lines.page.excerpt.json")
    page = t.page(payload)
    assert not page.complete and page.next_href.startswith("https://api.deposco.com/latest/orders/salesOrders/5267")
    lines = [t.sales_order_line(row) for row in page.rows]
    assert [(ln.customer_line_number, ln.quantity, ln.shipped_quantity) for ln in lines] == [
        ("26", 3, 3),
        ("25", 10, 10),
    ]
    assert lines[0].unit_price == Decimal("340") and lines[0].line_id == "202780"


def test_complete_true_wins_over_a_bogus_next_link():
    shipments = load("get-sales-orders.with-embedded-lines.excerpt.json")["data"][0]["shipments"]
    page = t.page(shipments)
    assert page.complete and page.next_href is None and page.rows[0]["id"] == 1035


def shipment_dto(lines: int = 2, containers: int = 2, **extra):
    return {
        "self": {"id": 77, "businessKey": {"number": "1035"}},
        "number": "1035",
        "status": "Shipped",
        "orderHeaders": {"data": [{"id": 5203, "businessKey": {"number": "C100-WH1"}}], "links": [], "complete": True},
        "shipFromFacility": {"id": 1, "businessKey": {"number": "WH1"}},
        "shipVia": "UPS Ground",
        "shipVendor": "UPS",
        "shipMethod": None,
        "trackingNumber": "1Z001",
        "trackingUrl": "https://www.ups.com/track?tracknum=",
        "shipmentDates": {"plannedShipDate": None, "actualShipDate": "2026-09-02T08:00:00Z"},
        "totalPackages": containers,
        "updatedDate": "2026-09-02T08:05:00+02:00",
        "shipmentLines": {
            "data": [
                {
                    "number": str(i),
                    "orderLineDetails": {"customerLineNumber": str(5500 + i)},
                    "item": {"businessKey": {"number": f"SKU-{i}"}},
                    "pack": {"businessKey": {"quantity": 1}},
                    "shippedPackQuantity": float(i),
                }
                for i in range(1, lines + 1)
            ],
            "links": [],
            "complete": lines <= 10,
        },
        "shippedContainers": {"data": [{"trackingNumber": f"1Z00{i}"} for i in range(1, containers + 1)]},
        **extra,
    }


def test_shipment_with_lines_carrier_and_multi_parcel_tracking():
    shipment = t.shipment(shipment_dto())
    assert (shipment.shipment_id, shipment.number, shipment.sales_order_number) == ("77", "1035", "C100-WH1")
    assert shipment.sales_order_id == "5203" and shipment.facility == "WH1"
    assert (shipment.carrier, shipment.service) == ("UPS", "UPS Ground")
    assert shipment.tracking_numbers == ("1Z001", "1Z002")  # header + each parcel, no repeats
    assert shipment.tracking_url == "https://www.ups.com/track?tracknum=1Z001"
    assert shipment.packages == 2 and shipment.shipped_units == 3
    assert [(ln.customer_line_number, ln.item, ln.quantity) for ln in shipment.lines] == [
        ("5501", "SKU-1", 1),
        ("5502", "SKU-2", 2),
    ]
    assert shipment.shipped_at == datetime(2026, 9, 2, 8, tzinfo=UTC)
    assert shipment.updated_at == datetime(2026, 9, 2, 6, 5, tzinfo=UTC)
    assert t.is_shipped(shipment)


def test_shipment_nested_lines_at_the_cap_are_not_trusted():
    dto = shipment_dto(lines=10)
    assert t.nested_rows(dto, "shipmentLines") is None
    assert t.shipment(dto).lines == ()


def test_zero_unit_label_shipment_is_not_shipped_for_centra():
    dto = shipment_dto(lines=1)
    dto["shipmentLines"]["data"][0]["shippedPackQuantity"] = 0
    assert not t.is_shipped(t.shipment(dto))


def test_xml_shaped_json_nil_single_objects_and_string_numbers():
    dto = {
        "self": {"id": "88"},
        "number": {"@nil": "true"},
        "shipmentNumber": "2001",
        "shipmentStatus": "Shipped",
        "orderHeaders": {"orderHeader": {"id": "9", "businessKey": {"number": "C7-WH2"}}},  # one, not a list
        "trackingNumber": {"@nil": "true"},
        "shippedContainers": {"shippedContainer": {"trackingNumber": "PN123"}},
        "totalPackages": "1",
        "shipFromFacility": {"@nil": "true"},
        "facility": "WH2",
    }
    lines = [t.shipment_line({"customerLineNumber": "77", "itemNumber": "SKU-9", "shippedPackQuantity": "3.0"})]
    shipment = t.shipment(dto, lines)
    assert (shipment.shipment_id, shipment.number, shipment.sales_order_number) == ("88", "2001", "C7-WH2")
    assert shipment.tracking_numbers == ("PN123",) and shipment.packages == 1 and shipment.facility == "WH2"
    assert shipment.shipped_units == 3 and shipment.carrier == "" and shipment.shipped_at is None


def test_missing_identity_is_a_clear_malformed_payload():
    with pytest.raises(MalformedPayload):
        t.shipment({"status": "Shipped"})
    with pytest.raises(MalformedPayload):
        t.sales_order({"orderStatus": "New"})
    with pytest.raises(MalformedPayload):
        t.page("not a collection")


def test_item_and_facility_responses():
    item = t.item(
        {
            "self": {"id": 5},
            "number": "SKU-1",
            "name": "Tee",
            "colorName": "Black",
            "size": "M",
            "styleNumber": "TEE",
            "weight": {"weight": 300, "units": "g"},
            "originCountry": "PT",
            "upcs": {"data": [{"value": "7350000000017"}], "links": [], "complete": True},
            "hsCodes": {"data": [{"code": "610910", "country": {"businessKey": {"code": "PT"}}}]},
            "salesEnabledFlag": False,
        }
    )
    assert (item.number, item.upc, item.colour, item.size, item.style) == (
        "SKU-1",
        "7350000000017",
        "Black",
        "M",
        "TEE",
    )
    assert item.weight_kg == Decimal("0.3") and item.hs_code == "610910" and not item.active
    facility = t.facility({"self": {"id": 3}, "number": "WH1", "name": "Main", "address": {"country": "SE"}})
    assert facility == t.FacilityRecord("WH1", "Main", "3", "SE")


V1 = {
    "enterpriseInventory": [
        {
            "itemNumber": "SKU-1",
            "itemId": 1,
            "totalOnHandQty": 12,
            "atpQty": 7,
            "facilities": [
                {"facility": "WH1", "totalOnHandQty": 10, "atpQty": 6, "openOrderLineQty": 4},
                {"facility": "WH2", "totalOnHandQty": "2", "atpQty": "-1", "openOrderLineQty": "3"},
            ],
        },
        {"itemNumber": "SKU-2", "facilities": {"facility": "WH1", "totalOnHandQty": 5}},  # single object, no ATP
    ]
}


def test_v1_availability_per_facility_with_negative_atp_and_unknown_measures():
    as_of = datetime(2026, 9, 1, tzinfo=UTC)
    readings, problems = t.stock_readings(V1, as_of=as_of)
    assert [(r.item, r.facility, r.on_hand, r.atp, r.open_order_quantity) for r in readings] == [
        ("SKU-1", "WH1", 10, 6, 4),
        ("SKU-1", "WH2", 2, -1, 3),
    ]
    assert all(r.as_of == as_of for r in readings)
    assert problems == ["SKU-2 @ WH1: atpQty not reported"]  # omitted means unknown, never 0


def test_v1_availability_wrapped_in_a_list_filtered_by_facility():
    readings, _ = t.stock_readings([V1], facilities=["WH2"])
    assert [(r.item, r.facility) for r in readings] == [("SKU-1", "WH2")]


def test_v1_availability_as_xml_and_json_labelled_xml():
    xml = (
        b"<?xml version='1.0'?><enterpriseInventories><enterpriseInventory><itemNumber>SKU-1</itemNumber>"
        b"<facilities><facility><facility>WH1</facility><totalOnHandQty>3</totalOnHandQty><atpQty>2</atpQty>"
        b"</facility></facilities></enterpriseInventory></enterpriseInventories>"
    )
    readings, problems = t.stock_readings(decode_body(xml, "application/xml"))
    assert [(r.item, r.facility, r.on_hand, r.atp) for r in readings] == [("SKU-1", "WH1", 3, 2)] and not problems
    labelled = decode_body(json.dumps(V1).encode(), "application/xml")
    assert len(t.stock_readings(labelled)[0]) == 2


def test_v1_inventory_full():
    payload = {
        "itemInventory": [
            {
                "itemNumber": "SKU-1",
                "facilityInventory": {
                    "facility": "WH1",
                    "inventory": {"total": 9, "availableToPromise": 4, "allocated": 5},
                },
            }
        ]
    }
    (reading,) = t.inventory_changes(payload)
    assert (reading.item, reading.facility, reading.on_hand, reading.atp) == ("SKU-1", "WH1", 9, 4)


@pytest.mark.parametrize(
    ("content", "transient"),
    [
        (b"", True),
        (b"   ", True),
        (b'{"data": [{"id": 1', True),
        (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", True),
        (b"<html><head><title>Maintenance</title></head></html>", True),
        (b"OK", False),
    ],
)
def test_unreadable_bodies_are_classified(content, transient):
    with pytest.raises(MalformedPayload) as caught:
        decode_body(content, "application/json")
    assert caught.value.transient is transient


def test_error_bodies_name_the_field():
    errors = t.user_errors(
        {"errors": [{"errorMessage": "salesOrder.shipToContact.lastName size must be between 0 and 30"}]}
    )
    assert errors[0].path == "salesOrder.shipToContact.lastName"
    unknown = t.user_errors({"errors": [{"errorMessage": "Item with business key number = [SKU-9]"}]})
    assert unknown[0].path == "item.number"
    assert t.unknown_items(Permanent("x", user_errors=unknown)) == ["SKU-9"]
    alt = t.user_errors(
        {"error_messages": ["Order status updates are not accepted for order at this API Endpoint"], "pid": 1}
    )
    assert t.status_refused(Permanent("x", user_errors=alt))
    assert t.user_errors({"errors": {"error": {"errorMessage": "a.b must not be null"}}})[0].path == "a.b"


def test_webhook_hints_from_v1_shapes():
    v1_json = {
        "event": "shipment.shipped",
        "shipment": {"id": 12, "shipmentNumber": "1040", "orders": {"order": {"orderNumber": "C1-WH1"}}},
    }
    (hint,) = t.shipment_hints(v1_json)
    assert hint == t.ShipmentHint("12", "1040", ("C1-WH1",))
    batch = {"shipments": {"shipment": [{"shipmentNumber": "1"}, {"shipmentNumber": "2"}, {"foo": "bar"}]}}
    assert [h.shipment_number for h in t.shipment_hints(batch)] == ["1", "2"]


def test_import_outcomes_read_every_inner_status_of_a_multistatus():
    payload = {
        "multistatus": {
            "response": [
                {"status": "HTTP/1.1 201 Created", "href": "https://x/integration/BU1/orders/Sales Order/C1-WH1"},
                {
                    "status": "HTTP/1.1 409 Conflict",
                    "entity": "Sales Order C2-WH1",
                    "description": "Order [Sales Order C2-WH1] already exists",
                },
                {
                    "status": "HTTP/1.1 409 Conflict",
                    "entity": "Sales Order C3-WH1",
                    "errors": {"error": [{"message": "The resource was updated by a concurrent request."}]},
                },
                {
                    "status": "HTTP/1.1 404 Not Found",
                    "entity": "Sales Order C4-WH1",
                    "description": "Item with business key number = [NOPE] not found",
                },
                {"status": "HTTP/1.1 201 Created", "entity": "Sales Order SOMEONE-ELSES"},
            ]
        }
    }
    found = t.import_outcomes(payload, ["C1-WH1", "C2-WH1", "C3-WH1", "C4-WH1", "C5-WH1"])
    assert found["C1-WH1"].created
    assert found["C2-WH1"].exists and not found["C2-WH1"].transient
    assert found["C3-WH1"].transient and not found["C3-WH1"].exists  # a concurrent write is no proof it exists
    assert t.unknown_items(t.import_refusal(found["C4-WH1"])) == ["NOPE"]
    assert "C5-WH1" not in found and "SOMEONE-ELSES" not in found  # unmentioned: outcome unknown


def test_import_outcomes_in_request_order_when_entities_are_not_named():
    payload = {"response": [{"status": "HTTP/1.1 201 Created"}, {"status": "HTTP/1.1 400 Bad Request"}]}
    found = t.import_outcomes(payload, ["A", "B"])
    assert found["A"].created and found["B"].status == 400
