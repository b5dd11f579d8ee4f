"""``lockstep demo``: a newcomer's first look, on a fresh SQLite database and the example brand.

It runs what exists today, for real: migrations; the validated pool -> facility mapping; both simulators started
as real HTTP servers on 127.0.0.1 and seeded with the brand's world (warehouses, markets, catalogue, stock);
``check --connect`` against them; the item master synced to Deposco; shoppers' orders routed to the right
facility and one unroutable order quarantined with its reason; the scheduler firing cron slots into the durable
queue; the warehouse shipping the exported orders and Centra showing them completed, with tracking, seconds
later; Deposco stock published into the Centra pools, a receipt arriving within seconds and a sale drained to
zero without overselling; exceptions by owner team; the simulators' counters; and a clean stop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lockstep.config import Settings, load_config_dir
from lockstep.flows.connectivity import check_brand
from lockstep.queue import Worker, enqueue
from lockstep.queue import jobs as q
from lockstep.queue.scheduler import Scheduler
from lockstep.runtime import Runtime, load_config
from lockstep.sim.local import local_simulators
from lockstep.sim.scenario.control import CentraControl, DeposcoControl
from lockstep.sim.scenario.seeding import seed_world
from lockstep.sim.scenario.spec import get_scenario
from lockstep.store import exceptions as exc_store
from lockstep.store import migrate
from lockstep.store.db import create_engine

VAR = Path("var")
DEMO_DB = VAR / "demo.db"
DEMO_CONFIG = VAR / "demo-config"


async def run_demo(settings: Settings, *, seconds: float, console: Console) -> None:
    from lockstep.cli import print_mapping

    console.rule("1. database")
    for leftover in DEMO_DB.parent.glob(DEMO_DB.name + "*"):
        leftover.unlink()
    engine = create_engine(f"sqlite:///{DEMO_DB}")
    revision = await migrate.upgrade(engine)
    console.print(f"fresh SQLite database {DEMO_DB} (WAL) migrated to revision {revision}")

    console.rule("2. configuration")
    config = load_config(settings)
    for warning in config.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    for topology in config.brands.values():
        print_mapping(topology)
    brand, topology = next(iter(config.brands.items()))

    console.rule("3. simulators")
    with local_simulators(topology) as sims:
        console.print(f"Centra simulator  {sims.centra_url}/graphql (tier {topology.centra.rate_tier})")
        console.print(f"Deposco simulator {sims.deposco_url}/latest (business unit {topology.deposco.business_unit})")
        async with sims.endpoints().centra_client() as centra, sims.endpoints().deposco_client() as deposco:
            # A small catalogue (16 sizes): the item sync below runs at the brand's real Deposco budget.
            small = dataclasses.replace(get_scenario("steady"), products=2)
            world = await seed_world(CentraControl(centra), DeposcoControl(deposco), topology, small, seed=0)
        console.print(
            f"seeded {brand}: {len(world.items)} sizes, {len(world.markets)} markets, "
            f"{world.deposco_units} units on hand in Deposco, {world.centra_units} published to Centra"
        )
        # The brand file, pointed at the simulators, with the secrets they accept (as an operator would set).
        sims.pointed(config.files[brand], DEMO_CONFIG)
        secrets = sims.secrets_for(topology)
        os.environ.update(secrets)
        demo_config = load_config_dir(DEMO_CONFIG)

        console.rule("4. check --connect")
        report = await check_brand(demo_config.brands[brand], secrets)
        for line in report.passed:
            console.print(f"[green]ok[/green] {line}", highlight=False)
        for line in report.problems:
            console.print(f"[red]problem[/red] {line}", highlight=False)

        runtime = Runtime(settings, demo_config, engine, secrets={brand: secrets})
        console.rule("5. item master and orders")
        await _orders(runtime, sims, world, console)

        console.rule("6. shipments")
        await _shipments(runtime, sims, console)

        console.rule("7. stock")
        await _stock(runtime, sims, world, console)

        console.rule(f"8. scheduler + worker for {seconds:g}s")
        await _run_queue(runtime, engine, seconds, console)

        console.rule("9. exceptions")
        async with engine.connect() as conn:
            records = await exc_store.list_exceptions(conn, active_only=True)
        for record in records:
            console.print(
                f"\\[{record.severity}] {record.kind} -> team {record.owner_team}: {record.summary} "
                f"(playbook docs/playbooks/{record.playbook}.md)",
                highlight=False,
            )
        if not records:
            console.print("no open exceptions")

        console.rule("9. simulator counters")
        async with sims.endpoints().centra_client() as centra, sims.endpoints().deposco_client() as deposco:
            c_counts = (await centra.get("/_sim/counters")).json()
            d_counts = (await deposco.get("/_sim/counters")).json()
        console.print(f"Centra:  {_calls(c_counts)}", highlight=False)
        console.print(f"Deposco: {_calls(d_counts)}", highlight=False)
        await runtime.close()
    console.print("simulators stopped")
    console.rule("done")
    console.print(
        f"Inspect it yourself: LOCKSTEP_DATABASE_URL=sqlite:///{DEMO_DB} lockstep jobs list | lockstep exceptions list",
        highlight=False,
    )


async def _orders(runtime: Runtime, sims, world, console: Console) -> None:
    """Sync the item master, place orders as shoppers would, and let the order flow route and export them."""
    from lockstep.store import orders as order_store

    brand = next(iter(runtime.brands))
    async with runtime.engine.begin() as conn:
        await enqueue(conn, brand=brand, task="items.sync", payload={"full": True})
    await _drain(runtime)
    console.print(f"item master: {len(world.items)} Centra sizes synced to Deposco (budget: LOW priority)")
    skus = [item.sku for item in world.items]
    async with sims.endpoints().centra_client() as http:
        # One size gets stock only in the draft facility's pool, so its order cannot be routed.
        await http.put("/_sim/stock", json={"warehouse": "US New Jersey", "items": [{"sku": skus[-1], "physical": 5}]})
        centra = CentraControl(http)
        shoppers = [
            ("eu", "SE", skus[0]),
            ("eu", "DE", skus[1]),
            ("uk", "GB", skus[2]),
            ("uk", "IE", skus[3]),
            ("us", "US", skus[4]),
            ("us", "US", skus[-1]),
        ]
        numbers = []
        for n, (market, country, sku) in enumerate(shoppers):
            ok, answer = await centra.place_order(world.markets[market], country, [(sku, 1)], n)
            if ok:
                numbers.append((str(answer["number"]), market, country))
    async with runtime.engine.begin() as conn:
        await enqueue(conn, brand=brand, task="orders.refetch")
    await _drain(runtime)
    table = Table(title="orders placed in the Centra simulator")
    for column in ("order", "market", "ships to", "Lockstep", "Deposco orders / reason"):
        table.add_column(column)
    async with runtime.engine.connect() as conn:
        for number, market, country in numbers:
            record = await order_store.get(conn, brand, number)
            sales = await order_store.sales_orders_of(conn, brand, number)
            detail = ", ".join(f"{s.number} @ {s.facility}" for s in sales if s.confirmed_at) or "; ".join(
                c["detail"] for c in record.causes
            )
            table.add_row(number, market, country, record.state, detail)
    console.print(table)


async def _shipments(runtime: Runtime, sims, console: Console) -> None:
    """The warehouse releases, picks and ships every exported order; Lockstep confirms each in Centra."""
    import time

    from lockstep.store import shipments as ship_store

    brand = next(iter(runtime.brands))
    async with sims.endpoints().deposco_client() as http:
        await http.put("/_sim/warehouse/auto", json={"releaseAfter": 0, "pickAfter": 0, "shipAfter": 0})
        for _ in range(3):  # release, pick, ship: one step per tick
            (await http.post("/_sim/warehouse/tick")).raise_for_status()
        await http.put("/_sim/warehouse/auto", json={"enabled": False})
    began = time.monotonic()
    async with runtime.engine.begin() as conn:  # the scheduled poll, now rather than at the next minute
        await enqueue(conn, brand=brand, task="shipments.poll", dedupe_key="shipments.poll")
    await _drain(runtime)
    took = time.monotonic() - began
    async with runtime.engine.connect() as conn:
        records = await ship_store.of_brand(conn, brand)
    centra = {s.id: s for s in sims.centra_app.sim.state.shipments.values()}
    table = Table(title=f"shipped in Deposco -> completed in Centra ({took:.1f} s for all of them)")
    for column in ("order", "Deposco", "Centra", "carrier", "tracking", "Centra state"):
        table.add_column(column)
    for record in sorted(records, key=lambda r: r.id):
        shipped = centra.get(record.centra_id)
        done = shipped is not None and shipped.is_shipped
        table.add_row(
            record.order_number,
            record.deposco_number,
            shipped.number if shipped else "-",
            shipped.carrier if shipped else "-",
            shipped.tracking_number if shipped else "-",
            ("done, e-mail" if shipped.email_sent else "done") if done else record.state,
        )
    console.print(table)
    console.print(
        f"{sum(r.mutations for r in records)} Centra mutations for {len(records)} shipments (create with capture "
        "and the Deposco number as its tag, then complete); `lockstep shipments show ID` tells one shipment's story",
        highlight=False,
    )


async def _stock(runtime: Runtime, sims, world, console: Console) -> None:
    """Publish Deposco stock into the Centra pools; a receipt shows up within seconds; a sale drains a size to
    zero in every market without overselling (the simulators' ground truth counts oversold units)."""
    from lockstep.flows.inventory.publish import compute_figures
    from lockstep.sim.truth import read_truth
    from lockstep.store import stock as stock_store

    brand = next(iter(runtime.brands))
    topology = runtime.brands[brand]
    pools = [p.id for p in topology.pools if topology.live_facilities_for_pool(p.id)]

    async def scan() -> None:
        async with runtime.engine.begin() as conn:
            await enqueue(conn, brand=brand, task="inventory.scan", dedupe_key="inventory.scan")
        await _drain(runtime)

    async def centra_stock(sku: str, field: str = "physical") -> dict[str, int]:
        async with sims.endpoints().centra_client() as http:
            names = {w["id"]: w["name"] for w in (await http.get("/_sim/topology")).json()["warehouses"]}
            rows = (await http.get("/_sim/stock", params={"sku": sku})).json()["stock"]
        held = {names.get(r["warehouseId"]): r[field] for r in rows}
        return {p.id: held.get(p.centra_warehouse, 0) for p in topology.pools if p.id in pools}

    await scan()
    async with runtime.engine.connect() as conn:
        published = len((await conn.execute(stock_store.stock_published.select())).all())
    console.print(f"first scan: {published} (pool, size) figures published to Centra ({', '.join(pools)})")

    item = world.items[0]
    async with sims.endpoints().deposco_client() as http:
        await DeposcoControl(http).receive("GB-MKN", item.item, 10)
    started = asyncio.get_running_loop().time()
    await scan()
    elapsed = asyncio.get_running_loop().time() - started
    async with runtime.engine.connect() as conn:
        figures = {p: (await compute_figures(conn, topology, p, [item.item]))[item.item] for p in pools}
    after = await centra_stock(item.sku)
    table = Table(title=f"receipt of 10 x {item.item} at GB-MKN: in Centra {elapsed:.1f}s later")
    for column in ("pool", "ATP share", "+ held open", "+ shipped", "- buffer", "Centra physical"):
        table.add_column(column)
    for pool, f in figures.items():
        shares = ", ".join(f"{k} {v}" for k, v in f.per_facility.items())
        table.add_row(pool, shares, str(f.held_open), str(f.shipped_unconfirmed), str(f.buffer), str(after[pool]))
    console.print(table)

    hot = world.items[1]
    taken: dict[str, int] = {}
    sold_out: set[str] = set()
    async with sims.endpoints().centra_client() as http:
        centra = CentraControl(http)
        for n in range(200):  # shoppers in every market buy one each until Centra has nothing left to sell them
            market, country = (("eu", "SE"), ("uk", "GB"), ("us", "US"))[n % 3]
            if market in sold_out:
                continue
            ok, _ = await centra.place_order(world.markets[market], country, [(hot.sku, 1)], 100 + n)
            if ok:
                taken[market] = taken.get(market, 0) + 1
            else:
                sold_out.add(market)
            if len(sold_out) == 3:
                break
            if n % 6 == 5:  # the order flow and the stock flow keep up as the sale goes on
                async with runtime.engine.begin() as conn:
                    await enqueue(conn, brand=brand, task="orders.refetch", dedupe_key="orders.refetch")
                await scan()
    async with runtime.engine.begin() as conn:
        await enqueue(conn, brand=brand, task="orders.refetch", dedupe_key="orders.refetch")
    await scan()
    truth = await read_truth(sims.endpoints(), topology.routing_table(), item_key=topology.sku_key)
    oversold = truth.get("oversold", {}).get("units", 0)
    console.print(
        f"sale of {hot.sku}: orders taken {taken}, then every market sold out; Centra free to allocate now "
        f"{await centra_stock(hot.sku, 'freeToAllocate')}; oversold units (simulators' ground truth): {oversold}",
        highlight=False,
    )


async def _drain(runtime: Runtime) -> None:
    worker = Worker(
        runtime.engine,
        runtime.registry,
        poll_interval_s=0.05,
        services=runtime,
        owner_for=runtime.owner_for,
    )
    await worker.run(asyncio.Event(), until_idle=True)


async def _run_queue(runtime: Runtime, engine, seconds: float, console: Console) -> None:
    schedules, skipped = runtime.schedules()
    for note in skipped:
        console.print(f"note: {note}", highlight=False)
    async with engine.begin() as conn:
        # An operator's manual "re-check now", twice: the queue coalesces them into one pending job.
        for brand in runtime.brands:
            for _ in range(2):
                await enqueue(conn, brand=brand, task="monitor.config", dedupe_key="manual:monitor.config")
    scheduler = Scheduler(engine, schedules, tick_s=0.5)
    worker = Worker(
        engine, runtime.registry, concurrency=4, poll_interval_s=0.1, services=runtime, owner_for=runtime.owner_for
    )
    stop = asyncio.Event()
    parts = [asyncio.create_task(scheduler.run(stop)), asyncio.create_task(worker.run(stop))]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*parts)
    for fired in scheduler.fired:
        console.print(
            f"scheduler fired {fired.schedule.brand}/{fired.schedule.name} "
            f"(slot {fired.slot:%Y-%m-%d %H:%M} UTC) -> job {fired.job_id}",
            highlight=False,
        )
    async with engine.connect() as conn:
        jobs = await q.list_jobs(conn)
    table = Table(title="jobs")
    for column in ("id", "brand", "task", "status", "attempts"):
        table.add_column(column)
    for job in jobs:
        table.add_row(str(job.id), job.brand, job.task, job.status, str(job.attempts))
    console.print(table)
    console.print(
        f"worker: {worker.stats}; the two manual re-checks were coalesced into job {jobs[-1].id if jobs else '-'}",
        highlight=False,
    )


def _calls(counters: dict) -> str:
    calls = counters.get("calls") or counters.get("operations") or {}
    shown = {k: v for k, v in calls.items() if "/_sim" not in str(k)} if isinstance(calls, dict) else calls
    return ", ".join(f"{k} {v}" for k, v in shown.items()) if isinstance(shown, dict) else str(shown)
