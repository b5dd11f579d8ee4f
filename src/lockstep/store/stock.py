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

import contextlib
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep.domain.model import StockReading
from lockstep.domain.routing import ANY_POOL
from lockstep.domain.stock import InFlight, Reading, netted, share_units, unclaimed_atp
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
    A newer reading with the same ATP and on hand only refreshes ``as_of`` and is not returned: a changed-since
    poll re-reads its overlap every few seconds, and re-publishing every key it covers would cost the publisher
    for nothing. (An order Deposco confirmed between the two readings changes ATP, so it is returned; the rare
    exact offset — an order and a receipt of the same units in between — only leaves the order uncounted, which
    sells less, until the next change or reconciliation.)
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
    fresh = [r for key, r in latest.items() if key not in stored or stored[key][0] < r.as_of]
    if not fresh:
        return []
    changed = [r for r in fresh if (key := (r.facility, r.item)) not in stored or stored[key][1:] != (r.atp, r.on_hand)]
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
        for r in sorted(fresh, key=lambda r: (r.facility, r.item))  # key order: see clear_dirty
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
    return changed


async def _stored_levels(
    conn: AsyncConnection, brand: str, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[datetime, int, int]]:
    """(facility, sku) -> (as_of, atp, on_hand) of the stored readings among ``keys``."""
    found: dict[tuple[str, str], tuple[datetime, int, int]] = {}
    for start in range(0, len(keys), 400):
        chunk = keys[start : start + 400]
        rows = await conn.execute(
            select(
                stock_levels.c.facility,
                stock_levels.c.sku,
                stock_levels.c.as_of,
                stock_levels.c.atp,
                stock_levels.c.on_hand,
            ).where(
                stock_levels.c.brand == brand,
                tuple_(stock_levels.c.facility, stock_levels.c.sku).in_(chunk),
            )
        )
        found.update({(r.facility, r.sku): (r.as_of, r.atp, r.on_hand) for r in rows})
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
    from lockstep.store.shipments import CAPTURED, CREATED, DETECTED
    from lockstep.store.shipments import shipments as sh

    skus = list(set(skus))
    out: dict[str, list[InFlight]] = defaultdict(list)
    if not skus:
        return out
    route: dict[tuple[str, int, str], tuple[str, datetime | None]] = {}
    for start in range(0, len(skus), 500):
        rows = await conn.execute(_routed_units(brand, [pool], skus[start : start + 500]))
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


async def open_elsewhere(
    conn: AsyncConnection, brand: str, pool: str, facilities: Iterable[str], skus: Iterable[str]
) -> dict[str, list[InFlight]]:
    """sku -> open order units of the brand's *other* pools at these facilities, each with its Deposco
    confirmation time: what the equation takes off a shared facility's ATP before ``pool``'s share, where the
    reading does not net them yet (``domain.stock.claims``)."""
    from lockstep.store.orders import order_units as u

    skus, facilities = list(set(skus)), list(set(facilities))
    out: dict[str, list[InFlight]] = defaultdict(list)
    if not skus or not facilities:
        return out
    for start in range(0, len(skus), 500):
        query = _routed_units(brand, None, skus[start : start + 500]).where(
            u.c.pool != pool, u.c.facility.in_(facilities)
        )
        for r in await conn.execute(query):
            if r.open > 0 and r.cancelled_at is None:
                out[r.sku].append(InFlight(r.facility, r.confirmed_at, open=r.open))
    return out


def _routed_units(brand: str, pools: list[str] | None, skus: list[str]):
    """The pools' (``None``: every pool's) routed order units for these SKUs with their open units and their
    Deposco order's times."""
    from lockstep.store.orders import order_units as u
    from lockstep.store.orders import sales_orders as so

    return (
        select(
            u.c.order_number,
            u.c.line_id,
            u.c.pool,
            u.c.facility,
            u.c.sku,
            (u.c.quantity - u.c.cancelled - u.c.shipped).label("open"),
            so.c.confirmed_at,
            so.c.cancelled_at,
        )
        .select_from(u.join(so, and_(so.c.brand == u.c.brand, so.c.number == u.c.sales_order), isouter=True))
        .where(u.c.brand == brand, u.c.sku.in_(skus), *([u.c.pool.in_(pools)] if pools is not None else []))
    )


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


