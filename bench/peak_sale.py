"""Peak sale: does Centra ever sell stock the warehouses do not have? Oversold units, Lockstep vs a naive peer.

The simulators' ``peak-sale`` scenario (400 SKUs with 2-6 units per facility, ~40 storefront orders/s across three
markets, other-channel orders taken directly in Deposco, small receipts) runs against both simulators as separate
processes: Centra on the Growth tier with 50 ms latency per request, Deposco throttled at 4 requests/s. Lockstep
runs in this process as ``lockstep run`` would (webhook receiver, worker, its own budgets): it exports orders,
confirms shipments and — in ``--mode lockstep`` — publishes stock with the inventory flow. In ``--mode naive`` the
same Lockstep does everything except stock, which a peer-style loop writes every ``--naive-interval`` seconds as
``share x ATP - buffer`` straight from Deposco (no in-flight terms). At the end the simulators' ground truth
(``lockstep.sim.truth``) counts oversold units: Centra order units that Deposco cannot fulfil.

The last line is one JSON object:

    {"mode", "duration_s", "storefront_orders", "refused_by_centra", "oversold_units", "oversold_cells",
     "stock_mutations", "centra_429", "deposco_429", "sync_lag_max_s", ...}

    .venv/bin/python bench/peak_sale.py [--mode lockstep|naive] [--duration 60] [--database-url URL]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import tempfile
import time

import uvicorn

from lockstep import logs
from lockstep.clock import utcnow
from lockstep.config import LoadResult, Settings, load_brand_file
from lockstep.queue import Worker, enqueue
from lockstep.runtime import Runtime
from lockstep.sim.local import LocalSimulators
from lockstep.sim.scenario.control import CentraControl
from lockstep.sim.scenario.runner import run_scenario
from lockstep.sim.scenario.world import catalog_items, publishable
from lockstep.store import migrate
from lockstep.store import stock as stock_store
from lockstep.store.db import create_engine
from lockstep.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "example-brand.yaml"
TOKEN, CLIENT, SECRET = "bench-token", "bench", "bench-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def simulators(topology):
    """Centra (Growth tier) and Deposco (4 req/s) as separate processes on 127.0.0.1."""
    c_port, d_port = free_port(), free_port()
    cli = [sys.executable, "-m", "lockstep.cli", "sim"]
    commands = [
        [*cli, "centra", "--port", str(c_port), "--token", TOKEN, "--tier", "growth"],
        [*cli, "deposco", "--port", str(d_port), "--client-id", CLIENT, "--client-secret", SECRET,
         "--business-unit", topology.deposco.business_unit, "--requests-per-second", "4"],
    ]  # fmt: skip
    env = {**os.environ, "LOCKSTEP_LOG_LEVEL": "WARNING"}
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for c in commands]
    try:
        for port in (c_port, d_port):
            for _ in range(200):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
                time.sleep(0.05)
        yield LocalSimulators(
            f"http://127.0.0.1:{c_port}", TOKEN, f"http://127.0.0.1:{d_port}", CLIENT, SECRET,
            topology.deposco.business_unit,
        )  # fmt: skip
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


@contextlib.asynccontextmanager
async def serving(app):
    from lockstep.runtime import _Server

    port = free_port()
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def budget(topology, *, unthrottled: bool):
    rps, tier = (1000.0, "enterprise") if unthrottled else (3.0, "growth")
    return topology.model_copy(
        update={
            "deposco": topology.deposco.model_copy(update={"requests_per_second": rps}),
            "centra": topology.centra.model_copy(update={"rate_tier": tier}),
        }
    )


async def drain(runtime: Runtime) -> None:
    await Worker(runtime.engine, runtime.registry, concurrency=8, services=runtime, poll_interval_s=0.05).run(
        asyncio.Event(), until_idle=True
    )


async def naive_publisher(sims: LocalSimulators, topology, stop: asyncio.Event, interval: float) -> int:
    """A peer integration: every ``interval`` s, Centra physical := share x Deposco ATP - buffer (no in-flight)."""
    writes = 0
    async with sims.endpoints().centra_client() as c_http, sims.endpoints().deposco_client() as d_http:
        centra = CentraControl(c_http)
        catalog = catalog_items(await centra.catalog(), topology.sku_key)
        live = [f.code for f in topology.facilities if f.is_live]
        while not stop.is_set():
            atp: dict[tuple[str, str], float] = {}
            for facility in live:  # read through the control API: unthrottled, an advantage the peer gets for free
                for item in catalog:
                    params = {"facility": facility, "itemNumber": item.item}
                    atp[(facility, item.item)] = float(
                        (await d_http.get("/_sim/inventory", params=params)).json()["atpQty"]
                    )
            for warehouse, rows in publishable(topology, catalog, lambda f, s, atp=atp: atp.get((f, s), 0.0)).items():
                await centra.set_stock(warehouse, rows)
                writes += 1
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    return writes


async def run(args) -> dict:
    logs.configure("WARNING")
    source = load_brand_file(EXAMPLE)
    with tempfile.TemporaryDirectory() as tmp, simulators(source) as sims:
        tmp = Path(tmp)
        db_url = args.database_url or f"sqlite:///{tmp}/bench.db"
        engine = create_engine(db_url)
        await migrate.upgrade(engine)
        config_file = sims.pointed(EXAMPLE, tmp / "config")
        pointed = load_brand_file(config_file)
        secrets = {pointed.brand: sims.secrets_for(pointed)}
        measured = budget(pointed, unthrottled=False)
        inventory = measured.inventory.model_copy(update={"scan_interval_seconds": args.scan_interval})
        measured = measured.model_copy(update={"inventory": inventory})
        runtime = Runtime(Settings(), LoadResult(brands={pointed.brand: measured}), engine, secrets=secrets)
        stop = asyncio.Event()
        background: list[asyncio.Task] = []
        lag: list[float] = []

        async def on_seeded(endpoints) -> None:
            """Set-up before the clock starts (unmeasured): item master, first stock publish, then Lockstep runs."""
            async with endpoints.centra_client() as c_http, endpoints.deposco_client() as d_http:
                await d_http.put("/_sim/throttle", json={"requestsPerSecond": 0})
                await c_http.put("/_sim/faults", json={"default": {"latency_mean": 0.05, "latency_jitter": 0.0}})
                # One rolling-scan page covers the whole catalog here, so the first publish is complete.
                first = budget(pointed, unthrottled=True)
                first = first.model_copy(
                    update={"inventory": first.inventory.model_copy(update={"scan_page_items": 1000})}
                )
                setup = Runtime(Settings(), LoadResult(brands={pointed.brand: first}), engine, secrets=secrets)
                async with engine.begin() as conn:
                    await enqueue(conn, brand=pointed.brand, task="items.sync", payload={"full": True})
                await drain(setup)
                if args.mode == "lockstep":
                    async with engine.begin() as conn:
                        await enqueue(conn, brand=pointed.brand, task="inventory.scan")
                    await drain_until_published(setup)
                for client in setup._clients.values():
                    await client.aclose()
                await d_http.put("/_sim/throttle", json={"requestsPerSecond": 4})
                await c_http.post("/_sim/counters/reset")
                await d_http.post("/_sim/counters/reset")
            app_url = await start_app(runtime, background, stop)
            async with endpoints.centra_client() as c_http:
                secret = secrets[pointed.brand][pointed.centra.webhook_secret_env]
                hook = {"url": f"{app_url}/webhooks/centra/{pointed.brand}", "secret": secret}
                (await c_http.put("/_sim/webhooks", json=hook)).raise_for_status()
            worker = Worker(engine, runtime.registry, concurrency=8, services=runtime, poll_interval_s=0.02)
            background.append(asyncio.create_task(worker.run(stop)))
            background.append(asyncio.create_task(poll_shipments_and_lag(runtime, pointed.brand, stop, lag)))
            if args.mode == "lockstep":
                async with engine.begin() as conn:
                    await enqueue(conn, brand=pointed.brand, task="inventory.scan", dedupe_key="inventory.scan")
            else:
                background.append(asyncio.create_task(naive_publisher(sims, pointed, stop, args.naive_interval)))

        started = time.monotonic()
        summary = await run_scenario(
            "peak-sale",
            args.duration,
            args.seed,
            centra_url=sims.centra_url,
            centra_token=TOKEN,
            deposco_url=sims.deposco_url,
            deposco_client_id=CLIENT,
            deposco_client_secret=SECRET,
            topology=source,
            publish_stock=args.mode == "naive",
            settle_s=args.settle,
            on_seeded=on_seeded,
        )
        elapsed = time.monotonic() - started
        stop.set()
        await asyncio.gather(*background, return_exceptions=True)
        await runtime.close()
    truth = summary["truth"]
    oversold = truth.get("oversold", {})
    outcomes = summary["events"]["outcomes"]
    counters = summary["counters"]
    return {
        "mode": args.mode,
        "scan_interval_s": args.scan_interval if args.mode == "lockstep" else None,
        "naive_interval_s": args.naive_interval if args.mode == "naive" else None,
        "scenario": "peak-sale",
        "duration_s": args.duration,
        "wall_s": round(elapsed, 1),
        "skus": summary["seeded"]["skus"],
        "storefront_orders": outcomes.get("storefront_order.accepted", 0),
        "refused_by_centra": outcomes.get("storefront_order.refused", 0),
        "outcomes": outcomes,
        "oversold_units": oversold.get("units"),
        "oversold_cells": oversold.get("cells"),
        "stock_mutations": counters["centra"].get("calls", {}).get("setStock")
        if isinstance(counters["centra"].get("calls"), dict)
        else counters["centra"].get("calls:setStock"),
        "centra_429": counters["centra"].get("rateLimited"),
        "deposco_counters": {k: v for k, v in counters["deposco"].items() if "429" in k or "throttl" in k.lower()},
        "sync_lag_max_s": round(max(lag), 2) if lag else None,
        "driver_max_lag_s": summary["events"]["max_lag_s"],
        "oversold_examples": oversold.get("examples", [])[:3],
        "truth_keys": {k: (v if not isinstance(v, dict) else {kk: vv for kk, vv in v.items() if kk != "examples"})
                       for k, v in truth.items() if k != "oversold"},
    }


async def drain_until_published(runtime: Runtime) -> None:
    """Run the first scan and the publishes it causes, without letting the scan's self-rescheduling loop forever."""
    worker = Worker(runtime.engine, runtime.registry, concurrency=8, services=runtime, poll_interval_s=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    for _ in range(600):
        await asyncio.sleep(0.1)
        async with runtime.engine.connect() as conn:
            if not await stock_store.oldest_dirty(conn) and await _published(conn):
                break
    stop.set()
    await task


async def _published(conn) -> bool:
    from sqlalchemy import func, select

    return bool(await conn.scalar(select(func.count()).select_from(stock_store.stock_published)))


async def start_app(runtime: Runtime, background: list, stop: asyncio.Event) -> str:
    ready: asyncio.Future = asyncio.get_running_loop().create_future()

    async def serve() -> None:
        async with serving(create_app(runtime)) as url:
            ready.set_result(url)
            await stop.wait()

    background.append(asyncio.create_task(serve()))
    return await ready


async def poll_shipments_and_lag(runtime: Runtime, brand: str, stop: asyncio.Event, lag: list[float]) -> None:
    """What the scheduler does every minute, every 5 s here (the bench is short); samples the stock sync lag."""
    last_poll = 0.0
    while not stop.is_set():
        async with runtime.engine.begin() as conn:
            oldest = (await stock_store.oldest_dirty(conn)).get(brand)
            lag.append((utcnow() - oldest).total_seconds() if oldest else 0.0)
            if time.monotonic() - last_poll >= 5:
                await enqueue(conn, brand=brand, task="shipments.poll", dedupe_key="shipments.poll")
                await enqueue(conn, brand=brand, task="orders.refetch", dedupe_key="orders.refetch")
                last_poll = time.monotonic()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("lockstep", "naive"), default="lockstep")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after the sale before the truth is read")
    parser.add_argument("--naive-interval", type=float, default=60.0)
    parser.add_argument("--scan-interval", type=int, default=5, help="inventory.scan_interval_seconds (lockstep mode)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
