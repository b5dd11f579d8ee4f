"""Thin async clients for the two simulators' ``/_sim`` control APIs, as the scenario driver uses them.

Only the control surface is touched (never ``/graphql``, ``/latest`` or V1), so a scenario neither spends the
API rate budgets Lockstep is measured against nor shows up in their call counters. An unexpected status raises
:class:`ControlError`; answers a scenario expects (a refused checkout) are returned as values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import httpx

CITIES = {"SE": "Stockholm", "GB": "London", "IE": "Dublin", "US": "Newark", "DE": "Berlin", "FR": "Paris"}


class ControlError(Exception):
    def __init__(self, system: str, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{system} {method} {path}: HTTP {status} {body[:200]}")
        self.status = status


async def _call(system: str, client: httpx.AsyncClient, method: str, path: str, ok: Iterable[int], **kw: Any) -> Any:
    response = await client.request(method, path, **kw)
    if response.status_code not in set(ok):
        raise ControlError(system, method, path, response.status_code, response.text)
    return response.json() if response.content else None


class CentraControl:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def _call(self, method: str, path: str, ok: Iterable[int] = (200,), **kw: Any) -> Any:
        return await _call("centra", self.client, method, f"/_sim{path}", ok, **kw)

    async def topology(self) -> dict[str, Any]:
        return await self._call("GET", "/topology")

    async def add_warehouse(self, name: str) -> dict[str, Any]:
        return await self._call("POST", "/warehouses", json={"name": name})

    async def add_rule(self, name: str, warehouse_ids: Sequence[int]) -> dict[str, Any]:
        return await self._call("POST", "/allocation-rules", json={"name": name, "warehouseIds": list(warehouse_ids)})

    async def set_rule(self, rule_id: int, warehouse_ids: Sequence[int]) -> dict[str, Any]:
        return await self._call("PUT", f"/allocation-rules/{rule_id}", json={"warehouseIds": list(warehouse_ids)})

    async def add_market(self, name: str, rule_id: int, countries: Sequence[str], currency: str) -> dict[str, Any]:
        body = {"name": name, "allocationRuleId": rule_id, "countries": list(countries), "currency": currency}
        return await self._call("POST", "/markets", json=body)

    async def catalog(self) -> list[dict[str, Any]]:
        return (await self._call("GET", "/catalog"))["sizes"]

    async def seed_catalog(self, products: int, variants: int, sizes: int, prefix: str) -> list[dict[str, Any]]:
        body = {"products": products, "variants": variants, "sizes": sizes, "prefix": prefix}
        return (await self._call("POST", "/catalog", json=body))["sizes"]

    async def set_stock(self, warehouse: str, rows: Sequence[tuple[str, int]]) -> None:
        items = [{"sku": sku, "physical": units} for sku, units in rows]
        await self._call("PUT", "/stock", json={"warehouse": warehouse, "items": items})

    async def place_order(
        self,
        market_id: int,
        country: str,
        lines: Sequence[tuple[str, int]],
        shopper: int,
        *,
        on_hold: bool = False,
        waiting_for_payment: bool = False,
        shipping_option: str | None = "standard",
    ) -> tuple[bool, dict[str, Any]]:
        """Check out as a shopper; ``(False, error)`` when Centra refuses for lack of free-to-allocate stock.
        ``shipping_option``: the option's uri or name (None: an order without one)."""
        body = {
            "market": market_id,
            "country": country,
            "lines": [{"sku": sku, "quantity": units} for sku, units in lines],
            "isOnHold": on_hold,
            "holdReason": "WAITING_FOR_FRAUD_CHECK" if on_hold else None,  # one of Centra's OrderHoldReason values
            "isWaitingForPayment": waiting_for_payment,
            "shippingOption": shipping_option,
            "address": {
                "firstName": "Shopper",
                "lastName": f"No{shopper}",
                "address1": f"Main Street {shopper % 200 + 1}",
                "city": CITIES.get(country, "Capital City"),
                "zipCode": f"{10000 + shopper % 89999}",
                "email": f"shopper{shopper}@example.com",
            },
        }
        answer = await self._call("POST", "/orders", ok=(201, 409), json=body)
        return "number" in answer, answer

    async def counters(self) -> dict[str, Any]:
        return await self._call("GET", "/counters")


class DeposcoControl:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def _call(self, method: str, path: str, ok: Iterable[int] = (200,), **kw: Any) -> Any:
        return await _call("deposco", self.client, method, f"/_sim{path}", ok, **kw)

    async def add_facility(self, number: str, name: str) -> dict[str, Any]:
        return await self._call("POST", "/facilities", json={"number": number, "name": name[:30]})

    async def add_items(self, items: Sequence[tuple[str, str]]) -> None:
        """Upsert items as (number, EAN): the item master Lockstep's item sync would have written."""
        await self._call("POST", "/items", json={"items": [{"number": n, "ean": ean} for n, ean in items]})

    async def set_stock(self, rows: Sequence[tuple[str, str, float]]) -> None:
        body = {"rows": [{"facility": f, "itemNumber": item, "onHand": units} for f, item, units in rows]}
        await self._call("PUT", "/stock", json=body)

    async def inventory(self, facility: str, item: str) -> dict[str, Any]:
        return await self._call("GET", "/inventory", params={"facility": facility, "itemNumber": item})

    async def receive(self, facility: str, item: str, units: int) -> None:
        body = {"facility": facility, "lines": [{"itemNumber": item, "quantity": units}]}
        await self._call("POST", "/receipts", json=body)

    async def adjust(self, facility: str, item: str, units: float, reason: str) -> None:
        body = {"facility": facility, "itemNumber": item, "quantity": units, "reasonCode": reason}
        await self._call("POST", "/adjustments", json=body)

    async def other_channel_order(self, facility: str, lines: Sequence[tuple[str, float]]) -> dict[str, Any]:
        body = {"facility": facility, "lines": [{"itemNumber": i, "quantity": q} for i, q in lines]}
        return await self._call("POST", "/otherChannelOrders", json=body)

    async def set_auto_fulfil(self, release_after: float, pick_after: float, ship_after: float) -> None:
        body = {"releaseAfter": release_after, "pickAfter": pick_after, "shipAfter": ship_after}
        await self._call("PUT", "/warehouse/auto", json=body)

    async def counters(self) -> dict[str, Any]:
        return await self._call("GET", "/counters")

    async def snapshot(self) -> dict[str, Any]:
        """The whole tenant (orders with lines, shipments, stock cells); parse with ``truth.deposco_snapshot``."""
        return await self._call("GET", "/snapshot")
