"""The Centra Integration API client: typed operations over GraphQL, so flows never think about HTTP.

Every call goes through :class:`HttpCaller` (rate budget before each attempt, retries of transient failures on
idempotent calls, ``Retry-After`` in every form, metrics, redaction). This module adds what is specific to
Centra's GraphQL:

- **Errors have two layers** (centra.md §4). HTTP: 403 -> ``AuthFailed``, 400 -> ``Permanent`` (bad query),
  5xx -> ``Transient``. Body of a 200: top-level ``errors`` -> ``Permanent`` carrying the messages (an
  ``authorization`` error names the missing permission), or ``Transient`` for internal categories; a blank,
  HTML or truncated 200 -> ``Transient``. Mutation payloads: ``userErrors`` -> ``Permanent(user_errors=...)``
  (Centra changed nothing), ``userWarnings`` -> returned in :class:`Result.warnings`.
- **Budgets.** Reads spend the ``requests`` bucket, mutations ``requests`` and ``mutations``. Callers pass a
  priority (a stock decrease or a shipment confirmation is ``HIGH``, catalogue reads ``LOW``).
- **Idempotency.** ``createShipment``, ``captureShipment`` and ``completeShipment`` are never retried here
  after they may have reached Centra (no idempotency key exists); the shipment flow resumes from Centra's
  state, found by ``externalId``. Absolute writes (``setStock``, ``setOrdersLock``, ``updateShipment``,
  ``confirmEvents``) are safe to repeat and are retried.
- **Paging.** Orders and sizes page through Relay connections (stable cursors); a warehouse's stock is a
  plain list paged by number, de-duplicated per pass.

Field names live in :mod:`.translate` and the documents in :mod:`.queries`; this module knows neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import structlog

from lockstep.config.secrets import register_secret
from lockstep.config.topology import BrandTopology
from lockstep.connectors.budget import Priority, prepaid
from lockstep.connectors.centra import queries as q
from lockstep.connectors.centra import translate as t
from lockstep.connectors.centra.translate import (
    Capture,
    CentraEvent,
    Page,
    RateLimit,
    Result,
    SkuKey,
    StockWrite,
)
from lockstep.connectors.errors import (
    AuthFailed,
    ConnectorError,
    Permanent,
    Transient,
    UserError,
    Warnings,
    describe,
)
from lockstep.connectors.http import HttpCaller, RetrySettings, default_classify
from lockstep.domain.model import (
    CentraShipment,
    CentraStock,
    Order,
    OrderStatus,
    ProductSize,
    Warehouse,
    WarehouseShipment,
)

log = structlog.get_logger("lockstep.connectors.centra")

SYSTEM = "centra"
READ = ("requests",)
WRITE = ("requests", "mutations")
MAX_LIST_LIMIT = 200  # centra.md §3: list limits are 1-200
# Top-level error categories that describe Centra's own trouble rather than our request: worth a retry.
TRANSIENT_CATEGORIES = frozenset({"internal", "internal_error", "internal-error", "server", "timeout", "unavailable"})

__all__ = [
    "Capture",
    "CentraClient",
    "CentraEvent",
    "Page",
    "RateLimit",
    "Result",
    "StockWrite",
    "classify",
]

# --- response classification --------------------------------------------------------------------------------

_UNREADABLE = object()
_bodies: weakref.WeakKeyDictionary[httpx.Response, Any] = weakref.WeakKeyDictionary()


def _json(response: httpx.Response) -> Any:
    """The parsed body (cached per response: classification and the caller both need it), or ``_UNREADABLE``."""
    if response in _bodies:
        return _bodies[response]
    try:
        body = json.loads(response.content) if response.content.strip() else _UNREADABLE
    except (ValueError, UnicodeDecodeError):
        body = _UNREADABLE
    _bodies[response] = body
    return body


def _messages(errors: list[UserError]) -> str:
    return "; ".join(e.message for e in errors)[:500] or "no detail"


def classify(response: httpx.Response, system: str) -> ConnectorError | None:
    """Centra's error layers onto the typed hierarchy (429 is handled by ``HttpCaller`` before this)."""
    status = response.status_code
    body = _json(response)
    errors = t.issues(body.get("errors")) if isinstance(body, dict) else []
    if status in (401, 403):
        return AuthFailed(f"HTTP {status}: Centra refused the token ({_messages(errors)})")
    if status == 400:
        detail = _messages(errors) if errors else describe(response.text, 200)
        return Permanent(f"HTTP 400: Centra rejected the request: {detail}", user_errors=errors, status=400)
    if status >= 300:
        return default_classify(response, system)
    if body is _UNREADABLE or not isinstance(body, dict):
        snippet = describe(response.text, 120) or "empty body"
        return Transient(f"HTTP {status} with an unreadable body (blank, HTML or truncated): {snippet}")
    if errors:
        categories = t.error_categories(body.get("errors"))
        if categories & TRANSIENT_CATEGORIES:
            return Transient(f"Centra internal error: {_messages(errors)}")
        return Permanent(f"Centra answered with errors: {_messages(errors)}", user_errors=errors, status=status)
    if not isinstance(body.get("data"), dict):
        return Transient(f"HTTP {status} without data: {describe(body, 120)}")
    return None


