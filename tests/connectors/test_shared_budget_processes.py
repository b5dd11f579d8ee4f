"""Three worker processes on PostgreSQL share one Deposco budget: the throttled simulator serves no 429."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lockstep.config import load_brand_file
from lockstep.sim.local import local_simulators

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "example-brand.yaml"
HAMMER = Path(__file__).with_name("hammer_proc.py")

pytestmark = pytest.mark.slow


def test_three_processes_stay_within_the_deposco_throttle(tmp_path, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("the cross-process budget lives in PostgreSQL; SQLite deployments run one process")
    topology = load_brand_file(EXAMPLE)
    rate = topology.deposco.requests_per_second  # 3 in the example; the simulator allows 4
    seconds = 8.0
    with local_simulators(topology, deposco_options={"requests_per_second": 4.0}) as sims:
        config = sims.pointed(EXAMPLE, tmp_path)
        httpx.post(
            f"{sims.deposco_url}/_sim/facilities",
            json={"number": "SE-STO"},
            auth=(sims.deposco_client_id, sims.deposco_client_secret),
        ).raise_for_status()
        env = {**os.environ, **sims.secrets_for(topology), "PYTHONPATH": str(ROOT)}
        began = time.monotonic()
        procs = [
            subprocess.Popen(
                [sys.executable, str(HAMMER), db_url, str(config), str(seconds)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        results = [p.communicate(timeout=120) for p in procs]
        elapsed = time.monotonic() - began
        counters = httpx.get(
            f"{sims.deposco_url}/_sim/counters", auth=(sims.deposco_client_id, sims.deposco_client_secret)
        ).json()
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err[-2000:]
    calls = [int(out.strip().splitlines()[-1]) for out, _ in results]
    assert counters["throttled429"] == 0, counters
    assert counters["calls"]["GET /facilities"] == sum(calls)  # the simulator saw exactly our calls
    assert all(c > 0 for c in calls), calls  # every process got its share
    total = sum(calls)
    # Within the budget (rate/s plus the first window's burst) and using most of it.
    assert total <= rate * elapsed + rate, (total, elapsed)
    assert total >= 0.6 * rate * seconds, (total, seconds)
