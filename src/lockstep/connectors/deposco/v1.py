"""Deposco's legacy V1 ("integration") API, for what the REST API cannot do: stock per facility.

``GET {v1_base}/enterpriseinventory/{bu}/availability?measures=totalOnHandQty,atpQty,openOrderLineQty
&facilityNumbers=…&itemNumbers=…&pageNumber=&pageSize=`` with HTTP Basic auth gives on hand, ATP and open-order
units per item and facility; ``GET {v1_base}/inventory/full?startActivityTime=…&pageNo=`` the items whose stock
moved since a time. V1 answers JSON labelled as XML (or XML), a blank 200 when it fails, and leaves out
measures the tenant has not configured; :mod:`.translate` and :mod:`.wire` deal with all of that.

V1 calls count against the same account-wide budget as the REST API, so this client takes the brand's budget
too. Each reading is stamped with the moment its request was *sent*: the stock equation may only count orders
whose creation Deposco confirmed before that moment (DESIGN §4).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from lockstep.clock import utcnow
from lockstep.connectors.budget import Priority
from lockstep.connectors.errors import Transient
from lockstep.connectors.http import HttpCaller, RetrySettings
from lockstep.domain.model import StockReading

from . import translate as t
from .auth import basic_auth
from .values import iso
from .wire import classify, decode

MAX_PAGES = 10_000
ITEMS_PER_REQUEST = 100  # keeps the query string short when reading chosen items


class DeposcoV1Client:
    system = "deposco"

    def __init__(
        self,
        *,
        base_url: str,
        business_unit: str,
        username: str,
        password: str,
        budget: Any,
        http: httpx.AsyncClient,
        retry: RetrySettings | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.business_unit = business_unit
        self.http = http
        self._authorization = basic_auth(username, password)
        self._caller = HttpCaller(http, system=self.system, budget=budget, classify=classify, retry=retry)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _get(
        self, path: str, params: Mapping[str, Any], *, operation: str, priority: Priority
    ) -> tuple[Any, datetime]:
        """GET and decode; returns the body and the moment the successful attempt was sent."""
        sent: dict[str, datetime] = {}

        async def build() -> httpx.Request:
            sent["at"] = utcnow()
            headers = {"Authorization": self._authorization, "Accept": "application/json"}
            return self.http.build_request("GET", f"{self.base_url}{path}", params=params, headers=headers)

        response = await self._caller.send(build, operation=operation, idempotent=True, priority=priority)
        return decode(response), sent["at"]

    async def post(self, path: str, body: Any, *, operation: str, priority: Priority, idempotent: bool) -> Any:
        """POST a JSON body and decode the answer (a batch write answers ``207``: read every inner status)."""

        async def build() -> httpx.Request:
            headers = {"Authorization": self._authorization, "Accept": "application/json"}
            return self.http.build_request("POST", f"{self.base_url}{path}", json=body, headers=headers)

        response = await self._caller.send(build, operation=operation, idempotent=idempotent, priority=priority)
        return decode(response)

    async def availability(
        self,
        *,
        facilities: Sequence[str] | None = None,
        items: Iterable[str] | None = None,
        page_size: int = 100,
        priority: Priority = Priority.HIGH,
    ) -> tuple[list[StockReading], list[str]]:
        """On hand, ATP and open-order units per item x facility, and problems (measures not reported).

        ``facilities`` limits the facilities (pass the live ones); ``items`` the item numbers (None: all items,
        page by page). Stock reads stop overselling, so they default to high priority.
        """
        item_list = list(items) if items is not None else None
        if item_list == []:
            return [], []
        groups: list[list[str] | None] = (
            [item_list[i : i + ITEMS_PER_REQUEST] for i in range(0, len(item_list), ITEMS_PER_REQUEST)]
            if item_list
            else [None]
        )
        readings: list[StockReading] = []
        problems: list[str] = []
        for group in groups:
            for page_number in range(1, MAX_PAGES + 1):
                params: dict[str, Any] = {
                    "measures": ",".join(t.AVAILABILITY_MEASURES),
                    "pageNumber": page_number,
                    "pageSize": page_size,
                }
                if facilities:
                    params["facilityNumbers"] = ",".join(facilities)
                if group:
                    params["itemNumbers"] = ",".join(group)
                body, sent_at = await self._get(
                    f"/enterpriseinventory/{self.business_unit}/availability",
                    params,
                    operation="v1.availability",
                    priority=priority,
                )
                found, issues = t.stock_readings(body, as_of=sent_at, facilities=facilities)
                readings += found
                problems += issues
                if t.availability_item_count(body) < page_size or (group and len(group) <= page_size):
                    break  # a short page is the last; chosen items that fit one page need no second
            else:
                raise Transient(f"more than {MAX_PAGES} pages", system=self.system, operation="v1.availability")
        return readings, problems

    async def inventory_changes(
        self, since: datetime, *, page_size: int = 100, priority: Priority = Priority.NORMAL
    ) -> list[StockReading]:
        """Stock of every item x facility with activity after ``since`` (total on hand and ATP)."""
        readings: list[StockReading] = []
        for page_number in range(1, MAX_PAGES + 1):
            params = {"startActivityTime": iso(since), "pageNo": page_number, "pageSize": page_size}
            body, sent_at = await self._get("/inventory/full", params, operation="v1.inventory.full", priority=priority)
            readings += t.inventory_changes(body, as_of=sent_at)
            if t.inventory_row_count(body) < page_size:
                return readings
        raise Transient(f"more than {MAX_PAGES} pages", system=self.system, operation="v1.inventory.full")