async def routing_allowance(
    conn: AsyncConnection, brand: str, pools: Mapping[str, Mapping[str, float]], items: Iterable[str]
) -> dict[tuple[str, str, str], int]:
    """(pool, facility, item) -> units the pool may still draw from the facility: its floored share of the latest
    ATP reading less the other pools' open units there that the reading does not net yet (the equation's
    ``unclaimed_atp``), minus the pool's own such units (routed or exported after the reading was requested).
    ``pools`` maps each pool to its live facilities and shares. Keys without a reading are left out: routing then
    keeps the configured order. Also (``ANY_POOL``, facility, item): the reading's ATP minus every pool's open
    units there it does not net yet — what routing may still send when a pool's share is used up.

    Within one batch (``flows.orders``) an order's draw lowers its own pool's allowance and ``ANY_POOL``, not the
    other pools' shares: those follow at the next batch, which reads the stored units again."""

    items = list(set(items))
    facilities = {f for shares in pools.values() for f in shares}
    readings = await readings_for(conn, brand, items, facilities)
    if not any(readings.get(item, {}).get(f) is not None for item in items for f in facilities):
        return {}
    unnetted: dict[tuple[str, str, str], int] = defaultdict(int)  # (pool, facility, item) -> open units
    for start in range(0, len(items), 500):
        rows = await conn.execute(_routed_units(brand, None, items[start : start + 500]))
        for r in rows:
            reading = readings.get(r.sku, {}).get(r.facility)
            if reading is None or r.open <= 0 or r.cancelled_at is not None:
                continue
            if not netted(InFlight(r.facility, r.confirmed_at, open=r.open), reading):
                unnetted[(r.pool, r.facility, r.sku)] += r.open  # not in the reading's ATP yet
    claimed: dict[tuple[str, str], int] = defaultdict(int)
    for (_, facility, item), units in unnetted.items():
        claimed[(facility, item)] += units
    allowance: dict[tuple[str, str, str], int] = {}
    for item in items:
        for facility in facilities:
            reading = readings.get(item, {}).get(facility)
            if reading is not None:  # what no pool's open orders claim yet, whatever the shares
                allowance[(ANY_POOL, facility, item)] = math.floor(reading.atp) - claimed[(facility, item)]
        for pool, shares in pools.items():
            for facility, share in shares.items():
                reading = readings.get(item, {}).get(facility)
                if reading is not None:
                    own = unnetted.get((pool, facility, item), 0)
                    others = claimed[(facility, item)] - own
                    allowance[(pool, facility, item)] = share_units(share, unclaimed_atp(reading.atp, others)) - own
    return allowance


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
    """Remove keys that were not touched again since they were read (a newer change keeps its key).

    One statement for all of them (executemany): a publish clears a few hundred keys while it holds the writer.
    In key order, like every write of these tables (:func:`mark_dirty`, :func:`record_readings`): rows locked in
    one order by every transaction cannot deadlock. Cleared oldest-first, a publish deadlocked with a scan marking
    the same pool's keys in SKU order (PostgreSQL, peak-sale benchmark)."""
    rows = [
        {"b_pool": key.pool, "b_sku": key.sku, "b_touched": key.touched_at}
        for key in sorted(keys, key=lambda k: (k.pool, k.sku))
    ]
    if not rows:
        return
    stmt = delete(stock_dirty).where(
        stock_dirty.c.brand == brand,
        stock_dirty.c.pool == bindparam("b_pool"),
        stock_dirty.c.sku == bindparam("b_sku"),
        stock_dirty.c.touched_at <= bindparam("b_touched", type_=stock_dirty.c.touched_at.type),
    )
    for start in range(0, len(rows), 500):
        await conn.execute(stmt, rows[start : start + 500])


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
        for sku, (q, terms) in sorted(values.items())  # key order: see clear_dirty
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
    in the same transaction as the completion (then the next publish sends nothing for an unchanged figure).

    Never below zero: a figure written below what Centra's orders held was clamped up to that by Centra, so the
    completion takes Centra to zero, not to the (negative) difference from what Lockstep wrote."""
    for sku, n in units.items():
        lowered = stock_published.c.quantity - n
        await conn.execute(
            update(stock_published)
            .where(stock_published.c.brand == brand, stock_published.c.pool == pool, stock_published.c.sku == sku)
            .values(quantity=case((lowered < 0, 0), else_=lowered))
        )


async def shipped_units_by_sku(
    conn: AsyncConnection, brand: str, order_number: str, facility: str, pool: str, lines: Iterable[Any]
) -> dict[str, int]:
    """SKU -> units of a shipment's (Centra line id, units) pairs, through the order's routed rows."""
    from lockstep.store.orders import order_units as u

    rows = await conn.execute(
        select(u.c.line_id, u.c.sku).where(
            u.c.brand == brand, u.c.order_number == order_number, u.c.facility == facility, u.c.pool == pool
        )
    )
    sku_of = {r.line_id: r.sku for r in rows}
    units: dict[str, int] = defaultdict(int)
    for line_id, n in lines:
        sku = sku_of.get(int(line_id))
        if sku is not None:
            units[sku] += int(n)
    return dict(units)


async def published_rows(conn: AsyncConnection, brand: str, sku: str) -> list:
    rows = await conn.execute(
        select(stock_published)
        .where(stock_published.c.brand == brand, stock_published.c.sku == sku)
        .order_by(stock_published.c.pool)
    )
    return list(rows)


# --- reconciliation -------------------------------------------------------------------------------------------
# Bulk reads for flows/inventory/reconcile.py: whole tables of one brand as polars frames, a million rows in a
# second or two. They go through the raw driver, not SQLAlchemy rows: SQLite rows arrive as plain tuples in
# chunks (fetchmany) and become one frame per chunk; PostgreSQL sends CSV through COPY, parsed by polars in one
# go — no Python object per row at all. Everything is read in one read-only snapshot transaction (deferred BEGIN
# on SQLite, which in WAL mode neither blocks nor waits for the writer; REPEATABLE READ on PostgreSQL), so the
# readings and the in-flight units agree with each other.


@dataclass
class ReconcileSnapshot:
    """What the store knows, as frames (see ``domain/drift.py`` for the schemas)."""

    readings: Any  # facility, sku, atp
    reading_times: Any  # facility, sku, as_of: for keys with in-flight units only
    in_flight: Any  # pool, facility, sku, confirmed_at, open, shipped
    allocated: Any  # pool, sku, allocated: Centra allocations Lockstep knows of (light pass)


_CHUNK_ROWS = 100_000


def _frame_from_rows(rows: list[tuple], schema: dict, times: tuple[str, ...]) -> Any:
    import polars as pl

    raw = {name: (pl.String if name in times else dtype) for name, dtype in schema.items()}
    frame = pl.DataFrame(rows, schema=raw, orient="row")
    return frame.with_columns(
        pl.col(name).str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us").dt.replace_time_zone("UTC")
        for name in times
    )


def _frame_from_csv(data: bytes, schema: dict, times: tuple[str, ...]) -> Any:
    import polars as pl

    raw = {name: (pl.Int64 if name in times else dtype) for name, dtype in schema.items()}
    frame = pl.read_csv(data, has_header=False, new_columns=list(schema), schema=raw) if data else None
    if frame is None:
        frame = pl.DataFrame(schema=raw)
    return frame.with_columns(pl.from_epoch(pl.col(name), time_unit="us").dt.replace_time_zone("UTC") for name in times)


class _BulkReader:
    """Runs plain SQL on the raw driver connection of one snapshot transaction and returns frames.

    SQL is written with ``:1, :2`` placeholders and timestamp columns named in ``times``; the reader rewrites
    both per dialect (SQLite keeps timestamps as text, PostgreSQL sends microseconds since the epoch).
    """

    def __init__(self, dialect: str, driver: Any):
        self.dialect, self.driver = dialect, driver

    def _sql(self, sql: str, times: tuple[str, ...], columns: dict[str, str]) -> str:
        mark = "?" if self.dialect == "sqlite" else "$"
        sql = re.sub(r"(?<!:):(\d+)", lambda m: f"{mark}{m.group(1)}", sql)
        for name in times:
            expression = columns[name]
            if self.dialect == "postgresql":
                expression = f"(extract(epoch from {expression}) * 1000000)::bigint"
            sql = sql.replace(f"{{{name}}}", expression)
        return sql

    async def frame(self, sql: str, args: list, schema: dict, *, times: dict[str, str] | None = None) -> Any:
        import polars as pl

        times = times or {}
        sql = self._sql(sql, tuple(times), times)
        if self.dialect == "postgresql":
            import io

            buffer = io.BytesIO()
            await self.driver.copy_from_query(sql, *args, output=buffer, format="csv")
            return _frame_from_csv(buffer.getvalue(), schema, tuple(times))
        cursor = await self.driver.execute(sql, args)
        frames = []
        try:
            while rows := await cursor.fetchmany(_CHUNK_ROWS):
                frames.append(_frame_from_rows(rows, schema, tuple(times)))
        finally:
            await cursor.close()
        if not frames:
            return _frame_from_rows([], schema, tuple(times))
        return pl.concat(frames, rechunk=True)


@contextlib.asynccontextmanager
async def _snapshot(engine: Any):
    """A read-only snapshot on the raw driver connection, handed back to the pool afterwards."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        if conn.dialect.name == "postgresql":
            # SQLAlchemy opens the snapshot transaction; COPY then runs inside it on the same connection.
            conn = await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            await conn.execute(select(1))
            yield _BulkReader("postgresql", driver)
        else:
            await driver.execute("BEGIN")  # deferred: a WAL read snapshot that takes no write lock
            try:
                yield _BulkReader("sqlite", driver)
            finally:
                await driver.execute("ROLLBACK")


