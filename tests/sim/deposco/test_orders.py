"""Sales orders: upsert by number, validation traps, status machine, cancellations, order-line paging, 409."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from .conftest import order_payload


def _create(api, number="C100-WH1", lines=(("SKU-A", 2),), **header):
    response = api.post("/latest/orders/salesOrders", json=order_payload(number, list(lines), **header))
    assert response.status_code == 200, response.text
    return response.json()


def test_post_sales_order_upserts_on_number_and_returns_ids(seeded):
    api = seeded.api()
    created = _create(api)
    assert created["self"]["id"] and created["orderLines"]["data"][0]["self"]["id"]
    assert created["orderStatus"] == "New" and created["customerOrderNumber"] == "100"
    update = order_payload("C100-WH1", [("SKU-A", 3), ("SKU-B", 1)])
    del update["orderStatus"]
    updated = api.post("/latest/orders/salesOrders", json=update).json()
    assert updated["self"]["id"] == created["self"]["id"]
    assert [(ln["lineNumber"], ln["orderPackQuantity"]) for ln in updated["orderLines"]["data"]] == [
        ("C100-WH1-1", 3),
        ("C100-WH1-2", 1),
    ]
    found = api.get("/latest/orders/salesOrders", params={"number": "C100-WH1"}).json()["data"]
    assert [o["number"] for o in found] == ["C100-WH1"]
    assert api.get(f"/latest/orders/salesOrders/{created['self']['id']}").json()["number"] == "C100-WH1"


def test_unknown_item_on_a_line_is_a_404_naming_the_sku(seeded):
    response = seeded.api().post(
        "/latest/orders/salesOrders", json=order_payload("C1-WH1", [("SKU-A", 1), ("NOPE", 1)])
    )
    assert response.status_code == 404
    assert response.json()["errors"][0]["errorMessage"] == "Item with business key number = [NOPE]"
    assert "C1-WH1" not in seeded.sim.state.order_ids  # nothing half-created


def test_more_than_100_lines_in_one_request_is_rejected(seeded):
    api = seeded.api()
    too_many = api.post("/latest/orders/salesOrders", json=order_payload("C2-WH1", [("SKU-A", 1)] * 101))
    assert too_many.status_code == 400
    assert "at most 100" in too_many.json()["errors"][0]["errorMessage"]
    assert api.post("/latest/orders/salesOrders", json=order_payload("C2-WH1", [("SKU-A", 1)] * 100)).status_code == 200


def test_field_length_violations_are_400s_naming_the_path(seeded):
    api = seeded.api()
    cases = [
        (
            {"shipToContact": {"firstName": "Ada", "lastName": "L" * 31}},
            "salesOrder.shipToContact.lastName",
            30,
        ),
        ({"shipToAddress": {"line1": "x" * 65, "country": "SE"}}, "salesOrder.shipToAddress.line1", 64),
        ({"shipToAddress": {"city": "c" * 31}}, "salesOrder.shipToAddress.city", 30),
        ({"shipToAddress": {"postalCode": "1" * 21}}, "salesOrder.shipToAddress.postalCode", 20),
        ({"shipToContact": {"email": "e" * 51}}, "salesOrder.shipToContact.email", 50),
        ({"customerOrderNumber": "9" * 51}, "salesOrder.customerOrderNumber", 50),
        ({"shipVia": "v" * 51}, "salesOrder.shipVia", 50),
        ({"orderSource": "s" * 101}, "salesOrder.orderSource", 100),
    ]
    for header, path, limit in cases:
        response = api.post("/latest/orders/salesOrders", json=order_payload("C3-WH1", [("SKU-A", 1)], **header))
        assert response.status_code == 400, header
        assert response.json()["errors"][0]["errorMessage"] == f"{path} size must be between 0 and {limit}"
    emoji = api.post(
        "/latest/orders/salesOrders",
        json=order_payload("C3-WH1", [("SKU-A", 1)], shipToAddress={"line1": "Main St 1 \U0001f600", "country": "SE"}),
    )
    assert emoji.status_code == 400 and "salesOrder.shipToAddress.line1" in emoji.json()["errors"][0]["errorMessage"]
    assert "C3-WH1" not in seeded.sim.state.order_ids


def test_resending_order_status_on_an_update_is_a_400(seeded):
    api = seeded.api()
    _create(api)
    again = api.post("/latest/orders/salesOrders", json=order_payload("C100-WH1", [("SKU-A", 2)]))
    assert again.status_code == 400
    assert again.json()["errors"][0]["errorMessage"] == (
        "Order status updates are not accepted for order at this API Endpoint"
    )


def test_status_endpoint_follows_the_transition_table(seeded):
    api = seeded.api()
    order_id = _create(api)["self"]["id"]
    base = f"/latest/orders/salesOrders/{order_id}/status"
    assert api.get(base).json() == {"orderStatus": "New"}
    assert api.post(base, params={"value": "Hold"}).json()["orderStatus"] == "Hold"
    assert api.post(base, params={"value": "Released"}).status_code == 400  # not in the table
    assert api.post(base, params={"value": "New"}).json()["orderStatus"] == "New"
    seeded.control("POST", "/orders/C100-WH1/advance", json={"to": "Released"})
    assert api.post(base, params={"value": "Hold"}).status_code == 400  # released: too late to hold
    assert api.post(base).status_code == 400  # no value


def test_cancellations_set_canceled_quantity_and_respect_status(seeded):
    api = seeded.api()
    order = _create(api, lines=(("SKU-A", 3), ("SKU-B", 1)))
    line_a, line_b = order["orderLines"]["data"]
    path = f"/latest/orders/salesOrders/{order['self']['id']}/cancellations"
    partial = api.post(
        path, json={"orderLines": [{"orderLine": {"id": line_a["self"]["id"]}, "canceledPackQuantity": 2}]}
    )
    assert partial.status_code == 200
    lines = {ln["lineNumber"]: ln for ln in partial.json()["orderLines"]["data"]}
    assert lines["C100-WH1-1"]["canceledPackQuantity"] == 2 and partial.json()["orderStatus"] == "New"
    too_much = api.post(
        path, json={"orderLines": [{"orderLine": {"id": line_a["self"]["id"]}, "canceledPackQuantity": 5}]}
    )
    assert too_much.status_code == 400
    rest = api.post(
        path,
        json={
            "orderLines": [
                {"orderLine": {"id": line_a["self"]["id"]}},
                {"orderLine": {"id": line_b["self"]["id"]}},
            ]
        },
    )
    assert rest.json()["orderStatus"] == "Canceled"
    assert {ln["orderLineStatus"] for ln in rest.json()["orderLines"]["data"]} == {"Canceled"}
    released = _create(api, number="C101-WH1")
    seeded.control("POST", "/orders/C101-WH1/advance", json={"to": "Released"})
    late = api.post(
        f"/latest/orders/salesOrders/{released['self']['id']}/cancellations",
        json={"orderLines": [{"orderLine": {"id": released["orderLines"]["data"][0]["self"]["id"]}}]},
    )
    assert late.status_code == 400 and "[Released]" in late.json()["errors"][0]["errorMessage"]


def test_nested_order_lines_stop_at_10_rows_while_the_sub_resource_pages(seeded):
    api = seeded.api()
    order = _create(api, number="C200-WH1", lines=[("SKU-A", 1)] * 60)
    nested = order["orderLines"]
    assert len(nested["data"]) == 10 and nested["links"] == [] and nested["complete"] is False
    page = api.get(f"/latest/orders/salesOrders/{order['self']['id']}/orderLines").json()
    assert len(page["data"]) == 25 and page["pages"] == 3  # default page size 25 for order lines
    numbers = []
    while True:
        numbers += [ln["lineNumber"] for ln in page["data"]]
        nexts = [link["href"] for link in page["links"] if link["rel"] == "next"]
        if not nexts:
            assert page["complete"] is True
            break
        page = api.get(nexts[0]).json()
    assert sorted(numbers) == sorted(f"C200-WH1-{i}" for i in range(1, 61))
    one = api.get(
        f"/latest/orders/salesOrders/{order['self']['id']}/orderLines", params={"lineNumber": "C200-WH1-7"}
    ).json()["data"]
    assert [ln["lineNumber"] for ln in one] == ["C200-WH1-7"]


def test_update_of_a_released_order_is_refused(seeded):
    api = seeded.api()
    _create(api)
    seeded.control("POST", "/orders/C100-WH1/advance", json={"to": "Picking"})
    update = order_payload("C100-WH1", [("SKU-A", 5)])
    del update["orderStatus"]
    refused = api.post("/latest/orders/salesOrders", json=update)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["errorMessage"] == (
        "Sales Order C100-WH1 cannot be updated while in the status of [Picking]"
    )


def test_overlapping_writes_to_one_order_get_409_concurrent_update(start_deposco):
    deposco = start_deposco(order_write_seconds=0.3)
    deposco.control("POST", "/facilities", json={"number": "WH1"})
    deposco.control("POST", "/items", json={"items": [{"number": "SKU-A"}]})
    clients = [deposco.api(), deposco.api()]
    body = order_payload("C300-WH1", [("SKU-A", 1)])
    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(
            r.status_code for r in pool.map(lambda c: c.post("/latest/orders/salesOrders", json=body), clients)
        )
    assert statuses == [200, 409]
    other = [r for r in (clients[0].get("/latest/orders/salesOrders"),)]
    assert len(other[0].json()["data"]) == 1  # exactly one order, no duplicate
    counters = deposco.control("GET", "/counters")
    assert counters["conflicts409"] == 1
    with ThreadPoolExecutor(2) as pool:  # different orders do not conflict
        results = list(
            pool.map(
                lambda n: clients[0].post("/latest/orders/salesOrders", json=order_payload(n, [("SKU-A", 1)])),
                ["C301-WH1", "C302-WH1"],
            )
        )
    assert [r.status_code for r in results] == [200, 200]


def test_order_line_update_raises_quantity_but_refuses_lowering(seeded):
    api = seeded.api()
    order = _create(api, lines=(("SKU-A", 2),))
    line = order["orderLines"]["data"][0]
    path = f"/latest/orders/salesOrders/{order['self']['id']}/orderLines/{line['self']['id']}"
    raised = api.post(path, json={"orderPackQuantity": 5})
    assert raised.status_code == 200 and raised.json()["orderPackQuantity"] == 5
    lowered = api.post(path, json={"orderPackQuantity": 1})
    assert lowered.status_code == 400 and "/cancellations" in lowered.json()["errors"][0]["errorMessage"]
    assert api.get(path).json()["orderPackQuantity"] == 5
