"""Unsigned shipment webhooks to a configured URL, with dropped, duplicated, delayed and reordered calls."""

from __future__ import annotations

import threading
import time

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockstep.sim.server import running

from .conftest import order_payload


class Receiver:
    def __init__(self) -> None:
        self.calls: list[tuple[dict, dict]] = []
        self.lock = threading.Lock()

    async def hook(self, request: Request) -> Response:
        body = await request.json()
        with self.lock:
            self.calls.append((dict(request.headers), body))
        return Response(status_code=204)

    def numbers(self) -> list[str]:
        with self.lock:
            return [body["shipment"]["shipmentNumber"] for _, body in self.calls]


@pytest.fixture
def receiver():
    rec = Receiver()
    with running(Starlette(routes=[Route("/hook", rec.hook, methods=["POST"])])) as url:
        rec.url = f"{url}/hook"
        yield rec


def _ship(deposco, numbers):
    api = deposco.api()
    shipped = []
    for number in numbers:
        assert api.post("/latest/orders/salesOrders", json=order_payload(number, [("SKU-A", 1)])).status_code == 200
        shipped.append(deposco.control("POST", f"/orders/{number}/advance", json={})["shipment"]["number"])
    return shipped


def _wait(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_shipment_webhook_is_unsigned_and_carries_the_shipment(start_deposco, receiver):
    deposco = start_deposco(webhook_url=receiver.url)
    deposco.control("POST", "/facilities", json={"number": "WH1"})
    deposco.control("POST", "/items", json={"items": [{"number": "SKU-A"}]})
    deposco.control("PUT", "/stock", json={"facility": "WH1", "itemNumber": "SKU-A", "onHand": 10})
    (number,) = _ship(deposco, ["C1-WH1"])
    assert _wait(lambda: len(receiver.calls) == 1)
    headers, body = receiver.calls[0]
    assert not any("signature" in h or h.startswith("x-deposco") for h in headers)
    shipment = body["shipment"]
    assert shipment["shipmentNumber"] == number and shipment["shipmentStatus"] == "Shipped"
    assert shipment["trackingNumber"] and shipment["trackingUrl"]
    assert shipment["orders"]["order"][0]["orderNumber"] == "C1-WH1"
    assert shipment["lines"]["line"][0]["customerLineNumber"] == "5500"
    assert deposco.control("GET", "/counters")["webhooks"]["sent"] == 1


def test_dropped_webhooks_are_counted_and_never_arrive(start_deposco, receiver):
    deposco = start_deposco(webhook_url=receiver.url)
    deposco.control("POST", "/facilities", json={"number": "WH1"})
    deposco.control("POST", "/items", json={"items": [{"number": "SKU-A"}]})
    deposco.control("PUT", "/stock", json={"facility": "WH1", "itemNumber": "SKU-A", "onHand": 10})
    deposco.control("PUT", "/webhooks", json={"url": receiver.url, "faults": {"drop": 1.0}})
    _ship(deposco, ["C1-WH1", "C2-WH1"])
    drained = deposco.control("POST", "/webhooks/drain")
    assert drained == {"dropped": 2}
    assert receiver.calls == []


def test_duplicated_delayed_and_reordered_webhooks(start_deposco, receiver):
    deposco = start_deposco(webhook_url=receiver.url, seed=3)
    deposco.control("POST", "/facilities", json={"number": "WH1"})
    deposco.control("POST", "/items", json={"items": [{"number": "SKU-A"}]})
    deposco.control("PUT", "/stock", json={"facility": "WH1", "itemNumber": "SKU-A", "onHand": 10})
    deposco.control("PUT", "/webhooks", json={"faults": {"duplicate": 1.0}})
    (dup,) = _ship(deposco, ["C1-WH1"])
    deposco.control("POST", "/webhooks/drain")
    assert _wait(lambda: receiver.numbers() == [dup, dup])

    deposco.control("PUT", "/webhooks", json={"faults": {"reorder": 1.0}})
    first, second = _ship(deposco, ["C2-WH1", "C3-WH1"])
    deposco.control("POST", "/webhooks/drain")
    assert _wait(lambda: receiver.numbers()[2:] == [second, first])  # the held one arrives after the next

    deposco.control("PUT", "/webhooks", json={"faults": {"delay": 1.0, "delay_seconds": 0.4}})
    started = time.monotonic()
    (late,) = _ship(deposco, ["C4-WH1"])
    assert _wait(lambda: late in receiver.numbers())
    assert time.monotonic() - started >= 0.4
    counters = deposco.control("GET", "/counters")["webhooks"]
    assert counters["duplicated"] == 1 and counters["reordered"] == 1 and counters["delayed"] == 1
    assert counters["sent"] == 5
