"""Peak sale: does Centra ever sell stock the warehouses do not have? Lockstep against a naive baseline.

The simulators' ``peak-sale`` scenario (400 SKUs with 2-6 units per facility, ~40 storefront orders/s across three
markets, other-channel orders taken directly in Deposco, small receipts) runs against both simulators as separate
processes: Centra on the Growth tier with 50 ms latency per request, Deposco throttled at 4 requests/s. Three runs
on the same seed: the sale with Lockstep's stock flow, the sale with the naive baseline, and Lockstep again under an
added stock churn of ``--stock-changes-per-s`` receipts (+5 units on one item in one live facility each, sent in
batches through the simulator's control API). The churn refills the shelves, so it would hide overselling: the
oversold figures come from the first two runs, the stock lag and rows per mutation from the third.

Lockstep runs in this process as ``lockstep run`` would (webhook receiver, worker, its own budgets) and exports
orders and confirms shipments in both runs:

- ``lockstep``: stock is published by Lockstep's inventory flow.
- ``baseline``: stock is pushed by a naive integration (here in ``bench/``, not in the product) every
  ``--baseline-interval`` seconds (default 300): Centra physical := share x Deposco ATP - buffer, no in-flight
  terms. It gets Lockstep's order export for free, which only flatters it.

Measured:

- oversold units: the simulators' ground truth (``lockstep.sim.truth``), Centra order units Deposco cannot fulfil;
- stock lag: for each churn receipt and each pool whose published figure it certainly moves, the time from
  sending it to Deposco to the next Centra ``setStock`` of that (pool, SKU). +5 units moves a pool's floored
  share by at least one unit at the example brand's shares, but not a figure held at zero by the safety buffer
  (``us-export`` has 0.2 of a facility with a few units at first): those pairs change nothing in Centra, have
  no lag, and are counted apart (``lag_samples_left_out_unmoved``);
- rows per mutation: sizes per Lockstep ``setStock`` mutation.

The last line is one JSON object:

    {"oversold_lockstep", "oversold_baseline", "p99_stock_lag_s", "rows_per_mutation", "centra_429", ...}

    .venv/bin/python bench/peak_sale.py [--duration 60] [--stock-changes-per-s 200] [--database-url URL]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import contextlib
import json
import math
import tempfile
import time
from datetime import datetime

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
LOCKSTEP_WRITES = "Lockstep stock sync"  # the description Lockstep's setStock carries
BASELINE_WRITES = "control API"  # the naive peer writes through the simulator's control API


def _orders_bench():
    """bench/orders.py's helpers (simulator processes, serving the app in this loop), loaded by path as
    bench/shipments.py does: bench/ is no package, and its folder is kept off the import path."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_orders", Path(__file__).with_name("orders.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


helpers = _orders_bench()
TOKEN, CLIENT, SECRET = helpers.TOKEN, helpers.CLIENT, helpers.SECRET


def budget(topology, *, unthrottled: bool, tier: str = "growth"):
    rps, tier = (1000.0, "enterprise") if unthrottled else (3.0, tier)
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


async def run(args, mode: str) -> dict:
    """One seeded peak sale with Lockstep running; stock by Lockstep (``lockstep``) or the naive loop."""
    logs.configure("WARNING")
    source = load_brand_file(EXAMPLE)
    with tempfile.TemporaryDirectory() as tmp, helpers.simulator_processes(source, False) as sims:
        tmp = Path(tmp)
        db_url = args.database_url or f"sqlite:///{tmp}/bench.db"
        engine = create_engine(db_url)
        await migrate.upgrade(engine)
        await _empty(engine)
        config_file = sims.pointed(EXAMPLE, tmp / "config")
        pointed = load_brand_file(config_file)
        secrets = {pointed.brand: sims.secrets_for(pointed)}
        measured = budget(pointed, unthrottled=False, tier=args.tier)
        inventory = measured.inventory.model_copy(update={"scan_interval_seconds": args.scan_interval})
        measured = measured.model_copy(update={"inventory": inventory})
        runtime = Runtime(Settings(), LoadResult(brands={pointed.brand: measured}), engine, secrets=secrets)
        stop = asyncio.Event()
        background: list[asyncio.Task] = []
        churn: list[tuple[datetime, str, str, float, int]] = []

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
                if mode == "lockstep":
                    async with engine.begin() as conn:
                        await enqueue(conn, brand=pointed.brand, task="inventory.scan")
                    await drain_until_published(setup)
                for client in setup._clients.values():
                    await client.aclose()
                await helpers.forget_setup_grants(engine)
                await d_http.put("/_sim/throttle", json={"requestsPerSecond": 4})
                (await c_http.put("/_sim/rate-limits", json={"tier": args.tier})).raise_for_status()
                await c_http.post("/_sim/counters/reset")
                await d_http.post("/_sim/counters/reset")
            app_url = await start_app(runtime, background, stop)
            async with endpoints.centra_client() as c_http:
                secret = secrets[pointed.brand][pointed.centra.webhook_secret_env]
                hook = {"url": f"{app_url}/webhooks/centra/{pointed.brand}", "secret": secret}
                (await c_http.put("/_sim/webhooks", json=hook)).raise_for_status()
            worker = Worker(engine, runtime.registry, services=runtime, poll_interval_s=0.02)  # as `lockstep run`
            background.append(asyncio.create_task(worker.run(stop)))
            background.append(asyncio.create_task(poll_shipments(runtime, pointed.brand, stop)))
            if mode == "lockstep":
                async with engine.begin() as conn:
                    await enqueue(conn, brand=pointed.brand, task="inventory.scan", dedupe_key="inventory.scan")
            else:
                background.append(asyncio.create_task(naive_publisher(sims, pointed, stop, args.baseline_interval)))
            deadline = time.monotonic() + args.duration
            background.append(asyncio.create_task(stock_churn(sims, pointed, args, deadline, churn)))

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
            publish_stock=mode == "baseline",
            settle_s=args.settle,
            on_seeded=on_seeded,
        )
        async with sims.endpoints().centra_client() as c_http:
            snapshot = (await c_http.get("/_sim/snapshot")).json()
        backlog = await _backlog(engine)
        stop.set()
        await asyncio.gather(*background, return_exceptions=True)
        await runtime.close()
        if args.database_url:
            await _reset(engine)
        await engine.dispose()
    oversold = summary["truth"].get("oversold", {})
    outcomes = summary["events"]["outcomes"]
    writer = LOCKSTEP_WRITES if mode == "lockstep" else BASELINE_WRITES
    lags, unmoved = stock_lags(snapshot, pointed, churn, writer)
    writes = [c for c in snapshot["stock_changes"].values() if c["description"] == writer]
    return {
        "mode": mode,
        "storefront_orders": outcomes.get("storefront_order.accepted", 0),
        "refused_by_centra": outcomes.get("storefront_order.refused", 0),
        "other_channel_orders": outcomes.get("other_channel_order.placed", 0),
        "stock_changes_sent": len(churn),
        "stock_changes_per_s": round(len(churn) / args.duration, 1),
        "oversold_units": oversold.get("units"),
        "oversold_cells": oversold.get("cells"),
        "oversold_examples": oversold.get("examples", [])[:3],  # (facility, item): on hand, open orders, pools
        "not_in_deposco_at_end": summary["truth"].get("missing_in_deposco", {}).get("orders"),
        "lag_samples": len(lags),
        "lag_samples_left_out_unmoved": unmoved,
        "p50_stock_lag_s": _quantile(lags, 0.5),
        "p99_stock_lag_s": _quantile(lags, 0.99),
        "stock_mutations": len(writes),
        "rows_per_mutation": round(sum(len(c["lines"]) for c in writes) / len(writes), 1) if writes else None,
        "centra_429": summary["counters"]["centra"].get("rateLimited"),
        "centra_calls": summary["counters"]["centra"].get("calls"),
        "centra_requests": summary["counters"]["centra"].get("requests"),
        "deposco_429": summary["counters"]["deposco"].get("throttled429"),
        "deposco_calls": summary["counters"]["deposco"].get("calls"),
        "driver_max_lag_s": summary["events"]["max_lag_s"],
        "lockstep_backlog_at_end": backlog,
    }


