"""Contract: stock per size and warehouse, allocation at confirmation, refusal, setStock, cancellations."""

from __future__ import annotations

from tests.sim.centra.conftest import Centra

SET_STOCK = """mutation($wh: Int!, $rows: [StockSetProductSizeInput!]) {
  setStock(input: {warehouse: {id: $wh}, description: "sync", stockQuantityType: PHYSICAL, productSizes:
  $rows}) {
    stockChanges { id } userErrors { message path } userWarnings { message path } } }"""
STOCK_OF = """query($sku: String!) { productSizes(where: {SKU: $sku}) { SKU stock {
  warehouse { id } freeToAllocateQuantity physicalQuantity allocatedQuantity } } }"""


def _stock(centra: Centra, sku: str) -> dict[int, tuple[int, int, int]]:
    rows = centra.data(STOCK_OF, {"sku": sku})["productSizes"][0]["stock"]
    return {
        r["warehouse"]["id"]: (r["physicalQuantity"], r["allocatedQuantity"], r["freeToAllocateQuantity"]) for r in rows
    }


def test_fta_is_physical_minus_allocated_and_confirmation_allocates(centra: Centra) -> None:
    sku = centra.seed(1, 1, 1)[0]["sku"]
    centra.data(SET_STOCK, {"wh": 1, "rows": [{"productSize": {"SKU": sku}, "quantity": 10}]})
    pending = centra.order([(sku, 3)], confirm=False)
    assert _stock(centra, sku)[1] == (10, 0, 10)  # PENDING: not allocated yet
    confirmed = centra.data(
        "mutation($n: Int!) { confirmOrder(input: {order: {number: $n}}) { order { status } } }",
        {"n": pending["number"]},
    )
    assert confirmed["confirmOrder"]["order"]["status"] == "CONFIRMED"
    assert _stock(centra, sku)[1] == (10, 3, 7)
    centra.order([(sku, 2)])
    assert _stock(centra, sku)[1] == (10, 5, 5)


def test_order_is_refused_when_free_to_allocate_is_short(centra: Centra) -> None:
    sku = centra.seed(1, 1, 1)[0]["sku"]
    centra.stock(2, {sku: 4})
    centra.stock(1, {sku: 100})  # EU Main is not in the US market's allocation rule
    refused = centra.order([(sku, 5)], market="United States", country="US", expect=409)
    assert "Insufficient stock" in refused["error"]
    assert centra.ctl("GET", "/truth")["orders"] == []
    assert centra.level(sku, 2)["allocated"] == 0 and centra.level(sku, 1)["allocated"] == 0
    assert centra.ctl("GET", "/counters")["state"]["orders_refused"] == 1


def test_allocation_splits_over_rule_warehouses_by_priority(centra: Centra) -> None:
    sku = centra.seed(1, 1, 1)[0]["sku"]
    centra.stock(1, {sku: 2})
    centra.stock(2, {sku: 5})
    order = centra.order([(sku, 4)], market="Europe", country="DE")  # rule EU: EU Main, then US East
    assert order["lines"][0]["allocations"] == [
        {"warehouseId": 1, "quantity": 2, "shipped": 0},
        {"warehouseId": 2, "quantity": 2, "shipped": 0},
    ]
    us_only = centra.order([(sku, 3)], market="United States", country="US")
    assert [a["warehouseId"] for a in us_only["lines"][0]["allocations"]] == [2]
    assert centra.order([(sku, 1)], market="United States", country="SE", expect=400)["path"] == ["country"]


def test_set_stock_by_sku_ean_and_id_in_one_batch(centra: Centra) -> None:
    a, b, c = centra.seed(1, 1, 3)
    rows = [
        {"productSize": {"SKU": a["sku"]}, "quantity": 1},
        {"productSize": {"EAN": b["ean"]}, "quantity": 2},
        {"productSize": {"id": c["id"]}, "quantity": 3},
    ]
    result = centra.data(SET_STOCK, {"wh": 2, "rows": rows})["setStock"]
    assert result["userErrors"] == [] and len(result["stockChanges"]) == 1
    assert [centra.level(s["sku"], 2)["physical"] for s in (a, b, c)] == [1, 2, 3]


