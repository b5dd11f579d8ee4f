"""Centra's budget is paced within its 10-s window, and starvation is judged on the bucket callers compete for."""

from __future__ import annotations

import time

from lockstep.connectors.budget import CENTRA_TIERS, LocalBudget, Priority, Window, paced


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
