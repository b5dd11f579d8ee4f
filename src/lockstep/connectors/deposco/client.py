"""The Deposco REST client ("latest" API): items, facilities, sales orders, cancellations, shipments.

Flows call this with domain objects and get domain objects back; every request goes through
:class:`~lockstep.connectors.http.HttpCaller` (shared account-wide rate budget with a priority, retries,
``Retry-After``), carries a fresh bearer token from the brand's :class:`~.auth.TokenManager` (a 401 forces one
refresh, then the call is retried once), and every body is built or read by :mod:`.translate`.

Deposco traps handled here (deposco.md): lists ignore unknown filters, so a lookup by number checks that the
result really has that number; nested collections stop at 10 rows, so order and shipment lines are read from
their paged sub-resources; sales-order requests carry at most 100 lines, so larger orders go in chunks with
the same header; ``orderStatus`` is refused on an update; paging follows ``links[rel=next]`` until
``complete``; cancellations are computed from the lines' current state so a retry cannot cancel twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

import httpx
import structlog

from lockstep.config.topology import BrandTopology
from lockstep.connectors.budget import Priority
from lockstep.connectors.errors import Permanent, Transient, UserError
from lockstep.connectors.http import HttpCaller, RetrySettings
from lockstep.domain.model import (
    Change,
    Item,
    SalesOrder,
    SalesOrderLine,
    ShipmentLine,
    StockAdjustment,
    WarehouseShipment,
)

from . import translate as t
from .auth import TokenManager, scopes_for
from .v1 import DeposcoV1Client
from .values import iso
from .wire import classify, decode, same_origin

log = structlog.get_logger("lockstep.connectors.deposco")

R = TypeVar("R")
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0, pool=10.0)
MAX_PAGES = 10_000  # a paging loop that never completes is a bug on one side; stop rather than spin


@dataclass(frozen=True)
class ItemUpsert:
    item: Item
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class OrderUpsert:
    """The sales order as Deposco holds it after the upsert (header only), what was changed to fit, and
    whether this call created it."""

    order: SalesOrder
    changes: tuple[Change, ...]
    created: bool
    requests: int


class DeposcoClient:
    """One brand's Deposco REST API. Build it with :meth:`from_topology`; close it with :meth:`aclose`."""

    system = "deposco"

    def __init__(
        self,
        *,
        base_url: str,
        business_unit: str,
        auth: TokenManager,
        budget: Any,
        http: httpx.AsyncClient,
        retry: RetrySettings | None = None,
        v1: DeposcoV1Client | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.business_unit = business_unit
        self.auth = auth
        self.http = http
        self.v1 = v1
        self._caller = HttpCaller(http, system=self.system, budget=budget, classify=classify, retry=retry)

    @classmethod
    def from_topology(
        cls,
        topology: BrandTopology,
        secrets: Mapping[str, str],
        budget: Any,
        *,
        refresh_token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetrySettings | None = None,
    ) -> DeposcoClient:
        """The REST client and its V1 companion for one brand, sharing one rate budget (the limit is per
        account, V1 included). ``secrets`` maps variable names to values (``resolve_secrets``)."""
        cfg = topology.deposco
        http = httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False)
        auth = TokenManager(
            http,
            token_url=str(cfg.token_url),
            client_id=secrets[cfg.client_id_env],
            client_secret=secrets[cfg.client_secret_env],
            refresh_token=refresh_token,
            company=cfg.business_unit,
            scopes=scopes_for(topology),
            retry=retry,
        )
        v1 = DeposcoV1Client(
            base_url=str(cfg.v1_base_url),
            business_unit=cfg.business_unit,
            username=secrets[cfg.username_env],
            password=secrets[cfg.password_env],
            budget=budget,
            http=http,
            retry=retry,
        )
        return cls(
            base_url=str(cfg.base_url),
            business_unit=cfg.business_unit,
            auth=auth,
            budget=budget,
            http=http,
            retry=retry,
            v1=v1,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> DeposcoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------------------------------ plumbing

    async def _call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        priority: Priority,
        idempotent: bool,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """One request with a current token; a 401/403 forces a refresh of *that* token and retries once."""
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"
        used: dict[str, str] = {}

        async def build() -> httpx.Request:
            token = await self.auth.token()
            used["token"] = token
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            return self.http.build_request(method, url, params=params, json=json, headers=headers)

        async def refresh() -> None:
            await self.auth.force_refresh(used.get("token"))

        response = await self._caller.send(
            build, operation=operation, idempotent=idempotent, priority=priority, on_auth_failure=refresh
        )
        return decode(response)

    async def _pages(
        self, path: str, *, operation: str, priority: Priority, params: Mapping[str, Any] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Rows of a collection, page after page via ``links[rel=next]`` until ``complete``."""
        href: str | None = path
        query: Mapping[str, Any] | None = params
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            body = await self._call("GET", href, operation=operation, priority=priority, idempotent=True, params=query)
            page = self._parse(operation, t.page, body)
            for row in page.rows:
                yield row
            if page.complete or not page.next_href:
                return
            href, query = same_origin(page.next_href, self.base_url), None
            if href in seen:
                raise Transient("paging returned the same next link twice", system=self.system, operation=operation)
            seen.add(href)
        raise Transient(f"more than {MAX_PAGES} pages", system=self.system, operation=operation)

    def _parse(self, operation: str, parse: Callable[..., R], *args: Any) -> R:
        """Run a translation on a response; an unreadable one becomes Transient/Permanent, never a ValueError."""
        try:
            return parse(*args)
        except t.MalformedPayload as exc:
            kind = Transient if exc.transient else Permanent
            raise kind(f"unexpected response: {exc}", system=self.system, operation=operation) from None

    def _rows(self, operation: str, parse: Callable[[dict[str, Any]], R], rows: Iterable[dict[str, Any]]) -> list[R]:
        """Translate list rows, skipping (and logging) a row without its identity instead of failing the list."""
        parsed = []
        for row in rows:
            try:
                parsed.append(parse(row))
            except t.MalformedPayload as exc:
                log.warning("skipping unreadable row", operation=operation, reason=str(exc))
        return parsed

    # ------------------------------------------------------------------------------------------ items

    def check_item(self, item: Item, *, brand_name: str = "") -> tuple[Change, ...]:
        """What :meth:`upsert_item` would change to make ``item`` fit (raises ``Untranslatable``); no I/O."""
        return t.item_request(item, self.business_unit, brand_name=brand_name).changes

    async def upsert_item(self, item: Item, *, brand_name: str = "", priority: Priority = Priority.LOW) -> ItemUpsert:
        """Create or update the item (upsert on number + business unit). Item-master work is low priority."""
        request = t.item_request(item, self.business_unit, brand_name=brand_name)
        body = await self._call(
            "POST", "/items", operation="items.upsert", priority=priority, idempotent=True, json=request.payload
        )
        return ItemUpsert(self._parse("items.upsert", t.item, body), request.changes)

    async def iter_items(
        self, *, updated_after: datetime | None = None, priority: Priority = Priority.LOW, page_size: int = 100
    ) -> AsyncIterator[Item]:
        """Every item of the business unit (optionally only those updated after a time), page by page."""
        params: dict[str, Any] = {"businessUnit": self.business_unit, "pageSize": page_size}
        if updated_after is not None:
            params["updatedAfter"] = iso(updated_after)
        async for row in self._pages("/items", operation="items.list", priority=priority, params=params):
            for item in self._rows("items.list", t.item, [row]):
                yield item

    async def get_item(self, number: str, *, priority: Priority = Priority.NORMAL) -> Item | None:
        """The item with exactly this number, or None (the result is checked: filters can be ignored)."""
        params = {"businessUnit": self.business_unit, "number": number, "pageSize": 10}
        body = await self._call(
            "GET", "/items", operation="items.get", priority=priority, idempotent=True, params=params
        )
        rows = self._parse("items.get", t.page, body).rows
        return next((item for item in self._rows("items.get", t.item, rows) if item.number == number), None)

    # ------------------------------------------------------------------------------------------ facilities

    async def list_facilities(self, *, priority: Priority = Priority.NORMAL) -> list[t.FacilityRecord]:
        """Every facility of the business unit (to validate the pool -> facility mapping at start-up)."""
        params = {"businessUnit": self.business_unit, "pageSize": 100}
        rows = [
            row
            async for row in self._pages("/facilities", operation="facilities.list", priority=priority, params=params)
        ]
        return self._rows("facilities.list", t.facility, rows)

    # ------------------------------------------------------------------------------------------ sales orders

    def check_sales_order(self, order: SalesOrder) -> tuple[Change, ...]:
        """What :meth:`upsert_sales_order` would change to make ``order`` fit (raises ``Untranslatable``).

        Pure: flows call it first to decide between sending with a note and quarantining.
        """
        return t.sales_order_requests(order, self.business_unit, create=True).changes

    async def find_sales_order(
        self, number: str, *, with_lines: bool = False, priority: Priority = Priority.NORMAL
    ) -> SalesOrder | None:
        """The sales order with exactly this number, or None.

        Used when an earlier attempt's outcome is uncertain. An unfiltered list (the filter ignored) never
        passes for a match: each row's number is compared.
        """
        params = {"businessUnit": self.business_unit, "number": number, "pageSize": 25}
        body = await self._call(
            "GET",
            "/orders/salesOrders",
            operation="salesOrders.find",
            priority=priority,
            idempotent=True,
            params=params,
        )
        for row in self._parse("salesOrders.find", t.page, body).rows:
            found = self._rows("salesOrders.find", t.sales_order, [row])
            if found and found[0].number == number:
                if with_lines and found[0].order_id:
                    return t.sales_order(row, await self.order_lines(found[0].order_id, priority=priority))
                return found[0]
        return None

    async def upsert_sales_order(
        self,
        order: SalesOrder,
        *,
        exists: bool | None = None,
        hold: bool = False,
        priority: Priority = Priority.NORMAL,
    ) -> OrderUpsert:
        """Create or update one sales order, in requests of at most 100 lines.

        ``exists``: False when this is a durably recorded first attempt (no lookup needed), True for a known
        update, None when unsure (an earlier attempt timed out or crashed): then the order is looked up by number
        first. A create sends ``orderStatus`` (New, or Hold) once; should Deposco answer that the order already
        exists after all, the request is repeated without it, so retries converge. Raises ``Untranslatable``
        (a ``Permanent``) before sending anything if a key does not fit.
        """
        prepared = t.sales_order_requests(order, self.business_unit, create=True, hold=hold)  # validate first
        if exists is None:
            exists = await self.find_sales_order(order.number, priority=priority) is not None
        if exists:
            prepared = t.sales_order_requests(order, self.business_unit, create=False)
        body: Any = None
        for chunk in prepared.bodies:
            body = await self._post_order(chunk, priority)
        result = self._parse("salesOrders.upsert", t.sales_order, body)
        return OrderUpsert(result, prepared.changes, created=not exists, requests=len(prepared.bodies))

    async def import_sales_orders(
        self, orders: list[SalesOrder], *, priority: Priority = Priority.NORMAL
    ) -> dict[str, t.ImportOutcome]:
        """Create several *new* sales orders in one V1 ``POST /orders`` (each at most 100 lines); returns each
        order's inner status from the ``207`` multistatus. ``409`` = it exists already (an earlier attempt made
        it): a resend can never make a second order, so the call is safe to retry. An order missing from the
        answer is missing from the result: its outcome is unknown. Raises ``Untranslatable`` before sending."""
        if not orders:
            return {}
        if self.v1 is None:
            raise Permanent("the V1 API is not configured", system=self.system, operation="orders.import")
        prepared = t.sales_order_import(orders, self.business_unit)
        body = await self.v1.post(
            "/orders", prepared.body, operation="orders.import", priority=priority, idempotent=True
        )
        return self._parse("orders.import", t.import_outcomes, body, [o.number for o in orders])

    async def _post_order(self, chunk: dict[str, Any], priority: Priority) -> Any:
        try:
            return await self._call(
                "POST",
                "/orders/salesOrders",
                operation="salesOrders.upsert",
                priority=priority,
                idempotent=True,
                json=chunk,
            )
        except Permanent as exc:
            if "orderStatus" not in chunk or not t.status_refused(exc):
                raise
            log.info("sales order exists already; resending without status", number=chunk.get("number"))
            update = {k: val for k, val in chunk.items() if k != "orderStatus"}
            return await self._call(
                "POST",
                "/orders/salesOrders",
                operation="salesOrders.upsert",
                priority=priority,
                idempotent=True,
                json=update,
            )

    async def get_sales_order(
        self, order_id: str, *, with_lines: bool = True, priority: Priority = Priority.NORMAL
    ) -> SalesOrder:
        """One sales order by Deposco id; its lines (by default) from the paged sub-resource."""
        body = await self._call(
            "GET", f"/orders/salesOrders/{order_id}", operation="salesOrders.get", priority=priority, idempotent=True
        )
        lines = await self.order_lines(order_id, priority=priority) if with_lines else None
        return self._parse("salesOrders.get", t.sales_order, body, lines)

    async def iter_new_sales_orders(
        self, created_after: datetime, *, page_size: int = 50, priority: Priority = Priority.HIGH
    ) -> AsyncIterator[SalesOrder]:
        """Sales orders of every channel created after ``created_after`` (pass a cursor minus an overlap), newest
        first, with their lines (the nested list when it certainly holds all of them, else the sub-resource).

        Lists come id-descending, so the first row not created after the cursor ends the read: a ``createdAfter``
        that Deposco ignored would otherwise page through every order the tenant ever had."""
        params = {"businessUnit": self.business_unit, "createdAfter": iso(created_after), "pageSize": page_size}
        async for row in self._pages(
            "/orders/salesOrders", operation="salesOrders.list", priority=priority, params=params
        ):
            for order in self._rows("salesOrders.list", t.sales_order, [row]):
                if order.created_at is not None and order.created_at <= created_after:
                    return
                nested = t.nested_rows(row, "orderLines")
                if nested is None and order.order_id:
                    lines = await self.order_lines(order.order_id, priority=priority)
                else:
                    lines = self._rows("salesOrders.lines", t.sales_order_line, nested or [])
                yield replace(order, lines=tuple(lines))

    async def iter_adjustments(
        self, created_after: datetime, *, page_size: int = 100, priority: Priority = Priority.HIGH
    ) -> AsyncIterator[StockAdjustment]:
        """Inventory adjustments created after ``created_after`` (a cursor minus an overlap), newest first.

        The feed is id-descending: reading stops at the first record not created after the cursor, so a
        ``createdAfter`` Deposco ignored cannot page through the tenant's whole history. Ids are no cursor on their
        own (a record committed late can carry a lower id than one already read): the caller remembers the ids it
        has seen within the overlap."""
        params = {"businessUnit": self.business_unit, "createdAfter": iso(created_after), "pageSize": page_size}
        path, operation = "/inventory/inventoryAdjustments", "inventoryAdjustments.list"
        async for row in self._pages(path, operation=operation, priority=priority, params=params):
            for adjustment in self._rows(operation, t.stock_adjustment, [row]):
                if adjustment.created_at is not None and adjustment.created_at <= created_after:
                    return
                yield adjustment

    async def order_lines(self, order_id: str, *, priority: Priority = Priority.NORMAL) -> list[SalesOrderLine]:
        """All lines, from the paged sub-resource (the nested list in the order stops at 10)."""
        path = f"/orders/salesOrders/{order_id}/orderLines"
        rows = [
            row
            async for row in self._pages(
                path, operation="salesOrders.lines", priority=priority, params={"pageSize": 50}
            )
        ]
        return self._rows("salesOrders.lines", t.sales_order_line, rows)

    async def order_status(self, order_id: str, *, priority: Priority = Priority.NORMAL) -> str:
        body = await self._call(
            "GET",
            f"/orders/salesOrders/{order_id}/status",
            operation="salesOrders.status",
            priority=priority,
            idempotent=True,
        )
        return self._parse("salesOrders.status", t.order_status, body)

    async def hold(self, order_id: str, *, priority: Priority = Priority.HIGH) -> SalesOrder:
        """Follow a Centra hold: stop the warehouse from releasing the order."""
        return await self._set_status(order_id, t.STATUS_HOLD, priority)

    async def release(self, order_id: str, *, priority: Priority = Priority.NORMAL) -> SalesOrder:
        """Lift a hold (back to New)."""
        return await self._set_status(order_id, t.STATUS_NEW, priority)

    async def cancel_order(self, order_id: str, *, priority: Priority = Priority.HIGH) -> SalesOrder:
        """Cancel the whole order. Refused (``Permanent``) once the warehouse has released it: too late."""
        return await self._set_status(order_id, t.STATUS_CANCELED, priority)

    async def _set_status(self, order_id: str, value: str, priority: Priority) -> SalesOrder:
        """``POST …/status?value=``. A refusal because the order already has that status (an earlier attempt
        went through, its answer got lost) counts as success: the call converges on retries."""
        operation = f"salesOrders.status.{value.lower()}"
        try:
            body = await self._call(
                "POST",
                f"/orders/salesOrders/{order_id}/status",
                operation=operation,
                priority=priority,
                idempotent=True,
                params={"value": value},
            )
        except Permanent:
            if await self.order_status(order_id, priority=priority) != value:
                raise
            return await self.get_sales_order(order_id, with_lines=False, priority=priority)
        return self._parse(operation, t.sales_order, body)

    async def cancel_lines(
        self, order_id: str, cancelled: Mapping[str, int], *, priority: Priority = Priority.HIGH
    ) -> dict[str, int]:
        """Bring each line's cancelled units up to the given total; returns the units cancelled by this call.

        ``cancelled`` maps the Centra line id (Deposco ``customerLineNumber``) to the total units that must be
        cancelled. The lines are read first and only the difference is sent, so a retry after a lost answer
        cancels nothing twice. A line Deposco does not have, or whose open units are fewer than the difference
        (shipped or picked already: too late), is refused as ``Permanent`` naming the lines, before anything is
        sent. Deposco itself refuses (``Permanent``) once the order is released.
        """
        lines = {line.customer_line_number: line for line in await self.order_lines(order_id, priority=priority)}
        deltas: dict[str, int] = {}
        problems: list[UserError] = []
        for customer_line, wanted in cancelled.items():
            line = lines.get(str(customer_line))
            if line is None:
                problems.append(UserError(f"no line with customerLineNumber {customer_line}", "customerLineNumber"))
                continue
            delta = wanted - line.cancelled_quantity
            if delta > line.open_quantity:
                problems.append(
                    UserError(
                        f"line {customer_line}: {delta} units to cancel but only {line.open_quantity} open "
                        f"(status {line.status})",
                        f"orderLines[{line.line_id}]",
                    )
                )
            elif delta > 0:
                deltas[line.line_id] = delta
        if problems:
            raise Permanent(
                "cancellation not possible: " + "; ".join(p.message for p in problems),
                user_errors=problems,
                system=self.system,
                operation="salesOrders.cancellations",
            )
        if deltas:
            await self._call(
                "POST",
                f"/orders/salesOrders/{order_id}/cancellations",
                operation="salesOrders.cancellations",
                priority=priority,
                idempotent=False,
                json=t.cancellation_request(deltas),
            )
        by_id = {line.line_id: line.customer_line_number for line in lines.values()}
        return {by_id[line_id]: units for line_id, units in deltas.items()}

    # ------------------------------------------------------------------------------------------ shipments

    async def iter_shipments(
        self,
        updated_after: datetime,
        *,
        with_lines: bool = True,
        page_size: int = 100,
        priority: Priority = Priority.HIGH,
    ) -> AsyncIterator[WarehouseShipment]:
        """Outbound shipments updated after ``updated_after`` (pass the cursor minus an overlap), every page.

        With ``with_lines``, each shipment's lines come from the nested list only when it certainly holds all
        of them (fewer than 10 rows), otherwise from the paged sub-resource. Shipment confirmations stop
        customers waiting, so this reads at high priority. Rows older than the cursor are skipped (a filter
        Deposco ignored would return them), and so are rows without an identity (logged).
        """
        params = {"businessUnit": self.business_unit, "updatedAfter": iso(updated_after), "pageSize": page_size}
        async for row in self._pages(
            "/shipments/outboundShipments", operation="outboundShipments.list", priority=priority, params=params
        ):
            for shipment in self._rows("outboundShipments.list", t.shipment, [row]):
                if shipment.updated_at is not None and shipment.updated_at <= updated_after:
                    continue
                if with_lines and t.nested_rows(row, "shipmentLines") is None and shipment.shipment_id:
                    lines = await self.shipment_lines(shipment.shipment_id, priority=priority)
                    shipment = t.shipment(row, lines)
                yield shipment

    async def get_shipment(self, shipment_id: str, *, priority: Priority = Priority.HIGH) -> WarehouseShipment:
        """One shipment with all its lines (from the sub-resource)."""
        body = await self._call(
            "GET",
            f"/shipments/outboundShipments/{shipment_id}",
            operation="outboundShipments.get",
            priority=priority,
            idempotent=True,
        )
        lines = await self.shipment_lines(shipment_id, priority=priority)
        return self._parse("outboundShipments.get", t.shipment, body, lines)

    async def find_shipment(self, number: str, *, priority: Priority = Priority.HIGH) -> WarehouseShipment | None:
        """The shipment with exactly this number (e.g. from a webhook hint), with its lines, or None."""
        params = {"businessUnit": self.business_unit, "shipmentNumber": number, "pageSize": 10}
        body = await self._call(
            "GET",
            "/shipments/outboundShipments",
            operation="outboundShipments.find",
            priority=priority,
            idempotent=True,
            params=params,
        )
        for row in self._parse("outboundShipments.find", t.page, body).rows:
            found = self._rows("outboundShipments.find", t.shipment, [row])
            if found and found[0].number == number and found[0].shipment_id:
                return t.shipment(row, await self.shipment_lines(found[0].shipment_id, priority=priority))
        return None

    async def shipment_lines(self, shipment_id: str, *, priority: Priority = Priority.HIGH) -> list[ShipmentLine]:
        """All lines of a shipment, from the paged sub-resource."""
        path = f"/shipments/outboundShipments/{shipment_id}/shipmentLines"
        rows = [
            row
            async for row in self._pages(
                path, operation="outboundShipments.lines", priority=priority, params={"pageSize": 100}
            )
        ]
        return self._rows("outboundShipments.lines", t.shipment_line, rows)
