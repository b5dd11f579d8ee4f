"""The item coverage table: per brand and item key, what Centra and Deposco each know (see ``domain/items.py``).

Set-based on purpose: a full sync writes every size of a catalogue, so rows go in as multi-row upserts in chunks
(SQLite allows 32,766 bound values per statement) and stale rows are removed with one DELETE, never row by row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import and_, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep.store.db import insert_for
from lockstep.store.tables import item_coverage

CHUNK = 500  # rows per upsert statement, keys per IN list: well under every backend's bound-parameter limit


@dataclass(frozen=True)
class CoverageRow:
    brand: str
    item_key: str
    in_centra: bool
    in_deposco: bool
    centra_active: bool
    last_synced_at: datetime
    sku: str | None = None
    ean: str | None = None
    deposco_upc: str | None = None
    differences: dict[str, list[str]] = field(default_factory=dict)
    centra_updated_at: datetime | None = None
    last_error: str | None = None

    @property
    def clean(self) -> bool:
        """In Deposco as Centra says, with nothing refused: an unchanged size needs no visit."""
        return self.in_deposco and not self.differences and not self.last_error

    @classmethod
    def from_row(cls, row) -> CoverageRow:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


def _chunks(values: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


async def upsert(conn: AsyncConnection, rows: Sequence[CoverageRow]) -> None:
    """Write whole rows (insert or replace), a chunk per statement."""
    if not rows:
        return
    insert = insert_for(conn)
    columns = [c for c in CoverageRow.__dataclass_fields__ if c not in ("brand", "item_key")]
    for chunk in _chunks(list(rows)):
        stmt = insert(item_coverage).values([asdict(row) for row in chunk])
        stmt = stmt.on_conflict_do_update(
            index_elements=[item_coverage.c.brand, item_coverage.c.item_key],
            set_={name: stmt.excluded[name] for name in columns},
        )
        await conn.execute(stmt)


async def get_rows(conn: AsyncConnection, brand: str, keys: Iterable[str] | None = None) -> dict[str, CoverageRow]:
    """Rows by item key: all of the brand's, or those of ``keys``."""
    if keys is None:
        result = await conn.execute(select(item_coverage).where(item_coverage.c.brand == brand))
        return {r.item_key: CoverageRow.from_row(r) for r in result}
    found: dict[str, CoverageRow] = {}
    for chunk in _chunks(sorted(set(keys))):
        result = await conn.execute(
            select(item_coverage).where(item_coverage.c.brand == brand, item_coverage.c.item_key.in_(chunk))
        )
        found.update({r.item_key: CoverageRow.from_row(r) for r in result})
    return found


async def upc_owners(conn: AsyncConnection, brand: str, upcs: Iterable[str]) -> dict[str, str]:
    """UPC -> the Deposco item that holds it, as last seen, for the given UPCs."""
    owners: dict[str, str] = {}
    for chunk in _chunks(sorted({u for u in upcs if u})):
        result = await conn.execute(
            select(item_coverage.c.deposco_upc, item_coverage.c.item_key).where(
                item_coverage.c.brand == brand,
                item_coverage.c.in_deposco.is_(True),
                item_coverage.c.deposco_upc.in_(chunk),
            )
        )
        owners.update({r.deposco_upc: r.item_key for r in result})
    return owners


async def delete_unseen(conn: AsyncConnection, brand: str, *, before: datetime) -> int:
    """After a full sync: drop rows it did not touch (known to neither system any more)."""
    result = await conn.execute(
        delete(item_coverage).where(and_(item_coverage.c.brand == brand, item_coverage.c.last_synced_at < before))
    )
    return result.rowcount


async def unknown_items(conn: AsyncConnection, brand: str, keys: Iterable[str]) -> set[str]:
    """The item keys (SKU or EAN, per the brand) Deposco does not have, per the coverage table.

    For the order flow: a line whose key is returned must not be sent (Deposco would accept it and strand it).
    A key the table has never seen counts as unknown: until an item sync has found it in Deposco, Lockstep
    cannot vouch for it.
    """
    wanted = {k for k in keys}
    known: set[str] = set()
    for chunk in _chunks(sorted(wanted)):
        result = await conn.execute(
            select(item_coverage.c.item_key).where(
                item_coverage.c.brand == brand,
                item_coverage.c.in_deposco.is_(True),
                item_coverage.c.item_key.in_(chunk),
            )
        )
        known.update(r.item_key for r in result)
    return wanted - known
