"""CentraClient end to end against the simulated Centra served over real HTTP on 127.0.0.1.

The simulator is seeded through its ``/_sim`` control API and its ground truth (``/_sim/truth``,
``/_sim/counters``) is what the assertions compare with, so these tests prove the client's effects, not only
its parsing. Fault modes (429 with both ``Retry-After`` forms, 5xx, slow answers beyond the client timeout,
connection resets, blank 200s) are switched on per operation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from lockstep.connectors.budget import CENTRA_TIERS, LocalBudget
from lockstep.connectors.centra.client import CentraClient
from lockstep.connectors.errors import AuthFailed, Permanent, Transient
from lockstep.connectors.http import RetrySettings
from lockstep.domain.model import OrderStatus, WarehouseShipment
from tests.connectors.centra.conftest import SIM_SCHEMA

pytestmark = pytest.mark.skipif(not SIM_SCHEMA.is_file(), reason="the Centra simulator does not exist yet")

TOKEN = "sim-token-for-connector-tests"
FAST_RETRY = RetrySettings(attempts=4, base_s=0.01, cap_s=0.05)


class Sim:
    """A running simulator: ``ctl`` drives the control API; ``client()`` makes a CentraClient for it."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)

    def ctl(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.http.request(method, f"/_sim{path}", json=body)
        assert response.status_code == expect, response.text
        return response.json()

    def seed(self, products: int = 1) -> list[dict[str, Any]]:
        self.ctl("POST", "/catalog", {"products": products})
        return self.ctl("GET", "/catalog")["sizes"]

    def stock(self, warehouse_id: int, levels: dict[str, int]) -> None:
        items = [{"sku": sku, "physical": qty} for sku, qty in levels.items()]
        self.ctl("PUT", "/stock", {"warehouseId": warehouse_id, "items": items})

    def order(self, lines: list[tuple[str, int]], **extra: Any) -> dict[str, Any]:
        body = {"market": "Sweden", "country": "SE", "lines": [{"sku": s, "quantity": q} for s, q in lines], **extra}
        return self.ctl("POST", "/orders", body, expect=201)

    def client(self, token: str = TOKEN, **kwargs: Any) -> CentraClient:
        kwargs.setdefault("retry", FAST_RETRY)
        return CentraClient(self.base_url, token, **kwargs)


@contextlib.contextmanager
def started(**kwargs: Any) -> Iterator[Sim]:
    # Imported here so this module still imports (and skips) while the simulator is being written.
    from lockstep.sim.centra import build_app
    from lockstep.sim.server import running

    with running(build_app(TOKEN, **kwargs)) as base_url:
        sim = Sim(base_url)
        try:
            yield sim
        finally:
            sim.http.close()


@pytest.fixture
def sim() -> Iterator[Sim]:
    """Growth tier, default topology: warehouse 1 "EU Main" and 2 "US East"; market Sweden allocates 1 then 2."""
    with started(rate_limits=False) as running_sim:
        yield running_sim


async def test_order_to_completed_shipment(sim: Sim) -> None:
    sizes = sim.seed()
    a, b = sizes[0]["sku"], sizes[1]["sku"]
    sim.stock(1, {a: 2, b: 5})
    sim.stock(2, {a: 5})
    placed = sim.order([(a, 4), (b, 1)])
    number = str(placed["number"])
    before = datetime.now(UTC) - timedelta(minutes=1)

    async with sim.client() as client:
        found = [o async for o in client.iter_orders(statuses=[OrderStatus.CONFIRMED], updated_after=before)]
        assert [o.number for o in found] == [number]
        order = found[0]
        assert order.eligible_for_export and order.ship_to.country == "SE" and order.currency == "SEK"
        split = {line.sku: sorted((x.warehouse, x.quantity) for x in line.allocations) for line in order.lines}
        assert split == {a: [("EU Main", 2), ("US East", 2)], b: [("EU Main", 1)]}

        assert (await client.lock_orders([number])).value == [number]
        assert (await client.get_order(number)).is_locked

        line_a = next(line for line in order.lines if line.sku == a)
        created = await client.create_shipment(number, [(line_a.line_id, 4)])
        assert created.value.is_captured and not created.warnings
        shipment_id = created.value.shipment_id
        tagged = await client.update_shipment(shipment_id, external_id="DEP-SHIP-1")
        assert tagged.value.external_id == "DEP-SHIP-1"
        assert (await client.find_shipment("DEP-SHIP-1")).shipment_id == shipment_id
        assert await client.find_shipment("DEP-SHIP-404") is None

        dispatch = WarehouseShipment(
            shipment_id="DEP-SHIP-1",
            number="S1",
            sales_order_number=f"{number}-STO",
            facility="STO",
            carrier="PostNord",
            service="MyPack Home",
            tracking_numbers=("PN1", "PN2"),
            shipped_at=datetime.now(UTC) - timedelta(minutes=5),
        )
        done = await client.complete_shipment(shipment_id, dispatch)
        assert done.value.is_shipped and done.value.tracking_number == "PN1" and done.value.carrier == "PostNord"
        assert [s.units for s in await client.order_shipments(number)] == [4]
        assert (await client.get_order(number)).status == OrderStatus.PROCESSING  # line b is still open

    truth = sim.ctl("GET", "/truth")
    [shipment] = truth["shipments"]
    assert (shipment["externalId"], shipment["trackingNumber"], shipment["emailSent"]) == ("DEP-SHIP-1", "PN1", True)
    levels = {(r["sku"], r["warehouseId"]): r["physical"] for r in truth["stock"]}
    assert levels[(a, 1)] == 0 and levels[(a, 2)] == 3  # Centra decremented its own stock on completion


async def test_failed_capture_is_a_warning_then_a_permanent_error(sim: Sim) -> None:
    [size, *_] = sim.seed()
    sim.stock(1, {size["sku"]: 3})
    placed = sim.order([(size["sku"], 1)])
    sim.ctl("PUT", "/capture", {"mode": "fail"})
    async with sim.client() as client:
        order = await client.get_order(placed["number"])
        created = await client.create_shipment(order.number, [(order.lines[0].line_id, 1)])
        assert not created.value.is_captured
        assert any("Capture failed" in w.message for w in created.warnings.items)
        with pytest.raises(Permanent, match="Capture failed"):
            await client.capture_shipment(created.value.shipment_id)
        with pytest.raises(Permanent, match="not paid") as caught:
            await client.complete_shipment(created.value.shipment_id, carrier="DHL")
        assert caught.value.user_errors


async def test_set_stock_in_batches_then_read_it_back(sim: Sim) -> None:
    sizes = sim.seed(products=30)  # 240 sizes
    levels = {s["sku"]: i % 7 for i, s in enumerate(sizes)}
    async with sim.client(stock_batch_size=100) as client:
        written = await client.set_stock("EU Main", [*levels.items(), ("NO-SUCH-SKU", 1)])
        assert (written.written, written.rejected[0][0]) == (240, "NO-SUCH-SKU")
        assert written.mutations == 3 + 1  # ceil(241 / 100), plus the resend without the unknown size
        rows = await client.read_stock("EU Main", page_size=50)
        assert {r.sku: r.free_to_allocate for r in rows} == levels and all(r.physical is None for r in rows)

        sim.order([(sizes[1]["sku"], 1)])
        full = {r.sku: r for r in await client.read_stock(1, with_allocated=True)}
        row = full[sizes[1]["sku"]]
        assert (row.physical, row.allocated, row.free_to_allocate) == (1, 1, 0)

        by_ean = CentraClient(sim.base_url, TOKEN, sku_key="ean", retry=FAST_RETRY)
        await by_ean.set_stock("US East", [(sizes[0]["ean"], 9)])
        await by_ean.aclose()
    assert sim.ctl("GET", f"/stock?sku={sizes[0]['sku']}&warehouseId=2")["stock"][0]["physical"] == 9
    assert sim.ctl("GET", "/counters")["calls"]["setStock"] == 5


async def test_events_queue_round_trip(sim: Sim) -> None:
    [size, *_] = sim.seed()
    sim.stock(1, {size["sku"]: 3})
    async with sim.client() as client:
        assert sorted((await client.subscribe_events()).value) == ["Order", "Shipment"]
        placed = sim.order([(size["sku"], 1)])
        events = await client.fetch_events()
        assert [(e.object_type, e.change_type, e.reference) for e in events] == [
            ("Order", "CREATED", str(placed["number"]))
        ]
        assert not await client.confirm_events(e.event_id for e in events)
        assert await client.fetch_events() == []


async def test_product_sizes_page_through_the_connection(sim: Sim) -> None:
    sizes = sim.seed(products=3)  # 24 sizes
    async with sim.client() as client:
        found = [s async for s in client.iter_product_sizes(page_size=7)]
        assert sorted(s.sku for s in found) == sorted(s["sku"] for s in sizes)
        assert all(s.ean and s.product_number and s.size for s in found)
        future = datetime.now(UTC) + timedelta(days=1)
        assert [s async for s in client.iter_product_sizes(updated_after=future)] == []
        assert [w.name for w in await client.list_warehouses()] == ["EU Main", "US East"]


async def test_wrong_token_and_missing_permission(sim: Sim) -> None:
    async with sim.client(token="not-the-token") as client:
        with pytest.raises(AuthFailed, match="403"):
            await client.list_warehouses()
    sim.ctl("POST", "/tokens", {"token": "warehouse-only", "permissions": ["Warehouse:read"]})
    async with sim.client(token="warehouse-only") as client:
        assert len(await client.list_warehouses()) == 2
        with pytest.raises(Permanent, match="Order:read"):
            await anext(client.iter_orders())


@pytest.mark.parametrize("retry_after_format", ["seconds", "timestamp"])
async def test_429_is_waited_out_with_either_retry_after_form(retry_after_format: str) -> None:
    with started(retry_after_format=retry_after_format) as sim:
        quota = [{"type": "REQUEST_COUNT", "interval": "TEN_SECONDS", "quota": 10}]
        sim.ctl("PUT", "/rate-limits", {"overrides": quota})
        async with sim.client(retry=RetrySettings(attempts=6, base_s=0.01, cap_s=0.05)) as client:
            for _ in range(12):
                assert len(await client.list_warehouses()) == 2
        counters = sim.ctl("GET", "/counters")
        assert counters["rateLimited"] >= 1 and counters["calls"]["warehouses"] == 12


@pytest.mark.parametrize(
    "fault",
    [
        {"error_5xx": 0.5, "error_status": 503},
        {"reset": 0.5},
        {"blank_200": 0.5},
        {"slow": 0.5, "slow_seconds": 1.0},
    ],
    ids=["5xx", "reset", "blank-200", "timeout"],
)
async def test_reads_survive_faults(sim: Sim, fault: dict[str, Any]) -> None:
    sim.ctl("PUT", "/faults", {"seed": 3, "operations": {"warehouses": fault}})
    async with sim.client(timeout=0.4, retry=RetrySettings(attempts=8, base_s=0.01, cap_s=0.05)) as client:
        for _ in range(8):
            assert [w.warehouse_id for w in await client.list_warehouses()] == ["1", "2"]
    assert sum(sim.ctl("GET", "/faults")["injected"].values()) > 0


async def test_a_create_shipment_that_times_out_is_not_repeated(sim: Sim) -> None:
    """The answer never came, but Centra did create it: a blind retry would have made a second shipment."""
    [size, *_] = sim.seed()
    sim.stock(1, {size["sku"]: 3})
    placed = sim.order([(size["sku"], 2)])
    async with sim.client(timeout=0.3) as client:
        order = await client.get_order(placed["number"])
        sim.ctl("PUT", "/faults", {"operations": {"createShipment": {"slow": 1.0, "slow_seconds": 0.6}}})
        with pytest.raises(Transient, match="Timeout"):
            await client.create_shipment(order.number, [(order.lines[0].line_id, 1)])
        sim.ctl("DELETE", "/faults")
        for _ in range(50):  # the server finishes the request after our timeout
            shipments = await client.order_shipments(order.number)
            if shipments:
                break
            await asyncio.sleep(0.05)
    assert len(shipments) == 1 and sim.ctl("GET", "/counters")["calls"]["createShipment"] == 1


async def test_rate_limits_report_the_shared_quota(sim: Sim) -> None:
    budget = LocalBudget("centra:sim", CENTRA_TIERS["growth"])
    # Centra's buckets refill continuously; a small hourly quota refills slowly enough to read exactly.
    hourly = [{"type": "REQUEST_COUNT", "interval": "ONE_HOUR", "quota": 100}]
    sim.ctl("PUT", "/rate-limits", {"enabled": True, "overrides": hourly})
    async with sim.client(budget=budget) as client:
        other = sim.client(token=TOKEN)  # another integration on the same environment spends the budget
        for _ in range(5):
            await other.list_warehouses()
        await other.aclose()
        limits = {(r.kind, r.window_seconds): r for r in await client.rate_limits()}
        assert limits[("requests", 10.0)].quota == 60 and limits[("mutations", 3600.0)].quota == 1800
        assert limits[("requests", 3600.0)].used >= 6  # 5 by the other integration + our rateLimits call
        assert len(budget._log["requests"]) >= 6  # the other integration's calls now count against ours


async def test_several_orders_by_number_in_one_request(sim: Sim) -> None:
    [size, *_] = sim.seed()
    sim.stock(1, {size["sku"]: 10})
    first = sim.order([(size["sku"], 1)])
    second = sim.order([(size["sku"], 2)])
    sent: list[httpx.Request] = []

    async def count(request: httpx.Request) -> None:
        sent.append(request)

    http = httpx.AsyncClient(event_hooks={"request": [count]})
    async with sim.client(http=http) as client:
        found = await client.get_orders([second["number"], 999_999, first["number"], second["number"]])
    await http.aclose()
    assert list(found) == [str(second["number"]), "999999", str(first["number"])]
    assert found["999999"] is None
    assert found[str(first["number"])].lines[0].quantity == 1
    assert found[str(second["number"])].lines[0].quantity == 2
    assert len(sent) == 1
