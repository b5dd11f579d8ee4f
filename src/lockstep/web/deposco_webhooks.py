"""``POST /webhooks/deposco/{brand}``: Deposco's shipment and stock notifications, kept as hints to re-fetch.

Deposco signs nothing, so the body is trusted for nothing but *which* shipment changed; the ``shipments.hint``
job reads the shipment through the API (``flows/shipments.py``). A brand may require a shared secret, in a
header or as the HTTP Basic password (``deposco.webhook_secret_env`` names the variable; "new,old" while
rotating); a call without it stores nothing (401). An unknown brand is 404, a body naming no shipment 400.

Each notification is stored in the inbox before the answer, de-duplicated by its content: Deposco's retries and
duplicate deliveries are recognised and acknowledged without a second job, while a later notification about
the same shipment (new tracking numbers) differs in content and is kept. The job is enqueued in the same commit,
so a 2xx means the hint cannot be lost; pending hints for one shipment coalesce into one re-fetch. A stock
notification (an item and its facility) becomes an ``inventory.hint`` job per item, coalesced while pending and
read in batches, so the storefront follows a receipt or adjustment without waiting for the next scan.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from lockstep.connectors.deposco.webhooks import Notification, WebhookRejected, parse_notification, verify
from lockstep.flows.inventory.ingest import HINT as STOCK_HINT
from lockstep.flows.inventory.ingest import PUBLISH_PRIORITY
from lockstep.queue import enqueue
from lockstep.store import inbox

log = structlog.get_logger("lockstep.webhooks")
router = APIRouter()

SOURCE = "deposco-webhook"
HINT_PRIORITY = 7  # as urgent as the confirmation it leads to


@router.post("/webhooks/deposco/{brand}")
async def deposco_webhook(brand: str, request: Request) -> JSONResponse:
    runtime: Any = request.app.state.runtime
    topology = runtime.brands.get(brand)
    if topology is None:
        return JSONResponse({"error": "unknown brand"}, status_code=404)
    variable = topology.deposco.webhook_secret_env
    configured = runtime.secrets.get(brand, {}).get(variable or "", "")
    try:
        verify(request.headers, [s.strip() for s in configured.split(",") if s.strip()])
    except WebhookRejected as error:
        log.warning("deposco webhook refused", brand=brand, reason=str(error))
        return JSONResponse({"error": str(error)}, status_code=401)
    raw = await request.body()
    try:
        notification = parse_notification(raw, request.headers.get("content-type", ""))
    except ValueError as error:
        return JSONResponse({"error": str(error)}, status_code=400)
    digest = hashlib.sha256(raw).hexdigest()[:32]
    stored = duplicates = 0
    async with runtime.engine.begin() as conn:
        for index, hint in enumerate(_jobs_for(notification)):
            row = await inbox.store_event(
                conn,
                brand=brand,
                source=SOURCE,
                event_id=f"{hint.kind}:{hint.key}:{digest}:{index}",
                event_type=hint.kind,
                payload=hint.payload,
            )
            if row is None:
                duplicates += 1
                continue
            stored += 1
            await enqueue(
                conn,
                brand=brand,
                task=hint.task,
                payload=hint.payload,
                dedupe_key=hint.dedupe_key,
                priority=hint.priority,
            )
    return JSONResponse({"stored": stored, "duplicates": duplicates})


@dataclass(frozen=True)
class _HintJob:
    kind: str  # inbox event type
    key: str  # what it is about, for the inbox id
    task: str
    payload: dict[str, Any]
    dedupe_key: str  # pending hints about the same thing coalesce
    priority: int


def _jobs_for(notification: Notification) -> list[_HintJob]:
    """The re-read jobs a notification asks for: one per item named, one per shipment named."""
    jobs = [
        _HintJob(
            "stock",
            f"{h.facility}:{h.item}",
            STOCK_HINT,
            {"item": h.item, "facility": h.facility},
            f"{STOCK_HINT}:{h.facility}:{h.item}",
            PUBLISH_PRIORITY,  # as urgent as the stock publish it leads to
        )
        for h in notification.stock
    ]
    for h in notification.shipments:
        key = h.shipment_id or f"number:{h.shipment_number}"
        payload = {"id": h.shipment_id, "number": h.shipment_number}
        jobs.append(_HintJob("shipment", key, "shipments.hint", payload, f"hint:{key}", HINT_PRIORITY))
    return jobs
