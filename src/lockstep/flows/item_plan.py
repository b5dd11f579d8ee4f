"""The item sync's bookkeeping, without I/O: what each size needs, and what the results mean for the store.

:func:`plan` turns the Centra sizes (and, on a full sync, Deposco's item master; on an incremental one, the
coverage rows) into one :class:`Entry` per size with its :class:`~lockstep.domain.items.Action`. The flow sends
the entries that need it and records each :class:`Outcome`; :func:`settle` then derives the coverage rows and the
exceptions to raise or resolve, so everything that is written commits in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from lockstep.domain import items as rules
from lockstep.domain.model import Change, Item, ProductSize
from lockstep.store.items import CoverageRow

EVIDENCE_LIMIT = 100  # item numbers listed in one grouped exception; the coverage table holds them all
ORPHANS = "orphans"
KEY_MAX = 128  # item_coverage.item_key  # dedupe key of the one grouped sku_missing_in_centra record per brand


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"  # inactive and not in Deposco
    REFUSED = "refused"  # cannot be an item as it is (no key, a key that does not fit, a UPC in use, a 4xx)
    FAILED = "failed"  # not sent or not answered: Deposco unavailable; the next run tries again


@dataclass
class Entry:
    """One Centra size on its way to Deposco."""

    size: ProductSize
    key: str
    desired: Item | None = None  # fitted to Deposco's columns; None when it cannot be an item at all
    action: rules.Action | None = None
    exists: bool = False  # Deposco has the item (as far as known before sending)
    diffs: dict[str, list[str]] | None = None  # None: Deposco not read for this size
    upc_owner: str | None = None  # the other Deposco item holding this size's UPC
    deposco_upc: str | None = None  # the UPC Deposco holds for this item, as last read
    twin: str | None = None  # the Centra size that claimed the same item number first
    outcome: Outcome | None = None
    result: Item | None = None  # the item as Deposco answered the upsert
    error: str | None = None
    previous: CoverageRow | None = None

    @property
    def needs_send(self) -> bool:
        return self.outcome is None and self.action in (rules.Action.CREATE, rules.Action.UPDATE)

    @property
    def in_deposco(self) -> bool:
        return self.result is not None or self.exists


@dataclass(frozen=True)
class Raise:
    kind: str
    dedupe_key: str
    summary: str
    evidence: dict
    entity_type: str
    entity_id: str

    def __post_init__(self) -> None:  # the exception table's columns; an absurd SKU must not fail the commit
        object.__setattr__(self, "dedupe_key", self.dedupe_key[:256])
        object.__setattr__(self, "entity_id", self.entity_id[:256])


@dataclass
class Settlement:
    rows: list[CoverageRow] = field(default_factory=list)
    raises: list[Raise] = field(default_factory=list)
    resolve: dict[str, set[str]] = field(default_factory=dict)  # kind -> dedupe keys cleared by this run
    resolve_all_but: dict[str, set[str]] = field(default_factory=dict)  # kind -> keys still true (full sync)
    missing_in_deposco: int = 0
    missing_in_centra: int | None = None


Fitter = Callable[[Item], Sequence[Change]]  # the connector's check: what it will change (raises if it cannot)


def plan(
    sizes: Iterable[ProductSize],
    *,
    sku_key: rules.SkuKey,
    fit: Fitter,
    refusal: type[Exception],
    deposco_items: Mapping[str, Item] | None = None,
    previous: Mapping[str, CoverageRow] | None = None,
    upc_owners: Mapping[str, str] | None = None,
) -> list[Entry]:
    """One entry per size, with its action decided.

    Full sync: ``deposco_items`` is Deposco's whole item master, compared field by field. Incremental:
    ``previous`` are the coverage rows, and a size whose Centra ``updatedAt`` is what the last clean sync saw
    is left alone (the overlapping window re-reads it; sending it again would only spend budget).
    """
    owners = dict(upc_owners or {})
    if deposco_items is not None:
        owners = rules.upc_owners(deposco_items.values())
    claimed: dict[str, str] = {}
    entries: list[Entry] = []
    for size in sizes:
        entry = Entry(size, rules.item_key(size, sku_key))
        entries.append(entry)
        if not entry.key:
            entry.outcome, entry.error = Outcome.REFUSED, f"size {size.sku or size.ean} has no {sku_key.upper()}"
            continue
        if entry.key in claimed:
            entry.outcome, entry.twin = Outcome.REFUSED, claimed[entry.key]
            entry.error = f"item number {entry.key} is also that of Centra size {entry.twin}"
            continue
        claimed[entry.key] = size.sku or size.ean  # never empty: the key is one of the two
        actual = deposco_items.get(entry.key) if deposco_items is not None else None
        if deposco_items is not None:
            entry.exists = actual is not None
            entry.deposco_upc = actual.upc if actual is not None else None
        else:
            entry.previous = (previous or {}).get(entry.key)
            entry.exists = bool(entry.previous and entry.previous.in_deposco)
            entry.deposco_upc = entry.previous.deposco_upc if entry.previous else None
            if _seen_before(entry.previous, size):
                entry.action, entry.outcome = rules.Action.UNCHANGED, Outcome.UNCHANGED
                continue
        desired = rules.desired_item(size, sku_key)
        if not size.is_active and not entry.exists:  # nobody can order it: whether it would fit does not matter
            entry.desired, entry.action, entry.outcome = desired, rules.Action.SKIP, Outcome.SKIPPED
            continue
        try:
            entry.desired = rules.apply_changes(desired, fit(desired))
        except refusal as exc:
            entry.desired = desired
            entry.outcome, entry.error = Outcome.REFUSED, str(exc)
            continue
        if deposco_items is not None:
            entry.diffs = rules.differences(entry.desired, actual) if actual is not None else {}
        owner = owners.get(entry.desired.upc) if entry.desired.upc else None
        entry.upc_owner = owner if owner != entry.key else None
        entry.action = rules.decide(entry.desired, exists=entry.exists, diffs=entry.diffs, upc_owner=entry.upc_owner)
        if entry.action == rules.Action.UNCHANGED:
            entry.outcome = Outcome.UNCHANGED
        elif entry.action == rules.Action.SKIP:
            entry.outcome = Outcome.SKIPPED
        elif entry.action == rules.Action.CONFLICT:
            entry.outcome = Outcome.REFUSED
            entry.error = f"UPC {entry.desired.upc} is already on Deposco item {entry.upc_owner}"
    return entries


def _seen_before(row: CoverageRow | None, size: ProductSize) -> bool:
    return (
        row is not None
        and row.clean
        and size.updated_at is not None
        and row.centra_updated_at == size.updated_at
        and row.centra_active == size.is_active
        and (row.sku or "") == size.sku
        and (row.ean or "") == size.ean
    )


def settle(
    entries: Sequence[Entry],
    *,
    brand: str,
    now: datetime,
    deposco_items: Mapping[str, Item] | None = None,
) -> Settlement:
    """Coverage rows and exceptions from the entries' outcomes (``deposco_items`` given on a full sync)."""
    out = Settlement()
    missing: set[str] = set()
    conflicts: set[str] = set()
    centra_keys: set[str] = set()
    landed = {e.result.upc: e.key for e in entries if e.result is not None and e.result.upc}
    for entry in entries:
        size = entry.size
        if not entry.key:
            if size.is_active:
                missing.add(f"size:{size.sku}")
                out.raises.append(_missing(entry, f"size:{size.sku}"))
            continue
        if entry.twin is not None:  # a second size claiming the same item number: the first one owns the row
            if entry.key == size.ean:
                conflicts.add(f"upc:{size.ean}")
                out.raises.append(_shared_ean(entry))
            continue
        centra_keys.add(entry.key)
        if entry.outcome == Outcome.UNCHANGED and deposco_items is None:
            continue  # incremental, untouched: its row stands
        if len(entry.key) <= KEY_MAX:  # a longer one was refused (Deposco takes 40) and has no row to live in
            out.rows.append(_row(entry, brand, now))
        upc = entry.desired.upc if entry.desired else ""
        if entry.upc_owner or _names_upc(entry):
            conflicts.add(f"upc:{upc}")
            out.raises.append(_duplicate(entry, upc, entry.upc_owner or landed.get(upc)))
        if size.is_active and not entry.in_deposco:
            missing.add(entry.key)
            out.raises.append(_missing(entry, entry.key))
        if deposco_items is None:
            out.resolve.setdefault("sku_missing_in_deposco", set()).update({entry.key, f"size:{size.sku}"})
            if upc and entry.outcome in (Outcome.CREATED, Outcome.UPDATED, Outcome.UNCHANGED):
                out.resolve.setdefault("duplicate_upc", set()).add(f"upc:{upc}")
    for kind, still in (("sku_missing_in_deposco", missing), ("duplicate_upc", conflicts)):
        if kind in out.resolve:
            out.resolve[kind] -= still
        if deposco_items is not None:
            out.resolve_all_but[kind] = still
    out.missing_in_deposco = len(missing)
    if deposco_items is not None:
        _orphans(out, deposco_items, centra_keys, brand, now)
    return out


