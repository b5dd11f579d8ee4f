"""Job rows: enqueue (inside the caller's transaction), claim, finish, retry, dead-letter, sweep, admin.

Every state transition of a claimed job is fenced by its ``lease_token``: a worker whose lease expired (and whose
job another worker has since claimed) cannot complete, retry or bury it; its statements match no row and its
transaction is rolled back. That is what makes "re-run after the lease expires" safe rather than a duplicate.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep.clock import utcnow
from lockstep.queue.retry import DEFAULT_POLICY
from lockstep.store.db import insert_for
from lockstep.store.tables import jobs

PENDING, RUNNING, DONE, DEAD = "pending", "running", "done", "dead"
STATUSES = (PENDING, RUNNING, DONE, DEAD)


@dataclass(frozen=True)
class Job:
    id: int
    brand: str
    task: str
    payload: dict[str, Any]
    status: str
    priority: int
    run_at: datetime
    lane: str | None
    dedupe_key: str | None
    attempts: int
    max_attempts: int
    last_error: str | None
    worker_id: str | None
    lease_token: str | None
    lease_expires_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row) -> Job:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


async def enqueue(conn: AsyncConnection, **fields: Any) -> int:
    """Add a job in the caller's transaction and return its id (``fields`` as :func:`job_values` takes them).

    Coalescing: while a *pending* job with the same ``(brand, dedupe_key)`` exists, no second job is created;
    the existing one keeps the earlier ``run_at`` and the higher ``priority`` of the two, and takes the newer
    payload (the latest enqueue knows the most). A job that is already running is not touched: the new enqueue
    creates a fresh pending job, so a change that arrives mid-run is never swallowed.
    """
    values = job_values(**fields)
    result = await conn.execute(_insert(conn, coalescing=values["dedupe_key"] is not None, returning=True), values)
    return result.scalar_one()


def job_values(
    *,
    brand: str,
    task: str,
    payload: dict[str, Any] | None = None,
    priority: int = 0,
    run_at: datetime | None = None,
    delay_s: float = 0.0,
    lane: str | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = DEFAULT_POLICY.max_attempts,
) -> dict[str, Any]:
    """The row of a new pending job (what :func:`enqueue` inserts; :func:`enqueue_many` takes a list of them)."""
    now = utcnow()
    return {
        "brand": brand,
        "task": task,
        "payload": payload or {},
        "status": PENDING,
        "priority": priority,
        "run_at": run_at or (now + timedelta(seconds=delay_s)),
        "lane": lane,
        "dedupe_key": dedupe_key,
        "attempts": 0,
        "max_attempts": max_attempts,
        "created_at": now,
    }


async def enqueue_many(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """:func:`enqueue` for many jobs (rows from :func:`job_values`) in at most two statements, with the same
    coalescing; for a batch that enqueues a job per item it handles (ids are not returned). Rows sharing a dedupe
    key are merged first, as consecutive enqueues would be: one statement must not update a row twice."""
    plain = [row for row in rows if row["dedupe_key"] is None]
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        if row["dedupe_key"] is None:
            continue
        key = (row["brand"], row["dedupe_key"])
        earlier = merged.get(key)
        if earlier is not None:
            row = {
                **row,
                "run_at": min(earlier["run_at"], row["run_at"]),
                "priority": max(earlier["priority"], row["priority"]),
            }
        merged[key] = row
    if plain:
        await conn.execute(_insert(conn, coalescing=False), plain)
    if merged:
        await conn.execute(_insert(conn, coalescing=True), list(merged.values()))


_INSERTS: dict[tuple[str, bool, bool], Any] = {}


def _insert(conn: AsyncConnection, *, coalescing: bool, returning: bool = False):
    """The job INSERT, coalescing into a pending job with the same dedupe key when asked. Built once per dialect:
    constructing the ON CONFLICT clause costs more than running it."""
    key = (conn.dialect.name, coalescing, returning)
    stmt = _INSERTS.get(key)
    if stmt is not None:
        return stmt
    stmt = insert_for(conn)(jobs)
    if coalescing:
        excluded = stmt.excluded
        sqlite = conn.dialect.name == "sqlite"
        stmt = stmt.on_conflict_do_update(
            index_elements=[jobs.c.brand, jobs.c.dedupe_key],
            index_where=text("status = 'pending' AND dedupe_key IS NOT NULL"),
            set_={
                "run_at": (func.min if sqlite else func.least)(jobs.c.run_at, excluded.run_at),
                "priority": (func.max if sqlite else func.greatest)(jobs.c.priority, excluded.priority),
                "payload": excluded.payload,
                "task": excluded.task,
                "lane": excluded.lane,
            },
        )
    if returning:
        stmt = stmt.returning(jobs.c.id)
    _INSERTS[key] = stmt
    return stmt


async def claim(
    conn: AsyncConnection,
    *,
    worker_id: str,
    limit: int,
    lease_s: float,
    brands: list[str] | None = None,
    batches: Mapping[str, int] | None = None,
    max_calls: Mapping[str, int] | None = None,
    running_calls: Mapping[tuple[str, str], int] | None = None,
) -> list[Job]:
    """Claim ready jobs for up to ``limit`` handler calls of ``worker_id``; the caller's transaction must be
    committed after.

    A job is one call, except for a batch task (``batches``: task -> batch size), whose jobs of one brand fill
    calls of up to that many jobs each. ``max_calls``: task -> how many calls of it (per brand) may run at once;
    ``running_calls``: (task, brand) -> how many of them already run in this worker.

    At most one job per lane is handed out, and none from a lane that already has a running job. On PostgreSQL
    candidates are locked with ``FOR UPDATE SKIP LOCKED`` so workers never wait on each other, and a lane is
    additionally guarded by a transaction-scoped advisory lock followed by a fresh "is it running?" read (a new
    statement sees every claim committed before the lock was granted). On SQLite the transaction began with
    ``BEGIN IMMEDIATE``, which already serialises claims. The partial unique index on running lanes backs both.
    """
    if limit <= 0:
        return []
    now = utcnow()
    postgres = conn.dialect.name == "postgresql"
    ready = and_(jobs.c.status == PENDING, jobs.c.run_at <= now)
    if brands:
        ready = and_(ready, jobs.c.brand.in_(brands))
    batches = {task: size for task, size in (batches or {}).items() if size > 1}
    max_calls = dict(max_calls or {})
    running_calls = dict(running_calls or {})
    used_up = [(t, b) for (t, b), n in running_calls.items() if t in max_calls and n >= max_calls[t]]
    if used_up:
        ready = and_(ready, ~tuple_(jobs.c.task, jobs.c.brand).in_(used_up))
    order = (jobs.c.priority.desc(), jobs.c.run_at, jobs.c.id)

    running = jobs.alias("running")
    lane_busy = (
        select(running.c.id)
        .where(running.c.status == RUNNING, running.c.brand == jobs.c.brand, running.c.lane == jobs.c.lane)
        .exists()
    )
    # One scan for both kinds of job. It over-fetches so that a backlog in one lane (of which only the head
    # can run) does not hide the jobs behind it; that lane is "busy" at the next claim and drops out. Batch
    # tasks add room for full calls (batch size x the calls they may open).
    stmt = (
        select(jobs.c.id, jobs.c.priority, jobs.c.run_at, jobs.c.brand, jobs.c.lane, jobs.c.task)
        .where(ready, or_(jobs.c.lane.is_(None), ~lane_busy))
        .order_by(*order)
        .limit(limit * 4 + sum(size * min(limit, max_calls.get(task, limit)) for task, size in batches.items()))
    )
    if postgres:
        stmt = stmt.with_for_update(skip_locked=True, of=jobs)
    candidates = []
    heads: dict[tuple[str, str], Any] = {}
    for row in await conn.execute(stmt):
        if row.lane is None:
            candidates.append(row)
        else:
            heads.setdefault((row.brand, row.lane), row)
    if heads and postgres:
        heads = await _lock_idle_lanes(conn, heads)
    candidates += list(heads.values())
    candidates.sort(key=lambda r: (-r.priority, r.run_at, r.id))
    ids = _fill_calls(candidates, limit, batches, max_calls, running_calls)
    if not ids:
        return []

    token = str(uuid.uuid4())
    stmt = (
        update(jobs)
        .where(jobs.c.id.in_(ids), jobs.c.status == PENDING)
        .values(
            status=RUNNING,
            attempts=jobs.c.attempts + 1,
            worker_id=worker_id,
            lease_token=token,
            lease_expires_at=now + timedelta(seconds=lease_s),
            started_at=now,
        )
        .returning(*jobs.c)
    )
    claimed = [Job.from_row(r) for r in await conn.execute(stmt)]
    claimed.sort(key=lambda j: (-j.priority, j.run_at, j.id))
    return claimed


def _fill_calls(
    candidates: list[Any],
    limit: int,
    batches: Mapping[str, int],
    max_calls: Mapping[str, int],
    running_calls: dict[tuple[str, str], int],
) -> list[int]:
    """The ids to claim, best first: each job opens a call, or joins the open call of its batch task and brand
    while it has room; at most ``limit`` calls, and no pair beyond its task's ``max_calls``."""
    ids: list[int] = []
    calls = 0
    room: dict[tuple[str, str], int] = {}  # (task, brand) -> jobs its open call can still take
    for row in candidates:
        pair = (row.task, row.brand)
        if room.get(pair, 0) > 0:
            room[pair] -= 1
            ids.append(row.id)
            continue
        if calls >= limit:
            continue
        if row.task in max_calls:
            if running_calls.get(pair, 0) >= max_calls[row.task]:
                continue
            running_calls[pair] = running_calls.get(pair, 0) + 1
        calls += 1
        room[pair] = batches.get(row.task, 1) - 1
        ids.append(row.id)
    return ids


