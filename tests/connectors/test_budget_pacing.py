"""Centra's budget is paced within its 10-s window, and starvation is judged on the bucket callers compete for."""

from __future__ import annotations

import itertools
import time

from lockstep.connectors.budget import (
    CENTRA_TIERS,
    HOUR_BURST,
    LocalBudget,
    Priority,
    Window,
    _wait_needed,
    paced,
    steady,
)


def test_paced_adds_a_one_second_window_at_a_tenth_of_the_ten_second_limit():
    windows = paced(Window(20, 10), Window(1800, 3600))
    assert windows[0] == Window(2, 1.0)
    assert windows[1:] == (Window(20, 10), Window(1800, 3600))
    assert CENTRA_TIERS["growth"]["mutations"][0] == Window(2, 1.0)
    assert CENTRA_TIERS["enhanced"]["requests"][0] == Window(15, 1.0)


async def test_a_burst_cannot_take_the_whole_ten_second_window_at_once():
    budget = LocalBudget("centra:pacing", CENTRA_TIERS["growth"], margin_s=0.0)
    waits = [await budget.acquire("mutations", priority=Priority.NORMAL) for _ in range(2)]
    assert waits == [0.0, 0.0] or max(waits) < 0.05
    started = time.monotonic()
    await budget.acquire("mutations", priority=Priority.NORMAL)  # the third in one second waits for the next
    assert time.monotonic() - started > 0.8


def test_starvation_is_judged_on_the_scarcest_shared_bucket():
    budget = LocalBudget("centra:rank", CENTRA_TIERS["growth"])
    assert budget._scarcest({"requests", "mutations"}) == "mutations"
    now = time.monotonic()
    # order fetches (HIGH) took every request; shipment mutations (NORMAL) most mutations
    budget._grants.extend((now, Priority.HIGH, "requests") for _ in range(40))
    budget._grants.extend((now, Priority.NORMAL, "mutations") for _ in range(8))
    budget._grants.extend((now, Priority.HIGH, "mutations") for _ in range(2))
    assert budget._rank("mutations", Priority.NORMAL, now) == int(Priority.NORMAL)  # not starved there
    assert budget._rank("requests", Priority.NORMAL, now) < int(Priority.URGENT)  # starved on requests alone


def test_scan_ticks_keep_their_cadence():
    from datetime import UTC, datetime, timedelta

    from lockstep.flows.inventory.ingest import next_tick_in

    start = datetime(2026, 12, 2, tzinfo=UTC)
    assert next_tick_in(2, start, start + timedelta(seconds=0.5)) == 1.5
    assert next_tick_in(2, start, start + timedelta(seconds=3)) == 0.0


def test_the_hour_is_spent_evenly_after_its_burst_and_never_runs_dry():
    """Growth's 1,800 mutations an hour, asked for as fast as the 10-second window allows: the first 10 % go at
    that pace, the rest at the even rate that fits the hour. Never more than 1,800 in any hour, and no gap longer
    than the even rate's step (the plain sliding hour granted 1,800 in 15 minutes, then nothing for 45)."""
    windows = CENTRA_TIERS["growth"]["mutations"]
    assert windows[-1] == steady(Window(1800, 3600), HOUR_BURST)
    grants: list[float] = []
    now = 0.0
    while now < 2 * 3600:
        wait = _wait_needed(grants, windows, Priority.URGENT, now, margin=0.0)
        if wait > 0:
            now += wait + 1e-6
            continue
        grants.append(now)
    gaps = [b - a for a, b in itertools.pairwise(grants)]
    rate = (1800 - 180) / 3600
    assert max(gaps) <= 1 / rate + 0.01  # no dry spell: at worst the even rate's step
    burst = [t for t in grants if t < 120]
    assert len(burst) >= 180  # the first two minutes at the 10-second window's pace (2/s)
    hour = [t for t in grants if 3600 <= t < 7200]
    assert rate * 3600 * 0.98 <= len(hour) <= 1800
    assert all(j - i <= 1800 for i, j in _counts_per_hour(grants))


def _counts_per_hour(grants: list[float]):
    """(start index, end index) of the grants in every hour that starts at a grant."""
    end = 0
    for start, at in enumerate(grants):
        while end < len(grants) and grants[end] < at + 3600:
            end += 1
        yield start, end


def test_lower_priorities_leave_part_of_the_burst():
    windows = (steady(Window(100, 100.0), 0.5),)  # a bucket of 50, 0.5 a second
    grants = [float(i) * 0.01 for i in range(40)]  # 40 spent just now: about 10 left
    now = 0.4
    assert _wait_needed(grants, windows, Priority.URGENT, now, margin=0.0) == 0.0
    assert _wait_needed(grants, windows, Priority.NORMAL, now, margin=0.0) == 0.0  # keeps 5 % (2.5) back
    # LOW keeps 30 % of the bucket (15) for the others: it waits until 16 tokens are back
    assert 11 < _wait_needed(grants, windows, Priority.LOW, now, margin=0.0) < 13


async def test_the_in_memory_budget_keeps_the_bucket_as_it_grants():
    """LocalBudget keeps a steady window's bucket up to date grant by grant (replaying an hour of grants on
    every call cost 5 ms at Enterprise volumes); it agrees with the replay."""
    windows = (steady(Window(20, 10.0), 0.25),)  # a bucket of 5, refilled at 1.5 a second
    budget = LocalBudget("t", {"m": windows}, margin_s=0.0)
    for _ in range(5):
        assert await budget.acquire("m", priority=Priority.URGENT) < 0.05
    now = time.monotonic()
    kept = budget._wait(("m",), Priority.URGENT, now)
    replayed = _wait_needed(list(budget._log["m"]), windows, Priority.URGENT, now, margin=0.0)
    assert 0.55 < kept < 0.7 and abs(kept - replayed) < 0.02
    await budget.observe_used("m", 10.0, 9)  # another integration spent 4 more
    assert budget._wait(("m",), Priority.URGENT, time.monotonic()) > 2.5
