"""The shipment flow: Deposco shipments -> completed Centra shipments, exactly once, with tracking.

Tasks (all per brand):

- ``shipments.poll`` (scheduled, every minute): reads Deposco outbound shipments changed since the cursor minus
  an overlap. A newly seen shipped shipment of one of Lockstep's sales orders is mapped onto its Centra order
  lines (``domain/shipments.py``), its units move from "held open by Deposco" to "shipped" in ``order_units``,
  and a ``shipments.confirm`` job is enqueued in the lane of the stock pool — all in one commit with the cursor,
  so a crash re-reads, never skips, and the unique row per Deposco shipment makes the re-read harmless.
- ``shipments.confirm`` {shipment}: look in Centra for a shipment tagged with the Deposco shipment number, else
  create it (with capture), tag it, capture if the create did not, complete it with carrier, tracking and
  shipped-at. Each step is committed as it happens (``store/shipments.py``), so a retry resumes where the last
  attempt stopped and never creates a second Centra shipment. It runs in the pool's lane because a completion
  landing between computing and publishing that pool's stock would re-inflate it (DESIGN §4).
- ``monitor.shipments``: ``shipment_unconfirmed`` per shipment not completed in Centra within the brand's
  threshold, with its age; resolved automatically once it is completed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep.clock import utcnow
from lockstep.connectors.budget import Priority
from lockstep.connectors.deposco import translate as deposco_rules
from lockstep.connectors.errors import Permanent
from lockstep.domain.model import CentraShipment, WarehouseShipment
from lockstep.domain.shipments import OpenUnits, map_shipment, problem_evidence, shipped_at_for_centra
from lockstep.queue import JobContext, TaskRegistry, enqueue
from lockstep.store import cursors
from lockstep.store import exceptions as exc_store
from lockstep.store import orders as order_store
from lockstep.store import shipments as store

log = structlog.get_logger("lockstep.shipments")

POLL, CONFIRM, MONITOR = "shipments.poll", "shipments.confirm", "monitor.shipments"
POLL_CURSOR = "shipments.deposco_updated_after"
CONFIRM_PRIORITY = 7  # a waiting customer and an open order-to-cash cycle: ahead of routine work


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
    async for shipment in ctx.services.deposco(ctx.brand).iter_shipments(since, priority=Priority.HIGH):
        seen.append(shipment)
    # Timestamps are not unique: a fixed order (time, then id) makes the outcome independent of page order.
    seen.sort(key=lambda s: (s.updated_at or since, s.shipment_id))
    async with ctx.transaction() as conn:
        newest = datetime.fromisoformat(cursor) if cursor else since
        for shipment in seen:
            await detect(conn, ctx.services, ctx.brand, shipment)
            if shipment.updated_at is not None and shipment.updated_at > newest:
                newest = shipment.updated_at
        await cursors.write(conn, brand=ctx.brand, name=POLL_CURSOR, value=newest.isoformat())


async def detect(conn: AsyncConnection, runtime: Any, brand: str, shipment: WarehouseShipment) -> int | None:
    """Act on one Deposco shipment in the caller's transaction; the new link row's id, if it is new and ours.

    Not ours (another channel's order) or not shipped (zero units: a voided label) is ignored. A shipment of a
    Centra-numbered order Lockstep never exported, or one that does not fit the order, is raised, not dropped.
    """
    if not deposco_rules.is_shipped(shipment):
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
    if shipment_id is None:
        return None  # already known (overlapping windows, repeated polls)
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
    await enqueue(
        conn,
        brand=brand,
        task=CONFIRM,
        payload={"shipment": shipment_id},
        dedupe_key=f"confirm:{shipment_id}",
        lane=f"pool:{mapping.pool}",
        priority=CONFIRM_PRIORITY,
    )
    return shipment_id


# --- confirmation in Centra -----------------------------------------------------------------------------


async def confirm(ctx: JobContext) -> None:
    """Bring the Centra shipment for one Deposco shipment to completed, resuming at the first missing step."""
    runtime, brand = ctx.services, ctx.brand
    async with runtime.engine.connect() as conn:
        record = await store.get(conn, int(ctx.payload["shipment"]))
    if record is None or record.state in (store.COMPLETED,):
        return
    centra = runtime.centra(brand)
    settings = runtime.brands[brand].shipments
    try:
        found = await _locate(runtime, record)
        if found is None:
            found = await _create(runtime, record)
        if not found.external_id:
            result = await centra.update_shipment(found.shipment_id, external_id=record.deposco_number)
            found = result.value
            await _step(runtime, record.id, mutations=1, tagged_at=utcnow())
        if not found.is_shipped and not (found.is_captured or found.is_paid):
            capture = await _capture(runtime, record, found)
            if capture.value.pending:
                # Adyen/Klarna settle days later; completing needs a paid shipment. The monitor keeps it visible.
                await _step(runtime, record.id, last_error="capture pending at the payment provider")
                return
            found = capture.value.shipment
        await _step(runtime, record.id, state=store.CAPTURED, captured_at=utcnow(), last_error=None)
        if not found.is_shipped:
            await centra.complete_shipment(
                found.shipment_id, _dispatch(record), send_email=settings.send_email, priority=Priority.HIGH
            )
            await _step(runtime, record.id, mutations=1)
    except _CaptureFailed as failure:
        await _fail(ctx, record, "capture_failed", failure.message, failure.evidence)
        return
    except Permanent as error:
        await _fail(ctx, record, "shipment_rejected", f"Centra refused: {error}", {"error": str(error)})
        return
    async with ctx.transaction() as conn:
        await store.update_step(conn, record.id, state=store.COMPLETED, completed_at=utcnow(), last_error=None)
        for kind in ("shipment_unconfirmed", "shipment_rejected", "capture_failed"):
            await exc_store.auto_resolve(conn, brand=brand, kind=kind, dedupe_key=record.deposco_number)
        if await store.fully_shipped(conn, brand, record.order_number):
            await order_store.set_state(conn, brand, record.order_number, order_store.SHIPPED)


async def _capture(runtime: Any, record: store.ShipmentRecord, found: CentraShipment) -> Any:
    """``captureShipment`` for a shipment the create did not capture; a decline is finance's, not a retry's."""
    try:
        return await runtime.centra(record.brand).capture_shipment(found.shipment_id, priority=Priority.HIGH)
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


async def _locate(runtime: Any, record: store.ShipmentRecord) -> CentraShipment | None:
    """The Centra shipment already made for this Deposco shipment, if any.

    By externalId first. An attempt recorded without a Centra id may have created one that was never tagged (a
    crash between create and tag): an untagged shipment of the order with exactly our lines, not claimed by
    another Deposco shipment, is that one.
    """
    centra = runtime.centra(record.brand)
    found = await centra.find_shipment(record.deposco_number, priority=Priority.HIGH)
    if found is None and record.create_attempted_at is not None:
        async with runtime.engine.connect() as conn:
            claimed = await store.claimed_centra_ids(conn, record.brand, record.order_number)
        wanted = tuple(sorted((int(a), int(b)) for a, b in record.lines))
        for candidate in await centra.order_shipments(record.order_number, priority=Priority.HIGH):
            if (
                not candidate.external_id
                and candidate.shipment_id not in claimed
                and tuple(sorted(candidate.lines)) == wanted
            ):
                found = candidate
                break
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
    """``createShipment`` with capture; the attempt is durable before the call (see :func:`_locate`)."""
    await _step(runtime, record.id, create_attempted_at=utcnow())
    lines = [(int(line_id), int(units)) for line_id, units in record.lines]
    result = await runtime.centra(record.brand).create_shipment(
        record.order_number, lines, capture=True, priority=Priority.HIGH
    )
    created = result.value
    await _step(
        runtime,
        record.id,
        mutations=1,
        centra_id=created.shipment_id,
        centra_number=created.number,
        state=store.CREATED,
    )
    return created


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
    registry.register(CONFIRM, confirm)
    registry.register(MONITOR, monitor)
