"""`lockstep orders show|release` against a real database the flow wrote."""

from __future__ import annotations

import os
import subprocess
import sys

from lockstep.queue import jobs as q
from lockstep.store import audit

from ..harness import brand_world


def lockstep(world, db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCKSTEP_", "NORDWIND_"))}
    env.update(COLUMNS="200", LOCKSTEP_DATABASE_URL=db_url, LOCKSTEP_CONFIG_DIR=str(world.config_file.parent))
    return subprocess.run([sys.executable, "-m", "lockstep.cli", *args], env=env, capture_output=True, text=True)


async def test_show_tells_the_story_and_release_requeues_by_cause(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        sku = world.seeded.items[0].sku
        async with world.sims.endpoints().centra_client() as http:
            await http.put("/_sim/stock", json={"warehouse": "US New Jersey", "items": [{"sku": sku, "physical": 5}]})
        held = await world.place("us", "US", [(sku, 1)], 1)
        shipped = await world.place("eu", "SE", [(world.seeded.items[1].sku, 1)], 2)
        await world.enqueue("orders.refetch")
        await world.run_jobs()

        shown = lockstep(world, db_url, "orders", "show", held)
        assert shown.returncode == 0, shown.stderr
        assert "state quarantined" in shown.stdout
        assert "facility_not_live" in shown.stdout and "US-NJ" in shown.stdout
        exported = lockstep(world, db_url, "orders", "show", shipped)
        assert "state exported" in exported.stdout and f"C{shipped}-SE-STO" in exported.stdout
        assert "confirmed" in exported.stdout
        missing = lockstep(world, db_url, "orders", "show", "999999")
        assert missing.returncode == 1 and "not known" in missing.stderr

        released = lockstep(world, db_url, "orders", "release", "--cause", "facility_not_live")
        assert released.returncode == 0, released.stderr
        assert "released 1 order(s)" in released.stdout
        async with world.runtime.engine.connect() as conn:
            pending = await q.list_jobs(conn, status="pending", task="orders.fetch")
            entries = await audit.recent(conn, brand=world.brand)
        assert [j.payload for j in pending] == [{"number": held}]
        assert entries[0].action == "order.release" and entries[0].entity_id == held
