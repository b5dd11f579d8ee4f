"""CentraClient edge cases through ``httpx.MockTransport``: both error layers, odd bodies, paging, batching.

Every request is validated against the simulated schema by ``FakeCentra`` (document and variables).
"""

from __future__ import annotations

import math

import httpx
import pytest

from lockstep.config.loader import load_brand_file
from lockstep.connectors.budget import CENTRA_TIERS, LocalBudget, Priority
from lockstep.connectors.centra.client import CentraClient
from lockstep.connectors.errors import AuthFailed, Permanent, RateLimited, Transient
from tests.connectors.centra.conftest import (
    ROOT,
    TOKEN,
    FakeCentra,
    data,
    example,
    make_client,
    needs_examples,
    payload,
)

SHIPMENT = {
    "id": 5,
    "number": "1001-1",
    "externalId": None,
    "isGoodToGo": True,
    "isShipped": False,
    "isPaid": False,
    "isCaptured": False,
    "order": {"id": "h", "number": 1001},
    "lines": [{"id": 1, "quantity": 2, "orderLine": {"id": 11}}],
}


def order(number: int) -> dict:
    return {"id": f"h{number}", "number": number, "status": "CONFIRMED", "isOnHold": False, "lines": []}


def connection(numbers: list[int], cursor: str | None, more: bool) -> dict:
    return data(
        orderConnection={
            "pageInfo": {"hasNextPage": more, "endCursor": cursor},
            "edges": [{"cursor": f"c{n}", "node": order(n)} for n in numbers],
        }
    )


class RecordingBudget:
    """Records which buckets and priority each attempt asked for."""

    def __init__(self) -> None:
        self.grants: list[tuple[tuple[str, ...], Priority]] = []

    async def acquire(self, *names: str, priority: Priority = Priority.NORMAL) -> float:
        self.grants.append((names, priority))
        return 0.0


# --- mutation payload layer ---------------------------------------------------------------------------------


async def test_user_errors_become_permanent_with_messages_and_are_not_retried() -> None:
    refused = payload(
        "createShipment",
        errors=[{"message": "Quantity 5 exceeds the 2 unshipped units of line 11", "path": ["input", "lines", "0"]}],
        shipment=None,
    )
    fake = FakeCentra(LockstepCreateShipment=[refused])
    client, _ = make_client(fake)
    with pytest.raises(Permanent, match="exceeds the 2 unshipped units") as caught:
        await client.create_shipment("1001", [(11, 5)])
    assert caught.value.user_errors[0].path == "input.lines.0"
    assert fake.operations() == ["LockstepCreateShipment"]
    [(_, variables)] = fake.calls
    assert variables["input"]["order"] == {"number": 1001} and variables["input"]["capture"] is True


async def test_user_warnings_are_returned_with_the_result() -> None:
    warned = payload(
        "createShipment",
        warnings=[{"message": "Capture failed: the payment provider declined", "path": ["input", "capture"]}],
        shipment=SHIPMENT,
    )
    client, _ = make_client(FakeCentra(LockstepCreateShipment=[warned]))
    result = await client.create_shipment(1001, [(11, 2)])
    assert result.value.is_captured is False and result.value.lines == ((11, 2),)
    assert [w.message for w in result.warnings.items] == ["Capture failed: the payment provider declined"]
    assert result.warnings.items[0].path == "input.capture"


async def test_capture_pending_is_visible() -> None:
    answer = payload(
        "captureShipment",
        warnings=[{"message": "Capture requested", "path": ["id"]}],
        paymentHistoryEntry={"status": "PENDING", "entryType": "CAPTURE_REQUEST"},
        shipment=SHIPMENT,
    )
    client, _ = make_client(FakeCentra(LockstepCaptureShipment=[answer]))
    result = await client.capture_shipment(5)
    assert result.value.pending and result.value.shipment.shipment_id == 5 and result.warnings


# --- HTTP and body layer ------------------------------------------------------------------------------------


