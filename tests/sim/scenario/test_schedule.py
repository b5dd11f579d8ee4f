"""The schedule and the seeded world are pure functions of (scenario, duration, seed): reproducible runs."""

from __future__ import annotations

import dataclasses

import pytest

from lockstep.sim.scenario import SCENARIOS, build_schedule, get_scenario
from lockstep.sim.scenario.events import FacilityLive, OtherChannelOrder, Receipt, StorefrontOrder, planned
from lockstep.sim.scenario.world import CatalogItem, initial_stock, load_topology, publishable, with_live


@pytest.fixture(scope="module")
def brand():
    return load_topology()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_same_seed_gives_the_same_schedule_and_stock(brand, name):
    scenario = SCENARIOS[name]
    first = build_schedule(scenario, brand, 80, 20.0, seed=7)
    assert first == build_schedule(scenario, brand, 80, 20.0, seed=7)
    assert first != build_schedule(scenario, brand, 80, 20.0, seed=8)
    assert initial_stock(scenario, brand, 80, 7) == initial_stock(scenario, brand, 80, 7)
    assert [e.at for e in first] == sorted(e.at for e in first)
    assert all(0 <= e.at <= 20.0 for e in first)


def test_events_only_use_the_brand_world(brand):
    events = build_schedule(get_scenario("peak-sale"), brand, 400, 10.0, seed=1)
    kinds = planned(events)
    assert kinds["storefront_order"] > 200 and kinds["other_channel_order"] > 10 and kinds["receipt"] > 5
    live = {f.code for f in brand.facilities if f.is_live}
    for event in events:
        action = event.action
        if isinstance(action, StorefrontOrder):
            assert action.country in brand.market(action.market).countries
            assert all(0 <= sku < 400 and units >= 1 for sku, units in action.lines)
        elif isinstance(action, OtherChannelOrder):
            assert action.facility in live
        elif isinstance(action, Receipt):
            assert 1 <= action.units <= 4


def test_rate_multiplier_scales_every_rate_but_not_go_live(brand):
    scenario = get_scenario("new-facility")
    base = planned(build_schedule(scenario, brand, 80, 30.0, seed=3))
    double = planned(build_schedule(scenario, brand, 80, 30.0, seed=3, rate_multiplier=2.0))
    assert double["storefront_order"] > 1.5 * base["storefront_order"]
    assert double["facility_live"] == base["facility_live"] == 1
    idle = build_schedule(scenario, brand, 80, 30.0, seed=3, rate_multiplier=0)
    assert [e.action for e in idle] == [FacilityLive("US-NJ")] and idle[0].at == 15.0


def test_unknown_go_live_facility_fails_before_the_run(brand):
    scenario = dataclasses.replace(get_scenario("steady"), go_live=(("XX-NOPE", 0.5),))
    with pytest.raises(KeyError, match="XX-NOPE"):
        build_schedule(scenario, brand, 10, 5.0, seed=0)


def test_draft_facilities_start_with_draft_stock(brand):
    scenario = dataclasses.replace(get_scenario("steady"), stock=(5, 5), draft_stock=(0, 0))
    stock = initial_stock(scenario, brand, 3, seed=0)
    assert stock == {(f, n): 5 for f in ("SE-STO", "GB-MKN") for n in range(3)}


def test_publishable_stock_applies_shares_buffers_and_liveness(brand):
    items = [CatalogItem("NORDWIND-1", "e1", "NORDWIND-1"), CatalogItem("NW-LTD-1", "e2", "NW-LTD-1")]
    stock = publishable(brand, items, lambda facility, item: 10)
    assert stock == {
        "EU Stockholm": [("NORDWIND-1", 6), ("NW-LTD-1", 4)],  # floor(0.7 * 10) - buffer 1 / 3
        "UK Milton Keynes": [("NORDWIND-1", 10), ("NW-LTD-1", 8)],  # floor(0.8 * 10 + 0.3 * 10) - 1 / 3
        "US New Jersey": [("NORDWIND-1", 0), ("NW-LTD-1", 0)],  # US-NJ is draft
        "US Export": [("NORDWIND-1", 1), ("NW-LTD-1", 1)],  # floor(0.2 * 10) - 1
    }
    live = publishable(with_live(brand, "US-NJ"), items, lambda facility, item: 4, pools=["us"])
    assert live == {"US New Jersey": [("NORDWIND-1", 3), ("NW-LTD-1", 3)]}