async def reconcile_snapshot(engine: Any, brand: str, facilities: Iterable[str]) -> ReconcileSnapshot:
    """Readings of ``facilities`` (the brand's live ones), in-flight units and known Centra allocations.

    In-flight units follow :func:`in_flight`: open units of order lines whose Deposco sales order is not
    cancelled (confirmation time kept, the equation decides), and units of shipments Centra has not completed
    (detected, created, captured) mapped back to their line's SKU. The allocation Lockstep knows of is every
    open unit of a not-cancelled line (confirmed in Deposco or not: Centra allocated it at checkout) plus every
    unit of a shipment not completed in Centra (failed ones included: Centra still holds them).
    """
    import json

    import polars as pl

    from lockstep.domain.drift import IN_FLIGHT_SCHEMA, READINGS_SCHEMA

    facilities = sorted(set(facilities))
    open_schema = {"pool": pl.String, "facility": pl.String, "sku": pl.String, "confirmed_at": None, "open": pl.Int64}
    route_schema = {
        "pool": pl.String,
        "order_number": pl.String,
        "line_id": pl.Int64,
        "facility": pl.String,
        "sku": pl.String,
        "confirmed_at": None,
        "cancelled": pl.Int64,
    }
    shipment_schema = {
        "pool": pl.String,
        "order_number": pl.String,
        "facility": pl.String,
        "state": pl.String,
        "lines": pl.String,
    }
    async with _snapshot(engine) as reader:
        # One query per facility: the facility column need not travel (a quarter fewer values per row).
        per_facility = [
            (
                await reader.frame(
                    "SELECT sku, atp FROM stock_levels WHERE brand = :1 AND facility = :2",
                    [brand, facility],
                    {"sku": pl.String, "atp": pl.Int64},
                )
            ).select(pl.lit(facility, dtype=pl.String).alias("facility"), "sku", "atp")
            for facility in facilities
        ]
        readings = (
            pl.concat(per_facility)
            if per_facility
            else pl.DataFrame(schema={k: v for k, v in READINGS_SCHEMA.items() if k != "as_of"})
        )
        # Reading times only where in-flight units may be added back (see domain.drift.expected_physical).
        reading_times = await reader.frame(
            "SELECT l.facility, l.sku, {as_of} FROM stock_levels l JOIN ("
            " SELECT facility, sku FROM order_units"
            "  WHERE brand = :1 AND quantity - cancelled - shipped > 0"
            " UNION SELECT facility, sku FROM order_units"
            "  WHERE brand = :1 AND order_number IN"
            "  (SELECT order_number FROM shipments WHERE brand = :1 AND state <> :2)"
            ") k ON l.facility = k.facility AND l.sku = k.sku WHERE l.brand = :1",
            [brand, "completed"],
            {"facility": pl.String, "sku": pl.String, "as_of": None},
            times={"as_of": "l.as_of"},
        )
        opened = await reader.frame(
            "SELECT u.pool, u.facility, u.sku, {confirmed_at}, u.quantity - u.cancelled - u.shipped"
            " FROM order_units u LEFT JOIN sales_orders so ON so.brand = u.brand AND so.number = u.sales_order"
            " WHERE u.brand = :1 AND so.cancelled_at IS NULL AND u.quantity - u.cancelled - u.shipped > 0",
            [brand],
            open_schema,
            times={"confirmed_at": "so.confirmed_at"},
        )
        shipments = await reader.frame(
            "SELECT pool, order_number, facility, state, lines FROM shipments WHERE brand = :1 AND state <> :2",
            [brand, "completed"],
            shipment_schema,
        )
        routes = await reader.frame(
            "SELECT u.pool, u.order_number, u.line_id, u.facility, u.sku, {confirmed_at},"
            " CASE WHEN so.cancelled_at IS NULL THEN 0 ELSE 1 END"
            " FROM order_units u LEFT JOIN sales_orders so ON so.brand = u.brand AND so.number = u.sales_order"
            " WHERE u.brand = :1 AND u.order_number IN"
            " (SELECT order_number FROM shipments WHERE brand = :1 AND state <> :2)",
            [brand, "completed"],
            route_schema,
            times={"confirmed_at": "so.confirmed_at"},
        )
    # Shipment lines are JSON pairs (line id, units); only shipments Centra has not completed, so few rows.
    exploded = [
        (pool, number, facility, state, int(line_id), int(units))
        for pool, number, facility, state, lines in shipments.iter_rows()
        for line_id, units in (json.loads(lines) if isinstance(lines, str) else lines or [])
    ]
    shipped = pl.DataFrame(
        exploded,
        schema={
            "pool": pl.String,
            "order_number": pl.String,
            "facility": pl.String,
            "state": pl.String,
            "line_id": pl.Int64,
            "units": pl.Int64,
        },
        orient="row",
    ).join(routes, on=["pool", "order_number", "line_id", "facility"], how="inner")
    from lockstep.store.shipments import CAPTURED, CREATED, DETECTED

    shipped_in_flight = shipped.filter(pl.col("state").is_in([DETECTED, CREATED, CAPTURED])).select(
        "pool",
        "facility",
        "sku",
        pl.when(pl.col("cancelled") == 1).then(None).otherwise(pl.col("confirmed_at")).alias("confirmed_at"),
        pl.lit(0, dtype=pl.Int64).alias("open"),
        pl.col("units").alias("shipped"),
    )
    in_flight = pl.concat(
        [opened.with_columns(pl.lit(0, dtype=pl.Int64).alias("shipped")), shipped_in_flight], how="vertical_relaxed"
    ).cast({k: v for k, v in IN_FLIGHT_SCHEMA.items() if k != "confirmed_at"})
    allocated = (
        pl.concat(
            [opened.select("pool", "sku", pl.col("open").alias("units")), shipped.select("pool", "sku", "units")],
            how="vertical_relaxed",
        )
        .group_by("pool", "sku")
        .agg(pl.col("units").sum().cast(pl.Int64).alias("allocated"))
    )
    return ReconcileSnapshot(readings=readings, reading_times=reading_times, in_flight=in_flight, allocated=allocated)


