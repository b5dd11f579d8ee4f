"""Exceptions, inbox, cursors and audit log on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from lockstep.store import audit, cursors, inbox, migrate
from lockstep.store import exceptions as exc_store
from lockstep.store.db import create_engine, read_only


async def test_migrations_are_current_and_idempotent(engine):
    assert await migrate.is_current(engine)
    assert await migrate.upgrade(engine) == migrate.head_revision()


async def test_exception_dedupes_counts_and_auto_resolves(engine):
    async with engine.begin() as conn:
        first = await exc_store.raise_kind(
            conn, brand="b", kind="unroutable_order", dedupe_key="pool:us", summary="1 order", evidence={"n": 1}
        )
        again = await exc_store.raise_kind(
            conn,
            brand="b",
            kind="unroutable_order",
            dedupe_key="pool:us",
            summary="300 orders",
            evidence={"n": 300},
            count=299,
        )
        other_brand = await exc_store.raise_kind(
            conn, brand="c", kind="unroutable_order", dedupe_key="pool:us", summary="x"
        )
    assert first.new and not again.new and first.record_id == again.record_id
    assert other_brand.record_id != first.record_id
    async with engine.connect() as conn:
        record = await exc_store.get(conn, first.record_id)
    assert (record.occurrences, record.summary, record.evidence) == (300, "300 orders", {"n": 300})
    assert record.owner_team == "ops" and record.playbook == "unroutable-order"

    async with engine.begin() as conn:
        assert await exc_store.auto_resolve(conn, brand="b", kind="unroutable_order", dedupe_key="pool:us")
        assert not await exc_store.auto_resolve(conn, brand="b", kind="unroutable_order", dedupe_key="pool:us")
        reopened = await exc_store.raise_kind(
            conn, brand="b", kind="unroutable_order", dedupe_key="pool:us", summary="back again"
        )
    assert reopened.new and reopened.record_id != first.record_id
    async with engine.connect() as conn:
        resolved = await exc_store.get(conn, first.record_id)
        active = await exc_store.active_keys(conn, brand="b", kind="unroutable_order")
    assert (resolved.status, resolved.resolution) == ("resolved", "auto")
    assert active == {"pool:us"}


async def test_concurrent_raises_of_one_condition_make_one_record(engine, db_url):
    engines = [create_engine(db_url) for _ in range(4)]

    async def raise_once(e):
        async with e.begin() as conn:
            await exc_store.raise_kind(conn, brand="b", kind="stock_drift", dedupe_key="eu:SKU1", summary="drift")

    try:
        await asyncio.gather(*(raise_once(e) for e in engines for _ in range(5)))
    finally:
        for e in engines:
            await e.dispose()
    async with engine.connect() as conn:
        [record] = await exc_store.list_exceptions(conn, kind="stock_drift")
    assert record.occurrences == 20


async def test_ack_then_resolve_and_filters(engine):
    async with engine.begin() as conn:
        raised = await exc_store.raise_kind(
            conn, brand="b", kind="capture_failed", dedupe_key="order:1", summary="capture failed"
        )
        await exc_store.raise_kind(conn, brand="b", kind="stock_drift", dedupe_key="k", summary="drift")
    async with engine.begin() as conn:
        assert await exc_store.acknowledge(conn, raised.record_id)
        assert not await exc_store.acknowledge(conn, raised.record_id)
        finance = await exc_store.list_exceptions(conn, team="finance")
        assert [r.kind for r in finance] == ["capture_failed"]
        assert await exc_store.resolve(conn, raised.record_id)
        assert [r.kind for r in await exc_store.list_exceptions(conn, active_only=True)] == ["stock_drift"]


async def test_inbox_dedupes_deliveries(engine):
    async with engine.begin() as conn:
        first = await inbox.store_event(
            conn, brand="b", source="centra", event_id="order:1:update", event_type="order", payload={"id": 1}
        )
        duplicate = await inbox.store_event(
            conn, brand="b", source="centra", event_id="order:1:update", event_type="order", payload={"id": 1}
        )
        other = await inbox.store_event(
            conn, brand="b", source="deposco", event_id="order:1:update", event_type="order", payload={}
        )
    assert first is not None and duplicate is None and other is not None
    async with engine.begin() as conn:
        assert [r.id for r in await inbox.unprocessed(conn, brand="b", source="centra")] == [first]
        await inbox.mark_processed(conn, first)
        assert await inbox.unprocessed(conn, brand="b", source="centra") == []


async def test_cursor_written_with_its_data_or_not_at_all(engine):
    try:
        async with engine.begin() as conn:
            await cursors.write(conn, brand="b", name="orders.updated_after", value="2026-11-27T10:00:00Z")
            raise RuntimeError("crash before commit")
    except RuntimeError:
        pass
    async with engine.begin() as conn:
        assert await cursors.read(conn, brand="b", name="orders.updated_after") is None
        await cursors.write(conn, brand="b", name="orders.updated_after", value="a")
        await cursors.write(conn, brand="b", name="orders.updated_after", value="b")
        assert await cursors.read(conn, brand="b", name="orders.updated_after") == "b"


async def test_a_read_only_connection_neither_waits_for_nor_holds_up_the_writer(engine):
    """While a write transaction is open (on SQLite it holds the process's writer gate), a read-only connection
    reads at once and sees what was committed, not the open transaction's rows; a writer queued meanwhile does
    not wait for the reader."""
    async with engine.begin() as conn:
        await cursors.write(conn, brand="b", name="c", value="committed")
    async with engine.begin() as writer:
        await cursors.write(writer, brand="b", name="c", value="not yet")
        async with read_only(engine) as reader:
            seen = await asyncio.wait_for(cursors.read(reader, brand="b", name="c"), 2.0)
            assert seen == "committed"
            # the reader's snapshot stays open; the open writer commits without waiting on it
    async with read_only(engine) as reader:
        assert await cursors.read(reader, brand="b", name="c") == "not yet"
        async with engine.begin() as other:
            await asyncio.wait_for(cursors.write(other, brand="b", name="c", value="later"), 2.0)
    async with read_only(engine) as reader:
        assert await cursors.read(reader, brand="b", name="c") == "later"


async def test_audit_log_records_actions(engine):
    async with engine.begin() as conn:
        await audit.record(
            conn,
            brand="b",
            actor="cli:ops",
            action="facility.promote",
            entity_type="facility",
            entity_id="US-NJ",
            details={"from": "testing", "to": "live"},
        )
        [entry] = await audit.recent(conn, brand="b")
    assert (entry.actor, entry.action, entry.entity_id, entry.details) == (
        "cli:ops",
        "facility.promote",
        "US-NJ",
        {"from": "testing", "to": "live"},
    )


async def test_two_transactions_applying_one_order_go_one_after_the_other(engine):
    """lock_orders: the second transaction to take an order waits for the first to end, then reads its rows.
    (On SQLite transactions never overlap; the test then only shows the second sees the first's write.)"""
    from lockstep.store.orders import lock_orders

    events: list[str] = []
    first_locked = asyncio.Event()

    async def first() -> None:
        async with engine.begin() as conn:
            await lock_orders(conn, "b", ["1002", "1001"])
            first_locked.set()
            await cursors.write(conn, brand="b", name="order:1001", value="routed")
            await asyncio.sleep(0.3)
            events.append("first commits")

    async def second() -> None:
        await first_locked.wait()
        async with engine.begin() as conn:
            await lock_orders(conn, "b", ["1001"])
            events.append("second holds")
            assert await cursors.read(conn, brand="b", name="order:1001") == "routed"

    await asyncio.wait_for(asyncio.gather(first(), second()), 5.0)
    assert events == ["first commits", "second holds"]


async def test_a_transaction_cancelled_mid_statement_raises_the_cancellation_and_frees_the_writer(engine):
    """A worker shutting down cancels its running handlers. A cancellation that lands inside a statement makes
    SQLAlchemy invalidate the connection; the rollback that follows must re-raise the CancelledError (the worker
    then hands the job back without counting the attempt), not a PendingRollbackError from the SQLite writer
    gate's bookkeeping (which the worker took for the handler's own failure: "job will retry"). The next
    transactions are not held up."""
    from sqlalchemy import text

    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE busy (x INTEGER)"))

    async def writes() -> None:
        async with engine.begin() as conn:
            for _ in range(5000):
                await conn.execute(text("INSERT INTO busy VALUES (1)"))

    outcomes = []
    for _ in range(5):
        task = asyncio.create_task(writes())
        await asyncio.sleep(0.03)
        task.cancel()
        try:
            await task
            outcomes.append("finished")
        except asyncio.CancelledError:
            outcomes.append("cancelled")
        except Exception as error:  # the bug: PendingRollbackError in place of the cancellation
            outcomes.append(type(error).__name__)
    assert set(outcomes) <= {"cancelled", "finished"} and "cancelled" in outcomes, outcomes

    async def quick() -> int:
        async with engine.begin() as conn:
            return await conn.scalar(text("SELECT count(*) FROM busy"))

    assert await asyncio.wait_for(asyncio.gather(*(quick() for _ in range(8))), 10) == [0] * 8  # rolled back
