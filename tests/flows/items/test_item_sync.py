"""Item master sync against both simulators as real servers, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from lockstep.flows.items import CURSOR, sync_items
from lockstep.queue import enqueue
from lockstep.queue import jobs as q
from lockstep.queue.worker import Worker
from lockstep.sim.faults import FaultRule
from lockstep.store import cursors
from lockstep.store import exceptions as exc_store
from lockstep.store import items as item_store

UPSERT = "POST /items"
LIST = "GET /items"


async def _active(engine, brand: str, kind: str) -> list[exc_store.ExceptionRecord]:
    async with engine.connect() as conn:
        return await exc_store.list_exceptions(conn, brand=brand, kind=kind, active_only=True)


async def _rows(engine, brand: str) -> dict[str, item_store.CoverageRow]:
    async with engine.connect() as conn:
        return await item_store.get_rows(conn, brand)


def _touch(world, size, **changes) -> None:
    """Change a size in the Centra simulator as an edit in Centra AMS would (its updatedAt moves)."""
    state = world.centra_state()
    for name, value in changes.items():
        setattr(size, name, value)
    size.updated_at = state.now() + timedelta(seconds=1)


def _sizes(world) -> dict[str, object]:
    return {size.sku: size for size in world.centra_state().sizes.values()}


async def test_full_sync_creates_every_active_size_with_the_right_fields_and_a_second_sends_nothing(world, engine):
    await world.seed_catalog(3)
    sizes = _sizes(world)
    inactive = sorted(sizes)[5]
    _touch(world, sizes[inactive], is_active=False)

    report = await sync_items(world.runtime, world.brand, full=True)

    assert (report.created, report.skipped, report.refused, report.failed) == (23, 1, 0, 0)
    assert report.missing_in_deposco == 0 and report.missing_in_centra == 0
    items = world.deposco_items()
    assert set(items) == set(sizes) - {inactive}
    state = world.centra_state()
    for sku, item in items.items():
        size = sizes[sku]
        variant = state.variants[size.variant_id]
        product = state.products[variant.product_id]
        assert item.upcs == [size.ean]
        assert item.fields["name"] == f"{product.name} - {variant.name} - {size.description}"
        assert item.fields["styleNumber"] == product.product_number
        assert item.fields["colorName"] == variant.name
        assert item.fields["size"] == size.description
        assert item.fields["brandName"] == "Nordwind"
        assert item.fields["salesEnabledFlag"] is True
    assert world.deposco_calls(UPSERT) == 23
    rows = await _rows(engine, world.brand)
    assert all(r.in_centra and r.in_deposco and not r.differences for k, r in rows.items() if k != inactive)
    assert not rows[inactive].in_deposco and not rows[inactive].centra_active
    async with engine.connect() as conn:
        assert await item_store.unknown_items(conn, world.brand, [*sizes, "NOPE"]) == {inactive, "NOPE"}
        assert await cursors.read(conn, brand=world.brand, name=CURSOR) is not None

    again = await sync_items(world.runtime, world.brand, full=True)

    assert (again.created, again.updated, again.unchanged, again.skipped, again.upserts) == (0, 0, 23, 1, 0)
    assert world.deposco_calls(UPSERT) == 23
    assert await _active(engine, world.brand, "sku_missing_in_deposco") == []


async def test_incremental_sync_sends_only_what_changed_in_centra(world, engine):
    await world.seed_catalog(3)
    await sync_items(world.runtime, world.brand, full=True)
    lists_before, upserts_before = world.deposco_calls(LIST), world.deposco_calls(UPSERT)
    changed = sorted(_sizes(world))[2]
    _touch(world, _sizes(world)[changed], description="XXS")
    added = {row["sku"] for row in await world.seed_catalog(1)}

    report = await sync_items(world.runtime, world.brand)

    assert not report.full
    assert (report.created, report.updated, report.refused) == (8, 1, 0)
    assert report.upserts == 9 and world.deposco_calls(UPSERT) - upserts_before == 9
    assert world.deposco_calls(LIST) == lists_before  # incremental never lists Deposco
    items = world.deposco_items()
    assert added <= set(items)
    assert items[changed].fields["size"] == "XXS"
    nothing = await sync_items(world.runtime, world.brand)
    assert nothing.upserts == 0 and world.deposco_calls(UPSERT) - upserts_before == 9


async def test_an_item_only_in_deposco_raises_sku_missing_in_centra_until_it_is_gone(world, engine):
    await world.seed_catalog(1)
    await world.add_deposco_items([("OLD-STYLE-1", "7300000000017"), ("OLD-STYLE-2", "7300000000024")])

    report = await sync_items(world.runtime, world.brand, full=True)

    assert report.missing_in_centra == 2 and report.created == 8
    [record] = await _active(engine, world.brand, "sku_missing_in_centra")
    assert record.evidence["items"] == ["OLD-STYLE-1", "OLD-STYLE-2"] and record.owner_team == "ecom"
    rows = await _rows(engine, world.brand)
    assert not rows["OLD-STYLE-1"].in_centra and rows["OLD-STYLE-1"].in_deposco

    state = world.sims.deposco_app.sim.state
    for number in ("OLD-STYLE-1", "OLD-STYLE-2"):  # retired in Deposco by its administrator
        item_id = state.item_ids.pop(number)
        for upc in state.items.pop(item_id).upcs:
            state.upc_owner.pop(upc, None)
    report = await sync_items(world.runtime, world.brand, full=True)

    assert report.missing_in_centra == 0 and report.upserts == 0
    assert await _active(engine, world.brand, "sku_missing_in_centra") == []
    assert "OLD-STYLE-1" not in await _rows(engine, world.brand)


async def test_refused_items_are_recorded_and_raised_while_the_rest_lands_and_they_resolve_once_fixed(world, engine):
    await world.seed_catalog(2)
    sizes = _sizes(world)
    taken = sorted(sizes)[0]
    await world.add_deposco_items([("LEGACY-1", sizes[taken].ean)])  # an old item still carries that barcode
    state = world.centra_state()
    product = state.add_product("LONG" * 10, "Overlong style", harmonized_code="620193")
    variant = state.add_variant(product, "V01", "Overlong Black", price=99.0, unit_cost=30.0)
    too_long = state.add_size(variant, "M", "03", "7312345678903").sku  # 45 characters: Deposco takes 40

    report = await sync_items(world.runtime, world.brand, full=True)

    assert (report.created, report.refused) == (15, 2)
    assert report.missing_in_deposco == 2
    assert world.deposco_calls(UPSERT) == 15  # neither refusal cost a request
    rows = await _rows(engine, world.brand)
    assert "LEGACY-1" in rows[taken].last_error and "longer than 40" in rows[too_long].last_error
    [duplicate] = await _active(engine, world.brand, "duplicate_upc")
    assert duplicate.evidence["item"] == taken and duplicate.evidence["deposco_item"] == "LEGACY-1"
    assert duplicate.dedupe_key == f"upc:{sizes[taken].ean}"
    missing = {r.dedupe_key: r for r in await _active(engine, world.brand, "sku_missing_in_deposco")}
    assert set(missing) == {taken, too_long}
    assert "longer than 40" in missing[too_long].evidence["reason"]
    async with engine.connect() as conn:
        assert await item_store.unknown_items(conn, world.brand, sizes) == {taken}

    deposco = world.sims.deposco_app.sim.state
    deposco.delete_upc(deposco.items[deposco.item_ids["LEGACY-1"]], sizes[taken].ean)
    _touch(world, state.sizes[state.sku_index[too_long]], is_active=False)  # ecom retires the bad size
    report = await sync_items(world.runtime, world.brand, full=True)

    assert (report.created, report.refused, report.missing_in_deposco) == (1, 0, 0)
    assert await _active(engine, world.brand, "duplicate_upc") == []
    assert await _active(engine, world.brand, "sku_missing_in_deposco") == []
    assert world.deposco_items()[taken].upcs == [sizes[taken].ean]


async def test_a_refusal_by_deposco_itself_does_not_stop_the_batch(world, engine):
    await world.seed_catalog(1)
    await sync_items(world.runtime, world.brand, full=True)
    new = await world.seed_catalog(1)
    clash = new[3]
    await world.add_deposco_items([("OTHER-CHANNEL-9", clash["ean"])])  # unknown to the coverage table

    report = await sync_items(world.runtime, world.brand)

    assert (report.created, report.refused, report.upserts) == (7, 1, 8)
    assert set(world.deposco_items()) >= {row["sku"] for row in new} - {clash["sku"]}
    [duplicate] = await _active(engine, world.brand, "duplicate_upc")
    assert duplicate.evidence["item"] == clash["sku"]
    assert "OTHER-CHANNEL-9" in duplicate.evidence["deposco_message"]
    [missing] = await _active(engine, world.brand, "sku_missing_in_deposco")
    assert missing.dedupe_key == clash["sku"]

    # The refused size is tried again on the next incremental run (its row is not clean), and stays refused.
    again = await sync_items(world.runtime, world.brand)
    assert (again.refused, again.upserts) == (1, 1)
    assert len(await _active(engine, world.brand, "duplicate_upc")) == 1


async def test_items_sync_runs_as_a_job_and_commits_with_its_completion(world, engine):
    await world.seed_catalog(1)
    async with engine.begin() as conn:
        job_id = await enqueue(conn, brand=world.brand, task="items.sync", payload={"full": True})
    worker = Worker(engine, world.runtime.registry, services=world.runtime, poll_interval_s=0.02)
    await asyncio.wait_for(worker.run(asyncio.Event(), until_idle=True), 30)

    async with engine.connect() as conn:
        assert (await q.get(conn, job_id)).status == q.DONE
    assert len(world.deposco_items()) == 8
    assert len(await _rows(engine, world.brand)) == 8


async def test_deposco_going_down_mid_run_keeps_what_landed_holds_the_cursor_and_queues_a_follow_up(world, engine):
    await world.seed_catalog(1)
    await sync_items(world.runtime, world.brand, full=True)
    new = {row["sku"] for row in await world.seed_catalog(1)}
    faults = world.sims.deposco_app.sim.faults
    faults.operations["POST /items"] = FaultRule(error_5xx=1.0)

    report = await sync_items(world.runtime, world.brand, follow_up=True)

    assert report.interrupted and "503" in report.interrupted
    assert (report.created, report.failed, report.unchanged) == (0, 8, 8)
    assert report.upserts <= 4  # the workers in flight; the rest were not sent into a dead API
    async with engine.connect() as conn:
        cursor = datetime.fromisoformat(await cursors.read(conn, brand=world.brand, name=CURSOR))
        [follow_up] = await q.list_jobs(conn, brand=world.brand, status=q.PENDING, task="items.sync")
    state = world.centra_state()
    assert cursor <= min(state.sizes[state.sku_index[sku]].updated_at for sku in new)
    assert follow_up.payload == {"full": False} and follow_up.run_at > datetime.now(UTC)
    assert {r.dedupe_key for r in await _active(engine, world.brand, "sku_missing_in_deposco")} == new

    del faults.operations["POST /items"]
    report = await sync_items(world.runtime, world.brand)

    assert (report.created, report.failed, report.interrupted) == (8, 0, None)
    assert new <= set(world.deposco_items())
    assert await _active(engine, world.brand, "sku_missing_in_deposco") == []
