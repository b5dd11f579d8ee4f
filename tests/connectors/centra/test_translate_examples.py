"""Centra's documented example responses parse through ``translate`` into the right domain objects.

The files are read from the shared spec folder at test time (never copied: they are CC BY-NC-SA). They are
responses of Centra's own example environment, so they carry only the fields their requests asked for; the
translation must cope with everything that is missing and still get identities and quantities right.
Centra publishes no response of a stock *read* or of ``events``: stock is covered by the write payloads here
and by the simulator tests, events by their documented request shape here and the simulator tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from graphql import FieldNode, FragmentDefinitionNode, parse

from lockstep.connectors.centra import queries
from lockstep.connectors.centra import translate as t
from lockstep.connectors.errors import Permanent
from lockstep.domain.model import OrderStatus
from tests.connectors.centra.conftest import EXAMPLES, example, needs_examples

pytestmark = needs_examples

ORDER_PAYLOADS = [
    ("erp-gql-integration-guide/30-updateDtcCancel.response", "updateDirectToConsumerOrder", 9),
    ("examples-dtc/14-updateDtcCancel.response", "updateDirectToConsumerOrder", 9),
    ("examples-dtc/13-updateDtcBasicFields.response", "updateDirectToConsumerOrder", None),
    ("examples-b2b/23-updateWholesaleBasicFields.response", "updateWholesaleOrder", None),
    ("examples-b2b/25-updateWholesaleCancel.response", "updateWholesaleOrder", 1),
]


def _order_in(name: str, field: str):
    body = example(name)
    warnings = t.check_payload(body["data"][field], field)
    return t.order(body["data"][field]["order"]), warnings


def test_cancelled_dtc_order_keeps_current_quantity_price_and_addresses() -> None:
    order, warnings = _order_in("erp-gql-integration-guide/30-updateDtcCancel.response", "updateDirectToConsumerOrder")
    assert not warnings
    assert (order.order_id, order.number, order.status) == ("1497ccf644db871e1e4026d101bde6f3", "14", "PENDING")
    assert order.is_on_hold is False and not order.eligible_for_export
    [line] = order.lines
    # one of ten units was cancelled: `quantity` already excludes it (centra.md §12)
    assert (line.line_id, line.quantity, line.product_name) == (68, 9, "Basic Jacket")
    assert line.unit_price == Decimal("675") and order.currency == "SEK"
    assert line.allocations == ()
    assert order.ship_to.full_name == "Jon Snow"
    assert (order.ship_to.address1, order.ship_to.address2, order.ship_to.postal_code) == ("Teststr. 1", "1b", "12345")
    assert (order.ship_to.city, order.ship_to.phone, order.ship_to.email) == (
        "Stockholm",
        "+4684026100",
        "jon.snow@example.com",
    )
    assert order.ship_to.country == ""  # the example asked for country { id name } only: no code to guess from
    assert order.bill_to == order.ship_to


@pytest.mark.parametrize(("name", "field", "quantity"), ORDER_PAYLOADS, ids=[n for n, _f, _q in ORDER_PAYLOADS])
def test_every_documented_order_payload_with_a_status_parses(name: str, field: str, quantity: int | None) -> None:
    body = example(name)["data"][field]
    if "status" not in body["order"]:
        with pytest.raises(Permanent, match="order status"):
            t.order(body["order"])
        return
    order = t.order(body["order"])
    assert order.status in OrderStatus
    assert all(line.line_id > 0 for line in order.lines)
    if quantity is not None:
        assert sum(line.quantity for line in order.lines) == quantity


def test_order_without_status_is_refused_not_guessed() -> None:
    """The ERP guide's basic-fields example did not ask for `status`: eligibility can't be judged, so no order."""
    body = example("erp-gql-integration-guide/29-updateDtcBasicFields.response")["data"]["updateDirectToConsumerOrder"]
    with pytest.raises(Permanent, match="order status"):
        t.order(body["order"])


def test_order_lists_take_the_customer_email_when_the_address_has_none() -> None:
    [order] = t.orders(example("examples-dtc/11-getOrders.response")["data"]["orders"])
    assert (order.number, order.status, order.is_on_hold) == ("14", OrderStatus.PENDING, False)
    assert (order.ship_to.city, order.ship_to.email) == ("Winterfell", "jon.snow@example.com")
    assert order.lines == () and order.order_id == ""

    [b2b] = t.orders(example("examples-b2b/22-getOrders.response")["data"]["orders"])
    assert (b2b.number, b2b.ship_to.company, b2b.ship_to.city) == ("3957", "CENTRA", "City")


def test_lock_orders_payload() -> None:
    payload = example("erp-gql-integration-guide/28-lockOrders.response")["data"]["setOrdersLock"]
    assert not t.check_payload(payload, "setOrdersLock")
    locked = t.orders(payload["orders"])
    assert [(o.number, o.status, o.is_locked) for o in locked] == [
        ("39514", OrderStatus.PROCESSING, True),
        ("39515", OrderStatus.PROCESSING, True),
    ]


SHIPMENT_PAYLOADS = [
    ("examples-dtc/22-createShipment.response", "createShipment", (345, "39790-1", "39790", 2)),
    ("erp-gql-integration-guide/35-createShipment.response", "createShipment", (345, "39790-1", "39790", 2)),
    ("examples-dtc/24-updateShipmentMarkPaid.response", "updateShipment", (345, "39790-1", "39790", 2)),
    ("erp-gql-integration-guide/37-updateShipmentMarkPaid.response", "updateShipment", (345, "39790-1", "39790", 2)),
    ("examples-b2b/27-createShipment.response", "createShipment", None),
    ("examples-b2b/28-updateShipmentMarkPaid.response", "updateShipment", None),
    ("examples-dtc/26-completeShipment.response", "completeShipment", (346, "39790-1", "39790", 2)),
    ("erp-gql-integration-guide/39-completeShipment.response", "completeShipment", None),
    ("examples-b2b/29-completeShipment.response", "completeShipment", (314, "3957-1", "3957", 1)),
]


@pytest.mark.parametrize(("name", "field", "expected"), SHIPMENT_PAYLOADS, ids=[n for n, _f, _e in SHIPMENT_PAYLOADS])
def test_documented_shipment_payloads(name: str, field: str, expected: tuple | None) -> None:
    body = example(name)["data"][field]
    assert not t.check_payload(body, field)
    shipment = t.shipment(body["shipment"])
    assert shipment.is_good_to_go
    assert shipment.order_number == shipment.number.rpartition("-")[0]  # no order{number}: from "<order>-<seq>"
    assert shipment.units == sum(line["quantity"] for line in body["shipment"]["lines"])
    assert shipment.lines == ()  # the examples did not ask for orderLine{id}: nothing invented
    if expected is not None:
        assert (shipment.shipment_id, shipment.number, shipment.order_number, shipment.units) == expected
    if field == "createShipment":
        assert not shipment.is_shipped and not shipment.is_paid
    if field == "updateShipment":
        assert shipment.is_paid and not shipment.is_shipped


def test_completed_shipment_carries_carrier_tracking_and_time() -> None:
    body = example("examples-dtc/26-completeShipment.response")["data"]["completeShipment"]
    shipment = t.shipment(body["shipment"])
    assert shipment.is_shipped and shipment.is_paid
    assert (shipment.carrier, shipment.service) == ("Carrier name", "Service name")
    assert (shipment.tracking_number, shipment.packages) == ("1234trackingcode", 1)
    assert shipment.shipped_at == datetime(2023, 1, 9, 15, 18, 33, tzinfo=timezone(timedelta(hours=1)))


def test_stock_write_payloads_have_no_errors() -> None:
    for name, field in [
        ("erp-gql-integration-guide/09-addStock.response", "changeStock"),
        ("erp-gql-integration-guide/10-removeStock.response", "changeStock"),
        ("pim-gql-integration-guide/49-addStock.response", "changeStock"),
        ("pim-gql-integration-guide/49-addStock.response-2", "changeStock"),
        ("pim-gql-integration-guide/49-addStock.response-3", "changeStock"),
    ]:
        body = example(name)["data"][field]
        assert not t.check_payload(body, field)  # the documented payload has no userWarnings list at all
        assert isinstance(body["stockChange"]["id"], int)


def test_documented_set_stock_input_shape_matches_ours() -> None:
    """The ERP guide's `setStock` names the same top-level input fields our batches fill."""
    text = (EXAMPLES / "erp-gql-integration-guide/11-absoluteStock.request.graphql").read_text()
    documented = {"warehouse", "description", "stockQuantityType"}
    assert all(name in text for name in documented)
    [(_keys, ours)] = t.stock_batches("1", [("Prod123Var456789S", 10)], sku_key="sku")
    assert documented <= set(ours) and ours["stockQuantityType"] == "PHYSICAL"
    assert ours["warehouse"] == {"id": 1}


