"""Rate budgets never let more calls through than a window allows, in one process or shared via PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

from lockstep.connectors.budget import (
    BudgetBusy,
    LocalBudget,
    Priority,
    SharedBudget,
    Window,
    make_budget,
    patience,
    steady,
)
from lockstep.store.db import create_engine
from lockstep.store.tables import rate_grants


def max_in_any_window(times: list[float], seconds: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_local_budget_holds_every_window_and_uses_it():
    budget = LocalBudget("t", {"requests": (Window(5, 0.5), Window(12, 2.0))}, margin_s=0.02)
    granted = []
    began = time.monotonic()

    async def call():
        await budget.acquire("requests", priority=Priority.HIGH)
        granted.append(time.monotonic())

    await asyncio.gather(*(call() for _ in range(15)))
    assert max_in_any_window(granted, 0.5) <= 5
    assert max_in_any_window(granted, 2.0) <= 12
    # used, not wasted: 15 calls with 12 per 2 s need a little over 2 s, not much more
    assert 2.0 <= time.monotonic() - began < 3.0


async def test_low_priority_leaves_a_reserve_for_high_priority():
    budget = LocalBudget("t", {"requests": (Window(10, 60),)})
    for _ in range(7):  # LOW may fill 70 %
        await asyncio.wait_for(budget.acquire("requests", priority=Priority.LOW), 0.5)
    blocked = asyncio.create_task(budget.acquire("requests", priority=Priority.LOW))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    for _ in range(3):  # HIGH still gets the rest at once
        await asyncio.wait_for(budget.acquire("requests", priority=Priority.HIGH), 0.5)
    blocked.cancel()


def recorder(budget, order: list[str]):
    """A caller that acquires ``buckets`` at ``priority`` and then notes its name in ``order``."""

    async def call(name: str, priority: Priority, *buckets: str) -> None:
        await budget.acquire(*buckets, priority=priority)
        order.append(name)

    return call


async def test_waiting_callers_are_served_in_priority_order_within_the_short_window():
    """Reserves only shape the longest window (Centra's hour); within a saturated short window the waiting
    callers of one process go highest priority first, whichever arrived first."""
    budget = LocalBudget(
        "t", {"requests": (Window(2, 0.3), Window(1000, 3600)), "mutations": (Window(1, 5.0),)}, margin_s=0.0
    )
    await budget.acquire("mutations", priority=Priority.HIGH)  # the mutation bucket is now full (for 5 s)
    for _ in range(2):  # and the request bucket for 0.3 s (by LOW calls: no priority is short of its share)
        await budget.acquire("requests", priority=Priority.LOW)
    order: list[str] = []
    call = recorder(budget, order)

    low = asyncio.create_task(call("low", Priority.LOW, "requests"))
    await asyncio.sleep(0.02)
    normal = asyncio.create_task(call("normal", Priority.NORMAL, "requests"))
    await asyncio.sleep(0.02)
    high = asyncio.create_task(call("high", Priority.HIGH, "requests"))
    # a higher-priority caller that cannot go (its mutation bucket is full) holds nobody back
    blocked = asyncio.create_task(call("blocked", Priority.HIGH, "requests", "mutations"))
    await asyncio.wait_for(asyncio.gather(low, normal, high), 2.0)
    assert order == ["high", "normal", "low"]
    assert not blocked.done()
    blocked.cancel()


async def test_an_impatient_caller_gives_up_without_a_grant_and_a_patient_one_waits():
    """What a shipment completion does in its pool's lane: rather than sleep there on the budget, give up."""
    budget = LocalBudget("t", {"mutations": (Window(1, 0.6),)}, margin_s=0.0)
    await budget.acquire("mutations")
    began = time.monotonic()
    with patience(0.2), pytest.raises(BudgetBusy):
        await budget.acquire("mutations")
    assert time.monotonic() - began < 0.1  # it knew at once that 0.2 s would not do
    assert len(budget._log["mutations"]) == 1  # and recorded no grant
    with patience(1.0):
        await budget.acquire("mutations")  # the window frees within its patience: granted
    assert 0.5 <= time.monotonic() - began < 0.9


async def test_mutation_uses_both_buckets_and_reported_use_counts():
    budget = LocalBudget("centra", {"requests": (Window(100, 10),), "mutations": (Window(3, 10),)})
    for _ in range(3):
        await budget.acquire("requests", "mutations", priority=Priority.HIGH)
    queued = asyncio.create_task(budget.acquire("requests", "mutations", priority=Priority.HIGH))
    await asyncio.sleep(0.05)
    assert not queued.done()
    queued.cancel()
    await budget.acquire("requests", priority=Priority.HIGH)  # plain requests still flow
    await budget.observe_used("requests", 10, 100)  # other integrations used the rest
    blocked = asyncio.create_task(budget.acquire("requests", priority=Priority.HIGH))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    blocked.cancel()


async def test_shared_budget_holds_across_independent_clients(engine, db_url):
    if engine.dialect.name != "postgresql":
        assert isinstance(make_budget(engine, "s", {"requests": (Window(1, 1),)}), LocalBudget)
        return
    # the long second window keeps every grant in the log (older rows are pruned) so the test can read them all
    windows = {"requests": (Window(4, 0.5), Window(1000, 60))}
    engines = [create_engine(db_url) for _ in range(3)]
    try:
        budgets = [SharedBudget(e, "brand:deposco", windows, margin_s=0.02) for e in engines]
        await asyncio.gather(*(b.acquire("requests") for b in budgets for _ in range(6)))
    finally:
        for e in engines:
            await e.dispose()
    async with engine.connect() as conn:
        times = [r.at for r in await conn.execute(select(rate_grants.c.at))]
    assert len(times) == 18
    assert max_in_any_window(times, 0.5) <= 4


async def test_either_budget_serves_a_process_s_waiting_callers_by_precedence(engine):
    """make_budget's budget (in memory on SQLite, in PostgreSQL otherwise) hands a freed slot to the waiting
    caller of the highest priority, whichever arrived first. On PostgreSQL the waiters used to poll the grant log
    and the first to poll took the slot: a sale's stock writes got a random share of Centra's mutations."""
    budget = make_budget(engine, "precedence", {"requests": (Window(1, 0.4), Window(1000, 3600))})
    await budget.acquire("requests", priority=Priority.LOW)  # the window is full for 0.4 s
    order: list[str] = []

    async def call(name: str, priority: Priority) -> None:
        await budget.acquire("requests", priority=priority)
        order.append(name)

    tasks = []
    for name, priority in (("low", Priority.LOW), ("normal", Priority.NORMAL), ("urgent", Priority.URGENT)):
        tasks.append(asyncio.create_task(call(name, priority)))
        await asyncio.sleep(0.02)
    await asyncio.wait_for(asyncio.gather(*tasks), 5.0)
    assert order == ["urgent", "normal", "low"]


async def test_either_budget_serves_precedence_across_callers_of_different_buckets(engine):
    """A stock write asks for a request and a mutation, an order fetch for a request only. With the request
    bucket full, the freed slot goes to the write (URGENT) before the fetch (HIGH) that waited longer; and a
    fetch is not held back by a write that waits on its mutation bucket. On PostgreSQL callers of different
    buckets did not see each other: a sale's order fetches took the request slots first, and Centra's mutations
    ran at 1.2 a second of Growth's 2."""
    budget = make_budget(
        engine, "across", {"requests": (Window(1, 0.4), Window(1000, 3600)), "mutations": (Window(1, 3.0),)}
    )
    await budget.acquire("requests", priority=Priority.LOW)  # the request window is full for 0.4 s
    order: list[str] = []
    call = recorder(budget, order)

    fetch = asyncio.create_task(call("fetch", Priority.HIGH, "requests"))
    await asyncio.sleep(0.05)
    write = asyncio.create_task(call("write", Priority.URGENT, "requests", "mutations"))
    await asyncio.wait_for(asyncio.gather(fetch, write), 5.0)
    assert order == ["write", "fetch"]

    # The mutation bucket is now full for 3 s: a second write waits on it, and fetches go meanwhile.
    blocked = asyncio.create_task(call("blocked write", Priority.URGENT, "requests", "mutations"))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(call(f"fetch {n}", Priority.HIGH, "requests") for n in range(2))), 2.0)
    assert time.monotonic() - started < 1.5
    assert not blocked.done()
    blocked.cancel()
    await asyncio.gather(blocked, return_exceptions=True)


