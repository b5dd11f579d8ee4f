"""Order flow throughput and latency: order placed in Centra -> its Deposco order created (confirmed).

Both simulators run as separate processes (real HTTP on 127.0.0.1), seeded with the example brand's world.
Lockstep runs in this process: the webhook receiver (HTTP app on its own thread) and one worker. Orders are
placed in the Centra simulator as a shopper would; Centra sends signed webhooks; Lockstep fetches, routes and
exports. Latency per order = Lockstep's recorded confirmation of the Deposco create - the moment Centra accepted
the order (both wall clock, same machine). The last line is one JSON object:

    {"orders", "orders_per_s", "p50_s", "p99_s", "deposco_requests_per_order", "duplicates", "lost", ...}

Modes:
    --unthrottled   simulators without rate limits or latency: Lockstep's own overhead
    (default)       Deposco throttled at 4 req/s and Centra on the Growth tier, Lockstep budgeted to match

    .venv/bin/python bench/orders.py [--unthrottled] [--orders N] [--database-url URL]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py shares its name with the stdlib module: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime

import uvicorn
from sqlalchemy import select

from lockstep import logs
from lockstep.config import LoadResult, Settings, load_brand_file
from lockstep.queue import Worker, enqueue
from lockstep.runtime import Runtime
from lockstep.sim.local import LocalSimulators
from lockstep.sim.scenario.control import CentraControl, DeposcoControl
from lockstep.sim.scenario.seeding import seed_world
from lockstep.sim.scenario.spec import get_scenario
from lockstep.store import migrate
from lockstep.store.db import create_engine
from lockstep.store.orders import sales_orders
from lockstep.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "example-brand.yaml"
TOKEN, CLIENT, SECRET = "bench-token", "bench", "bench-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def simulator_processes(topology, unthrottled: bool):
    c_port, d_port = free_port(), free_port()
    cli = [sys.executable, "-m", "lockstep.cli", "sim"]
    centra = [*cli, "centra", "--port", str(c_port), "--token", TOKEN, "--tier", "growth"]
    deposco = [
        *cli,
        "deposco",
        "--port",
        str(d_port),
        "--client-id",
        CLIENT,
        "--client-secret",
        SECRET,
        "--business-unit",
        topology.deposco.business_unit,
        "--requests-per-second",
        "0" if unthrottled else "4",
    ]
    if unthrottled:
        centra.append("--no-rate-limits")
    env = {**os.environ, "LOCKSTEP_LOG_LEVEL": "WARNING"}
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for cmd in (centra, deposco)
    ]
    try:
        for port in (c_port, d_port):
            for _ in range(200):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
                time.sleep(0.05)
        # The Deposco simulator's V1 path uses the business unit as tenant code unless told otherwise.
        yield LocalSimulators(
            f"http://127.0.0.1:{c_port}",
            TOKEN,
            f"http://127.0.0.1:{d_port}",
            CLIENT,
            SECRET,
            topology.deposco.business_unit,
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


def budget_file(config_file: Path, unthrottled: bool) -> None:
    """Give the brand file on disk the budget :func:`budgeted` gives the topology in memory."""
    import yaml

    data = yaml.safe_load(config_file.read_text())
    rps, tier = (1000.0, "enterprise") if unthrottled else (4.0, data["centra"].get("rate_tier", "growth"))
    data["deposco"]["requests_per_second"], data["centra"]["rate_tier"] = rps, tier
    config_file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@contextlib.contextmanager
def worker_processes(count: int, config_dir: Path, db_url: str, secrets: dict[str, str]):
    """``lockstep worker`` processes (as a user scales out), or none: then this process runs the worker."""
    env = {**os.environ, **secrets, "LOCKSTEP_LOG_LEVEL": "WARNING"}
    cmd = [sys.executable, "-m", "lockstep.cli", "--config-dir", str(config_dir), "--database-url", db_url]
    cmd += ["worker", "--concurrency", "64", "--no-scheduler"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(count)]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def budgeted(topology, unthrottled: bool):
    rps, tier = (1000.0, "enterprise") if unthrottled else (4.0, topology.centra.rate_tier)
    return topology.model_copy(
        update={
            "deposco": topology.deposco.model_copy(update={"requests_per_second": rps}),
            "centra": topology.centra.model_copy(update={"rate_tier": tier}),
        }
    )


async def forget_setup_grants(engine) -> None:
    """On PostgreSQL the rate budget's log is a table every runtime of the brand shares: the unthrottled set-up's
    grants would fill the measured run's first windows (a peak sale's first ~10 s of exports waited on them, and
    every order of this benchmark's throttled run about 10 s). The set-up is not part of what is measured, and its
    calls went to simulators that were not throttled then."""
    from sqlalchemy import delete

    from lockstep.store.tables import rate_grants

    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(delete(rate_grants))


async def drain(runtime: Runtime) -> None:
    worker = Worker(runtime.engine, runtime.registry, concurrency=16, services=runtime, poll_interval_s=0.05)
    await worker.run(asyncio.Event(), until_idle=True)


async def run(args) -> dict:
    logs.configure("WARNING")
    source = load_brand_file(EXAMPLE)
    with tempfile.TemporaryDirectory() as tmp, simulator_processes(source, args.unthrottled) as sims:
        tmp = Path(tmp)
        db_url = args.database_url or f"sqlite:///{tmp}/bench.db"
        engine = create_engine(db_url)
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            if (await conn.execute(select(sales_orders.c.number).limit(1))).first() is not None:
                raise SystemExit(f"{db_url} already holds orders: give the benchmark an empty database")
        endpoints = sims.endpoints()
        async with endpoints.centra_client() as c_http, endpoints.deposco_client() as d_http:
            await d_http.put("/_sim/throttle", json={"requestsPerSecond": 0})  # seeding is not measured
            world = await seed_world(CentraControl(c_http), DeposcoControl(d_http), source, get_scenario("steady"), 0)
            (await d_http.put("/_sim/warehouse/auto", json={"enabled": False})).raise_for_status()
            live = ["EU Stockholm", "UK Milton Keynes", "US Export"]
            for warehouse in live:  # plenty to sell: the benchmark measures the flow, not stock-outs
                rows = [{"sku": item.sku, "physical": 1_000_000} for item in world.items]
                (await c_http.put("/_sim/stock", json={"warehouse": warehouse, "items": rows})).raise_for_status()
        config_file = sims.pointed(EXAMPLE, tmp / "config")
        pointed = load_brand_file(config_file)
        budget_file(config_file, args.unthrottled)  # what worker processes read: the same budget as this process
        secrets = {pointed.brand: sims.secrets_for(pointed)}

        # Item master first (setup, unmeasured, unthrottled), so every SKU is vouched for.
        setup = Runtime(
            Settings(), LoadResult(brands={pointed.brand: budgeted(pointed, True)}), engine, secrets=secrets
        )
        async with engine.begin() as conn:
            await enqueue(conn, brand=pointed.brand, task="items.sync", payload={"full": True})
        await drain(setup)
        for client in setup._clients.values():
            await client.aclose()
        await forget_setup_grants(engine)

        topology = budgeted(pointed, args.unthrottled)
        runtime = Runtime(Settings(), LoadResult(brands={topology.brand: topology}), engine, secrets=secrets)
        async with endpoints.centra_client() as c_http, endpoints.deposco_client() as d_http:
            if not args.unthrottled:
                await d_http.put("/_sim/throttle", json={"requestsPerSecond": 4})
            await d_http.post("/_sim/counters/reset")
            # The webhook receiver runs in this event loop, as `lockstep run` serves API and workers together.
            async with serving(create_app(runtime)) as app_url:
                secret = secrets[topology.brand][topology.centra.webhook_secret_env]
                hook = {"url": f"{app_url}/webhooks/centra/{topology.brand}", "secret": secret}
                (await c_http.put("/_sim/webhooks", json=hook)).raise_for_status()
                with worker_processes(args.workers, config_file.parent, db_url, secrets[topology.brand]):
                    result = await measure(runtime, c_http, d_http, world, args)
        await runtime.close()
    return result


@contextlib.asynccontextmanager
async def serving(app):
    """Serve ``app`` with uvicorn on a free port of 127.0.0.1 inside the current event loop."""
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


async def measure(runtime: Runtime, c_http, d_http, world, args) -> dict:
    centra = CentraControl(c_http)
    stop = asyncio.Event()
    worker = Worker(
        runtime.engine, runtime.registry, concurrency=args.concurrency, services=runtime, poll_interval_s=0.02
    )
    working = asyncio.create_task(worker.run(stop) if not args.workers else stop.wait())
    placed: dict[str, datetime] = {}
    markets = [("eu", "SE"), ("eu", "DE"), ("uk", "GB"), ("uk", "IE"), ("us", "US")]
    items = world.items
    semaphore = asyncio.Semaphore(8)

    async def place(n: int) -> None:
        market, country = markets[n % len(markets)]
        lines = [(items[(n * 7 + k) % len(items)].sku, 1) for k in range(1 + n % 3)]
        async with semaphore:
            ok, answer = await centra.place_order(world.markets[market], country, lines, n)
        if ok:
            placed[str(answer["number"])] = datetime.now(UTC)

    began = time.monotonic()
    await asyncio.gather(*(place(n) for n in range(args.orders)))
    placing_s = time.monotonic() - began
    confirmed: dict[str, datetime] = {}
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        async with runtime.engine.connect() as conn:
            rows = await conn.execute(
                select(sales_orders.c.order_number, sales_orders.c.confirmed_at).where(
                    sales_orders.c.confirmed_at.is_not(None)
                )
            )
            for number, at in rows:
                confirmed[number] = max(confirmed.get(number, at), at)
        if len(confirmed) >= len(placed):
            break
        await asyncio.sleep(0.2)
    stop.set()
    await working

    latencies = sorted((confirmed[n] - placed[n]).total_seconds() for n in placed if n in confirmed)
    first, last = min(placed.values()), max(confirmed.values(), default=min(placed.values()))
    counters = (await d_http.get("/_sim/counters")).json()
    api_calls = sum(v for k, v in counters["calls"].items() if "/_sim" not in k and "oauth2" not in k)
    snapshot = (await d_http.get("/_sim/snapshot")).json()
    by_centra: dict[str, list[str]] = {}
    for order in snapshot["orders"]:
        if order.get("channel", "api") == "api" and order["number"].startswith("C"):
            by_centra.setdefault(order["number"].split("-")[0][1:], []).append(order["number"])
    duplicates = sum(len(v) - len(set(v)) for v in by_centra.values())
    return {
        "mode": "unthrottled" if args.unthrottled else "throttled (Deposco 4 req/s, Centra growth)",
        "worker_processes": args.workers,
        "orders": len(placed),
        "orders_per_s": round(len(confirmed) / max(1e-9, (last - first).total_seconds()), 1),
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p99_s": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3) if latencies else None,
        "deposco_requests_per_order": round(api_calls / max(1, len(confirmed)), 2),
        "duplicates": duplicates,
        "lost": len(set(placed) - set(by_centra)),  # ground truth: placed in Centra, no order in Deposco
        "unconfirmed": len(set(placed) - set(confirmed)),  # in Deposco (or not) but not recorded by Lockstep
        "placing_s": round(placing_s, 1),  # how long the shoppers took to place them all (the offered load)
        "run_s": round(time.monotonic() - began, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--unthrottled", action="store_true")
    parser.add_argument("--orders", type=int, default=None, help="default: 1000 unthrottled, 150 throttled")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--concurrency", type=int, default=64, help="jobs the worker runs at once")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run this many `lockstep worker` processes instead of the worker in this process (which then only "
        "serves the webhook receiver, as `lockstep api` would)",
    )
    args = parser.parse_args()
    if args.orders is None:
        args.orders = 1000 if args.unthrottled else 150
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
