"""Real worker processes: SIGKILL mid-job, and four processes draining 5,000 jobs exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lockstep.queue import Worker, enqueue
from lockstep.queue import jobs as q
from lockstep.store.tables import jobs

from .worker_proc import effects, ensure_effects_table, registry

WORKER = Path(__file__).with_name("worker_proc.py")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def start_worker(url: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


async def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_job_of_a_sigkilled_worker_is_rerun_by_another_after_the_lease(engine, db_url):
    await ensure_effects_table(engine)
    async with engine.begin() as conn:
        job_id = await enqueue(conn, brand="b", task="test.effect", payload={"key": "k1", "sleep_s": 60})
    proc = start_worker(db_url, "--lease", "2", "--concurrency", "1")
    try:

        async def running_elsewhere():
            async with engine.connect() as conn:
                job = await q.get(conn, job_id)
            return job.status == q.RUNNING and job

        claimed = await wait_for(running_elsewhere, 30, "the worker process to claim the job")
        assert str(proc.pid) in claimed.worker_id
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()

    survivor = Worker(engine, registry, lease_s=2, poll_interval_s=0.05)
    stop = asyncio.Event()
    run = asyncio.create_task(survivor.run(stop))

    async def done():
        async with engine.connect() as conn:
            return (await q.get(conn, job_id)).status == q.DONE

    try:
        await wait_for(done, 20, "the surviving worker to re-run the job")
    finally:
        stop.set()
        await run
    async with engine.connect() as conn:
        job = await q.get(conn, job_id)
        rows = (await conn.execute(select(effects))).all()
    assert job.attempts == 2
    assert [(r.key, r.attempt) for r in rows] == [("k1", 2)]
    assert survivor.stats["swept"] == 1


async def test_four_worker_processes_drain_5000_jobs_exactly_once(engine, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("multi-process scale-out is a PostgreSQL feature; SQLite serialises writers")
    await ensure_effects_table(engine)
    total = 5000
    async with engine.begin() as conn:
        for i in range(total):
            await enqueue(conn, brand="b", task="test.effect", payload={"key": f"k{i}"})
    procs = [start_worker(db_url, "--until-idle", "--concurrency", "8") for _ in range(4)]
    outputs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=240)
        outputs.append(out)
        assert proc.returncode == 0, out[-2000:]
    async with engine.connect() as conn:
        rows = (await conn.execute(select(func.count(), func.count(func.distinct(effects.c.key))))).one()
        statuses = await q.counts(conn)
        per_worker = (await conn.execute(select(jobs.c.worker_id, func.count()).group_by(jobs.c.worker_id))).all()
    assert rows == (total, total)
    assert statuses == {"pending": 0, "running": 0, "done": total, "dead": 0}
    # completed jobs clear their lease token but keep the worker id: every process took a share
    assert len([w for w, n in per_worker if w and n > 0]) == 4, per_worker
