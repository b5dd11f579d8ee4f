"""Per-facility inventory: ATP = on hand - open order demand (every open status), and the V1 reads."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from .conftest import order_payload

AVAILABILITY = "/integration/BU1/enterpriseinventory/BU1/availability"


def _facility_row(v1, sku, facility, **params):
    body = v1.get(AVAILABILITY, params={"itemNumbers": sku, **params}).json()
    (item,) = body["enterpriseInventory"]
    return next(f for f in item["facilities"] if f["facility"] == facility)


def test_atp_nets_out_open_orders_of_every_open_status(seeded):
    seeded.control(
        "PUT",
        "/stock",
        json={
            "rows": [
                {"facility": "WH1", "itemNumber": "SKU-A", "onHand": 20},
                {"facility": "WH2", "itemNumber": "SKU-A", "onHand": 7},
            ]
        },
    )
    api, v1 = seeded.api(), seeded.v1()
    for number, qty in (("C1-WH1", 1), ("C2-WH1", 2), ("C3-WH1", 3), ("C4-WH1", 4)):
        assert api.post("/latest/orders/salesOrders", json=order_payload(number, [("SKU-A", qty)])).status_code == 200
    order_id = seeded.sim.state.order_ids["C2-WH1"]
    api.post(f"/latest/orders/salesOrders/{order_id}/status", params={"value": "Hold"})  # Hold: still open
    seeded.control("POST", "/orders/C3-WH1/advance", json={"to": "Released"})
    seeded.control("POST", "/orders/C4-WH1/advance", json={"to": "Picking"})
    row = _facility_row(v1, "SKU-A", "WH1", measures="totalOnHandQty,atpQty,openOrderLineQty")
    assert row == {"facility": "WH1", "totalOnHandQty": 20, "atpQty": 10, "openOrderLineQty": 10}
    assert _facility_row(v1, "SKU-A", "WH2")["atpQty"] == 7  # demand is per facility
    seeded.control("POST", "/orders/C4-WH1/advance", json={"to": "Ship Complete"})  # 4 shipped: on hand 16
    row = _facility_row(v1, "SKU-A", "WH1")
    assert (row["totalOnHandQty"], row["openOrderLineQty"], row["atpQty"]) == (16, 6, 10)  # ATP unchanged
    api.post(
        f"/latest/orders/salesOrders/{seeded.sim.state.order_ids['C1-WH1']}/status",
        params={"value": "Canceled"},
    )
    assert _facility_row(v1, "SKU-A", "WH1")["atpQty"] == 11  # a cancellation frees demand


def test_other_channel_orders_receipts_and_adjustments_change_stock(seeded):
    v1 = seeded.v1()
    seeded.control("POST", "/receipts", json={"facility": "WH1", "lines": [{"itemNumber": "SKU-B", "quantity": 5}]})
    assert _facility_row(v1, "SKU-B", "WH1")["atpQty"] == 5
    other = seeded.control(
        "POST",
        "/otherChannelOrders",
        json={"facility": "WH1", "lines": [{"itemNumber": "SKU-B", "quantity": 4}]},
    )
    assert other["status"] == "New"
    assert _facility_row(v1, "SKU-B", "WH1")["atpQty"] == 1
    seeded.control(
        "POST",
        "/adjustments",
        json={"facility": "WH1", "itemNumber": "SKU-B", "quantity": -3, "reasonCode": "Damaged"},
    )
    row = _facility_row(v1, "SKU-B", "WH1")
    assert (row["totalOnHandQty"], row["atpQty"]) == (2, -2)  # ATP can go negative


def test_availability_returns_only_requested_and_configured_measures(seeded):
    seeded.control("PUT", "/stock", json={"facility": "WH1", "itemNumber": "SKU-A", "onHand": 3})
    v1 = seeded.v1()
    row = _facility_row(v1, "SKU-A", "WH1", measures="atpQty")
    assert row == {"facility": "WH1", "atpQty": 3}
    seeded.control("PUT", "/v1", json={"measures": ["totalOnHandQty"]})
    body = v1.get(AVAILABILITY, params={"measures": "totalOnHandQty,atpQty"}).json()
    item = next(i for i in body["enterpriseInventory"] if i["itemNumber"] == "SKU-A")
    assert "atpQty" not in item and item["totalOnHandQty"] == 3  # unconfigured: omitted, not 0
    assert {f["facility"] for f in item["facilities"]} == {"WH1", "WH2"}
    only = v1.get(AVAILABILITY, params={"facilityNumbers": "WH2", "itemNumbers": "SKU-A"}).json()
    assert [f["facility"] for f in only["enterpriseInventory"][0]["facilities"]] == ["WH2"]


def test_availability_json_can_be_labelled_as_xml(seeded):
    seeded.control("PUT", "/v1", json={"jsonAsXml": True})
    response = seeded.v1().get(AVAILABILITY)
    assert response.headers["content-type"].startswith("application/xml")
    assert response.json()["enterpriseInventory"]  # the body is JSON all the same: sniff it


def test_full_inventory_honours_start_activity_time_and_page_no(seeded):
    seeded.control("POST", "/catalog", json={"products": 2, "variants": 2, "sizes": 3, "stock": {"WH1": 4}})
    v1 = seeded.v1()
    first = v1.get("/integration/BU1/inventory/full", params={"pageNo": 1, "pageSize": 5}).json()["itemInventory"]
    second = v1.get("/integration/BU1/inventory/full", params={"pageNo": 2, "pageSize": 5}).json()["itemInventory"]
    assert len(first) == 5 and len(second) == 5
    assert first[0]["facilityInventory"]["inventory"] == {
        "total": 4,
        "availableToPromise": 4,
        "allocated": 0,
        "unallocated": 4,
    }
    now = seeded.control("GET", "/clock")["now"]
    seeded.control("POST", "/clock/advance", json={"seconds": 10})
    seeded.control("POST", "/adjustments", json={"facility": "WH1", "itemNumber": "SKU-A", "quantity": 2})
    from datetime import UTC, datetime

    since = datetime.fromtimestamp(now + 1, UTC).isoformat()
    changed = v1.get("/integration/BU1/inventory/full", params={"startActivityTime": since}).json()
    assert [r["itemNumber"] for r in changed["itemInventory"]] == ["SKU-A"]
    xml = seeded.client(auth=("lockstep", "s3cret")).get(
        "/integration/BU1/inventory/full", params={"startActivityTime": since}
    )
    assert xml.headers["content-type"].startswith("application/xml")
    assert ET.fromstring(xml.content).find("itemInventory/itemNumber").text == "SKU-A"


def test_item_atp_and_facility_inventory_follow_the_v1_xsds(seeded):
    seeded.control("PUT", "/stock", json={"facility": "WH1", "itemNumber": "SKU-A", "onHand": 6})
    seeded.api().post("/latest/orders/salesOrders", json=order_payload("C1-WH1", [("SKU-A", 2)]))
    v1 = seeded.v1()
    atp = v1.get("/integration/BU1/items/BU1/SKU-A/atps").json()
    row = atp["item-atp"][0]
    assert (row["itemNumber"], row["availableToPromise"], row["totalItems"]) == ("SKU-A", 4, 6)
    xml = seeded.client(auth=("lockstep", "s3cret")).get("/integration/BU1/items/BU1/SKU-A/atps")
    root = ET.fromstring(xml.content)
    assert root.tag == "itemATPDTOes" and root.find("item-atp").get("availableToPromise") == "4"
    facility = v1.get("/integration/BU1/inventory/BU1/facility/WH1").json()
    assert facility["facilityInventory"] == [
        {"businessUnit": "BU1", "facility": "WH1", "itemNumber": "SKU-A", "inventoryOnHandQty": 6}
    ]
    assert v1.get("/integration/BU1/items/BU1/NOPE/atps").status_code == 404


def test_the_adjustments_feed_lists_adjustments_only_newest_first_with_its_filters(seeded):
    """``/latest/inventory/inventoryAdjustments``: signed on-hand changes, id-descending, paged by ``searchId``
    links; receipts are not adjustments. Every response is checked against the reconstructed OpenAPI."""
    seeded.control("POST", "/receipts", json={"facility": "WH1", "lines": [{"itemNumber": "SKU-A", "quantity": 9}]})
    for facility, sku, qty, reason in (("WH1", "SKU-A", -2, "Damaged"), ("WH2", "SKU-B", 4, "Cycle Count")):
        seeded.control(
            "POST",
            "/adjustments",
            json={"facility": facility, "itemNumber": sku, "quantity": qty, "reasonCode": reason},
        )
    api = seeded.api()
    body = api.get("/latest/inventory/inventoryAdjustments", params={"businessUnit": "BU1"}).json()
    rows = body["data"]
    assert [
        (r["facility"]["businessKey"]["number"], r["item"]["businessKey"]["number"], r["quantity"]) for r in rows
    ] == [
        ("WH2", "SKU-B", 4),
        ("WH1", "SKU-A", -2),
    ]
    assert rows[0]["self"]["id"] > rows[1]["self"]["id"] and rows[0]["actionType"] == "Adjustment"
    assert rows[1]["reasonCode"] == "Damaged" and body["complete"] is True

    only = api.get("/latest/inventory/inventoryAdjustments", params={"facilityNumber": "WH1"}).json()["data"]
    assert [r["quantity"] for r in only] == [-2]
    first = api.get("/latest/inventory/inventoryAdjustments", params={"pageSize": 1}).json()
    assert first["complete"] is False and [r["quantity"] for r in first["data"]] == [4]
    follow = next(link["href"] for link in first["links"] if link["rel"] == "next")
    assert [r["quantity"] for r in api.get(follow).json()["data"]] == [-2]
    later = api.get("/latest/inventory/inventoryAdjustments", params={"createdAfter": rows[0]["createdDate"]})
    assert later.json()["data"] == []
    assert api.get("/latest/inventory/inventoryAdjustments", params={"createdAfter": "soon"}).status_code == 400
    assert seeded.api(scope="items/read").get("/latest/inventory/inventoryAdjustments").status_code == 403
