"""The inventory flow's records: Deposco readings, what Centra holds, which (pool, SKU) must be recomputed, drift.

- ``stock_levels``: the latest Deposco reading per (facility, SKU): ATP, on hand, and ``as_of`` (when the request
  was sent). A reading older than the stored one is ignored, so out-of-order deliveries never move stock back.
- ``stock_published``: what Centra is believed to hold per (pool, SKU) — the last value Lockstep wrote, lowered
  by the units of every Centra shipment completed since (Centra decrements physical itself), with the terms
  that produced it. The publisher writes only values that differ from it.
- ``stock_dirty``: (pool, SKU) keys whose inputs changed since they were last published, with the earliest
  change (``since``: the sync lag the dashboard shows). The publisher removes a key only if it was not dirtied
  again while it was being published.
- ``stock_drift``: the current disagreement between the expected figure and Centra per (pool, SKU), from the
  last reconciliation, with the first time it was seen.

The in-flight terms of the stock equation are read here too, from the order and shipment records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Float, Index, Integer, String, Table, and_, delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep.domain.model import StockReading
from lockstep.domain.stock import InFlight, Reading
from lockstep.store.db import insert_for
from lockstep.store.tables import UTCDateTime, metadata

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("brand", String(64), primary_key=True),
    Column("facility", String(64), primary_key=True),
    Column("sku", String(128), primary_key=True),
    Column("atp", Integer, nullable=False),
    Column("on_hand", Integer, nullable=False),
    Column("as_of", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

stock_published = Table(
    "stock_published",
    metadata,
    Column("brand", String(64), primary_key=True),
    Column("pool", String(64), primary_key=True),
    Column("sku", String(128), primary_key=True),
    Column("quantity", Integer, nullable=False),
    Column("published_at", UTCDateTime(), nullable=False),
    Column("terms", JSON, nullable=False),
)

stock_dirty = Table(
    "stock_dirty",
    metadata,
    Column("brand", String(64), primary_key=True),
    Column("pool", String(64), primary_key=True),
    Column("sku", String(128), primary_key=True),
    Column("since", UTCDateTime(), nullable=False),
    Column("touched_at", UTCDateTime(), nullable=False),
    Column("reason", String(32), nullable=False),
    Index("ix_stock_dirty_since", "brand", "since"),
)

stock_drift = Table(
    "stock_drift",
    metadata,
    Column("brand", String(64), primary_key=True),
    Column("pool", String(64), primary_key=True),
    Column("sku", String(128), primary_key=True),
    Column("expected", Integer, nullable=False),
    Column("centra", Integer, nullable=False),
    Column("difference", Integer, nullable=False),
    Column("percent", Float, nullable=False),
    Column("first_seen", UTCDateTime(), nullable=False),
    Column("last_seen", UTCDateTime(), nullable=False),
    Column("evidence", JSON, nullable=False),
)

STOCK_TABLES = (stock_levels, stock_published, stock_dirty, stock_drift)


# --- readings ------------------------------------------------------------------------------------------------


async def record_readings(
    conn: AsyncConnection, brand: str, readings: Iterable[StockReading], *, now: datetime
) -> list[StockReading]:
    """Store readings newer than what is held; return the ones that changed ATP (or were new).

    A reading with an ``as_of`` not after the stored one is stale (a slower request answered later) and ignored.
    A newer reading with the same ATP only refreshes ``as_of``: the in-flight terms depend on it (an order
    confirmed before the newer reading now counts as held open), so it still returns as changed.
    """
    latest: dict[tuple[str, str], StockReading] = {}
    for reading in readings:
        if reading.as_of is None:
            continue
        key = (reading.facility, reading.item)
        if key not in latest or reading.as_of > latest[key].as_of:
            latest[key] = reading
    if not latest:
        return []
    stored = await _stored_levels(conn, brand, list(latest))
    fresh = [r for key, r in latest.items() if key not in stored or stored[key] < r.as_of]
    if not fresh:
        return []
    rows = [
        {
            "brand": brand,
            "facility": r.facility,
            "sku": r.item,
            "atp": r.atp,
            "on_hand": r.on_hand,
            "as_of": r.as_of,
            "updated_at": now,
        }
        for r in fresh
    ]
    stmt = insert_for(conn)(stock_levels)
    guarded = stmt.on_conflict_do_update(
        index_elements=["brand", "facility", "sku"],
        set_={
            "atp": stmt.excluded.atp,
            "on_hand": stmt.excluded.on_hand,
            "as_of": stmt.excluded.as_of,
            "updated_at": stmt.excluded.updated_at,
        },
        where=stock_levels.c.as_of < stmt.excluded.as_of,  # a concurrent newer write wins
    )
    for start in range(0, len(rows), 500):
        await conn.execute(guarded, rows[start : start + 500])
    return fresh


async def _stored_levels(
    conn: AsyncConnection, brand: str, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], datetime]:
    found: dict[tuple[str, str], datetime] = {}
    for start in range(0, len(keys), 400):
        chunk = keys[start : start + 400]
        rows = await conn.execute(
            select(stock_levels.c.facility, stock_levels.c.sku, stock_levels.c.as_of).where(
                stock_levels.c.brand == brand,
                tuple_(stock_levels.c.facility, stock_levels.c.sku).in_(chunk),
            )
        )
        found.update({(r.facility, r.sku): r.as_of for r in rows})
    return found


async def readings_for(
    conn: AsyncConnection, brand: str, skus: Iterable[str], facilities: Iterable[str]
) -> dict[str, dict[str, Reading]]:
    """sku -> facility -> latest reading, for the given SKUs at the given facilities."""
    skus, facilities = list(set(skus)), list(set(facilities))
    out: dict[str, dict[str, Reading]] = defaultdict(dict)
    if not skus or not facilities:
        return out
    for start in range(0, len(skus), 500):
        rows = await conn.execute(
            select(stock_levels.c.sku, stock_levels.c.facility, stock_levels.c.atp, stock_levels.c.as_of).where(
                stock_levels.c.brand == brand,
                stock_levels.c.facility.in_(facilities),
                stock_levels.c.sku.in_(skus[start : start + 500]),
            )
        )
        for r in rows:
            out[r.sku][r.facility] = Reading(r.atp, r.as_of)
    return out


async def level_rows(conn: AsyncConnection, brand: str, sku: str) -> list:
    """Every stored reading of one SKU (for ``lockstep stock show``)."""
    rows = await conn.execute(
        select(stock_levels).where(stock_levels.c.brand == brand, stock_levels.c.sku == sku).order_by("facility")
    )
    return list(rows)


# --- in-flight terms ------------------------------------------------------------------------------------------


async def in_flight(conn: AsyncConnection, brand: str, pool: str, skus: Iterable[str]) -> dict[str, list[InFlight]]:
    """sku -> the pool's order units for it that Deposco holds open or shipped without a completed Centra
    shipment, each with its Deposco confirmation time (the equation decides which of them count)."""
    from lockstep.store.orders import order_units as u
    from lockstep.store.orders import sales_orders as so
    from lockstep.store.shipments import CAPTURED, CREATED, DETECTED
    from lockstep.store.shipments import shipments as sh

    skus = list(set(skus))
    out: dict[str, list[InFlight]] = defaultdict(list)
    if not skus:
        return out
    route: dict[tuple[str, int, str], tuple[str, datetime | None]] = {}
    for start in range(0, len(skus), 500):
        rows = await conn.execute(
            select(
                u.c.order_number,
                u.c.line_id,
                u.c.facility,
                u.c.sku,
                (u.c.quantity - u.c.cancelled - u.c.shipped).label("open"),
                so.c.confirmed_at,
                so.c.cancelled_at,
            )
            .select_from(u.join(so, and_(so.c.brand == u.c.brand, so.c.number == u.c.sales_order), isouter=True))
            .where(u.c.brand == brand, u.c.pool == pool, u.c.sku.in_(skus[start : start + 500]))
        )
        for r in rows:
            confirmed = r.confirmed_at if r.cancelled_at is None else None
            route[(r.order_number, r.line_id, r.facility)] = (r.sku, confirmed)
            if r.open > 0 and r.cancelled_at is None:
                out[r.sku].append(InFlight(r.facility, confirmed, open=r.open))
    if not route:
        return out
    orders = sorted({key[0] for key in route})
    for start in range(0, len(orders), 500):
        rows = await conn.execute(
            select(sh.c.order_number, sh.c.facility, sh.c.lines).where(
                sh.c.brand == brand,
                sh.c.pool == pool,
                sh.c.state.in_((DETECTED, CREATED, CAPTURED)),
                sh.c.order_number.in_(orders[start : start + 500]),
            )
        )
        for r in rows:
            for line_id, units in r.lines:
                found = route.get((r.order_number, int(line_id), r.facility))
                if found:
                    sku, confirmed = found
                    out[sku].append(InFlight(r.facility, confirmed, shipped=int(units)))
    return out


async def pool_skus_of_orders(conn: AsyncConnection, brand: str, order_numbers: Iterable[str]) -> set[tuple[str, str]]:
    """(pool, SKU) keys touched by these orders: what an order or shipment change makes dirty."""
    from lockstep.store.orders import order_units as u

    numbers = list(set(order_numbers))
    keys: set[tuple[str, str]] = set()
    for start in range(0, len(numbers), 500):
        rows = await conn.execute(
            select(u.c.pool, u.c.sku).where(u.c.brand == brand, u.c.order_number.in_(numbers[start : start + 500]))
        )
        keys.update((r.pool, r.sku) for r in rows)
    return keys


# --- dirty keys -----------------------------------------------------------------------------------------------


async def mark_dirty(
    conn: AsyncConnection, brand: str, keys: Iterable[tuple[str, str]], *, reason: str, now: datetime
) -> int:
    """Mark (pool, SKU) keys for recomputation; an already dirty key keeps its first ``since``."""
    rows = [
        {"brand": brand, "pool": pool, "sku": sku, "since": now, "touched_at": now, "reason": reason[:32]}
        for pool, sku in sorted(set(keys))
    ]
    if not rows:
        return 0
    stmt = insert_for(conn)(stock_dirty)
    upsert = stmt.on_conflict_do_update(
        index_elements=["brand", "pool", "sku"], set_={"touched_at": stmt.excluded.touched_at}
    )
    for start in range(0, len(rows), 500):
        await conn.execute(upsert, rows[start : start + 500])
    return len(rows)


@dataclass(frozen=True)
class DirtyKey:
    pool: str
    sku: str
    since: datetime
    touched_at: datetime


async def dirty_keys(conn: AsyncConnection, brand: str, pool: str, *, limit: int) -> list[DirtyKey]:
    """The pool's oldest dirty keys first (so nothing starves behind a busy SKU)."""
    rows = await conn.execute(
        select(stock_dirty.c.pool, stock_dirty.c.sku, stock_dirty.c.since, stock_dirty.c.touched_at)
        .where(stock_dirty.c.brand == brand, stock_dirty.c.pool == pool)
        .order_by(stock_dirty.c.since, stock_dirty.c.sku)
        .limit(limit)
    )
    return [DirtyKey(r.pool, r.sku, r.since, r.touched_at) for r in rows]


