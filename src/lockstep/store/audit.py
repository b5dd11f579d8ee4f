"""The audit log: who or what did which manual action or state change, and when. Append-only."""

from __future__ import annotations

import getpass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep.clock import utcnow
from lockstep.store.tables import audit_log


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli:unknown"


async def record(
    conn: AsyncConnection,
    *,
    brand: str,
    actor: str,
    action: str,
    entity_type: str | None = None,
    entity_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        audit_log.insert().values(
            brand=brand,
            at=utcnow(),
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            details=details or {},
        )
    )


async def recent(conn: AsyncConnection, *, brand: str | None = None, limit: int = 50) -> list:
    stmt = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if brand:
        stmt = stmt.where(audit_log.c.brand == brand)
    return list(await conn.execute(stmt))
