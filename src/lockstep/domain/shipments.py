"""Mapping a warehouse shipment back onto the Centra order it came from (pure: no I/O).

Deposco ships sales-order lines; each carries the Centra order line id as its customer line number (the order
flow put it there). What a shipment may consume is what is still open on that line *at that facility* — the
routed units (``order_units``) minus what earlier shipments took. Anything beyond that, or a line the order does
not have, is not guessed at: the whole shipment becomes a problem with evidence, because confirming part of it
would tell the customer a wrong story and re-inflate stock by the difference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from lockstep.domain.model import WarehouseShipment


@dataclass(frozen=True)
class OpenUnits:
    """One routed row of a Centra order line at the shipping facility, with the units not yet shipped."""

    row_id: int
    line_id: int
    pool: str
    open: int


@dataclass(frozen=True)
class Take:
    """Units a shipment consumes from one routed row."""

    row_id: int
    line_id: int
    pool: str
    units: int


@dataclass(frozen=True)
class LineProblem:
    customer_line_number: str
    item: str
    shipped: int
    open: int
    reason: str


@dataclass(frozen=True)
class ShipmentMapping:
    """What the shipment means for the Centra order: lines to ship there, rows consumed, or problems."""

    centra_lines: tuple[tuple[int, int], ...]  # (Centra order line id, units), by line id
    takes: tuple[Take, ...]
    problems: tuple[LineProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.centra_lines)

    @property
    def pool(self) -> str:
        """The stock pool whose lane serialises this confirmation with stock publishing (DESIGN §4)."""
        return sorted({t.pool for t in self.takes})[0] if self.takes else ""

    @property
    def pools(self) -> tuple[str, ...]:
        return tuple(sorted({t.pool for t in self.takes}))


def map_shipment(shipment: WarehouseShipment, rows: Sequence[OpenUnits]) -> ShipmentMapping:
    """Map ``shipment``'s lines onto the open routed ``rows`` of its order at its facility.

    Shipment lines of one order line are summed first (Deposco may split a line over parcels); zero-unit lines
    (voided labels) are skipped. A line spread over several rows (a facility backing several pools) fills them
    in row order.
    """
    shipped: dict[str, int] = defaultdict(int)
    items: dict[str, str] = {}
    for line in shipment.lines:
        if line.quantity > 0:
            shipped[line.customer_line_number] += line.quantity
            items.setdefault(line.customer_line_number, line.item)
    by_line: dict[int, list[OpenUnits]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r.line_id, r.row_id)):
        by_line[row.line_id].append(row)

    takes: list[Take] = []
    lines: list[tuple[int, int]] = []
    problems: list[LineProblem] = []
    for key in sorted(shipped):
        units = shipped[key]
        line_id = int(key) if key.strip().isdigit() else None
        candidates = by_line.get(line_id, []) if line_id is not None else []
        open_units = sum(max(r.open, 0) for r in candidates)
        if not candidates:
            problems.append(LineProblem(key, items[key], units, 0, "not a line of this order at this facility"))
            continue
        if units > open_units:
            problems.append(LineProblem(key, items[key], units, open_units, "more units than open on the line"))
            continue
        remaining = units
        for row in candidates:
            take = min(remaining, max(row.open, 0))
            if take:
                takes.append(Take(row.row_id, row.line_id, row.pool, take))
                remaining -= take
        lines.append((line_id, units))
    return ShipmentMapping(tuple(sorted(lines)), tuple(takes), tuple(problems))


def problem_evidence(shipment: WarehouseShipment, order_number: str, mapping: ShipmentMapping) -> dict:
    """What a person needs to sort out a refused shipment without opening Deposco."""
    return {
        "deposco_shipment": shipment.number,
        "sales_order": shipment.sales_order_number,
        "order": order_number,
        "facility": shipment.facility,
        "lines": [
            {"line": p.customer_line_number, "item": p.item, "shipped": p.shipped, "open": p.open, "why": p.reason}
            for p in mapping.problems
        ],
    }


def shipped_at_for_centra(shipped_at: datetime | None, now: datetime) -> datetime:
    """Centra refuses a ``shippedAt`` in the future: a warehouse clock running ahead is clamped to now."""
    return now if shipped_at is None or shipped_at > now else shipped_at


# --- after detection: tracking, order progress, capture retries ---------------------------------------------


def merge_tracking(known: Sequence[str], reported: Sequence[str]) -> tuple[str, ...]:
    """Tracking numbers seen so far plus newly reported ones, first-seen order kept.

    Union, not replacement: a later read that lists fewer parcels (a re-labelled box) must not take back a number
    the customer may already have been given.
    """
    merged = [t for t in known if t]
    merged += [t for t in reported if t and t not in merged]
    return tuple(dict.fromkeys(merged))


def late_tracking(in_centra: Sequence[str] | None, tracking: Sequence[str]) -> tuple[str, ...]:
    """Tracking numbers the completed Centra shipment does not carry yet (None: not completed, nothing is late)."""
    if in_centra is None:
        return ()
    return tuple(t for t in tracking if t and t not in in_centra)


PARTIALLY_SHIPPED, SHIPPED = "partially_shipped", "shipped"


def order_progress(open_in_centra: dict[int, int], shipped: dict[int, int], all_completed: bool) -> str | None:
    """Where an order stands once a shipment of it completed: ``shipped``, ``partially_shipped`` or None.

    ``open_in_centra`` is each Centra line's quantity, which already excludes cancelled units, so a line cancelled
    in full counts as done and a short-shipped line whose rest was cancelled does too (Centra's own rule for
    SHIPPED: every line shipped or cancelled). Shipped only once every shipment is also completed in Centra.
    """
    if not any(shipped.values()):
        return None
    done = all(shipped.get(line, 0) >= units for line, units in open_in_centra.items())
    return SHIPPED if done and all_completed else PARTIALLY_SHIPPED


CAPTURE_RETRY_FIRST = timedelta(minutes=1)
CAPTURE_RETRY_MAX = timedelta(hours=1)


def capture_retry_delay(attempts: int) -> timedelta:
    """Wait before asking again about a capture the payment provider left pending: doubling, at most an hour.

    Adyen and Klarna settle in minutes to days; each retry costs a Centra mutation, so the interval grows.
    """
    return min(CAPTURE_RETRY_FIRST * (2 ** max(attempts - 1, 0)), CAPTURE_RETRY_MAX)
