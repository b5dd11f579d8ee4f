"""A brand wired to both simulators (real servers on 127.0.0.1) and a Runtime on the test database.

The example brand's Deposco budget (3 requests/s) would make a 48-item sync take 16 s; the simulators and the
brand are given a generous throttle so the tests measure behaviour, not waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lockstep.config import LoadResult, Settings, load_brand_file
from lockstep.config.topology import BrandTopology
from lockstep.runtime import Runtime
from lockstep.sim.local import LocalSimulators, local_simulators
from lockstep.sim.scenario.control import CentraControl, DeposcoControl

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "config" / "example-brand.yaml"
FAST_DEPOSCO = 500.0


@dataclass
class World:
    topology: BrandTopology
    sims: LocalSimulators
    runtime: Runtime

    @property
    def brand(self) -> str:
        return self.topology.brand

    def deposco_items(self) -> dict[str, Any]:
        """The simulator's item master, by number (in-process truth, not the API under test)."""
        state = self.sims.deposco_app.sim.state
        return {item.number: item for item in state.items.values()}

    def deposco_calls(self, operation: str) -> int:
        return self.sims.deposco_app.sim.counters.calls[operation]

    def centra_state(self):
        return self.sims.centra_app.sim.state

    async def seed_catalog(self, products: int, variants: int = 2, sizes: int = 4, prefix: str = "NW") -> list[dict]:
        async with self.sims.endpoints().centra_client() as client:
            return await CentraControl(client).seed_catalog(products, variants, sizes, prefix)

    async def add_deposco_items(self, items: list[tuple[str, str]]) -> None:
        async with self.sims.endpoints().deposco_client() as client:
            await DeposcoControl(client).add_items(items)


def fast(topology: BrandTopology) -> BrandTopology:
    deposco = topology.deposco.model_copy(update={"requests_per_second": FAST_DEPOSCO})
    return topology.model_copy(update={"deposco": deposco})


@pytest.fixture
async def world(engine, tmp_path):
    base = load_brand_file(EXAMPLE)
    with local_simulators(base, deposco_options={"requests_per_second": 1000}) as sims:
        path = sims.pointed(EXAMPLE, tmp_path / "config")
        topology = fast(load_brand_file(path))
        runtime = Runtime(
            Settings(),
            LoadResult(brands={topology.brand: topology}, files={topology.brand: path}),
            engine,
            secrets={topology.brand: sims.secrets_for(topology)},
        )
        try:
            yield World(topology, sims, runtime)
        finally:
            for client in runtime._clients.values():
                await client.aclose()
