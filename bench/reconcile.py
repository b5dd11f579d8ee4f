"""Reconciliation at size: 1,000,000 SKU x facility readings compared with Centra, store to drift rows written.

The world: 333,334 SKUs in three live facilities (F-C lacks the last two SKUs, so exactly 1,000,000 readings and
two SKUs of pool p3 whose figure is unknown), four pools — p1 (F-A 70 %), p2 (F-B 80 % + F-A 30 %: a shared
facility), p3 (F-C), p4 (F-B 20 % + a draft facility that never counts) — 20,000 in-flight order lines (some
confirmed after the reading, so left out), 2,000 shipments not yet completed in Centra, everything published
once (1.33 M ``stock_published`` rows), 2,000 old drift rows that have converged, and about 1 % of keys changed in
Centra behind Lockstep's back.

Phases, each in its own process so the measured one's peak RSS is its own:

1. **load** (not measured): generate, load the store (SQLite by default, ``--postgres`` for PostgreSQL), and
   write Centra's figures — the expected figure, with the planted drift — to a Parquet file.
2. **measure**: read that file into memory (Centra's values; reading them through the API is rate-budgeted and
   not part of this figure), then time ``compare_and_record``: store snapshot read, the bulk equation and
   comparison, drift rows written, exceptions raised, corrections marked — one full pass.

The last line is one JSON object: ``{"rows", "seconds", "peak_rss_mb", "drift_rows", "backend", ...}``;
``peak_rss_mb`` is ``ru_maxrss`` of the measuring process (Parquet read and imports included).

    .venv/bin/python bench/reconcile.py [--postgres] [--skus N]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py shares its name with the stdlib module: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import io
import json
import os
import resource
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta

import polars as pl
from sqlalchemy import func, insert, select, text

from lockstep import logs
from lockstep.clock import utcnow
from lockstep.config import load_brand_file
from lockstep.config.topology import Facility, Pool, PoolFacility
from lockstep.domain import drift as rules
from lockstep.flows.inventory.reconcile import buffer_rules, compare_and_record, compared_pools
from lockstep.store import migrate
from lockstep.store import stock as store
from lockstep.store.db import create_engine
from lockstep.store.orders import order_units, sales_orders
from lockstep.store.shipments import shipments

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "example-brand.yaml"
PG_ADMIN_URL = os.environ.get("LOCKSTEP_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
READ_AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ORDER_LINES, SHIPMENTS, OLD_DRIFT = 20_000, 2_000, 2_000


def bench_topology():
    """The example brand with the bench's facilities and pools (a shared facility, a draft one)."""
    base = load_brand_file(EXAMPLE)
    facilities = (
        Facility(code="F-A", name="A", country="SE", state="live"),
        Facility(code="F-B", name="B", country="GB", state="live"),
        Facility(code="F-C", name="C", country="DE", state="live"),
        Facility(code="F-D", name="D", country="US", state="draft"),
    )
    pools = (
        Pool(id="p1", centra_warehouse="W1", facilities=(PoolFacility(facility="F-A", share=0.7),)),
        Pool(
            id="p2",
            centra_warehouse="W2",
            facilities=(PoolFacility(facility="F-B", share=0.8), PoolFacility(facility="F-A", share=0.3)),
        ),
        Pool(id="p3", centra_warehouse="W3", facilities=(PoolFacility(facility="F-C", share=1.0),)),
        Pool(
            id="p4",
            centra_warehouse="W4",
            facilities=(PoolFacility(facility="F-B", share=0.2), PoolFacility(facility="F-D", share=1.0)),
        ),
    )
    return base.model_copy(update={"facilities": facilities, "pools": pools, "routing_overrides": ()})


def readings_frame(skus: int) -> pl.DataFrame:
    """skus x 3 facilities, minus the last two SKUs in F-C: exactly 1,000,000 rows for 333,334 SKUs."""
    ids = pl.int_range(0, skus, eager=True).alias("i")
    base = pl.DataFrame(ids).with_columns(sku=pl.format("SKU-{}", pl.col("i").cast(pl.String).str.zfill(7)))
    parts = []
    for seed, facility in enumerate(("F-A", "F-B", "F-C")):
        frame = base if facility != "F-C" else base.head(max(skus - 2, 0))
        parts.append(
            frame.select(
                pl.lit(facility).alias("facility"),
                "sku",
                ((pl.col("i").hash(seed) % 203).cast(pl.Int64) - 3).alias("atp"),
                (pl.lit(READ_AT) - pl.duration(seconds=pl.col("i") % 600)).dt.cast_time_unit("us").alias("as_of"),
            )
        )
    return pl.concat(parts)


