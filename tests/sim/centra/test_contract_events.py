"""Contract: the events queue (subscribe, oldest first, current object, repeat until confirmed, per
integration)."""

from __future__ import annotations

from tests.sim.centra.conftest import Centra

SUBSCRIBE = """mutation { setEventListeners(input: [{objectType: Order}, {objectType: Shipment}]) {
  eventListeners { objectType changeTypes } userErrors { message } } }"""
EVENTS = """query($limit: Int) { events(where: {objectType: [Order]}, limit: $limit) { id objectType
changeType
  objectReference object { ... on Order { number status } } } }"""
CONFIRM = "mutation($ids: [Int!]!) { confirmEvents(input: {eventsIds: $ids}) { userErrors { message } } }"


def test_events_are_oldest_first_current_state_and_repeat_until_confirmed(centra: Centra) -> None:
    sku = centra.seed(1, 1, 1)[0]["sku"]
    centra.stock(1, {sku: 10})
    first = centra.data(SUBSCRIBE)["setEventListeners"]["eventListeners"]
    again = centra.data(SUBSCRIBE)["setEventListeners"]["eventListeners"]
    assert first == again and len(first) == 2 and len(first[0]["changeTypes"]) == 5  # idempotent, all types
    order = centra.order([(sku, 2)], confirm=False)
    centra.data(
        "mutation($n: Int!) { confirmOrder(input: {order: {number: $n}}) { order { status } } }",
        {"n": order["number"]},
    )
    events = centra.data(EVENTS)["events"]
    assert [e["changeType"] for e in events] == ["CREATED", "UPDATED"]
    assert events[0]["id"] < events[1]["id"]
    assert all(e["objectReference"] == order["number"] for e in events)  # orders are referenced by number
    assert all(e["object"] == {"number": order["number"], "status": "CONFIRMED"} for e in events)  # current state
    assert centra.data(EVENTS)["events"] == events  # unconfirmed events come back
    assert len(centra.data(EVENTS, {"limit": 1})["events"]) == 1
    centra.data(CONFIRM, {"ids": [events[0]["id"]]})
    assert [e["id"] for e in centra.data(EVENTS)["events"]] == [events[1]["id"]]
    warned = centra.data("mutation { confirmEvents(input: {eventsIds: [999999]}) { userWarnings { message } } }")
    assert warned["confirmEvents"]["userWarnings"]


def test_deletion_emits_deleted_with_null_object(centra: Centra) -> None:
    sku = centra.seed(1, 1, 1)[0]["sku"]
    centra.stock(1, {sku: 10})
    centra.data(SUBSCRIBE)
    order = centra.order([(sku, 1)])
    centra.ctl("DELETE", f"/orders/{order['number']}")
    events = centra.data(EVENTS)["events"]
    assert [(e["changeType"], e["object"]) for e in events] == [
        ("CREATED", None),
        ("DELETED", None),
    ]  # the order no longer exists: current state is null
    assert centra.level(sku, 1)["allocated"] == 0


def test_shipment_completion_emits_completed_events(centra: Centra) -> None:
    sku = centra.seed(1, 1, 1)[0]["sku"]
    centra.stock(1, {sku: 10})
    centra.data(SUBSCRIBE)
    order = centra.order([(sku, 1)])
    shipment = centra.data(
        """mutation($n: Int!, $l: Int!) { createShipment(input: {order: {number: $n},
      lines: [{orderLine: {id: $l}, quantity: 1}], isGoodToGo: true, capture: true}) { shipment { id } } }""",
        {"n": order["number"], "l": order["lines"][0]["id"]},
    )["createShipment"]["shipment"]
    centra.data("mutation($id: Int!) { completeShipment(id: $id) { userErrors { message } } }", {"id": shipment["id"]})
    events = centra.data("""{ events(where: {changeType: [COMPLETED]}) { objectType objectReference
      object { ... on Shipment { id isShipped } ... on Order { number status } } } }""")["events"]
    assert {(e["objectType"], e["objectReference"]) for e in events} == {
        ("Shipment", shipment["id"]),
        ("Order", order["number"]),
    }


def test_unset_purges_queued_events_and_queues_are_per_integration(centra: Centra) -> None:
    sku = centra.seed(1, 1, 1)[0]["sku"]
    centra.stock(1, {sku: 10})
    centra.ctl("POST", "/tokens", {"token": "other", "integrationName": "erp"})
    centra.data(SUBSCRIBE)
    centra.order([(sku, 1)])
    other = centra.gql(EVENTS, token="other").json()["data"]["events"]
    assert other == []  # the ERP integration has no subscription, so no queue entries
    assert len(centra.data(EVENTS)["events"]) == 1
    listeners = centra.data("""mutation { unsetEventListeners(input: [{objectType: Order}]) {
      eventListeners { objectType } } }""")["unsetEventListeners"]["eventListeners"]
    assert listeners == []
    assert centra.data(EVENTS)["events"] == []
    assert [
        x["objectType"] for x in centra.data("{ eventListeners { objectType integrationName } }")["eventListeners"]
    ] == ["Shipment"]
