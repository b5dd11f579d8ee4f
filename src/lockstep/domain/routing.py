"""Routing: which Deposco facility ships each unit of a Centra order. Pure; never guesses.

Each order line carries Centra's allocations: units reserved in a Centra warehouse, i.e. a stock pool. The pool
maps to facilities through the brand's explicit mapping; within a pool a routing override can send orders for
certain ship-to countries to a specific facility; otherwise the first *live* facility of the pool (in the
configured priority order) ships — the first one that can still supply the units from the pool's share of its
stock, when the caller knows (``available``): a pool backed by two facilities sells both shares, so its orders
must be able to reach both, or the second share would be sold out of the first facility's shelves. The same
holds for an override: it wins while the pool's share there covers the units, then the pool's other facilities
supply. The pool's safety buffer (``held``) is kept back at each facility in that first choice, so routing does
not draw one facility the pool shares with other channels down to its last unit while the buffer sits at
another (see :func:`choose_facility`). When no facility can supply the units from the pool's share (Centra
sold on a figure that was already stale), they go to the one of those facilities that still has the most units
nobody has claimed (``ANY_POOL`` in the allowance: the buffers and floored-away parts of every pool sharing
it): there they ship, and the next figures take them into account; at a facility with nothing left they are
certainly short. With nothing known (no reading
yet) or no unclaimed units anywhere, the override or the first live facility ships, as configured.
Anything that does not resolve cleanly is a :class:`RoutingProblem` with its
cause, and the order is quarantined as a whole — a partially routed order would ship some lines from a guessed
place or strand the rest.

Lines routed to different facilities become separate sales orders, numbered deterministically from the Centra
order number and the facility, so a retried export can never create a second Deposco order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from lockstep.domain.model import Order, OrderLine, SalesOrder, SalesOrderLine

UNROUTABLE = "unroutable_order"
NOT_LIVE = "facility_not_live"


@dataclass(frozen=True)
class PoolRoute:
    """One stock pool as routing needs it: facilities in priority order with liveness, and overrides."""

    pool: str
    facilities: tuple[tuple[str, bool], ...]  # (facility code, is live)
    overrides: Mapping[str, str] = field(default_factory=dict)  # ship-to country -> facility code

    def is_live(self, code: str) -> bool:
        return any(live for facility, live in self.facilities if facility == code)


@dataclass(frozen=True)
class RoutingTable:
    """Centra warehouse (as named on allocations) -> pool route. Built from the brand topology."""

    by_warehouse: Mapping[str, PoolRoute]


@dataclass(frozen=True)
class RoutingProblem:
    cause: str  # unroutable_order | facility_not_live
    line_id: int | None
    pool: str | None
    detail: str


@dataclass(frozen=True)
class RoutedUnits:
    line_id: int
    sku: str
    quantity: int
    pool: str
    facility: str


@dataclass(frozen=True)
class RoutingResult:
    units: tuple[RoutedUnits, ...]
    problems: tuple[RoutingProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.units)

    @property
    def facilities(self) -> tuple[str, ...]:
        return tuple(sorted({u.facility for u in self.units}))


def sales_order_number(order_number: str, facility: str) -> str:
    """The warehouse order number for the part of Centra order ``order_number`` shipped by ``facility``.

    ``C<order>-<facility>``: deterministic, so a retried export looks up and finds the same order instead of
    creating a second one; the ``C`` marks orders that came from Centra among other channels'. Kept to 40
    characters (a hash replaces the middle of an unusually long one) so Deposco's line numbers
    ``<number>-<n>`` stay within its 55.
    """
    number = f"C{order_number}-{facility}"
    if len(number) <= 40:
        return number
    digest = hashlib.sha256(number.encode()).hexdigest()[:10]
    return f"C{order_number[:20]}~{digest}-{facility[:7]}"


Allowance = Mapping[tuple[str, str, str], int]  # (pool, facility, item) -> units the pool may still draw there
ANY_POOL = "*"  # (ANY_POOL, facility, item) in an Allowance: units there that no pool's open orders claim yet


def draw(allowance: dict[tuple[str, str, str], int], pool: str, facility: str, item: str, units: int) -> None:
    """Take ``units`` of a pool routed to a facility off a (mutable) allowance — the pool's share there and what
    no pool claims there — or, with negative ``units``, give them back. Keys the allowance does not hold stay
    out: routing keeps the configured order for them."""
    for key in ((pool, facility, item), (ANY_POOL, facility, item)):
        if key in allowance:
            allowance[key] -= units


def choose_facility(
    route: PoolRoute,
    country: str,
    *,
    item: str = "",
    units: int = 0,
    available: Allowance | None = None,
    held: int = 0,
) -> tuple[str | None, RoutingProblem | None]:
    """The facility for ``units`` of ``item`` from ``route``'s pool shipping to ``country``, when every live
    facility's allowance is known, in three steps:

    1. the override, else the first live facility, whose allowance covers the units with the pool's safety
       buffer (``held``) still left there;
    2. else, of those whose allowance covers the units, the one with the most units unclaimed (``ANY_POOL``);
    3. else (Centra sold on a stale figure), of those with unclaimed units enough, the one with the most;

    else, or with the allowance not known, the override or the first live facility.

    Why the buffer in step 1: Centra's figure subtracts it once, from the pool's total, so routing by the shares
    alone drew the pool's first facility to zero and left the buffer wherever it drew last. Another channel's
    order at the drained facility, landing before the next figure reached Centra, then left the pool's last sold
    unit short there (the peak sale's residual oversold units: uk orders open at GB-MKN with nothing on hand,
    GB-MKN 3 units and SE-STO 5, uk selling ⌊0.8·3⌋ + ⌊0.3·5⌋ - 1 = 2, both drawn from Milton Keynes). The units
    beyond step 1 are still the pool's own share (step 2: no other pool's units), sent where the most stock is
    left, which keeps the most slack for the orders other channels take there.

    An override is a preference (Irish orders from Stockholm: no duties), not a reason to oversell: the pool's
    Centra figure counts its share of every facility, so once its share of the override's facility is used up,
    the unit it sold can only come from another one. Sent to the override anyway, it would be short there (the
    peak sale's oversold units were exactly such orders)."""
    override = route.overrides.get(country.upper()) if country else None
    if override is not None and not route.is_live(override):
        return None, RoutingProblem(
            NOT_LIVE, None, route.pool, f"pool {route.pool} routes {country} to {override}, which is not live"
        )
    live = [code for code, is_live in route.facilities if is_live]
    known = available is not None and all((route.pool, code, item) in available for code in live)
    if live and known:  # only with every live facility's figure known: otherwise the configured order decides
        candidates = [override, *live] if override is not None else live

        def most_unclaimed(codes: list[str]) -> str:
            return max(codes, key=lambda code: available.get((ANY_POOL, code, item), 0))  # ties: configured order

        own = [code for code in candidates if available.get((route.pool, code, item), 0) >= units > 0]
        keeping_buffer = [code for code in own if available[(route.pool, code, item)] - max(0, held) >= units]
        if keeping_buffer:
            return keeping_buffer[0], None
        if own:
            return most_unclaimed(own), None
        unclaimed = [code for code in candidates if available.get((ANY_POOL, code, item), 0) >= units > 0]
        if unclaimed:  # the pool's shares are used up: where units are left that no pool's open orders claim
            return most_unclaimed(unclaimed), None
    if override is not None:
        return override, None
    if live:
        return live[0], None
    if not route.facilities:
        return None, RoutingProblem(UNROUTABLE, None, route.pool, f"pool {route.pool} has no facility mapped")
    names = ", ".join(code for code, _ in route.facilities)
    return None, RoutingProblem(NOT_LIVE, None, route.pool, f"pool {route.pool} has no live facility ({names})")


def route_order(
    order: Order,
    table: RoutingTable,
    *,
    available: Allowance | None = None,
    item_of: Callable[[OrderLine], str] | None = None,
    held: Callable[[str, str], int] | None = None,
) -> RoutingResult:
    """Route every allocated unit; ``available`` (keyed by ``item_of(line)``, default the SKU) lets a pool's
    orders reach the facility that still has the pool's share in stock, ``held(pool, item)`` is the pool's safety
    buffer (:func:`choose_facility`). Units routed to a facility count against its allowance for the order's
    later lines (the caller does the same across orders)."""
    left = dict(available) if available is not None else None
    units: list[RoutedUnits] = []
    problems: list[RoutingProblem] = []
    country = order.ship_to.country
    for line in order.lines:
        if line.quantity <= 0:
            continue  # fully cancelled: nothing to ship
        allocated = sum(a.quantity for a in line.allocations)
        if allocated != line.quantity:
            problems.append(
                RoutingProblem(
                    UNROUTABLE,
                    line.line_id,
                    None,
                    f"line {line.line_id} ({line.sku}): {allocated} of {line.quantity} units allocated to a warehouse",
                )
            )
            continue
        for allocation in line.allocations:
            route = table.by_warehouse.get(allocation.warehouse)
            if route is None:
                problems.append(
                    RoutingProblem(
                        UNROUTABLE,
                        line.line_id,
                        None,
                        f"line {line.line_id} ({line.sku}) is allocated in Centra warehouse "
                        f"{allocation.warehouse!r}, which no stock pool maps",
                    )
                )
                continue
            item = item_of(line) if item_of else line.sku
            buffer = held(route.pool, item) if held is not None and left is not None else 0
            facility, problem = choose_facility(
                route, country, item=item, units=allocation.quantity, available=left, held=buffer
            )
            if left is not None and facility is not None and problem is None:
                left[(route.pool, facility, item)] = left.get((route.pool, facility, item), 0) - allocation.quantity
                if (ANY_POOL, facility, item) in left:
                    left[(ANY_POOL, facility, item)] -= allocation.quantity
            if problem is not None:
                problems.append(
                    RoutingProblem(problem.cause, line.line_id, route.pool, f"line {line.line_id}: {problem.detail}")
                )
                continue
            units.append(RoutedUnits(line.line_id, line.sku, allocation.quantity, route.pool, facility))
    if not units and not problems:
        problems.append(RoutingProblem(UNROUTABLE, None, None, "order has no units to ship"))
    return RoutingResult(tuple(units), tuple(problems))


def sales_orders(order: Order, result: RoutingResult, item_number: Mapping[int, str]) -> tuple[SalesOrder, ...]:
    """One sales order per facility from a clean routing result. ``item_number``: line id -> Deposco item."""
    if not result.ok:
        raise ValueError("sales orders are only built from a routing result without problems")
    by_facility: dict[str, dict[int, int]] = {}
    for unit in result.units:
        lines = by_facility.setdefault(unit.facility, {})
        lines[unit.line_id] = lines.get(unit.line_id, 0) + unit.quantity
    prices = {line.line_id: line.unit_price for line in order.lines}
    built = []
    for facility in sorted(by_facility):
        lines = tuple(
            SalesOrderLine(
                line_number=index,
                item=item_number[line_id],
                quantity=quantity,
                customer_line_number=str(line_id),
                unit_price=prices.get(line_id),
            )
            for index, (line_id, quantity) in enumerate(sorted(by_facility[facility].items()), start=1)
        )
        built.append(
            SalesOrder(
                number=sales_order_number(order.number, facility),
                facility=facility,
                lines=lines,
                ship_to=order.ship_to,
                customer_order_number=order.number,
                order_date=order.created_at,
                currency=order.currency,
            )
        )
    return tuple(built)
