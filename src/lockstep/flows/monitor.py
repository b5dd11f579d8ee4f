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


async def check_orders(ctx: JobContext) -> None:
    """``order_stuck``: an eligible order not in Deposco within the brand's threshold, with where it is held up.

    One incident per brand listing the oldest stuck orders; it clears itself when none is left.
    """
    from lockstep.clock import utcnow
    from lockstep.store import orders as order_store

    topology = ctx.services.brands[ctx.brand]
    limit = topology.thresholds.order_stuck_minutes * 60
    async with ctx.transaction() as conn:
        waiting = await order_store.in_state(
            conn, ctx.brand, [order_store.EXPORTING, order_store.QUARANTINED, order_store.WAITING], limit=100_000
        )
        now = utcnow()
        stuck = [r for r in waiting if r.eligible and (now - r.state_since).total_seconds() >= limit]
        if not stuck:
            await exc_store.auto_resolve(conn, brand=ctx.brand, kind="order_stuck", dedupe_key="orders")
            return
        oldest = sorted(stuck, key=lambda r: r.state_since)[:20]
        await exc_store.raise_kind(
            conn,
            brand=ctx.brand,
            kind="order_stuck",
            dedupe_key="orders",
            owner_team=topology.owner_for("order_stuck"),
            summary=f"{len(stuck)} eligible order(s) not in Deposco after {limit // 60} min",
            evidence={
                "count": len(stuck),
                "oldest": [
                    {
                        "order": r.number,
                        "state": r.state,
                        "since": r.state_since.isoformat(),
                        "held_up_by": [c["detail"] for c in r.causes] or [f"state {r.state}"],
                    }
                    for r in oldest
                ],
            },
            entity_type="order",
            entity_id=oldest[0].number,
        )


def register(registry: TaskRegistry) -> None:
    registry.register("monitor.config", check_config)
    registry.register("monitor.orders", check_orders)
