"""Exception records: the durable, de-duplicated list of things a person must look at.

One *active* (open or acknowledged) record per ``(brand, kind, dedupe_key)``: raising the same condition again
bumps ``occurrences`` and ``last_seen`` and refreshes the evidence instead of adding rows, which is how 300
quarantined orders with one cause become one incident with a count. When the condition clears, the flow calls
:func:`auto_resolve`; if it comes back later, a new record is opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep.clock import utcnow
from lockstep.store.db import insert_for
from lockstep.store.tables import exceptions

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
STATUSES = (OPEN, ACKNOWLEDGED, RESOLVED)


@dataclass(frozen=True)
class ExceptionRecord:
    id: int
    brand: str
    kind: str
    dedupe_key: str
    entity_type: str | None
    entity_id: str | None
    owner_team: str
    severity: str
    status: str
    resolution: str | None
    playbook: str
    summary: str
    evidence: dict[str, Any]
    occurrences: int
    first_seen: datetime
    last_seen: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None

    @classmethod
    def from_row(cls, row) -> ExceptionRecord:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Raised:
    record_id: int
    new: bool  # True when this call opened the record (alerting fires on new records and escalations)


async def raise_exception(
    conn: AsyncConnection,
    *,
    brand: str,
    kind: str,
    dedupe_key: str,
    owner_team: str,
    severity: str,
    playbook: str,
    summary: str,
    evidence: dict[str, Any] | None = None,
    entity_type: str | None = None,
    entity_id: str | None = None,
    count: int = 1,
) -> Raised:
    now = utcnow()
    stmt = insert_for(conn)(exceptions).values(
        brand=brand,
        kind=kind,
        dedupe_key=dedupe_key,
        entity_type=entity_type,
        entity_id=entity_id,
        owner_team=owner_team,
        severity=severity,
        status=OPEN,
        playbook=playbook,
        summary=summary,
        evidence=evidence or {},
        occurrences=count,
        first_seen=now,
        last_seen=now,
    )
    # One statement, so two workers raising the same condition at once bump one record instead of racing.
    stmt = stmt.on_conflict_do_update(
        index_elements=[exceptions.c.brand, exceptions.c.kind, exceptions.c.dedupe_key],
        index_where=text("status <> 'resolved'"),
        set_={
            "occurrences": exceptions.c.occurrences + stmt.excluded.occurrences,
            "last_seen": stmt.excluded.last_seen,
            "summary": stmt.excluded.summary,
            "evidence": stmt.excluded.evidence,
        },
    )
    row = (await conn.execute(stmt.returning(exceptions.c.id, exceptions.c.first_seen))).one()
    return Raised(row.id, new=row.first_seen == now)


async def auto_resolve(conn: AsyncConnection, *, brand: str, kind: str, dedupe_key: str) -> bool:
    """The condition cleared: resolve the active record, if any."""
    result = await conn.execute(
        update(exceptions)
        .where(
            exceptions.c.brand == brand,
            exceptions.c.kind == kind,
            exceptions.c.dedupe_key == dedupe_key,
            exceptions.c.status != RESOLVED,
        )
        .values(status=RESOLVED, resolution="auto", resolved_at=utcnow())
    )
    return result.rowcount > 0


async def active_keys(conn: AsyncConnection, *, brand: str, kind: str) -> set[str]:
    rows = await conn.execute(
        select(exceptions.c.dedupe_key).where(
            exceptions.c.brand == brand, exceptions.c.kind == kind, exceptions.c.status != RESOLVED
        )
    )
    return {r.dedupe_key for r in rows}


async def acknowledge(conn: AsyncConnection, record_id: int) -> bool:
    result = await conn.execute(
        update(exceptions)
        .where(exceptions.c.id == record_id, exceptions.c.status == OPEN)
        .values(status=ACKNOWLEDGED, acknowledged_at=utcnow())
    )
    return result.rowcount == 1


async def resolve(conn: AsyncConnection, record_id: int) -> bool:
    result = await conn.execute(
        update(exceptions)
        .where(exceptions.c.id == record_id, exceptions.c.status != RESOLVED)
        .values(status=RESOLVED, resolution="manual", resolved_at=utcnow())
    )
    return result.rowcount == 1


async def get(conn: AsyncConnection, record_id: int) -> ExceptionRecord | None:
    row = (await conn.execute(select(exceptions).where(exceptions.c.id == record_id))).first()
    return ExceptionRecord.from_row(row) if row else None


async def list_exceptions(
    conn: AsyncConnection,
    *,
    brand: str | None = None,
    team: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    active_only: bool = False,
    limit: int = 100,
) -> list[ExceptionRecord]:
    stmt = select(exceptions).order_by(exceptions.c.last_seen.desc(), exceptions.c.id.desc()).limit(limit)
    for column, value in (
        (exceptions.c.brand, brand),
        (exceptions.c.owner_team, team),
        (exceptions.c.kind, kind),
        (exceptions.c.status, status),
    ):
        if value:
            stmt = stmt.where(column == value)
    if active_only:
        stmt = stmt.where(exceptions.c.status != RESOLVED)
    return [ExceptionRecord.from_row(r) for r in await conn.execute(stmt)]


async def raise_kind(
    conn: AsyncConnection,
    *,
    brand: str,
    kind: str,
    dedupe_key: str,
    summary: str,
    evidence: dict[str, Any] | None = None,
    owner_team: str | None = None,
    entity_type: str | None = None,
    entity_id: str | None = None,
    count: int = 1,
) -> Raised:
    """Raise an exception of a registered kind, filling severity, playbook and (unless given) the owner team."""
    from lockstep.domain.exception_kinds import get_kind

    spec = get_kind(kind)
    return await raise_exception(
        conn,
        brand=brand,
        kind=kind,
        dedupe_key=dedupe_key,
        owner_team=owner_team or spec.default_owner,
        severity=spec.severity,
        playbook=spec.playbook,
        summary=summary,
        evidence=evidence,
        entity_type=entity_type,
        entity_id=entity_id,
        count=count,
    )
