"""Scenarios are data: rates of each kind of event and how the world is seeded, nothing else.

Keeping them as frozen dataclasses (not code paths) means a new scenario is a new entry in :data:`SCENARIOS`,
benchmarks can tweak one with :func:`dataclasses.replace`, and the event schedule is a pure function of
(scenario, duration, seed).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    """Rates are events per second (before ``--rate-multiplier``); ranges are inclusive (low, high)."""

    name: str
    description: str
    # catalog: products x variants x sizes Centra sizes, each also a Deposco item
    products: int = 10
    variants: int = 2
    sizes: int = 4
    # initial on hand per SKU in every live facility, and in draft facilities
    stock: tuple[int, int] = (20, 60)
    draft_stock: tuple[int, int] = (0, 0)
    # storefront demand (shoppers checking out through Centra)
    storefront_per_s: float = 2.0
    lines_per_order: tuple[int, int] = (1, 2)
    units_per_line: tuple[int, int] = (1, 2)
    market_weights: tuple[tuple[str, float], ...] = ()  # market id -> weight; empty = equal
    demand_skew: float = 1.0  # 1 = uniform over the catalog; > 1 concentrates demand on the first SKUs
    on_hold_share: float = 0.0
    waiting_for_payment_share: float = 0.0
    # other-channel demand (wholesale, retail) placed directly in Deposco
    other_channel_per_s: float = 0.0
    other_channel_units: tuple[int, int] = (1, 3)
    other_channel_respects_atp: bool = True  # an ATP-checking channel never orders beyond Deposco's ATP
    # receipts and adjustments (cycle counts, damage) in Deposco
    receipts_per_s: float = 0.0
    receipt_units: tuple[int, int] = (5, 20)
    receipt_facilities: tuple[tuple[str, float], ...] = ()  # facility -> weight; empty = equal over all
    adjustments_per_s: float = 0.0
    adjustment_units: tuple[int, int] = (-2, 2)
    # warehouse shipping progress: Deposco releases, picks and ships each open order after these waits (a
    # compressed warehouse day, so short runs and tests see shipments)
    release_after_s: float = 0.25
    pick_after_s: float = 0.25
    ship_after_s: float = 0.5
    # go-live of draft facilities: (facility code, moment as a fraction of the run)
    go_live: tuple[tuple[str, float], ...] = ()


STEADY = Scenario(
    name="steady",
    description="An ordinary day: modest storefront and other-channel demand, receipts, cycle counts, shipping.",
    products=20,
    stock=(20, 60),
    storefront_per_s=3.0,
    market_weights=(("eu", 0.6), ("uk", 0.3), ("us", 0.1)),
    on_hold_share=0.03,
    waiting_for_payment_share=0.03,
    other_channel_per_s=0.5,
    receipts_per_s=0.3,
    adjustments_per_s=0.2,
)

PEAK_SALE = Scenario(
    name="peak-sale",
    description=(
        "A promotion on a few hundred SKUs near zero stock: heavy storefront demand, some other-channel demand "
        "and small receipts. The oversell benchmark."
    ),
    products=50,  # 400 SKUs
    stock=(2, 6),
    storefront_per_s=40.0,
    lines_per_order=(1, 3),
    units_per_line=(1, 1),
    market_weights=(("eu", 0.55), ("uk", 0.3), ("us", 0.15)),
    demand_skew=1.5,
    other_channel_per_s=4.0,
    other_channel_units=(1, 2),
    receipts_per_s=2.0,
    receipt_units=(1, 4),
    release_after_s=0.1,
    pick_after_s=0.1,
    ship_after_s=0.3,
)

NEW_FACILITY = Scenario(
    name="new-facility",
    description=(
        "The draft US-NJ facility is stocked by receipts while US orders ship from the UK (us-export), then goes "
        "live halfway through and its stock is published to the 'US New Jersey' pool."
    ),
    products=10,
    stock=(10, 30),
    draft_stock=(0, 5),
    storefront_per_s=3.0,
    market_weights=(("eu", 0.3), ("uk", 0.2), ("us", 0.5)),
    other_channel_per_s=0.3,
    receipts_per_s=2.0,
    receipt_units=(5, 15),
    receipt_facilities=(("US-NJ", 0.8), ("SE-STO", 0.1), ("GB-MKN", 0.1)),
    go_live=(("US-NJ", 0.5),),
)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (STEADY, PEAK_SALE, NEW_FACILITY)}


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
