"""End to end through real HTTP: the client built from a brand topology against the Deposco simulator,
including its token expiry, its account-wide throttle (429 with an empty body) and its faults."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from lockstep.connectors.budget import LocalBudget, deposco_windows
from lockstep.connectors.deposco import translate as t
from lockstep.connectors.deposco.client import DeposcoClient
from lockstep.connectors.errors import Permanent
from lockstep.connectors.http import RetrySettings
from lockstep.domain.model import Address, CarrierService, Item, SalesOrder, SalesOrderLine

from .spec import RequestChecker

RETRY = RetrySettings(attempts=8, base_s=0.01, cap_s=0.05, max_inline_wait_s=3.0)
ADA = Address(
    first_name="Ada",
    last_name="Lovelace 🚀",
    address1="Main St 1",
    city="Stockholm",
    postal_code="11122",
    country="SE",
    email="ada@example.com",
)


class SpecCheckingTransport(httpx.AsyncBaseTransport):
    """Real HTTP, but every REST request is first checked against the Deposco OpenAPI."""

    def __init__(self, checker: RequestChecker) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.checker = checker

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.checker.check(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Sim:
    def __init__(self, url: str, sim) -> None:
        self.url, self.sim = url, sim
        self.ctl = httpx.Client(base_url=url, auth=("lockstep", "sim-secret"), timeout=10)

    def control(self, method: str, path: str, **kwargs):
        response = self.ctl.request(method, f"/_sim{path}", **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def counters(self):
        return self.control("GET", "/counters")


@pytest.fixture
def checker(openapi, spec_raw) -> RequestChecker:
    return RequestChecker(openapi, spec_raw)


@pytest.fixture
def start(sim_factory, example_topology, checker):
    sims: list[Sim] = []

    def run(inventory: dict | None = None, **overrides) -> tuple[Sim, callable]:
        url, live = sim_factory(**overrides)
        sim = Sim(url, live)
        sims.append(sim)
        for facility in ("WH1", "WH2"):
            sim.control("POST", "/facilities", json={"number": facility})
        cfg = example_topology.deposco.model_copy(
            update={
                "base_url": f"{url}/latest",
                "token_url": f"{url}/oauth2/token",
                "v1_base_url": f"{url}/integration/BU1",
                "business_unit": "BU1",
            }
        )
        topology = example_topology.model_copy(update={"deposco": cfg})
        if inventory:  # brand inventory settings (some decide the token's scopes)
            topology = topology.model_copy(update={"inventory": topology.inventory.model_copy(update=inventory)})
        secrets = {
            cfg.client_id_env: "lockstep",
            cfg.client_secret_env: "sim-secret",
            cfg.username_env: "lockstep",
            cfg.password_env: "sim-secret",
        }

        def client(budget=None, **kwargs) -> DeposcoClient:
            transport = kwargs.pop("transport", None) or SpecCheckingTransport(checker)
            return DeposcoClient.from_topology(topology, secrets, budget, retry=RETRY, transport=transport, **kwargs)

        return sim, client

    yield run
    for sim in sims:
        sim.ctl.close()


async def test_the_adjustment_feed_newest_first_stopping_at_the_cursor_and_skipping_unreadable_rows(start, checker):
    """The adjustment watch's read: records created after a time, newest first across pages; the first older
    record ends the read. Its scope is asked for only by a brand that reads the feed."""
    sim, make = start(inventory={"adjustments_seconds": 5})
    sim.control("POST", "/items", json={"items": [{"number": s} for s in ("SKU-A", "SKU-B", "SKU-C")]})
    sim.control("POST", "/adjustments", json={"facility": "WH1", "itemNumber": "SKU-A", "quantity": 3})
    await asyncio.sleep(0.05)
    cursor = datetime.now(UTC)
    await asyncio.sleep(0.05)
    for sku, quantity in (("SKU-B", -2), ("SKU-C", 7)):
        sim.control("POST", "/adjustments", json={"facility": "WH2", "itemNumber": sku, "quantity": quantity})
    sim.control("POST", "/receipts", json={"facility": "WH1", "lines": [{"itemNumber": "SKU-A", "quantity": 4}]})
    async with make() as client:
        seen = [a async for a in client.iter_adjustments(cursor, page_size=1)]
        assert [(a.facility, a.item, a.quantity) for a in seen] == [("WH2", "SKU-C", 7), ("WH2", "SKU-B", -2)]
        assert seen[0].adjustment_id > seen[1].adjustment_id and seen[0].action == "Adjustment"
        assert all(a.created_at is not None and a.created_at > cursor for a in seen)
        assert [a async for a in client.iter_adjustments(datetime.now(UTC))] == []
    assert "GET /inventory/inventoryAdjustments" in checker.checked

    _, plain = start()  # a brand that does not read the feed is not granted it
    async with plain() as client:
        with pytest.raises(Exception, match="inventoryAdjustments/read"):
            [a async for a in client.iter_adjustments(cursor)]


def test_an_adjustment_row_without_identity_facility_or_item_is_refused_with_the_reason():
    good = {
        "self": {"id": 7},
        "facility": {"businessKey": {"number": "WH1"}},
        "item": {"businessKey": {"number": "SKU-A"}},
        "quantity": "-2.0",
        "actionType": "Status Change",
        "inventoryStatus": "Blocked",
        "createdDate": "2026-12-04T10:00:00Z",
    }
    parsed = t.stock_adjustment(good)
    assert (parsed.adjustment_id, parsed.quantity, parsed.action, parsed.status) == (7, -2, "Status Change", "Blocked")
    for broken, reason in (
        ({**good, "self": None}, "numeric id"),
        ({**good, "facility": None}, "without facility or item"),
        ({**good, "item": {"businessKey": {}}}, "without facility or item"),
    ):
        with pytest.raises(t.MalformedPayload, match=reason):
            t.stock_adjustment(broken)


def order(number: str, skus: list[tuple[str, int]], facility: str = "WH1") -> SalesOrder:
    return SalesOrder(
        number=t.sales_order_number(number, facility),
        facility=facility,
        ship_to=ADA,
        customer_order_number=number,
        order_date=datetime(2026, 9, 1, tzinfo=UTC),
        carrier_service=CarrierService("UPS Ground", "UPS", "Ground"),
        lines=tuple(
            SalesOrderLine(i, sku, qty, customer_line_number=str(5500 + i), unit_price=Decimal("25"))
            for i, (sku, qty) in enumerate(skus, start=1)
        ),
    )


async def test_items_orders_shipments_and_stock_end_to_end(start, checker):
    sim, make = start()
    started = datetime.now(UTC) - timedelta(minutes=5)
    async with make() as client:
        assert {f.code for f in await client.list_facilities()} == {"WH1", "WH2"}
        for sku, ean in (("SKU-A", "7350000000017"), ("SKU-B", "7350000000024")):
            result = await client.upsert_item(
                Item(number=sku, description=f"Tee {sku}", upc=ean, size="M", weight_kg=Decimal("0.25"))
            )
            assert result.item.number == sku and result.item.upc == ean
        sim.control(
            "PUT",
            "/stock",
            json={
                "rows": [
                    {"facility": "WH1", "itemNumber": "SKU-A", "onHand": 10},
                    {"facility": "WH1", "itemNumber": "SKU-B", "onHand": 10},
                ]
            },
        )

        upsert = await client.upsert_sales_order(order("100", [("SKU-A", 3), ("SKU-B", 2)]), exists=False)
        assert upsert.created and upsert.order.status == "New" and upsert.order.order_id
        assert [c.field for c in upsert.changes] == ["ship_to.last_name"]  # the emoji, reported
        again = await client.upsert_sales_order(order("100", [("SKU-A", 3), ("SKU-B", 2)]), exists=None)
        assert not again.created and again.order.order_id == upsert.order.order_id  # converges, no duplicate

        readings, problems = await client.v1.availability(facilities=["WH1"])
        stock = {(r.item, r.facility): r for r in readings}
        assert (stock["SKU-A", "WH1"].on_hand, stock["SKU-A", "WH1"].atp) == (10, 7) and not problems
        assert stock["SKU-A", "WH1"].open_order_quantity == 3

        # the warehouse ships part of the order; the rest is cancelled from Centra
        sim.control("POST", "/orders/C100-WH1/advance", json={"to": "Ship Complete", "lines": {"C100-WH1-1": 2}})
        shipments = [s async for s in client.iter_shipments(started)]
        (shipment,) = shipments
        assert shipment.sales_order_number == "C100-WH1" and t.is_shipped(shipment)
        assert [(ln.customer_line_number, ln.item, ln.quantity) for ln in shipment.lines] == [("5501", "SKU-A", 2)]
        assert shipment.tracking_numbers and shipment.carrier
        assert (await client.get_shipment(shipment.shipment_id)).lines == shipment.lines
        assert (await client.find_shipment(shipment.number)).shipment_id == shipment.shipment_id

        found = await client.find_sales_order("C100-WH1", with_lines=True)
        by_line = {ln.customer_line_number: ln for ln in found.lines}
        assert (by_line["5501"].shipped_quantity, by_line["5501"].open_quantity) == (2, 1)
        readings, _ = await client.v1.availability(facilities=["WH1"], items=["SKU-A"])
        assert [(r.on_hand, r.atp) for r in readings] == [(8, 7)]  # shipping moved 2 units out
    assert {
        "POST /items",
        "POST /orders/salesOrders",
        "GET /shipments/outboundShipments",
        "GET /orders/salesOrders/{orderId}/orderLines",
    } <= set(checker.checked)  # all spec-valid


async def test_cancellations_holds_and_too_late(start):
    sim, make = start()
    sim.control("POST", "/items", json={"items": [{"number": "SKU-A"}, {"number": "SKU-B"}]})
    async with make() as client:
        created = (await client.upsert_sales_order(order("200", [("SKU-A", 3), ("SKU-B", 1)]), exists=False)).order
        held = await client.hold(created.order_id)
        assert held.status == "Hold" and (await client.hold(created.order_id)).status == "Hold"  # converges
        assert (await client.release(created.order_id)).status == "New"
        assert await client.cancel_lines(created.order_id, {"5501": 2}) == {"5501": 2}
        assert await client.cancel_lines(created.order_id, {"5501": 2}) == {}  # a retry cancels nothing twice
        lines = {ln.customer_line_number: ln for ln in await client.order_lines(created.order_id)}
        assert (lines["5501"].cancelled_quantity, lines["5501"].open_quantity) == (2, 1)
        sim.control("POST", "/orders/C200-WH1/advance", json={"to": "Released"})
        with pytest.raises(Permanent, match="cannot be canceled"):
            await client.cancel_lines(created.order_id, {"5502": 1})
        assert (await client.order_status(created.order_id)) == "Released"


async def test_unknown_item_and_field_limit_errors_from_the_simulator(start):
    _sim, make = start()
    async with make() as client:
        with pytest.raises(Permanent) as caught:
            await client.upsert_sales_order(order("300", [("NO-SUCH-SKU", 1)]), exists=False)
        assert t.unknown_items(caught.value) == ["NO-SUCH-SKU"]
        long_brand = Item(number="SKU-Z", description="x" * 400)
        result = await client.upsert_item(long_brand, brand_name="B" * 80)  # fitted before sending: accepted
        assert {c.field for c in result.changes} == {"item.description", "item.brand"}


async def test_order_over_100_lines_is_chunked_and_read_back_by_pages(start):
    sim, make = start()
    skus = sim.control("POST", "/catalog", json={"products": 30, "variants": 2, "sizes": 4})["items"]
    assert len(skus) == 240
    async with make() as client:
        result = await client.upsert_sales_order(order("400", [(s, 1) for s in skus[:230]]), exists=False)
        assert result.requests == 3
        lines = await client.order_lines(result.order.order_id)
    assert len(lines) == 230 and {ln.customer_line_number for ln in lines} == {str(5500 + i) for i in range(1, 231)}


async def test_expired_token_is_refreshed_on_401(start):
    sim, make = start()
    async with make() as client:
        await client.list_facilities()
        sim.control("POST", "/auth/expire")
        assert len(await client.list_facilities()) == 2
    counters = sim.counters()
    assert counters["tokensIssued"] == 2 and counters["statuses"].get("401") == 1


async def test_throttle_429_with_empty_body_is_waited_out(start):
    sim, make = start(requests_per_second=2, retry_after=1)
    async with make() as client:
        results = await asyncio.gather(*(client.list_facilities() for _ in range(6)))
    assert all(len(r) == 2 for r in results)
    assert sim.counters()["throttled429"] > 0


async def test_shared_budget_provokes_no_429(start):
    sim, make = start(requests_per_second=4)
    budget = LocalBudget("deposco:test", deposco_windows(3))
    async with make(budget) as client:
        await asyncio.gather(
            *(client.list_facilities() for _ in range(6)),
            *(client.v1.availability(facilities=["WH1"]) for _ in range(4)),
        )
    assert sim.counters()["throttled429"] == 0


@pytest.mark.parametrize(
    ("operation", "rule"),
    [
        ("GET /facilities", {"error_5xx": 0.5, "error_status": 503}),
        ("GET /facilities", {"reset": 0.5}),
        ("GET /facilities", {"blank_200": 0.5}),
        ("GET /facilities", {"slow": 0.4, "slow_seconds": 1.0}),
        ("POST /orders/salesOrders", {"conflict_409": 0.5}),
        ("GET /integration/{code}/enterpriseinventory/{bu}/availability", {"blank_200": 0.5}),
    ],
    ids=["5xx", "reset", "blank-200", "timeout", "409", "v1-blank-200"],
)
async def test_faults_are_survived(start, operation, rule):
    sim, make = start()
    sim.control("POST", "/items", json={"items": [{"number": "SKU-A"}]})
    sim.control("PUT", "/faults", json={"seed": 3, "operations": {operation: rule}})
    async with make(timeout=httpx.Timeout(0.5)) as client:
        for n in range(5):
            if operation.startswith("POST"):
                await client.upsert_sales_order(order(f"5{n}", [("SKU-A", 1)]), exists=False)
            elif "integration" in operation:
                await client.v1.availability(facilities=["WH1"])
            else:
                assert len(await client.list_facilities()) == 2
    injected = sim.control("GET", "/faults")["injected"]
    assert sum(n for k, n in injected.items() if ":" not in k) > 0


async def test_batch_import_creates_many_orders_in_one_request_with_inner_statuses(start):
    sim, make = start()
    sim.control("POST", "/items", json={"items": [{"number": "SKU-A"}, {"number": "SKU-B"}]})
    async with make() as client:
        existing = (await client.upsert_sales_order(order("400", [("SKU-A", 1)]), exists=False)).order
        before = sim.control("GET", "/counters")["calls"]
        outcomes = await client.import_sales_orders(
            [
                order("401", [("SKU-A", 3), ("SKU-B", 2)]),
                order("400", [("SKU-A", 1)]),  # already there: an inner 409, never a second order
                order("402", [("NO-SUCH-SKU", 1)]),
                order("403", [("SKU-B", 1)], facility="WH2"),
            ]
        )
        after = sim.control("GET", "/counters")["calls"]
        api = {k: n - before.get(k, 0) for k, n in after.items() if "/_sim" not in k and after[k] != before.get(k)}
        assert list(api.values()) == [1]  # one request for four orders
        assert outcomes["C401-WH1"].created and outcomes["C403-WH2"].created
        assert outcomes["C400-WH1"].exists and not outcomes["C400-WH1"].created
        refused = outcomes["C402-WH1"]
        assert not refused.created and not refused.exists
        assert t.unknown_items(t.import_refusal(refused)) == ["NO-SUCH-SKU"]

        found = await client.find_sales_order("C401-WH1", with_lines=True)
        assert found.facility == "WH1" and found.customer_order_number == "401" and found.status == "New"
        assert found.carrier_service == CarrierService("UPS Ground", "UPS", "Ground")
        assert sorted((ln.customer_line_number, ln.item, ln.quantity) for ln in found.lines) == [
            ("5501", "SKU-A", 3),
            ("5502", "SKU-B", 2),
        ]
        assert (await client.find_sales_order("C400-WH1")).order_id == existing.order_id
        assert await client.find_sales_order("C402-WH1") is None
    orders = [o for o in sim.sim.state.orders.values() if o.number.startswith("C40")]
    assert sorted(o.number for o in orders) == ["C400-WH1", "C401-WH1", "C403-WH2"]


async def test_new_sales_orders_of_every_channel_newest_first_with_all_their_lines(start, checker):
    """The other-channel watch's read: orders created after a time, their lines complete even past the nested
    cap of 10, and the read stops at the first older order (a ``createdAfter`` Deposco ignored would otherwise
    page through every order)."""
    sim, make = start()
    skus = [f"SKU-{n:02d}" for n in range(12)]
    sim.control("POST", "/items", json={"items": [{"number": s} for s in skus]})
    sim.control("PUT", "/stock", json={"rows": [{"facility": "WH1", "itemNumber": s, "onHand": 5} for s in skus]})
    async with make() as client:
        sim.control(
            "POST", "/otherChannelOrders", json={"facility": "WH1", "lines": [{"itemNumber": "SKU-00", "quantity": 1}]}
        )
        await asyncio.sleep(0.05)
        cursor = datetime.now(UTC)
        await asyncio.sleep(0.05)
        wide = sim.control(
            "POST",
            "/otherChannelOrders",
            json={"facility": "WH1", "lines": [{"itemNumber": s, "quantity": 1} for s in skus]},
        )
        await client.upsert_sales_order(order("200", [("SKU-01", 2)]), exists=False)

        seen = [o async for o in client.iter_new_sales_orders(cursor)]
        assert [o.number for o in seen] == ["C200-WH1", wide["number"]]  # newest first, the older one not read
        assert sorted(line.item for line in seen[1].lines) == skus  # 12 lines: read from the sub-resource
        assert [(line.item, line.quantity) for line in seen[0].lines] == [("SKU-01", 2)]
        assert all(o.facility == "WH1" for o in seen)
        assert [o async for o in client.iter_new_sales_orders(datetime.now(UTC))] == []

        # a createdAfter Deposco ignored: the first row older than the cursor ends the read
        class IgnoresFilter(httpx.AsyncBaseTransport):
            def __init__(self) -> None:
                self.inner, self.lists = httpx.AsyncHTTPTransport(), 0

            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                if request.url.path.endswith("/orders/salesOrders"):
                    self.lists += 1  # first page and the pages after it
                if "createdAfter" in request.url.params:
                    params = {k: v for k, v in request.url.params.items() if k != "createdAfter"}
                    request = httpx.Request(
                        request.method, request.url.copy_with(params=params), headers=request.headers
                    )
                return await self.inner.handle_async_request(request)

        transport = IgnoresFilter()
        async with make(transport=transport) as blind:
            seen = [o async for o in blind.iter_new_sales_orders(cursor, page_size=1)]
        assert [o.number for o in seen] == ["C200-WH1", wide["number"]]
        assert transport.lists == 3  # a page each, the third holding the first older order: no fourth
    assert "GET /orders/salesOrders" in checker.checked
