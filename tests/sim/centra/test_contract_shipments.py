"""Contract: shipments (create/capture/update/complete), order status flow, stock decrement, flags, paging."""

from __future__ import annotations

from typing import Any

from tests.sim.centra.conftest import Centra

CREATE = """mutation($n: Int!, $lines: [ShipmentLineInput!], $capture: Boolean, $paid: Boolean) {
  createShipment(input: {order: {number: $n}, lines: $lines, isGoodToGo: true, capture: $capture, isPaid:
  $paid}) {
    shipment { id number isCaptured isPaid order { status } } userErrors { message path } userWarnings {
    message } } }"""
COMPLETE = """mutation($id: Int!, $at: DateTimeTz) { completeShipment(id: $id, input: {shippedAt: $at,
sendEmail: true,
  shipmentInfo: {carrier: "DHL", service: "Express", trackingNumber: "TRK1", packagesNumber: 1}}) {
  shipment { isShipped trackingNumber carrierInformation { carrierName serviceName } numberOfPackages
  order { status } } userErrors { message path } } }"""


def _world(centra: Centra, quantity: int = 3) -> tuple[str, dict[str, Any]]:
    sku = centra.seed(1, 1, 1)[0]["sku"]
    centra.stock(1, {sku: 10})
    return sku, centra.order([(sku, quantity)])


def _create(centra: Centra, order: dict[str, Any], quantity: int, **kw: Any) -> dict[str, Any]:
    lines = [{"orderLine": {"id": order["lines"][0]["id"]}, "quantity": quantity}]
    return centra.data(CREATE, {"n": order["number"], "lines": lines, **kw})["createShipment"]


def test_partial_shipments_move_the_order_to_processing_then_shipped(centra: Centra) -> None:
    sku, order = _world(centra)
    first = _create(centra, order, 2, capture=True)
    assert first["userErrors"] == [] and first["shipment"]["number"] == f"{order['number']}-1"
    assert first["shipment"]["isCaptured"] and first["shipment"]["order"]["status"] == "PROCESSING"
    done = centra.data(COMPLETE, {"id": first["shipment"]["id"]})["completeShipment"]
    assert done["shipment"]["isShipped"] and done["shipment"]["order"]["status"] == "PROCESSING"
    assert done["shipment"]["carrierInformation"] == {"carrierName": "DHL", "serviceName": "Express"}
    assert centra.level(sku, 1) == {
        **centra.level(sku, 1),
        "physical": 8,
        "allocated": 1,
        "freeToAllocate": 7,
    }
    second = _create(centra, order, 1, capture=True)
    assert second["shipment"]["number"] == f"{order['number']}-2"
    final = centra.data(COMPLETE, {"id": second["shipment"]["id"]})["completeShipment"]
    assert final["shipment"]["order"]["status"] == "SHIPPED"
    assert centra.level(sku, 1) == {
        **centra.level(sku, 1),
        "physical": 7,
        "allocated": 0,
        "freeToAllocate": 7,
    }
    truth = centra.ctl("GET", "/truth")
    assert [s["emailSent"] for s in truth["shipments"]] == [True, True]
    assert truth["orders"][0]["lines"][0]["shippedQuantity"] == 3


def test_create_shipment_validates_lines_and_changes_nothing_on_error(centra: Centra) -> None:
    _sku, order = _world(centra)
    too_many = _create(centra, order, 4)
    assert too_many["shipment"] is None and too_many["userErrors"][0]["path"] == [
        "input",
        "lines",
        "0",
        "quantity",
    ]
    unknown = centra.data(CREATE, {"n": order["number"], "lines": [{"orderLine": {"id": 999}, "quantity": 1}]})
    assert unknown["createShipment"]["userErrors"][0]["path"] == ["input", "lines", "0", "orderLine"]
    assert centra.ctl("GET", "/truth")["shipments"] == []
    assert centra.ctl("GET", f"/orders/{order['number']}")["status"] == "CONFIRMED"


def test_no_deduplication_a_repeated_create_makes_another_shipment(centra: Centra) -> None:
    _sku, order = _world(centra)
    numbers = [_create(centra, order, 1)["shipment"]["number"] for _ in range(2)]
    assert numbers == [f"{order['number']}-1", f"{order['number']}-2"]


def test_failed_capture_is_a_warning_on_create_and_an_error_on_capture(centra: Centra) -> None:
    _sku, order = _world(centra)
    centra.ctl("PUT", "/capture", {"mode": "fail"})
    created = _create(centra, order, 1, capture=True)
    assert created["userErrors"] == [] and "Capture failed" in created["userWarnings"][0]["message"]
    assert created["shipment"]["isCaptured"] is False and created["shipment"]["isPaid"] is False
    capture = """mutation($id: Int!) { captureShipment(id: $id) { shipment { isCaptured } paymentHistoryEntry
      { status entryType } userErrors { message } } }"""
    failed = centra.data(capture, {"id": created["shipment"]["id"]})["captureShipment"]
    assert failed["userErrors"] and failed["shipment"] is None
    incomplete = centra.data(COMPLETE, {"id": created["shipment"]["id"]})["completeShipment"]
    assert "not paid" in incomplete["userErrors"][0]["message"]
    centra.ctl("PUT", "/capture", {"mode": "pending"})
    pending = centra.data(capture, {"id": created["shipment"]["id"]})["captureShipment"]
    assert pending["paymentHistoryEntry"] == {"status": "PENDING", "entryType": "CAPTURE_REQUEST"}
    assert pending["shipment"]["isCaptured"] is False
    centra.ctl("POST", f"/shipments/{created['shipment']['id']}/settle-capture", {"success": True})
    centra.ctl("PUT", "/capture", {"mode": "success"})
    ok = centra.data(COMPLETE, {"id": created["shipment"]["id"]})["completeShipment"]
    assert ok["userErrors"] == [] and ok["shipment"]["isShipped"]