# --- the client ---------------------------------------------------------------------------------------------


class CentraClient:
    """One brand's Centra. Create with :meth:`from_topology`; close with :meth:`aclose` (or ``async with``)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        budget: Any = None,
        sku_key: SkuKey = "sku",
        http: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
        retry: RetrySettings | None = None,
        sleep=asyncio.sleep,
        page_size: int = 50,
        stock_page_size: int = MAX_LIST_LIMIT,
        stock_batch_size: int = 200,
    ):
        if not token:
            raise ValueError("a Centra Integration API token is required")
        register_secret(token)  # scrubbed from every log line and error message from now on
        self.url = base_url.rstrip("/") + "/graphql"
        self.budget = budget
        self.sku_key: SkuKey = sku_key
        self.page_size = _bounded(page_size, "page_size")
        self.stock_page_size = _bounded(stock_page_size, "stock_page_size")
        self.stock_batch_size = stock_batch_size
        self._token = token
        self._owns_http = http is None
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))
        self.caller = HttpCaller(self.http, system=SYSTEM, budget=budget, classify=classify, retry=retry, sleep=sleep)
        self._warehouse_ids: dict[str, int] = {}

    @classmethod
    def from_topology(cls, topology: BrandTopology, token: str, budget: Any, **kwargs: Any) -> CentraClient:
        """The brand's Centra as its topology file describes it (URL, SKU key); the token comes from secrets."""
        return cls(topology.centra.base_url, token, budget=budget, sku_key=topology.sku_key, **kwargs)

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> CentraClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    # --- transport ----------------------------------------------------------------------------------------

    async def _call(
        self,
        document: str,
        variables: dict[str, Any] | None = None,
        *,
        mutation: bool = False,
        idempotent: bool = True,
        priority: Priority = Priority.NORMAL,
    ) -> dict[str, Any]:
        """POST one named document; returns ``data`` or raises a ``ConnectorError``."""
        name = q.operation_name(document)
        content = json.dumps({"query": document, "variables": variables or {}, "operationName": name}).encode()
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}

        async def build() -> httpx.Request:
            return self.http.build_request("POST", self.url, content=content, headers=headers)

        response = await self.caller.send(
            build, operation=name, idempotent=idempotent, buckets=WRITE if mutation else READ, priority=priority
        )
        body = _json(response)
        deprecated = (body.get("extensions") or {}).get("deprecatedFieldsUsed") if isinstance(body, dict) else None
        if deprecated:
            log.warning("centra deprecated fields used", operation=name, fields=describe(deprecated, 300))
        return body["data"]

    async def _mutate(
        self,
        document: str,
        variables: dict[str, Any],
        field: str,
        *,
        idempotent: bool,
        priority: Priority,
    ) -> tuple[dict[str, Any], Warnings]:
        data = await self._call(document, variables, mutation=True, idempotent=idempotent, priority=priority)
        payload = t.mapping(data.get(field), f"{field} payload")
        try:
            warnings = t.check_payload(payload, field)
        except Permanent as exc:
            exc.system, exc.operation = SYSTEM, q.operation_name(document)
            raise
        if warnings:
            log.info("centra user warnings", operation=field, warnings=[w.message for w in warnings.items])
        return payload, warnings

    # --- orders -------------------------------------------------------------------------------------------

    async def orders_page(
        self,
        *,
        statuses: Iterable[OrderStatus | str] | None = None,
        updated_after: datetime | None = None,
        updated_before: datetime | None = None,
        after: str | None = None,
        page_size: int | None = None,
        priority: Priority = Priority.NORMAL,
    ) -> Page[Order]:
        """One page of orders (sorted by number); pass ``after=page.cursor`` to continue, e.g. after a restart."""
        variables = {
            "where": t.order_filter(statuses, updated_after, updated_before),
            "first": _bounded(page_size or self.page_size, "page_size"),
            "after": after,
        }
        data = await self._call(q.ORDERS, variables, priority=priority)
        return t.order_page(data.get("orderConnection"))

    async def iter_orders(
        self,
        *,
        statuses: Iterable[OrderStatus | str] | None = None,
        updated_after: datetime | None = None,
        updated_before: datetime | None = None,
        page_size: int | None = None,
        priority: Priority = Priority.NORMAL,
    ) -> AsyncIterator[Order]:
        """Every order matching the filter, page by page (the periodic full re-fetch and the catch-up)."""
        statuses = list(statuses) if statuses is not None else None
        after: str | None = None
        while True:
            page = await self.orders_page(
                statuses=statuses,
                updated_after=updated_after,
                updated_before=updated_before,
                after=after,
                page_size=page_size,
                priority=priority,
            )
            for order in page.items:
                yield order
            if not page.has_next:
                return
            if page.cursor == after:
                raise Permanent("Centra orderConnection cursor did not advance", system=SYSTEM, operation="orders")
            after = page.cursor

    async def get_order(self, number: str | int, *, priority: Priority = Priority.NORMAL) -> Order | None:
        """One order by its number (what events and webhooks refer to); ``None`` if Centra has no such order."""
        data = await self._call(q.ORDER_BY_NUMBER, {"number": t.order_number_input(number)}, priority=priority)
        found = t.orders(data.get("orders"))
        return found[0] if found else None

    async def get_orders(
        self, numbers: Iterable[str | int], *, priority: Priority = Priority.NORMAL
    ) -> dict[str, Order | None]:
        """Several orders by number in one request (aliased ``orders`` fields); ``None`` for a number Centra
        does not have. What a batch of webhook-triggered fetches costs: one request, not one per order."""
        wanted = list(dict.fromkeys(str(n) for n in numbers))
        if not wanted:
            return {}
        found: dict[str, Order | None] = dict.fromkeys(wanted)
        asked: list[tuple[str, int]] = []
        for number in wanted:
            try:
                asked.append((number, t.order_number_input(number)))
            except Permanent:
                log.warning("not a Centra order number", number=number)  # no such order; the others still count
        if not asked:
            return found
        variables = {f"n{i}": value for i, (_, value) in enumerate(asked)}
        data = await self._call(q.orders_by_numbers(len(asked)), variables, priority=priority)
        for i, (number, _) in enumerate(asked):
            rows = t.orders(data.get(f"o{i}"))
            found[number] = next((o for o in rows if o.number == number), None)
        return found

    async def order_shipments(self, number: str | int, *, priority: Priority = Priority.NORMAL) -> list[CentraShipment]:
        """The shipments of one order (to compare with the warehouse's before creating another)."""
        data = await self._call(q.ORDER_SHIPMENTS, {"number": t.order_number_input(number)}, priority=priority)
        found = t.items(data.get("orders"), "orders")
        return t.shipments(t.mapping(found[0], "order").get("shipments")) if found else []

    async def lock_orders(
        self, numbers: Iterable[str | int], *, locked: bool = True, priority: Priority = Priority.NORMAL
    ) -> Result[list[str]]:
        """``setOrdersLock``: mark orders as owned by the integration. Returns the numbers Centra reports."""
        variables = t.lock_variables(numbers, locked)
        if not variables["orders"]:
            return Result([])
        payload, warnings = await self._mutate(
            q.LOCK_ORDERS, variables, "setOrdersLock", idempotent=True, priority=priority
        )
        numbers_out = [str(o.get("number")) for o in t.items(payload.get("orders"), "orders") if isinstance(o, dict)]
        return Result(numbers_out, warnings)

    # --- shipments ----------------------------------------------------------------------------------------

    async def create_shipment(
        self,
        order_number: str | int,
        lines: Sequence[tuple[int, int]],
        *,
        capture: bool = True,
        good_to_go: bool = True,
        send_email: bool = False,
        tag: str = "",
        priority: Priority = Priority.HIGH,
    ) -> Result[CentraShipment]:
        """``createShipment`` for (order line id, quantity) pairs, captured by default, tagged with ``tag`` (the
        Deposco shipment number, found again by :meth:`find_tagged_shipment`) at no extra mutation.

        Not retried after it may have reached Centra: a repeat would create a second shipment. Check
        ``result.value.is_captured`` (a failed capture is only a warning here) before completing.
        """
        variables = {
            "input": t.create_shipment_input(
                order_number, lines, capture=capture, good_to_go=good_to_go, send_email=send_email, tag=tag
            )
        }
        payload, warnings = await self._mutate(
            q.CREATE_SHIPMENT, variables, "createShipment", idempotent=False, priority=priority
        )
        return Result(t.shipment(payload.get("shipment")), warnings)

    async def capture_shipment(self, shipment_id: int, *, priority: Priority = Priority.HIGH) -> Result[Capture]:
        """``captureShipment``; a declined capture is a ``Permanent`` (userError), a pending one ``.pending``."""
        payload, warnings = await self._mutate(
            q.CAPTURE_SHIPMENT, {"id": int(shipment_id)}, "captureShipment", idempotent=False, priority=priority
        )
        return Result(t.capture(payload), warnings)

    async def complete_shipment(
        self,
        shipment_id: int,
        dispatch: WarehouseShipment | None = None,
        *,
        send_email: bool = True,
        carrier: str | None = None,
        service: str | None = None,
        tracking_number: str | None = None,
        packages: int | None = None,
        shipped_at: datetime | None = None,
        shipping_cost: Decimal | float | None = None,
        currency: str = "",
        priority: Priority = Priority.HIGH,
    ) -> Result[CentraShipment]:
        """``completeShipment`` with what the warehouse reported (``dispatch``) and/or explicit values.

        Centra then decrements its stock and, with ``send_email``, sends the shipping confirmation.
        ``shipping_cost`` (with the order's ``currency``) is for the order's first shipment only.
        """
        details = t.dispatch_details(dispatch) if dispatch is not None else {}
        explicit = {
            "carrier": carrier,
            "service": service,
            "tracking_number": tracking_number,
            "packages": packages,
            "shipped_at": shipped_at,
        }
        details.update({k: v for k, v in explicit.items() if v is not None})
        variables = t.complete_shipment_variables(
            shipment_id, send_email=send_email, shipping_cost=shipping_cost, currency=currency, **details
        )
        payload, warnings = await self._mutate(
            q.COMPLETE_SHIPMENT, variables, "completeShipment", idempotent=False, priority=priority
        )
        return Result(t.shipment(payload.get("shipment")), warnings)

    async def update_shipment(
        self,
        shipment_id: int,
        *,
        external_id: str | None = None,
        carrier: str = "",
        service: str = "",
        tracking_number: str = "",
        packages: int = 0,
        good_to_go: bool | None = None,
        paid: bool | None = None,
        additional_message: str | None = None,
        priority: Priority = Priority.HIGH,
    ) -> Result[CentraShipment]:
        """``updateShipment``; ``external_id`` tags it with the Deposco shipment id straight after creation."""
        update = t.update_shipment_input(
            external_id=external_id,
            carrier=carrier,
            service=service,
            tracking_number=tracking_number,
            packages=packages,
            good_to_go=good_to_go,
            paid=paid,
            additional_message=additional_message,
        )
        payload, warnings = await self._mutate(
            q.UPDATE_SHIPMENT,
            {"id": int(shipment_id), "input": update},
            "updateShipment",
            idempotent=True,
            priority=priority,
        )
        return Result(t.shipment(payload.get("shipment")), warnings)

    async def find_tagged_shipment(
        self, order_number: str | int, tag: str, *, priority: Priority = Priority.HIGH
    ) -> tuple[CentraShipment | None, list[CentraShipment]]:
        """The order's shipment made for warehouse shipment ``tag`` (by externalId or the create's message),
        with all of the order's shipments (one query, no mutation).

        Two shipments with one tag mean a duplicate already exists in Centra: a ``Permanent`` error naming
        both, never a silent pick.
        """
        if not tag:
            raise ValueError("tag is required")
        shipments = await self.order_shipments(order_number, priority=priority)
        found = [s for s in shipments if s.tag == tag]
        return _single(found, f"of order {order_number} are tagged {tag!r}", "LockstepOrderShipments"), shipments

    async def find_shipment(self, external_id: str, *, priority: Priority = Priority.HIGH) -> CentraShipment | None:
        """The shipment tagged with ``external_id`` (the Deposco shipment id), or ``None``.

        Two shipments with one tag mean a duplicate already exists in Centra: that is for a person to sort out,
        so it is a ``Permanent`` error naming both, never a silent pick.
        """
        if not external_id:
            raise ValueError("external_id is required")
        data = await self._call(q.SHIPMENTS_BY_EXTERNAL_ID, {"externalId": external_id}, priority=priority)
        found = [s for s in t.shipments(data.get("shipments")) if s.external_id == external_id]
        return _single(found, f"carry externalId {external_id!r}", "LockstepShipmentsByExternalId")

    # --- events queue -------------------------------------------------------------------------------------

    async def subscribe_events(self, *, priority: Priority = Priority.NORMAL) -> Result[list[str]]:
        """``setEventListeners`` for Order and Shipment (idempotent; repeated calls add nothing)."""
        payload, warnings = await self._mutate(
            q.SUBSCRIBE_EVENTS, {}, "setEventListeners", idempotent=True, priority=priority
        )
        listeners = t.items(payload.get("eventListeners"), "eventListeners")
        return Result([str(x.get("objectType")) for x in listeners if isinstance(x, dict)], warnings)

    async def fetch_events(
        self,
        *,
        limit: int = MAX_LIST_LIMIT,
        object_types: Sequence[str] = ("Order", "Shipment"),
        priority: Priority = Priority.NORMAL,
    ) -> list[CentraEvent]:
        """The oldest unconfirmed events (they repeat until confirmed: confirm every one, even ignored ones)."""
        variables = {"objectTypes": list(object_types) or None, "limit": _bounded(limit, "limit")}
        data = await self._call(q.EVENTS, variables, priority=priority)
        return t.events(data.get("events"))

    async def confirm_events(
        self, event_ids: Iterable[int], *, batch_size: int = MAX_LIST_LIMIT, priority: Priority = Priority.NORMAL
    ) -> Warnings:
        """``confirmEvents`` in batches; unknown ids come back as warnings, not errors."""
        ids = list(dict.fromkeys(int(i) for i in event_ids))
        warnings = Warnings()
        for start in range(0, len(ids), batch_size):
            _payload, found = await self._mutate(
                q.CONFIRM_EVENTS,
                {"eventsIds": ids[start : start + batch_size]},
                "confirmEvents",
                idempotent=True,
                priority=priority,
            )
            warnings.items.extend(found.items)
        return warnings

    # --- stock --------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def mutation_slot(self, *, priority: Priority) -> AsyncIterator[None]:
        """Wait for one mutation's budget now; the first mutation made inside spends it without waiting again.

        So a caller can decide *what* to send after the wait (see :func:`lockstep.connectors.budget.prepaid`).
        A slot left unused is not given back: Centra did not count it, only this budget did."""
        if self.budget is None:
            yield
            return
        await self.budget.acquire(*WRITE, priority=priority)
        with prepaid(self.budget, WRITE):
            yield

    async def set_stock(
        self,
        warehouse: int | str,
        rows: Iterable[tuple[str, int]],
        *,
        priority: Priority = Priority.NORMAL,
        description: str = "Lockstep stock sync",
        batch_size: int | None = None,
    ) -> StockWrite:
        """Absolute physical stock for many sizes, ``batch_size`` (default 200) rows per ``setStock``.

        ``rows`` are (key, quantity), the key being the SKU or EAN per the brand's ``sku_key``. A size Centra
        does not know is refused by its row (``userErrors`` name the row): such rows are dropped, the rest of
        the batch is sent again (Centra changed nothing), and ``StockWrite.rejected`` lists them, so one bad
        SKU never blocks the stock of 199 others. An error that names no row fails the call.
        """
        batches = t.stock_batches(
            warehouse,
            rows,
            sku_key=self.sku_key,
            batch_size=batch_size or self.stock_batch_size,
            description=description,
        )
        mutations = written = 0
        rejected: list[tuple[str, str]] = []
        warnings = Warnings()
        for keys, stock_input in batches:
            while keys:
                data = await self._call(
                    q.SET_STOCK, {"input": stock_input}, mutation=True, idempotent=True, priority=priority
                )
                mutations += 1
                payload = t.mapping(data.get("setStock"), "setStock payload")
                errors = t.issues(payload.get("userErrors"))
                if not errors:
                    written += len(keys)
                    warnings.items.extend(t.issues(payload.get("userWarnings")))
                    break
                refused = t.rejected_stock_rows(errors, keys)
                if refused is None:
                    raise Permanent(
                        f"Centra refused setStock: {_messages(errors)}",
                        user_errors=errors,
                        system=SYSTEM,
                        operation="LockstepSetStock",
                    )
                rejected.extend(refused)
                log.warning("centra refused stock rows", rows=[k for k, _ in refused], warehouse=str(warehouse))
                refused_keys = {k for k, _ in refused}
                kept = [i for i, k in enumerate(keys) if k not in refused_keys]
                keys = [keys[i] for i in kept]
                stock_input = {**stock_input, "productSizes": [stock_input["productSizes"][i] for i in kept]}
        return StockWrite(mutations, written, tuple(rejected), warnings)

    async def iter_stock(
        self,
        warehouse: int | str,
        *,
        with_allocated: bool = False,
        page_size: int | None = None,
        priority: Priority = Priority.LOW,
    ) -> AsyncIterator[CentraStock]:
        """Stock rows of one warehouse: free-to-allocate always (free of complexity cost); allocated and
        physical only with ``with_allocated`` (expensive). Page-numbered, so a row that moves while paging
        could repeat: repeats are dropped."""
        warehouse_id = await self._warehouse_id(warehouse, priority=priority)
        size = _bounded(page_size or self.stock_page_size, "page_size")
        document = q.WAREHOUSE_STOCK_WITH_ALLOCATED if with_allocated else q.WAREHOUSE_STOCK
        seen: set[tuple[str, str]] = set()
        page = 1
        while True:
            data = await self._call(document, {"id": warehouse_id, "limit": size, "page": page}, priority=priority)
            if data.get("warehouse") is None:
                raise Permanent(f"Centra warehouse {warehouse!r} not found", system=SYSTEM, operation="stock")
            rows = t.stock_rows(data["warehouse"])
            for row in rows:
                if (row.sku, row.ean) not in seen:
                    seen.add((row.sku, row.ean))
                    yield row
            if len(rows) < size:
                return
            page += 1

    async def read_stock(self, warehouse: int | str, **kwargs: Any) -> list[CentraStock]:
        """All of :meth:`iter_stock` as a list."""
        return [row async for row in self.iter_stock(warehouse, **kwargs)]

    # --- catalogue, warehouses, budget --------------------------------------------------------------------

    async def product_sizes_page(
        self,
        *,
        updated_after: datetime | None = None,
        active: bool | None = None,
        after: str | None = None,
        page_size: int | None = None,
        priority: Priority = Priority.LOW,
    ) -> Page[ProductSize]:
        variables = {
            "where": t.product_size_filter(updated_after=updated_after, active=active),
            "first": _bounded(page_size or self.page_size, "page_size"),
            "after": after,
        }
        data = await self._call(q.PRODUCT_SIZES, variables, priority=priority)
        return t.product_size_page(data.get("productSizeConnection"))

    async def iter_product_sizes(
        self,
        *,
        updated_after: datetime | None = None,
        active: bool | None = None,
        page_size: int | None = None,
        priority: Priority = Priority.LOW,
    ) -> AsyncIterator[ProductSize]:
        """Every size changed since ``updated_after`` (all sizes without it): the item-master feed."""
        after: str | None = None
        while True:
            page = await self.product_sizes_page(
                updated_after=updated_after, active=active, after=after, page_size=page_size, priority=priority
            )
            for size in page.items:
                yield size
            if not page.has_next:
                return
            if page.cursor == after:
                raise Permanent("Centra productSizeConnection cursor did not advance", system=SYSTEM)
            after = page.cursor

    async def list_warehouses(self, *, priority: Priority = Priority.NORMAL) -> list[Warehouse]:
        """Every Centra warehouse (stock pool); also refreshes the name -> id cache used by stock reads."""
        found: list[Warehouse] = []
        page = 1
        while True:
            data = await self._call(q.WAREHOUSES, {"limit": MAX_LIST_LIMIT, "page": page}, priority=priority)
            batch = t.warehouses(data.get("warehouses"))
            found.extend(batch)
            if len(batch) < MAX_LIST_LIMIT:
                break
            page += 1
        self._warehouse_ids = {w.name: int(w.warehouse_id) for w in found}
        return found

    async def _warehouse_id(self, ref: int | str, *, priority: Priority) -> int:
        """A warehouse id from an id or a name (names are what topology files use)."""
        target = t.warehouse_input(ref)
        if "id" in target:
            return target["id"]
        name = target["name"]
        if name not in self._warehouse_ids:
            await self.list_warehouses(priority=priority)
        if name not in self._warehouse_ids:
            raise Permanent(f"Centra has no warehouse named {name!r}", system=SYSTEM, operation="warehouses")
        return self._warehouse_ids[name]

    async def rate_limits(self, *, observe: bool = True, priority: Priority = Priority.NORMAL) -> list[RateLimit]:
        """``rateLimits``; with ``observe`` the used quota (shared with other integrations) feeds the budget."""
        data = await self._call(q.RATE_LIMITS, priority=priority)
        limits = t.rate_limits(data.get("rateLimits"))
        buckets = getattr(self.budget, "buckets", {})
        if observe and self.budget is not None:
            for limit in limits:
                if limit.kind in buckets:
                    await self.budget.observe_used(limit.kind, limit.window_seconds, limit.used)
        return limits


def _bounded(value: int, name: str) -> int:
    if not 1 <= int(value) <= MAX_LIST_LIMIT:
        raise ValueError(f"{name} must be between 1 and {MAX_LIST_LIMIT}, got {value}")
    return int(value)


def _single(found: list[CentraShipment], what: str, operation: str) -> CentraShipment | None:
    """The one shipment found, or ``None``; two mean a duplicate in Centra, for a person to sort out."""
    if len(found) > 1:
        numbers = ", ".join(s.number for s in found)
        raise Permanent(f"{len(found)} Centra shipments {what}: {numbers}", system=SYSTEM, operation=operation)
    return found[0] if found else None
