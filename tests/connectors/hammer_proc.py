"""A worker process for the shared-budget test: calls the Deposco simulator as fast as its budget allows.

    python hammer_proc.py DB_URL CONFIG_FILE SECONDS   (secrets come from the environment)

Prints one line: the number of API calls it completed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from lockstep.config import load_brand_file
from lockstep.connectors.budget import Priority, deposco_windows, make_budget
from lockstep.connectors.deposco.client import DeposcoClient
from lockstep.store.db import create_engine


async def main(url: str, config_file: str, seconds: float) -> None:
    topology = load_brand_file(config_file)
    engine = create_engine(url)
    budget = make_budget(engine, f"{topology.brand}:deposco", deposco_windows(topology.deposco.requests_per_second))
    client = DeposcoClient.from_topology(topology, dict(os.environ), budget)
    calls = 0
    deadline = time.monotonic() + seconds

    async def loop() -> None:
        nonlocal calls
        while time.monotonic() < deadline:
            await client.list_facilities(priority=Priority.HIGH)
            calls += 1

    await asyncio.gather(*(loop() for _ in range(4)))  # several coroutines per process, as a worker has
    await client.aclose()
    await engine.dispose()
    print(calls, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
