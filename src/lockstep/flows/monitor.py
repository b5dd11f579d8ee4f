"""Monitoring checks that turn silent problems into exception records (and clear them when fixed).

``monitor.config``: a stock pool with no ``live`` facility behind it can neither route orders nor publish stock;
the storefront keeps selling whatever Centra last had. That is raised as ``mapping_invalid`` per pool and
auto-resolved once a facility behind the pool goes live.
"""

from __future__ import annotations

from lockstep.queue import JobContext, PermanentError, TaskRegistry
from lockstep.store import exceptions as exc_store


async def check_config(ctx: JobContext) -> None:
    topology = ctx.services.brands.get(ctx.brand)
    if topology is None:
        raise PermanentError(f"brand {ctx.brand!r} is not in the loaded configuration")
    async with ctx.transaction() as conn:
        for pool in topology.pools:
            key = f"pool:{pool.id}"
            if topology.live_facilities_for_pool(pool.id):
                await exc_store.auto_resolve(conn, brand=ctx.brand, kind="mapping_invalid", dedupe_key=key)
                continue
            states = {pf.facility: topology.facility(pf.facility).state for pf in pool.facilities}
            await exc_store.raise_kind(
                conn,
                brand=ctx.brand,
                kind="mapping_invalid",
                dedupe_key=key,
                owner_team=topology.owner_for("mapping_invalid"),
                summary=f"stock pool {pool.id} has no live facility: orders cannot route, stock is not published",
                evidence={"pool": pool.id, "facilities": states},
                entity_type="pool",
                entity_id=pool.id,
            )


def register(registry: TaskRegistry) -> None:
    registry.register("monitor.config", check_config)
