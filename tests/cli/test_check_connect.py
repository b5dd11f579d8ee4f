"""`lockstep check --connect` against both simulators as real servers, as a new user would run it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lockstep.config import load_brand_file
from lockstep.sim.local import local_simulators
from lockstep.sim.scenario.control import CentraControl, DeposcoControl
from lockstep.sim.scenario.seeding import seed_centra_topology

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "example-brand.yaml"


async def _seed(sims, topology, facilities) -> None:
    endpoints = sims.endpoints()
    async with endpoints.centra_client() as centra, endpoints.deposco_client() as deposco:
        await seed_centra_topology(CentraControl(centra), topology)
        for code in facilities:
            await DeposcoControl(deposco).add_facility(code, code)


def _check(config_dir: Path, secrets: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCKSTEP_", "NORDWIND_"))}
    env.update(secrets, LOCKSTEP_CONFIG_DIR=str(config_dir), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "lockstep.cli", "check", "--connect"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def topology():
    return load_brand_file(EXAMPLE)


def test_check_connect_passes_with_the_example_credentials(tmp_path, topology):
    with local_simulators(topology) as sims:
        asyncio.run(_seed(sims, topology, [f.code for f in topology.facilities]))
        sims.pointed(EXAMPLE, tmp_path)
        result = _check(tmp_path, sims.secrets_for(topology))
    assert result.returncode == 0, result.stderr
    assert "token accepted" in result.stdout
    assert "Centra rate tier growth: remaining" in result.stdout
    assert "Deposco V1" in result.stdout and "credentials accepted" in result.stdout
    assert sims.centra_token not in result.stdout + result.stderr


def test_check_connect_fails_clearly_with_a_wrong_token_and_a_missing_facility(tmp_path, topology):
    with local_simulators(topology) as sims:
        asyncio.run(_seed(sims, topology, ["SE-STO", "GB-MKN"]))  # US-NJ is not in Deposco
        sims.pointed(EXAMPLE, tmp_path)
        secrets = {**sims.secrets_for(topology), topology.centra.token_env: "wrong-token"}
        result = _check(tmp_path, secrets)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert any("nordwind: Centra:" in line and "refused the token" in line for line in errors), errors
    assert any("facility US-NJ: Deposco has no such facility" in line for line in errors), errors
    assert "Traceback" not in result.stderr


def test_check_connect_lists_unset_secrets(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCKSTEP_", "NORDWIND_"))}
    result = subprocess.run(
        [sys.executable, "-m", "lockstep.cli", "check", "--connect"],
        env={**env, "LOCKSTEP_CONFIG_DIR": str(EXAMPLE.parent)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "NORDWIND_CENTRA_TOKEN is not set" in result.stderr