async def test_either_budget_leaves_a_lower_priority_its_floor(engine):
    """Higher-priority callers that always want more than the budget still leave the lower ones their floor."""
    budget = make_budget(engine, "floor", {"requests": (Window(5, 0.2), Window(100000, 3600))})
    granted: list[Priority] = []
    stop = asyncio.Event()

    async def caller(priority: Priority) -> None:
        while not stop.is_set():
            await budget.acquire("requests", priority=priority)
            granted.append(priority)

    tasks = [asyncio.create_task(caller(Priority.URGENT)) for _ in range(4)]
    tasks.append(asyncio.create_task(caller(Priority.NORMAL)))
    await asyncio.sleep(2.0)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    normal = granted.count(Priority.NORMAL) / len(granted)
    assert 0.12 <= normal <= 0.35, f"NORMAL got {normal:.0%} of {len(granted)} grants"


async def test_an_impatient_caller_in_line_gives_up_in_time(engine):
    budget = make_budget(engine, "patience", {"requests": (Window(1, 2.0), Window(1000, 3600))})
    await budget.acquire("requests", priority=Priority.HIGH)
    started = time.monotonic()
    with patience(0.3), pytest.raises(BudgetBusy):
        await budget.acquire("requests", priority=Priority.NORMAL)
    assert time.monotonic() - started < 1.0


async def test_either_budget_spends_a_steady_window_as_a_bucket(engine):
    """A bucket of 5 refilled at 1.5 a second: five at once, then one about every 0.67 s. On PostgreSQL the
    bucket is summed up in SQL from the grant log (an hour of grants is not read back row by row)."""
    budget = make_budget(engine, "steady", {"m": (steady(Window(20, 10.0), 0.25),)})
    started = time.monotonic()
    for _ in range(5):
        await budget.acquire("m", priority=Priority.URGENT)
    burst = time.monotonic() - started
    await budget.acquire("m", priority=Priority.URGENT)
    sixth = time.monotonic() - started - burst
    assert burst < 0.5 and 0.4 < sixth < 1.2, (burst, sixth)