async def drift_context(
    conn: AsyncConnection, brand: str, keys: Iterable[tuple[str, str]]
) -> tuple[dict[tuple[str, str], tuple[int, datetime]], dict[tuple[str, str], datetime]]:
    """For drifting keys only: (believed quantity, published_at) and the dirty ``since`` — the evidence."""
    by_pool: dict[str, list[str]] = defaultdict(list)
    for pool, sku in keys:
        by_pool[pool].append(sku)
    published: dict[tuple[str, str], tuple[int, datetime]] = {}
    dirty: dict[tuple[str, str], datetime] = {}
    for pool, skus in by_pool.items():
        for start in range(0, len(skus), 500):
            chunk = skus[start : start + 500]
            rows = await conn.execute(
                select(stock_published.c.sku, stock_published.c.quantity, stock_published.c.published_at).where(
                    stock_published.c.brand == brand, stock_published.c.pool == pool, stock_published.c.sku.in_(chunk)
                )
            )
            published.update({(pool, r.sku): (r.quantity, r.published_at) for r in rows})
            rows = await conn.execute(
                select(stock_dirty.c.sku, stock_dirty.c.since).where(
                    stock_dirty.c.brand == brand, stock_dirty.c.pool == pool, stock_dirty.c.sku.in_(chunk)
                )
            )
            dirty.update({(pool, r.sku): r.since for r in rows})
    return published, dirty


