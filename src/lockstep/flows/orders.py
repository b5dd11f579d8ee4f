"""The order flow: Centra orders -> routed -> Deposco sales orders, with quarantine, cancellations and holds.

Tasks (all per brand):

- ``orders.fetch`` {number}: read the order from Centra and :func:`apply` it. Webhooks, the events queue and
  ``lockstep orders release`` enqueue it (coalesced per order). A batch task: up to ``FETCH_BATCH`` ready jobs
  share one Centra request (aliased ``orders`` fields) and one transaction.
- ``orders.refetch``: the safety net. Reads every order Centra changed since the cursor minus an overlap and
  applies them; the cursor advances in the same commit. Webhooks are dropped after 3 retries; this is why.
- ``orders.events``: drains Centra's events queue into ``orders.fetch`` jobs and confirms the events only after
  the jobs are committed.
- ``orders.export`` {number}: creates the order's Deposco sales orders (one per facility). A batch task: the
  attempts of up to ``EXPORT_BATCH`` orders are recorded in one transaction before any call, new sales orders go
  to Deposco in V1 batch imports (``POST /orders``, one request for many; every inner status is read: ``409``
  duplicate = it is there), and the outcomes are committed with the jobs' completion. Only a retry after an
  uncertain outcome looks a sales order up by number (REST) first, so a crash between create and commit can never
  make a second order, and the normal case costs well under one Deposco request per order.
- ``orders.propagate`` {number}: carries Centra cancellations and holds to Deposco while its status allows, and
  raises ``cancellation_too_late`` when it does not.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep.clock import utcnow
from lockstep.connectors.budget import Priority
from lockstep.connectors.deposco import translate as deposco_rules
from lockstep.connectors.errors import Permanent, Transient
from lockstep.domain.carriers import UNMAPPED_SHIPPING_OPTION, CarrierDecision
from lockstep.domain.model import Order, OrderStatus, SalesOrder, SalesOrderLine
from lockstep.domain.orders import (
    INVALID_ADDRESS,
    ORDER_REJECTED,
    UNKNOWN_SKU,
    Cause,
    carrier_causes,
    carrier_decisions,
    evaluate,
    from_snapshot,
    item_key,
    to_snapshot,
)
from lockstep.domain.routing import RoutingTable, draw, sales_order_number
from lockstep.flows.inventory.ingest import keys_moved_by_routing, mark_and_publish
from lockstep.queue import JobContext, TaskRegistry, enqueue, enqueue_many, job_values
from lockstep.store import cursors, inbox
from lockstep.store import exceptions as exc_store
from lockstep.store import orders as store
from lockstep.store import stock as stock_store

log = structlog.get_logger("lockstep.orders")

FETCH, REFETCH, EVENTS, EXPORT, PROPAGATE = (
    "orders.fetch",
    "orders.refetch",
    "orders.events",
    "orders.export",
    "orders.propagate",
)
# Finishing an order already routed goes before detecting the next one: a worker whose slots are all taken by
# fetches waiting for Centra's budget would otherwise leave Deposco's budget idle.
EXPORT_PRIORITY = 6
# Deposco budget priority of the export: until an order is in Deposco its units are still in Deposco's ATP, free
# for another channel to take — the window in which a sale oversells. It goes ahead of shipment reads.
EXPORT_BUDGET = Priority.HIGH
# Jobs one handler call takes together: one Centra request fetches the batch's orders; one transaction records
# the attempts of an export batch, one its outcomes.
FETCH_BATCH, EXPORT_BATCH = 50, 50
# Calls of each running at once per brand in one worker. A fetch spends one Centra request whatever its size, so
# while two wait on the budget the next orders gather into the following batch instead of each taking a request
# of its own (at peak, calls of 1-2 orders each used Centra's whole request budget and fell behind the sale).
# One export call at a time: two in flight shared one Deposco budget and the second waited behind the first; with
# one, a peak sale's orders reached Deposco 0.3-0.75 s sooner at the median on five seeds (the window in which
# another channel can take their units), at about the same number of calls.
FETCH_CALLS, EXPORT_CALLS = 2, 1
INCIDENTS = "orders.incidents"
REFETCH_CURSOR = "orders.centra_updated_after"
APPLY_CHUNK = 50  # orders a re-fetch applies per transaction (see JobContext.transaction_per_chunk)
QUARANTINE_KINDS = (
    "unroutable_order",
    "facility_not_live",
    UNKNOWN_SKU,
    INVALID_ADDRESS,
    ORDER_REJECTED,
    UNMAPPED_SHIPPING_OPTION,
)


async def _unknown_items(conn: AsyncConnection, brand: str, keys: set[str]) -> set[str]:
    """Items the warehouse does not know, per the item-master coverage (``flows/items.py``)."""
    from lockstep.store.items import unknown_items

    return await unknown_items(conn, brand, keys) if keys else set()


# --- deciding -------------------------------------------------------------------------------------------


_READ = object()  # apply(): read it yourself
IN_DEPOSCO = (store.EXPORTED, store.PARTIALLY_SHIPPED, store.SHIPPED)  # order states: its sales orders exist


@dataclass
class OrderWrites:
    """The writes of a batch of :func:`apply` calls, held back and sent as a few statements for the whole batch
    (one per table) by :meth:`flush`, in the same transaction. Per-order statements were most of the order
    flow's cost at high rates. Rows of different orders are independent, and an order's own rows go out in the
    order of the foreign keys (order, its units and sales orders, then jobs)."""

    orders: list[dict[str, Any]] = field(default_factory=list)
    units: list[dict[str, Any]] = field(default_factory=list)
    sales_orders: dict[str, dict[str, str]] = field(default_factory=dict)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    stock_keys: set[tuple[str, str]] = field(default_factory=set)  # (pool, SKU) figures the routing moved
    publish_delay_s: float = 0.0

    async def flush(self, conn: AsyncConnection, brand: str) -> None:
        await store.save_many(conn, self.orders)
        await store.insert_units(conn, self.units)
        await store.ensure_sales_orders_many(conn, brand, self.sales_orders)
        await enqueue_many(conn, self.jobs)
        if self.stock_keys:
            await mark_and_publish(
                conn, brand, self.stock_keys, reason="routed", now=utcnow(), delay_s=self.publish_delay_s
            )
        self.orders, self.units, self.sales_orders, self.jobs, self.stock_keys = [], [], {}, [], set()


async def apply(
    conn: AsyncConnection,
    runtime: Any,
    brand: str,
    order: Order,
    *,
    previous: Any = _READ,
    unknown: set[str] | None = None,
    available: Any = _READ,
    writes: OrderWrites | None = None,
) -> str:
    """Record ``order`` and decide its next step, in the caller's transaction; returns the new state.

    Exports, cancellations and holds are enqueued here (outbox), so they exist exactly when this decision was
    committed. A batch passes what it read for all its orders at once, in the same transaction: the stored
    record (``previous``, None if new), the item keys Deposco does not know (``unknown``, a superset is fine) and
    the routing allowance (``available``, from :func:`_allowance`; the units routed here are taken off it
    for the batch's next orders); and it collects the writes in ``writes``, to flush once for all.
    """
    if previous is _READ:
        previous = await store.get(conn, brand, order.number)
    if writes is not None:  # the batch flushes
        return await _decide(conn, runtime, brand, order, previous, unknown, available, writes)
    writes = OrderWrites()
    state = await _decide(conn, runtime, brand, order, previous, unknown, available, writes)
    await writes.flush(conn, brand)
    return state


async def _decide(
    conn: AsyncConnection,
    runtime: Any,
    brand: str,
    order: Order,
    previous: Any,
    unknown: set[str] | None,
    available: Any,
    writes: OrderWrites,
) -> str:
    topology = runtime.brands[brand]
    snapshot = to_snapshot(order)
    common = {
        "brand": brand,
        "number": order.number,
        "centra_id": order.order_id,
        "centra_status": order.status.value,
        "eligible": order.eligible_for_export,
        "snapshot": snapshot,
        "market": order.market,
        "ship_country": order.ship_to.country,
        "centra_updated_at": order.updated_at,
    }
    sales = await store.sales_orders_of(conn, brand, order.number) if previous is not None else []
    in_deposco = any(s.confirmed_at for s in sales)
    settled = previous is not None and previous.state in IN_DEPOSCO
    if settled or (in_deposco and not order.eligible_for_export):
        # Already in Deposco: Centra changes now mean cancellations or holds to carry over. (An order only partly
        # in Deposco that is still eligible is re-evaluated below: the export sends only what is missing.)
        state = store.CANCELLED if order.status == OrderStatus.CANCELLED else previous.state
        writes.orders.append(store.order_row(state=state, causes=previous.causes, notes=previous.notes, **common))
        if _needs_propagation(previous.snapshot, order):
            writes.jobs.append(
                job_values(
                    brand=brand,
                    task=PROPAGATE,
                    payload={"number": order.number},
                    dedupe_key=f"propagate:{order.number}",
                    priority=5,
                )
            )
        return state

    keys = _item_keys(order, topology.sku_key)
    unknown = keys & unknown if unknown is not None else await _unknown_items(conn, brand, keys)
    table = topology.routing_table()
    if available is _READ:
        available = await _allowance(conn, topology, table, [order], keys)
    if isinstance(available, dict) and previous is not None and not in_deposco:
        _give_back(available, await store.units(conn, brand, order.number))
    evaluation = evaluate(
        order, table, unknown, topology.sku_key, available, topology.carrier_table(), held=topology.safety_buffer
    )
    old_groups = {(c["kind"], c["group"]) for c in (previous.causes if previous else [])}
    if evaluation.state == "export":
        units = [
            {
                "line_id": u.line_id,
                "sku": u.sku,
                "pool": u.pool,
                "facility": u.facility,
                "quantity": u.quantity,
                "sales_order": sales_order_number(order.number, u.facility),
            }
            for u in evaluation.units
        ]
        writes.orders.append(store.order_row(state=store.EXPORTING, causes=[], notes=[], **common))
        if previous is None:  # nothing recorded yet: no rows to reconcile with, so the batch inserts them
            writes.units += [{"brand": brand, "order_number": order.number, **unit} for unit in units]
        else:
            await store.replace_units(conn, brand, order.number, units)
        facilities = {u.facility for u in evaluation.units}
        writes.sales_orders[order.number] = {f: sales_order_number(order.number, f) for f in facilities}
        writes.jobs.append(
            job_values(
                brand=brand,
                task=EXPORT,
                payload={"number": order.number},
                dedupe_key=f"export:{order.number}",
                lane=export_lane(order.number),
                priority=EXPORT_PRIORITY,
            )
        )
        _draw(available, order, evaluation.units, topology.sku_key)
        # Another pool's share of a facility is of what these units leave: its figure drops now, not when the
        # next reading nets the export (domain.stock.unclaimed_atp).
        writes.stock_keys |= keys_moved_by_routing(topology, ((u.pool, u.facility, u.sku) for u in evaluation.units))
        writes.publish_delay_s = topology.inventory.publish_coalesce_seconds
        await _resolve_cleared(conn, brand, old_groups)
        return store.EXPORTING
    if evaluation.state == "quarantined":
        await quarantine(conn, runtime, brand, order.number, list(evaluation.causes), common=common)
        await _resolve_cleared(conn, brand, old_groups - {(c.kind, c.group) for c in evaluation.causes})
        return store.QUARANTINED
    state = store.CANCELLED if evaluation.state == "cancelled" else store.WAITING
    writes.orders.append(store.order_row(state=state, causes=[], notes=[], **common))
    await _resolve_cleared(conn, brand, old_groups)
    return state


def _draw(available: Any, order: Order, units: Any, sku_key: str) -> None:
    """Take an order's routed units off a batch's routing allowance, as its ``order_units`` rows would once
    written: the batch's next orders must not route the same stock."""
    if not isinstance(available, dict):
        return
    items = {line.line_id: item_key(line, sku_key) for line in order.lines}
    for unit in units:
        draw(available, unit.pool, unit.facility, items.get(unit.line_id), unit.quantity)


def export_lane(number: str) -> str:
    """One order's exports run one at a time. The dedupe key only folds *pending* jobs: an order fetched again
    while its export was running got a second export job, which the next claim sent in a concurrent call, and
    Deposco refused one of the two ("updated by a concurrent request"); the batch failed and its orders were
    retried the slow way (looked up first, four requests each) — at the peak sale's start, when Deposco's
    budget is shortest."""
    return f"order:{number}"


def _give_back(available: dict, units: Any) -> None:
    """Put an order's own routed units back into the routing allowance before it is routed again: the allowance
    counts them as taken (routed, not yet in Deposco), so a re-evaluated order (a second webhook, a re-fetch)
    saw its own units as another order's and moved off the facility it had been given (the peak sale's Irish
    order went from Stockholm, 5 units, to Milton Keynes, 2, which another channel then emptied)."""
    for unit in units:
        open_units = unit.quantity - unit.cancelled - unit.shipped
        if open_units > 0:
            draw(available, unit.pool, unit.facility, unit.sku, -open_units)


def _item_keys(order: Order, sku_key: str) -> set[str]:
    return {key for key in (item_key(line, sku_key) for line in order.lines if line.quantity > 0) if key}


def _needs_propagation(previous_snapshot: dict, order: Order) -> bool:
    before = from_snapshot(previous_snapshot)
    if order.status == OrderStatus.CANCELLED and before.status != OrderStatus.CANCELLED:
        return True
    if order.is_on_hold != before.is_on_hold:
        return True
    cancelled_before = {line.line_id: line.cancelled_quantity for line in before.lines}
    return any(line.cancelled_quantity > cancelled_before.get(line.line_id, 0) for line in order.lines)


async def quarantine(
    conn: AsyncConnection, runtime: Any, brand: str, number: str, causes: list[Cause], *, common: dict | None = None
) -> None:
    """Hold an order back with every reason, and raise one incident per cause group (counted)."""
    topology = runtime.brands[brand]
    stored = [{**_cause_dict(c)} for c in causes]
    if common is not None:
        await store.save(conn, state=store.QUARANTINED, causes=stored, notes=[], **common)
    else:
        await store.set_state(conn, brand, number, store.QUARANTINED, causes=stored)
    seen = set()
    for cause in causes:
        if (cause.kind, cause.group) in seen:
            continue
        seen.add((cause.kind, cause.group))
        await exc_store.raise_kind(
            conn,
            brand=brand,
            kind=cause.kind,
            dedupe_key=cause.group,
            owner_team=topology.owner_for(cause.kind),
            summary=_incident_summary(cause),
            evidence={
                "latest_order": number,
                "detail": cause.detail,
                "pool": cause.pool,
                "sku": cause.sku,
                **({"facility": cause.facility, "shipping_option": cause.shipping_option} if cause.facility else {}),
            },
            entity_type="order",
            entity_id=number,
        )


def _cause_dict(cause: Cause) -> dict[str, Any]:
    return {
        "kind": cause.kind,
        "group": cause.group,
        "detail": cause.detail,
        "line_id": cause.line_id,
        "pool": cause.pool,
        "sku": cause.sku,
        "facility": cause.facility,
        "shipping_option": cause.shipping_option,
    }


def _incident_summary(cause: Cause) -> str:
    if cause.kind == UNKNOWN_SKU:
        return f"orders held: item {cause.sku} is not in Deposco"
    if cause.kind == UNMAPPED_SHIPPING_OPTION:
        return (
            f"orders held: shipping option {cause.shipping_option or '(none)'} has no carrier for facility "
            f"{cause.facility}"
        )
    if cause.pool:
        return f"orders held: stock pool {cause.pool} cannot be routed ({cause.detail})"
    return f"orders held: {cause.detail}"


async def _resolve_cleared(conn: AsyncConnection, brand: str, groups: set[tuple[str, str]]) -> None:
    """Some order left quarantine: have the incident sweep check its groups once this commits.

    Not here: orders released together are re-evaluated in parallel transactions, and each would still see the
    others as quarantined. One coalesced sweep, run after they committed, sees the truth.
    """
    if groups:
        await enqueue(conn, brand=brand, task=INCIDENTS, payload={}, dedupe_key=INCIDENTS, delay_s=0.5, priority=1)


async def sweep_incidents(ctx: JobContext) -> None:
    """Resolve the quarantine incidents no quarantined order still has."""
    async with ctx.transaction() as conn:
        still = set()
        for record in await store.in_state(conn, ctx.brand, [store.QUARANTINED], limit=100_000):
            still |= {(c["kind"], c["group"]) for c in record.causes}
        for kind in QUARANTINE_KINDS:
            for group in await exc_store.active_keys(conn, brand=ctx.brand, kind=kind):
                if (kind, group) not in still:
                    await exc_store.auto_resolve(conn, brand=ctx.brand, kind=kind, dedupe_key=group)


# --- tasks ----------------------------------------------------------------------------------------------


async def _allowance(conn: AsyncConnection, topology: Any, table: RoutingTable, orders: list[Order], keys: set[str]):
    """What each of the orders' pools may still draw per facility, only for pools backed by several live
    facilities (elsewhere there is no choice to make, and no query to pay for). Units routed earlier in the same
    transaction are counted: they are in ``order_units`` and not yet in any reading. A batch reads it once for all
    its orders; :func:`apply` takes each order's units off it (:func:`_draw`)."""
    pools = {
        route.pool
        for order in orders
        for line in order.lines
        for allocation in line.allocations
        if (route := table.by_warehouse.get(allocation.warehouse)) is not None
        and sum(1 for _, live in route.facilities if live) > 1
    }
    if not pools:
        return None
    shares = {pool: {e.facility: e.share for e in topology.live_facilities_for_pool(pool)} for pool in pools}
    return await stock_store.routing_allowance(conn, topology.brand, shares, keys)


async def fetch(ctx: JobContext) -> None:
    """A batch of ``orders.fetch`` jobs: one Centra request for all their orders, one transaction to apply them."""
    numbers = list(dict.fromkeys(str(payload["number"]) for payload in ctx.payloads))
    async with ctx.services.engine.connect() as conn:
        before = await store.get_many(conn, ctx.brand, numbers)
    found = await ctx.services.centra(ctx.brand).get_orders(numbers, priority=_fetch_priority(numbers, before))
    orders = [found[n] for n in numbers if found.get(n) is not None]
    for number in numbers:
        if found.get(number) is None:
            log.warning("order not found in Centra", brand=ctx.brand, number=number)
    sku_key = ctx.services.brands[ctx.brand].sku_key
    async with ctx.transaction() as conn:
        if not orders:
            return
        await store.lock_orders(conn, ctx.brand, [o.number for o in orders])
        known = await store.get_many(conn, ctx.brand, [o.number for o in orders])
        keys = set().union(*(_item_keys(o, sku_key) for o in orders))
        unknown = await _unknown_items(conn, ctx.brand, keys)
        topology = ctx.services.brands[ctx.brand]
        available = await _allowance(conn, topology, topology.routing_table(), orders, keys)
        writes = OrderWrites()
        for order in orders:
            await apply(
                conn,
                ctx.services,
                ctx.brand,
                order,
                previous=known.get(order.number),
                unknown=unknown,
                available=available,
                writes=writes,
            )
        await writes.flush(conn, ctx.brand)


def _fetch_priority(numbers: list[str], known: dict[str, Any]) -> Priority:
    """HIGH on Centra's budget while any of the orders may still have to go to Deposco: until it is there, its
    units are free in Deposco for another channel to take (a peak sale's last oversold units were orders that
    took seconds to arrive). Orders already in Deposco (a webhook for a shipment's status change) can wait."""
    settled = (*IN_DEPOSCO, store.CANCELLED)
    if all(n in known and known[n].state in settled for n in numbers):
        return Priority.NORMAL
    return Priority.HIGH


async def refetch(ctx: JobContext) -> None:
    """Apply every order Centra changed since the cursor (minus the overlap); advance the cursor in the commit."""
    topology = ctx.services.brands[ctx.brand]
    since, cursor = await cursors.window_start(
        ctx.services.engine,
        brand=ctx.brand,
        name=REFETCH_CURSOR,
        overlap=timedelta(minutes=topology.orders.refetch_overlap_minutes),
    )
    changed: list[Order] = []
    async for order in ctx.services.centra(ctx.brand).iter_orders(updated_after=since, priority=Priority.LOW):
        changed.append(order)
    newest = datetime.fromisoformat(cursor) if cursor else since

    async def apply_changed(conn, orders: Sequence[Order]) -> None:
        nonlocal newest
        await store.lock_orders(conn, ctx.brand, [o.number for o in orders])
        for order in orders:
            known = await store.get(conn, ctx.brand, order.number)
            # Centra's updatedAt has whole seconds: a change in the same second as the version we hold (a hold
            # lifted right after checkout) keeps the timestamp, so a changed snapshot counts as a change too.
            if (
                known is None
                or known.centra_updated_at is None
                or (order.updated_at is not None and order.updated_at > known.centra_updated_at)
                or to_snapshot(order) != known.snapshot
            ):
                await apply(conn, ctx.services, ctx.brand, order)
            if order.updated_at is not None and order.updated_at > newest:
                newest = order.updated_at

    async def advance(conn) -> None:
        await cursors.write(conn, brand=ctx.brand, name=REFETCH_CURSOR, value=newest.isoformat())

    await ctx.transaction_per_chunk(changed, APPLY_CHUNK, apply_changed, advance)


_SUBSCRIBED: weakref.WeakSet = weakref.WeakSet()  # Centra clients (one per brand and process) that subscribed


async def events(ctx: JobContext) -> None:
    """Drain the events queue into fetch jobs; confirm only what is durably stored.

    Centra queues events only for an integration that listens: the first drain in each process subscribes
    (``setEventListeners`` is idempotent). Orders changed before the first subscription are the re-fetch's.
    """
    centra = ctx.services.centra(ctx.brand)
    if centra not in _SUBSCRIBED:
        await centra.subscribe_events(priority=Priority.NORMAL)
        _SUBSCRIBED.add(centra)
    batch = await centra.fetch_events(priority=Priority.NORMAL)
    if not batch:
        return
    async with ctx.transaction() as conn:
        for event in batch:
            stored = await inbox.store_event(
                conn,
                brand=ctx.brand,
                source="centra-events",
                event_id=str(event.event_id),
                event_type=f"{event.object_type}.{event.change_type}",
                payload={"reference": event.reference},
            )
            if stored is not None and event.is_order:
                await enqueue(
                    conn,
                    brand=ctx.brand,
                    task=FETCH,
                    payload={"number": event.reference},
                    dedupe_key=f"fetch:{event.reference}",
                    priority=5,
                )
    await centra.confirm_events([e.event_id for e in batch], priority=Priority.NORMAL)


@dataclass
class _Export:
    """One order's export within a batch: what to send, and what came of it."""

    number: str
    to_send: list[SalesOrder]
    uncertain: set[str]
    confirmed: list[tuple[str, str | None, str | None, datetime]] = field(default_factory=list)  # number, id, status
    sent: dict[str, dict[int, int]] = field(default_factory=dict)  # sales order -> Centra line id -> units sent
    notes: list[dict[str, Any]] = field(default_factory=list)
    causes: list[Cause] = field(default_factory=list)
    failure: BaseException | None = None  # transient: retried with the batch's jobs


async def export(ctx: JobContext) -> None:
    """A batch of ``orders.export`` jobs: one transaction records every attempt before any call, the Deposco
    creates run concurrently, one transaction records every outcome with the jobs' completion.

    Exactly once per sales order: ``attempted_at`` is durable before its create is sent; a sales order attempted
    before (crash, timeout) is looked up by number instead of being created again.
    """
    runtime, brand = ctx.services, ctx.brand
    topology = runtime.brands[brand]
    deposco = runtime.deposco(brand)
    numbers = list(dict.fromkeys(str(payload["number"]) for payload in ctx.payloads))
    work: list[_Export] = []
    async with runtime.engine.begin() as conn:
        records = await store.get_many(conn, brand, numbers)
        sales = await store.sales_orders_of_many(conn, brand, numbers)
        units = await store.units_of_many(conn, brand, numbers)
        attempting: list[str] = []
        for number in numbers:
            record = records.get(number)
            if record is None or record.state != store.EXPORTING:
                continue  # released, cancelled or already exported meanwhile
            pending = [s for s in sales.get(number, []) if s.confirmed_at is None]
            order = from_snapshot(record.snapshot)
            to_send = _sales_orders(order, units.get(number, []), topology.sku_key, {s.number for s in pending})
            decisions = carrier_decisions(order, {so.facility for so in to_send}, topology.carrier_table())
            causes = carrier_causes(order, decisions)
            if causes:  # the mapping changed since the order was routed: hold it, send nothing
                work.append(_Export(number, [], set(), causes=causes))
                continue
            chosen = {d.facility: d for d in decisions}
            to_send = [replace(so, carrier_service=chosen[so.facility].service) for so in to_send]
            work.append(_Export(number, to_send, {s.number for s in pending if s.attempted_at is not None}))
            attempting += [s.number for s in pending]
        # Durable before the call: a crash after Deposco created the order makes the retry look it up first.
        if attempting:
            await store.mark_attempted(conn, brand, attempting)
    await _send_all(deposco, topology, work)

    failed = next((item.failure for item in work if item.failure is not None), None)
    if failed is None:
        async with ctx.transaction() as conn:
            await _record_exports(conn, runtime, brand, work)
        return
    # Keep what Deposco confirmed, then retry the batch: the orders recorded here are no longer "exporting",
    # and the failed ones are looked up by number first (their outcome is unknown).
    async with runtime.engine.begin() as conn:
        await _record_exports(conn, runtime, brand, work)
    raise failed


async def _record_exports(conn: AsyncConnection, runtime: Any, brand: str, work: list[_Export]) -> None:
    """Every outcome of an export batch, in a few statements for the whole batch. An order whose sending failed
    (transient) keeps only its confirmed sales orders: it stays ``exporting`` and is retried."""
    topology = runtime.brands[brand]
    current = await store.get_many(conn, brand, [item.number for item in work])  # as of this transaction
    await store.mark_confirmed_many(conn, brand, [c for item in work for c in item.confirmed])
    done = [item for item in work if item.failure is None]
    raced = await store.record_sent_many(conn, brand, {so: lines for item in done for so, lines in item.sent.items()})
    exported: dict[str, list[dict[str, Any]]] = {}
    for item in done:
        number, now = item.number, current.get(item.number)
        moved = now is not None and now.state != store.EXPORTING
        if raced.intersection(item.sent) or (moved and item.confirmed):
            # Centra changed a line while we were sending it, or cancelled or held the order while we were
            # creating it: carry that over to what now exists, once this commits.
            await enqueue(
                conn,
                brand=brand,
                task=PROPAGATE,
                payload={"number": number},
                dedupe_key=f"propagate:{number}",
                priority=5,
            )
        if moved:
            continue
        if item.causes:
            await quarantine(conn, runtime, brand, number, item.causes)
            continue
        exported[number] = item.notes
        if topology.orders.lock_after_export:
            await enqueue(
                conn,
                brand=brand,
                task="orders.lock",
                payload={"number": number},
                dedupe_key=f"lock:{number}",
                priority=1,
            )
    await store.mark_exported_many(conn, brand, exported)


async def _send_all(deposco: Any, topology: Any, work: list[_Export]) -> None:
    """New sales orders go to Deposco in V1 batch imports (one request for many orders); one whose earlier
    attempt has an unknown outcome is looked up by number first, and one of more than 100 lines goes through
    the REST API in chunks."""
    bulk: list[tuple[_Export, SalesOrder, tuple]] = []  # with the changes made to fit, for the notes
    single: list[tuple[_Export, SalesOrder, tuple]] = []
    for item in work:
        for sales_order in item.to_send:
            try:
                changes = deposco.check_sales_order(sales_order)
            except Permanent as error:
                _refused(item, sales_order, error)
                continue
            if changes and topology.orders.overlong_fields == "quarantine":
                item.causes += [Cause(INVALID_ADDRESS, f"{c.field}: {c.reason}") for c in changes]
                continue
            uncertain = sales_order.number in item.uncertain
            big = len(sales_order.lines) > deposco_rules.MAX_LINES_PER_REQUEST
            (single if uncertain or big else bulk).append((item, sales_order, changes))
    size = deposco_rules.V1_IMPORT_MAX_ORDERS
    await asyncio.gather(
        *(_send_one(deposco, item, sales_order) for item, sales_order, _ in single),
        *(_import(deposco, bulk[i : i + size]) for i in range(0, len(bulk), size)),
    )


async def _import(deposco: Any, chunk: list[tuple[_Export, SalesOrder, tuple]]) -> None:
    try:
        outcomes = await deposco.import_sales_orders([so for _, so, _ in chunk], priority=EXPORT_BUDGET)
    except Exception as error:  # transient (or a bug): every order of the request has an unknown outcome
        for item, _, _ in chunk:
            item.failure = item.failure or error
        return
    for item, sales_order, changes in chunk:
        outcome = outcomes.get(sales_order.number)
        if outcome is None or outcome.transient:
            reason = outcome.message if outcome else "Deposco's answer did not mention it"
            item.failure = item.failure or Transient(f"{sales_order.number}: {reason}")
        elif outcome.created or outcome.exists:  # 409: an earlier attempt created it, so it is there
            _accepted(item, sales_order, None, deposco_rules.STATUS_NEW if outcome.created else None, changes)
        else:
            _refused(item, sales_order, deposco_rules.import_refusal(outcome))


async def _send_one(deposco: Any, item: _Export, sales_order: SalesOrder) -> None:
    try:
        if sales_order.number in item.uncertain:
            # An earlier attempt may have created it (crash or timeout before our commit): look, don't resend.
            existing = await deposco.find_sales_order(sales_order.number, priority=EXPORT_BUDGET)
            if existing is not None:
                item.confirmed.append((sales_order.number, existing.order_id, existing.status, utcnow()))
                return
        result = await deposco.upsert_sales_order(sales_order, exists=False, priority=EXPORT_BUDGET)
    except Permanent as error:
        _refused(item, sales_order, error)
        return
    except Exception as error:  # transient (or a bug): what was confirmed so far is still recorded
        item.failure = item.failure or error
        return
    _accepted(item, sales_order, result.order.order_id, result.order.status, result.changes)


def _accepted(item: _Export, sales_order: SalesOrder, deposco_id: str | None, status: str | None, changes) -> None:
    item.confirmed.append((sales_order.number, deposco_id, status, utcnow()))
    item.sent[sales_order.number] = {int(line.customer_line_number): line.quantity for line in sales_order.lines}
    item.notes += [{"sales_order": sales_order.number, "field": c.field, "change": c.reason} for c in changes]


def _refused(item: _Export, sales_order: SalesOrder, error: Permanent) -> None:
    missing = deposco_rules.unknown_items(error)
    if missing:
        item.causes += [Cause(UNKNOWN_SKU, f"Deposco does not know item {sku}", sku=sku) for sku in missing]
    else:
        item.causes.append(Cause(ORDER_REJECTED, f"Deposco refused {sales_order.number}: {error}"))


def carrier_plan(topology: Any, snapshot: dict[str, Any], facilities: set[str]) -> list[CarrierDecision]:
    """How the sales order of each facility ships under the brand's mapping, and why (what the export sends;
    for ``lockstep orders show``). Deterministic: the stored Centra order and the topology decide it."""
    return carrier_decisions(from_snapshot(snapshot), facilities, topology.carrier_table())


def _sales_orders(order: Order, units: list, sku_key: str, numbers: set[str]) -> list[SalesOrder]:
    lines_by_id = {line.line_id: line for line in order.lines}
    grouped: dict[str, list] = defaultdict(list)
    for unit in units:
        if unit.sales_order in numbers:
            grouped[unit.sales_order].append(unit)
    built = []
    for so_number, rows in sorted(grouped.items()):
        lines = tuple(
            SalesOrderLine(
                line_number=index,
                item=item_key(lines_by_id[row.line_id], sku_key),
                quantity=row.quantity,
                customer_line_number=str(row.line_id),
                unit_price=lines_by_id[row.line_id].unit_price,
            )
            for index, row in enumerate(sorted(rows, key=lambda r: r.line_id), start=1)
        )
        built.append(
            SalesOrder(
                number=so_number,
                facility=rows[0].facility,
                lines=lines,
                ship_to=order.ship_to,
                customer_order_number=order.number,
                order_date=order.created_at,
                currency=order.currency,
            )
        )
    return built


async def lock(ctx: JobContext) -> None:
    await ctx.services.centra(ctx.brand).lock_orders([ctx.payload["number"]], priority=Priority.LOW)


async def propagate(ctx: JobContext) -> None:
    """Carry a Centra cancellation (whole order or lines) or hold to each Deposco order while it is allowed."""
    runtime, brand, number = ctx.services, ctx.brand, str(ctx.payload["number"])
    deposco = runtime.deposco(brand)
    async with runtime.engine.connect() as conn:
        record = await store.get(conn, brand, number)
        sales = [s for s in await store.sales_orders_of(conn, brand, number) if s.confirmed_at]
        units = await store.units(conn, brand, number)
    if record is None or not sales:
        return
    order = from_snapshot(record.snapshot)
    too_late: list[dict[str, Any]] = []
    cancelled: list[tuple[str, str]] = []
    resolved: dict[str, str] = {}  # sales order -> Deposco id, for orders a batch import created (it names none)
    for sale in sales:
        if sale.cancelled_at is not None:
            continue
        deposco_id = sale.deposco_id
        if deposco_id is None:
            found = await deposco.find_sales_order(sale.number, priority=Priority.HIGH)
            if found is None or not found.order_id:
                raise Transient(f"Deposco confirmed {sale.number} but does not find it by number yet")
            deposco_id = resolved[sale.number] = found.order_id
        current = await deposco.get_sales_order(deposco_id, priority=Priority.HIGH)
        status = current.status
        try:
            if order.status == OrderStatus.CANCELLED:
                if not deposco_rules.can_cancel(status):
                    too_late.append({"sales_order": sale.number, "deposco_status": status, "what": "order"})
                    continue
                result = await deposco.cancel_order(deposco_id, priority=Priority.HIGH)
                cancelled.append((sale.number, result.status))
                continue
            wanted = _cancelled_per_line(order, units, sale.number)
            if wanted:
                await deposco.cancel_lines(deposco_id, wanted, priority=Priority.HIGH)
            if order.is_on_hold and deposco_rules.can_update(status):
                await deposco.hold(deposco_id, priority=Priority.HIGH)
            elif not order.is_on_hold and deposco_rules.is_on_hold(status):
                await deposco.release(deposco_id, priority=Priority.NORMAL)
        except Permanent as error:
            too_late.append({"sales_order": sale.number, "deposco_status": status, "error": str(error)})
    async with ctx.transaction() as conn:
        for so_number, found_id in resolved.items():
            await store.set_deposco_id(conn, brand, so_number, found_id)
        for so_number, status in cancelled:
            await store.mark_cancelled(conn, brand, so_number, deposco_status=status)
        if too_late:
            topology = runtime.brands[brand]
            await exc_store.raise_kind(
                conn,
                brand=brand,
                kind="cancellation_too_late",
                dedupe_key=f"order:{number}",
                owner_team=topology.owner_for("cancellation_too_late"),
                summary=f"order {number}: Centra cancelled or held it, but Deposco has already started on it",
                evidence={"order": number, "sales_orders": too_late},
                entity_type="order",
                entity_id=number,
            )


def _cancelled_per_line(order: Order, units: list, sales_order: str) -> dict[str, int]:
    """Total units to cancel per Centra line in one Deposco order, spreading a line's cancellations over its
    facilities in a fixed order (a line split across facilities is cancelled from the last one first).

    What Deposco must cancel is what it was sent (the routed units) minus what Centra still wants (the line's
    current quantity) — not Centra's cancelled quantity, which also counts units cancelled before the export and
    so never sent."""
    wanted: dict[str, int] = {}
    for line in order.lines:
        rows = [u for u in units if u.line_id == line.line_id]
        remaining = sum(u.quantity for u in rows) - max(line.quantity, 0)
        if remaining <= 0:
            continue
        for unit in sorted(rows, key=lambda u: u.facility, reverse=True):
            take = min(remaining, unit.quantity)
            remaining -= take
            if unit.sales_order == sales_order and take:
                wanted[str(line.line_id)] = take
    return wanted


def register(registry: TaskRegistry) -> None:
    registry.register(FETCH, fetch, batch=FETCH_BATCH, max_calls=FETCH_CALLS)
    registry.register(REFETCH, refetch)
    registry.register(EVENTS, events)
    registry.register(EXPORT, export, batch=EXPORT_BATCH, max_calls=EXPORT_CALLS)
    registry.register(PROPAGATE, propagate)
    registry.register("orders.lock", lock)
    registry.register(INCIDENTS, sweep_incidents)
