"""Inbox of incoming events (webhooks, event-queue items), de-duplicated by ``(brand, source, event_id)``.

A receiver stores the event and commits before it answers 2xx; a duplicate delivery is recognised here and
acknowledged without a second row or a second job.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep.clock import utcnow
from lockstep.store.db import insert_for
from lockstep.store.tables import inbox_events


async def store_event(
    conn: AsyncConnection, *, brand: str, source: str, event_id: str, event_type: str, payload: dict[str, Any]
) -> int | None:
    """Insert the event; returns its row id, or None when it was already stored (a duplicate delivery)."""
    insert = insert_for(conn)
    stmt = (
        insert(inbox_events)
        .values(
            brand=brand,
            source=source,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["brand", "source", "event_id"])
        .returning(inbox_events.c.id)
    )
    return (await conn.execute(stmt)).scalar()


async def mark_processed(conn: AsyncConnection, event_row_id: int) -> None:
    await conn.execute(update(inbox_events).where(inbox_events.c.id == event_row_id).values(processed_at=utcnow()))


async def unprocessed(conn: AsyncConnection, *, brand: str, source: str, limit: int = 500) -> list:
    stmt = (
        select(inbox_events)
        .where(
            inbox_events.c.brand == brand,
            inbox_events.c.source == source,
            inbox_events.c.processed_at.is_(None),
        )
        .order_by(inbox_events.c.id)
        .limit(limit)
    )
    return list(await conn.execute(stmt))
