"""Fixtures: a real Deposco simulator per test (127.0.0.1, free port) and spec-checked httpx clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from lockstep.sim.deposco import build_app
from lockstep.sim.deposco.context import Sim
from lockstep.sim.server import running

from .contract import SPEC_FILE, SpecChecker

CLIENT_ID, CLIENT_SECRET = "lockstep", "s3cret"


@pytest.fixture(scope="session")
def spec_checker() -> SpecChecker:
    if not SPEC_FILE.exists():
        pytest.fail(f"Deposco OpenAPI not found at {SPEC_FILE}")
    return SpecChecker()


@dataclass
class Deposco:
    """One running simulator: its URL, the live Sim, a control client and spec-checked API clients."""

    base_url: str
    sim: Sim
    checker: SpecChecker
    stack: ExitStack
    ctl: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.ctl = self.client(auth=(CLIENT_ID, CLIENT_SECRET))

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client whose every ``/latest`` response is validated against the Deposco OpenAPI."""
        client = httpx.Client(
            base_url=self.base_url, timeout=10, event_hooks={"response": [self.checker.check]}, **kwargs
        )
        self.stack.callback(client.close)
        return client

    def token(self, **form: str) -> dict[str, Any]:
        response = self.ctl.post("/oauth2/token", data={"grant_type": "client_credentials", **form})
        assert response.status_code == 200, response.text
        return response.json()

    def api(self, **form: str) -> httpx.Client:
        """A ``/latest`` client holding a fresh bearer token."""
        return self.client(headers={"Authorization": f"Bearer {self.token(**form)['access_token']}"})

    def v1(self) -> httpx.Client:
        return self.client(auth=(CLIENT_ID, CLIENT_SECRET), headers={"Accept": "application/json"})

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.ctl.request(method, f"/_sim{path}", **kwargs)
        assert response.status_code == 200, f"{method} /_sim{path}: {response.status_code} {response.text}"
        return response.json()


@pytest.fixture
def start_deposco(spec_checker: SpecChecker) -> Iterator[Callable[..., Deposco]]:
    """Start a simulator with config overrides (throttle off unless asked: contract tests are unpaced)."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> Deposco:
            config = {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "requests_per_second": 0,
                "order_write_seconds": 0.0,
                **overrides,
            }
            app = build_app(**config)
            base_url = stack.enter_context(running(app))
            return Deposco(base_url, app.sim, spec_checker, stack)

        yield start


@pytest.fixture
def deposco(start_deposco: Callable[..., Deposco]) -> Deposco:
    return start_deposco()


@pytest.fixture
def seeded(deposco: Deposco) -> Deposco:
    """Facilities WH1 and WH2 plus items SKU-A (EAN 7350000000017), SKU-B and SKU-C."""
    for number in ("WH1", "WH2"):
        deposco.control("POST", "/facilities", json={"number": number})
    deposco.control(
        "POST",
        "/items",
        json={"items": [{"number": "SKU-A", "ean": "7350000000017"}, {"number": "SKU-B"}, {"number": "SKU-C"}]},
    )
    return deposco


def order_payload(number: str, lines: list[tuple[str, float]], facility: str = "WH1", **header: Any) -> dict[str, Any]:
    """A sales order as Lockstep sends it (deposco.md §7 example), lines as (sku, packs)."""
    return {
        "businessUnit": {"businessKey": {"code": "BU1"}},
        "number": number,
        "customerOrderNumber": number.split("-")[0].lstrip("C"),
        "orderSource": "Centra",
        "orderStatus": "New",
        "shipFromFacility": {"businessKey": {"number": facility}},
        "shipVia": "UPS Ground",
        "shipVendor": "UPS",
        "placedDate": "2026-09-01T10:00:00Z",
        "shipToContact": {"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com"},
        "shipToAddress": {"line1": "Main St 1", "city": "Stockholm", "postalCode": "11122", "country": "SE"},
        "orderLines": {
            "data": [
                {
                    "lineNumber": f"{number}-{i + 1}",
                    "customerLineNumber": f"{5500 + i}",
                    "item": {"businessKey": {"number": sku, "businessUnit.code": "BU1"}},
                    "pack": {"businessKey": {"item.number": sku, "quantity": 1, "item.businessUnit.code": "BU1"}},
                    "orderPackQuantity": qty,
                    "unitPrice": 25.0,
                }
                for i, (sku, qty) in enumerate(lines)
            ]
        },
        **header,
    }
