"""Reconciliation on SQLite and PostgreSQL: the store read in bulk, drift recorded, corrected and auto-resolved.

Centra's figures are handed in as a frame (what ``read_centra`` builds from the API), so these tests exercise
everything after the Centra read against a real database; ``test_reconcile_against_the_centra_simulator``
covers the API read end to end.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import insert, select

from lockstep.clock import utcnow
from lockstep.config import load_brand_file
from lockstep.config.topology import Facility, PoolFacility
from lockstep.domain.model import StockReading
from lockstep.flows.inventory.publish import compute_figures
from lockstep.flows.inventory.reconcile import compare_and_record, reconcile
from lockstep.store import exceptions as exc_store
from lockstep.store import stock as store
from lockstep.store.orders import order_units, sales_orders
from lockstep.store.shipments import shipments
from lockstep.store.tables import jobs

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example-brand.yaml"


@pytest.fixture
def topology():
    return load_brand_file(EXAMPLE)


def centra(values: dict[tuple[str, str], int]) -> pl.DataFrame:
    return pl.DataFrame(
        [(pool, sku, v) for (pool, sku), v in values.items()],
        schema={"pool": pl.String, "sku": pl.String, "value": pl.Int64},
        orient="row",
    )


async def put_readings(engine, brand, rows, *, as_of=None):
    as_of = as_of or utcnow()
    async with engine.begin() as conn:
        await store.record_readings(
            conn,
            brand,
            [StockReading(f, sku, on_hand=max(atp, 0), atp=atp, as_of=as_of) for f, sku, atp in rows],
            now=as_of,
        )


async def publish_belief(engine, brand, pool, values):
    async with engine.begin() as conn:
        await store.record_published(conn, brand, pool, {s: (q, {}) for s, q in values.items()}, now=utcnow())


async def drift_rows(engine, brand):
    async with engine.connect() as conn:
        rows = await conn.execute(select(store.stock_drift).where(store.stock_drift.c.brand == brand))
        return {(r.pool, r.sku): r for r in rows}


async def active(engine, brand):
    async with engine.connect() as conn:
        return await exc_store.list_exceptions(conn, brand=brand, kind="stock_drift", active_only=True)


async def test_drift_detected_corrected_kept_and_resolved(engine, topology):
    brand = topology.brand
    # SE-STO backs eu (0.7) and uk (0.3); GB-MKN backs uk (0.8) and us-export (0.2). Default buffer 1.
    await put_readings(
        engine, brand, [("SE-STO", "S1", 10), ("GB-MKN", "S1", 10), ("SE-STO", "S2", 50), ("GB-MKN", "S2", 0)]
    )
    truth = {
        ("eu", "S1"): 6,
        ("uk", "S1"): 3 + 8 - 1,
        ("us-export", "S1"): 1,
        ("eu", "S2"): 34,
        ("uk", "S2"): 14,
        ("us-export", "S2"): 0,
    }
    await publish_belief(engine, brand, "eu", {"S1": 6, "S2": 34})
    seen = dict(truth)
    seen[("eu", "S1")] = 16  # someone typed 16 into AMS
    seen[("us-export", "S2")] = 1  # within tolerance: 1 unit
    report = await compare_and_record(engine, topology, centra(seen), full=True, started=utcnow())
    assert report.drift == 1 and report.corrected == 1
    assert report.pools["eu"]["compared"] == 2 and "us" not in report.pools  # no live facility: not compared

    rows = await drift_rows(engine, brand)
    row = rows[("eu", "S1")]
    assert (row.expected, row.centra, row.difference) == (6, 16, 10)
    assert row.evidence["cause"] == "changed_outside_lockstep"
    assert row.evidence["terms"]["atp_part"] == 7 and row.evidence["terms"]["buffer"] == 1
    first_seen = row.first_seen

    async with engine.connect() as conn:  # corrected: belief dropped, key dirty for the publisher, publish queued
        assert await store.believed(conn, brand, "eu", ["S1", "S2"]) == {"S2": 34}
        dirty = await store.dirty_keys(conn, brand, "eu", limit=10)
        assert [(d.sku) for d in dirty] == ["S1"]
        queued = (await conn.execute(select(jobs.c.task, jobs.c.payload))).all()
        assert ("inventory.publish", {"pool": "eu"}) in [(t, p) for t, p in queued]
    [record] = await active(engine, brand)
    assert record.dedupe_key == "pool:eu" and record.evidence["counts"]["drift"] == 1
    assert record.evidence["worst"][0]["sku"] == "S1"

    # Still drifting on the next pass: first_seen kept, same exception bumped.
    await compare_and_record(engine, topology, centra(seen), full=True, started=utcnow())
    assert (await drift_rows(engine, brand))[("eu", "S1")].first_seen == first_seen
    [record] = await active(engine, brand)
    assert record.occurrences == 2

    # The publisher rewrote it: converged -> row deleted, exception resolved.
    report = await compare_and_record(engine, topology, centra(truth), full=True, started=utcnow())
    assert report.drift == 0 and report.converged == 1 and report.resolved_pools == ["eu"]
    assert await drift_rows(engine, brand) == {}
    assert await active(engine, brand) == []


async def test_correction_can_be_switched_off(engine, topology):
    topology = topology.model_copy(update={"inventory": topology.inventory.model_copy(update={"correct_drift": False})})
    await put_readings(engine, topology.brand, [("SE-STO", "S1", 10), ("GB-MKN", "S1", 10)])
    await publish_belief(engine, topology.brand, "eu", {"S1": 6})
    report = await compare_and_record(engine, topology, centra({("eu", "S1"): 40}), full=True, started=utcnow())
    assert report.drift == 1 and report.corrected == 0
    async with engine.connect() as conn:
        assert await store.believed(conn, topology.brand, "eu", ["S1"]) == {"S1": 6}
        assert await store.dirty_keys(conn, topology.brand, "eu", limit=10) == []


async def test_missing_reading_is_reported_not_drift(engine, topology):
    # uk needs GB-MKN and SE-STO; only SE-STO reported S1.
    await put_readings(engine, topology.brand, [("SE-STO", "S1", 10)])
    report = await compare_and_record(
        engine, topology, centra({("uk", "S1"): 99, ("eu", "S1"): 6}), full=True, started=utcnow()
    )
    assert report.drift == 0
    assert report.pools["uk"]["unknown"] == 1
    assert report.unknown_sample == [{"pool": "uk", "sku": "S1", "missing": 1}]
    assert await drift_rows(engine, topology.brand) == {}


async def test_draft_facility_never_counts_and_shared_facility_splits(engine, topology):
    # eu gets a second facility that is still a draft: its stock must not appear in eu's expected figure.
    pools = tuple(
        p.model_copy(update={"facilities": (*p.facilities, PoolFacility(facility="DE-DRAFT", share=1.0))})
        if p.id == "eu"
        else p
        for p in topology.pools
    )
    facilities = (*topology.facilities, Facility(code="DE-DRAFT", name="Draft", country="DE", state="draft"))
    topology = topology.model_copy(update={"pools": pools, "facilities": facilities})
    await put_readings(engine, topology.brand, [("SE-STO", "S1", 20), ("GB-MKN", "S1", 0), ("DE-DRAFT", "S1", 500)])
    values = {("eu", "S1"): 13, ("uk", "S1"): 5, ("us-export", "S1"): 0}  # 0.7·20 - 1, 0.3·20 - 1, 0
    report = await compare_and_record(engine, topology, centra(values), full=True, started=utcnow())
    assert report.drift == 0 and sum(c["compared"] for c in report.pools.values()) == 3


async def test_bulk_figures_equal_the_publishers_on_orders_and_shipments(engine, topology):
    """In-flight units from order_units / sales_orders / shipments, read in bulk, give the scalar figures."""
    brand = topology.brand
    now = utcnow()
    await put_readings(
        engine, brand, [("SE-STO", s, 30) for s in ("S1", "S2")] + [("GB-MKN", "S1", 5), ("GB-MKN", "S2", 7)], as_of=now
    )
    before, after = now - timedelta(minutes=1), now + timedelta(minutes=1)
    async with engine.begin() as conn:
        await conn.execute(
            insert(sales_orders),
            [
                {
                    "brand": brand,
                    "number": "C1-SE-STO",
                    "order_number": "1",
                    "facility": "SE-STO",
                    "confirmed_at": before,
                    "cancelled_at": None,
                },
                {
                    "brand": brand,
                    "number": "C2-GB-MKN",
                    "order_number": "2",
                    "facility": "GB-MKN",
                    "confirmed_at": after,
                    "cancelled_at": None,
                },
                {
                    "brand": brand,
                    "number": "C3-SE-STO",
                    "order_number": "3",
                    "facility": "SE-STO",
                    "confirmed_at": before,
                    "cancelled_at": now,
                },
            ],
        )
        unit = {"brand": brand, "cancelled": 0, "shipped": 0}
        await conn.execute(
            insert(order_units),
            [
                {
                    **unit,
                    "order_number": "1",
                    "line_id": 1,
                    "sku": "S1",
                    "pool": "eu",
                    "facility": "SE-STO",
                    "sales_order": "C1-SE-STO",
                    "quantity": 4,
                    "shipped": 1,
                },
                {
                    **unit,
                    "order_number": "1",
                    "line_id": 2,
                    "sku": "S2",
                    "pool": "eu",
                    "facility": "SE-STO",
                    "sales_order": "C1-SE-STO",
                    "quantity": 2,
                },
                {
                    **unit,
                    "order_number": "2",
                    "line_id": 1,
                    "sku": "S1",
                    "pool": "uk",
                    "facility": "GB-MKN",
                    "sales_order": "C2-GB-MKN",
                    "quantity": 3,
                },
                {
                    **unit,
                    "order_number": "3",
                    "line_id": 1,
                    "sku": "S2",
                    "pool": "eu",
                    "facility": "SE-STO",
                    "sales_order": "C3-SE-STO",
                    "quantity": 5,
                },
                {
                    **unit,
                    "order_number": "4",
                    "line_id": 1,
                    "sku": "S2",
                    "pool": "uk",
                    "facility": "SE-STO",
                    "sales_order": "C4-SE-STO",
                    "quantity": 1,
                },  # not exported yet: no sales order row
            ],
        )
        await conn.execute(
            insert(shipments),
            [
                {
                    "brand": brand,
                    "deposco_id": "d1",
                    "deposco_number": "D1",
                    "sales_order": "C1-SE-STO",
                    "order_number": "1",
                    "facility": "SE-STO",
                    "pool": "eu",
                    "state": "created",
                    "lines": [[1, 1]],
                    "carrier": "",
                    "service": "",
                    "tracking": [],
                    "packages": 1,
                    "mutations": 0,
                    "detected_at": now,
                },
            ],
        )
    snapshot = await store.reconcile_snapshot(engine, brand, ["SE-STO", "GB-MKN"])
    assert snapshot.readings.height == 4
    async with engine.connect() as conn:
        scalar = {pool: await compute_figures(conn, topology, pool, ["S1", "S2"]) for pool in ("eu", "uk")}
    values = {(pool, sku): figure.value for pool, figures in scalar.items() for sku, figure in figures.items()}
    assert values[("eu", "S1")] == 21 - 1 + 3 + 1  # ⌊0.7·30⌋ - buffer + 3 open + 1 shipped (confirmed before)
    report = await compare_and_record(engine, topology, centra(values), full=True, started=utcnow())
    assert report.drift == 0 and report.pools["eu"]["compared"] == 2 and report.pools["uk"]["compared"] == 2
    allocated = dict(
        zip(
            zip(snapshot.allocated["pool"], snapshot.allocated["sku"], strict=True),
            snapshot.allocated["allocated"],
            strict=True,
        )
    )
    assert allocated == {("eu", "S1"): 4, ("eu", "S2"): 2, ("uk", "S1"): 3, ("uk", "S2"): 1}
    # Light pass: Centra's FTA = physical - its allocations; with exactly the known allocations, no drift.
    light = {key: v - allocated.get(key, 0) for key, v in values.items()}
    report = await compare_and_record(engine, topology, centra(light), full=False, started=utcnow())
    assert report.drift == 0


async def test_key_published_after_the_centra_read_is_not_drift(engine, topology):
    await put_readings(engine, topology.brand, [("SE-STO", "S1", 10), ("GB-MKN", "S1", 10)])
    started = utcnow()
    await publish_belief(engine, topology.brand, "eu", {"S1": 6})  # lands while Centra was being read
    report = await compare_and_record(engine, topology, centra({("eu", "S1"): 30}), full=True, started=started)
    assert report.drift == 0 and report.skipped_fresh == 1


class _Services:
    def __init__(self, world):
        self.world = world
        self.brands = world.runtime.brands
        self.engine = world.runtime.engine

    def centra(self, brand):
        return self.world.runtime.centra(brand)


async def test_reconcile_against_the_centra_simulator(db_url, tmp_path):
    """Real API read (iter_stock through the client): a hand edit in Centra is found and corrected."""
    from tests.flows.harness import brand_world
    from tests.flows.inventory.test_inventory_flow import centra_level, scan_and_publish

    async with brand_world(db_url, tmp_path) as world:
        sku = world.seeded.items[0].item
        await scan_and_publish(world)
        report = await reconcile(world.runtime, world.brand, full=True)
        assert report.drift == 0 and report.pools["eu"]["compared"] > 0
        light = await reconcile(world.runtime, world.brand, full=False)
        assert light.drift == 0

        good = centra_level(world, "eu", sku)[0]
        await world.centra_control(
            "PUT",
            "/_sim/stock",
            json={
                "warehouse": world.topology.pool("eu").centra_warehouse,
                "items": [{"sku": sku, "physical": good + 25}],
            },
        )
        report = await reconcile(world.runtime, world.brand, full=True)
        assert report.drift == 1 and report.corrected == 1
        await world.run_jobs(horizon_s=1.0)  # the publisher rewrites the corrected key
        assert centra_level(world, "eu", sku)[0] == good
        report = await reconcile(world.runtime, world.brand, full=True)
        assert report.drift == 0 and report.resolved_pools == ["eu"]
