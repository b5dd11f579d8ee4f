"""The event schedule: every action of a run, decided up front from the seed (pure, no I/O).

Generating the whole schedule before the clock starts makes a run reproducible: the same scenario, duration,
seed and multiplier always give the same events at the same offsets with the same parameters, whatever the
systems under test answer. Each kind of event is a Poisson process with its own seeded generator, so raising
one rate never reshuffles the others. SKUs are referred to by index into the seeded catalog.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from lockstep.config.topology import BrandTopology

from .spec import Scenario
from .world import live_facilities


@dataclass(frozen=True)
class StorefrontOrder:
    """A shopper checks out in a Centra market: lines are (SKU index, units)."""

    kind: ClassVar[str] = "storefront_order"
    market: str
    country: str
    lines: tuple[tuple[int, int], ...]
    shopper: int
    on_hold: bool = False
    waiting_for_payment: bool = False
    shipping_option: str = "standard"  # the Centra shipping option's uri


@dataclass(frozen=True)
class OtherChannelOrder:
    """A wholesale/retail order placed directly in Deposco at one facility."""

    kind: ClassVar[str] = "other_channel_order"
    facility: str
    lines: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Receipt:
    kind: ClassVar[str] = "receipt"
    facility: str
    sku: int
    units: int


@dataclass(frozen=True)
class Adjustment:
    """A cycle-count or damage correction; negative units never take on hand below zero."""

    kind: ClassVar[str] = "adjustment"
    facility: str
    sku: int
    units: int


@dataclass(frozen=True)
class FacilityLive:
    """A draft facility goes live (``lockstep facility promote``)."""

    kind: ClassVar[str] = "facility_live"
    facility: str


Action = StorefrontOrder | OtherChannelOrder | Receipt | Adjustment | FacilityLive
KINDS = tuple(k.kind for k in (StorefrontOrder, OtherChannelOrder, Receipt, Adjustment, FacilityLive))


@dataclass(frozen=True)
class Event:
    at: float  # seconds from the start of the run
    action: Action

    @property
    def kind(self) -> str:
        return self.action.kind


def _arrivals(rng: random.Random, rate: float, duration: float) -> list[float]:
    times: list[float] = []
    if rate <= 0:
        return times
    t = rng.expovariate(rate)
    while t < duration:
        times.append(round(t, 6))
        t += rng.expovariate(rate)
    return times


def _weighted(rng: random.Random, weights: Sequence[tuple[str, float]]) -> str:
    names, values = zip(*weights, strict=True)
    return rng.choices(names, values)[0]


def _sku(rng: random.Random, skus: int, skew: float) -> int:
    return min(skus - 1, int(skus * rng.random() ** skew))


def _lines(rng: random.Random, skus: int, count: tuple[int, int], units: tuple[int, int], skew: float) -> tuple:
    chosen: dict[int, int] = {}
    for _ in range(rng.randint(*count)):
        index = _sku(rng, skus, skew)
        chosen[index] = chosen.get(index, 0) + rng.randint(*units)
    return tuple(chosen.items())


def _weights(given: Sequence[tuple[str, float]], known: Sequence[str]) -> list[tuple[str, float]]:
    usable = [(name, w) for name, w in given if name in known and w > 0]
    return usable or [(name, 1.0) for name in known]


def build_schedule(
    scenario: Scenario,
    topology: BrandTopology,
    skus: int,
    duration: float,
    seed: int,
    rate_multiplier: float = 1.0,
) -> list[Event]:
    """Every event of the run, sorted by time (ties in a fixed kind order)."""
    if skus <= 0:
        raise ValueError("the catalog has no SKUs")
    scale = max(0.0, rate_multiplier)
    markets = _weights(scenario.market_weights, [m.id for m in topology.markets])
    live = live_facilities(topology)
    all_facilities = [f.code for f in topology.facilities]
    receipt_at = _weights(scenario.receipt_facilities, all_facilities)
    events: list[Event] = []

    rng = random.Random(f"{seed}:storefront")
    for shopper, at in enumerate(_arrivals(rng, scenario.storefront_per_s * scale, duration), start=1):
        market = topology.market(_weighted(rng, markets))
        roll = rng.random()
        events.append(
            Event(
                at,
                StorefrontOrder(
                    market=market.id,
                    country=rng.choice(market.countries),
                    lines=_lines(rng, skus, scenario.lines_per_order, scenario.units_per_line, scenario.demand_skew),
                    shopper=shopper,
                    # every fourth shopper pays for express (drawn without the rng: the rest stays as it was)
                    shipping_option="express" if shopper % 4 == 0 else "standard",
                    on_hold=roll < scenario.on_hold_share,
                    waiting_for_payment=scenario.on_hold_share
                    <= roll
                    < scenario.on_hold_share + scenario.waiting_for_payment_share,
                ),
            )
        )
    rng = random.Random(f"{seed}:other-channel")
    for at in _arrivals(rng, scenario.other_channel_per_s * scale if live else 0.0, duration):
        facility = rng.choice(live)
        lines = _lines(rng, skus, (1, 2), scenario.other_channel_units, scenario.demand_skew)
        events.append(Event(at, OtherChannelOrder(facility, lines)))
    rng = random.Random(f"{seed}:receipts")
    for at in _arrivals(rng, scenario.receipts_per_s * scale, duration):
        facility = _weighted(rng, receipt_at)
        events.append(Event(at, Receipt(facility, _sku(rng, skus, 1.0), rng.randint(*scenario.receipt_units))))
    rng = random.Random(f"{seed}:adjustments")
    for at in _arrivals(rng, scenario.adjustments_per_s * scale if live else 0.0, duration):
        units = rng.randint(*scenario.adjustment_units) or 1
        events.append(Event(at, Adjustment(rng.choice(live), _sku(rng, skus, 1.0), units)))
    for code, fraction in scenario.go_live:
        topology.facility(code)  # unknown codes fail loudly here, not halfway through a run
        events.append(Event(round(min(max(fraction, 0.0), 1.0) * duration, 6), FacilityLive(code)))
    order = {kind: i for i, kind in enumerate(KINDS)}
    events.sort(key=lambda e: (e.at, order[e.kind]))
    return events


def planned(events: Sequence[Event]) -> dict[str, int]:
    """Events per kind, for the run summary."""
    return dict(sorted(Counter(e.kind for e in events).items()))
