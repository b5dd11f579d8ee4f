"""translate: defensive reading of odd payloads, and the inputs built for Centra's mutations."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lockstep.connectors.centra import translate as t
from lockstep.connectors.errors import Permanent, UserError
from lockstep.domain.model import OrderStatus, WarehouseShipment


def order_node(**overrides):
    node = {
        "id": "abc123",
        "number": 1001,
        "status": "CONFIRMED",
        "isOnHold": False,
        "isWaitingForPayment": False,
        "isLocked": False,
        "shippingAddress": {"firstName": "Ada", "country": {"code": "se"}, "cellPhoneNumber": "+46 70"},
        "lines": [
            {
                "id": 11,
                "quantity": 3,
                "cancelledQuantity": 1,
                "productSize": {"SKU": "P1V1S", "EAN": "7350000000017"},
                "allocations": [
                    {"quantity": 2, "warehouse": {"id": 1, "name": "EU Main"}},
                    {"quantity": 1, "warehouse": {"id": 2, "name": "US East"}},
                ],
            }
        ],
    }
    node.update(overrides)
    return node


# --- reading ------------------------------------------------------------------------------------------------


def test_order_with_a_line_split_over_two_warehouses() -> None:
    order = t.order(order_node())
    [line] = order.lines
    assert (line.sku, line.ean, line.quantity, line.cancelled_quantity) == ("P1V1S", "7350000000017", 3, 1)
    assert [(a.warehouse, a.warehouse_id, a.quantity) for a in line.allocations] == [
        ("EU Main", "1", 2),
        ("US East", "2", 1),
    ]
    assert order.eligible_for_export
    assert (order.ship_to.country, order.ship_to.phone) == ("SE", "+46 70")


def test_single_objects_where_lists_belong_and_nulls() -> None:
    line = order_node()["lines"][0] | {"allocations": {"quantity": 3, "warehouse": {"id": 1, "name": "EU Main"}}}
    order = t.order(order_node(lines=line, shippingAddress=None, billingAddress=None, market=None, totals=None))
    assert len(order.lines) == 1 and len(order.lines[0].allocations) == 1
    assert order.ship_to == order.bill_to and order.ship_to.full_name == ""
    assert t.order(order_node(lines=None)).lines == ()


def test_numbers_as_text_and_integral_floats_are_accepted() -> None:
    order = t.order(order_node(number="1001", lines=[order_node()["lines"][0] | {"quantity": 3.0, "id": "11"}]))
    assert order.number == "1001" and order.lines[0].quantity == 3 and order.lines[0].line_id == 11


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"number": None}, "order number"),
        ({"number": True}, "order number"),
        ({"status": "TELEPORTED"}, "order status"),
        ({"isOnHold": "no"}, "isOnHold"),
        ({"lines": [None]}, "order line"),
        ({"lines": [{"id": 1, "quantity": "three"}]}, "order line quantity"),
        ({"lines": [{"id": 1, "quantity": 1, "allocations": [{"quantity": 1}]}]}, "allocation warehouse"),
        ({"lines": "many"}, "expected a list"),
    ],
)
def test_identity_and_quantity_problems_are_permanent(overrides: dict, message: str) -> None:
    with pytest.raises(Permanent, match=message):
        t.order(order_node(**overrides))


def test_hold_reason_only_while_on_hold() -> None:
    held = t.order(order_node(isOnHold=True, orderHoldReason="WAITING_FOR_FRAUD_CHECK"))
    assert held.hold_reason == "WAITING_FOR_FRAUD_CHECK" and not held.eligible_for_export
    assert t.order(order_node(orderHoldReason="WAITING_FOR_FRAUD_CHECK")).hold_reason == ""


def test_money_and_currency() -> None:
    order = t.order(
        order_node(
            totals={"shipping": {"value": 49.5, "currency": {"code": "SEK"}}},
            lines=[order_node()["lines"][0] | {"unitPrice": {"value": "675.10", "currency": {"code": "SEK"}}}],
        )
    )
    assert order.shipping_cost == Decimal("49.5") and order.currency == "SEK"
    assert order.lines[0].unit_price == Decimal("675.10")
    assert (
        t.order(order_node(lines=[order_node()["lines"][0] | {"unitPrice": {"value": "n/a"}}])).lines[0].unit_price
        is None
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-12-31T13:44:23+0100", datetime(2021, 12, 31, 13, 44, 23, tzinfo=timezone(timedelta(hours=1)))),
        ("2022-06-23 15:47:12", datetime(2022, 6, 23, 15, 47, 12, tzinfo=UTC)),
        ("2023-01-09T15:18:33Z", datetime(2023, 1, 9, 15, 18, 33, tzinfo=UTC)),
        ("yesterday", None),
        (None, None),
        (17, None),
    ],
)
def test_dates(text, expected) -> None:
    assert t.parse_datetime(text) == expected


def test_stock_rows_derive_physical_from_fta_and_allocated() -> None:
    node = {
        "id": 1,
        "name": "EU Main",
        "stock": [
            {"productSize": {"SKU": "A", "EAN": "1"}, "freeToAllocateQuantity": 4, "allocatedQuantity": 2},
            {"productSize": {"SKU": "B", "EAN": "2"}, "freeToAllocateQuantity": 0},
        ],
    }
    rows = t.stock_rows(node)
    assert [(r.warehouse, r.sku, r.free_to_allocate, r.allocated, r.physical) for r in rows] == [
        ("EU Main", "A", 4, 2, 6),
        ("EU Main", "B", 0, None, None),
    ]
    with pytest.raises(Permanent, match="freeToAllocateQuantity"):
        t.stock_rows({"name": "X", "stock": [{"productSize": {"SKU": "A"}}]})


def test_product_size_activity_follows_product_and_variant_status() -> None:
    node = {"SKU": "A", "isActive": True, "product": {"status": "INACTIVE"}}
    assert t.product_size(node).is_active is False
    assert t.product_size({"EAN": "735"}).sku == "" and t.product_size({"EAN": "735"}).is_active
    with pytest.raises(Permanent, match="without SKU or EAN"):
        t.product_size({"id": 4})


def test_page_needs_a_cursor_to_continue() -> None:
    with pytest.raises(Permanent, match="hasNextPage without endCursor"):
        t.order_page({"pageInfo": {"hasNextPage": True}, "edges": []})
    page = t.order_page({"pageInfo": {"hasNextPage": False, "endCursor": None}, "edges": {"node": order_node()}})
    assert [o.number for o in page.items] == ["1001"] and page.cursor is None


def test_rate_limits_skip_unknown_buckets() -> None:
    limits = t.rate_limits(
        [
            {"type": "REQUEST_COUNT", "intervalSeconds": "TEN_SECONDS", "quota": 60, "usedQuota": 5},
            {"type": "MEMORY", "intervalSeconds": "TEN_SECONDS", "quota": 1, "usedQuota": 1},
        ]
    )
    assert limits == [t.RateLimit("requests", 10.0, 60, 5, 55)]


def test_payload_issues() -> None:
    with pytest.raises(Permanent) as caught:
        t.check_payload({"userErrors": [{"message": "Order line 9 not found", "path": ["input", "lines", 0]}]}, "x")
    assert caught.value.user_errors == [UserError("Order line 9 not found", "input.lines.0")]
    warnings = t.check_payload({"userErrors": [], "userWarnings": {"message": "Capture failed"}}, "x")
    assert [w.message for w in warnings.items] == ["Capture failed"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=25,
)
FIELDS = ["id", "number", "status", "lines", "quantity", "allocations", "warehouse", "productSize", "SKU", "edges"]
NODES = st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=8) | JSON


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(NODES)
def test_arbitrary_json_never_escapes_as_a_bare_exception(node) -> None:
    readers = [
        t.order,
        t.orders,
        t.order_page,
        t.shipment,
        t.shipments,
        t.capture,
        t.stock_rows,
        t.product_size,
        t.product_size_page,
        t.product_sizes_from_products,
        t.warehouses,
        t.events,
        t.rate_limits,
        t.issues,
    ]
    for read in readers:
        with contextlib.suppress(Permanent):  # a clear refusal is fine; anything else fails the test
            read(node)


# --- writing ------------------------------------------------------------------------------------------------


def test_stock_batches_keep_order_coalesce_and_key_by_sku_or_ean() -> None:
    rows = [("A", 0), ("B", 5), ("A", 3), ("C", 1), ("D", 2)]
    batches = t.stock_batches("EU Main", rows, sku_key="ean", batch_size=2, description="sync")
    assert [keys for keys, _ in batches] == [["A", "B"], ["C", "D"]]
    first = batches[0][1]
    assert first["warehouse"] == {"name": "EU Main"} and first["stockQuantityType"] == "PHYSICAL"
    assert first["productSizes"] == [
        {"productSize": {"EAN": "A"}, "quantity": 3},
        {"productSize": {"EAN": "B"}, "quantity": 5},
    ]
    assert t.stock_batches(7, [("A", 1)], sku_key="sku")[0][1]["productSizes"][0]["productSize"] == {"SKU": "A"}
    assert t.stock_batches(7, [], sku_key="sku") == []


@pytest.mark.parametrize("quantity", [-1, 1.5, True, "3"])
def test_stock_quantities_must_be_whole_and_not_negative(quantity) -> None:
    with pytest.raises(Permanent, match="whole number"):
        t.stock_batches(1, [("A", quantity)], sku_key="sku")


def test_rejected_rows_are_found_by_the_error_path() -> None:
    errors = [UserError("Product size with SKU 'X' not found", "input.productSizes.1.productSize")]
    assert t.rejected_stock_rows(errors, ["A", "X", "C"]) == [("X", "Product size with SKU 'X' not found")]
    assert t.rejected_stock_rows([UserError("Warehouse not found", "input.warehouse")], ["A"]) is None
    assert t.rejected_stock_rows([UserError("bad", "input.productSizes.7")], ["A"]) is None


def test_create_shipment_input() -> None:
    value = t.create_shipment_input("1001", [(11, 1), (12, 0), (11, 2)], send_email=False)
    assert value == {
        "order": {"number": 1001},
        "lines": [{"orderLine": {"id": 11}, "quantity": 3}],
        "isGoodToGo": True,
        "capture": True,
        "sendEmail": False,
    }
    with pytest.raises(Permanent, match="no units"):
        t.create_shipment_input("1001", [(11, 0)])
    with pytest.raises(Permanent, match="not a Centra order number"):
        t.create_shipment_input("A-1001", [(11, 1)])


def test_create_shipment_input_carries_the_warehouse_shipment_tag_in_its_message() -> None:
    value = t.create_shipment_input("1001", [(11, 1)], tag="SH-000123")
    assert value["additionalMessage"] == "Warehouse shipment SH-000123"
    node = {"id": 5, "number": "1001-1", "additionalMessage": value["additionalMessage"], "lines": []}
    assert t.shipment(node).tag == "SH-000123" and not t.shipment(node).external_id
    # externalId, where a brand sets it, is the tag; a message someone else wrote names no shipment
    assert t.shipment({**node, "externalId": "SH-9"}).tag == "SH-9"
    assert t.shipment({**node, "additionalMessage": "Leave at the door"}).tag == ""
    assert t.shipment({**node, "additionalMessage": None}).tag == ""


@given(
    tag=st.text(st.characters(blacklist_categories=("Z", "C")), min_size=1, max_size=40).filter(
        lambda s: not s.endswith(".")
    ),
    tracking=st.lists(st.text("ABCDEF0123456789", min_size=1, max_size=12), max_size=4),
    first_sent=st.sampled_from(["", "T0"]),
)
def test_every_message_lockstep_writes_keeps_the_tag_readable(tag: str, tracking: list[str], first_sent: str) -> None:
    """The create's message, the completion's (further parcels) and a late-tracking update all name the tag."""
    assert t.tag_in_message(t.shipment_tag_message(tag)) == tag
    late = t.late_tracking_message(first_sent, [first_sent, *tracking] if first_sent else tracking, tag)
    if late:
        assert t.tag_in_message(late) == tag and all(n in late for n in tracking)
    dispatch = WarehouseShipment(
        shipment_id="1", number=tag, sales_order_number="C1-STO", facility="STO", tracking_numbers=("T0", *tracking)
    )
    further = t.dispatch_details(dispatch)["additional_message"]
    if tracking:
        assert t.tag_in_message(further) == tag
    else:
        assert further == ""  # one parcel: the create's message stays as it is


def test_complete_variables_from_a_warehouse_dispatch() -> None:
    dispatch = WarehouseShipment(
        shipment_id="D77",
        number="S-77",
        sales_order_number="1001-STO",
        facility="STO",
        carrier="PostNord",
        service="MyPack",
        tracking_numbers=("T1", "T2"),
        shipped_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    )
    variables = t.complete_shipment_variables(5, send_email=True, **t.dispatch_details(dispatch))
    assert variables == {
        "id": 5,
        "sendEmail": True,
        "shippedAt": "2026-03-01T09:30:00+00:00",
        "additionalMessage": "Warehouse shipment S-77. Further tracking numbers: T2",
        "carrier": "PostNord",
        "service": "MyPack",
        "trackingNumber": "T1",
        "packagesNumber": 2,
    }
    assert t.complete_shipment_variables(5, send_email=False) == {"id": 5, "sendEmail": False}


def test_update_shipment_input() -> None:
    assert t.update_shipment_input(external_id="D77") == {"externalId": "D77"}
    assert t.update_shipment_input(tracking_number="T1", paid=True) == {
        "shipmentInfo": {"trackingNumber": "T1"},
        "isPaid": True,
    }
    with pytest.raises(Permanent, match="at least one field"):
        t.update_shipment_input()


def test_filters_and_references() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    assert t.order_filter(["CONFIRMED", OrderStatus.PROCESSING], since) == {
        "status": ["CONFIRMED", "PROCESSING"],
        "updatedAt": {"from": "2026-01-01T00:00:00+00:00"},
    }
    assert t.order_filter() is None
    assert t.warehouse_input("12") == {"id": 12} and t.warehouse_input("EU Main") == {"name": "EU Main"}
    assert t.lock_variables(["1", 2], True) == {"orders": [{"number": 1}, {"number": 2}], "isLocked": True}
    assert t.product_size_filter(updated_after=since, active=True) == {
        "updatedAt": {"from": "2026-01-01T00:00:00+00:00"},
        "isActive": True,
    }
