"""The REST client against a scripted Deposco (``httpx.MockTransport``): every request is checked against the
OpenAPI (body *and* query names), and every error path maps to the right typed error."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from lockstep.connectors.deposco import translate as t
from lockstep.connectors.errors import Permanent, Transient
from lockstep.domain.model import Address, Item, SalesOrder, SalesOrderLine

from .conftest import BASE, Script, json_response, make_client
from .spec import RequestChecker

Handler = Callable[[httpx.Request], httpx.Response]
ADA = Address(
    first_name="Ada", last_name="Lovelace", address1="Main St 1", city="Stockholm", postal_code="11122", country="SE"
)


@pytest.fixture
def checker(openapi, spec_raw) -> RequestChecker:
    return RequestChecker(openapi, spec_raw)


@pytest.fixture
def deposco(checker):
    """Build a scripted Deposco from ``{(METHOD, path): handler | [responses]}``; every request is spec-checked."""

    def build(routes: dict[tuple[str, str], Handler | list[httpx.Response]]) -> Script:
        queues = {key: iter(value) for key, value in routes.items() if isinstance(value, list)}

        def handler(request: httpx.Request) -> httpx.Response:
            checker.check(request)
            key = (request.method, request.url.path.removeprefix("/latest"))
            if key in queues:
                return next(queues[key])
            if key in routes:
                return routes[key](request)
            raise AssertionError(f"unexpected request {key}")

        return Script(handler)

    return build


def collection(rows, next_href=None, complete=None):
    links = [{"rel": "next", "href": next_href}] if next_href else []
    return {"data": rows, "links": links, "complete": not next_href if complete is None else complete, "pages": 1}


def order_dto(number="C100-WH1", order_id=5, status="New"):
    return {
        "self": {"id": order_id, "businessKey": {"number": number}},
        "number": number,
        "orderStatus": status,
        "shipFromFacility": {"businessKey": {"number": "WH1"}},
        "customerOrderNumber": "100",
        "orderLines": {"data": [], "links": [], "complete": True},
    }


def line_dto(line_id, customer_line, quantity, cancelled=0, shipped=0, status="New"):
    return {
        "self": {"id": line_id},
        "lineNumber": f"C100-WH1-{line_id}",
        "customerLineNumber": customer_line,
        "item": {"businessKey": {"number": "SKU-1"}},
        "pack": {"businessKey": {"quantity": 1}},
        "orderPackQuantity": quantity,
        "canceledPackQuantity": cancelled,
        "shippedPackQuantity": shipped,
        "orderLineStatus": status,
    }


def sales_order(lines=2) -> SalesOrder:
    return SalesOrder(
        number="C100-WH1",
        facility="WH1",
        ship_to=ADA,
        customer_order_number="100",
        lines=tuple(SalesOrderLine(i, f"SKU-{i}", 1, customer_line_number=str(900 + i)) for i in range(1, lines + 1)),
    )


def body(request: httpx.Request):
    return json.loads(request.content)


async def test_item_upsert_round_trip(deposco):
    def echo(request):
        sent = body(request)
        return json_response(200, {**sent, "self": {"id": 11, "businessKey": {"number": sent["number"]}}})

    script = deposco({("POST", "/items"): echo})
    async with make_client(script) as client:
        result = await client.upsert_item(
            Item(number="SKU-1", description="Tee", upc="7350000000017"), brand_name="Nordwind"
        )
    assert result.item.number == "SKU-1" and result.item.upc == "7350000000017" and result.changes == ()


async def test_400_field_error_is_permanent_naming_the_field_and_not_retried(deposco):
    message = "salesOrder.shipToContact.lastName size must be between 0 and 30"
    script = deposco(
        {("POST", "/orders/salesOrders"): lambda r: json_response(400, {"errors": [{"errorMessage": message}]})}
    )
    async with make_client(script) as client:
        with pytest.raises(Permanent) as caught:
            await client.upsert_sales_order(sales_order(), exists=False)
    assert caught.value.status == 400 and caught.value.fields == ["salesOrder.shipToContact.lastName"]
    assert len(script.requests) == 1


async def test_404_unknown_item_is_permanent_with_the_sku(deposco):
    script = deposco(
        {
            ("POST", "/orders/salesOrders"): lambda r: json_response(
                404, {"errors": [{"errorMessage": "Item with business key number = [SKU-2]"}]}
            )
        }
    )
    async with make_client(script) as client:
        with pytest.raises(Permanent) as caught:
            await client.upsert_sales_order(sales_order(), exists=False)
    assert caught.value.status == 404 and caught.value.fields == ["item.number"]
    assert t.unknown_items(caught.value) == ["SKU-2"]


@pytest.mark.parametrize(
    "failure",
    [
        json_response(409, {"errors": [{"errorMessage": "The resource was updated by a concurrent request."}]}),
        httpx.Response(200, content=b""),
        httpx.Response(200, content=b'{"self": {"id": 5}, "number": "C100-W'),
        httpx.Response(502, content=b"<html><body>Bad Gateway</body></html>", headers={"content-type": "text/html"}),
        httpx.Response(429, content=b"", headers={"Retry-After": "0"}),
    ],
    ids=["409", "blank-200", "truncated-json", "html-502", "429"],
)
async def test_transient_failures_are_retried_on_upserts(deposco, failure):
    script = deposco({("POST", "/orders/salesOrders"): [failure, json_response(200, order_dto())]})
    async with make_client(script) as client:
        result = await client.upsert_sales_order(sales_order(), exists=False)
    assert result.order.order_id == "5" and result.created and len(script.requests) == 2


async def test_persistent_blank_200_ends_as_transient(deposco):
    script = deposco({("GET", "/facilities"): lambda r: httpx.Response(200, content=b"")})
    async with make_client(script) as client:
        with pytest.raises(Transient, match="blank"):
            await client.list_facilities()
    assert len(script.requests) == 4  # the in-client attempts, then the job queue takes over


async def test_html_404_page_is_permanent_with_a_readable_reason(deposco):
    page = b"<html><head><title>404 Not Found</title></head><body>nginx</body></html>"
    script = deposco(
        {
            ("GET", "/orders/salesOrders/5/status"): lambda r: httpx.Response(
                404, content=page, headers={"content-type": "text/html"}
            )
        }
    )
    async with make_client(script) as client:
        with pytest.raises(Permanent, match="404 Not Found") as caught:
            await client.order_status("5")
    assert caught.value.status == 404


async def test_cancellation_is_not_retried_in_place_on_409(deposco):
    conflict = json_response(409, {"errors": [{"errorMessage": "updated by a concurrent request"}]})
    script = deposco(
        {
            ("GET", "/orders/salesOrders/5/orderLines"): lambda r: json_response(
                200, collection([line_dto(71, "901", 2)])
            ),
            ("POST", "/orders/salesOrders/5/cancellations"): lambda r: conflict,
        }
    )
    async with make_client(script) as client:
        with pytest.raises(Transient):
            await client.cancel_lines("5", {"901": 1})
    assert len(script.api_requests("/cancellations")) == 1  # the job retries, re-reading the lines first


async def test_order_over_100_lines_goes_in_chunks_status_only_on_the_first(deposco):
    script = deposco({("POST", "/orders/salesOrders"): lambda r: json_response(200, order_dto())})
    async with make_client(script) as client:
        result = await client.upsert_sales_order(sales_order(lines=230), exists=False)
    posted = [body(r) for r in script.requests]
    assert [len(b["orderLines"]["data"]) for b in posted] == [100, 100, 30] and result.requests == 3
    assert ["orderStatus" in b for b in posted] == [True, False, False]
    assert {b["number"] for b in posted} == {"C100-WH1"}


async def test_uncertain_attempt_looks_up_by_number_and_distrusts_an_ignored_filter(deposco):
    other = order_dto(number="C999-WH1", order_id=9)  # the filter was ignored: an unrelated first page
    script = deposco(
        {
            ("GET", "/orders/salesOrders"): lambda r: json_response(200, collection([other])),
            ("POST", "/orders/salesOrders"): lambda r: json_response(200, order_dto()),
        }
    )
    async with make_client(script) as client:
        result = await client.upsert_sales_order(sales_order(), exists=None)
    lookup, post = script.requests
    assert lookup.url.params["number"] == "C100-WH1"
    assert result.created and body(post)["orderStatus"] == "New"


async def test_known_order_is_updated_without_status(deposco):
    script = deposco(
        {
            ("GET", "/orders/salesOrders"): lambda r: json_response(200, collection([order_dto()])),
            ("POST", "/orders/salesOrders"): lambda r: json_response(200, order_dto()),
        }
    )
    async with make_client(script) as client:
        result = await client.upsert_sales_order(sales_order(), exists=None)
    assert not result.created and "orderStatus" not in body(script.requests[-1])


async def test_create_that_finds_the_order_existing_resends_without_status(deposco):
    refused = json_response(
        400, {"errors": [{"errorMessage": "Order status updates are not accepted for order at this API Endpoint"}]}
    )
    script = deposco({("POST", "/orders/salesOrders"): [refused, json_response(200, order_dto())]})
    async with make_client(script) as client:
        result = await client.upsert_sales_order(sales_order(), exists=False)
    first, second = (body(r) for r in script.requests)
    assert first["orderStatus"] == "New" and "orderStatus" not in second
    assert result.order.number == "C100-WH1"


async def test_order_lines_come_from_the_paged_sub_resource(deposco):
    page2 = f"{BASE}/orders/salesOrders/5/orderLines?searchId=bWF4SWR8bHR8NzE"
    script = deposco(
        {
            ("GET", "/orders/salesOrders"): lambda r: json_response(200, collection([order_dto()])),
            ("GET", "/orders/salesOrders/5/orderLines"): [
                json_response(200, collection([line_dto(73, "903", 1), line_dto(72, "902", 2)], next_href=page2)),
                json_response(200, collection([line_dto(71, "901", 3)])),
            ],
        }
    )
    async with make_client(script) as client:
        found = await client.find_sales_order("C100-WH1", with_lines=True)
    assert [(ln.customer_line_number, ln.quantity) for ln in found.lines] == [("903", 1), ("902", 2), ("901", 3)]
    assert script.requests[-1].url.params["searchId"] == "bWF4SWR8bHR8NzE"


async def test_cancel_lines_sends_only_the_difference_and_refuses_too_late(deposco):
    lines = collection([line_dto(71, "901", 3, cancelled=1), line_dto(72, "902", 2, shipped=2, status="Complete")])
    script = deposco(
        {
            ("GET", "/orders/salesOrders/5/orderLines"): lambda r: json_response(200, lines),
            ("POST", "/orders/salesOrders/5/cancellations"): lambda r: json_response(200, order_dto()),
        }
    )
    async with make_client(script) as client:
        assert await client.cancel_lines("5", {"901": 3}) == {"901": 2}
        assert await client.cancel_lines("5", {"901": 1}) == {}  # already cancelled: nothing sent
        with pytest.raises(Permanent, match="only 0 open") as caught:
            await client.cancel_lines("5", {"902": 1})
    (sent,) = script.api_requests("/cancellations")
    assert body(sent) == {"orderLines": [{"orderLine": {"id": 71}, "canceledPackQuantity": 2}]}
    assert caught.value.user_errors[0].path == "orderLines[72]"


async def test_status_change_converges_when_the_order_already_has_it(deposco):
    script = deposco(
        {
            ("POST", "/orders/salesOrders/5/status"): lambda r: json_response(
                400, {"errors": [{"errorMessage": "Order status cannot be changed from [Hold] to [Hold]"}]}
            ),
            ("GET", "/orders/salesOrders/5/status"): lambda r: json_response(200, {"orderStatus": "Hold"}),
            ("GET", "/orders/salesOrders/5"): lambda r: json_response(200, order_dto(status="Hold")),
        }
    )
    async with make_client(script) as client:
        order = await client.hold("5")
    assert order.status == "Hold"
    assert script.requests[0].url.params["value"] == "Hold"


def shipment_dto(shipment_id, updated, lines=1):
    return {
        "self": {"id": shipment_id},
        "number": str(1000 + shipment_id),
        "status": "Shipped",
        "orderHeaders": {"data": [{"id": 5, "businessKey": {"number": "C100-WH1"}}]},
        "updatedDate": updated,
        "trackingNumber": f"1Z{shipment_id}",
        "shipmentLines": {
            "data": [
                {
                    "orderLineDetails": {"customerLineNumber": str(900 + i)},
                    "item": {"businessKey": {"number": "SKU-1"}},
                    "shippedPackQuantity": 1,
                }
                for i in range(min(lines, 10))
            ],
            "links": [],
            "complete": lines <= 10,
        },
    }


async def test_shipments_page_through_links_until_complete(deposco):
    after = datetime(2026, 9, 1, tzinfo=UTC)
    foreign = "https://elsewhere.example/latest/shipments/outboundShipments?searchId=cGFnZTM"
    pages = [
        json_response(
            200,
            collection(
                [shipment_dto(3, "2026-09-01T12:00:00Z"), shipment_dto(2, "2026-09-01T11:00:00Z", lines=12)],
                next_href=f"{BASE}/shipments/outboundShipments?searchId=cGFnZTI",
            ),
        ),
        json_response(200, collection([shipment_dto(1, "2026-08-31T23:00:00Z")], next_href=foreign)),
        json_response(200, collection([shipment_dto(0, "2026-09-01T10:00:00Z")], next_href=foreign, complete=True)),
    ]
    line_rows = [
        {
            "orderLineDetails": {"customerLineNumber": str(900 + i)},
            "item": {"businessKey": {"number": "S"}},
            "shippedPackQuantity": 1,
        }
        for i in range(12)
    ]
    script = deposco(
        {
            ("GET", "/shipments/outboundShipments"): pages,
            ("GET", "/shipments/outboundShipments/2/shipmentLines"): lambda r: json_response(
                200, collection(line_rows)
            ),
        }
    )
    async with make_client(script) as client:
        shipments = [s async for s in client.iter_shipments(after)]
    # shipment 1 is older than the cursor (a filter Deposco ignored would look like this): skipped
    assert [s.number for s in shipments] == ["1003", "1002", "1000"]
    assert [len(s.lines) for s in shipments] == [1, 12, 1]  # 12 lines: read from the sub-resource, not the 10
    listed = script.api_requests("/outboundShipments")
    assert listed[0].url.params["updatedAfter"] == "2026-09-01T00:00:00Z"
    assert listed[2].url.host == "api.deposco.test"  # a link to another host is never followed with our token


async def test_get_shipment_reads_lines_from_the_sub_resource(deposco):
    script = deposco(
        {
            ("GET", "/shipments/outboundShipments/2"): lambda r: json_response(
                200, shipment_dto(2, "2026-09-01T11:00:00Z")
            ),
            ("GET", "/shipments/outboundShipments/2/shipmentLines"): lambda r: json_response(
                200,
                collection(
                    [
                        {
                            "orderLineDetails": {"customerLineNumber": "901"},
                            "item": {"businessKey": {"number": "SKU-1"}},
                            "pack": {"businessKey": {"quantity": 1}},
                            "shippedPackQuantity": 2.0,
                        }
                    ]
                ),
            ),
        }
    )
    async with make_client(script) as client:
        shipment = await client.get_shipment("2")
    assert [(ln.customer_line_number, ln.quantity) for ln in shipment.lines] == [("901", 2)]
    assert shipment.tracking_numbers == ("1Z2",)


async def test_items_list_and_lookup_verify_the_number(deposco):
    rows = [{"self": {"id": 2}, "number": "SKU-2", "upcs": {"@nil": "true"}}, {"self": {"id": 1}, "number": "SKU-1"}]
    script = deposco({("GET", "/items"): lambda r: json_response(200, collection(rows))})
    async with make_client(script) as client:
        assert [i.number async for i in client.iter_items(updated_after=datetime(2026, 1, 1, tzinfo=UTC))] == [
            "SKU-2",
            "SKU-1",
        ]
        assert (await client.get_item("SKU-1")).number == "SKU-1"
        assert await client.get_item("SKU-3") is None


async def test_check_before_sending_reports_changes_without_io(deposco):
    script = deposco({})
    async with make_client(script) as client:
        long = SalesOrder(
            "C1-WH1",
            "WH1",
            (SalesOrderLine(1, "SKU-1", 1, unit_price=Decimal(1)),),
            ship_to=Address(first_name="A" * 40, country="SE"),
        )
        changes = client.check_sales_order(long)
    assert [c.field for c in changes] == ["ship_to.first_name"] and not script.requests


async def test_odd_success_bodies_become_typed_errors_or_skipped_rows(deposco):
    rows = [{"self": {"id": 2}, "number": "WH2"}, {"name": "no number"}, "junk"]
    script = deposco(
        {
            ("GET", "/facilities"): lambda r: json_response(200, collection(rows)),
            ("GET", "/orders/salesOrders/5/status"): lambda r: json_response(200, {"unexpected": True}),
            ("GET", "/orders/salesOrders/5"): lambda r: json_response(200, "a string, not an order"),
        }
    )
    async with make_client(script) as client:
        assert [f.code for f in await client.list_facilities()] == ["WH2"]  # the unreadable rows are skipped
        with pytest.raises(Permanent, match="without orderStatus"):
            await client.order_status("5")
        with pytest.raises(Permanent, match="sales order object"):
            await client.get_sales_order("5", with_lines=False)


async def test_untranslatable_order_is_permanent_and_nothing_is_sent(deposco):
    script = deposco({})
    bad = SalesOrder("C1-WH1", "WH1", (SalesOrderLine(1, "SKU-" + "9" * 40, 1),), ship_to=ADA)
    async with make_client(script) as client:
        with pytest.raises(t.Untranslatable) as caught:
            await client.upsert_sales_order(bad, exists=None)
    assert isinstance(caught.value, Permanent) and caught.value.fields == ["item number"]
    assert not script.requests
