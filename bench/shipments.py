"""Shipment confirmation latency and cost: Deposco ships -> the Centra shipment completed, exactly once.

Both simulators run as separate processes (real HTTP on 127.0.0.1), seeded with the example brand's world.
Setup (not measured): orders are placed in Centra and exported to Deposco, over three stock pools (EU, UK, US
Export). Measured: the warehouse ships them through the Deposco simulator's control API at a fixed rate; the
simulator POSTs its shipment webhooks to Lockstep's receiver (served in this event loop, as ``lockstep run``
does), the hint job re-reads each shipment through the API, and ``shipments.confirm`` creates (captured, tagged
with the Deposco shipment number) and completes it in Centra. A poll every 10 s is the safety net it is in
production. Latency per shipment = Lockstep's recorded completion - the moment the ship call was sent (wall
clock, same machine). The last line is one JSON object:

    {"shipments", "p50_s", "p99_s", "mutations_per_shipment", "centra_429", "duplicates", ...}

Modes:
    (default)   Centra on the Enterprise tier with 50 ms latency per call; 10 shipments/s (target p99 <= 5 s)
    --growth    Centra on the Growth tier (20 mutations / 10 s): a backlog shipped at once drains at the
                budget's rate; reports the drain rate next to what the budget allows, and the 429s (target 0)

The Deposco simulator is not throttled here (the shipment flow is measured, not Deposco's account limit).
Mutations: two per shipment (create with capture and the tag in its message, complete) - see the module
docstring of ``lockstep.flows.shipments``.

    .venv/bin/python bench/shipments.py [--growth] [--shipments N] [--rate R] [--database-url URL]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py shares its name with the stdlib module: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime

from sqlalchemy import select

from lockstep import logs
from lockstep.config import LoadResult, Settings, load_brand_file
from lockstep.queue import Worker, enqueue
from lockstep.runtime import Runtime
from lockstep.sim.scenario.control import CentraControl, DeposcoControl
from lockstep.sim.scenario.seeding import seed_world
from lockstep.sim.scenario.spec import get_scenario
from lockstep.store import migrate
from lockstep.store.db import create_engine
from lockstep.store.orders import sales_orders
from lockstep.store.shipments import shipments
from lockstep.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "example-brand.yaml"
MARKETS = [("eu", "SE", "SE-STO"), ("uk", "GB", "GB-MKN"), ("us", "US", "GB-MKN")]  # pools eu, uk, us-export
MUTATIONS = ("createShipment", "updateShipment", "captureShipment", "completeShipment")


def _orders_bench():
    """bench/orders.py's helpers (free ports, serving the app in this loop), loaded by path: no package here."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_orders", Path(__file__).with_name("orders.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


helpers = _orders_bench()


def budgeted(topology, tier: str):
    return topology.model_copy(
        update={
            "deposco": topology.deposco.model_copy(update={"requests_per_second": 1000.0}),
            "centra": topology.centra.model_copy(update={"rate_tier": tier}),
        }
    )


async def drain(runtime: Runtime) -> None:
    worker = Worker(runtime.engine, runtime.registry, concurrency=16, services=runtime, poll_interval_s=0.05)
    await worker.run(asyncio.Event(), until_idle=True)


