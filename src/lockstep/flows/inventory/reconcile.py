"""Reconciliation (issue 7 §4): the safety net under the event-driven publisher.

Per brand, every (pool, SKU) is compared in bulk: the stock equation over everything the store holds
(``domain/drift.py``, the same arithmetic as ``domain.stock.centra_physical``) against what Centra shows.

- ``inventory.reconcile_full`` (daily): Centra **physical** (``iter_stock(with_allocated=True)``, expensive in
  Centra's complexity budget) against the expected physical figure.
- ``inventory.reconcile_light`` (often): Centra **free-to-allocate** (free of complexity cost) against the
  expected physical figure minus the Centra allocation Lockstep knows of: units of the pool's Centra orders in
  ``order_units`` that are not cancelled and not in a Centra shipment that is completed. Orders Lockstep has not
  seen yet (placed seconds ago, not fetched) are allocated in Centra too and make its FTA lower than this
  estimate; a few such units stay within the tolerance, a burst may show as drift for one pass. Correcting it
  is harmless: the correction rewrites *physical*, which Lockstep computes without that estimate.

A pool none of whose facilities is live is not compared: Lockstep does not own that warehouse's stock yet (the
publisher leaves it alone too). Within a compared pool, stock of a facility that is not live never counts.

Outcome of a pass, in one transaction:

- ``stock_drift`` becomes the current drift set of the compared pools (a key seen before keeps ``first_seen``;
  keys that converged are deleted), each row with its evidence: every term of the equation, what Lockstep last
  published and when, whether the key is waiting to be published (dirty since …) and the disagreeing term
  (Centra ≠ published: changed outside Lockstep; published ≠ expected: not yet published).
- One ``stock_drift`` exception per (brand, pool) with the count and the worst rows; auto-resolved when the pool
  has no drift left.
- With ``inventory.correct_drift`` (default on): the drifting keys' ``stock_published`` belief is dropped and
  they are marked dirty (reason ``drift``) with a publish job per pool, so the publisher — in the pool's lane —
  rewrites them from the latest data.
- Keys whose figure is unknown (a live facility has no reading) are reported (counts and a sample in the
  report, the log and the exception evidence), never compared and never corrected.

Centra is read first, then the store; a key Lockstep published after the Centra read began is left out of this
pass's drift (Centra's copy of it is older than Lockstep's), so a pass never "corrects" a fresh write.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lockstep.clock import utcnow
from lockstep.connectors.budget import Priority
from lockstep.queue import JobContext, PermanentError, TaskRegistry
from lockstep.store import exceptions as exc_store
from lockstep.store import stock as store

if TYPE_CHECKING:
    import polars as pl

    from lockstep.domain import drift as rules

log = structlog.get_logger("lockstep.inventory.reconcile")

LIGHT, FULL = "inventory.reconcile_light", "inventory.reconcile_full"
KIND = "stock_drift"
WORST_ROWS = 20  # rows of evidence per pool exception
UNKNOWN_SAMPLE = 20

Commit = Callable[[], contextlib.AbstractAsyncContextManager[AsyncConnection]]


@dataclass
class ReconcileReport:
    brand: str
    full: bool
    pools: dict[str, dict[str, int]] = field(default_factory=dict)  # pool -> compared/drift/unknown/absent counts
    drift: int = 0
    unknown: int = 0
    corrected: int = 0
    converged: int = 0  # drift rows deleted because the key is back within tolerance
    skipped_fresh: int = 0  # keys published after the Centra read began
    resolved_pools: list[str] = field(default_factory=list)
    unknown_sample: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compared_pools(topology: Any) -> dict[str, list[tuple[str, float]]]:
    """Pools with at least one live facility -> their live (facility, share) pairs."""
    out = {}
    for pool in topology.pools:
        live = [(entry.facility, entry.share) for entry in topology.live_facilities_for_pool(pool.id)]
        if live:
            out[pool.id] = live
    return out


def buffer_rules(topology: Any) -> rules.BufferRules:
    from lockstep.domain import drift as rules

    buffers = topology.safety_buffers
    return rules.BufferRules(
        default=buffers.default,
        rules=tuple(rules.BufferRule(r.pattern, r.units, tuple(r.pools)) for r in buffers.per_sku),
    )


async def read_centra(services: Any, topology: Any, pools: list[str], *, full: bool) -> pl.DataFrame:
    """Centra's figure per (pool, SKU): physical on a full pass, free-to-allocate on a light one.

    Rows come page by page from the API (rate-budgeted, LOW priority so orders and publishes go first); they are
    gathered into plain columns and become one frame per pool.
    """
    import polars as pl

    from lockstep.domain import drift as rules

    client = services.centra(topology.brand)
    by_ean = topology.sku_key == "ean"
    schema = {**rules.CENTRA_SCHEMA, "allocated": pl.Int64} if full else rules.CENTRA_SCHEMA
    frames = []
    for pool_id in pools:
        warehouse = topology.pool(pool_id).centra_warehouse
        skus: list[str] = []
        values: list[int] = []
        allocated: list[int | None] = []
        async for row in client.iter_stock(warehouse, with_allocated=full, priority=Priority.LOW):
            key = row.ean if by_ean else row.sku
            value = row.physical if full else row.free_to_allocate
            if key and value is not None:
                skus.append(key)
                values.append(value)
                allocated.append(row.allocated)
        columns = {"pool": pool_id, "sku": skus, "value": values}
        if full:  # Centra's own allocation: its physical is never below it (domain.drift.compare)
            columns["allocated"] = allocated
        frames.append(pl.DataFrame(columns, schema=schema))
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def _evidence(row: dict[str, Any], published_at: datetime | None, full: bool) -> dict[str, Any]:
    """Why one key drifts, in words a person can check against AMS and Deposco."""
    from lockstep.domain import drift as rules

    cause = row["cause"]
    since = row["dirty_since"]
    if cause == rules.CHANGED_OUTSIDE:
        why = "Centra differs from what Lockstep last published: changed outside Lockstep"
    elif cause == rules.NOT_YET_PUBLISHED:
        why = (
            f"not yet published: dirty since {since.isoformat()}"
            if since
            else "not yet published, and not marked for publishing: a change Lockstep did not hear about"
        )
    else:
        why = "Lockstep has never published this key"
    return {
        "pass": "full" if full else "light",
        "measure": "physical" if full else "free_to_allocate",
        "cause": cause,
        "why": why,
        "terms": {
            name: row[name]
            for name in ("atp_part", "held_open", "shipped_unconfirmed", "left_out", "buffer", "allocated")
        },
        "expected": row["expected"],
        "centra": row["centra"],
        "believed": row["believed"],
        "published_at": published_at.isoformat() if published_at else None,
        "dirty_since": since.isoformat() if since else None,
    }


async def compare_and_record(
    engine: AsyncEngine,
    topology: Any,
    centra: pl.DataFrame,
    *,
    full: bool,
    started: datetime,
    commit: Commit | None = None,
) -> ReconcileReport:
    """Everything after the Centra read: store snapshot -> bulk compare -> drift table, exceptions, correction.

    ``centra`` (pool, sku, value) is physical on a full pass and free-to-allocate on a light one; ``started`` is
    when the Centra read began. ``commit`` opens the final transaction (the job's, or a plain one).
    """
    import polars as pl  # imported here: the CLI and other flows load this module without needing polars

    from lockstep.domain import drift as rules

    brand = topology.brand
    report = ReconcileReport(brand, full)
    clock = time.perf_counter()
    pools = compared_pools(topology)
    live = sorted({facility for entries in pools.values() for facility, _ in entries})
    snapshot = await store.reconcile_snapshot(engine, brand, live)
    report.seconds["read_store"] = round(time.perf_counter() - clock, 3)

    clock = time.perf_counter()
    centra = centra.filter(pl.col("pool").is_in(list(pools)))
    tolerance = rules.Tolerance(topology.thresholds.drift_tolerance_units, topology.thresholds.drift_tolerance_percent)

    def compute() -> rules.Comparison:
        expected = rules.expected_physical(
            snapshot.readings,
            rules.shares_frame(list(pools.items())),
            snapshot.in_flight.filter(pl.col("pool").is_in(list(pools))),
            buffer_rules(topology),
            atp_nets_open_orders=topology.inventory.atp_nets_open_orders,
            pools=list(pools),
            reading_times=snapshot.reading_times,
        )
        return rules.compare(
            expected,
            centra,
            tolerance,
            allocated=None if full else snapshot.allocated,
            centra_allocated=centra.select("pool", "sku", "allocated") if "allocated" in centra.columns else None,
        )

    # polars releases the GIL: the worker's heartbeats and other jobs keep running while this computes.
    comparison = await asyncio.to_thread(compute)
    report.seconds["compare"] = round(time.perf_counter() - clock, 3)

    clock = time.perf_counter()
    drift = comparison.drift
    keys = list(zip(drift["pool"].to_list(), drift["sku"].to_list(), strict=True))
    async with engine.connect() as conn:
        published, dirty = await store.drift_context(conn, brand, keys)
    fresh = {key for key, (_, at) in published.items() if at is not None and at >= started}
    report.skipped_fresh = len(fresh)
    believed = pl.DataFrame(
        [(pool, sku, q) for (pool, sku), (q, _) in published.items()], schema=rules.BELIEVED_SCHEMA, orient="row"
    )
    dirty_frame = pl.DataFrame(
        [(pool, sku, since) for (pool, sku), since in dirty.items()], schema=rules.DIRTY_SCHEMA, orient="row"
    )
    drift = rules.explain(drift, believed=believed, dirty=dirty_frame, free_to_allocate=not full)
    rows, worst, drifting = [], {}, []
    for row in drift.iter_rows(named=True):
        key = (row["pool"], row["sku"])
        if key in fresh:
            continue
        drifting.append(key)
        evidence = _evidence(row, published.get(key, (None, None))[1], full)
        rows.append(
            {
                "pool": row["pool"],
                "sku": row["sku"],
                "expected": row["expected"],
                "centra": row["centra"],
                "difference": row["difference"],
                "percent": round(row["percent"], 3),
                "evidence": evidence,
            }
        )
        if len(worst.setdefault(row["pool"], [])) < WORST_ROWS:
            worst[row["pool"]].append({"sku": row["sku"], **evidence})
    drifting_per_pool: dict[str, int] = {}
    for pool, _ in drifting:
        drifting_per_pool[pool] = drifting_per_pool.get(pool, 0) + 1
    for counts in comparison.per_pool.iter_rows(named=True):
        pool = counts.pop("pool")
        counts["drift"] = drifting_per_pool.get(pool, 0)
        report.pools[pool] = counts
    for pool in pools:
        report.pools.setdefault(pool, {"compared": 0, "drift": 0, "unknown": 0, "absent_in_centra": 0})
    report.drift = len(drifting)
    report.unknown = comparison.unknown.height
    report.unknown_sample = comparison.unknown.head(UNKNOWN_SAMPLE).to_dicts()

    now = utcnow()
    commit = commit or engine.begin
    async with commit() as conn:
        report.converged = await store.record_drift(conn, brand, list(pools), rows, now=now)
        active = await exc_store.active_keys(conn, brand=brand, kind=KIND)
        for pool in sorted(pools):
            counts = report.pools[pool]
            dedupe = f"pool:{pool}"
            if counts["drift"]:
                await exc_store.raise_kind(
                    conn,
                    brand=brand,
                    kind=KIND,
                    dedupe_key=dedupe,
                    owner_team=topology.owner_for(KIND),
                    summary=f"{counts['drift']} SKUs in pool {pool} differ from the expected stock beyond tolerance",
                    evidence={
                        "pool": pool,
                        "pass": "full" if full else "light",
                        "counts": counts,
                        "tolerance": {"units": tolerance.units, "percent": tolerance.percent},
                        "corrected": bool(topology.inventory.correct_drift),
                        "worst": worst.get(pool, []),
                        "unknown_sample": [u for u in report.unknown_sample if u["pool"] == pool],
                    },
                    entity_type="pool",
                    entity_id=pool,
                )
            elif dedupe in active and await exc_store.auto_resolve(conn, brand=brand, kind=KIND, dedupe_key=dedupe):
                report.resolved_pools.append(pool)
        if drifting and topology.inventory.correct_drift:
            from lockstep.flows.inventory.ingest import mark_and_publish

            await store.forget_published(conn, brand, drifting)
            await mark_and_publish(conn, brand, drifting, reason="drift", now=now)
            report.corrected = len(drifting)
    report.seconds["write"] = round(time.perf_counter() - clock, 3)
    return report


async def reconcile(
    services: Any,
    brand: str,
    *,
    full: bool,
    commit: Commit | None = None,
    centra: pl.DataFrame | None = None,
) -> ReconcileReport:
    """One pass for ``brand``: read Centra (unless ``centra`` is given), then :func:`compare_and_record`."""
    topology = services.brands[brand]
    started = utcnow()
    clock = time.perf_counter()
    if centra is None:
        centra = await read_centra(services, topology, sorted(compared_pools(topology)), full=full)
    read_centra_s = round(time.perf_counter() - clock, 3)
    report = await compare_and_record(services.engine, topology, centra, full=full, started=started, commit=commit)
    report.seconds["read_centra"] = read_centra_s
    log.info("stock reconciled", **{k: v for k, v in report.as_dict().items() if k != "unknown_sample"})
    return report


async def _job(ctx: JobContext, *, full: bool) -> None:
    if ctx.brand not in ctx.services.brands:
        raise PermanentError(f"brand {ctx.brand!r} is not in the loaded configuration")
    await reconcile(ctx.services, ctx.brand, full=full, commit=ctx.transaction)


async def reconcile_light_job(ctx: JobContext) -> None:
    await _job(ctx, full=False)


async def reconcile_full_job(ctx: JobContext) -> None:
    await _job(ctx, full=True)


def register(registry: TaskRegistry) -> None:
    registry.register(LIGHT, reconcile_light_job)
    registry.register(FULL, reconcile_full_job)
