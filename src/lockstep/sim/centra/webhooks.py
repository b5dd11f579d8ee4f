"""Centra Webhook-plugin delivery (optional per run): signed, form-encoded, ids only, lossy by design.

Reproduced (centra.md §10.2): ``POST`` with ``Content-Type: application/x-www-form-urlencoded`` and body
``payload=<url-encoded JSON>``; the JSON is ``{"events":[{"type","action","date","id"}]}`` with ids only
(orders
by number, shipments by id); header ``X-Centra-Signature: t=<unix ts>,v1=<hex HMAC-SHA256(secret, "<t>.<raw
body>")>``; a timeout (default 5 s); up to 3 retries with growing delay, after which the webhook is *dropped*.
Fault knobs (drop, duplicate, delay, reorder) exercise a receiver's deduplication and reconciliation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

# Centra signs exactly as Lockstep verifies: one implementation, the connector's.
from lockstep.connectors.centra.webhooks import signature_header

WEBHOOK_TYPES = {"Order": "order", "Shipment": "shipment"}


def encode_body(payload: dict[str, Any]) -> bytes:
    """The raw form body ``payload=<url-encoded JSON>`` (what is signed, byte for byte)."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


@dataclass
class WebhookConfig:
    url: str | None = None
    secret: str | None = None
    timeout: float = 5.0
    max_retries: int = 3  # Centra allows 0..3
    retry_base_delay: float = 1.0  # attempt n waits base * 2**(n-1)
    max_events_per_call: int = 100
    batch_window: float = 0.05  # seconds to gather events into one call
    drop: float = 0.0  # probability a call is silently never sent
    duplicate: float = 0.0  # probability a call is sent twice
    delay: float = 0.0  # probability a call is held back ``delay_seconds`` (later calls overtake it)
    delay_seconds: float = 2.0
    reorder: float = 0.0  # probability a call is held until after the next one

    def update(self, data: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown webhook settings: {sorted(unknown)}")
        if "max_retries" in data and not 0 <= int(data["max_retries"]) <= 3:
            raise ValueError("max_retries must be 0..3")
        for key, value in data.items():
            setattr(self, key, value)


class WebhookDispatcher:
    """Collects change notifications and delivers them from one asyncio task (started by the app lifespan)."""

    def __init__(self, config: WebhookConfig, seed: int = 0) -> None:
        self.config = config
        self.rng = random.Random(seed ^ 0x5EED)
        self.counters: Counter[str] = Counter()
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._held: list[bytes] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    # called synchronously by the state (on the event loop thread)
    def submit(self, object_type: str, change_type: str, key: int, action: str) -> None:
        kind = WEBHOOK_TYPES.get(object_type)
        if kind is None or not self.config.url or self._queue is None:
            return
        date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        self._queue.put_nowait({"type": kind, "action": action, "date": date, "id": key})
        self.counters["events_queued"] += 1

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._client = httpx.AsyncClient()
        self._task = asyncio.create_task(self._run(), name="centra-webhooks")

    async def stop(self) -> None:
        for task in [self._task, *self._inflight]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            deadline = time.monotonic() + self.config.batch_window
            while len(batch) < self.config.max_events_per_call:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            await self._dispatch(encode_body({"events": batch}))

    async def _dispatch(self, body: bytes) -> None:
        cfg, rng = self.config, self.rng
        if rng.random() < cfg.drop:
            self.counters["dropped_fault"] += 1
            return
        copies = 2 if rng.random() < cfg.duplicate else 1
        if copies == 2:
            self.counters["duplicated"] += 1
        if rng.random() < cfg.reorder:
            self.counters["reordered"] += 1
            self._held.append(body)
            return
        held, self._held = self._held, []
        delayed = rng.random() < cfg.delay
        if delayed:
            self.counters["delayed"] += 1
        for payload in [body] * copies + held:
            self._spawn(self._deliver(payload, cfg.delay_seconds if delayed and payload is body else 0.0))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _deliver(self, body: bytes, delay: float) -> None:
        """One webhook call with up to ``max_retries`` retries, then dropped (Centra's behaviour)."""
        if delay:
            await asyncio.sleep(delay)
        cfg = self.config
        assert self._client is not None
        for attempt in range(cfg.max_retries + 1):
            if attempt:
                await asyncio.sleep(cfg.retry_base_delay * 2 ** (attempt - 1))
            timestamp = int(time.time())
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            if cfg.secret:
                headers["X-Centra-Signature"] = signature_header(cfg.secret, timestamp, body)
            self.counters["attempts"] += 1
            try:
                response = await self._client.post(cfg.url or "", content=body, headers=headers, timeout=cfg.timeout)
                if 200 <= response.status_code < 300:
                    self.counters["sent"] += 1
                    return
                self.counters["failed_attempts"] += 1
            except httpx.HTTPError:
                self.counters["failed_attempts"] += 1
        self.counters["dropped_after_retries"] += 1

    def describe(self) -> dict[str, Any]:
        data = asdict(self.config)
        data["secret"] = "***" if self.config.secret else None
        return {"config": data, "counters": dict(self.counters)}
