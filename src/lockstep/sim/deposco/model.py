"""Plain records of what the simulated warehouse holds: items, facilities, sales orders, shipments, stock.

Records keep only simulator facts (ids, numbers, quantities, timestamps as epoch seconds) plus the client's
accepted writable fields in ``fields``; the Deposco JSON shape is produced elsewhere (:mod:`.dto`). Every
record is a dataclass of JSON-friendly values so a snapshot is just :func:`dataclasses.asdict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Order statuses in which the order still holds demand against stock (Deposco ATP nets out every open status).
CLOSED_ORDER_STATUSES = frozenset({"Ship Complete", "Canceled"})


@dataclass
class Pack:
    id: int
    type: str
    quantity: int
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class Item:
    id: int
    number: str
    business_unit: str
    created: float
    updated: float
    packs: list[Pack] = field(default_factory=list)
    upcs: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class Facility:
    id: int
    number: str
    business_unit: str
    created: float
    updated: float
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class OrderLine:
    id: int
    line_number: str
    item_id: int
    item_number: str
    pack_id: int
    pack_quantity: int
    order_pack_quantity: float
    created: float
    updated: float
    customer_line_number: str | None = None
    status: str = "New"
    canceled: float = 0
    picked: float = 0
    shipped: float = 0
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def remaining(self) -> float:
        """Packs still to ship: ordered minus shipped minus canceled."""
        return max(0.0, self.order_pack_quantity - self.shipped - self.canceled)

    @property
    def remaining_units(self) -> float:
        return self.remaining * self.pack_quantity


@dataclass
class SalesOrder:
    id: int
    number: str
    business_unit: str
    status: str
    facility: str | None
    created: float
    updated: float
    status_since: float
    lines: list[OrderLine] = field(default_factory=list)
    shipment_ids: list[int] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    short_units: float = 0
    channel: str = "api"

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED_ORDER_STATUSES


@dataclass
class ShipmentLine:
    id: int
    number: str
    order_line_id: int
    item_id: int
    item_number: str
    pack_id: int
    pack_quantity: int
    order_pack_quantity: float
    shipped_pack_quantity: float
    created: float
    customer_line_number: str | None = None


@dataclass
class Container:
    id: int
    number: str
    lpn_number: str
    tracking_number: str | None
    weight_kg: float
    created: float
    lines: list[tuple[int, float]] = field(default_factory=list)  # (shipment line id, packs in this parcel)


@dataclass
class Shipment:
    id: int
    number: str
    business_unit: str
    status: str
    order_id: int
    facility: str | None
    created: float
    updated: float
    ship_via: str | None
    ship_vendor: str | None
    ship_method: str | None
    tracking_number: str | None
    tracking_url: str | None
    actual_ship_date: float | None
    lines: list[ShipmentLine] = field(default_factory=list)
    containers: list[Container] = field(default_factory=list)


@dataclass
class Adjustment:
    id: int
    facility: str
    item_number: str
    quantity: float
    reason_code: str
    created: float
    kind: str = "Adjustment"  # Adjustment | Receipt | Shipment


@dataclass
class StockCell:
    """On-hand units of one item in one facility, and when it last changed (for V1 ``startActivityTime``)."""

    on_hand: float = 0
    activity: float = 0
