"""Re-reads on a hint: items whose stock something says has moved are read from Deposco at once.

The changes feed and the rolling scan (``ingest``) see on-hand activity and, in turn, every item; these see what
they miss or see late, each enqueued by the scan tick when due, or by Lockstep's Deposco webhook receiver:

- ``inventory.watch_orders`` (``inventory.other_orders_seconds``): other channels' new Deposco orders allocate
  stock without moving on hand;
- ``inventory.watch_adjustments`` (``inventory.adjustments_seconds``): Deposco's adjustment feed, for a tenant
  without changed-since, and for status changes (stock blocked or released);
- ``inventory.hint`` {item, facility}: a Deposco stock notification (``web/deposco_webhooks.py``), one job per
  item, coalesced while pending; a batch task, so a burst costs one availability read.

A hint is never a figure: its items' availability is read and taken like any other reading (``take_readings``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from lockstep.clock import utcnow
from lockstep.connectors.budget import Priority
from lockstep.flows.inventory.ingest import (
    ADJUSTMENTS_AT,
    ADJUSTMENTS_SEEN,
    FAST_OVERLAP_S,
    HINT,
    ORDERS_CURSOR,
    WATCH,
    WATCH_ADJUSTMENTS,
    live_facilities,
    read_items,
    take_readings,
)
from lockstep.queue import JobContext, TaskRegistry
from lockstep.store import cursors
from lockstep.store import orders as order_store
from lockstep.store.db import read_only

log = structlog.get_logger("lockstep.inventory")

HINT_BATCH = 100  # items one availability read of hints carries
WATCH_PRIORITY = Priority.NORMAL  # behind order exports on Deposco's budget (see watch_orders)
SEEN_CAP = 2000  # adjustment ids remembered at most (records without a creation time would stay forever)


async def watch_orders(ctx: JobContext) -> None:
    """Other channels' new orders: read Deposco's sales orders created since the last look and re-read the items
    of those Lockstep did not send (their allocations move ATP, not on hand). One request a look when no such
    order came, two when some did (more at a sale's pace: the list holds Lockstep's own orders too).

    NORMAL on Deposco's budget, behind order exports. At HIGH, level with them, it took most of the peak sale's
    3 requests a second (112 list pages a run): Centra orders reached Deposco seconds late, and other channels
    took their units meanwhile (19 units oversold against 2 without the watch, same seed)."""
    topology = ctx.services.brands[ctx.brand]
    live = live_facilities(topology)
    deposco = ctx.services.deposco(ctx.brand)
    asked_at = utcnow()
    since, _ = await cursors.window_start(
        ctx.services.engine,
        brand=ctx.brand,
        name=ORDERS_CURSOR,
        overlap=timedelta(seconds=FAST_OVERLAP_S),
        first_look=timedelta(seconds=topology.inventory.scan_overlap_seconds),
    )
    lines: dict[str, set[str]] = {}  # order number -> items, for orders shipping from a live facility
    if live:
        async for order in deposco.iter_new_sales_orders(since, priority=WATCH_PRIORITY):
            if order.facility in live:
                lines.setdefault(order.number, set()).update(line.item for line in order.lines if line.item)
    async with read_only(ctx.services.engine) as conn:
        own = await order_store.known_sales_orders(conn, ctx.brand, lines)
    items = sorted({item for number, found in lines.items() if number not in own for item in found})
    readings = await read_items(ctx.services, ctx.brand, items, live, WATCH_PRIORITY)
    async with ctx.transaction() as conn:
        await take_readings(conn, topology, readings, reason="other channel", now=utcnow())
        await cursors.write(conn, brand=ctx.brand, name=ORDERS_CURSOR, value=asked_at.isoformat())
    if items:
        log.info("other channels' orders", brand=ctx.brand, orders=len(lines) - len(own), items=len(items))


async def watch_adjustments(ctx: JobContext) -> None:
    """Deposco's adjustment feed since the last look: re-read the items adjusted at live facilities.

    An adjustment is a delta, and deltas are not what Lockstep publishes (an absolute figure from a reading is
    right however many deltas were missed), so each one is a hint: its item's availability is read and taken
    like any other reading. The look-back is the last look minus the scan overlap, for records Deposco commits
    late; ids seen within it are remembered (``ADJUSTMENTS_SEEN``) so a record is acted on once. Adjustments at
    facilities the topology does not know, or not live, change no Centra figure and are only counted."""
    topology = ctx.services.brands[ctx.brand]
    live = set(live_facilities(topology))
    overlap = timedelta(seconds=topology.inventory.scan_overlap_seconds)
    asked_at = utcnow()
    async with read_only(ctx.services.engine) as conn:
        last = await cursors.read(conn, brand=ctx.brand, name=ADJUSTMENTS_AT)
        seen = _seen_ids(await cursors.read(conn, brand=ctx.brand, name=ADJUSTMENTS_SEEN))
    since = (datetime.fromisoformat(last) if last else asked_at) - overlap
    fresh = []
    if live:
        async for adjustment in ctx.services.deposco(ctx.brand).iter_adjustments(since, priority=Priority.HIGH):
            if adjustment.adjustment_id not in seen:
                fresh.append(adjustment)
    items = sorted({a.item for a in fresh if a.facility in live})
    elsewhere = sum(1 for a in fresh if a.facility not in live)
    readings = await read_items(ctx.services, ctx.brand, items, sorted(live), Priority.HIGH)
    keep = {a.adjustment_id: a.created_at for a in fresh}
    keep.update(seen)
    remembered = sorted(i for i, at in keep.items() if at is None or at > since)[-SEEN_CAP:]
    async with ctx.transaction() as conn:
        await take_readings(conn, topology, readings, reason="adjustment", now=utcnow())
        await cursors.write(conn, brand=ctx.brand, name=ADJUSTMENTS_AT, value=asked_at.isoformat())
        await cursors.write(
            conn,
            brand=ctx.brand,
            name=ADJUSTMENTS_SEEN,
            value=" ".join(f"{i}@{keep[i].isoformat() if keep[i] else ''}" for i in remembered),
        )
    if fresh:
        log.info("stock adjustments", brand=ctx.brand, adjustments=len(fresh), items=len(items), elsewhere=elsewhere)


def _seen_ids(raw: str | None) -> dict[int, datetime | None]:
    """The ``ADJUSTMENTS_SEEN`` cursor: ``id@created`` words. Pure."""
    seen: dict[int, datetime | None] = {}
    for word in (raw or "").split():
        number, _, created = word.partition("@")
        if number.isdigit():
            seen[int(number)] = datetime.fromisoformat(created) if created else None
    return seen


async def hint(ctx: JobContext) -> None:
    """Re-read the items Deposco's stock notifications named, in one availability read for the batch.

    A notification names an item and often its facility; one naming a facility that is not live (or not this
    brand's) changes no Centra figure and costs no request. The body is unsigned, so only *which* items is
    taken from it: the figures come from the read."""
    topology = ctx.services.brands[ctx.brand]
    live = live_facilities(topology)
    items = sorted(
        {str(p["item"]) for p in ctx.payloads if p.get("item") and (not p.get("facility") or p["facility"] in live)}
    )
    readings = await read_items(ctx.services, ctx.brand, items, live, Priority.HIGH)
    async with ctx.transaction() as conn:
        await take_readings(conn, topology, readings, reason="hint", now=utcnow())


def register(registry: TaskRegistry) -> None:
    registry.register(WATCH, watch_orders)
    registry.register(WATCH_ADJUSTMENTS, watch_adjustments)
    registry.register(HINT, hint, batch=HINT_BATCH, max_calls=1)
