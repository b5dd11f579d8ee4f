"""Webhook receivers: verify, store in the inbox (de-duplicated), enqueue the work, answer 2xx after the commit.

Nothing is trusted beyond "this object changed": the jobs re-read the object through the API. A failed
signature stores nothing (401); an unknown brand is 404; a malformed body is 400 with a one-line reason.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from lockstep.connectors.centra.translate import decode_webhook_payload, webhook_notices
from lockstep.connectors.centra.webhooks import InvalidSignature, verify
from lockstep.queue import enqueue
from lockstep.store import inbox

log = structlog.get_logger("lockstep.webhooks")
router = APIRouter()


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


@router.post("/webhooks/centra/{brand}")
async def centra_webhook(brand: str, request: Request) -> JSONResponse:
    runtime: Any = request.app.state.runtime
    topology = runtime.brands.get(brand)
    if topology is None:
        return _error(404, "unknown brand")
    variable = topology.centra.webhook_secret_env
    configured = runtime.secrets.get(brand, {}).get(variable or "", "")
    secrets = [s.strip() for s in configured.split(",") if s.strip()]  # "new,old" while rotating
    raw = await request.body()
    try:
        verify(request.headers.get("X-Centra-Signature"), raw, secrets, now=time.time())
    except InvalidSignature as error:
        log.warning("centra webhook refused", brand=brand, reason=str(error))
        return _error(401, str(error))
    try:
        notices = webhook_notices(decode_webhook_payload(raw))
    except ValueError as error:
        return _error(400, str(error))
    stored = duplicates = 0
    async with runtime.engine.begin() as conn:
        for notice in notices:
            row = await inbox.store_event(
                conn,
                brand=brand,
                source="centra-webhook",
                event_id=notice.event_id,
                event_type=f"{notice.object_type}.{notice.action}",
                payload={"reference": notice.reference},
            )
            if row is None:
                duplicates += 1
                continue
            stored += 1
            if notice.object_type == "order":
                await enqueue(
                    conn,
                    brand=brand,
                    task="orders.fetch",
                    payload={"number": notice.reference},
                    dedupe_key=f"fetch:{notice.reference}",
                    priority=5,
                )
    return JSONResponse({"stored": stored, "duplicates": duplicates})