def test_warehouses() -> None:
    found = t.warehouses(example("pim-gql-integration-guide/20-getWarehouses.response")["data"]["warehouses"])
    assert [(w.warehouse_id, w.name) for w in found] == [("3", "Retail")]


@pytest.mark.parametrize("name", ["47-productList", "51-productList"])
def test_product_listing_flattens_to_sizes(name: str) -> None:
    products = example(f"pim-gql-integration-guide/{name}.response")["data"]["products"]
    sizes = t.product_sizes_from_products(products)
    assert [s.sku for s in sizes] == [
        "Prod123Var123789S",
        "Prod123Var456789S",
        "Prod123Var456789M",
        "Prod123Var456789L",
    ]
    assert [s.ean for s in sizes] == ["EAN123456789S", "EAN123456789S", "EAN123456789M", "EAN123456789L"]  # GTIN
    assert {s.product_number for s in sizes} == {"Prod123"}
    assert {s.hs_code for s in sizes} == {"HCC123"}
    assert [s.size for s in sizes][1:] == ["S", "M", "L"]
    assert all(s.is_active for s in sizes)  # product and variants are ACTIVE
    # SKU = productNumber + variantNumber + sizeNumber (centra.md §9)
    variants = [v for p in products for v in p["variants"] for _ in v["productSizes"]]
    assert all(s.sku.startswith(s.product_number + v["variantNumber"]) for s, v in zip(sizes, variants, strict=True))


