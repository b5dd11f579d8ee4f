"""``run_scenario``: the one call demo, tests and benchmarks make to drive a whole scenario and judge it.

Starts whichever simulator was not given by URL (in-process, real HTTP on a free port), seeds the brand world,
lets the caller hook in (start Lockstep, take a baseline) once the world exists, plays the schedule for the
duration, optionally waits for the system under test to settle, and returns a JSON-ready summary: events per
kind and their outcomes, both simulators' counters, and the cross-system truth (:mod:`lockstep.sim.truth`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lockstep.config.topology import BrandTopology
from lockstep.sim.centra.app import DEFAULT_TOKEN
from lockstep.sim.centra.app import build_app as build_centra
from lockstep.sim.deposco.app import build_app as build_deposco
from lockstep.sim.server import running
from lockstep.sim.truth import Endpoints, read_truth

from .control import CentraControl, DeposcoControl
from .driver import Driver, FacilityHook
from .events import build_schedule, planned
from .seeding import seed_world
from .spec import Scenario, get_scenario
from .world import load_topology

DEFAULT_DEPOSCO_CLIENT = ("lockstep", "secret")
SeededHook = Callable[[Endpoints], Awaitable[None]]


def _topology(given: BrandTopology | Path | str | None) -> BrandTopology:
    return given if isinstance(given, BrandTopology) else load_topology(given)


async def run_scenario(
    name: str | Scenario,
    duration_s: float,
    seed: int = 0,
    *,
    centra_url: str | None = None,
    centra_token: str = DEFAULT_TOKEN,
    deposco_url: str | None = None,
    deposco_client_id: str = DEFAULT_DEPOSCO_CLIENT[0],
    deposco_client_secret: str = DEFAULT_DEPOSCO_CLIENT[1],
    rate_multiplier: float = 1.0,
    topology: BrandTopology | Path | str | None = None,
    publish_stock: bool = True,
    settle_s: float = 0.0,
    centra_options: Mapping[str, Any] | None = None,
    deposco_options: Mapping[str, Any] | None = None,
    on_seeded: SeededHook | None = None,
    on_facility_live: FacilityHook | None = None,
    examples: int = 5,
) -> dict[str, Any]:
    """Run scenario ``name`` for ``duration_s`` seconds and return its summary.

    A simulator whose URL is not given is started in-process with the given credentials (``centra_options`` /
    ``deposco_options`` go to its ``build_app``: tier, latency, webhooks, throttle...). ``publish_stock``:
    the driver sets Centra stock from Deposco's at seeding and when a facility goes live, standing in for
    Lockstep's first sync; turn it off when Lockstep runs and should do that itself. ``on_seeded`` runs after
    seeding, before the clock starts; ``on_facility_live`` after each go-live event; ``settle_s`` is a wait
    after the last event before the truth is read.
    """
    scenario = name if isinstance(name, Scenario) else get_scenario(name)
    brand = _topology(topology)
    with contextlib.ExitStack() as servers:
        in_process = {"centra": centra_url is None, "deposco": deposco_url is None}
        if centra_url is None:
            centra_url = servers.enter_context(running(build_centra(centra_token, seed=seed, **(centra_options or {}))))
        if deposco_url is None:
            app = build_deposco(
                client_id=deposco_client_id, client_secret=deposco_client_secret, seed=seed, **(deposco_options or {})
            )
            deposco_url = servers.enter_context(running(app))
        endpoints = Endpoints(
            centra_url.rstrip("/"), centra_token, deposco_url.rstrip("/"), deposco_client_id, deposco_client_secret
        )
        async with endpoints.centra_client() as c_http, endpoints.deposco_client() as d_http:
            centra, deposco = CentraControl(c_http), DeposcoControl(d_http)
            world = await seed_world(centra, deposco, brand, scenario, seed, publish=publish_stock)
            events = build_schedule(scenario, brand, len(world.items), duration_s, seed, rate_multiplier)
            if on_seeded is not None:
                await on_seeded(endpoints)
            driver = Driver(
                centra,
                deposco,
                brand,
                world,
                publish=publish_stock,
                respect_atp=scenario.other_channel_respects_atp,
                on_facility_live=on_facility_live,
            )
            result = await driver.run(events, duration_s)
            if settle_s > 0:
                await asyncio.sleep(settle_s)
            counters = {"centra": await centra.counters(), "deposco": await deposco.counters()}
        truth = await read_truth(endpoints, driver.topology.routing_table(), item_key=brand.sku_key, examples=examples)
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "brand": brand.brand,
        "seed": seed,
        "duration_s": duration_s,
        "rate_multiplier": rate_multiplier,
        "simulators": {"centra": centra_url, "deposco": deposco_url, "in_process": in_process},
        "seeded": {
            "skus": len(world.items),
            "deposco_units_on_hand": world.deposco_units,
            "centra_units_published": world.centra_units,
            "warehouse": {k: v for k, v in asdict(scenario).items() if k.endswith("_after_s")},
        },
        "events": {
            "planned": planned(events),
            "sent": dict(sorted(result.sent.items())),
            "outcomes": dict(sorted(result.outcomes.items())),
            "max_lag_s": result.max_lag_s,
            "errors": result.errors,
        },
        "facilities": {f.code: f.state for f in driver.topology.facilities},
        "counters": counters,
        "truth": truth,
    }