def test_unknown_size_is_a_user_error_and_nothing_changes(centra: Centra) -> None:
    a = centra.seed(1, 1, 1)[0]
    rows = [
        {"productSize": {"SKU": a["sku"]}, "quantity": 7},
        {"productSize": {"SKU": "NOPE"}, "quantity": 1},
    ]
    result = centra.data(SET_STOCK, {"wh": 1, "rows": rows})["setStock"]
    assert result["stockChanges"] == []
    assert "NOPE" in result["userErrors"][0]["message"]
    assert result["userErrors"][0]["path"] == ["input", "productSizes", "1", "productSize"]
    assert centra.level(a["sku"], 1)["physical"] == 0
    negative = centra.data(SET_STOCK, {"wh": 1, "rows": [{"productSize": {"SKU": a["sku"]}, "quantity": -1}]})
    assert negative["setStock"]["userErrors"] and centra.level(a["sku"], 1)["physical"] == 0


def test_set_stock_below_allocated_is_clamped_with_a_warning(centra: Centra) -> None:
    sku = centra.seed(1, 1, 1)[0]["sku"]
    centra.stock(1, {sku: 5})
    centra.order([(sku, 3)])
    result = centra.data(SET_STOCK, {"wh": 1, "rows": [{"productSize": {"SKU": sku}, "quantity": 1}]})["setStock"]
    assert result["userErrors"] == [] and "below the allocated" in result["userWarnings"][0]["message"]
    assert centra.level(sku, 1) | {} == {
        **centra.level(sku, 1),
        "physical": 3,
        "allocated": 3,
        "freeToAllocate": 0,
    }


def test_cancellations_release_allocation(centra: Centra) -> None:
    sku = centra.seed(1, 1, 1)[0]["sku"]
    centra.stock(1, {sku: 10})
    order = centra.order([(sku, 4)])
    line = order["lines"][0]["id"]
    cancel_line = """mutation($n: Int!, $l: Int!, $q: Int!) { updateDirectToConsumerOrder(order: {number: $n},
      input: {cancelLines: [{line: {id: $l}, quantity: $q, stockAction: RELEASE_BACK_TO_WAREHOUSE}]}) {
      order { status lines { quantity cancelledQuantity } } userErrors { message } } }"""
    too_many = centra.data(cancel_line, {"n": order["number"], "l": line, "q": 5})["updateDirectToConsumerOrder"]
    assert too_many["userErrors"] and centra.level(sku, 1)["allocated"] == 4
    partial = centra.data(cancel_line, {"n": order["number"], "l": line, "q": 1})["updateDirectToConsumerOrder"]
    assert partial["order"]["lines"] == [{"quantity": 3, "cancelledQuantity": 1}]
    assert centra.level(sku, 1)["allocated"] == 3 and centra.level(sku, 1)["freeToAllocate"] == 7
    cancel = """mutation($id: String!) { cancelDirectToConsumerOrder(id: $id, input: {stockAction:
      {releaseItemsBackToWarehouse: true}}) { order { status } userErrors { message } } }"""
    assert centra.data(cancel, {"id": order["id"]})["cancelDirectToConsumerOrder"]["order"]["status"] == "CANCELLED"
    assert centra.level(sku, 1) == {
        **centra.level(sku, 1),
        "physical": 10,
        "allocated": 0,
        "freeToAllocate": 10,
    }
    again = centra.data(cancel, {"id": order["id"]})["cancelDirectToConsumerOrder"]
    assert again["userErrors"] and again["order"] is None


def test_remove_from_stock_cancellation_lowers_physical(centra: Centra) -> None:
    sku = centra.seed(1, 1, 1)[0]["sku"]
    centra.stock(1, {sku: 10})
    order = centra.order([(sku, 4)])
    cancel = """mutation($id: String!) { cancelDirectToConsumerOrder(id: $id, input: {stockAction:
      {removeItemsFromStock: true}}) { order { status } } }"""
    centra.data(cancel, {"id": order["id"]})
    level = centra.level(sku, 1)
    assert (level["physical"], level["allocated"], level["freeToAllocate"]) == (6, 0, 6)
