"""The brand world a scenario runs in, derived from a brand topology file (pure: no HTTP).

The simulators must look like the brand Lockstep is configured for, or Lockstep would refuse the mapping: Centra
warehouses named as the pools' ``centra_warehouse``, one allocation rule per market listing its pools in order,
Deposco facilities by code. This module turns a :class:`~lockstep.config.topology.BrandTopology` into that plan,
the seeded initial stock, and the stock a pool may publish (DESIGN.md §4 with no order in flight).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lockstep.config.loader import load_brand_file
from lockstep.config.topology import BrandTopology

from .spec import Scenario

CURRENCIES = {"GB": "GBP", "US": "USD", "SE": "SEK", "NO": "NOK", "DK": "DKK", "CH": "CHF"}


def example_topology_path() -> Path:
    """The example brand file: packaged next to the config code, or in the checkout's ``config/``."""
    here = Path(__file__).resolve()
    packaged = here.parents[2] / "config" / "example-brand.yaml"
    return packaged if packaged.exists() else here.parents[4] / "config" / "example-brand.yaml"


def load_topology(path: Path | str | None = None) -> BrandTopology:
    return load_brand_file(path or example_topology_path())


def market_currency(countries: Sequence[str]) -> str:
    """A plausible currency for a market: the first country's own currency, EUR otherwise."""
    return CURRENCIES.get(countries[0], "EUR") if countries else "EUR"


def market_warehouses(topology: BrandTopology, market_id: str) -> list[str]:
    """The Centra warehouses a market's allocation rule lists, in the market's pool order."""
    return [topology.pool(pool).centra_warehouse for pool in topology.market(market_id).pools]


def live_facilities(topology: BrandTopology) -> list[str]:
    return [f.code for f in topology.facilities if f.is_live]


def with_live(topology: BrandTopology, code: str) -> BrandTopology:
    """The same brand with facility ``code`` promoted to live (what ``lockstep facility promote`` records)."""
    facilities = tuple(f.model_copy(update={"state": "live"}) if f.code == code else f for f in topology.facilities)
    return topology.model_copy(update={"facilities": facilities})


@dataclass(frozen=True)
class CatalogItem:
    """One Centra size and the Deposco item number it has under the brand's ``sku_key``."""

    sku: str
    ean: str
    item: str


def catalog_items(sizes: Sequence[Mapping[str, str]], sku_key: str) -> list[CatalogItem]:
    return [CatalogItem(s["sku"], s["ean"], s["sku"] if sku_key == "sku" else s["ean"]) for s in sizes]


def initial_stock(scenario: Scenario, topology: BrandTopology, skus: int, seed: int) -> dict[tuple[str, int], int]:
    """On hand per (facility, SKU index) at the start: ``scenario.stock`` for live, ``draft_stock`` for others."""
    rng = random.Random(f"{seed}:stock")
    stock: dict[tuple[str, int], int] = {}
    for facility in topology.facilities:
        low, high = scenario.stock if facility.is_live else scenario.draft_stock
        for index in range(skus):
            units = rng.randint(low, high)
            if units > 0:
                stock[(facility.code, index)] = units
    return stock


def publishable(
    topology: BrandTopology,
    items: Sequence[CatalogItem],
    available: Callable[[str, str], float],
    pools: Sequence[str] | None = None,
) -> dict[str, list[tuple[str, int]]]:
    """Centra physical stock per pool warehouse: ``floor(sum share x available(f, item)) - buffer``, >= 0.

    That is DESIGN.md §4 for a moment when no Centra order is held open by Deposco or shipped-but-not-completed
    (the seeding moment, or a go-live in a run without Lockstep). ``available`` is Deposco's ATP (on hand at
    seeding). Only live facilities count; a pool without any gets nothing.
    """
    result: dict[str, list[tuple[str, int]]] = {}
    for pool in topology.pools:
        if pools is not None and pool.id not in pools:
            continue
        live = topology.live_facilities_for_pool(pool.id)
        rows = []
        for item in items:
            share = sum(entry.share * max(0.0, available(entry.facility, item.item)) for entry in live)
            units = max(0, math.floor(share + 1e-9) - topology.safety_buffer(pool.id, item.sku)) if live else 0
            rows.append((item.sku, units))
        result[pool.centra_warehouse] = rows
    return result