def test_rate_limits() -> None:
    limits = t.rate_limits(example("api-rate-limits/03-The-rateLimits-query.response")["data"]["rateLimits"])
    table = {(lim.kind, lim.window_seconds): (lim.quota, lim.used, lim.remaining) for lim in limits}
    assert table == {
        ("requests", 10.0): (20, 1, 19),
        ("requests", 3600.0): (10000, 1, 9999),
        ("complexity", 10.0): (150000, 10, 149990),
        ("complexity", 3600.0): (20000000, 10, 19999990),
        ("mutations", 10.0): (100, 0, 100),
        ("mutations", 3600.0): (1000, 0, 1000),
    }


def test_documented_authorization_error_names_the_permission() -> None:
    body = example("authorization/01-Permissions.response")
    [error] = t.issues(body["errors"])
    assert "Order:read" in error.message and error.path == "orderConnection"
    assert t.error_categories(body["errors"]) == {"authorization"}


def test_our_event_selection_is_the_documented_one() -> None:
    """No events response is published; our fields are those of the documented `eventFields` fragment."""
    text = (EXAMPLES / "events-system/05-productEvents.request.graphql").read_text()
    fragment = next(d for d in parse(text).definitions if isinstance(d, FragmentDefinitionNode))
    documented = {s.name.value for s in fragment.selection_set.selections if isinstance(s, FieldNode)}
    ours = parse(queries.EVENTS).definitions[0].selection_set.selections[0].selection_set.selections
    assert {s.name.value for s in ours} <= documented
    event = t.event(
        {"id": 7, "objectType": "Order", "changeType": "UPDATED", "objectReference": 39790, "createdAt": "2024-02-01"}
    )
    assert (event.event_id, event.is_order, event.reference, event.deleted) == (7, True, "39790", False)
    assert event.created_at == datetime(2024, 2, 1, tzinfo=UTC)
