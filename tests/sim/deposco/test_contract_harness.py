"""The spec checker itself: it must reject what the real API never sends, or fidelity tests prove nothing."""

from __future__ import annotations

import httpx
import pytest


def _response(path: str, status: int, body: bytes) -> httpx.Response:
    request = httpx.Request("GET", f"http://127.0.0.1:1{path}")
    return httpx.Response(status, content=body, headers={"content-type": "application/json"}, request=request)


def test_checker_rejects_off_spec_bodies(spec_checker):
    bad_status = b'{"orderStatus": "Shipped"}'  # not a SalesOrderStatusDTO enum value
    with pytest.raises(AssertionError, match="violates the Deposco OpenAPI"):
        spec_checker.check(_response("/latest/orders/salesOrders/1/status", 200, bad_status))
    spec_checker.check(_response("/latest/orders/salesOrders/1/status", 200, b'{"orderStatus": "New"}'))
    with pytest.raises(AssertionError, match="not Deposco-shaped"):
        spec_checker.check(_response("/latest/items", 400, b'{"message": "bad"}'))
    with pytest.raises(AssertionError, match="empty body"):
        spec_checker.check(_response("/latest/items", 429, b'{"errors": []}'))


def test_checker_validated_real_simulator_responses(seeded, spec_checker):
    before = dict(spec_checker.checked)
    seeded.api().get("/latest/items")
    assert spec_checker.checked["200"] == before.get("200", 0) + 1
