"""The inventory records on SQLite and PostgreSQL: readings, dirty keys, beliefs and the in-flight terms."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from lockstep.domain.model import StockReading
from lockstep.domain.stock import InFlight, Reading
from lockstep.store import stock
from lockstep.store.orders import order_units, sales_orders
from lockstep.store.shipments import shipments

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _reading(atp: int, at: datetime, facility: str = "SE-STO", sku: str = "S1") -> StockReading:
    return StockReading(facility=facility, item=sku, on_hand=atp + 1, atp=atp, as_of=at)


async def test_a_stale_reading_never_moves_stock_back(engine):
    async with engine.begin() as conn:
        fresh = await stock.record_readings(conn, "b", [_reading(5, T0), _reading(9, T0 - timedelta(1))], now=T0)
        assert [r.atp for r in fresh] == [5]  # the older of two readings in one batch is dropped
        assert await stock.record_readings(conn, "b", [_reading(7, T0 - timedelta(seconds=1))], now=T0) == []
        newer = await stock.record_readings(conn, "b", [_reading(3, T0 + timedelta(seconds=1))], now=T0)
        assert [r.atp for r in newer] == [3]
        same = await stock.record_readings(conn, "b", [_reading(3, T0 + timedelta(seconds=2))], now=T0)
        assert same == []  # nothing moved: not returned (no publish), but the newer as_of is kept
        found = await stock.readings_for(conn, "b", ["S1", "S2"], ["SE-STO", "GB-MKN"])
    assert found == {"S1": {"SE-STO": Reading(3, T0 + timedelta(seconds=2))}}


async def test_dirty_keys_keep_their_first_time_and_survive_a_change_during_publish(engine):
    async with engine.begin() as conn:
        await stock.mark_dirty(conn, "b", [("eu", "S1"), ("eu", "S2"), ("uk", "S1")], reason="reading", now=T0)
        await stock.mark_dirty(conn, "b", [("eu", "S1")], reason="order", now=T0 + timedelta(seconds=5))
        keys = await stock.dirty_keys(conn, "b", "eu", limit=10)
        assert [(k.sku, k.since) for k in keys] == [("S1", T0), ("S2", T0)]
        assert await stock.dirty_pools(conn, "b") == ["eu", "uk"]
        # S2 changes again while the publisher works on the keys it read: it must stay dirty.
        await stock.mark_dirty(conn, "b", [("eu", "S2")], reason="reading", now=T0 + timedelta(seconds=9))
        await stock.clear_dirty(conn, "b", keys)
        left = await stock.dirty_keys(conn, "b", "eu", limit=10)
        assert [(k.sku, k.since) for k in left] == [("S2", T0)]
        assert (await stock.oldest_dirty(conn))["b"] == T0


async def test_belief_follows_publishes_and_completed_shipments(engine):
    async with engine.begin() as conn:
        await stock.record_published(conn, "b", "eu", {"S1": (10, {"atp_part": 10}), "S2": (0, {})}, now=T0)
        await stock.centra_completed_shipment(conn, "b", "eu", {"S1": 2})
        assert await stock.believed(conn, "b", "eu", ["S1", "S2", "S3"]) == {"S1": 8, "S2": 0}
        await stock.record_published(conn, "b", "eu", {"S1": (4, {})}, now=T0)
        assert await stock.believed(conn, "b", "eu", ["S1"]) == {"S1": 4}
        # S2 went out as 0 while orders held 3 units: Centra clamped it up to 3, and their completion takes it
        # to 0, not -3
        await stock.centra_completed_shipment(conn, "b", "eu", {"S2": 3})
        assert await stock.believed(conn, "b", "eu", ["S2"]) == {"S2": 0}


async def test_in_flight_terms_come_from_order_units_and_open_shipments(engine):
    confirmed = T0 - timedelta(minutes=3)
    none = {"confirmed_at": None, "cancelled_at": None}
    async with engine.begin() as conn:
        await conn.execute(
            sales_orders.insert(),
            [
                {
                    **none,
                    "brand": "b",
                    "number": "C1-SE-STO",
                    "order_number": "1",
                    "facility": "SE-STO",
                    "confirmed_at": confirmed,
                },
                {**none, "brand": "b", "number": "C2-SE-STO", "order_number": "2", "facility": "SE-STO"},
                {
                    "brand": "b",
                    "number": "C3-SE-STO",
                    "order_number": "3",
                    "facility": "SE-STO",
                    "confirmed_at": confirmed,
                    "cancelled_at": T0,
                },
            ],
        )
        unit = {"brand": "b", "pool": "eu", "facility": "SE-STO", "cancelled": 0, "shipped": 0}
        await conn.execute(
            order_units.insert(),
            [
                {
                    **unit,
                    "order_number": "1",
                    "line_id": 11,
                    "sku": "S1",
                    "sales_order": "C1-SE-STO",
                    "quantity": 3,
                    "shipped": 2,
                },
                {**unit, "order_number": "2", "line_id": 21, "sku": "S1", "sales_order": "C2-SE-STO", "quantity": 1},
                {**unit, "order_number": "3", "line_id": 31, "sku": "S1", "sales_order": "C3-SE-STO", "quantity": 5},
                {
                    **unit,
                    "order_number": "1",
                    "line_id": 12,
                    "sku": "S2",
                    "sales_order": "C1-SE-STO",
                    "quantity": 2,
                    "cancelled": 2,
                },
            ],
        )
        shipment = {
            "brand": "b",
            "sales_order": "C1-SE-STO",
            "order_number": "1",
            "facility": "SE-STO",
            "pool": "eu",
            "carrier": "DHL",
            "service": "",
            "tracking": [],
            "packages": 1,
            "mutations": 0,
            "detected_at": T0,
        }
        await conn.execute(
            shipments.insert(),
            [
                {**shipment, "deposco_id": "d1", "deposco_number": "SH1", "state": "created", "lines": [[11, 1]]},
                {**shipment, "deposco_id": "d2", "deposco_number": "SH2", "state": "completed", "lines": [[11, 1]]},
            ],
        )
        terms = await stock.in_flight(conn, "b", "eu", ["S1", "S2"])
    assert sorted(terms["S1"], key=repr) == sorted(
        [
            InFlight("SE-STO", confirmed, open=1),  # 3 ordered, 2 shipped
            InFlight("SE-STO", None, open=1),  # order 2 not confirmed by Deposco yet
            InFlight("SE-STO", confirmed, shipped=1),  # SH1 not completed in Centra; SH2 is
        ],
        key=repr,
    )
    assert "S2" not in terms  # fully cancelled line
    keys = await _keys(engine)
    assert keys == {("eu", "S1"), ("eu", "S2")}


async def _keys(engine):
    async with engine.connect() as conn:
        return await stock.pool_skus_of_orders(conn, "b", ["1", "2"])


async def test_routing_allowance_is_the_share_of_what_other_pools_leave_minus_own_units_not_netted_yet(engine):
    before, after = T0 - timedelta(minutes=1), T0 + timedelta(minutes=1)
    none = {"confirmed_at": None, "cancelled_at": None, "facility": "GB-MKN", "brand": "b"}
    async with engine.begin() as conn:
        await stock.record_readings(
            conn, "b", [_reading(10, T0, "GB-MKN", "A"), _reading(4, T0, "SE-STO", "A")], now=T0
        )
        await conn.execute(
            sales_orders.insert(),
            [
                {**none, "number": "C1-GB-MKN", "order_number": "1", "confirmed_at": before},  # in the reading
                {**none, "number": "C2-GB-MKN", "order_number": "2", "confirmed_at": after},  # not yet
                {**none, "number": "C3-GB-MKN", "order_number": "3"},  # routed, not exported yet
            ],
        )
        unit = {"brand": "b", "pool": "uk", "facility": "GB-MKN", "sku": "A", "cancelled": 0, "shipped": 0}
        await conn.execute(
            order_units.insert(),
            [
                {**unit, "order_number": n, "line_id": 1, "sales_order": f"C{n}-GB-MKN", "quantity": q}
                for n, q in (("1", 5), ("2", 2), ("3", 1))
            ],
        )
        allowance = await stock.routing_allowance(
            conn, "b", {"uk": {"GB-MKN": 0.8, "SE-STO": 0.3}, "us-export": {"GB-MKN": 0.2}}, ["A", "B"]
        )
    assert allowance == {
        ("uk", "GB-MKN", "A"): 8 - 2 - 1,  # order 1 is already netted in ATP 10
        ("uk", "SE-STO", "A"): 1,
        ("us-export", "GB-MKN", "A"): 1,  # ⌊0.2·(10 - 3)⌋: uk's 3 units the reading does not net come off first
        ("*", "GB-MKN", "A"): 10 - 2 - 1,  # unclaimed by any pool: the whole ATP less what it does not net yet
        ("*", "SE-STO", "A"): 4,
    }


async def test_a_publish_clearing_keys_and_a_scan_marking_them_never_deadlock(engine):
    """The publisher reads a pool's keys oldest first; a scan marks them in SKU order. Both write in key order,
    so concurrent transactions on the same keys wait for each other instead of deadlocking (PostgreSQL)."""
    skus = [f"S{n:03}" for n in range(300)]
    for round_ in range(4):
        now, pool = T0 + timedelta(minutes=round_), f"eu{round_}"  # a fresh pool: no key dirty from before
        async with engine.begin() as conn:
            for offset, sku in enumerate(reversed(skus)):  # the last SKU became dirty first
                at = now + timedelta(milliseconds=offset)
                await stock.mark_dirty(conn, "b", [(pool, sku)], reason="reading", now=at)
            oldest_first = await stock.dirty_keys(conn, "b", pool, limit=1000)
        assert [k.sku for k in oldest_first] == list(reversed(skus))

        async def publish(keys=oldest_first, pool=pool, now=now):
            async with engine.begin() as conn:
                await stock.clear_dirty(conn, "b", keys)
                await stock.record_published(conn, "b", pool, {k.sku: (1, {}) for k in keys}, now=now)

        async def scan(now=now, pool=pool):
            async with engine.begin() as conn:
                await stock.mark_dirty(conn, "b", [(pool, s) for s in skus], reason="reading", now=now)
                readings = [_reading(3, now + timedelta(seconds=1), sku=s) for s in reversed(skus)]
                await stock.record_readings(conn, "b", readings, now=now)

        await asyncio.gather(publish(), scan(), publish(), scan())  # raises on a deadlock
        async with engine.connect() as conn:
            left = await stock.dirty_keys(conn, "b", pool, limit=1000)
        assert {k.sku for k in left} <= set(skus)