async def _lock_idle_lanes(conn: AsyncConnection, heads: dict) -> dict:
    """Keep the lanes whose advisory lock we got and that nobody claimed meanwhile (PostgreSQL only)."""
    locked = {}
    for key, row in heads.items():
        got = await conn.scalar(
            select(func.pg_try_advisory_xact_lock(func.hashtextextended(f"lockstep-lane:{key[0]}:{key[1]}", 0)))
        )
        if got:
            locked[key] = row
    if not locked:
        return {}
    busy = await conn.execute(
        select(jobs.c.brand, jobs.c.lane).where(
            jobs.c.status == RUNNING, tuple_(jobs.c.brand, jobs.c.lane).in_(list(locked))
        )
    )
    for brand, lane in busy:
        locked.pop((brand, lane), None)
    return locked


def _held(job: Job):
    return and_(jobs.c.id == job.id, jobs.c.status == RUNNING, jobs.c.lease_token == job.lease_token)


async def complete(conn: AsyncConnection, job: Job) -> bool:
    """Mark done in the caller's transaction; False if the lease was lost (the caller must roll back)."""
    result = await conn.execute(
        update(jobs)
        .where(_held(job))
        .values(status=DONE, finished_at=utcnow(), lease_token=None, lease_expires_at=None, last_error=None)
    )
    return result.rowcount == 1


