"""The shipment link: each Deposco shipment Lockstep acts on, and how far its Centra shipment has come.

One row per (brand, Deposco shipment id). The row is the job's memory across crashes: ``create_attempted_at``
is written *before* ``createShipment`` (an attempt without a Centra id means the outcome is unknown: look in
Centra before creating again), ``centra_id`` straight after it, ``tagged_at`` once the Centra shipment carries
the Deposco number as its externalId, then ``captured_at`` and ``completed_at``. Each step is committed on its
own, so a retry resumes at the first step not yet recorded.

``lines`` are the Centra (order line id, units) pairs the shipment maps to; with ``state != completed`` they are
the stock equation's "units Deposco shipped whose Centra shipment is not yet completed" (DESIGN §4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep.store.db import insert_for
from lockstep.store.tables import Id, UTCDateTime, metadata

DETECTED, CREATED, CAPTURED, COMPLETED, FAILED = "detected", "created", "captured", "completed", "failed"
CAPTURE_PENDING = "capture_pending"  # created, capture asked for, the payment provider has not settled it yet
SHIPMENT_STATES = (DETECTED, CREATED, CAPTURE_PENDING, CAPTURED, COMPLETED, FAILED)

shipments = Table(
    "shipments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("brand", String(64), nullable=False),
    Column("deposco_id", String(64), nullable=False),
    Column("deposco_number", String(64), nullable=False),
    Column("sales_order", String(64), nullable=False),
    Column("order_number", String(64), nullable=False),
    Column("facility", String(64), nullable=False),
    Column("pool", String(64), nullable=False),
    Column("state", String(32), nullable=False),
    Column("lines", JSON, nullable=False),
    Column("carrier", String(128), nullable=False),
    Column("service", String(128), nullable=False),
    Column("tracking", JSON, nullable=False),
    Column("packages", Integer, nullable=False),
    Column("centra_id", Integer),
    Column("centra_number", String(64)),
    Column("mutations", Integer, nullable=False),
    Column("shipped_at", UTCDateTime()),
    Column("detected_at", UTCDateTime(), nullable=False),
    Column("create_attempted_at", UTCDateTime()),
    Column("tagged_at", UTCDateTime()),
    Column("captured_at", UTCDateTime()),
    Column("completed_at", UTCDateTime()),
    Column("last_error", Text),
    Column("centra_tracking", JSON),  # tracking numbers the Centra shipment carries (None: not completed yet)
    Column("shipping_cost", Float),  # the order's shipping cost on its first shipment, 0 on the others
    Column("capture_attempts", Integer, nullable=False, server_default="0"),
    Column("next_capture_at", UTCDateTime()),  # when a capture left pending by the provider is asked again
    UniqueConstraint("brand", "deposco_id", name="uq_shipments_deposco"),
    Index("ix_shipments_brand_state", "brand", "state"),
    Index("ix_shipments_order", "brand", "order_number"),
)


@dataclass(frozen=True)
class ShipmentRecord:
    id: int
    brand: str
    deposco_id: str
    deposco_number: str
    sales_order: str
    order_number: str
    facility: str
    pool: str
    state: str
    lines: list[list[int]]
    carrier: str
    service: str
    tracking: list[str]
    packages: int
    centra_id: int | None
    centra_number: str | None
    mutations: int
    shipped_at: datetime | None
    detected_at: datetime
    create_attempted_at: datetime | None
    tagged_at: datetime | None
    captured_at: datetime | None
    completed_at: datetime | None
    last_error: str | None
    centra_tracking: list[str] | None
    shipping_cost: float | None
    capture_attempts: int
    next_capture_at: datetime | None

    @classmethod
    def from_row(cls, row) -> ShipmentRecord:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


async def insert_new(conn: AsyncConnection, **values: Any) -> int | None:
    """Record a newly seen shipment; the new row's id, or None when it was already known (overlapping polls)."""
    stmt = (
        insert_for(conn)(shipments)
        .values(mutations=0, **values)
        .on_conflict_do_nothing(index_elements=["brand", "deposco_id"])
        .returning(shipments.c.id)
    )
    return await conn.scalar(stmt)