def test_complete_requires_good_to_go_and_rejects_future_shipped_at(centra: Centra) -> None:
    _sku, order = _world(centra)
    shipment = _create(centra, order, 1, paid=True)["shipment"]
    future = centra.data(COMPLETE, {"id": shipment["id"], "at": "2999-01-01T00:00:00+00:00"})["completeShipment"]
    assert future["userErrors"][0]["path"] == ["input", "shippedAt"]
    relative = centra.data(COMPLETE, {"id": shipment["id"], "at": "-1 hour"})["completeShipment"]
    assert relative["userErrors"] == []
    again = centra.data(COMPLETE, {"id": shipment["id"]})["completeShipment"]
    assert "already completed" in again["userErrors"][0]["message"]
    not_ready = centra.data(
        """mutation($n: Int!, $l: Int!) { createShipment(input: {order: {number: $n},
      lines: [{orderLine: {id: $l}, quantity: 1}], isPaid: true}) { shipment { id } } }""",
        {"n": order["number"], "l": order["lines"][0]["id"]},
    )["createShipment"]["shipment"]
    assert (
        "not good to go"
        in centra.data(COMPLETE, {"id": not_ready["id"]})["completeShipment"]["userErrors"][0]["message"]
    )


def test_update_shipment_stores_external_id_and_shipments_filter_by_it(centra: Centra) -> None:
    _sku, order = _world(centra)
    shipment = _create(centra, order, 1)["shipment"]
    centra.data(
        'mutation($id: Int!) { updateShipment(id: $id, input: {externalId: "DEP-77"}) { userErrors { message } } }',
        {"id": shipment["id"]},
    )
    found = centra.data('{ shipments(where: {externalId: "DEP-77"}) { id number externalId } }')["shipments"]
    assert found == [{"id": shipment["id"], "number": shipment["number"], "externalId": "DEP-77"}]
    assert centra.data('{ shipments(where: {externalId: "nope"}) { id } }')["shipments"] == []


def test_pending_order_cannot_be_shipped(centra: Centra) -> None:
    sku = centra.seed(1, 1, 1)[0]["sku"]
    centra.stock(1, {sku: 5})
    order = centra.order([(sku, 1)], confirm=False)
    assert _create(centra, order, 1)["userErrors"][0]["path"] == ["input", "order"]


def test_hold_and_payment_flags_are_toggled_and_filterable(centra: Centra) -> None:
    sku = centra.seed(1, 1, 1)[0]["sku"]
    centra.stock(1, {sku: 9})
    held = centra.order([(sku, 1)], isOnHold=True, holdReason="WAITING_FOR_FRAUD_CHECK")
    unpaid = centra.order([(sku, 1)], isWaitingForPayment=True)
    plain = centra.order([(sku, 1)])
    query = "query($w: OrderFilter) { orders(where: $w) { number isOnHold orderHoldReason isWaitingForPayment } }"
    eligible = centra.data(query, {"w": {"status": ["CONFIRMED"], "isOnHold": False, "isWaitingForPayment": False}})
    assert [o["number"] for o in eligible["orders"]] == [plain["number"]]
    on_hold = centra.data(query, {"w": {"isOnHold": True}})["orders"]
    assert on_hold == [
        {
            "number": held["number"],
            "isOnHold": True,
            "orderHoldReason": "WAITING_FOR_FRAUD_CHECK",
            "isWaitingForPayment": False,
        }
    ]
    centra.ctl("POST", f"/orders/{unpaid['number']}/flags", {"isWaitingForPayment": False})
    centra.ctl("POST", f"/orders/{held['number']}/flags", {"isOnHold": False})
    eligible = centra.data(query, {"w": {"isOnHold": False, "isWaitingForPayment": False}})["orders"]
    assert len(eligible) == 3


def test_orders_paging_and_order_connection_cursors(centra_unlimited: Centra) -> None:
    centra = centra_unlimited
    sku = centra.seed(1, 1, 1)[0]["sku"]
    centra.stock(1, {sku: 50})
    numbers = [centra.order([(sku, 1)])["number"] for _ in range(7)]
    page2 = centra.data("{ orders(limit: 3, page: 2, sort: [number_ASC]) { number } }")["orders"]
    assert [o["number"] for o in page2] == numbers[3:6]
    bad = centra.gql("{ orders(limit: 500) { number } }")
    assert bad.status_code == 200 and "limit" in bad.json()["errors"][0]["message"]
    seen: list[int] = []
    after = None
    query = """query($after: String) { orderConnection(first: 3, after: $after, sort: [updatedAt_ASC],
      where: {updatedAt: {from: "2000-01-01T00:00:00Z"}}) { totalCount
      pageInfo { hasNextPage endCursor } edges { cursor node { number } } } }"""
    while True:
        conn = centra.data(query, {"after": after})["orderConnection"]
        assert conn["totalCount"] >= 7
        seen += [e["node"]["number"] for e in conn["edges"]]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
        if len(seen) == 3:  # a change while paging must not make the cursor skip or repeat unchanged rows
            centra.order([(sku, 1)])
    assert seen[:7] == numbers and len(seen) == len(set(seen))
