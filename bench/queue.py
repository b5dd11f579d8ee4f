"""Queue throughput: trivial jobs drained by N worker processes.

Prints one JSON line per configuration: SQLite with 1 worker process, PostgreSQL with 1 and 4.
jobs_per_s = jobs / (last finished_at - first started_at), both read from the jobs table, so process start-up
and enqueueing are not counted; every job is claimed, run (a no-op handler) and completed in its own
transaction, exactly as in production.

    .venv/bin/python bench/queue.py [--jobs 5000] [--concurrency 8]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the stdlib ``queue`` module; keep its folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import json
import os
import subprocess
import tempfile

from sqlalchemy import func, select, text

from lockstep import logs
from lockstep.clock import utcnow
from lockstep.queue import TaskRegistry, Worker
from lockstep.queue import jobs as q
from lockstep.store import migrate
from lockstep.store.db import create_engine, insert_for
from lockstep.store.tables import jobs

PG_ADMIN_URL = os.environ.get("LOCKSTEP_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

registry = TaskRegistry()


@registry.task("bench.noop")
async def noop(ctx) -> None:
    """A trivial job: the worker completes it in its own transaction."""


async def fill(url: str, count: int) -> None:
    engine = create_engine(url)
    await migrate.upgrade(engine)
    now = utcnow()
    rows = [
        {
            "brand": "bench",
            "task": "bench.noop",
            "payload": {"n": i},
            "status": q.PENDING,
            "priority": 0,
            "run_at": now,
            "attempts": 0,
            "max_attempts": 3,
            "created_at": now,
        }
        for i in range(count)
    ]
    async with engine.begin() as conn:
        for start in range(0, count, 1000):
            await conn.execute(insert_for(conn)(jobs), rows[start : start + 1000])
    await engine.dispose()


async def measure(url: str) -> tuple[int, float]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        done, first, last = (
            await conn.execute(
                select(func.count(), func.min(jobs.c.started_at), func.max(jobs.c.finished_at)).where(
                    jobs.c.status == q.DONE
                )
            )
        ).one()
    await engine.dispose()
    if isinstance(first, str):  # SQLite aggregates bypass the column type
        from datetime import UTC, datetime

        first, last = (datetime.fromisoformat(v).replace(tzinfo=UTC) for v in (first, last))
    return done, (last - first).total_seconds()


async def work(url: str, concurrency: int) -> None:
    engine = create_engine(url)
    await Worker(engine, registry, concurrency=concurrency, poll_interval_s=0.05).run(asyncio.Event(), until_idle=True)
    await engine.dispose()


async def _admin(sql: str) -> None:
    engine = create_engine(PG_ADMIN_URL)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(sql))
    await engine.dispose()


def run_config(backend: str, workers: int, count: int, concurrency: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "sqlite":
            url = f"sqlite:///{tmp}/bench.db"
        else:
            name = f"lockstep_bench_{os.getpid()}"
            asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name}"))
            asyncio.run(_admin(f"CREATE DATABASE {name}"))
            url = PG_ADMIN_URL.rpartition("/")[0] + f"/{name}"
        try:
            asyncio.run(fill(url, count))
            procs = [
                subprocess.Popen([sys.executable, __file__, "--worker", url, "--concurrency", str(concurrency)])
                for _ in range(workers)
            ]
            for proc in procs:
                if proc.wait() != 0:
                    raise SystemExit(f"worker process failed with exit code {proc.returncode}")
            done, seconds = asyncio.run(measure(url))
        finally:
            if backend == "postgresql":
                asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    if done != count:
        raise SystemExit(f"{backend}: only {done} of {count} jobs done")
    return {"backend": backend, "workers": workers, "jobs": count, "jobs_per_s": round(done / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8, help="jobs in flight per worker process")
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logs.configure("WARNING")
    if args.worker:
        asyncio.run(work(args.worker, args.concurrency))
        return
    for backend, workers in (("sqlite", 1), ("postgresql", 1), ("postgresql", 4)):
        print(json.dumps(run_config(backend, workers, args.jobs, args.concurrency)), flush=True)


if __name__ == "__main__":
    main()
