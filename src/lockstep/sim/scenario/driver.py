"""Play an event schedule against the two simulators in real time, counting what each event led to.

Events are sent in schedule order at their offsets from the start; when a call runs late the driver catches
up without sleeping and records the worst lag, so a slow system under test shows up in the summary instead of
silently stretching the run. A failing call is counted as an ``error`` outcome and the run goes on: a scenario
is a load generator, not a test that stops at the first surprise.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx

from lockstep.config.topology import BrandTopology
from lockstep.sim.truth import deposco_snapshot

from .control import CentraControl, ControlError, DeposcoControl
from .events import Adjustment, Event, FacilityLive, OtherChannelOrder, Receipt, StorefrontOrder
from .seeding import SeededWorld
from .world import publishable, with_live

FacilityHook = Callable[[str], Awaitable[None]]
MAX_ERRORS_KEPT = 10


@dataclass
class DriveResult:
    sent: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    max_lag_s: float = 0.0
    errors: list[str] = field(default_factory=list)


class Driver:
    """Turns events into control-API calls. ``topology`` tracks go-lives; read it after :meth:`run`."""

    def __init__(
        self,
        centra: CentraControl,
        deposco: DeposcoControl,
        topology: BrandTopology,
        world: SeededWorld,
        *,
        publish: bool = True,
        respect_atp: bool = True,
        on_facility_live: FacilityHook | None = None,
    ) -> None:
        self.centra = centra
        self.deposco = deposco
        self.topology = topology
        self.world = world
        self.publish = publish
        self.respect_atp = respect_atp
        self.on_facility_live = on_facility_live

    def _item(self, index: int) -> str:
        return self.world.items[index].item

    async def run(self, events: Sequence[Event], duration: float) -> DriveResult:
        result = DriveResult()
        loop = asyncio.get_running_loop()
        start = loop.time()
        for event in events:
            delay = start + event.at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                result.max_lag_s = max(result.max_lag_s, -delay)
            result.sent[event.kind] += 1
            try:
                outcome = await self.dispatch(event)
            except (ControlError, httpx.HTTPError) as exc:
                outcome = "error"
                if len(result.errors) < MAX_ERRORS_KEPT:
                    result.errors.append(f"{event.kind} at {event.at:.3f}s: {exc}")
            result.outcomes[f"{event.kind}.{outcome}"] += 1
        remaining = start + duration - loop.time()
        if remaining > 0:
            await asyncio.sleep(remaining)
        result.max_lag_s = round(result.max_lag_s, 3)
        return result

    async def dispatch(self, event: Event) -> str:
        match event.action:
            case StorefrontOrder() as order:
                return await self._storefront(order)
            case OtherChannelOrder() as order:
                return await self._other_channel(order)
            case Receipt() as receipt:
                await self.deposco.receive(receipt.facility, self._item(receipt.sku), receipt.units)
                return "received"
            case Adjustment() as adjustment:
                return await self._adjust(adjustment)
            case FacilityLive() as live:
                return await self._go_live(live.facility)
        raise TypeError(f"unknown event {event!r}")

    async def _storefront(self, order: StorefrontOrder) -> str:
        lines = [(self.world.items[index].sku, units) for index, units in order.lines]
        accepted, _ = await self.centra.place_order(
            self.world.markets[order.market],
            order.country,
            lines,
            order.shopper,
            on_hold=order.on_hold,
            waiting_for_payment=order.waiting_for_payment,
            shipping_option=order.shipping_option,
        )
        if not accepted:
            return "refused"
        return "accepted_held" if order.on_hold or order.waiting_for_payment else "accepted"

    async def _other_channel(self, order: OtherChannelOrder) -> str:
        lines: list[tuple[str, float]] = []
        for index, units in order.lines:
            item = self._item(index)
            if self.respect_atp:
                atp = (await self.deposco.inventory(order.facility, item))["atpQty"]
                units = min(units, math.floor(atp))
            if units > 0:
                lines.append((item, units))
        if not lines:
            return "skipped_no_atp"
        await self.deposco.other_channel_order(order.facility, lines)
        return "placed"

    async def _adjust(self, adjustment: Adjustment) -> str:
        item = self._item(adjustment.sku)
        units = float(adjustment.units)
        if units < 0:
            on_hand = (await self.deposco.inventory(adjustment.facility, item))["totalOnHandQty"]
            units = max(units, -max(0.0, on_hand))
        if units == 0:
            return "skipped_empty"
        await self.deposco.adjust(adjustment.facility, item, units, "Cycle Count" if units < 0 else "Found")
        return "adjusted"

    async def _go_live(self, code: str) -> str:
        self.topology = with_live(self.topology, code)
        if self.publish:
            snapshot = deposco_snapshot(await self.deposco.snapshot(), 0.0)
            demand = snapshot.open_units()
            pools = [p.id for p in self.topology.pools if any(e.facility == code for e in p.facilities)]
            stock = publishable(self.topology, self.world.items, lambda f, i: snapshot.atp(f, i, demand), pools)
            for warehouse, rows in stock.items():
                await self.centra.set_stock(warehouse, rows)
        if self.on_facility_live is not None:
            await self.on_facility_live(code)
        return "live"
