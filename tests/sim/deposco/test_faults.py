"""Faults Lockstep must survive: account-wide 429 (empty body), blank 200 on V1, 5xx, resets, 409, 207."""

from __future__ import annotations

import time

import httpx
import pytest

from .conftest import CLIENT_ID, CLIENT_SECRET, order_payload

AVAILABILITY = "/integration/BU1/enterpriseinventory/BU1/availability"


def test_throttle_is_account_wide_and_answers_429_with_an_empty_body(start_deposco):
    deposco = start_deposco(requests_per_second=4)
    api_a, api_b, v1 = deposco.api(), deposco.api(), deposco.v1()  # three "workers", one budget
    statuses = []
    for i in range(12):
        client = (api_a, api_b)[i % 2]
        statuses.append(client.get("/latest/facilities").status_code)
    statuses.append(v1.get(AVAILABILITY).status_code)
    throttled = [s for s in statuses if s == 429]
    assert statuses[:4] == [200] * 4  # the burst fits the budget
    assert len(throttled) >= 8
    response = api_a.get("/latest/items")
    assert response.status_code == 429 and response.content == b"" and "retry-after" not in response.headers
    counters = deposco.control("GET", "/counters")
    assert counters["throttled429"] == len(throttled) + 1
    time.sleep(0.6)  # the bucket refills at 4/s
    assert api_a.get("/latest/items").status_code == 200


def test_throttle_can_be_changed_at_run_time_and_send_retry_after(deposco):
    deposco.control("PUT", "/throttle", json={"requestsPerSecond": 1, "retryAfter": 2})
    api = deposco.api()
    assert api.get("/latest/items").status_code == 200
    limited = api.get("/latest/items")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2" and limited.content == b""
    deposco.control("PUT", "/throttle", json={"requestsPerSecond": 0})
    assert all(api.get("/latest/items").status_code == 200 for _ in range(10))


def test_blank_200_fault_on_v1(seeded):
    seeded.control(
        "PUT",
        "/faults",
        json={"operations": {"GET /integration/{code}/enterpriseinventory/{bu}/availability": {"blank_200": 1.0}}},
    )
    v1 = seeded.v1()
    blank = v1.get(AVAILABILITY)
    assert blank.status_code == 200 and blank.content == b""
    assert seeded.api().get("/latest/items").status_code == 200  # other operations unaffected
    seeded.control("PUT", "/faults", json={})
    assert v1.get(AVAILABILITY).json()["enterpriseInventory"]
    assert seeded.control("GET", "/counters")["faultsInjected"]["blank_200"] == 1


def test_5xx_reset_and_409_faults_per_operation(seeded):
    api = seeded.api()
    seeded.control(
        "PUT",
        "/faults",
        json={
            "operations": {
                "GET /items": {"error_5xx": 1.0, "error_status": 503},
                "GET /facilities": {"reset": 1.0},
                "POST /orders/salesOrders": {"conflict_409": 1.0},
            }
        },
    )
    failed = api.get("/latest/items")
    assert failed.status_code == 503 and failed.json()["errors"][0]["errorMessage"]
    with pytest.raises(httpx.TransportError):
        api.get("/latest/facilities")
    conflict = api.post("/latest/orders/salesOrders", json=order_payload("C1-WH1", [("SKU-A", 1)]))
    assert conflict.status_code == 409
    assert "concurrent request" in conflict.json()["errors"][0]["errorMessage"]
    assert "C1-WH1" not in seeded.sim.state.order_ids  # an injected 409 changes nothing


def test_v1_batch_order_import_answers_207_with_inner_409_for_a_duplicate(seeded):
    client = seeded.client(auth=(CLIENT_ID, CLIENT_SECRET), headers={"Accept": "application/json"})
    order = {
        "orderNumber": "V1-1",
        "orderType": "Sales Order",
        "shipFromFacility": "WH1",
        "customerOrderNumber": "77",
        "shipToAddress": {"firstName": "Ada", "line1": "Main 1", "country": "SE"},
        "orderLines": {"orderLine": {"lineNumber": "V1-1-1", "itemNumber": "SKU-A", "orderPackQuantity": "2"}},
    }
    first = client.post("/integration/BU1/orders", json={"order": [order]})
    assert first.status_code == 207
    assert first.json()["response"][0]["status"] == "HTTP/1.1 201 Created"
    again = client.post("/integration/BU1/orders", json={"order": [order, {**order, "orderNumber": "V1-2"}]})
    assert again.status_code == 207
    assert [r["status"] for r in again.json()["response"]] == [
        "HTTP/1.1 409 Conflict",
        "HTTP/1.1 201 Created",
    ]
    assert (
        seeded.control("GET", "/inventory", params={"facility": "WH1", "itemNumber": "SKU-A"})["openOrderLineQty"] == 4
    )
