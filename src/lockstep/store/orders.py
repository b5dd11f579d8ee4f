"""The order flow's records: each Centra order, how its units were routed, and the Deposco orders made for it.

Three tables, all keyed by brand:

- ``orders``: one row per Centra order Lockstep has seen, with its latest Centra snapshot, the flow state
  (``waiting`` for eligibility, ``quarantined`` with every reason, ``exporting``, ``exported``, ``cancelled``,
  ``shipped``) and when each state began — what the dashboard and the stuck-order monitor read.
- ``order_units``: the routing decision per (line, pool, facility) with ordered / cancelled / shipped units —
  what the stock equation reads as "units of Centra orders not yet in Deposco" and "units Deposco holds open".
- ``sales_orders``: one row per Deposco order (one per facility), with ``attempted_at`` written *before* the
  create call and ``confirmed_at`` after it succeeded. A row attempted but not confirmed means the outcome is
  uncertain: the retry looks the order up by number before creating (never a second order); an unattempted row
  is created directly (one request per order in the normal case).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    case,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep.clock import utcnow
from lockstep.store.db import insert_for
from lockstep.store.tables import Id, UTCDateTime, metadata

WAITING, QUARANTINED, EXPORTING, EXPORTED, CANCELLED, SHIPPED = (
    "waiting",
    "quarantined",
    "exporting",
    "exported",
    "cancelled",
    "shipped",
)
ORDER_STATES = (WAITING, QUARANTINED, EXPORTING, EXPORTED, CANCELLED, SHIPPED)

orders = Table(
    "orders",
    metadata,
    Column("brand", String(64), primary_key=True),
    Column("number", String(64), primary_key=True),
    Column("centra_id", String(128)),
    Column("centra_status", String(32), nullable=False),
    Column("state", String(32), nullable=False),
    Column("eligible", Boolean, nullable=False),
    Column("market", String(64)),
    Column("ship_country", String(2)),
    Column("snapshot", JSON, nullable=False),
    Column("causes", JSON, nullable=False),
    Column("notes", JSON, nullable=False),
    Column("centra_updated_at", UTCDateTime()),
    Column("detected_at", UTCDateTime(), nullable=False),
    Column("state_since", UTCDateTime(), nullable=False),
    Column("exported_at", UTCDateTime()),
)

order_units = Table(
    "order_units",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("brand", String(64), nullable=False),
    Column("order_number", String(64), nullable=False),
    Column("line_id", Integer, nullable=False),
    Column("sku", String(128), nullable=False),
    Column("pool", String(64), nullable=False),
    Column("facility", String(64), nullable=False),
    Column("sales_order", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("cancelled", Integer, nullable=False),
    Column("shipped", Integer, nullable=False),
    UniqueConstraint("brand", "order_number", "line_id", "pool", "facility", name="uq_order_units_line_route"),
    Index("ix_order_units_pool_sku", "brand", "pool", "sku"),
    Index("ix_order_units_sku", "brand", "sku"),  # every pool's units of some SKUs (routing, shared facilities)
)

sales_orders = Table(
    "sales_orders",
    metadata,
    Column("brand", String(64), primary_key=True),
    Column("number", String(64), primary_key=True),
    Column("order_number", String(64), nullable=False),
    Column("facility", String(64), nullable=False),
    Column("deposco_id", String(64)),
    Column("deposco_status", String(32)),
    Column("attempted_at", UTCDateTime()),
    Column("confirmed_at", UTCDateTime()),  # creation confirmed by Deposco (DESIGN §4: "held open" counts from here)
    Column("cancelled_at", UTCDateTime()),
    Column("last_error", Text),
)


@dataclass(frozen=True)
class OrderRecord:
    brand: str
    number: str
    centra_status: str
    state: str
    eligible: bool
    snapshot: dict[str, Any]
    causes: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    market: str | None
    ship_country: str | None
    centra_updated_at: datetime | None
    detected_at: datetime
    state_since: datetime
    exported_at: datetime | None

    @classmethod
    def from_row(cls, row) -> OrderRecord:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class SalesOrderRecord:
    brand: str
    number: str
    order_number: str
    facility: str
    deposco_id: str | None
    deposco_status: str | None
    attempted_at: datetime | None
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    last_error: str | None

    @classmethod
    def from_row(cls, row) -> SalesOrderRecord:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


async def get(conn: AsyncConnection, brand: str, number: str) -> OrderRecord | None:
    row = (await conn.execute(select(orders).where(orders.c.brand == brand, orders.c.number == number))).first()
    return OrderRecord.from_row(row) if row else None


async def lock_orders(conn: AsyncConnection, brand: str, numbers: Iterable[str]) -> None:
    """Hold these orders until the transaction ends, before reading them: two transactions applying the same
    order (a fetch batch and the re-fetch, or two fetch batches) then go one after the other, and the second
    sees the first's rows instead of inserting its routing again (on PostgreSQL that was a unique violation that
    rolled back and retried a whole batch of 50 orders during a sale). Taken in sorted order, so two batches
    never wait on each other in a cycle. SQLite runs one transaction at a time already: nothing to do."""
    if conn.dialect.name != "postgresql":
        return
    for number in sorted(set(numbers)):
        await conn.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"order:{brand}:{number}", 0))))


async def get_many(conn: AsyncConnection, brand: str, numbers: Iterable[str]) -> dict[str, OrderRecord]:
    wanted = list(numbers)
    rows = await conn.execute(select(orders).where(orders.c.brand == brand, orders.c.number.in_(wanted)))
    return {row.number: OrderRecord.from_row(row) for row in rows}


async def save(conn: AsyncConnection, **fields: Any) -> None:
    """Insert or update an order (``fields`` as :func:`order_row` takes them); ``state_since`` moves only when
    the state changes."""
    await save_many(conn, [order_row(**fields)])


def order_row(
    *,
    brand: str,
    number: str,
    centra_id: str,
    centra_status: str,
    state: str,
    eligible: bool,
    snapshot: dict[str, Any],
    causes: list[dict[str, Any]] | None = None,
    notes: list[dict[str, Any]] | None = None,
    market: str = "",
    ship_country: str = "",
    centra_updated_at: datetime | None = None,
) -> dict[str, Any]:
    """What :func:`save` writes (:func:`save_many` takes a list of these)."""
    now = utcnow()
    return {
        "brand": brand,
        "number": number,
        "centra_id": centra_id,
        "centra_status": centra_status,
        "state": state,
        "eligible": eligible,
        "snapshot": snapshot,
        "causes": causes or [],
        "notes": notes or [],
        "market": market or None,
        "ship_country": ship_country or None,
        "centra_updated_at": centra_updated_at,
        "detected_at": now,
        "state_since": now,
    }


_UPSERTS: dict[str, Any] = {}


async def save_many(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """:func:`save` for many orders in one statement (rows from :func:`order_row`)."""
    if not rows:
        return
    stmt = _UPSERTS.get(conn.dialect.name)
    if stmt is None:  # built once per dialect: constructing the ON CONFLICT clause costs more than running it
        stmt = insert_for(conn)(orders)
        stmt = _UPSERTS[conn.dialect.name] = stmt.on_conflict_do_update(
            index_elements=[orders.c.brand, orders.c.number],
            set_={
                "centra_id": stmt.excluded.centra_id,
                "centra_status": stmt.excluded.centra_status,
                "state": stmt.excluded.state,
                "eligible": stmt.excluded.eligible,
                "snapshot": stmt.excluded.snapshot,
                "causes": stmt.excluded.causes,
                "notes": stmt.excluded.notes,
                "market": stmt.excluded.market,
                "ship_country": stmt.excluded.ship_country,
                "centra_updated_at": stmt.excluded.centra_updated_at,
                "state_since": case(
                    (orders.c.state != stmt.excluded.state, stmt.excluded.state_since), else_=orders.c.state_since
                ),
            },
        )
    await conn.execute(stmt, rows)


async def set_state(conn: AsyncConnection, brand: str, number: str, state: str, **extra: Any) -> None:
    """``state_since`` moves only when the state changes (one statement: SET reads the row's old values)."""
    values: dict[str, Any] = {
        "state": state,
        **extra,
        "state_since": case((orders.c.state != state, utcnow()), else_=orders.c.state_since),
    }
    await conn.execute(update(orders).where(orders.c.brand == brand, orders.c.number == number).values(**values))


async def replace_units(conn: AsyncConnection, brand: str, number: str, units: Iterable[dict[str, Any]]) -> None:
    """Record a new routing decision of an order recorded before (before export). Shipped/cancelled counts of
    existing rows are kept. An order never recorded has no rows yet: :func:`insert_units` writes its rows."""
    rows = list(units)
    existing = {
        (r.line_id, r.pool, r.facility): r
        for r in await conn.execute(
            select(order_units).where(order_units.c.brand == brand, order_units.c.order_number == number)
        )
    }
    keep = {(u["line_id"], u["pool"], u["facility"]) for u in rows}
    stale = [r.id for key, r in existing.items() if key not in keep]
    if stale:
        await conn.execute(order_units.delete().where(order_units.c.id.in_(stale)))
    for unit in rows:
        key = (unit["line_id"], unit["pool"], unit["facility"])
        if key in existing:
            await conn.execute(
                update(order_units)
                .where(order_units.c.id == existing[key].id)
                .values(quantity=unit["quantity"], sku=unit["sku"], sales_order=unit["sales_order"])
            )
        else:
            await conn.execute(
                order_units.insert().values(brand=brand, order_number=number, cancelled=0, shipped=0, **unit)
            )


async def insert_units(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """The routed units of orders never recorded before (rows with brand, order_number, line_id, sku, pool,
    facility, quantity, sales_order), in one statement."""
    if rows:
        await conn.execute(order_units.insert(), [{"cancelled": 0, "shipped": 0, **row} for row in rows])


async def known_sales_orders(conn: AsyncConnection, brand: str, numbers: Iterable[str]) -> set[str]:
    """Which of these Deposco order numbers are Lockstep's own (Centra orders it exported or is exporting)."""
    numbers = sorted(set(numbers))
    found: set[str] = set()
    for start in range(0, len(numbers), 500):
        chunk = numbers[start : start + 500]
        rows = await conn.execute(
            select(sales_orders.c.number).where(sales_orders.c.brand == brand, sales_orders.c.number.in_(chunk))
        )
        found.update(r.number for r in rows)
    return found


async def ensure_sales_orders_many(conn: AsyncConnection, brand: str, by_order: dict[str, dict[str, str]]) -> None:
    """A row per Deposco order of each Centra order (order -> facility -> sales order number), kept if it exists;
    one statement."""
    rows = [
        {"brand": brand, "number": number, "order_number": order_number, "facility": facility}
        for order_number, by_facility in by_order.items()
        for facility, number in sorted(by_facility.items())
    ]
    if rows:
        await conn.execute(
            insert_for(conn)(sales_orders).values(rows).on_conflict_do_nothing(index_elements=["brand", "number"])
        )


async def record_sent_many(conn: AsyncConnection, brand: str, sent: dict[str, dict[int, int]]) -> set[str]:
    """Make the units of each sales order say what Deposco was actually sent (sales order -> line id -> units):
    one read, an UPDATE only for rows that differ.

    A Centra change can re-route an order while its export is in flight; the rows must then show what Deposco
    holds, so that the cancellation still to carry over is computed from it. Returns the sales orders whose rows
    differed."""
    if not sent:
        return set()
    rows = await conn.execute(
        select(order_units.c.id, order_units.c.sales_order, order_units.c.line_id, order_units.c.quantity).where(
            order_units.c.brand == brand, order_units.c.sales_order.in_(list(sent))
        )
    )
    changed: set[str] = set()
    for row in list(rows):
        quantity = sent[row.sales_order].get(row.line_id)
        if quantity is not None and quantity != row.quantity:
            await conn.execute(update(order_units).where(order_units.c.id == row.id).values(quantity=quantity))
            changed.add(row.sales_order)
    return changed


async def mark_confirmed_many(
    conn: AsyncConnection, brand: str, confirmed: list[tuple[str, str | None, str | None, datetime]]
) -> None:
    """Deposco confirmed these creates (number, Deposco id, status, when). A batch import names no id or status
    (``None``): what is stored stays, and an id is looked up when one is needed. ``confirmed_at`` is kept once
    set."""
    if not confirmed:
        return
    stmt = (
        update(sales_orders)
        .where(sales_orders.c.brand == bindparam("b_brand"), sales_orders.c.number == bindparam("b_number"))
        .values(
            deposco_id=func.coalesce(bindparam("b_id", type_=String(64)), sales_orders.c.deposco_id),
            deposco_status=func.coalesce(bindparam("b_status", type_=String(32)), sales_orders.c.deposco_status),
            confirmed_at=func.coalesce(sales_orders.c.confirmed_at, bindparam("b_at", type_=UTCDateTime())),
            last_error=None,
        )
    )
    await conn.execute(
        stmt,
        [
            {"b_brand": brand, "b_number": number, "b_id": found_id, "b_status": status, "b_at": at}
            for number, found_id, status, at in confirmed
        ],
    )


async def mark_exported_many(conn: AsyncConnection, brand: str, notes: dict[str, list[dict[str, Any]]]) -> None:
    """Several orders to ``exported`` with their notes, in one statement (``state_since`` moves on a change)."""
    if not notes:
        return
    now = utcnow()
    stmt = (
        update(orders)
        .where(orders.c.brand == bindparam("b_brand"), orders.c.number == bindparam("b_number"))
        .values(
            state=EXPORTED,
            exported_at=bindparam("b_at", type_=UTCDateTime()),
            notes=bindparam("b_notes", type_=JSON()),
            state_since=case(
                (orders.c.state != EXPORTED, bindparam("b_at", type_=UTCDateTime())), else_=orders.c.state_since
            ),
        )
    )
    await conn.execute(
        stmt, [{"b_brand": brand, "b_number": number, "b_at": now, "b_notes": n} for number, n in notes.items()]
    )


async def units(conn: AsyncConnection, brand: str, number: str) -> list:
    return list(
        await conn.execute(
            select(order_units)
            .where(order_units.c.brand == brand, order_units.c.order_number == number)
            .order_by(order_units.c.line_id, order_units.c.facility)
        )
    )


async def units_of_many(conn: AsyncConnection, brand: str, numbers: Iterable[str]) -> dict[str, list]:
    """:func:`units` for several orders in one query."""
    found: dict[str, list] = {}
    rows = await conn.execute(
        select(order_units)
        .where(order_units.c.brand == brand, order_units.c.order_number.in_(list(numbers)))
        .order_by(order_units.c.order_number, order_units.c.line_id, order_units.c.facility)
    )
    for row in rows:
        found.setdefault(row.order_number, []).append(row)
    return found


async def sales_orders_of_many(
    conn: AsyncConnection, brand: str, numbers: Iterable[str]
) -> dict[str, list[SalesOrderRecord]]:
    """:func:`sales_orders_of` for several orders in one query."""
    found: dict[str, list[SalesOrderRecord]] = {}
    rows = await conn.execute(
        select(sales_orders)
        .where(sales_orders.c.brand == brand, sales_orders.c.order_number.in_(list(numbers)))
        .order_by(sales_orders.c.number)
    )
    for row in rows:
        found.setdefault(row.order_number, []).append(SalesOrderRecord.from_row(row))
    return found


async def sales_orders_of(conn: AsyncConnection, brand: str, number: str) -> list[SalesOrderRecord]:
    rows = await conn.execute(
        select(sales_orders)
        .where(sales_orders.c.brand == brand, sales_orders.c.order_number == number)
        .order_by(sales_orders.c.number)
    )
    return [SalesOrderRecord.from_row(r) for r in rows]


async def mark_attempted(conn: AsyncConnection, brand: str, numbers: Iterable[str]) -> None:
    await conn.execute(
        update(sales_orders)
        .where(
            sales_orders.c.brand == brand,
            sales_orders.c.number.in_(list(numbers)),
            sales_orders.c.attempted_at.is_(None),
        )
        .values(attempted_at=utcnow())
    )


async def set_deposco_id(conn: AsyncConnection, brand: str, number: str, deposco_id: str) -> None:
    await conn.execute(
        update(sales_orders)
        .where(sales_orders.c.brand == brand, sales_orders.c.number == number)
        .values(deposco_id=deposco_id)
    )


async def mark_cancelled(conn: AsyncConnection, brand: str, number: str, *, deposco_status: str) -> None:
    await conn.execute(
        update(sales_orders)
        .where(sales_orders.c.brand == brand, sales_orders.c.number == number)
        .values(cancelled_at=utcnow(), deposco_status=deposco_status)
    )


async def in_state(conn: AsyncConnection, brand: str, states: Iterable[str], *, limit: int = 1000) -> list[OrderRecord]:
    rows = await conn.execute(
        select(orders)
        .where(orders.c.brand == brand, orders.c.state.in_(list(states)))
        .order_by(orders.c.state_since)
        .limit(limit)
    )
    return [OrderRecord.from_row(r) for r in rows]


async def counts_by_state(conn: AsyncConnection, brand: str | None = None) -> dict[str, int]:
    stmt = select(orders.c.state, func.count()).group_by(orders.c.state)
    if brand:
        stmt = stmt.where(orders.c.brand == brand)
    found = dict((await conn.execute(stmt)).all())
    return {state: found.get(state, 0) for state in ORDER_STATES}


# --- shipment progress (written by the shipment flow) ---------------------------------------------------------

PARTIALLY_SHIPPED = "partially_shipped"
ORDER_STATES = (*ORDER_STATES, PARTIALLY_SHIPPED)  # counted like the others (metrics, dashboard)
SHIPPING_FROM = (EXPORTED, PARTIALLY_SHIPPED)


async def set_shipping_progress(conn: AsyncConnection, brand: str, number: str, state: str) -> bool:
    """Move an exported order to ``partially_shipped`` or ``shipped``; False if it is in no state to move.

    Only from exported / partially shipped: an order still exporting (another facility's part in flight) or
    cancelled keeps its state, and the export flow's own transitions are never overwritten.
    """
    current = await conn.scalar(select(orders.c.state).where(orders.c.brand == brand, orders.c.number == number))
    if current not in SHIPPING_FROM or current == state:
        return False
    await set_state(conn, brand, number, state)
    return True
