"""What to do with a Centra order, decided without I/O: wait, quarantine (with every reason) or export.

The flow feeds in the order, the brand's routing table and which of the order's items the warehouse does not
know; this module answers with the order's next state, the causes if it cannot go, and the routed units if it
can. Every cause carries the exception kind it raises, so 300 orders with one cause become one incident.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from lockstep.domain.carriers import UNMAPPED_SHIPPING_OPTION, CarrierDecision, CarrierTable, choose_carrier
from lockstep.domain.model import Address, Allocation, Order, OrderLine, OrderStatus, ShippingOption
from lockstep.domain.routing import Allowance, RoutedUnits, RoutingTable, route_order

UNKNOWN_SKU = "unknown_sku"
INVALID_ADDRESS = "invalid_address"
ORDER_REJECTED = "order_rejected"


@dataclass(frozen=True)
class Cause:
    kind: str  # an exception kind: unroutable_order | facility_not_live | unknown_sku | invalid_address | ...
    detail: str
    line_id: int | None = None
    pool: str | None = None
    sku: str | None = None
    facility: str | None = None
    shipping_option: str | None = None  # the Centra option's uri (or name) when the carrier is not covered

    @property
    def group(self) -> str:
        """The incident this cause belongs to: one per pool for routing, per SKU for items, per (facility,
        shipping option) for carriers, one for addresses."""
        if self.kind == UNKNOWN_SKU:
            return f"sku:{self.sku}"
        if self.kind == UNMAPPED_SHIPPING_OPTION:
            return f"shipping:{self.facility}:{self.shipping_option or '-'}"
        if self.pool:
            return f"pool:{self.pool}"
        return "all"


@dataclass(frozen=True)
class Evaluation:
    state: str  # waiting | quarantined | export | cancelled
    causes: tuple[Cause, ...] = ()
    units: tuple[RoutedUnits, ...] = ()


def item_key(line: OrderLine, sku_key: str) -> str:
    """The Deposco item number of a line: the brand's SKU key (full SKU, or EAN)."""
    return line.ean if sku_key == "ean" else line.sku


def address_problems(address: Address) -> list[str]:
    missing = [
        name
        for name, value in (
            ("name", address.full_name or address.company),
            ("address line 1", address.address1),
            ("city", address.city),
            ("country", address.country),
        )
        if not value.strip()
    ]
    return [f"ship-to address has no {name}" for name in missing]


def carrier_decisions(order: Order, facilities: Collection[str], carriers: CarrierTable) -> list[CarrierDecision]:
    """How each of the order's sales orders (one per facility) ships: ``domain.carriers`` per facility."""
    return [choose_carrier(carriers, order.shipping_option, f, order.ship_to.country) for f in sorted(facilities)]


def carrier_causes(order: Order, decisions: Collection[CarrierDecision]) -> list[Cause]:
    """A quarantine cause for every sales order whose carrier the mapping does not cover."""
    option = order.shipping_option.label if order.shipping_option else None
    return [
        Cause(UNMAPPED_SHIPPING_OPTION, d.why, facility=d.facility, shipping_option=option)
        for d in decisions
        if not d.ok
    ]


def evaluate(
    order: Order,
    table: RoutingTable,
    unknown_items: Collection[str],
    sku_key: str,
    available: Allowance | None = None,
    carriers: CarrierTable | None = None,
    held: Callable[[str, str], int] | None = None,
) -> Evaluation:
    """The next step for an order not yet exported. ``available``: what each pool may still draw per facility and
    item (``domain.routing``), when the stock flow knows it, and ``held(pool, item)`` its safety buffer;
    ``carriers``: the brand's carrier mapping (None or empty: Deposco chooses)."""
    if order.status == OrderStatus.CANCELLED:
        return Evaluation("cancelled")
    if not order.eligible_for_export:
        return Evaluation("waiting")
    routing = route_order(order, table, available=available, item_of=lambda line: item_key(line, sku_key), held=held)
    causes = [Cause(p.cause, p.detail, p.line_id, p.pool) for p in routing.problems]
    for line in order.lines:
        key = item_key(line, sku_key)
        if line.quantity > 0 and (not key or key in unknown_items):
            causes.append(
                Cause(
                    UNKNOWN_SKU,
                    f"line {line.line_id}: item {key or '(no ' + sku_key + ')'} is not in Deposco",
                    line.line_id,
                    sku=key or None,
                )
            )
    causes += [Cause(INVALID_ADDRESS, problem) for problem in address_problems(order.ship_to)]
    if carriers is not None:
        causes += carrier_causes(order, carrier_decisions(order, {u.facility for u in routing.units}, carriers))
    if causes:
        return Evaluation("quarantined", tuple(causes))
    return Evaluation("export", units=routing.units)


# --- snapshots: the order as stored, so release and export work from what was decided on -----------------


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def to_snapshot(order: Order) -> dict[str, Any]:
    return _plain(asdict(order))


def from_snapshot(data: dict[str, Any]) -> Order:
    def dt(value):
        return datetime.fromisoformat(value) if value else None

    def dec(value):
        return Decimal(value) if value is not None else None

    lines = tuple(
        OrderLine(
            **{
                **line,
                "unit_price": dec(line.get("unit_price")),
                "allocations": tuple(Allocation(**a) for a in line.get("allocations", ())),
            }
        )
        for line in data["lines"]
    )
    data = {k: value for k, value in data.items() if k != "shipping_method"}  # snapshots before shipping_option
    option = data.get("shipping_option")
    return Order(
        **{
            **data,
            "shipping_option": ShippingOption(**option) if option else None,
            "status": OrderStatus(data["status"]),
            "lines": lines,
            "ship_to": Address(**data["ship_to"]),
            "bill_to": Address(**data["bill_to"]),
            "shipping_cost": dec(data.get("shipping_cost")),
            "created_at": dt(data.get("created_at")),
            "updated_at": dt(data.get("updated_at")),
        }
    )