async def complete_many(conn: AsyncConnection, held: list[Job]) -> set[int]:
    """Mark several jobs done in one statement; returns the ids whose lease was still ours."""
    if not held:
        return set()
    pairs = [(j.id, j.lease_token) for j in held]
    result = await conn.execute(
        update(jobs)
        .where(jobs.c.status == RUNNING, tuple_(jobs.c.id, jobs.c.lease_token).in_(pairs))
        .values(status=DONE, finished_at=utcnow(), lease_token=None, lease_expires_at=None, last_error=None)
        .returning(jobs.c.id)
    )
    return {r.id for r in result}


async def reschedule(conn: AsyncConnection, job: Job, *, delay_s: float, error: str) -> bool:
    """Put a failed job back to pending after ``delay_s``; False if the lease was lost."""
    return await _back_to_pending(
        conn,
        job,
        _held(job),
        run_at=utcnow() + timedelta(seconds=delay_s),
        attempts=job.attempts,
        last_error=error,
        worker_id=None,
        lease_token=None,
        lease_expires_at=None,
    )


async def _back_to_pending(conn: AsyncConnection, job: Job, where, **values: Any) -> bool:
    """Make ``job`` pending again, or fold it into the pending job that already carries its dedupe key.

    The dedupe key is unique among *pending* jobs: while a job runs, a new enqueue of the same work creates a
    fresh pending twin (so a change that arrives mid-run is not swallowed). If the running one then fails, it
    cannot go back to pending beside its twin; the twin already holds the same work, so the failed job is
    finished as coalesced and the twin takes its earlier ``run_at``, higher priority and attempt count (a job
    that keeps failing still reaches the dead-letter table). Checked first, and again after a unique violation:
    on PostgreSQL a twin may commit between the check and the update.
    """
    if job.dedupe_key is not None and (twin := await _pending_twin(conn, job)) is not None:
        return await _coalesce(conn, job, twin, where, values)
    try:
        async with conn.begin_nested():
            result = await conn.execute(update(jobs).where(where).values(status=PENDING, **values))
    except IntegrityError:
        if job.dedupe_key is None or (twin := await _pending_twin(conn, job)) is None:
            raise
        return await _coalesce(conn, job, twin, where, values)
    return result.rowcount == 1


async def _pending_twin(conn: AsyncConnection, job: Job):
    stmt = select(jobs.c.id, jobs.c.run_at, jobs.c.priority, jobs.c.attempts).where(
        jobs.c.brand == job.brand,
        jobs.c.dedupe_key == job.dedupe_key,
        jobs.c.status == PENDING,
        jobs.c.id != job.id,
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).first()


async def _coalesce(conn: AsyncConnection, job: Job, twin, where, values: dict[str, Any]) -> bool:
    reason = f"coalesced into pending job {twin.id} (same dedupe key): {values.get('last_error', job.last_error)}"
    finished = await conn.execute(
        update(jobs)
        .where(where)
        .values(
            status=DONE,
            finished_at=utcnow(),
            last_error=reason,
            lease_token=None,
            lease_expires_at=None,
        )
    )
    if finished.rowcount != 1:
        return False
    merged = {
        "run_at": min(twin.run_at, values["run_at"]),
        "priority": max(twin.priority, job.priority),
        "attempts": max(twin.attempts, values["attempts"]),
    }
    if "last_error" in values:
        merged["last_error"] = values["last_error"]
    await conn.execute(update(jobs).where(jobs.c.id == twin.id).values(**merged))
    return True