async def test_403_is_auth_failed_and_not_retried() -> None:
    denied = httpx.Response(403, json={"errors": [{"message": "Access denied"}]})
    fake = FakeCentra(LockstepWarehouses=[denied])
    client, slept = make_client(fake)
    with pytest.raises(AuthFailed, match="Access denied"):
        await client.list_warehouses()
    assert len(fake.calls) == 1 and slept == []


async def test_400_is_permanent_with_graphql_messages() -> None:
    bad = httpx.Response(400, json={"errors": [{"message": "Cannot query field 'x' on type 'Order'."}]})
    client, _ = make_client(FakeCentra(LockstepWarehouses=[bad]))
    with pytest.raises(Permanent, match="Cannot query field") as caught:
        await client.list_warehouses()
    assert caught.value.status == 400


@needs_examples
async def test_200_with_authorization_errors_is_permanent_naming_the_permission() -> None:
    body = example("authorization/01-Permissions.response")
    fake = FakeCentra(LockstepOrders=[httpx.Response(200, json=body)])
    client, _ = make_client(fake)
    with pytest.raises(Permanent, match="Order:read") as caught:
        await anext(client.iter_orders())
    assert caught.value.user_errors[0].path == "orderConnection" and len(fake.calls) == 1


async def test_200_with_an_internal_error_is_transient_and_retried_on_reads() -> None:
    internal = {"errors": [{"message": "Internal server error", "extensions": {"category": "internal"}}]}
    ok = data(warehouses=[{"id": 1, "name": "EU Main", "status": "ACTIVE"}])
    fake = FakeCentra(LockstepWarehouses=[internal, ok])
    client, slept = make_client(fake)
    assert [w.name for w in await client.list_warehouses()] == ["EU Main"]
    assert len(fake.calls) == 2 and len(slept) == 1


@pytest.mark.parametrize(
    "bad",
    [
        httpx.Response(200, text="<html><body>502 Bad Gateway</body></html>", headers={"content-type": "text/html"}),
        httpx.Response(200, content=b'{"data": {"warehouses": [{"id": 1, "na'),
        httpx.Response(200, content=b""),
        httpx.Response(200, json={"data": None}),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(502, text="<html>Bad Gateway</html>"),
    ],
    ids=["html-200", "truncated", "blank", "null-data", "json-list", "html-502"],
)
async def test_unreadable_answers_are_transient_and_reads_recover(bad: httpx.Response) -> None:
    ok = data(warehouses=[{"id": 1, "name": "EU Main", "status": "ACTIVE"}])
    fake = FakeCentra(LockstepWarehouses=[bad, ok])
    client, _ = make_client(fake)
    assert [w.warehouse_id for w in await client.list_warehouses()] == ["1"]
    assert len(fake.calls) == 2


async def test_unreadable_answer_to_create_shipment_is_not_retried() -> None:
    """A truncated body means the shipment may exist: no blind retry (that would create a second one)."""
    fake = FakeCentra(LockstepCreateShipment=[httpx.Response(200, content=b'{"data": {"createShipment": {"shi')])
    client, _ = make_client(fake)
    with pytest.raises(Transient, match="unreadable body"):
        await client.create_shipment(1001, [(11, 1)])
    assert len(fake.calls) == 1


async def test_reads_give_up_after_the_configured_attempts() -> None:
    fake = FakeCentra(LockstepWarehouses=[httpx.Response(503, text="busy")])
    client, slept = make_client(fake)
    with pytest.raises(Transient, match="503"):
        await client.list_warehouses()
    assert len(fake.calls) == 4 and len(slept) == 3


async def test_429_waits_for_retry_after_then_succeeds() -> None:
    limited = httpx.Response(429, headers={"Retry-After": "2"}, json={"errors": [{"message": "Rate limit"}]})
    ok = data(warehouses=[])
    client, slept = make_client(FakeCentra(LockstepWarehouses=[limited, ok]))
    assert await client.list_warehouses() == []
    assert len(slept) == 1 and 1.5 < slept[0] <= 2.0


