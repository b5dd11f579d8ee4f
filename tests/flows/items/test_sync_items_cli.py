"""`lockstep sync items` as a person runs it: a subprocess, config pointed at both simulators as real servers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import yaml

from lockstep.config import load_brand_file
from lockstep.sim.local import local_simulators
from lockstep.sim.scenario.control import CentraControl, DeposcoControl

from .conftest import EXAMPLE


def _lockstep(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lockstep.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def _seed(sims) -> None:
    endpoints = sims.endpoints()
    async with endpoints.centra_client() as centra, endpoints.deposco_client() as deposco:
        await CentraControl(centra).seed_catalog(2, 2, 4, "NW")
        await DeposcoControl(deposco).add_items([("RETIRED-1", "7300000000017")])


def test_sync_items_full_then_incremental_against_the_simulators(tmp_path):
    topology = load_brand_file(EXAMPLE)
    with local_simulators(topology, deposco_options={"requests_per_second": 1000}) as sims:
        asyncio.run(_seed(sims))
        brand_file = sims.pointed(EXAMPLE, tmp_path / "config")
        data = yaml.safe_load(brand_file.read_text())
        data["deposco"]["requests_per_second"] = 100  # the example's 3/s would make this test wait, not test
        brand_file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCKSTEP_", "NORDWIND_"))}
        env.update(
            sims.secrets_for(topology),
            LOCKSTEP_CONFIG_DIR=str(brand_file.parent),
            LOCKSTEP_DATABASE_URL=f"sqlite:///{tmp_path}/lockstep.db",
            COLUMNS="250",
        )
        assert _lockstep(["db", "upgrade"], env).returncode == 0

        full = _lockstep(["sync", "items", "--full"], env)
        incremental = _lockstep(["sync", "items", "--brand", "nordwind"], env)
        unknown = _lockstep(["sync", "items", "--brand", "nope"], env)
        items = sims.deposco_app.sim.state.items

    assert full.returncode == 0, full.stderr
    assert "nordwind: full item sync: 16 Centra size(s), 1 Deposco item(s)" in full.stdout
    assert "created 16, updated 0, unchanged 0" in full.stdout
    assert "missing in Deposco 0, missing in Centra 1" in full.stdout
    assert "16 upsert(s) sent" in full.stdout
    assert len(items) == 17
    assert incremental.returncode == 0, incremental.stderr
    assert "incremental item sync" in incremental.stdout and "unchanged 16" in incremental.stdout
    assert "missing in Centra not checked (use --full); 0 upsert(s) sent" in incremental.stdout
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines() == ["error: unknown brand(s): nope (configured: nordwind)"]
