"""A real worker process for the multi-process queue tests (started with ``python worker_proc.py URL ...``).

Tasks write into ``test_effects`` whose primary key is the job's business key, in the same transaction that
completes the job: a job run twice to completion would violate the key and show up as a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from sqlalchemy import Column, Integer, MetaData, String, Table

from lockstep.queue import TaskRegistry, Worker
from lockstep.store.db import create_engine

effects_md = MetaData()
effects = Table(
    "test_effects",
    effects_md,
    Column("key", String(64), primary_key=True),
    Column("job_id", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
)

registry = TaskRegistry()


@registry.task("test.effect")
async def effect(ctx):
    if ctx.payload.get("sleep_s") and ctx.job.attempts == 1:
        await asyncio.sleep(ctx.payload["sleep_s"])
    async with ctx.transaction() as conn:
        await conn.execute(effects.insert().values(key=ctx.payload["key"], job_id=ctx.job.id, attempt=ctx.job.attempts))


async def ensure_effects_table(engine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(effects_md.create_all)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--until-idle", action="store_true")
    args = parser.parse_args()
    engine = create_engine(args.url)
    await ensure_effects_table(engine)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    worker = Worker(engine, registry, concurrency=args.concurrency, lease_s=args.lease, poll_interval_s=0.05)
    print("ready", flush=True)
    stats = await worker.run(stop, until_idle=args.until_idle)
    print("stats", stats, flush=True)
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