async def bury(conn: AsyncConnection, job: Job, *, error: str) -> bool:
    """Dead-letter a job; False if the lease was lost."""
    result = await conn.execute(
        update(jobs)
        .where(_held(job))
        .values(status=DEAD, finished_at=utcnow(), last_error=error, lease_token=None, lease_expires_at=None)
    )
    return result.rowcount == 1


async def extend_leases(conn: AsyncConnection, held: list[Job], lease_s: float) -> set[int]:
    """Heartbeat: push the lease of every job still held; returns the ids whose lease is still ours."""
    if not held:
        return set()
    pairs = [(j.id, j.lease_token) for j in held]
    result = await conn.execute(
        update(jobs)
        .where(jobs.c.status == RUNNING, tuple_(jobs.c.id, jobs.c.lease_token).in_(pairs))
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_s))
        .returning(jobs.c.id)
    )
    return {r.id for r in result}


async def expired(conn: AsyncConnection, *, limit: int = 500) -> list[Job]:
    """Running jobs whose lease has expired: their worker died or hung."""
    stmt = select(jobs).where(jobs.c.status == RUNNING, jobs.c.lease_expires_at < utcnow()).limit(limit)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return [Job.from_row(r) for r in await conn.execute(stmt)]


# --- admin -----------------------------------------------------------------------------------------------


async def get(conn: AsyncConnection, job_id: int) -> Job | None:
    row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).first()
    return Job.from_row(row) if row else None


async def list_jobs(
    conn: AsyncConnection,
    *,
    brand: str | None = None,
    status: str | None = None,
    task: str | None = None,
    limit: int = 50,
) -> list[Job]:
    stmt = select(jobs).order_by(jobs.c.id.desc()).limit(limit)
    if brand:
        stmt = stmt.where(jobs.c.brand == brand)
    if status:
        stmt = stmt.where(jobs.c.status == status)
    if task:
        stmt = stmt.where(jobs.c.task == task)
    return [Job.from_row(r) for r in await conn.execute(stmt)]


async def retry_now(conn: AsyncConnection, job_id: int) -> bool:
    """Give a dead (or waiting) job a fresh set of attempts, runnable now."""
    job = await get(conn, job_id)
    if job is None or job.status not in (DEAD, PENDING):
        return False
    where = and_(jobs.c.id == job_id, jobs.c.status == job.status)
    return await _back_to_pending(conn, job, where, run_at=utcnow(), attempts=0, finished_at=None)


async def purge(conn: AsyncConnection, *, older_than: timedelta, statuses=(DONE,), brand: str | None = None) -> int:
    """Delete finished jobs older than ``older_than`` (by finish time). Never touches pending or running jobs."""
    allowed = [s for s in statuses if s in (DONE, DEAD)]
    stmt = delete(jobs).where(jobs.c.status.in_(allowed), jobs.c.finished_at < utcnow() - older_than)
    if brand:
        stmt = stmt.where(jobs.c.brand == brand)
    return (await conn.execute(stmt)).rowcount


async def counts(conn: AsyncConnection, brand: str | None = None) -> dict[str, int]:
    stmt = select(jobs.c.status, func.count()).group_by(jobs.c.status)
    if brand:
        stmt = stmt.where(jobs.c.brand == brand)
    found = dict((await conn.execute(stmt)).all())
    return {s: found.get(s, 0) for s in STATUSES}


async def oldest_pending_age_s(conn: AsyncConnection, brand: str | None = None) -> float | None:
    stmt = select(func.min(jobs.c.run_at)).where(jobs.c.status == PENDING, jobs.c.run_at <= utcnow())
    if brand:
        stmt = stmt.where(jobs.c.brand == brand)
    oldest = (await conn.execute(stmt)).scalar()
    if oldest is None:
        return None
    if oldest.tzinfo is None:  # SQLite aggregate results bypass the column type
        oldest = datetime.fromisoformat(str(oldest)).replace(tzinfo=UTC)
    return max(0.0, (utcnow() - oldest).total_seconds())


async def release(conn: AsyncConnection, job: Job) -> bool:
    """Give a job back untried (graceful shutdown): pending now, and the interrupted attempt not counted."""
    return await _back_to_pending(
        conn,
        job,
        _held(job),
        run_at=utcnow(),
        attempts=max(0, job.attempts - 1),
        last_error="released at worker shutdown",
        worker_id=None,
        lease_token=None,
        lease_expires_at=None,
    )