async def record_drift(
    conn: AsyncConnection, brand: str, pools: Iterable[str], rows: list[dict[str, Any]], *, now: datetime
) -> int:
    """Make ``stock_drift`` the current drift set of ``pools``: upsert ``rows`` (a row already there keeps its
    ``first_seen``) and delete the pools' rows this pass did not see again (they converged). Returns deleted."""
    if rows:
        await _upsert_drift_raw(conn, brand, rows, now=now)
    result = await conn.execute(
        delete(stock_drift).where(
            stock_drift.c.brand == brand, stock_drift.c.pool.in_(sorted(set(pools))), stock_drift.c.last_seen < now
        )
    )
    return result.rowcount or 0


async def _upsert_drift_raw(conn: AsyncConnection, brand: str, rows: list[dict[str, Any]], *, now: datetime) -> None:
    """The upsert through the driver, inside ``conn``'s transaction: a full pass after a mapping change can drift
    every key, and SQLAlchemy's per-value bind processing (JSON, UTC timestamps) would dominate the pass.
    Values are written as SQLAlchemy would store them (SQLite: naive UTC text; PostgreSQL: timestamptz)."""
    import json

    postgres = conn.dialect.name == "postgresql"
    columns = ("brand", "pool", "sku", "expected", "centra", "difference", "percent", "first_seen", "last_seen")
    marks = [f"${i}" if postgres else "?" for i in range(1, len(columns) + 2)]
    updated = ("expected", "centra", "difference", "percent", "last_seen", "evidence")
    sql = (
        f"INSERT INTO stock_drift ({', '.join(columns)}, evidence) VALUES ({', '.join(marks)})"
        f" ON CONFLICT (brand, pool, sku) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in updated)}"
    )
    stamp: Any = now if postgres else now.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    values = [
        (brand, r["pool"], r["sku"], r["expected"], r["centra"], r["difference"], float(r["percent"]), stamp, stamp,
         json.dumps(r["evidence"], separators=(",", ":")))
        for r in rows
    ]  # fmt: skip
    driver = (await conn.get_raw_connection()).driver_connection
    await driver.executemany(sql, values)  # asyncpg and aiosqlite alike


async def forget_published(conn: AsyncConnection, brand: str, keys: Iterable[tuple[str, str]]) -> None:
    """Drop what Lockstep believes Centra holds for these keys, so the publisher writes them whatever it computes."""
    by_pool: dict[str, list[str]] = defaultdict(list)
    for pool, sku in keys:
        by_pool[pool].append(sku)
    for pool, skus in by_pool.items():
        for start in range(0, len(skus), 500):
            await conn.execute(
                delete(stock_published).where(
                    stock_published.c.brand == brand,
                    stock_published.c.pool == pool,
                    stock_published.c.sku.in_(skus[start : start + 500]),
                )
            )
