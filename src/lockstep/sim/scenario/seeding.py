"""Seed both simulators with one brand's world before a run: topology, catalog, item master, stock.

Seeding is idempotent against simulators that were seeded before (warehouses, rules and markets are reused by
name, the catalog by SKU prefix), so ``lockstep sim scenario`` can be pointed at long-running simulators
repeatedly. Centra's default demo topology (a store, "EU Main", "US East") is left alone: the control API has
no way to remove it and no way to add a store, and the brand's markets are addressed by id, so it is inert.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from lockstep.config.topology import BrandTopology

from .control import CentraControl, DeposcoControl
from .spec import Scenario
from .world import CatalogItem, catalog_items, initial_stock, market_currency, market_warehouses, publishable


@dataclass(frozen=True)
class SeededWorld:
    items: tuple[CatalogItem, ...]
    markets: Mapping[str, int]  # topology market id -> Centra market id
    deposco_units: int
    centra_units: int


def catalog_prefix(topology: BrandTopology) -> str:
    return f"{topology.brand[:8].upper()}-"


async def seed_centra_topology(centra: CentraControl, topology: BrandTopology) -> dict[str, int]:
    """Warehouses per pool, one allocation rule per market (its pools in order), the markets themselves."""
    current = await centra.topology()
    warehouses = {w["name"]: w["id"] for w in current["warehouses"]}
    for pool in topology.pools:
        if pool.centra_warehouse not in warehouses:
            warehouses[pool.centra_warehouse] = (await centra.add_warehouse(pool.centra_warehouse))["id"]
    rules = {r["name"]: r["id"] for r in current["allocationRules"]}
    markets: dict[str, int] = {}
    for market in topology.markets:
        ids = [warehouses[name] for name in market_warehouses(topology, market.id)]
        rule_name = f"{topology.brand}/{market.id}"
        if rule_name in rules:
            await centra.set_rule(rules[rule_name], ids)
        else:
            rules[rule_name] = (await centra.add_rule(rule_name, ids))["id"]
        existing = next(
            (m for m in current["markets"] if m["name"] == market.name and m["allocationRuleId"] == rules[rule_name]),
            None,
        )
        if existing is None:
            existing = await centra.add_market(
                market.name, rules[rule_name], market.countries, market_currency(market.countries)
            )
        markets[market.id] = existing["id"]
    return markets


async def seed_catalog(centra: CentraControl, topology: BrandTopology, scenario: Scenario) -> list[CatalogItem]:
    """``products x variants x sizes`` Centra sizes under the brand's prefix, reusing those already there."""
    prefix = catalog_prefix(topology)
    wanted = scenario.products * scenario.variants * scenario.sizes
    sizes = [s for s in await centra.catalog() if s["sku"].startswith(prefix)]
    if len(sizes) < wanted:
        per_product = scenario.variants * scenario.sizes
        products = math.ceil((wanted - len(sizes)) / per_product)
        sizes += await centra.seed_catalog(products, scenario.variants, scenario.sizes, prefix)
    return catalog_items(sizes[:wanted], topology.sku_key)


async def seed_world(
    centra: CentraControl,
    deposco: DeposcoControl,
    topology: BrandTopology,
    scenario: Scenario,
    seed: int,
    *,
    publish: bool = True,
) -> SeededWorld:
    """Seed everything; with ``publish`` also set Centra stock from Deposco's, as a first Lockstep sync would."""
    markets = await seed_centra_topology(centra, topology)
    for facility in topology.facilities:
        await deposco.add_facility(facility.code, facility.name)
    items = await seed_catalog(centra, topology, scenario)
    await deposco.add_items([(i.item, i.ean) for i in items])
    plan = initial_stock(scenario, topology, len(items), seed)
    await deposco.set_stock(
        [(f.code, item.item, plan.get((f.code, n), 0)) for f in topology.facilities for n, item in enumerate(items)]
    )
    await deposco.set_auto_fulfil(scenario.release_after_s, scenario.pick_after_s, scenario.ship_after_s)
    centra_units = 0
    if publish:
        on_hand = {(f, items[n].item): units for (f, n), units in plan.items()}
        for warehouse, rows in publishable(topology, items, lambda f, i: on_hand.get((f, i), 0)).items():
            await centra.set_stock(warehouse, rows)
            centra_units += sum(units for _, units in rows)
    return SeededWorld(tuple(items), markets, sum(plan.values()), centra_units)
