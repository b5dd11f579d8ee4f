"""Item master sync, Centra -> Deposco (DESIGN §3.1): task ``items.sync``, payload ``{"full": bool}``.

Every active Centra size must exist as a Deposco item before an order for it can be sent, so this flow keeps
the item master in step and keeps the coverage table (``store/items.py``) that the order flow consults.

- **Incremental** (the schedule's default): sizes changed in Centra since the cursor ``items.centra_updated_after``
  minus an overlap (Centra stamps ``updatedAt`` before the change is visible to every reader; a window that
  only moved forward from the last value seen could miss one). Sizes re-read inside the overlap and unchanged
  since the last clean sync are not sent again. Deposco is not read.
- **Full** (``--full``, and the first run of a brand): every Centra size and every Deposco item, compared field
  by field; only items that differ are sent, and Deposco items that no Centra size knows are found.

All HTTP happens before the one transaction that writes the coverage rows, the exceptions and the cursor, so
the cursor never advances past results that were not recorded. A refusal of one item is recorded on its row
and as an exception; it never stops the batch. Deposco becoming unreachable does: what landed is recorded,
the cursor stays before the sizes not sent, and (as a job) a follow-up run is queued in the same commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep.clock import utcnow
from lockstep.connectors.budget import Priority
from lockstep.connectors.deposco.client import DeposcoClient
from lockstep.connectors.deposco.translate import Untranslatable
from lockstep.connectors.errors import Permanent, Transient
from lockstep.domain import items as rules
from lockstep.domain.model import Item
from lockstep.flows import item_plan
from lockstep.flows.item_plan import Entry, Outcome
from lockstep.queue import JobContext, PermanentError, TaskRegistry, enqueue
from lockstep.store import audit, cursors
from lockstep.store import exceptions as exc_store
from lockstep.store import items as item_store

log = structlog.get_logger("lockstep.flows.items")

TASK = "items.sync"
CURSOR = "items.centra_updated_after"
OVERLAP = timedelta(minutes=5)
CONCURRENCY = 4  # upserts in flight: enough to hide latency; the shared rate budget sets the real pace
FOLLOW_UP_DELAY_S = 120.0

Progress = Callable[[str, int, int | None], None]  # phase, units done since the last call, total (if known)
Commit = Callable[[], contextlib.AbstractAsyncContextManager[AsyncConnection]]


@dataclass
class SyncReport:
    brand: str
    full: bool
    centra_sizes: int = 0
    deposco_items: int | None = None  # read on a full sync only
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    refused: int = 0
    failed: int = 0
    missing_in_deposco: int = 0  # active sizes not in Deposco after this run (of those this run looked at)
    missing_in_centra: int | None = None  # Deposco items no Centra size knows (full sync only)
    upserts: int = 0  # requests sent
    interrupted: str | None = None  # why the run stopped early, if it did

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _noop(_phase: str, _done: int, _total: int | None) -> None:
    return None


async def sync_items(
    runtime: Any,
    brand: str,
    *,
    full: bool = False,
    commit: Commit | None = None,
    progress: Progress = _noop,
    follow_up: bool = False,
    actor: str | None = None,
) -> SyncReport:
    """Run one item sync for ``brand``; ``commit`` opens the final transaction (the job's, or a plain one).

    ``follow_up``: when Deposco became unavailable mid-run, queue another run in the same commit (jobs).
    ``actor``: record the run in the audit log under this name (manual runs from the CLI).
    """
    topology = runtime.brands[brand]
    engine = runtime.engine
    commit = commit or engine.begin
    async with engine.connect() as conn:
        cursor_value = await cursors.read(conn, brand=brand, name=CURSOR)
    full = full or cursor_value is None
    since = None if full else datetime.fromisoformat(cursor_value) - OVERLAP
    report = SyncReport(brand, full)

    sizes = []
    async for size in runtime.centra(brand).iter_product_sizes(updated_after=since, priority=Priority.LOW):
        sizes.append(size)
        progress("centra", 1, None)
    report.centra_sizes = len(sizes)
    deposco: DeposcoClient = runtime.deposco(brand)
    listing: dict[str, Item] | None = None
    if full:
        listing = {}
        async for item in deposco.iter_items(priority=Priority.LOW):
            listing[item.number] = item
            progress("deposco", 1, None)
        report.deposco_items = len(listing)

    def fit(item: Item):
        return deposco.check_item(item, brand_name=topology.name)

    previous, owners = {}, {}
    if not full:
        keys = [k for k in (rules.item_key(s, topology.sku_key) for s in sizes) if k]
        async with engine.connect() as conn:
            previous = await item_store.get_rows(conn, brand, keys)
            owners = await item_store.upc_owners(conn, brand, [s.ean.strip() for s in sizes])
    entries = item_plan.plan(
        sizes,
        sku_key=topology.sku_key,
        fit=fit,
        refusal=Untranslatable,
        deposco_items=listing,
        previous=previous,
        upc_owners=owners,
    )
    report.upserts, report.interrupted = await _send(
        deposco, [e for e in entries if e.needs_send], topology.name, progress
    )
    now = utcnow()
    settlement = item_plan.settle(entries, brand=brand, now=now, deposco_items=listing)
    _count(report, entries, settlement)

    async with commit() as conn:
        await item_store.upsert(conn, settlement.rows)
        if full:
            await item_store.delete_unseen(conn, brand, before=now)
        await _record_exceptions(conn, topology, settlement)
        new_cursor = _next_cursor(entries)
        if new_cursor is not None:
            await cursors.write(conn, brand=brand, name=CURSOR, value=new_cursor.isoformat())
        if report.interrupted and follow_up:
            await enqueue(
                conn,
                brand=brand,
                task=TASK,
                payload={"full": full},
                delay_s=FOLLOW_UP_DELAY_S,
                dedupe_key=f"{TASK}:follow-up",
            )
        if actor:
            details = report.as_dict()
            await audit.record(
                conn, brand=brand, actor=actor, action=TASK, entity_type="brand", entity_id=brand, details=details
            )
    log.info("item sync done", **report.as_dict())
    return report


async def _send(
    deposco: DeposcoClient, todo: list[Entry], brand_name: str, progress: Progress
) -> tuple[int, str | None]:
    """Upsert the entries, a few at a time; returns the requests sent and why sending stopped early, if it did."""
    progress("upsert", 0, len(todo))
    queue: asyncio.Queue[Entry] = asyncio.Queue()
    for entry in todo:
        queue.put_nowait(entry)
    stopped: list[str] = []
    sent = 0

    async def worker() -> None:
        nonlocal sent
        while not stopped and not queue.empty():
            entry = queue.get_nowait()
            sent += 1
            try:
                upserted = await deposco.upsert_item(entry.desired, brand_name=brand_name, priority=Priority.LOW)
            except Permanent as exc:
                entry.outcome, entry.error = Outcome.REFUSED, _reason(exc)
            except Transient as exc:
                entry.outcome, entry.error = Outcome.FAILED, f"not sent: {_reason(exc)}"
                stopped.append(_reason(exc))
            else:
                entry.result = upserted.item
                entry.outcome = Outcome.CREATED if not entry.exists else Outcome.UPDATED
            progress("upsert", 1, len(todo))

    await asyncio.gather(*(worker() for _ in range(min(CONCURRENCY, len(todo)))))
    for entry in todo:
        if entry.outcome is None:
            entry.outcome, entry.error = Outcome.FAILED, f"not sent: {stopped[0]}"
    return sent, (stopped[0] if stopped else None)


def _reason(exc: Exception) -> str:
    details = "; ".join(e.message for e in getattr(exc, "user_errors", []) if e.message)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (f"{text} ({details})" if details and details not in text else text)[:1000]


def _count(report: SyncReport, entries: list[Entry], settlement: item_plan.Settlement) -> None:
    for entry in entries:
        name = entry.outcome.value if entry.outcome else "failed"
        setattr(report, name, getattr(report, name) + 1)
    report.missing_in_deposco = settlement.missing_in_deposco
    report.missing_in_centra = settlement.missing_in_centra


def _next_cursor(entries: list[Entry]) -> datetime | None:
    """The newest ``updatedAt`` recorded, or, if some sizes could not be sent, the oldest of those."""
    failed = [e.size.updated_at for e in entries if e.outcome == Outcome.FAILED and e.size.updated_at]
    if failed:
        return min(failed)
    seen = [e.size.updated_at for e in entries if e.size.updated_at]
    return max(seen) if seen else None


async def _record_exceptions(conn: AsyncConnection, topology: Any, settlement: item_plan.Settlement) -> None:
    brand = topology.brand
    for kind, keys in settlement.resolve_all_but.items():
        for key in await exc_store.active_keys(conn, brand=brand, kind=kind) - keys:
            await exc_store.auto_resolve(conn, brand=brand, kind=kind, dedupe_key=key)
    for kind, keys in settlement.resolve.items():
        active = await exc_store.active_keys(conn, brand=brand, kind=kind)
        for key in keys & active:
            await exc_store.auto_resolve(conn, brand=brand, kind=kind, dedupe_key=key)
    for found in settlement.raises:
        await exc_store.raise_kind(
            conn,
            brand=brand,
            kind=found.kind,
            dedupe_key=found.dedupe_key,
            summary=found.summary,
            evidence=found.evidence,
            owner_team=topology.owner_for(found.kind),
            entity_type=found.entity_type,
            entity_id=found.entity_id,
        )


async def sync_job(ctx: JobContext) -> None:
    """The ``items.sync`` handler; the results commit together with the job's completion."""
    if ctx.brand not in ctx.services.brands:
        raise PermanentError(f"brand {ctx.brand!r} is not in the loaded configuration")
    await sync_items(
        ctx.services, ctx.brand, full=bool(ctx.payload.get("full", False)), commit=ctx.transaction, follow_up=True
    )


def register(registry: TaskRegistry) -> None:
    registry.register(TASK, sync_job)
