"""The stock equation (DESIGN §4, derived in docs/stock-model.md): what Centra's physical stock of one size in
one stock pool must be so that Centra's own free-to-allocate is exactly what the warehouses can still promise.

For pool ``P`` and SKU ``s`` with ``F(P)`` the live facilities backing ``P``::

    physical(P, s) = Σ_f∈F(P) ⌊share(f, P) · (ATP(f, s) - other pools' units ATP does not net yet)⌋
                   + units of P's Centra orders that Deposco holds open          (held_open)
                   + units Deposco shipped for P's Centra orders, Centra shipment not completed (shipped_unconfirmed)
                   - safety buffer(P, s)
                   clamped at ≥ 0

Why each choice:

- **Deposco's ATP already nets every open order**, Centra's included. Centra subtracts its own allocations
  from physical to get free-to-allocate, so the Centra orders Deposco holds are added back, or they would be
  subtracted twice. Units Deposco shipped but Centra has not completed are added back for the same reason:
  Centra still counts them as allocated and will decrement physical itself when the shipment completes.
- **A unit counts only if its Deposco order was confirmed before the ATP reading was requested.** An order
  created after the reading is not netted in that reading's ATP; adding it back would sell it twice. When
  unsure (no confirmation time, or no reading time), it is left out: that errs toward selling less, and the
  next reading settles it. Shipping inside Deposco moves a unit from held-open to shipped-unconfirmed without
  changing ATP, so a line is counted in exactly one of the two terms at any time.
- **Shares are floored per facility**: 70 % and 30 % of 5 units are 3 + 1, never 4 + 2. Rounding down errs
  toward selling less. A negative ATP (Deposco itself is short) stays negative inside the sum, so it eats the
  added-back terms instead of being hidden; only the total is clamped.
- **A missing reading is not zero.** A live facility with no ATP for the SKU makes the figure unknown
  (``value is None``); the publisher leaves Centra alone and the reason is recorded. Publishing zero for a
  tenant that omits a measure would empty the store; publishing a guess could oversell.
- **Another pool's orders that the reading does not net yet come off the ATP before this pool's share** of a
  facility both back (``elsewhere``): an eu order routed to Stockholm, not yet in the reading, is already
  spoken for, and uk's 30 % of that unit is not uk's to sell. Left in, uk's figure stayed a unit too high until
  the next reading (DESIGN §4's "when unsure, leave it out" errs toward *more* for the other pools of a shared
  facility), and a uk shopper bought it: the peak sale traced exactly that (Stockholm 4, eu sold one; uk still
  showed ⌊0.3·4⌋ = 1 where the reading then gave ⌊0.3·3⌋ = 0). Taken off, no pool's figure is ever above what it
  becomes once the reading nets the orders.
  The pool's *own* unnetted units stay left out, as above: Centra's allocation already holds them.
- **Tenants whose ATP does not net open orders** (``atp_nets_open_orders = False``): the open units are not
  added back (Deposco never subtracted them), only the shipped-unconfirmed ones — per-brand setting.

Pure: no I/O, no clock. Inputs are plain values gathered by ``store/stock.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum


@dataclass(frozen=True)
class Reading:
    """Deposco ATP of one SKU in one facility, and when it was requested (``as_of``)."""

    atp: int
    as_of: datetime | None


@dataclass(frozen=True)
class InFlight:
    """Units of one Centra order line routed to one facility that the equation may add back.

    ``open`` units are held open by Deposco, ``shipped`` units left Deposco but their Centra shipment is not
    completed. ``confirmed_at`` is when Deposco confirmed the order's creation (None: not confirmed / unsure).
    """

    facility: str
    confirmed_at: datetime | None
    open: int = 0
    shipped: int = 0


@dataclass(frozen=True)
class StockFigure:
    """The equation's answer for one (pool, SKU), with every term kept for ``lockstep stock show`` and drift
    evidence. ``value`` is None when a live facility has no reading (``missing`` names them)."""

    value: int | None
    atp_part: int
    held_open: int
    shipped_unconfirmed: int
    buffer: int
    unclamped: int
    per_facility: Mapping[str, int] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    left_out: int = 0  # in-flight units not added back because their order was not confirmed before the reading
    claimed_elsewhere: int = 0  # other pools' open units the readings do not net, taken off the ATP first


def share_units(share: float, atp: int) -> int:
    """A pool's whole units of a facility's ATP: floored, so shares never add up to more than the facility has
    (the epsilon keeps 0.7 x 10 at 7 despite binary floating point)."""
    return math.floor(share * atp + 1e-9)


def netted(units: InFlight, reading: Reading | None) -> bool:
    """Whether ``reading``'s ATP already nets ``units``: their Deposco order was confirmed before it was asked
    for. Unsure (no confirmation or no reading time) is "not netted"."""
    return (
        reading is not None
        and reading.as_of is not None
        and units.confirmed_at is not None
        and units.confirmed_at < reading.as_of
    )


def unclaimed_atp(atp: int, claimed_elsewhere: int) -> int:
    """The ATP a pool's share of a facility applies to: the reading less the open units of *other* pools'
    orders it does not net yet — the ATP the next reading will show. Below zero it stays negative, as a
    negative reading does: the figure it gives then equals the one after the reading, never more."""
    return atp - max(claimed_elsewhere, 0)


def claims(
    units: Iterable[InFlight], readings: Mapping[str, Reading], *, atp_nets_open_orders: bool = True
) -> dict[str, int]:
    """facility -> open units of ``units`` (other pools' order units) that the facility's reading does not net.

    Empty for a tenant whose ATP nets no open orders: there each pool's share is of the facility's on-hand and its
    own orders use it up through Centra's allocation, so another pool's orders never touch it."""
    out: dict[str, int] = {}
    if not atp_nets_open_orders:
        return out
    for unit in units:
        if unit.open > 0 and not netted(unit, readings.get(unit.facility)):
            out[unit.facility] = out.get(unit.facility, 0) + unit.open
    return out


def centra_physical(
    shares: Mapping[str, float],
    readings: Mapping[str, Reading],
    in_flight: Iterable[InFlight],
    buffer: int,
    *,
    atp_nets_open_orders: bool = True,
    elsewhere: Iterable[InFlight] = (),
) -> StockFigure:
    """Centra physical stock for one (pool, SKU).

    ``shares`` maps each *live* facility of the pool to its share (a facility that is not live must not be in
    it: its stock is never published). ``readings`` holds the latest reading per facility; ``in_flight`` the
    pool's order units for this SKU (units routed to facilities outside ``shares`` are ignored); ``elsewhere``
    the order units of the brand's *other* pools for this SKU (only their open units at the pool's facilities
    that the readings do not net count: see :func:`unclaimed_atp`).
    """
    claimed = claims(elsewhere, readings, atp_nets_open_orders=atp_nets_open_orders)
    per_facility: dict[str, int] = {}
    missing: list[str] = []
    claimed_elsewhere = 0
    for facility, share in sorted(shares.items()):
        reading = readings.get(facility)
        if reading is None:
            missing.append(facility)
            continue
        claimed_elsewhere += claimed.get(facility, 0)
        per_facility[facility] = share_units(share, unclaimed_atp(reading.atp, claimed.get(facility, 0)))
    atp_part = sum(per_facility.values())

    held_open = shipped = left_out = 0
    for units in in_flight:
        if units.facility not in shares:
            continue
        if not netted(units, readings.get(units.facility)):
            left_out += max(units.open, 0) + max(units.shipped, 0)
            continue
        if atp_nets_open_orders:
            held_open += max(units.open, 0)
        shipped += max(units.shipped, 0)

    unclamped = atp_part + held_open + shipped - max(buffer, 0)
    value = None if missing else max(unclamped, 0)
    return StockFigure(
        value=value,
        atp_part=atp_part,
        held_open=held_open,
        shipped_unconfirmed=shipped,
        buffer=max(buffer, 0),
        unclamped=unclamped,
        per_facility=per_facility,
        missing=tuple(missing),
        left_out=left_out,
        claimed_elsewhere=claimed_elsewhere,
    )


class Urgency(IntEnum):
    """Publish order: what stops overselling first (lower sorts first)."""

    LOW_STOCK_DECREASE = 0  # a decrease to at or below the low-stock threshold
    DECREASE = 1
    INCREASE = 2


@dataclass(frozen=True)
class StockChange:
    """A value to write to Centra for one (pool, SKU), and what Centra is believed to hold now."""

    sku: str
    new: int
    old: int | None

    @property
    def delta(self) -> int:
        return self.new - (self.old or 0)


def urgency(change: StockChange, low_stock_threshold: int) -> Urgency:
    """Decreases towards zero stop overselling; they go before other decreases, which go before increases.
    A SKU Centra has never been given a value for counts as an increase from zero."""
    if change.old is not None and change.new < change.old:
        return Urgency.LOW_STOCK_DECREASE if change.new <= low_stock_threshold else Urgency.DECREASE
    return Urgency.INCREASE


def changes_to_send(
    computed: Mapping[str, int],
    believed: Mapping[str, int | None],
    low_stock_threshold: int,
    waiting_since: Mapping[str, datetime] | None = None,
) -> list[StockChange]:
    """Only values that differ from what Centra holds, most urgent first; within an urgency, the longest waiting
    first (``waiting_since``: when the key was first marked dirty), then by size of the drop, then SKU.

    One mutation carries at most a batch of sizes; when a pool has more to write, what is left waits for the next
    mutation. Ordered by the size of the change alone, a sale's steady stream of new changes kept jumping ahead of
    the same small restocks run after run (peak-sale churn: lag p99 28 s); the waiting time puts them in line."""
    changes = [
        StockChange(sku, value, believed.get(sku)) for sku, value in computed.items() if believed.get(sku) != value
    ]
    since = waiting_since or {}
    return sorted(changes, key=lambda c: (urgency(c, low_stock_threshold), _order(since.get(c.sku)), c.delta, c.sku))


def _order(since: datetime | None) -> float:
    return since.timestamp() if since is not None else float("inf")
