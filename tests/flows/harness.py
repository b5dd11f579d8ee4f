"""A brand world for flow tests: both simulators as real servers, seeded, and a Runtime pointed at them."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from lockstep.clock import utcnow
from lockstep.config import LoadResult, Settings, load_brand_file
from lockstep.config.topology import BrandTopology
from lockstep.queue import Worker, enqueue
from lockstep.runtime import Runtime
from lockstep.sim.local import LocalSimulators, local_simulators
from lockstep.sim.scenario.control import CentraControl, DeposcoControl
from lockstep.sim.scenario.seeding import SeededWorld, seed_world
from lockstep.sim.scenario.spec import get_scenario
from lockstep.store.db import create_engine
from lockstep.store.tables import jobs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "example-brand.yaml"


@dataclass
class World:
    sims: LocalSimulators
    topology: BrandTopology
    seeded: SeededWorld
    runtime: Runtime
    config_file: Path

    @property
    def brand(self) -> str:
        return self.topology.brand

    def centra_state(self) -> Any:
        return self.sims.centra_app.sim.state

    def deposco_state(self) -> Any:
        return self.sims.deposco_app.sim.state

    async def run_jobs(self, *, timeout: float = 60.0, horizon_s: float = 3.0, **worker_kwargs: Any) -> None:
        """Run workers until no job is pending within ``horizon_s`` (short delays, e.g. coalescing sweeps, included)."""

        async def drain() -> None:
            while True:
                worker = Worker(
                    self.runtime.engine,
                    self.runtime.registry,
                    poll_interval_s=0.02,
                    services=self.runtime,
                    owner_for=self.runtime.owner_for,
                    **{"concurrency": 8, **worker_kwargs},
                )
                await worker.run(asyncio.Event(), until_idle=True)
                async with self.runtime.engine.connect() as conn:
                    soonest = await conn.scalar(select(func.min(jobs.c.run_at)).where(jobs.c.status == "pending"))
                if soonest is None:
                    return
                if isinstance(soonest, str):  # SQLite aggregates bypass the column type
                    soonest = datetime.fromisoformat(soonest).replace(tzinfo=UTC)
                wait = (soonest - utcnow()).total_seconds()
                if wait > horizon_s:
                    return
                await asyncio.sleep(max(0.0, wait) + 0.01)

        await asyncio.wait_for(drain(), timeout)

    async def enqueue(self, task: str, payload: dict | None = None, **kwargs: Any) -> int:
        async with self.runtime.engine.begin() as conn:
            return await enqueue(conn, brand=self.brand, task=task, payload=payload or {}, **kwargs)

    async def place(self, market: str, country: str, lines: list[tuple[str, int]], shopper: int, **flags) -> str:
        """Check out in Centra; fails the test if Centra refuses (use :meth:`try_place` where that may happen)."""
        number = await self.try_place(market, country, lines, shopper, **flags)
        assert number is not None, f"Centra refused the order {lines}"
        return number

    async def try_place(
        self, market: str, country: str, lines: list[tuple[str, int]], shopper: int, **flags
    ) -> str | None:
        """Check out in Centra; None when Centra refuses for lack of free-to-allocate stock."""
        async with self.sims.endpoints().centra_client() as http:
            ok, answer = await CentraControl(http).place_order(
                self.seeded.markets[market], country, lines, shopper, **flags
            )
        return str(answer["number"]) if ok else None

    # --- helpers for the order-flow tests ---------------------------------------------------------------------

    async def place_many(
        self, orders: list[tuple[str, str, list[tuple[str, int]], int]], *, concurrency: int = 8
    ) -> list[str | None]:
        """:meth:`try_place` for many ``(market, country, lines, shopper)`` over one connection pool, a few at a
        time; the order numbers (None where Centra refused), in the given order."""
        gate = asyncio.Semaphore(concurrency)
        async with self.sims.endpoints().centra_client() as http:
            control = CentraControl(http)

            async def one(market: str, country: str, lines: list[tuple[str, int]], shopper: int) -> str | None:
                async with gate:
                    ok, answer = await control.place_order(self.seeded.markets[market], country, lines, shopper)
                return str(answer["number"]) if ok else None

            return list(await asyncio.gather(*(one(*order) for order in orders)))

    async def centra_control(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the Centra simulator's control API (``/_sim/...``); fails the test on anything but 2xx."""
        async with self.sims.endpoints().centra_client() as http:
            response = await http.request(method, path, **kwargs)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    async def deposco_control(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the Deposco simulator's control API (``/_sim/...``); fails the test on anything but 2xx."""
        async with self.sims.endpoints().deposco_client() as http:
            response = await http.request(method, path, **kwargs)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    async def centra_graphql(self, query: str, variables: dict | None = None) -> dict:
        """One Integration API call as another Centra integration (e.g. the AMS) would make it; no user errors."""
        async with self.sims.endpoints().centra_client() as http:
            response = await http.post("/graphql", json={"query": query, "variables": variables or {}})
        assert response.is_success, response.text
        body = response.json()
        assert not body.get("errors"), body["errors"]
        for payload in (body.get("data") or {}).values():
            if isinstance(payload, dict):
                assert not payload.get("userErrors"), payload["userErrors"]
        return body["data"]

    async def fetch(self, *numbers: str, **run_kwargs: Any) -> None:
        """What a webhook per order would do: one coalesced ``orders.fetch`` each, then run the queue dry."""
        for number in numbers:
            await self.enqueue("orders.fetch", {"number": number}, dedupe_key=f"fetch:{number}")
        await self.run_jobs(**run_kwargs)

    def use_topology(self, topology: BrandTopology) -> None:
        """Swap the brand's topology in the running Runtime (what a reloaded config would do)."""
        self.runtime.config.brands[self.brand] = topology
        self.topology = topology

    def api_orders(self) -> dict[str, Any]:
        """Deposco sales orders created through the API (Lockstep's), by number."""
        return {o.number: o for o in self.deposco_state().orders.values() if o.channel == "api"}


@contextlib.asynccontextmanager
async def brand_world(
    db_url: str,
    tmp_path: Path,
    *,
    scenario: str = "steady",
    items: bool = True,
    wrap_deposco=None,
    wrap_centra=None,
    auto_fulfil: bool = False,
):
    """Both simulators (no throttles, so tests measure Lockstep), seeded; a Runtime; items synced if asked."""
    topology = load_brand_file(EXAMPLE)
    with local_simulators(
        topology,
        centra_options={"rate_limits": False},
        deposco_options={"requests_per_second": 0},
        wrap_deposco=wrap_deposco,
        wrap_centra=wrap_centra,
    ) as sims:
        async with sims.endpoints().centra_client() as c_http, sims.endpoints().deposco_client() as d_http:
            seeded = await seed_world(
                CentraControl(c_http), DeposcoControl(d_http), topology, get_scenario(scenario), 0
            )
            if not auto_fulfil:  # the warehouse moves orders on only when a test tells it to
                (await d_http.put("/_sim/warehouse/auto", json={"enabled": False})).raise_for_status()
        config_file = sims.pointed(EXAMPLE, tmp_path / "config")
        # Lockstep's own budgets sized to the unthrottled simulators: these tests measure behaviour, not pacing.
        pointed = load_brand_file(config_file)
        pointed = pointed.model_copy(
            update={
                "deposco": pointed.deposco.model_copy(update={"requests_per_second": 1000.0}),
                "centra": pointed.centra.model_copy(update={"rate_tier": "enterprise"}),
            }
        )
        engine = create_engine(db_url)
        runtime = Runtime(
            Settings(),
            LoadResult(brands={pointed.brand: pointed}, files={pointed.brand: config_file}),
            engine,
            secrets={pointed.brand: sims.secrets_for(pointed)},
        )
        world = World(sims, pointed, seeded, runtime, config_file)
        try:
            if items:
                await world.enqueue("items.sync", {"full": True})
                await world.run_jobs()
            yield world
        finally:
            await runtime.close()
