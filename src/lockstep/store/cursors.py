"""Sync cursors (e.g. "orders updated after"): written in the same transaction as the data they cover.

A cursor that advanced before its data was committed would skip that data after a crash; keeping both in one
transaction means a crash re-reads, never skips.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep.clock import utcnow
from lockstep.store.db import insert_for
from lockstep.store.tables import sync_cursors


async def read(conn: AsyncConnection, *, brand: str, name: str) -> str | None:
    return await conn.scalar(
        select(sync_cursors.c.value).where(sync_cursors.c.brand == brand, sync_cursors.c.name == name)
    )


async def write(conn: AsyncConnection, *, brand: str, name: str, value: str) -> None:
    insert = insert_for(conn)
    stmt = insert(sync_cursors).values(brand=brand, name=name, value=value, updated_at=utcnow())
    stmt = stmt.on_conflict_do_update(
        index_elements=["brand", "name"], set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at}
    )
    await conn.execute(stmt)


async def window_start(
    engine, *, brand: str, name: str, overlap: timedelta, first_look: timedelta = timedelta(days=2)
) -> tuple[datetime, str | None]:
    """Where a poll reading "changed since" starts: the cursor minus an overlap (timestamps are coarse and
    systems commit late), or ``first_look`` back on the first run. Returns the start and the raw cursor."""
    async with engine.connect() as conn:
        cursor = await read(conn, brand=brand, name=name)
    since = datetime.fromisoformat(cursor) - overlap if cursor else utcnow() - first_look
    return since, cursor