def _orphans(out: Settlement, deposco_items: Mapping[str, Item], centra_keys: set[str], brand: str, now) -> None:
    orphans = sorted(set(deposco_items) - centra_keys)
    out.missing_in_centra = len(orphans)
    for key in orphans:
        item = deposco_items[key]
        out.rows.append(
            CoverageRow(
                brand=brand,
                item_key=key,
                in_centra=False,
                in_deposco=True,
                centra_active=False,
                last_synced_at=now,
                deposco_upc=item.upc[:64] or None,
            )
        )
    if orphans:
        out.raises.append(
            Raise(
                kind="sku_missing_in_centra",
                dedupe_key=ORPHANS,
                summary=f"{len(orphans)} Deposco item(s) match no Centra size: their stock cannot be sold online",
                evidence={"count": len(orphans), "items": orphans[:EVIDENCE_LIMIT]},
                entity_type="brand",
                entity_id=brand,
            )
        )
    out.resolve_all_but["sku_missing_in_centra"] = {ORPHANS} if orphans else set()


def _row(entry: Entry, brand: str, now: datetime) -> CoverageRow:
    size, previous = entry.size, entry.previous
    if entry.result is not None:
        upc = entry.result.upc
        diffs = rules.differences(entry.desired, entry.result) if entry.desired else {}
    elif entry.diffs is not None:  # full sync: Deposco was read
        upc, diffs = entry.deposco_upc, entry.diffs
    else:
        upc, diffs = entry.deposco_upc, previous.differences if previous else {}
    return CoverageRow(
        brand=brand,
        item_key=entry.key,
        in_centra=True,
        in_deposco=entry.in_deposco,
        centra_active=size.is_active,
        last_synced_at=now,
        sku=size.sku[:128] or None,
        ean=size.ean[:64] or None,
        deposco_upc=(upc or "")[:64] or None,
        differences=diffs if entry.in_deposco else {},
        centra_updated_at=size.updated_at,
        last_error=entry.error,
    )