async def run(args) -> dict:
    logs.configure("WARNING")
    tier = "growth" if args.growth else "enterprise"
    source = load_brand_file(EXAMPLE)
    # Started without limits (setup is not measured); the tier is switched on for the measured part.
    with tempfile.TemporaryDirectory() as tmp, helpers.simulator_processes(source, True) as sims:
        tmp = Path(tmp)
        db_url = args.database_url or f"sqlite:///{tmp}/bench.db"
        engine = create_engine(db_url)
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            if (await conn.execute(select(sales_orders.c.number).limit(1))).first() is not None:
                raise SystemExit(f"{db_url} already holds orders: give the benchmark an empty database")
        endpoints = sims.endpoints()
        async with endpoints.centra_client() as c_http, endpoints.deposco_client() as d_http:
            world = await seed_world(CentraControl(c_http), DeposcoControl(d_http), source, get_scenario("steady"), 0)
            (await d_http.put("/_sim/warehouse/auto", json={"enabled": False})).raise_for_status()
            for warehouse in ("EU Stockholm", "UK Milton Keynes", "US Export"):
                rows = [{"sku": item.sku, "physical": 1_000_000} for item in world.items]
                (await c_http.put("/_sim/stock", json={"warehouse": warehouse, "items": rows})).raise_for_status()
            for facility in ("SE-STO", "GB-MKN"):
                for item in world.items:
                    body = {"facility": facility, "itemNumber": item.sku, "onHand": 1_000_000}
                    (await d_http.put("/_sim/stock", json=body)).raise_for_status()
            numbers = await place_orders(CentraControl(c_http), world, args.shipments)
        config_file = sims.pointed(EXAMPLE, tmp / "config")
        pointed = load_brand_file(config_file)
        secrets = {pointed.brand: sims.secrets_for(pointed)}

        # Setup, unmeasured and unbudgeted: item master, then every order fetched and exported to Deposco.
        setup = Runtime(
            Settings(), LoadResult(brands={pointed.brand: budgeted(pointed, "enterprise")}), engine, secrets=secrets
        )
        async with engine.begin() as conn:
            await enqueue(conn, brand=pointed.brand, task="items.sync", payload={"full": True})
        await drain(setup)
        async with engine.begin() as conn:
            for number in numbers:
                await enqueue(conn, brand=pointed.brand, task="orders.fetch", payload={"number": number})
        await drain(setup)
        await setup.close()
        await helpers.forget_setup_grants(engine)

        topology = budgeted(pointed, tier)
        runtime = Runtime(Settings(), LoadResult(brands={topology.brand: topology}), engine, secrets=secrets)
        async with endpoints.centra_client() as c_http, endpoints.deposco_client() as d_http:
            (await c_http.put("/_sim/rate-limits", json={"enabled": True, "tier": tier})).raise_for_status()
            if not args.no_latency:
                faults = {"default": {"latency_mean": 0.05, "latency_jitter": 0.0}}
                (await c_http.put("/_sim/faults", json=faults)).raise_for_status()
            async with helpers.serving(create_app(runtime)) as app_url:
                if not args.poll_only:
                    hook = {"url": f"{app_url}/webhooks/deposco/{topology.brand}"}
                    (await d_http.put("/_sim/webhooks", json=hook)).raise_for_status()
                before = (await c_http.get("/_sim/counters")).json()
                result = await measure(runtime, c_http, d_http, numbers, before, args)
        await runtime.close()
    result["mode"] = (
        "growth tier, backlog shipped at once"
        if args.growth
        else f"enterprise tier, {'no' if args.no_latency else '50 ms'} latency, {args.rate:g} shipments/s"
    )
    return result


async def place_orders(centra: CentraControl, world, count: int) -> list[str]:
    items = world.items
    gate = asyncio.Semaphore(8)

    async def place(n: int) -> str | None:
        market, country, _ = MARKETS[n % len(MARKETS)]
        async with gate:
            ok, answer = await centra.place_order(world.markets[market], country, [(items[n % len(items)].sku, 1)], n)
        return str(answer["number"]) if ok else None

    placed = await asyncio.gather(*(place(n) for n in range(count)))
    return [n for n in placed if n]


