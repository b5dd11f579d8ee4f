"""One simulator instance: its configuration and the live parts every route needs (state, auth, faults…)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from lockstep.sim.faults import FaultPlan

from .auth import Authority
from .clock import SimClock
from .counters import Counters
from .guard import WriteGuard
from .state import AutoFulfil, DeposcoState
from .throttle import Throttle
from .webhooks import WebhookSender


@dataclass
class DeposcoSimConfig:
    client_id: str = "lockstep"
    client_secret: str = "secret"
    seed: int = 0
    requests_per_second: float = 4.0
    burst: float | None = None
    retry_after: float | None = None
    webhook_url: str | None = None
    business_unit: str = "BU1"
    tenant_code: str | None = None  # V1 path code; defaults to the business unit
    token_ttl: float = 3600.0
    refresh_token: str | None = None
    order_write_seconds: float = 0.02  # how long an order write holds the order (overlaps → 409)
    start_time: float | None = None  # freeze simulated time at this epoch (fully reproducible runs)
    auto_fulfil: AutoFulfil | None = None
    tick_interval: float = 0.2
    snapshot_path: Path | None = None


@dataclass
class V1Settings:
    """Tenant-specific V1 quirks: measures the tenant has configured, and JSON labelled as XML."""

    measures: tuple[str, ...] = ("totalOnHandQty", "atpQty", "openOrderLineQty", "allocatedQty")
    json_as_xml: bool = False


class Sim:
    def __init__(self, config: DeposcoSimConfig) -> None:
        self.config = config
        self.clock = SimClock(config.start_time)
        self.state = DeposcoState(config.business_unit, config.seed, self.clock)
        self.auth = Authority(
            config.client_id,
            config.client_secret,
            self.clock,
            config.token_ttl,
            config.refresh_token,
            config.seed,
        )
        self.counters = Counters()
        self.throttle = Throttle(config.requests_per_second, config.burst, config.retry_after)
        self.faults = FaultPlan(seed=config.seed)
        self.guard = WriteGuard(config.order_write_seconds)
        self.webhooks = WebhookSender(self.state, self.counters, config.webhook_url, config.seed)
        self.v1 = V1Settings()
        self.auto = config.auto_fulfil
        self.tenant_code = config.tenant_code or config.business_unit
        self._ticker: asyncio.Task | None = None
        if config.snapshot_path is not None and config.snapshot_path.exists():
            self.state.restore(json.loads(config.snapshot_path.read_text()))

    def tick(self) -> int:
        """Let the warehouse progress orders by itself (if auto-fulfilment is on); returns shipments made."""
        if self.auto is None:
            return 0
        return len(self.state.tick(self.auto))

    async def start(self) -> None:
        await self.webhooks.start()
        self._ticker = asyncio.create_task(self._tick_forever())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.webhooks.stop()
        if self.config.snapshot_path is not None:
            self.config.snapshot_path.write_text(json.dumps(self.state.snapshot()))

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_interval)
            self.tick()
