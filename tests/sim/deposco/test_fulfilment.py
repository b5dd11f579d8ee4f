"""The warehouse floor: release → pick → ship, outbound shipments with tracking, polling filters, stock."""

from __future__ import annotations

from .conftest import order_payload


def _order(deposco, api, number, lines, facility="WH1"):
    response = api.post("/latest/orders/salesOrders", json=order_payload(number, lines, facility=facility))
    assert response.status_code == 200, response.text
    return response.json()


def _stock(deposco, sku, facility="WH1"):
    return deposco.control("GET", "/inventory", params={"facility": facility, "itemNumber": sku})


def test_shipping_creates_a_tracked_outbound_shipment_and_decrements_on_hand(seeded):
    seeded.control(
        "PUT",
        "/stock",
        json={
            "rows": [
                {"facility": "WH1", "itemNumber": "SKU-A", "onHand": 10},
                {"facility": "WH1", "itemNumber": "SKU-B", "onHand": 4},
            ]
        },
    )
    api = seeded.api()
    order = _order(seeded, api, "C500-WH1", [("SKU-A", 3), ("SKU-B", 4)])
    for step in ("Released", "Picking"):
        assert seeded.control("POST", "/orders/C500-WH1/advance", json={"to": step})["status"] == step
    shipped = seeded.control("POST", "/orders/C500-WH1/advance", json={"to": "Ship Complete"})
    assert shipped["status"] == "Ship Complete"
    assert _stock(seeded, "SKU-A")["totalOnHandQty"] == 7 and _stock(seeded, "SKU-B")["totalOnHandQty"] == 0

    shipment = api.get(f"/latest/shipments/outboundShipments/{shipped['shipment']['id']}").json()
    assert shipment["status"] == "Shipped"
    assert shipment["orderHeaders"]["data"][0]["id"] == order["self"]["id"]
    assert shipment["shipVendor"] == "UPS" and shipment["shipVia"] == "UPS Ground"
    assert shipment["trackingNumber"].startswith("1Z")
    assert shipment["trackingUrl"] == "https://www.ups.com/track?tracknum="  # a base URL: append the number
    assert shipment["totalPackages"] == len(shipment["shippedContainers"]["data"]) == 2  # 7 units, 5 per parcel
    assert all(c["trackingNumber"] for c in shipment["shippedContainers"]["data"])
    lines = {
        ln["orderLineDetails"]["customerLineNumber"]: ln["shippedPackQuantity"]
        for ln in shipment["shipmentLines"]["data"]
    }
    assert lines == {"5500": 3, "5501": 4}
    sub = api.get(f"/latest/shipments/outboundShipments/{shipment['self']['id']}/shipmentLines").json()
    assert sorted(ln["number"] for ln in sub["data"]) == sorted(
        ln["number"] for ln in shipment["shipmentLines"]["data"]
    )
    one = sub["data"][0]
    assert api.get(one["self"]["href"].split(seeded.base_url)[1]).json()["number"] == one["number"]
    detail = api.get(f"/latest/orders/salesOrders/{order['self']['id']}").json()
    assert detail["orderStatus"] == "Ship Complete"
    assert {ln["orderLineStatus"] for ln in detail["orderLines"]["data"]} == {"Complete"}
    assert detail["shipments"]["data"][0]["id"] == shipment["self"]["id"]
    truth = seeded.control("GET", "/truth")
    assert truth["orders"]["C500-WH1"]["shippedUnits"] == 7 and truth["ordersHeld"] == []


def test_partial_shipment_leaves_the_order_partially_shipped(seeded):
    seeded.control("PUT", "/stock", json={"facility": "WH1", "itemNumber": "SKU-A", "onHand": 10})
    api = seeded.api()
    _order(seeded, api, "C501-WH1", [("SKU-A", 5)])
    first = seeded.control("POST", "/orders/C501-WH1/advance", json={"to": "Ship Complete", "lines": {"C501-WH1-1": 2}})
    assert first["status"] == "Partially Shipped"
    stock = _stock(seeded, "SKU-A")
    assert (stock["totalOnHandQty"], stock["openOrderLineQty"], stock["atpQty"]) == (8, 3, 5)
    second = seeded.control("POST", "/orders/C501-WH1/advance", json={"to": "Ship Complete"})
    assert second["status"] == "Ship Complete"
    shipments = api.get("/latest/shipments/outboundShipments", params={"orderNumber": "C501-WH1"}).json()["data"]
    assert sorted(s["shipmentLines"]["data"][0]["shippedPackQuantity"] for s in shipments) == [2, 3]


def test_short_stock_ships_what_exists_and_records_the_shortage(seeded):
    seeded.control("PUT", "/stock", json={"facility": "WH1", "itemNumber": "SKU-A", "onHand": 1})
    api = seeded.api()
    _order(seeded, api, "C502-WH1", [("SKU-A", 3)])
    result = seeded.control("POST", "/orders/C502-WH1/advance", json={"to": "Ship Complete"})
    assert result["status"] == "Partially Shipped"
    truth = seeded.control("GET", "/truth")["orders"]["C502-WH1"]
    assert truth["shippedUnits"] == 1 and truth["shortUnits"] == 2 and truth["openUnits"] == 2


