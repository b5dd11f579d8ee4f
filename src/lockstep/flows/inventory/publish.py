"""Stock publisher: dirty (pool, SKU) keys -> the stock equation at send time -> ``setStock`` of changed values.

``inventory.publish`` {pool} runs in the pool's lane (``pool:<id>``), the lane shipment confirmations use: a
Centra shipment completion can never land between computing a figure and writing it (DESIGN §4). Each run:

1. reads the pool's oldest dirty keys (at most ``MAX_KEYS_PER_RUN``; a bigger backlog re-enqueues the job);
2. computes every figure from the latest data — readings, in-flight units, buffers — at send time, so a burst of
   changes to one SKU costs one computation and at most one write;
3. keeps only values that differ from what Centra holds (``stock_published``: what Lockstep last wrote, lowered
   by every Centra shipment completed since), sorted by urgency: decreases to the low-stock threshold or below,
   then other decreases, then increases;
4. writes them in ``setStock`` batches of ``publish_batch_size`` sizes, most urgent first — a batch with a
   decrease at HIGH priority on the Centra budget, and one of increases only too (restocks are sales waiting;
   decreases still lead) — recording each batch as it lands (a crash re-sends an absolute value:
   harmless);
5. clears the keys it handled unless they were dirtied again meanwhile.

A figure that is unknown (a live facility without a reading) is not written; the key is cleared and the reason
kept in the log and in ``lockstep stock show``. A size Centra refuses (unknown SKU) becomes one
``stock_write_rejected`` exception per pool naming the sizes; the other sizes of its batch still land.
A pool without any live facility is left alone: Lockstep does not own that Centra warehouse's stock yet.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import structlog

from lockstep.clock import utcnow
from lockstep.connectors.budget import Priority
from lockstep.domain.stock import StockChange, StockFigure, Urgency, centra_physical, changes_to_send, urgency
from lockstep.flows.inventory.ingest import PUBLISH, enqueue_publish
from lockstep.queue import JobContext, TaskRegistry
from lockstep.store import exceptions as exc_store
from lockstep.store import stock as store

log = structlog.get_logger("lockstep.inventory")

MAX_KEYS_PER_RUN = 5000
INCREASE_PRIORITY = Priority.HIGH  # see write_batches
REJECTED_KIND = "stock_write_rejected"


async def compute_figures(conn: Any, topology: Any, pool: str, skus: list[str]) -> dict[str, StockFigure]:
    """The stock equation for each SKU of one pool, from what the store holds now."""
    live = {entry.facility: entry.share for entry in topology.live_facilities_for_pool(pool)}
    readings = await store.readings_for(conn, topology.brand, skus, live)
    in_flight = await store.in_flight(conn, topology.brand, pool, skus)
    nets = topology.inventory.atp_nets_open_orders
    return {
        sku: centra_physical(
            live,
            readings.get(sku, {}),
            in_flight.get(sku, ()),
            topology.safety_buffer(pool, sku),
            atp_nets_open_orders=nets,
        )
        for sku in skus
    }


def terms_of(figure: StockFigure) -> dict[str, Any]:
    """A figure's terms as JSON for ``stock_published`` (what ``lockstep stock show`` prints)."""
    terms = asdict(figure)
    terms["per_facility"] = dict(figure.per_facility)
    terms["missing"] = list(figure.missing)
    return terms


def write_batches(
    changes: list[StockChange], low_stock_threshold: int, batch_size: int
) -> list[tuple[list[StockChange], Priority]]:
    """``setStock`` batches, most urgent first. ``changes`` come sorted by urgency; one mutation writes all its
    sizes at once, so the order only matters across batches — and Centra's mutation budget (Growth: 2/s for
    everything, shipments included) is what a sale runs short of, so sizes are never split by urgency into
    extra mutations. A batch with any decrease goes at HIGH priority, and so does one of increases only
    (``INCREASE_PRIORITY``): the budget is shared with order fetches, which are HIGH while an order is on its way
    to Deposco, and at NORMAL a sale's restocks waited behind them (peak-sale churn run: stock-lag p99 32 s at
    NORMAL, 11 s at HIGH). Decreases still go first: they lead the first batch, and batches go in order."""
    batches = []
    for start in range(0, len(changes), batch_size):
        chunk = changes[start : start + batch_size]
        urgent = any(urgency(c, low_stock_threshold) != Urgency.INCREASE for c in chunk)
        batches.append((chunk, Priority.HIGH if urgent else INCREASE_PRIORITY))
    return batches


async def publish(ctx: JobContext) -> None:
    pool = str(ctx.payload["pool"])
    topology = ctx.services.brands[ctx.brand]
    brand = ctx.brand
    engine = ctx.services.engine
    pool_config = topology.pool(pool)
    settings = topology.inventory

    async with engine.connect() as conn:
        keys = await store.dirty_keys(conn, brand, pool, limit=MAX_KEYS_PER_RUN)
        if not keys or not topology.live_facilities_for_pool(pool):
            figures, believed = {}, {}
        else:
            skus = [k.sku for k in keys]
            figures = await compute_figures(conn, topology, pool, skus)
            believed = await store.believed(conn, brand, pool, skus)

    unknown = sorted(sku for sku, figure in figures.items() if figure.value is None)
    if unknown:
        log.warning("stock figure unknown: a live facility has no reading", pool=pool, skus=unknown[:10])
    computed = {sku: f.value for sku, f in figures.items() if f.value is not None}
    changes = changes_to_send(computed, believed, settings.low_stock_threshold)

    centra = ctx.services.centra(brand) if changes else None
    rejected: list[tuple[str, str]] = []
    for chunk, priority in write_batches(changes, settings.low_stock_threshold, settings.publish_batch_size):
        result = await centra.set_stock(
            pool_config.centra_warehouse,
            [(c.sku, c.new) for c in chunk],
            priority=priority,
            batch_size=settings.publish_batch_size,
        )
        refused = {key for key, _ in result.rejected}
        rejected += list(result.rejected)
        async with engine.begin() as conn:
            await store.record_published(
                conn,
                brand,
                pool,
                {c.sku: (c.new, terms_of(figures[c.sku])) for c in chunk if c.sku not in refused},
                now=utcnow(),
            )

    async with ctx.transaction() as conn:
        await store.clear_dirty(conn, brand, keys)
        await _settle_rejections(conn, topology, pool, rejected)
        if len(keys) >= MAX_KEYS_PER_RUN:
            await enqueue_publish(conn, brand, pool)
    if changes:
        log.info("stock published", pool=pool, sizes=len(changes) - len(rejected), refused=len(rejected))


async def _settle_rejections(conn: Any, topology: Any, pool: str, rejected: list[tuple[str, str]]) -> None:
    """One open exception per pool for sizes Centra refused; resolved by a run where none is refused."""
    brand = topology.brand
    if rejected:
        await exc_store.raise_kind(
            conn,
            brand=brand,
            kind=REJECTED_KIND,
            dedupe_key=f"pool:{pool}",
            summary=f"Centra refused stock for {len(rejected)} size(s) in pool {pool}",
            evidence={"pool": pool, "sizes": [{"sku": k, "reason": r} for k, r in rejected[:50]]},
            owner_team=topology.owner_for(REJECTED_KIND),
            entity_type="pool",
            entity_id=pool,
            count=len(rejected),
        )


def register(registry: TaskRegistry) -> None:
    registry.register(PUBLISH, publish)