async def dirty_pools(conn: AsyncConnection, brand: str) -> list[str]:
    rows = await conn.execute(select(stock_dirty.c.pool).where(stock_dirty.c.brand == brand).distinct())
    return sorted(r.pool for r in rows)


async def clear_dirty(conn: AsyncConnection, brand: str, keys: Iterable[DirtyKey]) -> None:
    """Remove keys that were not touched again since they were read (a newer change keeps its key)."""
    for key in keys:
        await conn.execute(
            delete(stock_dirty).where(
                stock_dirty.c.brand == brand,
                stock_dirty.c.pool == key.pool,
                stock_dirty.c.sku == key.sku,
                stock_dirty.c.touched_at <= key.touched_at,
            )
        )


async def oldest_dirty(conn: AsyncConnection) -> dict[str, datetime]:
    """brand -> the ``since`` of its oldest dirty key: the sync lag."""
    from sqlalchemy import func

    rows = await conn.execute(select(stock_dirty.c.brand, func.min(stock_dirty.c.since)).group_by(stock_dirty.c.brand))
    return {brand: since for brand, since in rows}


# --- what Centra holds ----------------------------------------------------------------------------------------


async def believed(conn: AsyncConnection, brand: str, pool: str, skus: Iterable[str]) -> dict[str, int]:
    skus = list(set(skus))
    out: dict[str, int] = {}
    for start in range(0, len(skus), 500):
        rows = await conn.execute(
            select(stock_published.c.sku, stock_published.c.quantity).where(
                stock_published.c.brand == brand,
                stock_published.c.pool == pool,
                stock_published.c.sku.in_(skus[start : start + 500]),
            )
        )
        out.update({r.sku: r.quantity for r in rows})
    return out


