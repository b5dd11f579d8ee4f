"""Contract: webhook-plugin calls (form body, ids only, HMAC signature, retries then drop, faults)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lockstep.connectors.centra.webhooks import sign
from lockstep.sim.centra.webhooks import WebhookConfig
from lockstep.sim.server import running
from tests.shared_spec import SPEC_DIR
from tests.sim.centra.conftest import Centra, simulator

VECTOR = SPEC_DIR / "examples" / "centra" / "webhooks" / "signature-test-vector.json"
SECRET = "s3cret"


@pytest.mark.skipif(not VECTOR.exists(), reason="shared spec examples not available")
def test_signature_matches_the_documented_example() -> None:
    vector = json.loads(VECTOR.read_text())
    assert sign(vector["endpoint_secret"], vector["timestamp"], vector["raw_body"].encode()) == vector["expected_v1"]


class Receiver:
    """A real HTTP webhook receiver that answers with the statuses it is told to, then 200."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.calls: list[tuple[bytes, dict[str, str]]] = []

    async def handle(self, request: Request) -> Response:
        self.calls.append((await request.body(), dict(request.headers)))
        return Response(status_code=self.statuses.pop(0) if self.statuses else 200)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self.handle, methods=["POST"])])


@pytest.fixture
def receiver_factory() -> Iterator[Callable[[list[int] | None], tuple[Receiver, str]]]:
    stack: list = []

    def make(statuses: list[int] | None = None) -> tuple[Receiver, str]:
        receiver = Receiver(statuses)
        context = running(receiver.app())
        url = context.__enter__()
        stack.append(context)
        return receiver, f"{url}/hook"

    yield make
    for context in stack:
        context.__exit__(None, None, None)


def _wait(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


@contextlib.contextmanager
def _sim(url: str, **config: object) -> Iterator[Centra]:
    cfg = WebhookConfig(url=url, secret=SECRET, retry_base_delay=0.02, batch_window=0.01)
    cfg.update(dict(config))
    with simulator(webhook_config=cfg, rate_limits=False) as centra:
        yield centra


def _place(centra: Centra) -> dict:
    sku = centra.seed(1, 1, 1)[0]["sku"]
    centra.stock(1, {sku: 5})
    return centra.order([(sku, 1)])


def test_signed_form_encoded_ids_only(receiver_factory) -> None:
    receiver, url = receiver_factory(None)
    with _sim(url) as centra:
        order = _place(centra)
        _wait(lambda: receiver.calls)
    body, headers = receiver.calls[0]
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    parts = dict(p.split("=", 1) for p in headers["x-centra-signature"].split(","))
    assert parts["v1"] == sign(SECRET, parts["t"], body)
    assert abs(int(parts["t"]) - time.time()) < 30
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert payload["events"][0] == {
        **payload["events"][0],
        "type": "order",
        "action": "insert",
        "id": order["number"],
    }
    assert set(payload["events"][0]) == {"type", "action", "date", "id"}


def test_retries_then_delivers(receiver_factory) -> None:
    receiver, url = receiver_factory([500, 503])
    with _sim(url) as centra:
        _place(centra)
        _wait(lambda: centra.ctl("GET", "/counters")["webhooks"].get("sent") == 1)
        counters = centra.ctl("GET", "/counters")["webhooks"]
    assert len(receiver.calls) == 3 and counters["failed_attempts"] == 2
    assert receiver.calls[0][0] == receiver.calls[2][0]  # the same call is retried


def test_dropped_after_three_retries(receiver_factory) -> None:
    receiver, url = receiver_factory([500] * 10)
    with _sim(url) as centra:
        _place(centra)
        _wait(lambda: centra.ctl("GET", "/counters")["webhooks"].get("dropped_after_retries") == 1)
    assert len(receiver.calls) == 4  # first attempt + 3 retries, then dropped


def test_drop_and_duplicate_faults(receiver_factory) -> None:
    receiver, url = receiver_factory(None)
    with _sim(url, duplicate=1.0) as centra:
        _place(centra)
        _wait(lambda: len(receiver.calls) == 2)
        assert centra.ctl("GET", "/counters")["webhooks"]["duplicated"] == 1
        centra.ctl("PUT", "/webhooks", {"duplicate": 0.0, "drop": 1.0})
        centra.ctl("POST", f"/orders/{centra.ctl('GET', '/truth')['orders'][0]['number']}/flags", {"isOnHold": True})
        _wait(lambda: centra.ctl("GET", "/counters")["webhooks"].get("dropped_fault") == 1)
    assert len(receiver.calls) == 2
