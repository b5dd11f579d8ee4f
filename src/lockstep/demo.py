"""``lockstep demo``: a newcomer's first look, on a fresh SQLite database and the example brand.

It shows the parts that exist today for real: migrations, the validated pool -> facility mapping, the scheduler
firing cron slots into the durable queue, workers running them, and exceptions opened by a monitoring flow.
Later issues extend it (simulators, orders, shipments, stock) until it tells the whole story.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lockstep.config import Settings
from lockstep.queue import Worker, enqueue
from lockstep.queue import jobs as q
from lockstep.queue.scheduler import Scheduler
from lockstep.runtime import Runtime, load_config
from lockstep.store import exceptions as exc_store
from lockstep.store import migrate
from lockstep.store.db import create_engine

DEMO_DB = Path("var/demo.db")


async def run_demo(settings: Settings, *, seconds: float, console: Console) -> None:
    from lockstep.cli import print_mapping

    console.rule("1. database")
    for leftover in DEMO_DB.parent.glob(DEMO_DB.name + "*"):
        leftover.unlink()
    engine = create_engine(f"sqlite:///{DEMO_DB}")
    revision = await migrate.upgrade(engine)
    console.print(f"fresh SQLite database {DEMO_DB} (WAL) migrated to revision {revision}")

    console.rule("2. configuration")
    config = load_config(settings)
    for warning in config.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    for topology in config.brands.values():
        print_mapping(topology)
    runtime = Runtime(settings, config, engine)
    schedules, skipped = runtime.schedules()
    for note in skipped:
        console.print(f"note: {note}", highlight=False)

    console.rule(f"3. scheduler + worker for {seconds:g}s")
    async with engine.begin() as conn:
        # An operator's manual "re-check now", twice: the queue coalesces them into one pending job.
        for brand in config.brands:
            for _ in range(2):
                await enqueue(conn, brand=brand, task="monitor.config", dedupe_key="manual:monitor.config")
    scheduler = Scheduler(engine, schedules, tick_s=0.5)
    worker = Worker(
        engine, runtime.registry, concurrency=4, poll_interval_s=0.1, services=runtime, owner_for=runtime.owner_for
    )
    stop = asyncio.Event()
    parts = [asyncio.create_task(scheduler.run(stop)), asyncio.create_task(worker.run(stop))]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*parts)

    for fired in scheduler.fired:
        console.print(
            f"scheduler fired {fired.schedule.brand}/{fired.schedule.name} "
            f"(slot {fired.slot:%Y-%m-%d %H:%M} UTC) -> job {fired.job_id}",
            highlight=False,
        )
    async with engine.connect() as conn:
        jobs = await q.list_jobs(conn)
        records = await exc_store.list_exceptions(conn, active_only=True)
    table = Table(title="jobs")
    for column in ("id", "brand", "task", "status", "attempts"):
        table.add_column(column)
    for job in jobs:
        table.add_row(str(job.id), job.brand, job.task, job.status, str(job.attempts))
    console.print(table)
    console.print(
        f"worker: {worker.stats}; the two manual re-checks were coalesced into job {jobs[-1].id if jobs else '-'}",
        highlight=False,
    )

    console.rule("4. exceptions")
    for record in records:
        console.print(
            f"\\[{record.severity}] {record.kind} -> team {record.owner_team}: {record.summary} "
            f"(playbook docs/playbooks/{record.playbook}.md)",
            highlight=False,
        )
    if not records:
        console.print("no open exceptions")
    await engine.dispose()
    console.rule("done")
    console.print(
        f"Inspect it yourself: LOCKSTEP_DATABASE_URL=sqlite:///{DEMO_DB} lockstep jobs list | lockstep exceptions list",
        highlight=False,
    )
