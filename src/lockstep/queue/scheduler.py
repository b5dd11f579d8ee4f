"""Cron schedules -> jobs, each slot exactly once however many processes run a scheduler.

A slot is claimed by inserting ``(brand, schedule, slot)`` into ``schedule_slots``; the primary key lets exactly
one process win, and the job is enqueued in that same transaction. Slots missed while nothing was running are
caught up once (only the latest), and only within ``misfire_grace_s``: a restart at 00:10 still takes the 23:59
finance snapshot, a first start at noon does not run yesterday's.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from croniter import croniter
from sqlalchemy.ext.asyncio import AsyncEngine

from lockstep.clock import utcnow
from lockstep.queue.jobs import enqueue
from lockstep.store.db import insert_for
from lockstep.store.tables import schedule_slots

log = structlog.get_logger("lockstep.scheduler")


@dataclass(frozen=True)
class Schedule:
    brand: str
    name: str
    cron: str
    task: str
    timezone: str = "UTC"
    priority: int = 0

    def latest_slot(self, now: datetime) -> datetime:
        """The most recent cron time at or before ``now`` (evaluated in the brand's timezone), in UTC."""
        local_now = now.astimezone(ZoneInfo(self.timezone))
        itr = croniter(self.cron, local_now + timedelta(microseconds=1))
        return itr.get_prev(datetime).astimezone(now.tzinfo)


@dataclass(frozen=True)
class Fired:
    schedule: Schedule
    slot: datetime
    job_id: int


class Scheduler:
    def __init__(
        self,
        engine: AsyncEngine,
        schedules: list[Schedule],
        *,
        misfire_grace_s: float = 3600.0,
        tick_s: float = 1.0,
    ):
        self.engine = engine
        self.schedules = schedules
        self.misfire_grace_s = misfire_grace_s
        self.tick_s = tick_s
        self._seen: dict[tuple[str, str], datetime] = {}
        self.fired: list[Fired] = []

    async def tick(self, now: datetime | None = None) -> list[Fired]:
        now = now or utcnow()
        fired = []
        for schedule in self.schedules:
            slot = schedule.latest_slot(now)
            key = (schedule.brand, schedule.name)
            if self._seen.get(key) == slot:
                continue
            if (now - slot).total_seconds() > self.misfire_grace_s:
                self._seen[key] = slot
                continue
            job_id = await self._claim_slot(schedule, slot)
            self._seen[key] = slot
            if job_id is not None:
                fired.append(Fired(schedule, slot, job_id))
                log.info("schedule fired", brand=schedule.brand, schedule=schedule.name, slot=slot.isoformat())
        self.fired.extend(fired)
        return fired

    async def _claim_slot(self, schedule: Schedule, slot: datetime) -> int | None:
        async with self.engine.begin() as conn:
            inserted = await conn.execute(
                insert_for(conn)(schedule_slots)
                .values(brand=schedule.brand, schedule=schedule.name, slot=slot, created_at=utcnow())
                .on_conflict_do_nothing()
                .returning(schedule_slots.c.slot)
            )
            if inserted.first() is None:
                return None  # another scheduler took this slot
            job_id = await enqueue(
                conn,
                brand=schedule.brand,
                task=schedule.task,
                payload={"schedule": schedule.name, "slot": slot.isoformat()},
                priority=schedule.priority,
                dedupe_key=f"schedule:{schedule.name}",
            )
            await conn.execute(
                schedule_slots.update()
                .where(
                    schedule_slots.c.brand == schedule.brand,
                    schedule_slots.c.schedule == schedule.name,
                    schedule_slots.c.slot == slot,
                )
                .values(job_id=job_id)
            )
            return job_id

    async def run(self, stop: asyncio.Event) -> None:
        log.info("scheduler started", schedules=len(self.schedules))
        while not stop.is_set():
            try:
                await self.tick()
            except Exception as error:  # the database may be briefly unavailable; try again next tick
                log.warning("scheduler tick failed", error=str(error).splitlines()[0] if str(error) else "")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.tick_s)
