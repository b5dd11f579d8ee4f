"""Stock publisher: dirty (pool, SKU) keys -> the stock equation at send time -> ``setStock`` of changed values.

``inventory.publish`` {pool} runs in the pool's lane (``pool:<id>``), the lane shipment confirmations use: a
Centra shipment completion can never land between computing a figure and writing it (DESIGN §4). Each run:

1. reads the pool's oldest dirty keys (at most ``MAX_KEYS_PER_RUN``) and, if any value differs from what
   Centra holds, waits for one mutation of Centra's budget (first in line, see ``write_batches``);
2. then — after the wait, which is most of a publish during a sale — reads the keys again and computes every
   figure from the latest data (readings, in-flight units, buffers), so a burst of changes to one SKU costs one
   computation and at most one write, and changes read while it waited go out with it;
3. keeps only values that differ from what Centra holds (``stock_published``: what Lockstep last wrote, lowered
   by every Centra shipment completed since), sorted by urgency: decreases to the low-stock threshold or below,
   then other decreases, then increases;
4. writes the most urgent ``publish_batch_size`` of them in one ``setStock`` and records it (a crash re-sends an
   absolute value: harmless); more left to write stays dirty and runs the job again, each run with its own
   wait and fresh figures;
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
from lockstep.domain.stock import StockChange, StockFigure, centra_physical, changes_to_send
from lockstep.flows.inventory.ingest import PUBLISH, enqueue_publish, pools_live_at
from lockstep.queue import JobContext, TaskRegistry
from lockstep.store import exceptions as exc_store
from lockstep.store import stock as store
from lockstep.store.db import read_only

log = structlog.get_logger("lockstep.inventory")

MAX_KEYS_PER_RUN = 5000
# Every stock write goes first on Centra's budget (see write_batches): one request carries up to a batch of
# sizes for a pool, the publisher sends at most one at a time per pool, and the budget's starvation floor still
# leaves order fetches and shipment confirmations their share.
STOCK_WRITE_PRIORITY = Priority.URGENT
REJECTED_KIND = "stock_write_rejected"


async def compute_figures(conn: Any, topology: Any, pool: str, skus: list[str]) -> dict[str, StockFigure]:
    """The stock equation for each SKU of one pool, from what the store holds now."""
    live = {entry.facility: entry.share for entry in topology.live_facilities_for_pool(pool)}
    readings = await store.readings_for(conn, topology.brand, skus, live)
    in_flight = await store.in_flight(conn, topology.brand, pool, skus)
    nets = topology.inventory.atp_nets_open_orders
    shared = shared_facilities(topology, pool) if nets else set()
    elsewhere = await store.open_elsewhere(conn, topology.brand, pool, shared, skus) if shared else {}
    return {
        sku: centra_physical(
            live,
            readings.get(sku, {}),
            in_flight.get(sku, ()),
            topology.safety_buffer(pool, sku),
            atp_nets_open_orders=nets,
            elsewhere=elsewhere.get(sku, ()),
        )
        for sku in skus
    }


def shared_facilities(topology: Any, pool: str) -> set[str]:
    """The pool's live facilities that back another pool too: where other pools' orders move its figure."""
    mine = {entry.facility for entry in topology.live_facilities_for_pool(pool)}
    return {code for code in mine if any(other != pool for other in pools_live_at(topology, code))}


def terms_of(figure: StockFigure) -> dict[str, Any]:
    """A figure's terms as JSON for ``stock_published`` (what ``lockstep stock show`` prints)."""
    terms = asdict(figure)
    terms["per_facility"] = dict(figure.per_facility)
    terms["missing"] = list(figure.missing)
    return terms


def write_batches(changes: list[StockChange], batch_size: int) -> list[list[StockChange]]:
    """``setStock`` batches, most urgent first. ``changes`` come sorted by urgency; one mutation writes all its
    sizes at once, so the order only matters across batches — and Centra's mutation budget (Growth: 2/s for
    everything, shipments included) is what a sale runs short of, so sizes are never split by urgency into
    extra mutations. Decreases lead the first batch.

    Every batch goes at ``STOCK_WRITE_PRIORITY``, increases too (restocks are sales waiting). At HIGH, level with
    the order fetches that share Centra's 6 requests/s on Growth, a sale's stock writes waited for a request
    slot up to 6.7 s (peak-sale churn run: lag p99 10.6 s); at NORMAL the restocks waited 32 s."""
    return [changes[start : start + batch_size] for start in range(0, len(changes), batch_size)]


async def _plan(engine: Any, topology: Any, pool: str) -> tuple[list, dict[str, StockFigure], list[StockChange]]:
    """The pool's oldest dirty keys, their figures now, and the values that differ from what Centra holds."""
    async with read_only(engine) as conn:
        keys = await store.dirty_keys(conn, topology.brand, pool, limit=MAX_KEYS_PER_RUN)
        if not keys or not topology.live_facilities_for_pool(pool):
            return keys, {}, []
        skus = [k.sku for k in keys]
        figures = await compute_figures(conn, topology, pool, skus)
        believed = await store.believed(conn, topology.brand, pool, skus)
    unknown = sorted(sku for sku, figure in figures.items() if figure.value is None)
    if unknown:
        log.warning("stock figure unknown: a live facility has no reading", pool=pool, skus=unknown[:10])
    computed = {sku: f.value for sku, f in figures.items() if f.value is not None}
    since = {k.sku: k.since for k in keys}
    return keys, figures, changes_to_send(computed, believed, topology.inventory.low_stock_threshold, since)


async def publish(ctx: JobContext) -> None:
    """One ``setStock`` per run, computed after its mutation budget is granted; more to send runs the job again."""
    pool = str(ctx.payload["pool"])
    topology = ctx.services.brands[ctx.brand]
    brand = ctx.brand
    engine = ctx.services.engine
    settings = topology.inventory

    keys, figures, changes = await _plan(engine, topology, pool)
    batch: list[StockChange] = []
    rejected: list[tuple[str, str]] = []
    if changes:
        centra = ctx.services.centra(brand)
        # During a sale the wait for Centra's mutation budget is most of a publish: what it sends is decided after
        # the wait, from the data of that moment (changes read while it waited go out with it).
        async with centra.mutation_slot(priority=STOCK_WRITE_PRIORITY):
            keys, figures, changes = await _plan(engine, topology, pool)
            if changes:
                batch = write_batches(changes, settings.publish_batch_size)[0]
                result = await centra.set_stock(
                    topology.pool(pool).centra_warehouse,
                    [(c.sku, c.new) for c in batch],
                    priority=STOCK_WRITE_PRIORITY,
                    batch_size=settings.publish_batch_size,
                )
                rejected = list(result.rejected)

    refused = {key for key, _ in rejected}
    waiting = {c.sku for c in changes} - {c.sku for c in batch}  # beyond this run's one mutation: still dirty
    async with ctx.transaction() as conn:  # what Centra now holds, with the keys it settles: one transaction
        written = {c.sku: (c.new, terms_of(figures[c.sku])) for c in batch if c.sku not in refused}
        await store.record_published(conn, brand, pool, written, now=utcnow())
        await store.clear_dirty(conn, brand, [k for k in keys if k.sku not in waiting])
        await _settle_rejections(conn, topology, pool, rejected)
        if waiting or len(keys) >= MAX_KEYS_PER_RUN:
            await enqueue_publish(conn, brand, pool)
    if batch:
        log.info("stock published", pool=pool, sizes=len(batch) - len(rejected), refused=len(rejected))


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
