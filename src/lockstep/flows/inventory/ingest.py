"""Stock ingest: Deposco readings in, dirty (pool, SKU) keys out, a publish job per pool that has any.

``inventory.scan`` (per brand) runs every ``inventory.scan_interval_seconds``: it re-enqueues itself after each
run, and the brand's cron schedule only restarts the chain if it ever breaks (the dedupe key coalesces the two).
It spends the brand's Deposco budget, shared with order exports, sparingly:

1. **Changed since**: V1 ``/inventory/full`` with the activity time (cursor minus an overlap): every item x
   facility with on-hand activity — receipts, adjustments, picks — since the last run. The overlap covers
   activity Deposco commits late. Most ticks look back only ``FAST_OVERLAP_S``; once every
   ``scan_overlap_seconds`` a tick reads from the previous such tick minus the whole overlap (the late sweep:
   whatever committed up to ``scan_overlap_seconds`` late is read by the next sweep). In a sale nearly every cell
   has activity within ten seconds, so a full overlap on every tick read the whole catalog each time: two pages,
   two of Deposco's three requests a second, and readings seconds late.
2. **Rolling scan**, every ``inventory.rolling_scan_seconds``: V1 availability for the next ``scan_page_items``
   items of the brand's item master, read by an ``inventory.refresh`` job the tick enqueues. Activity time may
   not cover ATP moves that change no on-hand (another channel's order allocating stock), so every item is
   re-read in turn as a safety net; the cursor is the last item read.

3. **Watches** (optional), when due: the tick enqueues ``inventory.watch_orders`` (other channels' new Deposco
   orders, every ``inventory.other_orders_seconds``) and ``inventory.watch_adjustments`` (Deposco's adjustment
   feed, every ``inventory.adjustments_seconds``; for a tenant without changed-since, ``inventory.changed_since:
   false``, it is the only feed). Both re-read the items they name at once: see ``hints``, which also holds
   ``inventory.hint``, Deposco's stock notifications.

``inventory.refresh`` {items} reads chosen items at once (a rolling page, or ``lockstep stock refresh``).

A reading is stored only if it is newer than the one held (``store/stock.py``). Readings for facilities that are
not in the brand's topology, or SKUs unknown to it, are stored all the same (they cost nothing and explain drift
later) but only live facilities' readings make keys dirty: stock from a facility that is not live is never
published. Cursors advance in the commit that stores the readings.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep.clock import utcnow
from lockstep.connectors.budget import Priority
from lockstep.domain.model import StockReading
from lockstep.queue import JobContext, TaskRegistry, enqueue
from lockstep.store import cursors
from lockstep.store import stock as store
from lockstep.store.db import read_only
from lockstep.store.items import item_coverage

log = structlog.get_logger("lockstep.inventory")

SCAN, REFRESH, PUBLISH = "inventory.scan", "inventory.refresh", "inventory.publish"
WATCH = "inventory.watch_orders"
WATCH_ADJUSTMENTS = "inventory.watch_adjustments"
HINT = "inventory.hint"
CHANGES_CURSOR, ROLLING_CURSOR = "inventory.changed_after", "inventory.rolling_after_item"
ROLLING_AT = "inventory.rolling_at"
ORDERS_CURSOR = "inventory.orders_created_after"
ADJUSTMENTS_AT, ADJUSTMENTS_SEEN = "inventory.adjustments_read_at", "inventory.adjustments_seen"
SWEPT_AT = "inventory.late_sweep_at"
TICK_SLACK_S = 0.25  # a watch due every n s runs on the tick that comes n s after the last, give or take this
FAST_OVERLAP_S = 2.0  # a tick's look-back between two late sweeps: activity committed up to 2 s late
# A sale changes most of a few hundred items x facilities within a few seconds: one request a tick, not two.
CHANGES_PAGE_SIZE = 1000
PUBLISH_PRIORITY = 9  # stock decreases stop overselling: ahead of completions (8), confirmations (7), exports (6)


def pools_live_at(topology: Any, facility: str) -> tuple[str, ...]:
    """The pools whose figures a facility's stock counts in: those it backs, if it is live. Pure."""
    return tuple(
        pool
        for pool, _ in topology.pools_for_facility(facility)
        if any(e.facility == facility for e in topology.live_facilities_for_pool(pool))
    )


def dirty_keys_for(topology: Any, readings: Iterable[StockReading]) -> set[tuple[str, str]]:
    """(pool, SKU) keys a set of readings moves: each live facility's pools. Pure."""
    keys: set[tuple[str, str]] = set()
    pools_by_facility: dict[str, tuple[str, ...]] = {}
    for reading in readings:
        if reading.facility not in pools_by_facility:
            pools_by_facility[reading.facility] = pools_live_at(topology, reading.facility)
        keys.update((pool, reading.item) for pool in pools_by_facility[reading.facility])
    return keys