async def test_long_retry_after_is_handed_to_the_job_queue() -> None:
    limited = httpx.Response(429, headers={"Retry-After": "600"})
    client, _ = make_client(FakeCentra(LockstepSetStock=[limited]))
    with pytest.raises(RateLimited) as caught:
        await client.set_stock(1, [("A", 1)])
    assert caught.value.delay_s > 500


async def test_token_is_sent_as_bearer_and_never_echoed_in_errors() -> None:
    echo = httpx.Response(400, json={"errors": [{"message": f"bad token {TOKEN} in query"}]})
    client, _ = make_client(FakeCentra(LockstepWarehouses=[echo]))
    with pytest.raises(Permanent) as caught:
        await client.list_warehouses()
    assert TOKEN not in str(caught.value)


# --- paging ---------------------------------------------------------------------------------------------------


async def test_orders_page_through_the_connection() -> None:
    pages = {
        None: connection([1, 2], "c2", True),
        "c2": connection([3, 4], "c4", True),
        "c4": connection([5], "c5", False),
    }
    fake = FakeCentra(LockstepOrders=lambda v: pages[v["after"]])
    client, _ = make_client(fake, page_size=2)
    numbers = [o.number async for o in client.iter_orders(statuses=["CONFIRMED"])]
    assert numbers == ["1", "2", "3", "4", "5"]
    assert [v["after"] for _, v in fake.calls] == [None, "c2", "c4"]
    assert all(v["first"] == 2 and v["where"] == {"status": ["CONFIRMED"]} for _, v in fake.calls)


async def test_a_cursor_that_does_not_advance_stops_the_iteration() -> None:
    fake = FakeCentra(LockstepOrders=lambda v: connection([1], "same", True))
    client, _ = make_client(fake)
    with pytest.raises(Permanent, match="did not advance"):
        _ = [o async for o in client.iter_orders()]
    assert len(fake.calls) == 2


async def test_stock_pages_by_number_resolves_names_and_drops_repeats() -> None:
    def stock(variables: dict) -> dict:
        rows = {1: ["A", "B"], 2: ["B", "C"], 3: []}[variables["page"]]
        return data(
            warehouse={
                "id": 7,
                "name": "EU Main",
                "stock": [
                    {"productSize": {"SKU": s, "EAN": ""}, "freeToAllocateQuantity": 1, "allocatedQuantity": 2}
                    for s in rows
                ],
            }
        )

    fake = FakeCentra(
        LockstepWarehouses=[data(warehouses=[{"id": 7, "name": "EU Main", "status": "ACTIVE"}])],
        LockstepWarehouseStockWithAllocated=stock,
    )
    client, _ = make_client(fake, stock_page_size=2)
    rows = await client.read_stock("EU Main", with_allocated=True)
    assert [(r.sku, r.physical) for r in rows] == [("A", 3), ("B", 3), ("C", 3)]
    assert fake.operations() == ["LockstepWarehouses"] + ["LockstepWarehouseStockWithAllocated"] * 3
    assert {v["id"] for _, v in fake.calls[1:]} == {7}
    await client.read_stock("EU Main", with_allocated=True)  # the name is cached now
    assert fake.operations().count("LockstepWarehouses") == 1


async def test_unknown_warehouse_name_is_permanent() -> None:
    fake = FakeCentra(LockstepWarehouses=[data(warehouses=[])])
    client, _ = make_client(fake)
    with pytest.raises(Permanent, match="no warehouse named 'Nowhere'"):
        await client.read_stock("Nowhere")


