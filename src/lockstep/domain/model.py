"""The domain's own words for what flows between the systems. Pure data: no I/O, no API field names.

Translation modules (``connectors/*/translate.py``) turn API payloads into these and back; flows, the stock
equation and routing only ever see these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    PROCESSING = "PROCESSING"
    SHIPPED = "SHIPPED"
    ARCHIVED = "ARCHIVED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class Address:
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    address1: str = ""
    address2: str = ""
    city: str = ""
    postal_code: str = ""
    region: str = ""
    country: str = ""  # ISO 3166-1 alpha-2
    email: str = ""
    phone: str = ""

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclass(frozen=True)
class Allocation:
    """Units of an order line reserved in one Centra warehouse (= stock pool)."""

    warehouse: str  # the warehouse's name in Centra (what a pool's ``centra_warehouse`` names)
    quantity: int
    warehouse_id: str = ""  # Centra's numeric warehouse id, for pools configured by id


@dataclass(frozen=True)
class OrderLine:
    line_id: int  # Centra's order line id: what shipments refer back to
    sku: str
    quantity: int  # current quantity, cancelled units excluded
    ean: str = ""
    cancelled_quantity: int = 0
    product_name: str = ""
    variant_name: str = ""
    size: str = ""
    unit_price: Decimal | None = None
    allocations: tuple[Allocation, ...] = ()


@dataclass(frozen=True)
class ShippingOption:
    """The shipping method the customer chose at checkout, as Centra names it (``uri`` is the stable key)."""

    option_id: str = ""
    name: str = ""
    uri: str = ""

    @property
    def label(self) -> str:
        """How people and incident keys refer to it: the uri, else the name."""
        return self.uri or self.name or self.option_id


@dataclass(frozen=True)
class CarrierService:
    """How the warehouse ships a sales order: Deposco's ship-via name, carrier (vendor) and service (method)."""

    ship_via: str = ""
    carrier: str = ""
    service: str = ""

    def __bool__(self) -> bool:
        return bool(self.ship_via or self.carrier or self.service)

    def __str__(self) -> str:
        if not self:
            return "(none: Deposco chooses)"
        return " / ".join(part or "-" for part in (self.ship_via, self.carrier, self.service))


@dataclass(frozen=True)
class Order:
    """A storefront order as Centra holds it."""

    order_id: str  # Centra's hash id
    number: str  # the number people see
    status: OrderStatus
    lines: tuple[OrderLine, ...]
    ship_to: Address = Address()
    bill_to: Address = Address()
    is_on_hold: bool = False
    is_waiting_for_payment: bool = False
    is_locked: bool = False
    hold_reason: str = ""  # why Centra holds it (e.g. WAITING_FOR_FRAUD_CHECK), for ops
    market: str = ""
    currency: str = ""
    shipping_option: ShippingOption | None = None  # None: Centra reported none
    shipping_cost: Decimal | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def eligible_for_export(self) -> bool:
        """DESIGN §3.2: confirmed, not on hold, not waiting for payment."""
        return self.status == OrderStatus.CONFIRMED and not self.is_on_hold and not self.is_waiting_for_payment


@dataclass(frozen=True)
class Warehouse:
    """A Centra warehouse (a stock pool as the storefront sees it)."""

    warehouse_id: str
    name: str


@dataclass(frozen=True)
class CentraStock:
    """Stock of one size in one Centra warehouse."""

    warehouse: str
    sku: str
    free_to_allocate: int
    physical: int | None = None  # expensive to read; None when not asked for
    allocated: int | None = None
    ean: str = ""


@dataclass(frozen=True)
class ProductSize:
    """One sellable size from Centra's catalogue: what becomes a Deposco item."""

    sku: str
    ean: str = ""
    product_number: str = ""
    product_name: str = ""
    variant_name: str = ""
    size: str = ""
    is_active: bool = True
    country_of_origin: str = ""
    hs_code: str = ""
    weight_kg: Decimal | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Item:
    """A Deposco item (the warehouse's item master row)."""

    number: str  # the brand's SKU key: full SKU or EAN
    description: str = ""
    upc: str = ""
    style: str = ""
    colour: str = ""
    size: str = ""
    weight_kg: Decimal | None = None
    country_of_origin: str = ""
    hs_code: str = ""
    active: bool = True


