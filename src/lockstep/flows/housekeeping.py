"""Housekeeping: finished jobs are kept for inspection (``lockstep jobs list``), then purged."""

from __future__ import annotations

from datetime import timedelta

from lockstep.queue import JobContext, TaskRegistry
from lockstep.queue import jobs as q

RETENTION = timedelta(days=7)


async def purge_jobs(ctx: JobContext) -> None:
    async with ctx.transaction() as conn:
        await q.purge(conn, older_than=RETENTION, statuses=(q.DONE,), brand=ctx.brand)


def register(registry: TaskRegistry) -> None:
    registry.register("housekeeping.purge_jobs", purge_jobs)