def order_frames(skus: int) -> tuple[list[dict], list[dict], list[dict]]:
    """Sales orders, order units and open shipments: 80 % confirmed before the reading, 20 % after."""
    live = {"p1": "F-A", "p2": "F-B", "p3": "F-C", "p4": "F-B"}
    orders, units, sent = [], [], []
    for n in range(ORDER_LINES):
        pool = f"p{n % 4 + 1}"
        facility = live[pool]
        number = f"O{n}"
        sales_order = f"C{number}-{facility}"
        confirmed = READ_AT - timedelta(hours=1) if n % 5 else READ_AT + timedelta(minutes=1)
        orders.append(
            {"brand": "nordwind", "number": sales_order, "order_number": number, "facility": facility,
             "confirmed_at": confirmed, "cancelled_at": None}
        )  # fmt: skip
        quantity = 1 + n % 3
        shipped = 1 if n < SHIPMENTS else 0
        units.append(
            {"brand": "nordwind", "order_number": number, "line_id": 1, "sku": f"SKU-{(n * 7919) % skus:07d}",
             "pool": pool, "facility": facility, "sales_order": sales_order, "quantity": quantity, "cancelled": 0,
             "shipped": shipped}
        )  # fmt: skip
        if shipped:
            sent.append(
                {"brand": "nordwind", "deposco_id": f"d{n}", "deposco_number": f"D{n}", "sales_order": sales_order,
                 "order_number": number, "facility": facility, "pool": pool, "state": "created", "lines": [[1, 1]],
                 "carrier": "", "service": "", "tracking": [], "packages": 1, "mutations": 0, "detected_at": READ_AT}
            )  # fmt: skip
    return orders, units, sent