def test_shipment_polling_by_updated_after_and_shipped_after(seeded):
    seeded.control("PUT", "/stock", json={"facility": "WH1", "itemNumber": "SKU-A", "onHand": 50})
    api = seeded.api()
    for n in ("C600-WH1", "C601-WH1"):
        _order(seeded, api, n, [("SKU-A", 1)])
    seeded.control("POST", "/orders/C600-WH1/advance", json={"to": "Ship Complete"})
    cursor = api.get("/latest/shipments/outboundShipments").json()["data"][0]["updatedDate"]
    assert api.get("/latest/shipments/outboundShipments", params={"updatedAfter": cursor}).json()["data"] == []
    seeded.control("POST", "/clock/advance", json={"seconds": 2})
    later = seeded.control("POST", "/orders/C601-WH1/advance", json={"to": "Ship Complete"})
    for name in ("updatedAfter", "shippedAfter"):
        fresh = api.get("/latest/shipments/outboundShipments", params={name: cursor}).json()["data"]
        assert [s["number"] for s in fresh] == [later["shipment"]["number"]]
    assert len(api.get("/latest/shipments/outboundShipments", params={"status": "New"}).json()["data"]) == 2
    by_customer = api.get("/latest/shipments/outboundShipments", params={"customerOrderNumber": "600"}).json()
    assert [s["orderHeaders"]["data"][0]["businessKey"]["number"] for s in by_customer["data"]] == ["C600-WH1"]


def test_tracking_added_later_bumps_updated_date(seeded):
    seeded.control("PUT", "/stock", json={"facility": "WH1", "itemNumber": "SKU-A", "onHand": 5})
    api = seeded.api()
    _order(seeded, api, "C700-WH1", [("SKU-A", 1)])
    shipped = seeded.control("POST", "/orders/C700-WH1/advance", json={"to": "Ship Complete", "tracking": False})
    path = f"/latest/shipments/outboundShipments/{shipped['shipment']['id']}"
    before = api.get(path).json()
    assert before["trackingNumber"] is None
    seeded.control("POST", "/clock/advance", json={"seconds": 3})
    seeded.control("POST", f"/shipments/{shipped['shipment']['id']}/tracking")
    after = api.get(path).json()
    assert after["trackingNumber"] and after["updatedDate"] > before["updatedDate"]
    polled = api.get("/latest/shipments/outboundShipments", params={"updatedAfter": before["updatedDate"]}).json()
    assert [s["self"]["id"] for s in polled["data"]] == [shipped["shipment"]["id"]]


def test_zero_quantity_label_shipment(seeded):
    api = seeded.api()
    _order(seeded, api, "C701-WH1", [("SKU-A", 1)])
    label = seeded.control("POST", "/orders/C701-WH1/label")
    shipment = api.get(f"/latest/shipments/outboundShipments/{label['id']}").json()
    assert shipment["status"] == "Shipped"
    assert sum(ln["shippedPackQuantity"] for ln in shipment["shipmentLines"]["data"]) == 0


def test_nested_shipment_lines_cap_at_10_and_the_sub_resource_pages(seeded):
    seeded.control("POST", "/catalog", json={"products": 3, "variants": 2, "sizes": 4, "stock": {"WH1": 5}})
    skus = sorted(seeded.sim.state.item_ids)[:24]
    api = seeded.api()
    _order(seeded, api, "C800-WH1", [(s, 1) for s in skus])
    shipped = seeded.control("POST", "/orders/C800-WH1/advance", json={"to": "Ship Complete"})
    shipment = api.get(f"/latest/shipments/outboundShipments/{shipped['shipment']['id']}").json()
    assert len(shipment["shipmentLines"]["data"]) == 10 and shipment["shipmentLines"]["links"] == []
    page = api.get(
        f"/latest/shipments/outboundShipments/{shipment['self']['id']}/shipmentLines", params={"pageSize": 10}
    ).json()
    total = []
    while True:
        total += page["data"]
        nexts = [link["href"] for link in page["links"] if link["rel"] == "next"]
        if not nexts:
            break
        page = api.get(nexts[0]).json()
    assert len(total) == 24


def test_auto_fulfilment_on_the_simulated_clock(seeded):
    seeded.control("PUT", "/stock", json={"facility": "WH1", "itemNumber": "SKU-A", "onHand": 5})
    seeded.control("PUT", "/warehouse/auto", json={"releaseAfter": 60, "pickAfter": 30, "shipAfter": 30})
    api = seeded.api()
    order = _order(seeded, api, "C900-WH1", [("SKU-A", 2)])
    status = f"/latest/orders/salesOrders/{order['self']['id']}/status"
    seeded.control("POST", "/clock/advance", json={"seconds": 61})
    assert api.get(status).json()["orderStatus"] == "Released"
    seeded.control("POST", "/clock/advance", json={"seconds": 31})
    assert api.get(status).json()["orderStatus"] == "Picking"
    seeded.control("POST", "/clock/advance", json={"seconds": 31})
    assert api.get(status).json()["orderStatus"] == "Ship Complete"
    assert _stock(seeded, "SKU-A")["totalOnHandQty"] == 3