async def record_published(
    conn: AsyncConnection, brand: str, pool: str, values: Mapping[str, tuple[int, dict[str, Any]]], *, now: datetime
) -> None:
    """Remember what Centra now holds (sku -> (quantity, terms))."""
    rows = [
        {"brand": brand, "pool": pool, "sku": sku, "quantity": q, "published_at": now, "terms": terms}
        for sku, (q, terms) in values.items()
    ]
    if not rows:
        return
    stmt = insert_for(conn)(stock_published)
    upsert = stmt.on_conflict_do_update(
        index_elements=["brand", "pool", "sku"],
        set_={"quantity": stmt.excluded.quantity, "published_at": now, "terms": stmt.excluded.terms},
    )
    for start in range(0, len(rows), 500):
        await conn.execute(upsert, rows[start : start + 500])


async def centra_completed_shipment(conn: AsyncConnection, brand: str, pool: str, units: Mapping[str, int]) -> None:
    """Centra lowered physical by these units when a shipment completed: keep what we believe it holds in step,
    in the same transaction as the completion (then the next publish sends nothing for an unchanged figure)."""
    for sku, n in units.items():
        await conn.execute(
            update(stock_published)
            .where(stock_published.c.brand == brand, stock_published.c.pool == pool, stock_published.c.sku == sku)
            .values(quantity=stock_published.c.quantity - n)
        )


async def published_rows(conn: AsyncConnection, brand: str, sku: str) -> list:
    rows = await conn.execute(
        select(stock_published)
        .where(stock_published.c.brand == brand, stock_published.c.sku == sku)
        .order_by(stock_published.c.pool)
    )
    return list(rows)
