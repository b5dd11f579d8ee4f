"""The simulated Centra's domain records: plain dataclasses, no GraphQL and no HTTP.

Field names are Pythonic; the GraphQL layer (``resolvers/``) maps them to Centra's names. Everything is
JSON-serialisable through :func:`dataclasses.asdict` so the whole state can be snapshotted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

DTC = "DIRECT_TO_CONSUMER"


class UserError(Exception):
    """A business-rule failure reported in a mutation payload's ``userErrors``: nothing was changed."""

    def __init__(self, message: str, path: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path or []


@dataclass
class Store:
    id: int
    name: str
    type: str = DTC


@dataclass
class Warehouse:
    id: int
    name: str
    status: str = "ACTIVE"


@dataclass
class AllocationRule:
    """A market's ordered list of warehouses: allocation tries them in this (priority) order."""

    id: int
    name: str
    warehouse_ids: list[int] = field(default_factory=list)
    status: str = "ACTIVE"


@dataclass
class Market:
    id: int
    name: str
    store_id: int
    allocation_rule_id: int | None
    country_codes: list[str] = field(default_factory=list)
    currency: str = "EUR"


@dataclass
class Product:
    id: int
    product_number: str
    name: str
    status: str
    created_at: datetime
    updated_at: datetime
    harmonized_code: str | None = None
    harmonized_description: str | None = None
    internal_comment: str | None = None


@dataclass
class Variant:
    id: int
    product_id: int
    variant_number: str
    name: str
    status: str
    created_at: datetime
    updated_at: datetime
    internal_name: str | None = None
    unit_cost: float = 0.0
    price: float = 0.0


@dataclass
class Size:
    """A product size: the physical item with its SKU (product + variant + size number) and EAN."""

    id: int
    variant_id: int
    description: str
    size_number: str
    sku: str
    ean: str
    created_at: datetime
    updated_at: datetime
    is_active: bool = True
    preorder: bool = False


@dataclass
class StockLevel:
    """Stock of one size in one warehouse. FTA (free to allocate) = physical - allocated."""

    physical: int = 0
    allocated: int = 0

    @property
    def free_to_allocate(self) -> int:
        return self.physical - self.allocated


@dataclass
class Address:
    first_name: str | None = None
    last_name: str | None = None
    company_name: str | None = None
    attention: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    zip_code: str | None = None
    state_or_province: str | None = None
    country_code: str | None = None
    email: str | None = None
    phone_number: str | None = None
    cell_phone_number: str | None = None
    fax_number: str | None = None
    vat_number: str | None = None


@dataclass
class Customer:
    id: int
    email: str | None
    first_name: str | None
    last_name: str | None


@dataclass
class Allocation:
    """Units of one order line reserved in one warehouse. ``shipped`` of them left with completed
    shipments."""

    id: int
    warehouse_id: int
    quantity: int
    shipped: int = 0

    @property
    def open(self) -> int:
        return self.quantity - self.shipped


@dataclass
class OrderLine:
    id: int
    size_id: int
    quantity: int  # current quantity, excluding cancelled units (Centra's semantics)
    unit_price: float
    currency: str = "EUR"
    tax_percent: float = 25.0
    cancelled_quantity: int = 0
    comment: str | None = None
    allocations: list[Allocation] = field(default_factory=list)


@dataclass
class PaymentEntry:
    id: int
    created_at: datetime
    entry_type: str  # AUTHORIZATION | CAPTURE | CAPTURE_REQUEST | CANCEL
    status: str  # SUCCESS | FAILED | PENDING
    value: float
    payment_method: str = "sim-psp"
    external_reference: str | None = None
    shipment_id: int | None = None


@dataclass
class Order:
    id: str  # Centra order ids are hash strings; ``number`` is what people see
    number: int
    status: str
    store_id: int
    market_id: int
    currency: str
    created_at: datetime
    updated_at: datetime
    customer: Customer
    shipping_address: Address
    billing_address: Address
    lines: list[OrderLine] = field(default_factory=list)
    is_on_hold: bool = False
    hold_reason: str | None = None
    is_waiting_for_payment: bool = False
    is_locked: bool = False
    external_id: str | None = None
    shipping_cost: float = 0.0
    shipping_option: str | None = "standard"  # the uri of the shopper's shipping option (refdata); None: none
    internal_comment: str | None = None
    payments: list[PaymentEntry] = field(default_factory=list)
    history: list[str] = field(default_factory=list)


@dataclass
class ShipmentPick:
    """Units of a shipment line taken from one warehouse's allocation (decremented there on completion)."""

    warehouse_id: int
    allocation_id: int
    quantity: int


@dataclass
class ShipmentLine:
    id: int
    order_line_id: int
    quantity: int
    picks: list[ShipmentPick] = field(default_factory=list)


@dataclass
class Shipment:
    id: int
    number: str  # "<order number>-<sequence>"
    order_number: int
    created_at: datetime
    updated_at: datetime
    lines: list[ShipmentLine] = field(default_factory=list)
    is_good_to_go: bool = False
    is_paid: bool = False
    paid_at: datetime | None = None
    is_captured: bool = False
    captured_at: datetime | None = None
    is_shipped: bool = False
    shipped_at: datetime | None = None
    additional_message: str | None = None
    tracking_number: str | None = None
    return_tracking_number: str | None = None
    number_of_packages: int = 0
    carrier: str | None = None
    service: str | None = None
    internal_shipping_cost: float = 0.0
    send_email: bool = False
    email_sent: bool = False
    external_id: str | None = None


@dataclass
class StockChange:
    """A record of one stock write (``setStock`` creates one per warehouse, ``changeStock`` one)."""

    id: int
    warehouse_id: int
    description: str
    created_at: datetime
    lines: list[tuple[int, int]] = field(default_factory=list)  # (size id, quantity written or delta)