@dataclass(frozen=True)
class SalesOrderLine:
    line_number: int
    item: str  # Deposco item number
    quantity: int
    customer_line_number: str = ""  # the Centra order line id, to map shipments back
    unit_price: Decimal | None = None
    # As Deposco reports them (read back from Deposco; empty/zero on what Lockstep sends):
    line_id: str = ""  # Deposco's id of the line (cancellations refer to it)
    cancelled_quantity: int = 0
    shipped_quantity: int = 0
    status: str = ""

    @property
    def open_quantity(self) -> int:
        """Units Deposco still holds open for this line (ordered, not cancelled, not shipped)."""
        return max(0, self.quantity - self.cancelled_quantity - self.shipped_quantity)


@dataclass(frozen=True)
class SalesOrder:
    """What Lockstep sends Deposco: one per (Centra order, facility)."""

    number: str  # deterministic from the Centra order number and facility: a retry can never duplicate
    facility: str
    lines: tuple[SalesOrderLine, ...]
    ship_to: Address = Address()
    customer_order_number: str = ""  # the Centra order number
    order_date: datetime | None = None
    carrier_service: CarrierService = CarrierService()  # empty: Deposco chooses (brand without a carrier mapping)
    currency: str = ""
    status: str = ""  # as Deposco reports it (New, Released, Picking, Ship Complete, Cancelled, ...)
    order_id: str = ""  # Deposco's id of the sales order (status, cancellations and lines refer to it)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ShipmentLine:
    customer_line_number: str  # the Centra order line id carried through the sales order
    item: str
    quantity: int


@dataclass(frozen=True)
class WarehouseShipment:
    """An outbound shipment as Deposco reports it."""

    shipment_id: str
    number: str
    sales_order_number: str
    facility: str
    lines: tuple[ShipmentLine, ...] = ()
    carrier: str = ""
    service: str = ""
    tracking_numbers: tuple[str, ...] = ()
    packages: int = 0
    shipped_at: datetime | None = None
    updated_at: datetime | None = None
    status: str = ""
    sales_order_id: str = ""  # Deposco's id of the sales order, to read its customer order number
    tracking_url: str = ""  # full URL of the first parcel (Deposco gives a base URL + the tracking number)

    @property
    def shipped_units(self) -> int:
        return sum(line.quantity for line in self.lines)


@dataclass(frozen=True)
class StockReading:
    """Deposco availability of one item in one facility at a moment."""

    facility: str
    item: str
    on_hand: int
    atp: int
    as_of: datetime | None = None
    open_order_quantity: int | None = None  # units on open order lines, when the tenant reports it


@dataclass(frozen=True)
class StockAdjustment:
    """One record of Deposco's adjustment feed: a signed on-hand change (or a status change) of an item in a
    facility. A hint, not a reading: what the item's availability is now takes a read of its own."""

    adjustment_id: int
    facility: str
    item: str
    quantity: int
    action: str = "Adjustment"  # Adjustment | Status Change
    status: str = ""  # Available | Blocked | ...
    reason: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class CentraShipment:
    """A shipment in Centra (what Lockstep creates from a warehouse shipment)."""

    shipment_id: int
    number: str
    order_number: str
    external_id: str = ""
    # The warehouse shipment it was made for: its externalId, else the one its message names (Lockstep puts
    # the number there on create, which costs no mutation of its own). Empty: made by someone else.
    tag: str = ""
    message: str = ""
    is_good_to_go: bool = False
    is_paid: bool = False
    is_captured: bool = False
    is_shipped: bool = False
    tracking_number: str = ""
    lines: tuple[tuple[int, int], ...] = field(default=())  # (order line id, quantity)
    units: int = 0  # all units in the shipment, also those of lines whose order line was not reported
    carrier: str = ""
    service: str = ""
    packages: int = 0
    shipped_at: datetime | None = None


@dataclass(frozen=True)
class Change:
    """What a translation did to make a value fit the other system (truncated, characters removed, ...)."""

    field: str
    reason: str
    before: str
    after: str
