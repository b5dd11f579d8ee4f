"""Cron slots fire exactly once across competing schedulers, in the brand's timezone, with a misfire grace."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from lockstep.queue import jobs as q
from lockstep.queue.scheduler import Schedule, Scheduler
from lockstep.store.db import create_engine

SNAPSHOT = Schedule(
    brand="b", name="finance_snapshot", cron="59 23 * * *", task="finance.snapshot", timezone="Europe/Stockholm"
)


def test_latest_slot_is_computed_in_the_brand_timezone():
    now = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)  # 00:30 in Stockholm on the 28th
    assert SNAPSHOT.latest_slot(now) == datetime(2026, 11, 27, 22, 59, tzinfo=UTC)
    exactly = datetime(2026, 11, 27, 22, 59, tzinfo=UTC)
    assert SNAPSHOT.latest_slot(exactly) == exactly


async def test_competing_schedulers_fire_each_slot_once(engine, db_url):
    now = datetime(2026, 11, 27, 23, 5, tzinfo=UTC)
    engines = [engine, create_engine(db_url), create_engine(db_url)]
    try:
        schedulers = [Scheduler(e, [SNAPSHOT]) for e in engines]
        results = await asyncio.gather(*(s.tick(now) for s in schedulers))
        again = await asyncio.gather(*(s.tick(now + timedelta(seconds=30)) for s in schedulers))
    finally:
        for e in engines[1:]:
            await e.dispose()
    fired = [f for r in results for f in r]
    assert len(fired) == 1
    assert fired[0].slot == datetime(2026, 11, 27, 22, 59, tzinfo=UTC)
    assert all(r == [] for r in again)
    async with engine.connect() as conn:
        [job] = await q.list_jobs(conn, task="finance.snapshot")
    assert job.payload == {"schedule": "finance_snapshot", "slot": "2026-11-27T22:59:00+00:00"}


async def test_slots_older_than_the_grace_are_not_caught_up(engine):
    scheduler = Scheduler(engine, [SNAPSHOT], misfire_grace_s=3600)
    noon = datetime(2026, 11, 27, 11, 0, tzinfo=UTC)  # yesterday's 23:59 is 12 hours old
    assert await scheduler.tick(noon) == []
    late_restart = datetime(2026, 11, 27, 23, 10, tzinfo=UTC)  # 11 minutes after tonight's slot
    assert len(await scheduler.tick(late_restart)) == 1


async def test_next_slot_fires_again(engine):
    every5 = Schedule(brand="b", name="config_monitor", cron="*/5 * * * *", task="monitor.config")
    scheduler = Scheduler(engine, [every5])
    t0 = datetime(2026, 11, 27, 10, 1, tzinfo=UTC)
    assert len(await scheduler.tick(t0)) == 1
    assert await scheduler.tick(t0 + timedelta(minutes=2)) == []
    assert len(await scheduler.tick(t0 + timedelta(minutes=4))) == 1