async def measure(runtime: Runtime, c_http, d_http, numbers: list[str], before: dict, args) -> dict:
    brand = next(iter(runtime.brands))
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(select(sales_orders.c.number, sales_orders.c.order_number))
        sales = {order: number for number, order in rows}
    stop = asyncio.Event()
    worker = Worker(
        runtime.engine, runtime.registry, concurrency=args.concurrency, services=runtime, poll_interval_s=0.02
    )
    working = asyncio.create_task(worker.run(stop))

    async def safety_poll() -> None:
        while not stop.is_set():
            await asyncio.sleep(1 if args.poll_only else 10)
            async with runtime.engine.begin() as conn:
                await enqueue(conn, brand=brand, task="shipments.poll", dedupe_key="shipments.poll")

    polling = asyncio.create_task(safety_poll())
    shipped: dict[str, datetime] = {}  # Deposco shipment number -> when the ship call was sent
    began = time.monotonic()

    async def ship_one(number: str) -> None:
        so = sales.get(number)
        if so is None:
            return
        at = datetime.now(UTC)
        answer = await d_http.post(f"/_sim/orders/{so}/advance", json={"to": "Ship Complete"})
        answer.raise_for_status()
        shipped[answer.json()["shipment"]["number"]] = at

    interval = 0.0 if args.growth else 1.0 / args.rate
    tasks = []
    for number in numbers:
        tasks.append(asyncio.create_task(ship_one(number)))
        if interval:
            await asyncio.sleep(interval)
    await asyncio.gather(*tasks)
    shipping_done = time.monotonic()

    completed: dict[str, datetime] = {}
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        async with runtime.engine.connect() as conn:
            rows = await conn.execute(
                select(shipments.c.deposco_number, shipments.c.completed_at).where(
                    shipments.c.completed_at.is_not(None)
                )
            )
            completed = {number: at for number, at in rows}
        if len(completed) >= len(shipped):
            break
        await asyncio.sleep(0.2)
    stop.set()
    polling.cancel()
    await working

    latencies = sorted((completed[n] - shipped[n]).total_seconds() for n in shipped if n in completed)
    after = (await c_http.get("/_sim/counters")).json()
    mutations = sum(after["calls"].get(m, 0) - before["calls"].get(m, 0) for m in MUTATIONS)
    async with runtime.engine.connect() as conn:
        recorded = (await conn.execute(select(shipments.c.mutations))).scalars().all()
    # Every order has one line shipped once: one Centra shipment per order, anything more is a duplicate.
    per_order: dict[str, int] = {}
    for shipment in (await c_http.get("/_sim/truth")).json()["shipments"]:
        order = str(shipment["orderNumber"])
        per_order[order] = per_order.get(order, 0) + 1
    first, last = min(shipped.values()), max(completed.values(), default=min(shipped.values()))
    drain_rate = len(completed) / max(1e-9, (last - first).total_seconds())
    result = {
        "shipments": len(shipped),
        "completed": len(completed),
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p99_s": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3) if latencies else None,
        "max_s": round(latencies[-1], 3) if latencies else None,
        "mutations_per_shipment": round(mutations / max(1, len(completed)), 2),
        "mutations_recorded_per_shipment": round(sum(recorded) / max(1, len(recorded)), 2),
        "centra_requests_per_shipment": round(sum(after["calls"].values()) - sum(before["calls"].values()), 2)
        / max(1, len(completed)),
        "centra_calls": {
            k: v - before["calls"].get(k, 0) for k, v in after["calls"].items() if v - before["calls"].get(k, 0)
        },
        "centra_429": after["rateLimited"] - before["rateLimited"],
        "duplicates": sum(count - 1 for count in per_order.values() if count > 1),
        "lost": len(set(shipped) - set(completed)),
        "completed_per_s": round(drain_rate, 2),
        "ship_s": round(shipping_done - began, 1),
        "run_s": round(time.monotonic() - began, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),  # the machine is shared: context for the numbers
    }
    if args.growth:  # 20 mutations per 10 s, shared by nothing else here
        result["budget_shipments_per_s"] = round(2.0 / max(0.01, result["mutations_per_shipment"]), 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--growth", action="store_true", help="Growth tier, a backlog drained at the budget")
    parser.add_argument("--shipments", type=int, default=None, help="default: 300 (enterprise), 40 (growth)")
    parser.add_argument("--rate", type=float, default=10.0, help="shipments per second (enterprise mode)")
    parser.add_argument("--no-latency", action="store_true", help="Centra answers without the 50 ms latency")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--poll-only", action="store_true", help="no webhooks: the poll, every second")
    parser.add_argument("--concurrency", type=int, default=16, help="jobs the worker runs at once")
    args = parser.parse_args()
    if args.shipments is None:
        args.shipments = 40 if args.growth else 300
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