def keys_moved_by_routing(topology: Any, routed: Iterable[tuple[str, str, str]]) -> set[tuple[str, str]]:
    """(pool, SKU) keys that units routed to a facility move before any reading nets them: the *other* pools
    the facility backs (their share is of what the order leaves, ``domain.stock.unclaimed_atp``). None for a
    tenant whose ATP nets no orders. ``routed``: (pool, facility, SKU) of the units. Pure."""
    if not topology.inventory.atp_nets_open_orders:
        return set()
    return {
        (other, sku) for pool, facility, sku in routed for other in pools_live_at(topology, facility) if other != pool
    }


async def take_readings(
    conn: AsyncConnection, topology: Any, readings: list[StockReading], *, reason: str, now: datetime
) -> int:
    """Store readings, mark the keys they move dirty and enqueue a publish per pool; returns keys marked."""
    fresh = await store.record_readings(conn, topology.brand, readings, now=now)
    keys = dirty_keys_for(topology, fresh)
    delay = topology.inventory.publish_coalesce_seconds
    return await mark_and_publish(conn, topology.brand, keys, reason=reason, now=now, delay_s=delay)


async def mark_and_publish(
    conn: AsyncConnection,
    brand: str,
    keys: Iterable[tuple[str, str]],
    *,
    reason: str,
    now: datetime,
    delay_s: float = 0.0,
) -> int:
    """Mark keys dirty and make sure each of their pools has a publish job (coalesced per pool: changes arriving
    within ``delay_s`` of the first share its mutation)."""
    keys = set(keys)
    marked = await store.mark_dirty(conn, brand, keys, reason=reason, now=now)
    for pool in sorted({pool for pool, _ in keys}):
        await enqueue_publish(conn, brand, pool, delay_s=delay_s)
    return marked


async def enqueue_publish(conn: AsyncConnection, brand: str, pool: str, *, delay_s: float = 0.0) -> None:
    await enqueue(
        conn,
        brand=brand,
        task=PUBLISH,
        payload={"pool": pool},
        dedupe_key=f"{PUBLISH}:{pool}",
        lane=f"pool:{pool}",  # the shipment confirmations' lane: a completion never lands mid-publish
        priority=PUBLISH_PRIORITY,
        delay_s=delay_s,
    )


async def scan(ctx: JobContext) -> None:
    """One scan tick: read changed-since, enqueue the rolling page when due; then schedule the next tick."""
    topology = ctx.services.brands[ctx.brand]
    settings = topology.inventory
    deposco = ctx.services.deposco(ctx.brand)
    live = live_facilities(topology)
    asked_at = utcnow()
    async with read_only(ctx.services.engine) as conn:
        swept = await cursors.read(conn, brand=ctx.brand, name=SWEPT_AT)
        after = await cursors.read(conn, brand=ctx.brand, name=ROLLING_CURSOR)
        last_rolled = await cursors.read(conn, brand=ctx.brand, name=ROLLING_AT)
        due = last_rolled is None or (asked_at - datetime.fromisoformat(last_rolled)).total_seconds() >= (
            settings.rolling_scan_seconds
        )
        items = await _next_items(conn, ctx.brand, after or "", settings.scan_page_items) if due else []
        if due and not items and after:  # wrapped around: start again from the first item
            items = await _next_items(conn, ctx.brand, "", settings.scan_page_items)
        watch = bool(live) and await _watch_due(conn, ctx.brand, ORDERS_CURSOR, settings.other_orders_seconds, asked_at)
        adjustments = bool(live) and await _watch_due(
            conn, ctx.brand, ADJUSTMENTS_AT, settings.adjustments_seconds, asked_at
        )
    swept_at = datetime.fromisoformat(swept) if swept else None
    overlap = timedelta(seconds=settings.scan_overlap_seconds)
    sweep = swept_at is None or asked_at - swept_at >= overlap
    since, _ = await cursors.window_start(
        ctx.services.engine,
        brand=ctx.brand,
        name=CHANGES_CURSOR,
        overlap=overlap if sweep else min(timedelta(seconds=FAST_OVERLAP_S), overlap),
        first_look=overlap,
    )
    if sweep and swept_at is not None:  # from the last sweep on: whatever committed late since then
        since = min(since, swept_at - overlap)
    changed = (
        # URGENT: ahead of order exports on Deposco's few requests a second. It is one request a tick, and a sale's
        # exports kept it waiting about a second each time (readings p99 6-10 s behind Deposco).
        await deposco.v1.inventory_changes(since, page_size=CHANGES_PAGE_SIZE, priority=Priority.URGENT)
        if live and settings.changed_since
        else []
    )
    async with ctx.transaction() as conn:
        now = utcnow()
        marked = await take_readings(conn, topology, changed, reason="reading", now=now)
        await cursors.write(conn, brand=ctx.brand, name=CHANGES_CURSOR, value=asked_at.isoformat())
        if watch:  # its own job: read inline, Deposco's answer kept every tick (and its changes) waiting
            await enqueue(conn, brand=ctx.brand, task=WATCH, dedupe_key=WATCH, priority=PUBLISH_PRIORITY)
        if adjustments:
            await enqueue(
                conn, brand=ctx.brand, task=WATCH_ADJUSTMENTS, dedupe_key=WATCH_ADJUSTMENTS, priority=PUBLISH_PRIORITY
            )
        if sweep and live:
            await cursors.write(conn, brand=ctx.brand, name=SWEPT_AT, value=asked_at.isoformat())
        if items:
            await cursors.write(conn, brand=ctx.brand, name=ROLLING_CURSOR, value=items[-1])
            await cursors.write(conn, brand=ctx.brand, name=ROLLING_AT, value=asked_at.isoformat())
            if live:  # its own job: a tick that waited on the page kept the changes it had read for seconds
                await enqueue(conn, brand=ctx.brand, task=REFRESH, payload={"items": items}, priority=PUBLISH_PRIORITY)
        await enqueue(
            conn,
            brand=ctx.brand,
            task=SCAN,
            dedupe_key=SCAN,
            delay_s=next_tick_in(settings.scan_interval_seconds, asked_at, now),
            priority=PUBLISH_PRIORITY,
        )
    if marked:
        log.info("stock changed", brand=ctx.brand, keys=marked, changed=len(changed))


