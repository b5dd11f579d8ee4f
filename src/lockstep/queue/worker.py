"""The worker: claims jobs, runs their handlers concurrently, heartbeats leases, sweeps lost ones.

A handler receives a :class:`JobContext`. Its database writes belong in ``async with ctx.transaction() as conn``:
the job is marked done in that same transaction, so either both the effect and the completion are committed or
neither is (a crash in between re-runs the job; a lease lost in between rolls the effect back). External calls
(HTTP) go *before* that block so no database transaction, and on SQLite no write lock, is held while waiting on
the network. A handler that never opens the block is completed by the worker when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lockstep.queue import jobs as q
from lockstep.queue.errors import LeaseLost, PermanentError, RetryLater
from lockstep.queue.metrics import JOB_SECONDS, JOBS_FINISHED, LEASES_EXPIRED
from lockstep.queue.registry import TaskRegistry
from lockstep.store import exceptions as exc_store

log = structlog.get_logger("lockstep.queue")

OwnerResolver = Callable[[str, str], str | None]


# Handler calls one worker runs at once. Most of a call is waiting: on a remote API, or on a rate budget before
# it may send. Too few slots and a backlog of one kind of job asleep on its budget (shipment confirmations on
# Centra's mutations) holds every slot while other work, with budget to spare, waits; tasks that must not
# multiply are capped with ``max_calls`` and lanes instead.
DEFAULT_CONCURRENCY = 32


@dataclass
class JobContext:
    """What a handler gets. ``job`` is the (first) job; a batch task's handler gets every job of its batch in
    ``jobs`` (same task and brand), and ``transaction()`` then completes all of them with the handler's writes."""

    job: q.Job
    engine: AsyncEngine
    services: Any = None
    jobs: list[q.Job] = field(default_factory=list)
    completed: bool = field(default=False, init=False)
    # Told when the jobs' outcome starts being written: from then on a heartbeat that no longer finds them
    # running sees the handler's own completion, not a lost lease.
    on_settle: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        if not self.jobs:
            self.jobs = [self.job]

    @property
    def brand(self) -> str:
        return self.job.brand

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [job.payload for job in self.jobs]

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """The job's final transaction: the handler's writes and the completion commit together."""
        if self.completed:
            raise RuntimeError("a job can only complete once; open ctx.transaction() a single time")
        if self.on_settle is not None:
            self.on_settle()
        async with self.engine.begin() as conn:
            yield conn
            if len(self.jobs) == 1:
                if not await q.complete(conn, self.job):
                    raise LeaseLost(f"job {self.job.id}: lease lost before completion; changes rolled back")
            else:
                ours = await q.complete_many(conn, self.jobs)
                if len(ours) != len(self.jobs):
                    lost = sorted(j.id for j in self.jobs if j.id not in ours)
                    raise LeaseLost(f"jobs {lost}: lease lost before completion; changes of the batch rolled back")
        self.completed = True

    async def transaction_per_chunk(
        self,
        items: Sequence[Any],
        size: int,
        apply: Callable[[AsyncConnection, Sequence[Any]], Awaitable[None]],
        finish: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> None:
        """``apply`` to ``items`` ``size`` at a time, one transaction each; the last chunk and ``finish`` (a cursor
        write, say) go in the job's final transaction.

        For work that re-reads a window (a poll's overlap) and applies idempotently: on SQLite a transaction holds
        the process's only writer, and a sale's re-fetch of a few thousand orders in one held it for 3 s while
        the stock scan and publish waited. A crash between chunks re-runs the job, which applies the same items
        again to the same effect; the cursor moves only with the last chunk."""
        chunks = [items[start : start + size] for start in range(0, len(items), size)] or [items[:0]]
        for chunk in chunks[:-1]:
            async with self.engine.begin() as conn:
                await apply(conn, chunk)
        async with self.transaction() as conn:
            await apply(conn, chunks[-1])
            if finish is not None:
                await finish(conn)


class _BatchCompleter:
    """Completes jobs whose handler wrote nothing to the database, many per transaction.

    Such a job has no database effect to commit atomically with its completion, so folding the completions of
    jobs that finish at about the same moment into one UPDATE changes nothing about the guarantees (a crash
    before the commit re-runs them, as it would with one transaction each) and saves a commit per job.
    """

    def __init__(self, engine: AsyncEngine, max_batch: int = 200):
        self.engine = engine
        self.max_batch = max_batch
        self.waiting: list[tuple[q.Job, asyncio.Future]] = []
        self.flusher: asyncio.Task | None = None

    async def complete(self, job: q.Job) -> None:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((job, future))
        if self.flusher is None or self.flusher.done():
            self.flusher = asyncio.create_task(self._flush())
        if not await future:
            raise LeaseLost(f"job {job.id}: lease lost before completion")

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the other handlers finishing in this loop turn join the batch
        while self.waiting:
            batch, self.waiting = self.waiting[: self.max_batch], self.waiting[self.max_batch :]
            try:
                async with self.engine.begin() as conn:
                    ours = await q.complete_many(conn, [job for job, _ in batch])
            except Exception as error:
                for _, future in batch:
                    future.set_exception(error)
                continue
            for job, future in batch:
                future.set_result(job.id in ours)


def _describe(error: BaseException) -> str:
    from lockstep.config.secrets import redact

    # SQLAlchemy appends the statement and parameters on further lines: keep the first line only
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__
    return redact(text)[:2000]


class Worker:
    def __init__(
        self,
        engine: AsyncEngine,
        registry: TaskRegistry,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        lease_s: float = 30.0,
        poll_interval_s: float = 0.25,
        grace_s: float = 30.0,
        brands: list[str] | None = None,
        services: Any = None,
        owner_for: OwnerResolver | None = None,
        worker_id: str | None = None,
    ):
        self.engine = engine
        self.registry = registry
        self.concurrency = concurrency
        self.lease_s = lease_s
        self.poll_interval_s = poll_interval_s
        self.grace_s = grace_s
        self.brands = brands
        self.services = services
        self.owner_for = owner_for or (lambda _brand, _kind: None)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.inflight: dict[asyncio.Task, list[q.Job]] = {}
        self.settling: set[int] = set()  # jobs whose own handler is writing their outcome (see _heartbeat)
        self.running = 0  # handler calls in flight (a batch of jobs is one call)
        self.calls: Counter[tuple[str, str]] = Counter()  # (task, brand) -> calls in flight, for max_calls
        self.batches = {t.name: t.batch for t in registry.tasks.values() if t.batch > 1}
        self.max_calls = {t.name: t.max_calls for t in registry.tasks.values() if t.max_calls is not None}
        self.completer = _BatchCompleter(engine)
        self.stats = {"done": 0, "retried": 0, "dead": 0, "lost": 0, "swept": 0}

    # --- main loop ----------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, until_idle: bool = False) -> dict[str, int]:
        """Work until ``stop`` is set (or, with ``until_idle``, until nothing is ready and nothing runs)."""
        log.info("worker started", worker=self.worker_id, concurrency=self.concurrency)
        with contextlib.suppress(Exception):
            await self.sweep()  # take over what dead workers left before looking for new work
        background = [asyncio.create_task(self._heartbeat(stop)), asyncio.create_task(self._sweep_loop(stop))]
        stop_wait = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                free = self.concurrency - self.running
                # Claim in batches: topping up one slot at a time would cost a claim transaction per job.
                batch_ready = free >= max(1, self.concurrency // 2) or not self.inflight
                # A call that ends during the claim may have held back jobs of its task (max_calls): idle only
                # if nothing was running when the claim began.
                ran_before = bool(self.inflight)
                claimed = await self._claim(free) if free > 0 and batch_ready else []
                groups = self._groups(claimed)
                for group in groups:
                    task = asyncio.create_task(self._execute(group))
                    self.inflight[task] = group
                    self.running += 1
                    self.calls[(group[0].task, group[0].brand)] += 1
                    task.add_done_callback(self._finished)
                if until_idle and not claimed and not self.inflight and not ran_before:
                    break
                if (groups and len(groups) == free) or (free > 0 and not batch_ready):
                    # More work is likely ready: wake as soon as a handler finishes.
                    await asyncio.wait([*self.inflight, stop_wait], return_when=asyncio.FIRST_COMPLETED)
                    continue
                waiters = [*self.inflight, stop_wait]
                await asyncio.wait(waiters, timeout=self.poll_interval_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_wait.cancel()
            await self._drain()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            log.info("worker stopped", worker=self.worker_id, **self.stats)
        return dict(self.stats)

    def _finished(self, task: asyncio.Task) -> None:
        group = self.inflight.pop(task, ())
        if group:
            self.running -= 1
            pair = (group[0].task, group[0].brand)
            self.calls[pair] -= 1
            if self.calls[pair] <= 0:
                del self.calls[pair]

    def _groups(self, claimed: list[q.Job]) -> list[list[q.Job]]:
        """One group per handler call: a job alone, or up to ``batch`` jobs of a batch task and brand together."""
        groups: list[list[q.Job]] = []
        open_batches: dict[tuple[str, str], list[q.Job]] = {}
        for job in claimed:
            task = self.registry.get(job.task)
            if task is None or task.batch <= 1:
                groups.append([job])
                continue
            key = (job.task, job.brand)
            current = open_batches.get(key)
            if current is None or len(current) >= task.batch:
                current = open_batches[key] = []
                groups.append(current)
            current.append(job)
        return groups

    async def _claim(self, limit: int) -> list[q.Job]:
        async with self.engine.begin() as conn:
            return await q.claim(
                conn,
                worker_id=self.worker_id,
                limit=limit,
                lease_s=self.lease_s,
                brands=self.brands,
                batches=self.batches,
                max_calls=self.max_calls,
                running_calls=self.calls,
            )

    async def _drain(self) -> None:
        """Graceful shutdown: let running handlers finish within the grace period, then give the rest back."""
        if not self.inflight:
            return
        pending = list(self.inflight)
        log.info("waiting for running jobs", count=len(pending), grace_s=self.grace_s)
        _done, still = await asyncio.wait(pending, timeout=self.grace_s)
        for task in still:
            task.cancel()
        await asyncio.gather(*still, return_exceptions=True)

    # --- one job ------------------------------------------------------------------------------------------

    async def _execute(self, group: list[q.Job] | q.Job) -> None:
        group = [group] if isinstance(group, q.Job) else group
        job = group[0]
        task = self.registry.get(job.task)
        started = time.perf_counter()
        if task is None:
            await self._record_failure(job, PermanentError(f"no handler registered for task {job.task!r}"), None)
            return
        ids = [j.id for j in group]

        def settle() -> None:  # from here the jobs' outcome is being written by this call (see _heartbeat)
            self.settling.update(ids)

        ctx = JobContext(job, self.engine, self.services, jobs=group, on_settle=settle)
        try:
            await task.handler(ctx)
            if not ctx.completed:
                settle()
                await asyncio.gather(*(self.completer.complete(j) for j in group))
                ctx.completed = True
            self.stats["done"] += len(group)
            JOBS_FINISHED.labels(job.task, "done").inc(len(group))
        except LeaseLost as error:
            self.stats["lost"] += len(group)
            JOBS_FINISHED.labels(job.task, "lease_lost").inc(len(group))
            log.warning("lease lost", job=job.id, task=job.task, error=str(error))
            if len(group) > 1:  # the batch was rolled back: the jobs still ours go back at once, not at lease expiry
                again = RetryLater(0.0, "another job of its batch lost its lease")
                for j in group:
                    await self._record_failure(j, again, task.retry)
        except asyncio.CancelledError:
            if not ctx.completed:
                async with self.engine.begin() as conn:
                    for j in group:
                        await q.release(conn, j)
                log.info("job released at shutdown", job=job.id, task=job.task, jobs=len(group))
            raise
        except Exception as error:
            if ctx.completed:
                log.error("handler raised after its job completed", job=job.id, error=_describe(error))
            else:
                settle()
                for j in group:
                    await self._record_failure(j, error, task.retry)
        finally:
            self.settling.difference_update(ids)
            JOB_SECONDS.labels(job.task).observe(time.perf_counter() - started)

    async def _record_failure(self, job: q.Job, error: Exception, policy) -> None:
        try:
            await self._fail(job, error, policy)
        except Exception as secondary:
            # The database is unreachable right now; the job stays leased until the sweeper returns it.
            log.error("could not record job failure", job=job.id, error=_describe(secondary))

    async def _fail(self, job: q.Job, error: Exception, policy) -> None:
        message = _describe(error)
        permanent = isinstance(error, PermanentError) or policy is None
        async with self.engine.begin() as conn:
            if permanent or job.attempts >= job.max_attempts:
                if await q.bury(conn, job, error=message):
                    await self._record_dead(conn, job, message)
                    self.stats["dead"] += 1
                    JOBS_FINISHED.labels(job.task, "dead").inc()
                    log.error("job dead-lettered", job=job.id, task=job.task, attempts=job.attempts, error=message)
                return
            delay = error.delay_s if isinstance(error, RetryLater) else policy.delay(job.attempts)
            if await q.reschedule(conn, job, delay_s=delay, error=message):
                self.stats["retried"] += 1
                JOBS_FINISHED.labels(job.task, "retry").inc()
                log.warning("job will retry", job=job.id, task=job.task, in_s=round(delay, 2), error=message)

    async def _record_dead(self, conn: AsyncConnection, job: q.Job, message: str) -> None:
        await exc_store.raise_kind(
            conn,
            brand=job.brand,
            kind="job_dead",
            dedupe_key=f"task:{job.task}",
            owner_team=self.owner_for(job.brand, "job_dead"),
            summary=f"jobs of task {job.task} were dead-lettered; latest #{job.id}: {message[:200]}",
            evidence={
                "job_id": job.id,
                "task": job.task,
                "attempts": job.attempts,
                "last_error": message,
                "payload": job.payload,
            },
            entity_type="job",
            entity_id=str(job.id),
        )

    # --- leases -------------------------------------------------------------------------------------------

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        """Extend the leases of the jobs held; warn about those found taken away while their handler runs.

        A job its own handler is completing (or failing) is no longer running in the database before its task
        ends: that is not a lost lease. Warned about, a sale's batches of order exports logged a "lease lost"
        for every job completed in the moment of a heartbeat (55 in one benchmark, none lost)."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            held = {job.id: (task, job) for task, group in self.inflight.items() for job in group}
            if not held:
                continue
            try:
                async with self.engine.begin() as conn:
                    still = await q.extend_leases(conn, [job for _, job in held.values()], self.lease_s)
                for job_id, (task, job) in held.items():
                    if job_id not in still and not task.done() and job_id not in self.settling:
                        log.warning("heartbeat found lease lost", job=job.id, task=job.task)
            except Exception as error:  # a database blip must not kill the worker; the next beat retries
                log.warning("heartbeat failed", error=_describe(error))

    async def _sweep_loop(self, stop: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(max(1.0, self.lease_s / 2))
            try:
                await self.sweep()
            except Exception as error:
                log.warning("sweep failed", error=_describe(error))

    async def sweep(self) -> int:
        """Return jobs whose worker stopped heart-beating; bury those that have used all their attempts.

        A job whose handler kills its worker every time would otherwise crash-loop through the fleet forever.
        """
        async with self.engine.begin() as conn:
            lost = await q.expired(conn)
            for job in lost:
                message = f"lease expired: worker {job.worker_id} stopped heart-beating (crashed or hung)"
                if job.attempts >= job.max_attempts:
                    if await q.bury(conn, job, error=message):
                        await self._record_dead(conn, job, message)
                        self.stats["dead"] += 1
                else:
                    await q.reschedule(conn, job, delay_s=0, error=message)
        if lost:
            self.stats["swept"] += len(lost)
            LEASES_EXPIRED.inc(len(lost))
            log.warning("returned jobs of lost workers", count=len(lost))
        return len(lost)