def _names_upc(entry: Entry) -> bool:
    """Deposco refused the item and its reason names the item's UPC: the UPC is on another item."""
    upc = entry.desired.upc if entry.desired else ""
    return bool(upc and entry.outcome == Outcome.REFUSED and entry.error and upc in entry.error)


def _missing(entry: Entry, dedupe_key: str) -> Raise:
    reason = entry.error or "not created yet"
    return Raise(
        kind="sku_missing_in_deposco",
        dedupe_key=dedupe_key,
        summary=f"Centra size {entry.size.sku} (item {entry.key or '-'}) is not in Deposco: {reason}"[:500],
        evidence={"item": entry.key, "sku": entry.size.sku, "ean": entry.size.ean, "reason": reason},
        entity_type="sku",
        entity_id=entry.key or entry.size.sku,
    )


def _duplicate(entry: Entry, upc: str, owner: str | None) -> Raise:
    other = owner or "another item (see Deposco's message)"
    return Raise(
        kind="duplicate_upc",
        dedupe_key=f"upc:{upc}",
        summary=f"UPC {upc} of Centra size {entry.size.sku} (item {entry.key}) is already on Deposco item {other}",
        evidence={
            "upc": upc,
            "item": entry.key,
            "sku": entry.size.sku,
            "deposco_item": owner,
            "deposco_message": entry.error,
        },
        entity_type="sku",
        entity_id=entry.key,
    )


def _shared_ean(entry: Entry) -> Raise:
    ean = entry.size.ean
    return Raise(
        kind="duplicate_upc",
        dedupe_key=f"upc:{ean}",
        summary=f"Centra sizes {entry.twin} and {entry.size.sku} share EAN {ean}; only {entry.twin} is a Deposco item",
        evidence={"upc": ean, "sku": entry.size.sku, "other_sku": entry.twin, "item": entry.key},
        entity_type="sku",
        entity_id=entry.key,
    )
