"""Queue behaviour on SQLite and PostgreSQL: outbox, coalescing, lanes, retries, dead letters."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from lockstep.clock import utcnow
from lockstep.queue import (
    PermanentError,
    RetryLater,
    TaskRegistry,
    TransientError,
    Worker,
    enqueue,
    enqueue_many,
    job_values,
)
from lockstep.queue import jobs as q
from lockstep.queue.retry import RetryPolicy
from lockstep.store import exceptions as exc_store
from lockstep.store.tables import jobs


async def run_until_idle(engine, registry, **kwargs) -> dict:
    worker = Worker(engine, registry, poll_interval_s=0.02, **kwargs)
    return await worker.run(asyncio.Event(), until_idle=True)


async def test_rolled_back_enqueue_leaves_no_job(engine):
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await enqueue(conn, brand="b", task="t", payload={"n": 1})
            raise RuntimeError("the business write failed")
    async with engine.connect() as conn:
        assert (await q.counts(conn))["pending"] == 0
    async with engine.begin() as conn:
        await enqueue(conn, brand="b", task="t", payload={"n": 2})
    async with engine.connect() as conn:
        assert (await q.counts(conn))["pending"] == 1


async def test_coalescing_keeps_earliest_run_at_highest_priority_newest_payload(engine):
    now = utcnow()
    async with engine.begin() as conn:
        first = await enqueue(
            conn, brand="b", task="t", payload={"v": 1}, dedupe_key="k", run_at=now + timedelta(seconds=60)
        )
        second = await enqueue(conn, brand="b", task="t", payload={"v": 2}, dedupe_key="k", run_at=now, priority=5)
        third = await enqueue(
            conn, brand="b", task="t", payload={"v": 3}, dedupe_key="k", run_at=now + timedelta(seconds=90)
        )
        other_brand = await enqueue(conn, brand="c", task="t", payload={}, dedupe_key="k")
    assert first == second == third
    assert other_brand != first
    async with engine.connect() as conn:
        job = await q.get(conn, first)
        assert job.payload == {"v": 3}
        assert job.priority == 5
        assert abs((job.run_at - now).total_seconds()) < 0.001
        assert (await q.counts(conn))["pending"] == 2


async def test_enqueue_many_coalesces_like_consecutive_enqueues(engine):
    now = utcnow()
    async with engine.begin() as conn:
        existing = await enqueue(
            conn, brand="b", task="t", payload={"v": 0}, dedupe_key="k", run_at=now + timedelta(seconds=60)
        )
        await enqueue_many(
            conn,
            [
                job_values(brand="b", task="t", payload={"v": 1}, dedupe_key="k", run_at=now, priority=5),
                job_values(brand="b", task="t", payload={"v": 2}, dedupe_key="k", run_at=now + timedelta(seconds=90)),
                job_values(brand="b", task="t", payload={"v": 3}, dedupe_key="other"),
                job_values(brand="b", task="t", payload={"v": 4}),
                job_values(brand="b", task="t", payload={"v": 5}),
            ],
        )
    async with engine.connect() as conn:
        job = await q.get(conn, existing)
        assert job.payload == {"v": 2}  # the newest payload
        assert job.priority == 5  # the highest priority of the three
        assert abs((job.run_at - now).total_seconds()) < 0.001  # the earliest run_at
        rows = (await conn.execute(select(jobs.c.payload, jobs.c.dedupe_key).order_by(jobs.c.id))).all()
    assert sorted((r.payload["v"], r.dedupe_key) for r in rows) == [(2, "k"), (3, "other"), (4, None), (5, None)]


async def test_enqueue_while_running_creates_a_new_job(engine):
    async with engine.begin() as conn:
        first = await enqueue(conn, brand="b", task="t", dedupe_key="k")
    async with engine.begin() as conn:
        [claimed] = await q.claim(conn, worker_id="w", limit=5, lease_s=30)
    assert claimed.id == first
    async with engine.begin() as conn:
        second = await enqueue(conn, brand="b", task="t", dedupe_key="k")
    assert second != first


async def test_lanes_never_overlap_but_different_lanes_run_in_parallel(engine):
    intervals: dict[str, list[tuple[float, float]]] = {}
    registry = TaskRegistry()

    @registry.task("lane.work")
    async def work(ctx):
        start = time.monotonic()
        await asyncio.sleep(0.02)
        intervals.setdefault(ctx.job.lane, []).append((start, time.monotonic()))

    async with engine.begin() as conn:
        for i in range(36):
            await enqueue(conn, brand="b", task="lane.work", lane=f"pool-{i % 3}", payload={"i": i})
    workers = [Worker(engine, registry, concurrency=6, poll_interval_s=0.01) for _ in range(2)]
    await asyncio.gather(*(w.run(asyncio.Event(), until_idle=True) for w in workers))
    # until_idle may stop a worker while the other still has work; drain whatever is left
    await run_until_idle(engine, registry)

    assert sum(len(v) for v in intervals.values()) == 36
    for lane, spans in intervals.items():
        spans.sort()
        for (_, end), (next_start, _) in itertools.pairwise(spans):
            assert next_start >= end, f"lane {lane} ran two jobs at once"
    all_spans = sorted(s for spans in intervals.values() for s in spans)
    overlaps = sum(1 for a, b in itertools.pairwise(all_spans) if b[0] < a[1])
    assert overlaps > 0, "different lanes should run concurrently"


async def test_transient_errors_retry_with_backoff_then_succeed(engine):
    seen: list[tuple[int, float]] = []
    registry = TaskRegistry()

    @registry.task("flaky", retry=RetryPolicy(base_s=0.2, factor=2, cap_s=5))
    async def flaky(ctx):
        seen.append((ctx.job.attempts, time.monotonic()))
        if ctx.job.attempts < 3:
            raise TransientError("upstream 503")

    async with engine.begin() as conn:
        job_id = await enqueue(conn, brand="b", task="flaky")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        await run_until_idle(engine, registry)
        async with engine.connect() as conn:
            job = await q.get(conn, job_id)
        if job.status == q.DONE:
            break
        await asyncio.sleep(0.05)
    assert job.status == q.DONE
    assert [a for a, _ in seen] == [1, 2, 3]
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(seen)]
    # equal jitter: attempt 1 waits 0.1..0.2 s, attempt 2 waits 0.2..0.4 s
    assert 0.1 <= gaps[0] < 0.4
    assert 0.2 <= gaps[1] < 0.7


async def test_retry_later_honours_the_given_delay(engine):
    registry = TaskRegistry()

    @registry.task("limited")
    async def limited(ctx):
        raise RetryLater(120, "429: Retry-After 120")

    async with engine.begin() as conn:
        job_id = await enqueue(conn, brand="b", task="limited")
    before = utcnow()
    await run_until_idle(engine, registry)
    async with engine.connect() as conn:
        job = await q.get(conn, job_id)
    assert job.status == q.PENDING
    assert 119 <= (job.run_at - before).total_seconds() <= 122
    assert "Retry-After 120" in job.last_error


async def test_permanent_error_is_dead_lettered_at_once_with_an_exception(engine):
    registry = TaskRegistry()

    @registry.task("doomed")
    async def doomed(ctx):
        raise PermanentError("Deposco refused: unknown item ABC-1")

    async with engine.begin() as conn:
        job_id = await enqueue(conn, brand="b", task="doomed", payload={"order": "1001"})
    await run_until_idle(engine, registry)
    async with engine.connect() as conn:
        job = await q.get(conn, job_id)
        [record] = await exc_store.list_exceptions(conn, brand="b", kind="job_dead")
    assert job.status == q.DEAD
    assert job.attempts == 1
    assert "unknown item ABC-1" in job.last_error
    assert record.status == "open"
    assert record.evidence["job_id"] == job_id
    assert record.evidence["payload"] == {"order": "1001"}
    assert record.owner_team == "tech"


async def test_exhausted_attempts_dead_letter_and_group_into_one_exception(engine):
    registry = TaskRegistry()

    @registry.task("bug", retry=RetryPolicy(base_s=0.0, cap_s=0.0))
    async def bug(ctx):
        raise KeyError("missing")

    async with engine.begin() as conn:
        ids = [await enqueue(conn, brand="b", task="bug", max_attempts=2) for _ in range(3)]
    for _ in range(4):
        await run_until_idle(engine, registry)
    async with engine.connect() as conn:
        finished = [await q.get(conn, i) for i in ids]
        [record] = await exc_store.list_exceptions(conn, brand="b", kind="job_dead")
    assert [(j.status, j.attempts) for j in finished] == [(q.DEAD, 2)] * 3
    assert record.occurrences == 3


async def test_unknown_task_is_dead_lettered_not_looping(engine):
    async with engine.begin() as conn:
        job_id = await enqueue(conn, brand="b", task="nobody.handles.this")
    await run_until_idle(engine, TaskRegistry())
    async with engine.connect() as conn:
        job = await q.get(conn, job_id)
    assert job.status == q.DEAD
    assert "no handler registered" in job.last_error


async def test_priority_orders_claims(engine):
    async with engine.begin() as conn:
        low = await enqueue(conn, brand="b", task="t", priority=0)
        high = await enqueue(conn, brand="b", task="t", priority=10)
    async with engine.begin() as conn:
        claimed = await q.claim(conn, worker_id="w", limit=1, lease_s=30)
    assert [j.id for j in claimed] == [high]
    assert low != high


async def test_expired_lease_is_swept_and_the_stale_worker_cannot_complete(engine):
    async with engine.begin() as conn:
        job_id = await enqueue(conn, brand="b", task="t")
    async with engine.begin() as conn:
        [stale] = await q.claim(conn, worker_id="dead-worker", limit=1, lease_s=0.01)
    await asyncio.sleep(0.05)
    worker = Worker(engine, TaskRegistry())
    assert await worker.sweep() == 1
    async with engine.begin() as conn:
        [fresh] = await q.claim(conn, worker_id="w2", limit=1, lease_s=30)
    assert fresh.id == job_id and fresh.attempts == 2
    async with engine.begin() as conn:
        assert await q.complete(conn, stale) is False
    async with engine.begin() as conn:
        assert await q.complete(conn, fresh) is True
        assert (await conn.execute(select(jobs.c.status).where(jobs.c.id == job_id))).scalar() == q.DONE


async def _heartbeat_warnings(engine, handler) -> list[dict]:
    from structlog.testing import capture_logs

    registry = TaskRegistry()
    registry.register("t", handler)
    async with engine.begin() as conn:
        await enqueue(conn, brand="b", task="t")
    with capture_logs() as logs:
        await run_until_idle(engine, registry, lease_s=0.3)  # a heartbeat every 0.1 s
    return [e for e in logs if e["event"] == "heartbeat found lease lost"]


async def test_a_job_its_handler_completed_is_not_reported_as_a_lost_lease(engine):
    """Between the handler's completing commit and the end of its task the job is no longer running in the
    database; heartbeats in that moment are not lost leases."""

    async def completes_then_lingers(ctx):
        async with ctx.transaction():
            pass
        await asyncio.sleep(0.5)  # heartbeats run meanwhile

    assert await _heartbeat_warnings(engine, completes_then_lingers) == []


async def test_a_lease_taken_away_while_the_handler_runs_is_reported(engine):
    async def loses_its_lease(ctx):
        async with engine.begin() as conn:  # another worker's sweep took the job over
            await conn.execute(jobs.update().where(jobs.c.id == ctx.job.id).values(lease_token="someone-else"))
        await asyncio.sleep(0.5)

    warnings = await _heartbeat_warnings(engine, loses_its_lease)
    assert warnings and {e["task"] for e in warnings} == {"t"}


async def test_admin_retry_and_purge(engine):
    registry = TaskRegistry()

    @registry.task("doomed")
    async def doomed(ctx):
        raise PermanentError("no")

    async with engine.begin() as conn:
        job_id = await enqueue(conn, brand="b", task="doomed")
    await run_until_idle(engine, registry)
    async with engine.begin() as conn:
        assert await q.retry_now(conn, job_id)
        job = await q.get(conn, job_id)
        assert (job.status, job.attempts) == (q.PENDING, 0)
        assert await q.purge(conn, older_than=timedelta(0)) == 0  # pending jobs are never purged


async def _running_with_pending_twin(engine, *, lease_s: float = 30):
    """A claimed job with dedupe key ``k`` and a newer pending job of the same key (enqueued mid-run)."""
    async with engine.begin() as conn:
        first = await enqueue(conn, brand="b", task="t", dedupe_key="k", priority=5)
    async with engine.begin() as conn:
        [running] = await q.claim(conn, worker_id="w", limit=1, lease_s=lease_s)
    async with engine.begin() as conn:
        twin = await enqueue(conn, brand="b", task="t", dedupe_key="k", run_at=utcnow() + timedelta(hours=1))
    assert running.id == first and twin != first
    return running, twin


async def _row(engine, job_id):
    async with engine.connect() as conn:
        return await q.get(conn, job_id)


async def test_a_failing_job_with_a_pending_twin_folds_into_it(engine):
    """Retrying beside a pending twin of the same dedupe key used to violate the unique index, leaving the job
    running until its lease expired (and the sweep failing the same way)."""
    running, twin = await _running_with_pending_twin(engine)
    async with engine.begin() as conn:
        assert await q.reschedule(conn, running, delay_s=2, error="boom")
    failed, kept = await _row(engine, running.id), await _row(engine, twin)
    assert failed.status == q.DONE and f"pending job {twin}" in failed.last_error and "boom" in failed.last_error
    assert kept.status == q.PENDING and kept.attempts == running.attempts and kept.priority == 5
    assert kept.run_at <= utcnow() + timedelta(seconds=3)  # the retry's time, not the twin's hour
    assert kept.last_error == "boom"


async def test_worker_failure_beside_a_twin_is_recorded_and_the_work_runs_again(engine):
    registry = TaskRegistry()
    calls: list[int] = []

    @registry.task("t", retry=RetryPolicy(base_s=0.01, cap_s=0.01))
    async def flaky(ctx):
        calls.append(ctx.job.id)
        if len(calls) == 1:
            async with engine.begin() as conn:  # the same work is asked for again while this run fails
                await enqueue(conn, brand="b", task="t", dedupe_key="k")
            raise TransientError("first run fails")

    async with engine.begin() as conn:
        first = await enqueue(conn, brand="b", task="t", dedupe_key="k")
    stats = await run_until_idle(engine, registry)
    assert len(calls) == 2 and calls[0] == first and calls[1] != first
    assert stats["done"] == 1
    assert (await _row(engine, first)).status == q.DONE
    async with engine.connect() as conn:
        statuses = (await conn.execute(select(jobs.c.status))).scalars().all()
    assert sorted(statuses) == [q.DONE, q.DONE]


async def test_sweep_and_release_beside_a_twin(engine):
    running, twin = await _running_with_pending_twin(engine, lease_s=0.01)
    await asyncio.sleep(0.05)
    assert await Worker(engine, TaskRegistry()).sweep() == 1
    assert (await _row(engine, running.id)).status == q.DONE
    assert (await _row(engine, twin)).run_at <= utcnow()

    async with engine.begin() as conn:
        [again] = await q.claim(conn, worker_id="w", limit=1, lease_s=30)
        newer = await enqueue(conn, brand="b", task="t", dedupe_key="k")
    async with engine.begin() as conn:
        assert await q.release(conn, again)
    assert (await _row(engine, again.id)).status == q.DONE
    assert (await _row(engine, newer)).status == q.PENDING


async def test_admin_retry_of_a_dead_job_beside_a_twin(engine):
    async with engine.begin() as conn:
        dead = await enqueue(conn, brand="b", task="t", dedupe_key="k")
    async with engine.begin() as conn:
        [job] = await q.claim(conn, worker_id="w", limit=1, lease_s=30)
        assert await q.bury(conn, job, error="gave up")
        twin = await enqueue(conn, brand="b", task="t", dedupe_key="k", run_at=utcnow() + timedelta(hours=1))
    async with engine.begin() as conn:
        assert await q.retry_now(conn, dead)
    assert (await _row(engine, dead)).status == q.DONE
    kept = await _row(engine, twin)
    assert kept.status == q.PENDING and kept.run_at <= utcnow()


async def test_a_twin_committed_after_the_check_still_folds(engine, monkeypatch):
    """PostgreSQL race: the twin commits between the look-up and the update; the unique violation is caught in
    a savepoint and the job folds into the twin all the same."""
    running, twin = await _running_with_pending_twin(engine)
    real = q._pending_twin
    looks: list[int] = []

    async def first_look_misses(conn, job):
        looks.append(job.id)
        return None if len(looks) == 1 else await real(conn, job)

    monkeypatch.setattr(q, "_pending_twin", first_look_misses)
    async with engine.begin() as conn:
        assert await q.reschedule(conn, running, delay_s=0, error="boom")
    assert len(looks) == 2
    assert (await _row(engine, running.id)).status == q.DONE
    assert (await _row(engine, twin)).status == q.PENDING


async def test_transaction_per_chunk_commits_each_chunk_and_finishes_with_the_job(engine):
    """Chunks commit one by one (a crash re-runs the job, which applies them again); the finish step (a cursor)
    commits with the job's completion only; a failing chunk leaves the earlier ones and no finish."""
    from lockstep.store import cursors

    registry = TaskRegistry()
    chunks_seen: list[list[int]] = []

    @registry.task("apply", retry=RetryPolicy(base_s=0.5, cap_s=0.5))
    async def apply_all(ctx):
        async def apply(conn, chunk):
            chunks_seen.append(list(chunk))
            if len(chunks_seen) == 3:
                raise TransientError("the third chunk fails once")
            for n in chunk:
                await cursors.write(conn, brand="b", name=f"item-{n}", value=str(len(chunks_seen)))

        async def finish(conn):
            await cursors.write(conn, brand="b", name="done", value="yes")

        await ctx.transaction_per_chunk(list(range(5)), 2, apply, finish)

    async with engine.begin() as conn:
        job_id = await enqueue(conn, brand="b", task="apply")
    await run_until_idle(engine, registry)
    async with engine.connect() as conn:
        assert await cursors.read(conn, brand="b", name="item-1") == "1"  # the first chunk stayed committed
        assert await cursors.read(conn, brand="b", name="done") is None
    await asyncio.sleep(0.6)  # the retry's delay (0.25-0.5 s: long enough that the first run goes idle before it)
    await run_until_idle(engine, registry)
    assert chunks_seen == [[0, 1], [2, 3], [4], [0, 1], [2, 3], [4]]
    async with engine.connect() as conn:
        values = {n: await cursors.read(conn, brand="b", name=f"item-{n}") for n in range(5)}
        assert values == {0: "4", 1: "4", 2: "5", 3: "5", 4: "6"}  # the second run's chunks, applied again
        assert await cursors.read(conn, brand="b", name="done") == "yes"
        assert (await q.get(conn, job_id)).status == q.DONE


async def test_transaction_per_chunk_with_nothing_to_apply_still_completes(engine):
    registry = TaskRegistry()
    calls: list[int] = []

    @registry.task("empty")
    async def empty(ctx):
        async def apply(conn, chunk):
            calls.append(len(chunk))

        await ctx.transaction_per_chunk([], 50, apply)

    async with engine.begin() as conn:
        job_id = await enqueue(conn, brand="b", task="empty")
    await run_until_idle(engine, registry)
    assert calls == [0]
    async with engine.connect() as conn:
        assert (await q.get(conn, job_id)).status == q.DONE
