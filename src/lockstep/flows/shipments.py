"""The shipment flow: Deposco shipments -> completed Centra shipments, exactly once, with tracking.

Tasks (all per brand):

- ``shipments.poll`` (scheduled, every minute): reads Deposco outbound shipments changed since the cursor minus
  an overlap. A newly seen shipped shipment of one of Lockstep's sales orders is mapped onto its Centra order
  lines (``domain/shipments.py``), its units move from "held open by Deposco" to "shipped" in ``order_units``,
  and a ``shipments.confirm`` job is enqueued — all in one commit with the cursor, so a crash re-reads, never
  skips, and the unique row per Deposco shipment makes the re-read harmless. A known shipment (the overlap
  re-reads every recent one) is only checked for new tracking numbers, which are recorded and passed on.
- ``shipments.hint`` {id, number}: a Deposco webhook said this shipment changed (``web/deposco_webhooks.py``).
  The shipment is re-read through the API — the unsigned payload is never trusted — and goes through the same
  detection as a polled one. Polling continues regardless: webhooks get lost.
- ``shipments.confirm`` {shipment} (its own lane: one attempt per shipment at a time): look among the Centra
  order's shipments for one tagged with the Deposco shipment number, else create it (with capture, the tag in
  its message), capture if the create did not. The attempt is committed before the create and the result after
  the capture, so a retry resumes where the last attempt stopped and never creates a second Centra shipment
  (``_locate`` also recognises one created untagged). A capture the payment provider leaves pending is asked
  again later (doubling delay, at most hourly); a declined one is ``capture_failed`` for finance. Tracking that
  arrives after the completion goes to Centra once, with one ``updateShipment``.
- ``shipments.complete`` {shipment} (the lane of the shipment's stock pool): complete it with carrier, service,
  tracking, packages, shipped-at, the order's shipping cost on its first shipment only, and ``sendEmail``. Only
  this step changes Centra's stock, so only it is serialised with that pool's stock publishing (DESIGN §4);
  shipments of one pool are created in parallel. The order then moves to ``partially_shipped`` or ``shipped``.
- ``monitor.shipments``: ``shipment_unconfirmed`` per shipment not completed in Centra within the brand's
  threshold, with its age; resolved automatically once it is completed.

Mutations: two per shipment in the normal case — ``createShipment`` (with capture) and ``completeShipment`` —
DESIGN's target. Centra counts every mutation field of a request, and ``ShipmentCreateInput`` documents no
``externalId`` (centra.md §13: unconfirmed), so tagging with ``updateShipment(externalId)`` would be a third.
The tag rides on the create instead, in ``additionalMessage`` (read back on every shipment; each later message
keeps it first, ``connectors/centra/translate.py``): a retry finds the shipment among its order's shipments by
it, without trusting local state (DESIGN §3.3). A brand whose other tools need the externalId sets
``shipments.tag_external_id`` and pays the third mutation; a capture the create could not make adds one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep.clock import utcnow
from lockstep.connectors.budget import BudgetBusy, Priority, patience
from lockstep.connectors.centra import translate as centra_rules
from lockstep.connectors.deposco import translate as deposco_rules
from lockstep.connectors.errors import Permanent
from lockstep.domain.model import CentraShipment, WarehouseShipment
from lockstep.domain.orders import from_snapshot
from lockstep.domain.shipments import (
    OpenUnits,
    capture_retry_delay,
    late_tracking,
    map_shipment,
    merge_tracking,
    order_progress,
    problem_evidence,
    shipped_at_for_centra,
)
from lockstep.queue import JobContext, TaskRegistry, enqueue
from lockstep.store import cursors
from lockstep.store import exceptions as exc_store
from lockstep.store import orders as order_store
from lockstep.store import shipments as store
from lockstep.store import stock as stock_store

log = structlog.get_logger("lockstep.shipments")

POLL, CONFIRM, COMPLETE, HINT, MONITOR = (
    "shipments.poll",
    "shipments.confirm",
    "shipments.complete",
    "shipments.hint",
    "monitor.shipments",
)
POLL_CURSOR = "shipments.deposco_updated_after"
POLL_CHUNK = 50  # shipments a poll records per transaction (see JobContext.transaction_per_chunk)
CONFIRM_PRIORITY = 7  # a waiting customer and an open order-to-cash cycle: ahead of routine work
# Budget priority of the flow's calls: NORMAL, below the calls that stop overselling (stock decreases to
# Centra, order exports and stock readings from Deposco). At peak on the Growth tier, Centra's 2 mutations/s
# cannot confirm every shipment as it ships (two each) and publish stock too; a late shipping e-mail can be
# caught up, a unit sold twice cannot.
SHIPMENT_PRIORITY = Priority.NORMAL
# The completion is what sends the customer's e-mail; a created shipment not yet completed tells nobody anything.
# Within the mutations the stock writes (URGENT) leave over, completions go ahead of creating more shipments:
# in the peak sale on Growth, at NORMAL like the creates, 1-8 of ~30 shipments created were completed during
# the sale; at HIGH 14-16 (single runs, seed 0; stock writes and oversold units unchanged).
COMPLETE_PRIORITY = Priority.HIGH
# A completion holds its stock pool's lane: it waits at most this long for Centra's mutation budget, then gives
# the lane back and runs again a moment later (a stock publish, ahead of it in the lane, goes first meanwhile).
COMPLETE_PATIENCE_S, COMPLETE_AGAIN_S = 0.5, 0.5
# Confirmations running at once per brand in one worker. Each waits on Centra's mutation budget (two per
# shipment); a backlog at the highest priority would otherwise fill every worker slot with calls asleep on that
# budget while order fetches and exports, which need none of it, wait for a slot (seen in the peak sale).
CONFIRM_CALLS = 4


# --- detection ------------------------------------------------------------------------------------------


async def poll(ctx: JobContext) -> None:
    """Record new shipped shipments and enqueue their confirmation; the cursor advances in the same commit."""
    topology = ctx.services.brands[ctx.brand]
    since, cursor = await cursors.window_start(
        ctx.services.engine,
        brand=ctx.brand,
        name=POLL_CURSOR,
        overlap=timedelta(minutes=topology.shipments.poll_overlap_minutes),
    )
    seen: list[WarehouseShipment] = []
    async for shipment in ctx.services.deposco(ctx.brand).iter_shipments(since, priority=SHIPMENT_PRIORITY):
        seen.append(shipment)
    # Timestamps are not unique: a fixed order (time, then id) makes the outcome independent of page order.
    seen.sort(key=lambda s: (s.updated_at or since, s.shipment_id))
    newest = datetime.fromisoformat(cursor) if cursor else since

    async def record(conn, shipments: Sequence[WarehouseShipment]) -> None:
        nonlocal newest
        known = await store.by_deposco_ids(conn, ctx.brand, [s.shipment_id for s in shipments])
        for shipment in shipments:
            await detect(conn, ctx.services, ctx.brand, shipment, known)
            if shipment.updated_at is not None and shipment.updated_at > newest:
                newest = shipment.updated_at

    async def advance(conn) -> None:
        await cursors.write(conn, brand=ctx.brand, name=POLL_CURSOR, value=newest.isoformat())

    await ctx.transaction_per_chunk(seen, POLL_CHUNK, record, advance)


async def detect(
    conn: AsyncConnection,
    runtime: Any,
    brand: str,
    shipment: WarehouseShipment,
    known: dict[str, store.ShipmentRecord] | None = None,
) -> int | None:
    """Act on one Deposco shipment in the caller's transaction; the new link row's id, if it is new and ours.

    Not ours (another channel's order) or not shipped (zero units: a voided label) is ignored. A shipment of a
    Centra-numbered order Lockstep never exported, or one that does not fit the order, is raised, not dropped.
    A shipment already known (overlapping poll windows re-read every recent one) only has its tracking checked;
    ``known`` is the poll's one-query lookup of the page's shipments.
    """
    if not deposco_rules.is_shipped(shipment):
        return None
    record = (
        known.get(shipment.shipment_id)
        if known is not None
        else await store.by_deposco_id(conn, brand, shipment.shipment_id)
    )
    if record is not None:
        await _more_tracking(conn, brand, shipment, record)
        return None
    sale = await store.sales_order(conn, brand, shipment.sales_order_number)
    if sale is None:
        if shipment.sales_order_number.startswith("C"):
            await _raise(
                conn,
                runtime,
                brand,
                "shipment_rejected",
                shipment.number,
                f"Deposco shipment {shipment.number} is for {shipment.sales_order_number}, not exported by Lockstep",
                {"deposco_shipment": shipment.number, "sales_order": shipment.sales_order_number},
                shipment.sales_order_number,
            )
        return None
    rows = await store.open_rows(conn, brand, sale.order_number, sale.facility)
    mapping = map_shipment(shipment, [OpenUnits(r.id, r.line_id, r.pool, r.open) for r in rows])
    shipment_id = await store.insert_new(
        conn,
        brand=brand,
        deposco_id=shipment.shipment_id,
        deposco_number=shipment.number,
        sales_order=sale.number,
        order_number=sale.order_number,
        facility=sale.facility,
        pool=mapping.pool,
        state=store.DETECTED if mapping.ok else store.FAILED,
        lines=[list(pair) for pair in mapping.centra_lines],
        carrier=shipment.carrier,
        service=shipment.service,
        tracking=list(shipment.tracking_numbers),
        packages=shipment.packages or len(shipment.tracking_numbers),
        shipped_at=shipment.shipped_at,
        detected_at=utcnow(),
        last_error=None if mapping.ok else "does not fit the order's open lines",
    )
    if shipment_id is None:  # recorded meanwhile by a parallel detection (a webhook hint and a poll)
        return None
    if mapping.ok:
        for take in mapping.takes:
            mapping_ok = await store.consume(conn, take.row_id, take.units)
            if not mapping_ok:  # a parallel detection consumed the units first: let the retry map it again
                raise RuntimeError(f"order {sale.order_number} line {take.line_id} changed while mapping")
    if not mapping.ok:
        await _raise(
            conn,
            runtime,
            brand,
            "over_shipment",
            shipment.number,
            f"Deposco shipment {shipment.number} does not fit order {sale.order_number}: not confirmed in Centra",
            problem_evidence(shipment, sale.order_number, mapping),
            sale.order_number,
        )
        return shipment_id
    await _enqueue_confirm(conn, brand, shipment_id)
    return shipment_id


async def _more_tracking(
    conn: AsyncConnection, brand: str, shipment: WarehouseShipment, record: store.ShipmentRecord
) -> None:
    """A known shipment reporting tracking numbers it did not have: record them and let ``confirm`` pass them on.

    Before the completion they simply ride along with it; after it, ``confirm`` sends only the new ones.
    """
    tracking = merge_tracking(record.tracking, shipment.tracking_numbers)
    if tracking == tuple(record.tracking):
        return
    values: dict[str, Any] = {"tracking": list(tracking)}
    if not record.carrier and shipment.carrier:
        values.update(carrier=shipment.carrier, service=shipment.service or record.service)
    if record.completed_at is None and shipment.packages > record.packages:
        values["packages"] = shipment.packages
    await store.update_step(conn, record.id, **values)
    if record.state != store.FAILED:
        await _enqueue_confirm(conn, brand, record.id)


async def _enqueue_confirm(
    conn: AsyncConnection, brand: str, shipment_id: int, *, retry: bool = False, **kwargs: Any
) -> None:
    """One pending confirmation per shipment (coalesced) and one running (its own lane): two workers never
    create for the same shipment at once. Shipments of one pool are confirmed in parallel; only their
    completions share the pool's lane (:func:`complete`)."""
    await enqueue(
        conn,
        brand=brand,
        task=CONFIRM,
        payload={"shipment": shipment_id, **({"retry": True} if retry else {})},
        dedupe_key=f"confirm:{shipment_id}",
        lane=f"shipment:{shipment_id}",
        priority=CONFIRM_PRIORITY,
        **kwargs,
    )


async def hint(ctx: JobContext) -> None:
    """Re-read the shipment a webhook named, through the API, and detect it like a polled one.

    The payload carried only identities (``web/deposco_webhooks.py``); everything acted on comes from Deposco's
    API. A shipment Deposco does not know (yet) is left to the poll.
    """
    deposco = ctx.services.deposco(ctx.brand)
    shipment_id, number = str(ctx.payload.get("id") or ""), str(ctx.payload.get("number") or "")
    if shipment_id:
        try:
            shipment = await deposco.get_shipment(shipment_id, priority=SHIPMENT_PRIORITY)
        except Permanent:  # e.g. 404: an id from another business unit, or a made-up one
            shipment = None
    else:
        shipment = await deposco.find_shipment(number, priority=SHIPMENT_PRIORITY)
    if shipment is None:
        log.info("webhook hint names no shipment Deposco has", brand=ctx.brand, id=shipment_id, number=number)
        return
    async with ctx.transaction() as conn:
        await detect(conn, ctx.services, ctx.brand, shipment)


# --- confirmation in Centra -----------------------------------------------------------------------------


async def confirm(ctx: JobContext) -> None:
    """Bring the Centra shipment for one Deposco shipment to captured, resuming at the first missing step; the
    completion itself is ``shipments.complete``, in the pool's lane."""
    runtime, brand = ctx.services, ctx.brand
    async with runtime.engine.connect() as conn:
        record = await store.get(conn, int(ctx.payload["shipment"]))
    if record is None or (record.state == store.FAILED and not (ctx.payload.get("retry") and record.lines)):
        return  # failed: an exception is open for a person; ``lockstep shipments retry`` starts it again
    if record.state == store.COMPLETED:
        await _send_late_tracking(ctx, record)
        return
    if record.state == store.CAPTURED:  # e.g. more tracking arrived before the completion: it rides along
        async with ctx.transaction() as conn:
            await _enqueue_complete(conn, record)
        return
    centra = runtime.centra(brand)
    spent, values = 0, {}  # steps taken since the last commit: written together with the next one
    try:
        found = await _locate(runtime, record)
        if found is None:
            found = await _create(runtime, record)
            spent += 1
            values.update(centra_id=found.shipment_id, centra_number=found.number, state=store.CREATED)
        if _needs_tag(runtime, record, found):
            found = (await centra.update_shipment(found.shipment_id, external_id=record.deposco_number)).value
            spent += 1
        if found.tag == record.deposco_number and record.tagged_at is None:
            values["tagged_at"] = utcnow()
        if not found.is_shipped and not (found.is_captured or found.is_paid):
            await _step(runtime, record.id, mutations=spent, **values)
            spent, values = 0, {}
            capture = await _capture(runtime, record, found)
            if capture.value.pending:
                await _capture_later(ctx, record)
                return
            found = capture.value.shipment
    except _CaptureFailed as failure:
        await _fail(ctx, record, "capture_failed", failure.message, failure.evidence)
        return
    except Permanent as error:
        await _step(runtime, record.id, mutations=spent, **values)
        await _fail(ctx, record, "shipment_rejected", f"Centra refused: {error}", {"error": str(error)})
        return
    except Exception:
        if spent:  # e.g. a timeout after the create: keep what is known for the retry (it also finds it anyway)
            with contextlib.suppress(Exception):
                await _step(runtime, record.id, mutations=spent, **values)
        raise
    if found.is_shipped:  # completed by an attempt whose record was lost: only the bookkeeping is left, and it
        # touches the pool's stock figures, so it too happens in the pool's lane
        async with ctx.transaction() as conn:
            await store.update_step(conn, record.id, mutations=spent, **{**values, "state": store.CAPTURED})
            await _enqueue_complete(conn, record, already_shipped=True)
        return
    # Created, tagged and captured in the normal case with one commit: it also decides who carries the order's
    # shipping cost and queues the completion in the pool's lane.
    async with ctx.transaction() as conn:
        values.update(state=store.CAPTURED, captured_at=utcnow(), last_error=None, next_capture_at=None)
        await store.update_step(conn, record.id, mutations=spent, **values)
        await _decide_shipping_cost(conn, record)
        await _enqueue_complete(conn, record)


async def complete(ctx: JobContext) -> None:
    """``completeShipment`` for a captured shipment: carrier, service, tracking, packages, shipped-at, the
    shipping cost if it is the order's first, and ``sendEmail``.

    Runs in the lane of the shipment's stock pool: Centra's stock drops with the completion, so it must not
    land between computing and publishing that pool's stock (DESIGN §4). Only this step is serialised there;
    creating, tagging and capturing touch no stock. A completion whose answer was lost is recognised on the
    retry: Centra refuses a second completion, and the shipment it refused is then found already shipped.
    """
    runtime, brand = ctx.services, ctx.brand
    async with runtime.engine.connect() as conn:
        record = await store.get(conn, int(ctx.payload["shipment"]))
    if record is None or record.state != store.CAPTURED or record.centra_id is None:
        return
    if ctx.payload.get("already_shipped"):
        await _finish(ctx, record)
        return
    async with runtime.engine.connect() as conn:
        order = await order_store.get(conn, brand, record.order_number)
    currency = from_snapshot(order.snapshot).currency if order else ""
    cost = record.shipping_cost
    if cost is None:  # captured before the cost was decided at capture time
        async with runtime.engine.begin() as conn:
            cost = await _decide_shipping_cost(conn, record)
    centra = runtime.centra(brand)
    try:
        with patience(COMPLETE_PATIENCE_S):  # in the pool's lane: don't keep the stock publish out while asleep
            await centra.complete_shipment(
                record.centra_id,
                _dispatch(record),
                send_email=runtime.brands[brand].shipments.send_email,
                shipping_cost=cost or None,
                currency=currency,
                priority=COMPLETE_PRIORITY,
            )
    except BudgetBusy:
        # Nothing was sent. Give the lane back (a publish waiting for it goes first) and come again.
        async with ctx.transaction() as conn:
            await _enqueue_complete(conn, record, delay_s=COMPLETE_AGAIN_S)
        return
    except Permanent as error:
        found, _ = await centra.find_tagged_shipment(
            record.order_number, record.deposco_number, priority=SHIPMENT_PRIORITY
        )
        if found is None or not found.is_shipped:
            await _fail(ctx, record, "shipment_rejected", f"Centra refused: {error}", {"error": str(error)})
            return
        await _finish(ctx, record)  # our earlier completion, whose answer was lost
        return
    await _finish(ctx, record, mutations=1)


async def _finish(ctx: JobContext, record: store.ShipmentRecord, *, mutations: int = 0) -> None:
    """Completed in Centra: record it, clear its exceptions, move the order on, pass on tracking that arrived
    meanwhile — one commit, together with the job's completion."""
    brand = ctx.brand
    async with ctx.transaction() as conn:
        current = await store.get(conn, record.id)
        await store.update_step(
            conn,
            record.id,
            mutations=mutations,
            state=store.COMPLETED,
            completed_at=utcnow(),
            last_error=None,
            next_capture_at=None,
            centra_tracking=list(record.tracking),
        )
        if current is not None and current.state != store.COMPLETED:
            # Centra lowered its physical stock by these units: what Lockstep believes it holds follows in the
            # same commit, so the next publish sends nothing for an unchanged figure (docs/stock-model.md).
            shipped = await stock_store.shipped_units_by_sku(
                conn, brand, record.order_number, record.facility, record.pool, record.lines
            )
            await stock_store.centra_completed_shipment(conn, brand, record.pool, shipped)
        for kind in ("shipment_unconfirmed", "shipment_rejected", "capture_failed"):
            await exc_store.auto_resolve(conn, brand=brand, kind=kind, dedupe_key=record.deposco_number)
        await _order_progress(conn, brand, record.order_number)
        if current is not None and late_tracking(record.tracking, current.tracking):
            await _enqueue_confirm(conn, brand, record.id)


async def _enqueue_complete(
    conn: AsyncConnection, record: store.ShipmentRecord, *, already_shipped: bool = False, delay_s: float = 0.0
) -> None:
    await enqueue(
        conn,
        brand=record.brand,
        task=COMPLETE,
        payload={"shipment": record.id, **({"already_shipped": True} if already_shipped else {})},
        dedupe_key=f"complete:{record.id}",
        lane=f"pool:{record.pool}",
        priority=CONFIRM_PRIORITY + 1,  # finishing a started shipment first: the customer waits on it
        delay_s=delay_s,
    )


async def _order_progress(conn: AsyncConnection, brand: str, number: str) -> None:
    """``partially_shipped`` / ``shipped`` from Centra's open quantities (cancelled units excluded)."""
    order = await order_store.get(conn, brand, number)
    if order is None:
        return
    lines = {line.line_id: max(line.quantity, 0) for line in from_snapshot(order.snapshot).lines}
    shipped = await store.shipped_per_line(conn, brand, number)
    state = order_progress(lines, shipped, await store.all_completed(conn, brand, number))
    if state is not None:
        await order_store.set_shipping_progress(conn, brand, number, state)


async def _decide_shipping_cost(conn: AsyncConnection, record: store.ShipmentRecord) -> float:
    """The shipping cost this shipment carries: the order's if it is the first of the order to take it, else 0."""
    order = await order_store.get(conn, record.brand, record.order_number)
    cost = float(from_snapshot(order.snapshot).shipping_cost or 0) if order else 0.0
    return await store.take_shipping_cost(conn, record.id, record.brand, record.order_number, cost)


async def _capture_later(ctx: JobContext, record: store.ShipmentRecord) -> None:
    """The provider has not settled the capture: ask again later (completing needs a paid shipment).

    The customer is not e-mailed meanwhile; ``shipment_unconfirmed`` keeps the wait visible with its age.
    """
    attempts = record.capture_attempts + 1
    when = utcnow() + capture_retry_delay(attempts)
    async with ctx.transaction() as conn:
        await store.update_step(
            conn,
            record.id,
            state=store.CAPTURE_PENDING,
            capture_attempts=attempts,
            next_capture_at=when,
            last_error="capture pending at the payment provider",
        )
        await _enqueue_confirm(conn, ctx.brand, record.id, run_at=when)


async def _send_late_tracking(ctx: JobContext, record: store.ShipmentRecord) -> None:
    """Tracking numbers Deposco reported after the completion, sent once with one ``updateShipment``.

    Centra freezes a shipped shipment's ``shipmentInfo``; the numbers go into its message (connector rule). The
    numbers sent are recorded in the same commit as the job's completion; a crash in between re-sends the
    same message, which changes nothing in Centra.
    """
    new = late_tracking(record.centra_tracking, record.tracking)
    if not new or record.centra_id is None:
        return
    first_sent = (record.centra_tracking or [""])[0]
    message = centra_rules.late_tracking_message(first_sent, record.tracking, record.deposco_number)
    try:
        await ctx.services.centra(ctx.brand).update_shipment(
            record.centra_id, additional_message=message, priority=SHIPMENT_PRIORITY
        )
    except Permanent as error:
        await _raise_in(ctx, record, "shipment_rejected", f"Centra refused the late tracking: {error}", new)
        return
    async with ctx.transaction() as conn:
        await store.update_step(conn, record.id, mutations=1, centra_tracking=list(record.tracking))


async def _raise_in(ctx: JobContext, record: store.ShipmentRecord, kind: str, message: str, tracking) -> None:
    async with ctx.transaction() as conn:
        await _raise(
            conn,
            ctx.services,
            ctx.brand,
            kind,
            record.deposco_number,
            f"shipment {record.deposco_number} of order {record.order_number}: {message}",
            {"deposco_shipment": record.deposco_number, "order": record.order_number, "tracking": list(tracking)},
            record.order_number,
        )


async def _capture(runtime: Any, record: store.ShipmentRecord, found: CentraShipment) -> Any:
    """``captureShipment`` for a shipment the create did not capture; a decline is finance's, not a retry's."""
    try:
        return await runtime.centra(record.brand).capture_shipment(found.shipment_id, priority=SHIPMENT_PRIORITY)
    except Permanent as error:
        raise _CaptureFailed(
            "payment capture failed: the goods are gone but the payment was not taken; not completed, no e-mail",
            {"centra_shipment": found.number, "error": str(error)},
        ) from error
    finally:
        await _step(runtime, record.id, mutations=1)


class _CaptureFailed(Exception):
    def __init__(self, message: str, evidence: dict[str, Any]):
        super().__init__(message)
        self.message, self.evidence = message, evidence


def _needs_tag(runtime: Any, record: store.ShipmentRecord, found: CentraShipment) -> bool:
    """Whether the Centra shipment needs ``updateShipment(externalId)``: one that names no warehouse shipment
    (made untagged, e.g. by an older Lockstep), or any, if the brand wants externalIds (a third mutation)."""
    if found.is_shipped:
        return False  # frozen once shipped; found again by its id or lines
    wants_external_id = runtime.brands[record.brand].shipments.tag_external_id
    return not found.tag or (wants_external_id and found.external_id != record.deposco_number)


async def _locate(runtime: Any, record: store.ShipmentRecord) -> CentraShipment | None:
    """The Centra shipment already made for this Deposco shipment, if any.

    By its tag among the order's shipments, always — even on a first attempt, a query (no mutation) that still
    holds if the local record was lost (DESIGN §3.3: checked before creating). The create carries the tag, so
    only an attempt whose create may have reached Centra without it (a shipment made by an older version, or
    edited by a person) needs more: the shipment whose id was recorded, else an untagged shipment with exactly
    our lines that no other Deposco shipment claims.
    """
    centra = runtime.centra(record.brand)
    found, candidates = await centra.find_tagged_shipment(
        record.order_number, record.deposco_number, priority=SHIPMENT_PRIORITY
    )
    if found is None and (record.create_attempted_at is not None or record.centra_id is not None):
        async with runtime.engine.connect() as conn:
            claimed = await store.claimed_centra_ids(conn, record.brand, record.order_number, but=record.id)
        wanted = tuple(sorted((int(a), int(b)) for a, b in record.lines))
        found = next((c for c in candidates if record.centra_id and c.shipment_id == record.centra_id), None)
        found = found or next(
            (c for c in candidates if not c.tag and c.shipment_id not in claimed and tuple(sorted(c.lines)) == wanted),
            None,
        )
    if found is not None and found.shipment_id != record.centra_id:
        await _step(
            runtime,
            record.id,
            centra_id=found.shipment_id,
            centra_number=found.number,
            state=store.CREATED if record.state == store.DETECTED else record.state,
        )
    return found


async def _create(runtime: Any, record: store.ShipmentRecord) -> CentraShipment:
    """``createShipment`` with capture; the attempt is durable before the call (see :func:`_locate`). The
    new shipment's id is recorded with the next commit; a crash before it is what :func:`_locate` recovers."""
    await _step(runtime, record.id, create_attempted_at=utcnow())
    lines = [(int(line_id), int(units)) for line_id, units in record.lines]
    result = await runtime.centra(record.brand).create_shipment(
        record.order_number, lines, capture=True, tag=record.deposco_number, priority=SHIPMENT_PRIORITY
    )
    return result.value


async def _step(runtime: Any, shipment_id: int, *, mutations: int = 0, **values: Any) -> None:
    async with runtime.engine.begin() as conn:
        await store.update_step(conn, shipment_id, mutations=mutations, **values)


def _dispatch(record: store.ShipmentRecord) -> WarehouseShipment:
    """What the warehouse reported, rebuilt from the link row (the confirmation needs no Deposco call)."""
    return WarehouseShipment(
        shipment_id=record.deposco_id,
        number=record.deposco_number,
        sales_order_number=record.sales_order,
        facility=record.facility,
        carrier=record.carrier,
        service=record.service,
        tracking_numbers=tuple(record.tracking),
        packages=record.packages,
        shipped_at=shipped_at_for_centra(record.shipped_at, utcnow()),
    )


async def _fail(ctx: JobContext, record: store.ShipmentRecord, kind: str, message: str, evidence: dict) -> None:
    async with ctx.transaction() as conn:
        await store.update_step(conn, record.id, state=store.FAILED, last_error=message)
        await _raise(
            conn,
            ctx.services,
            ctx.brand,
            kind,
            record.deposco_number,
            f"shipment {record.deposco_number} of order {record.order_number}: {message}",
            {"deposco_shipment": record.deposco_number, "order": record.order_number, **evidence},
            record.order_number,
        )


async def _raise(
    conn: AsyncConnection,
    runtime: Any,
    brand: str,
    kind: str,
    key: str,
    summary: str,
    evidence: dict,
    order_number: str,
) -> None:
    await exc_store.raise_kind(
        conn,
        brand=brand,
        kind=kind,
        dedupe_key=key,
        owner_team=runtime.brands[brand].owner_for(kind),
        summary=summary,
        evidence=evidence,
        entity_type="order",
        entity_id=order_number,
    )


# --- manual retry ---------------------------------------------------------------------------------------


class NotRetryable(Exception):
    """The shipment cannot be confirmed by trying again; the message says what a person must do instead."""


async def retry(conn: AsyncConnection, record: store.ShipmentRecord) -> None:
    """Start the confirmation again (after finance or ops fixed the cause), in the caller's transaction.

    A completed shipment has nothing to retry; one that never mapped onto its order (over-shipment, unknown
    lines) would only be refused again.
    """
    if record.state == store.COMPLETED:
        raise NotRetryable(f"shipment {record.deposco_number} is already completed in Centra")
    if not record.lines:
        raise NotRetryable(
            f"shipment {record.deposco_number} does not fit order {record.order_number}: "
            "correct it in Deposco or Centra; a retry would be refused again"
        )
    await _enqueue_confirm(conn, record.brand, record.id, retry=True)


# --- monitoring -----------------------------------------------------------------------------------------


def age_seconds(record: store.ShipmentRecord, now: datetime) -> float:
    """How long the customer has been waiting for the confirmation: from Deposco's ship time if known."""
    return (now - (record.shipped_at or record.detected_at)).total_seconds()


async def monitor(ctx: JobContext) -> None:
    """``shipment_unconfirmed`` per shipment past the brand's threshold (age refreshed on every run)."""
    topology = ctx.services.brands[ctx.brand]
    limit = topology.thresholds.shipment_unconfirmed_minutes * 60
    now = utcnow()
    async with ctx.transaction() as conn:
        waiting = await store.unconfirmed(conn, ctx.brand, limit=100_000)
        late = {r.deposco_number: r for r in waiting if age_seconds(r, now) >= limit}
        for key in await exc_store.active_keys(conn, brand=ctx.brand, kind="shipment_unconfirmed"):
            if key not in late:
                await exc_store.auto_resolve(conn, brand=ctx.brand, kind="shipment_unconfirmed", dedupe_key=key)
        for number, record in late.items():
            age = age_seconds(record, now)
            await _raise(
                conn,
                ctx.services,
                ctx.brand,
                "shipment_unconfirmed",
                number,
                f"shipment {number} of order {record.order_number} shipped {int(age // 60)} min ago, "
                f"not completed in Centra",
                {
                    "deposco_shipment": number,
                    "order": record.order_number,
                    "state": record.state,
                    "age_minutes": int(age // 60),
                    "shipped_at": (record.shipped_at or record.detected_at).isoformat(),
                    "last_error": record.last_error,
                },
                record.order_number,
            )


def register(registry: TaskRegistry) -> None:
    registry.register(POLL, poll)
    registry.register(CONFIRM, confirm, max_calls=CONFIRM_CALLS)
    registry.register(COMPLETE, complete)
    registry.register(HINT, hint)
    registry.register(MONITOR, monitor)