# --- stock writes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rows", "batch"), [(450, 200), (200, 200), (1, 200), (7, 3)])
async def test_set_stock_sends_ceil_n_over_batch_mutations(rows: int, batch: int) -> None:
    fake = FakeCentra(LockstepSetStock=[payload("setStock", stockChanges=[{"id": 1}])])
    budget = RecordingBudget()
    client, _ = make_client(fake, budget=budget, stock_batch_size=batch)
    result = await client.set_stock("EU Main", [(f"SKU{i}", i % 5) for i in range(rows)], priority=Priority.HIGH)
    assert result.mutations == len(fake.calls) == math.ceil(rows / batch)
    assert result.written == rows and result.rejected == ()
    sizes = [len(v["input"]["productSizes"]) for _, v in fake.calls]
    assert sizes == [batch] * (rows // batch) + ([rows % batch] if rows % batch else [])
    assert all(v["input"]["stockQuantityType"] == "PHYSICAL" for _, v in fake.calls)
    assert budget.grants == [(("requests", "mutations"), Priority.HIGH)] * len(fake.calls)


async def test_set_stock_drops_unknown_sizes_and_resends_the_rest() -> None:
    def answer(variables: dict) -> dict:
        keys = [row["productSize"]["EAN"] for row in variables["input"]["productSizes"]]
        if "BAD" in keys:
            i = keys.index("BAD")
            error = {"message": "Product size with EAN 'BAD' not found", "path": ["input", "productSizes", str(i)]}
            return payload("setStock", errors=[error], stockChanges=[])
        return payload("setStock", warnings=[{"message": "Quantity below allocated", "path": None}], stockChanges=[])

    fake = FakeCentra(LockstepSetStock=answer)
    client, _ = make_client(fake, sku_key="ean")
    result = await client.set_stock(1, [("A", 1), ("BAD", 2), ("C", 3)])
    assert result.rejected == (("BAD", "Product size with EAN 'BAD' not found"),)
    assert (result.mutations, result.written) == (2, 2)
    assert [w.message for w in result.warnings.items] == ["Quantity below allocated"]
    assert [r["productSize"]["EAN"] for r in fake.calls[-1][1]["input"]["productSizes"]] == ["A", "C"]


async def test_set_stock_error_without_a_row_fails_the_call() -> None:
    error = {"message": "Warehouse 'Nope' not found", "path": ["input", "warehouse"]}
    client, _ = make_client(FakeCentra(LockstepSetStock=[payload("setStock", errors=[error], stockChanges=[])]))
    with pytest.raises(Permanent, match="Warehouse 'Nope' not found"):
        await client.set_stock("Nope", [("A", 1)])


# --- other operations ---------------------------------------------------------------------------------------


async def test_reads_spend_requests_and_mutations_spend_both() -> None:
    budget = RecordingBudget()
    fake = FakeCentra(
        LockstepWarehouses=[data(warehouses=[])],
        LockstepLockOrders=[payload("setOrdersLock", orders=[{"number": 1001, "isLocked": True}])],
    )
    client, _ = make_client(fake, budget=budget)
    await client.list_warehouses(priority=Priority.LOW)
    locked = await client.lock_orders(["1001"])
    assert locked.value == ["1001"]
    assert budget.grants == [(("requests",), Priority.LOW), (("requests", "mutations"), Priority.NORMAL)]


async def test_rate_limits_feed_the_shared_budget() -> None:
    limits = [
        {"type": "REQUEST_COUNT", "intervalSeconds": "TEN_SECONDS", "quota": 60, "usedQuota": 40, "remainingQuota": 20},
        {"type": "MUTATION_COUNT", "intervalSeconds": "TEN_SECONDS", "quota": 20, "usedQuota": 15, "remainingQuota": 5},
        {"type": "QUERY_COMPLEXITY", "intervalSeconds": "ONE_HOUR", "quota": 9, "usedQuota": 1, "remainingQuota": 8},
    ]
    budget = LocalBudget("centra:test", CENTRA_TIERS["growth"])
    client, _ = make_client(FakeCentra(LockstepRateLimits=[data(rateLimits=limits)]), budget=budget)
    found = await client.rate_limits()
    assert [(r.kind, r.remaining) for r in found] == [("requests", 20), ("mutations", 5), ("complexity", 8)]
    # our own rateLimits call is one of the 40 requests; the other integrations' use is now counted too
    assert len(budget._log["requests"]) == 40
    assert len(budget._log["mutations"]) == 15


async def test_find_shipment_by_external_id() -> None:
    tagged = SHIPMENT | {"externalId": "D77"}
    fake = FakeCentra(
        LockstepShipmentsByExternalId=[
            data(shipments=[tagged]),
            data(shipments=[]),
            data(shipments=[tagged, tagged | {"id": 6, "number": "1001-2"}]),
        ]
    )
    client, _ = make_client(fake)
    found = await client.find_shipment("D77")
    assert found is not None and (found.shipment_id, found.external_id) == (5, "D77")
    assert await client.find_shipment("D77") is None
    with pytest.raises(Permanent, match="2 Centra shipments carry externalId 'D77': 1001-1, 1001-2"):
        await client.find_shipment("D77")


async def test_events_fetch_and_confirm_in_batches() -> None:
    events = [
        {"id": i, "objectType": "Order", "changeType": "UPDATED", "objectReference": 1000 + i, "createdAt": None}
        for i in range(1, 6)
    ]
    fake = FakeCentra(
        LockstepEvents=[data(events=events)],
        LockstepConfirmEvents=[payload("confirmEvents", warnings=[{"message": "Event 9 unknown", "path": None}])],
    )
    client, _ = make_client(fake)
    fetched = await client.fetch_events(limit=200)
    assert [e.reference for e in fetched] == ["1001", "1002", "1003", "1004", "1005"]
    warnings = await client.confirm_events([e.event_id for e in fetched] + [1], batch_size=2)
    assert [v["eventsIds"] for name, v in fake.calls if name == "LockstepConfirmEvents"] == [[1, 2], [3, 4], [5]]
    assert len(warnings.items) == 3


async def test_from_topology_uses_the_brand_url_key_and_budget() -> None:
    topology = load_brand_file(ROOT / "config" / "example-brand.yaml")
    budget = LocalBudget(f"centra:{topology.brand}", CENTRA_TIERS[topology.centra.rate_tier])
    client = CentraClient.from_topology(topology, TOKEN, budget)
    try:
        assert client.url == f"{topology.centra.base_url}/graphql"
        assert client.sku_key == topology.sku_key and client.budget is budget
    finally:
        await client.aclose()
    assert client.http.is_closed


async def test_a_mutation_slot_is_granted_once_and_spent_by_the_first_mutation_inside() -> None:
    """The publisher waits for its slot, then decides what to write: the write must not wait (or pay) again;
    a second mutation inside, and a read on another budget, pay as usual."""
    fake = FakeCentra(LockstepSetStock=[payload("setStock", stockChanges=[{"id": 1}])] * 2)
    budget = RecordingBudget()
    client, _ = make_client(fake, budget=budget, stock_batch_size=2)
    async with client.mutation_slot(priority=Priority.URGENT):
        assert budget.grants == [(("requests", "mutations"), Priority.URGENT)]
        await client.set_stock("EU Main", [("A", 1), ("B", 2)], priority=Priority.URGENT)
        assert len(budget.grants) == 1 and len(fake.calls) == 1
        await client.set_stock("EU Main", [("C", 3)], priority=Priority.URGENT)
    assert len(budget.grants) == 2 and len(fake.calls) == 2
    await client.set_stock("EU Main", [("D", 4)], priority=Priority.HIGH)
    assert budget.grants[-1] == (("requests", "mutations"), Priority.HIGH) and len(budget.grants) == 3


async def test_a_slot_is_not_spent_by_a_read() -> None:
    fake = FakeCentra(
        LockstepWarehouses=[data(warehouses=[])],
        LockstepSetStock=[payload("setStock", stockChanges=[{"id": 1}])],
    )
    budget = RecordingBudget()
    client, _ = make_client(fake, budget=budget)
    async with client.mutation_slot(priority=Priority.URGENT):
        await client.list_warehouses(priority=Priority.LOW)  # pays for itself: a read, not the mutation
        await client.set_stock("EU Main", [("A", 1)], priority=Priority.URGENT)  # the prepaid slot
    assert budget.grants == [(("requests", "mutations"), Priority.URGENT), (("requests",), Priority.LOW)]
