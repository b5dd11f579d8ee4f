"""Fixtures: a simulated Centra served by a real uvicorn server on 127.0.0.1, and an httpx client for it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from lockstep.sim.centra import CentraApp, build_app
from lockstep.sim.server import running

TOKEN = "test-token"


@dataclass
class Centra:
    """A running simulator: ``gql`` talks GraphQL, ``ctl`` the /_sim control API, ``app.sim`` is the state."""

    app: CentraApp
    base_url: str
    client: httpx.Client

    def gql(self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = TOKEN) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.gql(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def ctl(self, method: str, path: str, json: Any = None, expect: int | None = 200) -> Any:
        response = self.client.request(method, f"/_sim{path}", json=json, headers={"Authorization": f"Bearer {TOKEN}"})
        if expect is not None:
            assert response.status_code == expect, response.text
        return response.json()

    def seed(self, products: int = 2, variants: int = 2, sizes: int = 4) -> list[dict[str, Any]]:
        self.ctl("POST", "/catalog", {"products": products, "variants": variants, "sizes": sizes})
        return self.ctl("GET", "/catalog")["sizes"]

    def stock(self, warehouse_id: int, levels: dict[str, int]) -> Any:
        items = [{"sku": sku, "physical": qty} for sku, qty in levels.items()]
        return self.ctl("PUT", "/stock", {"warehouseId": warehouse_id, "items": items})

    def level(self, sku: str, warehouse_id: int) -> dict[str, int]:
        rows = self.ctl("GET", f"/stock?sku={sku}&warehouseId={warehouse_id}")["stock"]
        return rows[0] if rows else {"physical": 0, "allocated": 0, "freeToAllocate": 0}

    def order(
        self,
        lines: list[tuple[str, int]],
        market: str = "Sweden",
        country: str = "SE",
        expect: int | None = 201,
        **extra: Any,
    ) -> Any:
        body = {
            "market": market,
            "country": country,
            "lines": [{"sku": s, "quantity": q} for s, q in lines],
            **extra,
        }
        return self.ctl("POST", "/orders", body, expect=expect)


@contextlib.contextmanager
def simulator(**kwargs: Any) -> Iterator[Centra]:
    """Build a simulator with ``build_app(TOKEN, **kwargs)`` and serve it on a free port for the block."""
    app = build_app(TOKEN, **kwargs)
    with running(app) as base_url, httpx.Client(base_url=base_url, timeout=10) as client:
        yield Centra(app, base_url, client)


@pytest.fixture
def centra() -> Iterator[Centra]:
    """A fresh simulator (growth tier, default topology: warehouses 1 "EU Main", 2 "US East")."""
    with simulator() as centra:
        yield centra


@pytest.fixture
def centra_unlimited() -> Iterator[Centra]:
    """A fresh simulator without rate limits, for tests that make many calls."""
    with simulator(rate_limits=False) as centra:
        yield centra
