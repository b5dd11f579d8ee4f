"""Unsigned shipment notifications POSTed to a configured URL, with the faults real webhooks have.

Deposco's shipment webhook carries no signature ("pending development"), so Lockstep must treat each call as a
hint and re-fetch the shipment through the API; it must also keep polling, because calls get lost. The sender
can drop, duplicate, delay and reorder notifications (seeded), and counts what it did.

The payload follows the V1 ``ShipmentType`` (Shipment.xsd) mapped to JSON: ``{"shipment": {shipmentNumber,
shipmentStatus, trackingNumber, trackingUrl, orders: {order: […]}, lines: {line: […]}}}``.

Stock notifications are off unless configured (``"stock": true``): Deposco's webhook resource takes free-form
event names and documents no inventory payload, so the simulator sends the V1 shapes such a notification would
carry: an adjustment as ``{"invAdjustment": {…}}`` (InvAdjustment.xsd), a receipt as
``{"inventoryNoticeActivity": {…}}`` (InventoryNoticeActivity.xsd).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import deque
from dataclasses import asdict, dataclass, fields
from typing import Any

import httpx

from .clock import iso
from .counters import Counters
from .model import Adjustment, Shipment
from .state import DeposcoState


@dataclass
class WebhookFaults:
    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay: float = 0.0
    delay_seconds: float = 1.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WebhookFaults:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown webhook fault fields: {sorted(unknown)}")
        result = cls(**data)
        for name in ("drop", "duplicate", "reorder", "delay"):
            if not 0 <= getattr(result, name) <= 1:
                raise ValueError(f"{name} must be within 0..1")
        return result


def shipment_payload(state: DeposcoState, shipment: Shipment, event: str) -> dict[str, Any]:
    order = state.orders[shipment.order_id]
    by_line = {ln.id: ln for ln in order.lines}
    return {
        "event": f"shipment.{event}",
        "shipment": {
            "id": shipment.id,
            "businessUnit": shipment.business_unit,
            "facility": shipment.facility,
            "shipmentNumber": shipment.number,
            "shipmentStatus": shipment.status,
            "shipVia": shipment.ship_via,
            "shipVendor": shipment.ship_vendor,
            "actualShipDate": iso(shipment.actual_ship_date),
            "trackingNumber": shipment.tracking_number,
            "trackingUrl": shipment.tracking_url,
            "totalPackages": len(shipment.containers),
            "orders": {
                "order": [
                    {
                        "orderNumber": order.number,
                        "orderType": "Sales Order",
                        "customerOrderNumber": order.fields.get("customerOrderNumber"),
                        "orderStatus": order.status,
                    }
                ]
            },
            "lines": {
                "line": [
                    {
                        "lineNumber": by_line[ln.order_line_id].line_number,
                        "customerLineNumber": ln.customer_line_number,
                        "shipmentLineNumber": ln.number,
                        "itemNumber": ln.item_number,
                        "orderPackQuantity": ln.order_pack_quantity,
                        "shippedPackQuantity": ln.shipped_pack_quantity,
                    }
                    for ln in shipment.lines
                ]
            },
        },
    }


def stock_payload(state: DeposcoState, record: Adjustment) -> dict[str, Any]:
    if record.kind == "Receipt":
        return {
            "event": "inventory.receipt",
            "inventoryNoticeActivity": {
                "businessUnit": state.business_unit,
                "itemNumber": record.item_number,
                "facility": record.facility,
                "quantity": int(record.quantity),
                "activityType": "Receipt",
            },
        }
    return {
        "event": "inventory.adjustment",
        "invAdjustment": {
            "invAdjustmentId": record.id,
            "actionType": "Adjustment",
            "facilityNumber": record.facility,
            "itemSku": record.item_number,
            "reasonCode": record.reason_code,
            "quantity": int(record.quantity),
            "createdDate": iso(record.created),
        },
    }


class WebhookSender:
    def __init__(
        self,
        state: DeposcoState,
        counters: Counters,
        url: str | None = None,
        seed: int = 0,
        timeout: float = 5.0,
    ) -> None:
        self.state = state
        self.counters = counters
        self.url = url
        self.faults = WebhookFaults()
        self.timeout = timeout
        self._rng = random.Random(seed + 7919)
        self._queue: asyncio.Queue[dict] | None = None
        self._held: dict | None = None
        self._task: asyncio.Task | None = None
        self._pending: set[asyncio.Task] = set()
        # the latest notifications the receiver accepted, in arrival order (for tests and ground truth)
        self.delivered: deque[dict] = deque(maxlen=1000)
        self.stock = False  # send stock notifications too
        state.listeners.append(self._on_shipment)
        state.stock_listeners.append(self._on_stock)

    def configure(self, data: dict[str, Any]) -> None:
        if "url" in data:
            self.url = data["url"] or None
        if "stock" in data:
            self.stock = bool(data["stock"])
        self.faults = WebhookFaults.from_dict(data.get("faults") or {})

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "stock": self.stock, "faults": asdict(self.faults)}

    def _on_stock(self, record: Adjustment) -> None:
        if self.url is None or self._queue is None or not self.stock:
            return
        self._queue.put_nowait(stock_payload(self.state, record))

    def _on_shipment(self, shipment: Shipment, event: str) -> None:
        if self.url is None or self._queue is None:
            return
        self._queue.put_nowait(shipment_payload(self.state, shipment, event))

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._client = httpx.AsyncClient(timeout=self.timeout)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._pending):
            task.cancel()
        await self._client.aclose()

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until every queued, held and delayed notification has been attempted (control API)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self._queue is not None and self._queue.empty() and not self._pending:
                if self._held is None:
                    return
                held, self._held = self._held, None
                self._spawn(held, 0.0)
            await asyncio.sleep(0.01)

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            payload = await self._queue.get()
            f = self.faults
            if self._rng.random() < f.drop:
                self.counters.event("webhook.dropped")
                continue
            copies = 2 if self._rng.random() < f.duplicate else 1
            if copies == 2:
                self.counters.event("webhook.duplicated")
            delay = f.delay_seconds if self._rng.random() < f.delay else 0.0
            if delay:
                self.counters.event("webhook.delayed")
            if self._held is None and self._rng.random() < f.reorder:
                self._held = payload  # goes out after the next notification
                self.counters.event("webhook.reordered")
                continue
            for _ in range(copies):
                self._spawn(payload, delay)
            if self._held is not None:
                held, self._held = self._held, None
                self._spawn(held, delay)

    def _spawn(self, payload: dict, delay: float) -> None:
        task = asyncio.create_task(self._post(payload, delay))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _post(self, payload: dict, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        url = self.url
        if url is None:
            return
        try:
            response = await self._client.post(
                url, content=json.dumps(payload), headers={"Content-Type": "application/json"}
            )
            self.counters.event("webhook.sent")
            if response.status_code >= 300:
                self.counters.event("webhook.rejected")
            else:
                self.delivered.append(payload)
        except httpx.HTTPError:
            self.counters.event("webhook.failed")