def _sqlite_time(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    return frame.with_columns(pl.col(column).dt.replace_time_zone(None).dt.strftime("%Y-%m-%d %H:%M:%S%.6f"))


async def bulk_load(engine, table: str, frame: pl.DataFrame, times: tuple[str, ...]) -> None:
    """Loading is not measured, but 2.3 M rows through executemany would take minutes: COPY / raw executemany."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        if conn.dialect.name == "postgresql":
            buffer = io.BytesIO()
            frame.write_csv(buffer, include_header=False, datetime_format="%Y-%m-%d %H:%M:%S%.6f+00")
            buffer.seek(0)
            await driver.copy_to_table(table, source=buffer, columns=frame.columns, format="csv")
        else:
            for column in times:
                frame = _sqlite_time(frame, column)
            marks = ", ".join("?" for _ in frame.columns)
            await driver.execute("BEGIN")
            await driver.executemany(
                f"INSERT INTO {table} ({', '.join(frame.columns)}) VALUES ({marks})", frame.iter_rows()
            )
            await driver.execute("COMMIT")


async def load(url: str, workdir: Path, skus: int, drift_every: int) -> dict:
    clock = time.perf_counter()
    engine = create_engine(url)
    await migrate.upgrade(engine)
    topology = bench_topology()
    readings = readings_frame(skus)
    now = utcnow()
    await bulk_load(
        engine,
        "stock_levels",
        readings.with_columns(
            pl.lit("nordwind").alias("brand"), pl.col("atp").clip(lower_bound=0).alias("on_hand"),
            pl.lit(now).dt.cast_time_unit("us").alias("updated_at"),
        ).select("brand", "facility", "sku", "atp", "on_hand", "as_of", "updated_at"),
        ("as_of", "updated_at"),
    )  # fmt: skip
    orders, units, sent = order_frames(skus)
    async with engine.begin() as conn:
        for table, rows in ((sales_orders, orders), (order_units, units), (shipments, sent)):
            for start in range(0, len(rows), 2000):
                await conn.execute(insert(table), rows[start : start + 2000])

    # Centra's figures: the expected figure (from what was just loaded) with drift planted on ~1/drift_every keys.
    snapshot = await store.reconcile_snapshot(engine, "nordwind", ["F-A", "F-B", "F-C"])
    pools = compared_pools(topology)
    expected = rules.expected_physical(
        snapshot.readings,
        rules.shares_frame(list(pools.items())),
        snapshot.in_flight,
        buffer_rules(topology),
        pools=list(pools),
        reading_times=snapshot.reading_times,
        keys=pl.DataFrame({"pool": list(pools)}).join(snapshot.readings.select("sku").unique(), how="cross"),
    )  # Centra lists every size in every warehouse, also those a pool's facilities do not report
    centra = expected.select(
        "pool",
        "sku",
        pl.col("expected").fill_null(5).alias("value"),
        (pl.col("sku").hash(7) % drift_every == 0).alias("planted"),
        pl.col("expected").is_null().alias("unknown"),
    )
    published = centra.select(
        pl.lit("nordwind").alias("brand"), "pool", "sku", pl.col("value").alias("quantity"),
        pl.lit(now).dt.cast_time_unit("us").alias("published_at"), pl.lit("{}").alias("terms"),
    )  # fmt: skip
    await bulk_load(engine, "stock_published", published, ("published_at",))
    centra = centra.with_columns(
        pl.when(pl.col("planted"))
        .then(pl.col("value") + pl.max_horizontal(10, pl.col("value") // 5))
        .otherwise(pl.col("value"))
    )
    planted = centra.filter(pl.col("planted") & ~pl.col("unknown")).height
    centra.select("pool", "sku", "value").write_parquet(workdir / "centra.parquet")

    old = centra.filter(~pl.col("planted") & ~pl.col("unknown")).head(OLD_DRIFT)
    old_rows = old.select(
        pl.lit("nordwind").alias("brand"), "pool", "sku", pl.col("value").alias("expected"),
        (pl.col("value") + 50).alias("centra"), pl.lit(50).alias("difference"), pl.lit(99.0).alias("percent"),
        pl.lit(now - timedelta(days=1)).dt.cast_time_unit("us").alias("first_seen"),
        pl.lit(now - timedelta(days=1)).dt.cast_time_unit("us").alias("last_seen"), pl.lit("{}").alias("evidence"),
    )  # fmt: skip
    await bulk_load(engine, "stock_drift", old_rows, ("first_seen", "last_seen"))
    async with engine.connect() as conn:
        rows = await conn.scalar(select(func.count()).select_from(store.stock_levels))
    postgres = engine.dialect.name == "postgresql"
    await engine.dispose()
    if postgres:
        # What autovacuum does after a bulk load; without statistics the planner scans a whole pool per
        # 500-key lookup (a freshly COPYed table looks empty to it).
        await _autocommit(url, "ANALYZE")
    return {"rows": rows, "planted_drift": planted, "load_seconds": round(time.perf_counter() - clock, 1)}


async def measure(url: str, workdir: Path) -> dict:
    centra = pl.read_parquet(workdir / "centra.parquet")
    topology = bench_topology()
    engine = create_engine(url)
    async with engine.connect() as conn:  # a pooled connection, as a worker has
        await conn.execute(text("SELECT 1"))
    clock = time.perf_counter()
    report = await compare_and_record(engine, topology, centra, full=True, started=utcnow())
    seconds = time.perf_counter() - clock
    await engine.dispose()
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "drift_rows": report.drift,
        "keys_compared": sum(c["compared"] for c in report.pools.values()),
        "unknown": report.unknown,
        "converged": report.converged,
        "corrected": report.corrected,
        "phases_s": report.seconds,
    }


def child(phase: str, url: str, workdir: Path, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--phase", phase, "--url", url, "--workdir", str(workdir)]
    command += ["--skus", str(args.skus), "--drift-every", str(args.drift_every)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{phase} phase failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


async def _autocommit(url: str, sql: str) -> None:
    """CREATE/DROP DATABASE and ANALYZE cannot run inside a transaction block."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL (LOCKSTEP_TEST_PG_URL's server)")
    parser.add_argument("--skus", type=int, default=333_334)
    parser.add_argument("--drift-every", type=int, default=100, help="plant drift on about 1 key in N")
    parser.add_argument("--phase", choices=("load", "measure"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logs.configure("WARNING")
    if args.phase == "load":
        print(json.dumps(asyncio.run(load(args.url, args.workdir, args.skus, args.drift_every))))
        return
    if args.phase == "measure":
        print(json.dumps(asyncio.run(measure(args.url, args.workdir))))
        return

    backend = "postgresql" if args.postgres else "sqlite"
    with tempfile.TemporaryDirectory(prefix="lockstep-bench-reconcile-") as folder:
        workdir = Path(folder)
        name = f"lockstep_bench_reconcile_{os.getpid()}"
        if backend == "postgresql":
            asyncio.run(_autocommit(PG_ADMIN_URL, f"DROP DATABASE IF EXISTS {name}"))
            asyncio.run(_autocommit(PG_ADMIN_URL, f"CREATE DATABASE {name}"))
            url = PG_ADMIN_URL.rpartition("/")[0] + f"/{name}"
        else:
            url = f"sqlite:///{workdir}/bench.db"
        try:
            loaded = child("load", url, workdir, args)
            measured = child("measure", url, workdir, args)
        finally:
            if backend == "postgresql":
                asyncio.run(_autocommit(PG_ADMIN_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    result = {
        "rows": loaded["rows"],
        "seconds": measured.pop("seconds"),
        "peak_rss_mb": measured.pop("peak_rss_mb"),
        "drift_rows": measured.pop("drift_rows"),
        "backend": backend,
        "planted_drift": loaded["planted_drift"],
        **measured,
        "load_seconds": loaded["load_seconds"],
        "centra_source": "in-memory frame; reading Centra through its API is rate-budgeted, not in this figure",
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