async def _backlog(engine) -> dict[str, int]:
    """Pending jobs per task when the truth is read: where Lockstep was behind."""
    from sqlalchemy import func, select

    from lockstep.store.tables import jobs

    async with engine.connect() as conn:
        rows = await conn.execute(
            select(jobs.c.task, func.count()).where(jobs.c.status == "pending").group_by(jobs.c.task)
        )
        return {task: n for task, n in rows}


async def _reset(engine) -> None:
    """Leave the given database as empty as it came, for the next run (each run is a fresh Lockstep)."""
    from sqlalchemy import text

    from lockstep.store.tables import metadata

    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        else:
            await conn.run_sync(metadata.drop_all)
            await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


async def _empty(engine) -> None:
    from sqlalchemy import func, select

    async with engine.connect() as conn:
        if await conn.scalar(select(func.count()).select_from(stock_store.stock_levels)):
            raise SystemExit("the database already holds stock: give the benchmark an empty database")


async def stock_churn(sims, topology, args, deadline: float, sent: list) -> None:
    """``--stock-changes-per-s`` receipts of +5 units on random live (facility, item) cells, in batches of one
    facility's lines every 50 ms; each change is recorded with the moment it was sent and the ATP it left (the
    simulator answers with the cell's figures after the batch)."""
    import random

    rng = random.Random(args.seed)
    live = [f.code for f in topology.facilities if f.is_live]
    async with sims.endpoints().centra_client() as c_http, sims.endpoints().deposco_client() as d_http:
        items = [i.item for i in catalog_items(await CentraControl(c_http).catalog(), topology.sku_key)]
        started, done = time.monotonic(), 0
        while (now := time.monotonic()) < deadline and args.stock_changes_per_s > 0:
            due = int((now - started) * args.stock_changes_per_s) - done  # catch up on a slow loop
            for index, facility in enumerate(live):
                lines = [rng.choice(items) for _ in range(due // len(live) + (1 if index < due % len(live) else 0))]
                if not lines:
                    continue
                at = utcnow()
                body = {"facility": facility, "lines": [{"itemNumber": i, "quantity": RECEIPT} for i in lines]}
                answer = await d_http.post("/_sim/receipts", json=body)
                answer.raise_for_status()
                after = {row["itemNumber"]: float(row["atpQty"]) for row in answer.json()["rows"]}
                counts = {item: lines.count(item) for item in set(lines)}
                sent += [(at, facility, item, after[item], counts[item]) for item in lines]
                done += len(lines)
            await asyncio.sleep(0.05)


RECEIPT = 5  # units per churn receipt


def moves_figure(share: float, buffer: int, atp_after: float, received: int) -> bool:
    """Whether a receipt certainly changes the pool's published figure: its floored share of the facility grows,
    and that share alone already clears the safety buffer (the figure is clamped at zero; the pool's other
    facilities and in-flight units only add to it). A receipt that leaves the figure at zero changes nothing in
    Centra, so it has no lag to measure; counted in, it took the time to some later, unrelated write."""
    before = math.floor(share * (atp_after - received) + 1e-9)
    after = math.floor(share * atp_after + 1e-9)
    return after > before and after - buffer > 0


def stock_lags(snapshot: dict, topology, churn: list, writer: str) -> tuple[list[float], int]:
    """Per churn receipt and pool whose figure it moves (:func:`moves_figure`): seconds to the next write of that
    (pool, SKU) by ``writer`` (the stock change's description). Also the number of (receipt, pool) pairs left out
    because the figure did not move."""
    warehouses = {int(w["id"]): w["name"] for w in snapshot["warehouses"].values()}
    skus = {int(z["id"]): z["sku"] for z in snapshot["sizes"].values()}
    pool_of = {p.centra_warehouse: p.id for p in topology.pools}
    writes: dict[tuple[str, str], list[datetime]] = {}
    for change in snapshot["stock_changes"].values():
        if change["description"] != writer:
            continue
        pool = pool_of.get(warehouses.get(int(change["warehouse_id"]), ""))
        at = datetime.fromisoformat(change["created_at"])
        for size_id, _ in change["lines"]:
            writes.setdefault((pool, skus.get(int(size_id), "")), []).append(at)
    for times in writes.values():
        times.sort()
    lags, unmoved = [], 0
    for at, facility, item, atp_after, count in churn:
        for pool, share in topology.pools_for_facility(facility):
            if not moves_figure(share, topology.safety_buffer(pool, item), atp_after, RECEIPT * count):
                unmoved += 1
                continue
            times = writes.get((pool, item), [])
            later = next((t for t in times if t >= at), None)
            if later is not None:
                lags.append((later - at).total_seconds())
    return lags, unmoved


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


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
    else:  # seen once under load: the sale then ran on an empty store, every storefront order refused
        stop.set()
        await task
        raise SystemExit("peak_sale: the first stock publish did not finish within 60 s; the run would measure nothing")
    stop.set()
    await task


async def _published(conn) -> bool:
    from sqlalchemy import func, select

    return bool(await conn.scalar(select(func.count()).select_from(stock_store.stock_published)))


async def start_app(runtime: Runtime, background: list, stop: asyncio.Event) -> str:
    ready: asyncio.Future = asyncio.get_running_loop().create_future()

    async def serve() -> None:
        async with helpers.serving(create_app(runtime)) as url:
            ready.set_result(url)
            await stop.wait()

    background.append(asyncio.create_task(serve()))
    return await ready


async def poll_shipments(runtime: Runtime, brand: str, stop: asyncio.Event) -> None:
    """The scheduler's safety nets, compressed for a short bench: the shipment poll (every minute in the example
    brand) every 5 s, the order re-fetch (every 5 minutes, re-reading a 10-minute window) every 60 s. Run every
    5 s, the re-fetch re-read every order of the sale each time and spent most of Centra's request budget, a
    cost production never pays."""
    last_refetch = -1e9
    while not stop.is_set():
        async with runtime.engine.begin() as conn:
            await enqueue(conn, brand=brand, task="shipments.poll", dedupe_key="shipments.poll")
            if time.monotonic() - last_refetch >= 60.0:
                await enqueue(conn, brand=brand, task="orders.refetch", dedupe_key="orders.refetch")
                last_refetch = time.monotonic()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 5.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after the sale before the truth is read")
    parser.add_argument("--stock-changes-per-s", type=float, default=200.0, help="churn of the lag run (0: no lag run)")
    parser.add_argument("--baseline-interval", type=float, default=300.0, help="the naive peer's push interval")
    parser.add_argument("--scan-interval", type=int, default=1, help="Lockstep's inventory.scan_interval_seconds")
    parser.add_argument("--only", choices=("lockstep", "baseline"), help="run one side only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tier", default="growth", help="Centra rate tier of the simulator and of Lockstep's budget")
    parser.add_argument(
        "--database-url", help="an empty database for Lockstep, emptied after each run (default: temporary SQLite)"
    )
    args = parser.parse_args()
    # The sale as the scenario has it (stock near zero): who oversells. Then Lockstep under a stock churn on top
    # (receipts only, so it refills the shelves and would hide overselling): lag and rows per mutation.
    plan = [("lockstep", 0.0), ("baseline", 0.0)] + (
        [("lockstep", args.stock_changes_per_s)] if args.stock_changes_per_s > 0 else []
    )
    runs: dict[tuple[str, float], dict] = {}
    for mode, churn in plan:  # with no churn asked, no third run (it would repeat the first)
        if args.only in (None, mode):
            run_args = argparse.Namespace(**{**vars(args), "stock_changes_per_s": churn})
            runs[(mode, churn)] = {**asyncio.run(run(run_args, mode)), "stock_changes_per_s_asked": churn}
            print(json.dumps(runs[(mode, churn)]), flush=True)
    sale = {mode: r for (mode, churn), r in runs.items() if churn == 0}
    churned = runs.get(("lockstep", args.stock_changes_per_s), {}) if args.stock_changes_per_s > 0 else {}
    result = {
        "oversold_lockstep": sale.get("lockstep", {}).get("oversold_units"),
        "oversold_baseline": sale.get("baseline", {}).get("oversold_units"),
        "p99_stock_lag_s": churned.get("p99_stock_lag_s"),
        "p50_stock_lag_s": churned.get("p50_stock_lag_s"),
        "rows_per_mutation": churned.get("rows_per_mutation"),
        "centra_429": max((r.get("centra_429") or 0) for (mode, _), r in runs.items() if mode == "lockstep")
        if any(mode == "lockstep" for mode, _ in runs)
        else None,
        "stock_changes_per_s": churned.get("stock_changes_per_s"),
        "storefront_orders": {m: r.get("storefront_orders") for m, r in sale.items()},
        "duration_s": args.duration,
        "baseline_interval_s": args.baseline_interval,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