async def get(conn: AsyncConnection, shipment_id: int) -> ShipmentRecord | None:
    row = (await conn.execute(select(shipments).where(shipments.c.id == shipment_id))).first()
    return ShipmentRecord.from_row(row) if row else None


async def by_deposco_number(conn: AsyncConnection, brand: str, number: str) -> ShipmentRecord | None:
    row = (
        await conn.execute(
            select(shipments).where(shipments.c.brand == brand, shipments.c.deposco_number == number).limit(1)
        )
    ).first()
    return ShipmentRecord.from_row(row) if row else None


async def by_deposco_id(conn: AsyncConnection, brand: str, deposco_id: str) -> ShipmentRecord | None:
    row = (
        await conn.execute(select(shipments).where(shipments.c.brand == brand, shipments.c.deposco_id == deposco_id))
    ).first()
    return ShipmentRecord.from_row(row) if row else None


async def by_deposco_ids(conn: AsyncConnection, brand: str, ids: list[str]) -> dict[str, ShipmentRecord]:
    """The known shipments among ``ids`` (a poll page), by Deposco id, in a few queries rather than one each."""
    found: dict[str, ShipmentRecord] = {}
    for start in range(0, len(ids), 500):
        rows = await conn.execute(
            select(shipments).where(shipments.c.brand == brand, shipments.c.deposco_id.in_(ids[start : start + 500]))
        )
        found.update({r.deposco_id: ShipmentRecord.from_row(r) for r in rows})
    return found


async def find(conn: AsyncConnection, ref: str, brand: str | None = None) -> ShipmentRecord | None:
    """A shipment by Lockstep id, else Deposco shipment number, else Deposco id (what an operator has at hand)."""
    keys = [shipments.c.deposco_number == ref, shipments.c.deposco_id == ref]
    if ref.isdigit():
        keys.insert(0, shipments.c.id == int(ref))
    for key in keys:
        stmt = select(shipments).where(key)
        if brand:
            stmt = stmt.where(shipments.c.brand == brand)
        row = (await conn.execute(stmt.order_by(shipments.c.id).limit(1))).first()
        if row is not None:
            return ShipmentRecord.from_row(row)
    return None


async def update_step(conn: AsyncConnection, shipment_id: int, *, mutations: int = 0, **values: Any) -> None:
    """Record a step (and the Centra mutations it cost) in its own small transaction's ``conn``."""
    if not values and not mutations:
        return
    stmt = update(shipments).where(shipments.c.id == shipment_id).values(**values)
    if mutations:
        stmt = stmt.values(mutations=shipments.c.mutations + mutations)
    await conn.execute(stmt)


async def of_order(conn: AsyncConnection, brand: str, order_number: str) -> list[ShipmentRecord]:
    rows = await conn.execute(
        select(shipments)
        .where(shipments.c.brand == brand, shipments.c.order_number == order_number)
        .order_by(shipments.c.id)
    )
    return [ShipmentRecord.from_row(r) for r in rows]


async def of_brand(conn: AsyncConnection, brand: str, *, limit: int = 1000) -> list[ShipmentRecord]:
    rows = await conn.execute(select(shipments).where(shipments.c.brand == brand).order_by(shipments.c.id).limit(limit))
    return [ShipmentRecord.from_row(r) for r in rows]


async def claimed_centra_ids(conn: AsyncConnection, brand: str, order_number: str, *, but: int = 0) -> set[int]:
    """Centra shipments of the order already linked to a Deposco shipment (other than the row ``but``)."""
    return {s.centra_id for s in await of_order(conn, brand, order_number) if s.centra_id is not None and s.id != but}


