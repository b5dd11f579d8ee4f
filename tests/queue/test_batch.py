"""Batch tasks: one handler call for many ready jobs of a task and brand, completed together (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from lockstep.queue import TaskRegistry, TransientError, Worker, enqueue
from lockstep.queue import jobs as q
from lockstep.queue.retry import RetryPolicy
from lockstep.store.tables import jobs


async def run_until_idle(engine, registry, **kwargs) -> dict:
    worker = Worker(engine, registry, poll_interval_s=0.02, **kwargs)
    return await worker.run(asyncio.Event(), until_idle=True)


async def test_jobs_of_a_batch_task_share_one_call_per_brand_and_commit_together(engine):
    calls: list[tuple[str, list[int]]] = []
    registry = TaskRegistry()

    async def handler(ctx):
        calls.append((ctx.brand, sorted(p["n"] for p in ctx.payloads)))
        async with ctx.transaction() as conn:
            for payload in ctx.payloads:
                await enqueue(conn, brand=ctx.brand, task="after", payload={"of": payload["n"]})

    registry.register("many", handler, batch=4)
    registry.register("after", lambda ctx: asyncio.sleep(0))
    async with engine.begin() as conn:
        for n in range(10):
            await enqueue(conn, brand="a" if n < 7 else "b", task="many", payload={"n": n})
    stats = await run_until_idle(engine, registry, concurrency=64)

    assert stats["done"] == 20
    by_brand: dict[str, list[int]] = {}
    for brand, numbers in calls:
        assert len(numbers) <= 4
        by_brand.setdefault(brand, []).extend(numbers)
    assert sorted(by_brand["a"]) == list(range(7)) and sorted(by_brand["b"]) == [7, 8, 9]
    assert len(calls) == 3  # a: 4 + 3, b: 3 — one call per brand and up to 4 jobs
    async with engine.connect() as conn:
        rows = (await conn.execute(select(jobs.c.task, jobs.c.status))).all()
    assert {status for _, status in rows} == {q.DONE}
    assert sum(1 for task, _ in rows if task == "after") == 10


async def test_a_failing_batch_retries_every_job_and_commits_nothing(engine):
    attempts: list[int] = []
    registry = TaskRegistry()

    async def handler(ctx):
        attempts.append(len(ctx.jobs))
        async with ctx.transaction() as conn:
            for payload in ctx.payloads:
                await enqueue(conn, brand=ctx.brand, task="after", payload=payload)
            if len(attempts) == 1:
                raise TransientError("the batch failed half way")

    registry.register("many", handler, RetryPolicy(max_attempts=3, base_s=0.01, cap_s=0.02), batch=10)
    registry.register("after", lambda ctx: asyncio.sleep(0))
    async with engine.begin() as conn:
        for n in range(3):
            await enqueue(conn, brand="a", task="many", payload={"n": n})
    await run_until_idle(engine, registry, concurrency=8)
    await asyncio.sleep(0.1)  # past the retry delay
    await run_until_idle(engine, registry, concurrency=8)

    assert attempts[0] == 3 and sum(attempts[1:]) == 3
    async with engine.connect() as conn:
        rows = (await conn.execute(select(jobs.c.task, jobs.c.status, jobs.c.attempts))).all()
    many = [r for r in rows if r.task == "many"]
    assert all(r.status == q.DONE and r.attempts == 2 for r in many)
    assert sum(1 for r in rows if r.task == "after") == 3  # the failed attempt's enqueues were rolled back


async def test_a_batch_whose_job_lost_its_lease_rolls_back_and_returns_the_others(engine):
    registry = TaskRegistry()
    seen: list[int] = []

    async def handler(ctx):
        seen.append(len(ctx.jobs))
        if len(seen) == 1:
            async with engine.begin() as conn:  # another worker took one job over meanwhile
                await conn.execute(jobs.update().where(jobs.c.id == ctx.jobs[0].id).values(lease_token="someone-else"))
        async with ctx.transaction() as conn:
            await enqueue(conn, brand=ctx.brand, task="after", payload={"k": len(seen)})

    registry.register("many", handler, batch=5)
    registry.register("after", lambda ctx: asyncio.sleep(0))
    async with engine.begin() as conn:
        for n in range(3):
            await enqueue(conn, brand="a", task="many", payload={"n": n})
    stats = await run_until_idle(engine, registry, concurrency=8)

    assert stats["lost"] == 3
    async with engine.connect() as conn:
        rows = (await conn.execute(select(jobs.c.id, jobs.c.task, jobs.c.status, jobs.c.payload))).all()
    after = [r.payload for r in rows if r.task == "after"]
    assert {"k": 1} not in after  # rolled back
    statuses = sorted(r.status for r in rows if r.task == "many")
    assert statuses == [q.DONE, q.DONE, q.RUNNING]  # two were given back and re-run; the stolen one is not ours


def test_batch_must_be_positive():
    import pytest

    with pytest.raises(ValueError):
        TaskRegistry().register("t", lambda ctx: asyncio.sleep(0), batch=0)


async def test_a_call_of_a_batch_task_takes_one_slot_however_many_jobs_it_carries(engine):
    """120 ready jobs, batches of 50, two slots: two full calls at once, then the rest — not two jobs per claim."""
    sizes: list[int] = []
    registry = TaskRegistry()

    async def handler(ctx):
        sizes.append(len(ctx.jobs))
        await asyncio.sleep(0.05)

    registry.register("many", handler, batch=50)
    async with engine.begin() as conn:
        for n in range(120):
            await enqueue(conn, brand="a", task="many", payload={"n": n})
    stats = await run_until_idle(engine, registry, concurrency=2)
    assert stats["done"] == 120 and sizes == [50, 50, 20]


async def test_max_calls_lets_jobs_arriving_during_a_call_gather_into_the_next(engine):
    """A task whose calls wait on something (a rate budget): with ``max_calls=1`` the jobs enqueued while one call
    runs are not each given a call of their own — they wait and go together, and calls never overlap."""
    sizes: list[tuple[str, int]] = []
    running: dict[str, int] = {}
    most = {"a": 0, "b": 0}
    first_started, trickle_done = asyncio.Event(), asyncio.Event()
    registry = TaskRegistry()

    async def handler(ctx):
        running[ctx.brand] = running.get(ctx.brand, 0) + 1
        most[ctx.brand] = max(most[ctx.brand], running[ctx.brand])
        sizes.append((ctx.brand, len(ctx.jobs)))
        if ctx.brand == "a" and not first_started.is_set():
            first_started.set()
            await trickle_done.wait()  # the call waits (on the budget, say) while new jobs arrive
        await asyncio.sleep(0.02)
        running[ctx.brand] -= 1

    async def trickle():
        await first_started.wait()
        for n in range(12):
            async with engine.begin() as conn:
                await enqueue(conn, brand="a", task="fetch", payload={"n": 100 + n})
            await asyncio.sleep(0.01)
        trickle_done.set()

    registry.register("fetch", handler, batch=50, max_calls=1)
    registry.register("other", lambda ctx: asyncio.sleep(0))
    async with engine.begin() as conn:
        await enqueue(conn, brand="a", task="fetch", payload={"n": 0})
        await enqueue(conn, brand="b", task="fetch", payload={"n": 1})  # another brand is not held back
        for n in range(3):
            await enqueue(conn, brand="a", task="other", payload={"n": n})
    producer = asyncio.create_task(trickle())
    stats = await run_until_idle(engine, registry, concurrency=8)
    await producer
    assert stats["done"] == 1 + 1 + 12 + 3 and stats["retried"] == 0, (stats, sizes, most)
    assert sorted(sizes) == [("a", 1), ("a", 12), ("b", 1)]
    assert most == {"a": 1, "b": 1}


def test_max_calls_must_be_positive():
    import pytest

    with pytest.raises(ValueError):
        TaskRegistry().register("t", lambda ctx: asyncio.sleep(0), batch=5, max_calls=0)