async def _watch_due(conn: AsyncConnection, brand: str, cursor: str, every: int, now: datetime) -> bool:
    """Whether a watch run every ``every`` s (0: never) is due, from the time its cursor says it last looked."""
    if every <= 0:
        return False
    last = await cursors.read(conn, brand=brand, name=cursor)
    return last is None or (now - datetime.fromisoformat(last)).total_seconds() >= every - TICK_SLACK_S


def next_tick_in(interval_s: float, started: datetime, now: datetime) -> float:
    """Ticks keep their cadence: the next starts ``interval_s`` after this one started, not after it ended (a
    tick that waited a second on Deposco's budget otherwise stretched the interval, and every reading's delay,
    by that second). Pure."""
    return max(0.0, interval_s - (now - started).total_seconds())


async def refresh(ctx: JobContext) -> None:
    """Read chosen items now (all live facilities) and take the readings: a rolling-scan page, a hint, or
    ``lockstep stock refresh``.

    At HIGH on Deposco's budget, one step below the changes feed: this is how another channel's allocations (ATP
    down, on hand unchanged) are seen at all, and at NORMAL a sale's exports kept it waiting for tens of seconds."""
    topology = ctx.services.brands[ctx.brand]
    items = sorted({str(i) for i in ctx.payload.get("items", [])})
    live = live_facilities(topology)
    readings = await read_items(ctx.services, ctx.brand, items, live, Priority.HIGH)
    async with ctx.transaction() as conn:
        await take_readings(conn, topology, readings, reason="refresh", now=utcnow())


async def read_items(
    services: Any, brand: str, items: list[str], facilities: list[str], priority: Priority
) -> list[StockReading]:
    """Availability of ``items`` at ``facilities`` in one V1 read (none when either is empty); a reading the
    tenant cannot give (a measure not configured) is logged and left out, never taken as zero."""
    if not items or not facilities:
        return []
    readings, problems = await services.deposco(brand).v1.availability(
        facilities=facilities, items=items, priority=priority
    )
    if problems:
        log.warning("stock readings incomplete", brand=brand, problems=problems[:5], count=len(problems))
    return readings


async def refresh_now(services: Any, brand: str, items: list[str]) -> tuple[list[StockReading], int]:
    """``lockstep stock refresh``: read the items at every live facility now and take the readings in a
    transaction of their own; returns them and the keys marked dirty. The publish jobs it enqueues are written
    by the running worker, in the pools' lanes like every other publish."""
    topology = services.brands[brand]
    readings = await read_items(services, brand, sorted(set(items)), live_facilities(topology), Priority.HIGH)
    async with services.engine.begin() as conn:
        marked = await take_readings(conn, topology, readings, reason="manual refresh", now=utcnow())
    return readings, marked


async def _next_items(conn: AsyncConnection, brand: str, after: str, limit: int) -> list[str]:
    """The brand's item numbers (its item master as Lockstep knows it) after ``after``, in order."""
    rows = await conn.execute(
        select(item_coverage.c.item_key)
        .where(item_coverage.c.brand == brand, item_coverage.c.item_key > after)
        .order_by(item_coverage.c.item_key)
        .limit(limit)
    )
    return [r.item_key for r in rows]


def live_facilities(topology: Any) -> list[str]:
    return sorted(f.code for f in topology.facilities if f.is_live)


def register(registry: TaskRegistry) -> None:
    registry.register(SCAN, scan)
    registry.register(REFRESH, refresh)