async def take_shipping_cost(
    conn: AsyncConnection, shipment_id: int, brand: str, order_number: str, cost: float
) -> float:
    """Give the order's shipping cost to this shipment if no other shipment of the order has it; what it bears.

    Split shipments must charge shipping once (the PSP will not capture more than was authorised). The order's
    row is locked first (PostgreSQL; SQLite transactions are serialised anyway), so two shipments of one order
    confirmed in parallel lanes cannot both take it. Decided once: a retry keeps what was decided.
    """
    from lockstep.store.orders import orders

    await conn.execute(
        select(orders.c.number).where(orders.c.brand == brand, orders.c.number == order_number).with_for_update()
    )
    current = await conn.scalar(select(shipments.c.shipping_cost).where(shipments.c.id == shipment_id))
    if current is not None:
        return current
    taken = await conn.scalar(
        select(shipments.c.id).where(
            shipments.c.brand == brand,
            shipments.c.order_number == order_number,
            shipments.c.id != shipment_id,
            shipments.c.shipping_cost > 0,
        )
    )
    share = 0.0 if taken is not None else cost
    await conn.execute(update(shipments).where(shipments.c.id == shipment_id).values(shipping_cost=share))
    return share


async def unconfirmed(conn: AsyncConnection, brand: str | None = None, *, limit: int = 1000) -> list[ShipmentRecord]:
    """Shipments shipped by Deposco and not completed in Centra, oldest first."""
    stmt = select(shipments).where(shipments.c.state != COMPLETED)
    if brand:
        stmt = stmt.where(shipments.c.brand == brand)
    rows = await conn.execute(stmt.order_by(shipments.c.shipped_at, shipments.c.id).limit(limit))
    return [ShipmentRecord.from_row(r) for r in rows]


# --- the order's routed units ------------------------------------------------------------------------------


async def sales_order(conn: AsyncConnection, brand: str, number: str):
    """Lockstep's Deposco sales order with this number (what links a shipment to its Centra order), or None."""
    from lockstep.store.orders import SalesOrderRecord, sales_orders

    row = (
        await conn.execute(select(sales_orders).where(sales_orders.c.brand == brand, sales_orders.c.number == number))
    ).first()
    return SalesOrderRecord.from_row(row) if row else None


async def open_rows(conn: AsyncConnection, brand: str, order_number: str, facility: str) -> list:
    """The order's routed rows at ``facility`` with their unshipped units (what a shipment may consume)."""
    from lockstep.store.orders import order_units as u

    rows = await conn.execute(
        select(u.c.id, u.c.line_id, u.c.pool, (u.c.quantity - u.c.shipped).label("open")).where(
            u.c.brand == brand, u.c.order_number == order_number, u.c.facility == facility
        )
    )
    return list(rows)


async def consume(conn: AsyncConnection, row_id: int, units: int) -> bool:
    """Move ``units`` of a routed row to shipped, only if that many are still open (safe against a parallel
    poll that saw the same row); False when they are not."""
    from lockstep.store.orders import order_units as u

    result = await conn.execute(
        update(u).where(u.c.id == row_id, u.c.quantity - u.c.shipped >= units).values(shipped=u.c.shipped + units)
    )
    return result.rowcount == 1


async def shipped_per_line(conn: AsyncConnection, brand: str, order_number: str) -> dict[int, int]:
    """Units Deposco shipped per Centra order line, over every facility the line was routed to."""
    from lockstep.store.orders import order_units as u

    rows = await conn.execute(
        select(u.c.line_id, func.sum(u.c.shipped))
        .where(u.c.brand == brand, u.c.order_number == order_number)
        .group_by(u.c.line_id)
    )
    return {int(line): int(units or 0) for line, units in rows}


async def all_completed(conn: AsyncConnection, brand: str, order_number: str) -> bool:
    return all(s.state == COMPLETED for s in await of_order(conn, brand, order_number))
