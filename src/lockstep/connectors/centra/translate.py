"""Centra payloads <-> domain objects. The ONLY module that knows Centra's field names (DESIGN §5).

Reading is defensive because Centra's answers vary in practice: fields come back ``null``, a single object
arrives where a list was expected, interface types differ between DTC and wholesale, dates come with or without
a zone and in ``+0100`` or ``+01:00`` form. Descriptive fields (names, dates, prices) degrade to empty values;
identity and quantity fields (order number, line id, quantities) are required, and a payload without them is a
:class:`Permanent` error with a clear message, because guessing them could ship or sell the wrong thing.
No ``KeyError``/``TypeError`` ever escapes: every public reader is wrapped by :func:`_guarded`.

Writing produces the GraphQL *variables* of the named documents in :mod:`.queries`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, Literal, ParamSpec, TypeVar
from urllib.parse import parse_qs

from lockstep.connectors.errors import Permanent, UserError, Warnings, describe
from lockstep.domain.model import (
    Address,
    Allocation,
    CentraShipment,
    CentraStock,
    Order,
    OrderLine,
    OrderStatus,
    ProductSize,
    ShippingOption,
    Warehouse,
    WarehouseShipment,
)

T = TypeVar("T")
P = ParamSpec("P")
SkuKey = Literal["sku", "ean"]

# --- result types the client returns ----------------------------------------------------------------------


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a Relay connection: the items, whether more follow, and the cursor to continue after."""

    items: list[T]
    has_next: bool
    cursor: str | None


@dataclass(frozen=True)
class Result(Generic[T]):
    """A mutation's outcome plus Centra's non-fatal ``userWarnings`` (log them; a capture warning matters)."""

    value: T
    warnings: Warnings = field(default_factory=Warnings)


@dataclass(frozen=True)
class Capture:
    """``captureShipment``: the shipment after the call and the payment entry's status.

    ``status`` is ``SUCCESS``, ``FAILED`` or ``PENDING`` (Adyen/Klarna settle days later), ``""`` if not reported.
    """

    shipment: CentraShipment
    status: str = ""

    @property
    def pending(self) -> bool:
        return self.status == "PENDING"


@dataclass(frozen=True)
class CentraEvent:
    """One entry of the events queue. ``reference`` is the order *number* for orders, else the object's id."""

    event_id: int
    object_type: str
    change_type: str
    reference: str
    created_at: datetime | None = None

    @property
    def is_order(self) -> bool:
        return self.object_type == "Order"

    @property
    def is_shipment(self) -> bool:
        return self.object_type == "Shipment"

    @property
    def deleted(self) -> bool:
        return self.change_type == "DELETED"


@dataclass(frozen=True)
class RateLimit:
    """One bucket as ``rateLimits`` reports it: ``kind`` is requests | mutations | complexity."""

    kind: str
    window_seconds: float
    quota: int
    used: int
    remaining: int


@dataclass(frozen=True)
class StockWrite:
    """What ``set_stock`` did: mutations sent, rows written, rows Centra refused (key, reason), warnings."""

    mutations: int = 0
    written: int = 0
    rejected: tuple[tuple[str, str], ...] = ()
    warnings: Warnings = field(default_factory=Warnings)


# --- defensive readers --------------------------------------------------------------------------------------


def _guarded(what: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Turn any slip on a malformed payload into a ``Permanent`` naming the object, never a bare exception."""

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return fn(*args, **kwargs)
            except Permanent:
                raise
            except (KeyError, TypeError, ValueError, AttributeError, IndexError, InvalidOperation) as exc:
                raise Permanent(f"malformed Centra {what}: {type(exc).__name__}: {describe(str(exc), 200)}") from None

        return wrapper

    return decorate


def _malformed(what: str, value: Any) -> Permanent:
    return Permanent(f"malformed Centra {what}: {describe(value, 200)}")


def mapping(value: Any, what: str, *, required: bool = True) -> dict[str, Any]:
    """An object; ``null`` is ``{}`` unless the object is required."""
    if isinstance(value, dict):
        return value
    if value is None and not required:
        return {}
    raise _malformed(f"{what} (expected an object)", value)


def items(value: Any, what: str) -> list[Any]:
    """A list; ``null`` is empty and a single object where a list belongs is a list of one."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value]
    raise _malformed(f"{what} (expected a list)", value)


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _int(value: Any, what: str, *, default: int | None = None) -> int:
    """An integer (also from an integral float or a numeric string); required unless a default is given."""
    if isinstance(value, bool):
        raise _malformed(what, value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    if value is None and default is not None:
        return default
    raise _malformed(f"{what} (expected an integer)", value)


def _bool(value: Any, what: str, *, default: bool = False) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return default
    raise _malformed(f"{what} (expected true/false)", value)


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def parse_datetime(value: Any) -> datetime | None:
    """Centra ``DateTimeTz`` (``2022-06-23T15:47:12+02:00``, ``...+0200``, ``2022-06-23 15:47:12``); no zone = UTC.

    An unreadable date is ``None`` rather than an error: dates here are descriptive, never identity.
    """
    text = _text(value)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _money(value: Any) -> tuple[Decimal | None, str]:
    money = mapping(value, "money", required=False)
    currency = mapping(money.get("currency"), "currency", required=False)
    return _decimal(money.get("value")), _text(currency.get("code"))


# --- errors and payload issues ------------------------------------------------------------------------------


def _path(value: Any) -> str | None:
    """GraphQL paths are lists (``["input", "productSizes", 3]``); kept as dotted text."""
    if isinstance(value, str):
        return value or None
    return ".".join(str(p) for p in items(value, "path") if p is not None) or None


def issues(value: Any) -> list[UserError]:
    """``userErrors`` / ``userWarnings`` / top-level ``errors`` as ``UserError(message, path)``."""
    found: list[UserError] = []
    for entry in items(value, "errors"):
        if isinstance(entry, dict):
            found.append(UserError(_text(entry.get("message")) or "(no message)", _path(entry.get("path"))))
        elif entry is not None:
            found.append(UserError(_text(entry) or "(no message)"))
    return found


def error_categories(value: Any) -> set[str]:
    """The ``extensions.category`` values of top-level errors (``authorization``, ``internal``, ...)."""
    categories = set()
    for entry in items(value, "errors"):
        if isinstance(entry, dict) and isinstance(entry.get("extensions"), dict):
            categories.add(_text(entry["extensions"].get("category")).lower())
    return categories


def check_payload(payload: Any, operation: str) -> Warnings:
    """A mutation payload: ``userErrors`` -> ``Permanent`` (nothing was changed), else its ``userWarnings``."""
    body = mapping(payload, f"{operation} payload")
    errors = issues(body.get("userErrors"))
    if errors:
        summary = "; ".join(e.message + (f" ({e.path})" if e.path else "") for e in errors)
        raise Permanent(f"Centra refused {operation}: {summary}", user_errors=errors)
    return Warnings(issues(body.get("userWarnings")))


# --- orders -------------------------------------------------------------------------------------------------


@_guarded("address")
def address(value: Any, *, fallback_email: str = "") -> Address:
    node = mapping(value, "address", required=False)
    country = mapping(node.get("country"), "country", required=False)
    state = mapping(node.get("state"), "state", required=False)
    return Address(
        first_name=_text(node.get("firstName")),
        last_name=_text(node.get("lastName")),
        company=_text(node.get("companyName")),
        address1=_text(node.get("address1")),
        address2=_text(node.get("address2")),
        city=_text(node.get("city")),
        postal_code=_text(node.get("zipCode")),
        region=_text(node.get("stateOrProvince")) or _text(state.get("code")) or _text(state.get("name")),
        country=_text(country.get("code")).upper(),
        email=_text(node.get("email")) or fallback_email,
        phone=_text(node.get("phoneNumber")) or _text(node.get("cellPhoneNumber")),
    )


@_guarded("allocation")
def allocation(value: Any) -> Allocation:
    node = mapping(value, "allocation")
    warehouse = mapping(node.get("warehouse"), "allocation warehouse")
    name, warehouse_id = _text(warehouse.get("name")), _text(warehouse.get("id"))
    if not name and not warehouse_id:
        raise _malformed("allocation without a warehouse", node)
    return Allocation(
        warehouse=name or warehouse_id,
        quantity=_int(node.get("quantity"), "allocation quantity"),
        warehouse_id=warehouse_id,
    )


@_guarded("order line")
def order_line(value: Any) -> OrderLine:
    node = mapping(value, "order line")
    size = mapping(node.get("productSize"), "productSize", required=False)
    product = mapping(node.get("product"), "product", required=False)
    price, _currency = _money(node.get("unitPrice"))
    return OrderLine(
        line_id=_int(node.get("id"), "order line id"),
        sku=_text(size.get("SKU")),
        quantity=_int(node.get("quantity"), "order line quantity"),
        ean=_text(size.get("EAN")) or _text(size.get("GTIN")),
        cancelled_quantity=_int(node.get("cancelledQuantity"), "cancelledQuantity", default=0),
        product_name=_text(node.get("productName")) or _text(product.get("name")),
        variant_name=_text(node.get("productVariantName")),
        size=_text(node.get("size")) or _text(size.get("description")),
        unit_price=price,
        allocations=tuple(allocation(a) for a in items(node.get("allocations"), "allocations")),
    )


@_guarded("shipping option")
def shipping_option(value: Any) -> ShippingOption | None:
    """``shippingPriceGroup { shippingOption { id name uri } }``; None when the order has none."""
    group = mapping(value, "shippingPriceGroup", required=False)
    node = mapping(group.get("shippingOption"), "shippingOption", required=False)
    option = ShippingOption(option_id=_text(node.get("id")), name=_text(node.get("name")), uri=_text(node.get("uri")))
    return option if option.label else None


def _status(value: Any) -> OrderStatus:
    try:
        return OrderStatus(_text(value).upper())
    except ValueError:
        raise _malformed("order status", value) from None


@_guarded("order")
def order(value: Any) -> Order:
    """An ``Order`` node (DTC or wholesale). Number and status are required; the rest may be missing."""
    node = mapping(value, "order")
    number = _int(node.get("number"), "order number")
    customer = mapping(node.get("customer"), "customer", required=False)
    email = _text(customer.get("email"))
    market = mapping(node.get("market"), "market", required=False)
    totals = mapping(node.get("totals"), "totals", required=False)
    shipping_cost, shipping_currency = _money(totals.get("shipping"))
    _total, currency = _money(totals.get("grandTotal") or node.get("grandTotal"))
    lines = tuple(order_line(line) for line in items(node.get("lines"), "order lines"))
    if not currency:
        currency = next((c for line in items(node.get("lines"), "lines") if (c := _line_currency(line))), "")
    is_on_hold = _bool(node.get("isOnHold"), "isOnHold")
    return Order(
        order_id=_text(node.get("id")),
        number=str(number),
        status=_status(node.get("status")),
        lines=lines,
        ship_to=address(node.get("shippingAddress"), fallback_email=email),
        bill_to=address(node.get("billingAddress"), fallback_email=email),
        is_on_hold=is_on_hold,
        is_waiting_for_payment=_bool(node.get("isWaitingForPayment"), "isWaitingForPayment"),
        is_locked=_bool(node.get("isLocked"), "isLocked"),
        hold_reason=_text(node.get("orderHoldReason")) if is_on_hold else "",
        market=_text(market.get("name")) or _text(market.get("id")),
        currency=currency or shipping_currency,
        shipping_option=shipping_option(node.get("shippingPriceGroup")),
        shipping_cost=shipping_cost,
        created_at=parse_datetime(node.get("createdAt")) or parse_datetime(node.get("orderDate")),
        updated_at=parse_datetime(node.get("updatedAt")),
    )


def _line_currency(line: Any) -> str:
    node = line if isinstance(line, dict) else {}
    return _money(node.get("unitPrice"))[1]


def orders(value: Any) -> list[Order]:
    return [order(node) for node in items(value, "orders")]


@_guarded("page")
def _page(value: Any, what: str, read: Callable[[Any], T]) -> Page[T]:
    connection = mapping(value, what)
    info = mapping(connection.get("pageInfo"), f"{what} pageInfo", required=False)
    nodes = [mapping(edge, f"{what} edge").get("node") for edge in items(connection.get("edges"), f"{what} edges")]
    has_next = _bool(info.get("hasNextPage"), "hasNextPage")
    cursor = _text(info.get("endCursor")) or None
    if has_next and cursor is None:
        raise _malformed(f"{what}: hasNextPage without endCursor", info)
    return Page([read(node) for node in nodes], has_next, cursor)


def order_page(value: Any) -> Page[Order]:
    """One ``orderConnection`` page."""
    return _page(value, "orderConnection", order)


# --- shipments ----------------------------------------------------------------------------------------------


@_guarded("shipment")
def shipment(value: Any) -> CentraShipment:
    """A ``Shipment`` node. Its order number comes from ``order{number}``, else from ``"<order>-<seq>"``."""
    node = mapping(value, "shipment")
    number = _text(node.get("number"))
    parent = mapping(node.get("order"), "shipment order", required=False)
    order_number = _text(parent.get("number")) or (number.rpartition("-")[0] if "-" in number else "")
    carrier = mapping(node.get("carrierInformation"), "carrierInformation", required=False)
    lines: list[tuple[int, int]] = []
    units = 0
    for raw in items(node.get("lines"), "shipment lines"):
        line = mapping(raw, "shipment line")
        quantity = _int(line.get("quantity"), "shipment line quantity")
        units += quantity
        order_line_id = mapping(line.get("orderLine"), "orderLine", required=False).get("id")
        if order_line_id is not None:
            lines.append((_int(order_line_id, "shipment orderLine id"), quantity))
    external_id = _text(node.get("externalId"))
    message = _text(node.get("additionalMessage"))
    return CentraShipment(
        shipment_id=_int(node.get("id"), "shipment id"),
        number=number,
        order_number=order_number,
        external_id=external_id,
        tag=external_id or tag_in_message(message),
        message=message,
        is_good_to_go=_bool(node.get("isGoodToGo"), "isGoodToGo"),
        is_paid=_bool(node.get("isPaid"), "isPaid"),
        is_captured=_bool(node.get("isCaptured"), "isCaptured"),
        is_shipped=_bool(node.get("isShipped"), "isShipped"),
        tracking_number=_text(node.get("trackingNumber")),
        lines=tuple(lines),
        units=units,
        carrier=_text(carrier.get("carrierName")),
        service=_text(carrier.get("serviceName")),
        packages=_int(node.get("numberOfPackages"), "numberOfPackages", default=0),
        shipped_at=parse_datetime(node.get("shippedAt")),
    )


def shipments(value: Any) -> list[CentraShipment]:
    return [shipment(node) for node in items(value, "shipments")]


@_guarded("capture")
def capture(payload: Any) -> Capture:
    body = mapping(payload, "captureShipment payload")
    entry = mapping(body.get("paymentHistoryEntry"), "paymentHistoryEntry", required=False)
    return Capture(shipment(body.get("shipment")), _text(entry.get("status")).upper())


# --- stock, catalogue, warehouses -----------------------------------------------------------------------------


@_guarded("warehouse")
def warehouse(value: Any) -> Warehouse:
    node = mapping(value, "warehouse")
    return Warehouse(warehouse_id=str(_int(node.get("id"), "warehouse id")), name=_text(node.get("name")))


def warehouses(value: Any) -> list[Warehouse]:
    return [warehouse(node) for node in items(value, "warehouses")]


@_guarded("stock")
def stock_rows(value: Any) -> list[CentraStock]:
    """``warehouse { name stock { productSize{SKU EAN} freeToAllocateQuantity allocatedQuantity? } }``.

    Physical is FTA + allocated (centra.md §8), so it is known only when ``allocatedQuantity`` was asked for.
    """
    node = mapping(value, "warehouse stock")
    name = _text(node.get("name")) or _text(node.get("id"))
    rows = []
    for raw in items(node.get("stock"), "stock"):
        row = mapping(raw, "stock row")
        size = mapping(row.get("productSize"), "stock productSize")
        free = _int(row.get("freeToAllocateQuantity"), "freeToAllocateQuantity")
        allocated = row.get("allocatedQuantity")
        allocated = None if allocated is None else _int(allocated, "allocatedQuantity")
        rows.append(
            CentraStock(
                warehouse=name,
                sku=_text(size.get("SKU")),
                free_to_allocate=free,
                physical=None if allocated is None else free + allocated,
                allocated=allocated,
                ean=_text(size.get("EAN")) or _text(size.get("GTIN")),
            )
        )
    return rows


@_guarded("product size")
def product_size(value: Any, *, product: Any = None, variant: Any = None) -> ProductSize:
    """A ``ProductSize`` node; ``product``/``variant`` come from the node itself or from its parents."""
    node = mapping(value, "product size")
    prod = mapping(node.get("product") or product, "product", required=False)
    var = mapping(node.get("productVariant") or variant, "productVariant", required=False)
    sku = _text(node.get("SKU"))
    ean = _text(node.get("EAN")) or _text(node.get("GTIN"))
    if not sku and not ean:
        raise _malformed("product size without SKU or EAN", node)
    active = _bool(node.get("isActive"), "isActive", default=True)
    for status in (prod.get("status"), var.get("status")):
        if status is not None and _text(status).upper() != "ACTIVE":
            active = False
    return ProductSize(
        sku=sku,
        ean=ean,
        product_number=_text(prod.get("productNumber")),
        product_name=_text(prod.get("name")),
        variant_name=_text(var.get("name")),
        size=_text(node.get("description")) or _text(node.get("sizeNumber")),
        is_active=active,
        hs_code=_text(prod.get("harmonizedCommodityCode")),
        updated_at=parse_datetime(node.get("updatedAt")),
    )


def product_size_page(value: Any) -> Page[ProductSize]:
    """One ``productSizeConnection`` page."""
    return _page(value, "productSizeConnection", product_size)


@_guarded("products")
def product_sizes_from_products(value: Any) -> list[ProductSize]:
    """Flatten a ``products { variants { productSizes } }`` listing into sizes (the PIM guide's shape)."""
    sizes = []
    for raw_product in items(value, "products"):
        prod = mapping(raw_product, "product")
        for raw_variant in items(prod.get("variants"), "variants"):
            var = mapping(raw_variant, "variant")
            for raw_size in items(var.get("productSizes"), "productSizes"):
                sizes.append(product_size(raw_size, product=prod, variant=var))
    return sizes


# --- events and rate limits ---------------------------------------------------------------------------------


@_guarded("event")
def event(value: Any) -> CentraEvent:
    node = mapping(value, "event")
    object_type = _text(node.get("objectType"))
    change_type = _text(node.get("changeType")).upper()
    if not object_type or not change_type:
        raise _malformed("event without objectType/changeType", node)
    return CentraEvent(
        event_id=_int(node.get("id"), "event id"),
        object_type=object_type,
        change_type=change_type,
        reference=str(_int(node.get("objectReference"), "event objectReference")),
        created_at=parse_datetime(node.get("createdAt")),
    )


def events(value: Any) -> list[CentraEvent]:
    return [event(node) for node in items(value, "events")]


_LIMIT_KINDS = {"REQUEST_COUNT": "requests", "MUTATION_COUNT": "mutations", "QUERY_COMPLEXITY": "complexity"}
_INTERVALS = {"TEN_SECONDS": 10.0, "ONE_HOUR": 3600.0}


@_guarded("rateLimits")
def rate_limits(value: Any) -> list[RateLimit]:
    """Buckets of known type and interval; unknown ones (Centra may add some) are skipped, not fatal."""
    limits = []
    for raw in items(value, "rateLimits"):
        node = mapping(raw, "rate limit")
        kind = _LIMIT_KINDS.get(_text(node.get("type")).upper())
        window = _INTERVALS.get(_text(node.get("intervalSeconds")).upper())
        if kind is None or window is None:
            continue
        quota = _int(node.get("quota"), "quota")
        used = _int(node.get("usedQuota"), "usedQuota", default=0)
        remaining = _int(node.get("remainingQuota"), "remainingQuota", default=max(0, quota - used))
        limits.append(RateLimit(kind, window, quota, used, remaining))
    return limits


# --- domain -> inputs ---------------------------------------------------------------------------------------


def datetime_input(moment: datetime) -> str:
    """``DateTimeTz`` input: ISO 8601 with the zone (a naive time is taken as UTC)."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="seconds")


def order_number_input(number: str | int) -> int:
    """Centra's order number is an ``Int``; the domain keeps it as text."""
    try:
        return _int(number, "order number")
    except Permanent:
        raise Permanent(f"not a Centra order number: {number!r}") from None


def order_filter(
    statuses: Iterable[OrderStatus | str] | None = None,
    updated_after: datetime | None = None,
    updated_before: datetime | None = None,
) -> dict[str, Any] | None:
    """``OrderFilter`` for a (re-)fetch: statuses and an ``updatedAt`` window."""
    where: dict[str, Any] = {}
    if statuses:
        where["status"] = [OrderStatus(s).value for s in statuses]
    window = {}
    if updated_after is not None:
        window["from"] = datetime_input(updated_after)
    if updated_before is not None:
        window["to"] = datetime_input(updated_before)
    if window:
        where["updatedAt"] = window
    return where or None


def lock_variables(numbers: Iterable[str | int], locked: bool) -> dict[str, Any]:
    return {"orders": [{"number": order_number_input(n)} for n in numbers], "isLocked": locked}


def create_shipment_input(
    order_number: str | int,
    lines: Sequence[tuple[int, int]],
    *,
    capture: bool = True,
    good_to_go: bool = True,
    send_email: bool = False,
    tag: str = "",
) -> dict[str, Any]:
    """``ShipmentCreateInput``: lines are (Centra order line id, quantity), merged per line, zeros dropped.

    ``tag`` (the Deposco shipment number) goes into ``additionalMessage`` (see :func:`shipment_tag_message`).
    """
    merged: dict[int, int] = {}
    for line_id, quantity in lines:
        if quantity < 0:
            raise Permanent(f"negative shipment quantity {quantity} for order line {line_id}")
        merged[int(line_id)] = merged.get(int(line_id), 0) + int(quantity)
    merged = {line_id: qty for line_id, qty in merged.items() if qty > 0}
    if not merged:
        raise Permanent(f"shipment for order {order_number} has no units")
    created = {
        "order": {"number": order_number_input(order_number)},
        "lines": [{"orderLine": {"id": line_id}, "quantity": qty} for line_id, qty in merged.items()],
        "isGoodToGo": good_to_go,
        "capture": capture,
        "sendEmail": send_email,
    }
    if tag:
        created["additionalMessage"] = shipment_tag_message(tag)
    return created


def shipment_info(
    *, carrier: str = "", service: str = "", tracking_number: str = "", packages: int = 0
) -> dict[str, Any]:
    """``shipmentInfo`` with only the values that are known (an empty value never overwrites Centra's)."""
    info: dict[str, Any] = {}
    if carrier:
        info["carrier"] = carrier
    if service:
        info["service"] = service
    if tracking_number:
        info["trackingNumber"] = tracking_number
    if packages:
        info["packagesNumber"] = packages
    return info


def dispatch_details(dispatch: WarehouseShipment) -> dict[str, Any]:
    """What the warehouse reported, as keyword arguments of ``complete_shipment``.

    Centra has one ``trackingNumber`` per shipment: the first parcel's number goes there (carriers' tracking
    links take exactly one); further parcels are listed in ``additionalMessage`` so customer service sees them,
    after the warehouse shipment's number that the create put there.
    """
    tracking = [t for t in dispatch.tracking_numbers if t]
    further = f"Further tracking numbers: {', '.join(tracking[1:])}" if len(tracking) > 1 else ""
    return {
        "carrier": dispatch.carrier,
        "service": dispatch.service,
        "tracking_number": tracking[0] if tracking else "",
        "packages": dispatch.packages or len(tracking),
        "shipped_at": dispatch.shipped_at,
        "additional_message": shipment_tag_message(dispatch.number, further) if further else "",
    }


def late_tracking_message(first_sent: str, tracking: Sequence[str], tag: str = "") -> str:
    """``additionalMessage`` for tracking numbers that reached Lockstep after the shipment was completed.

    Centra freezes ``shipmentInfo`` (and so ``trackingNumber``) once a shipment is shipped; the message is the
    one field still open. It replaces the earlier message, so it lists every number not in ``trackingNumber``,
    after the warehouse shipment's number (``tag``) that must stay first.
    """
    rest = [t for t in tracking if t and t != first_sent]
    if not rest:
        return ""
    label = "Further tracking numbers" if first_sent else "Tracking numbers"
    return shipment_tag_message(tag, f"{label}: {', '.join(rest)}")


# The Deposco shipment a Centra shipment was made for rides on the create, in ``additionalMessage``: the one
# documented ``ShipmentCreateInput`` field that is read back (``externalId`` is documented only on
# ``updateShipment``, where tagging costs a mutation of its own). Every message Lockstep writes later keeps the
# marker first, so a retry can always tell which warehouse shipment a Centra shipment belongs to.
_TAG_PREFIX = "Warehouse shipment "
_TAG = re.compile(r"^Warehouse shipment (\S+?)(?:\.\s|\.?$)")


def shipment_tag_message(tag: str, rest: str = "") -> str:
    """``additionalMessage`` naming the warehouse shipment first, then ``rest`` (tracking notes) if any."""
    if not tag:
        return rest
    head = f"{_TAG_PREFIX}{tag}"
    return f"{head}. {rest}" if rest else head


def tag_in_message(message: str) -> str:
    """The warehouse shipment number a message written by :func:`shipment_tag_message` names, else ``""``."""
    found = _TAG.match(message or "")
    return found.group(1) if found else ""


def complete_shipment_variables(
    shipment_id: int,
    *,
    carrier: str = "",
    service: str = "",
    tracking_number: str = "",
    packages: int = 0,
    shipped_at: datetime | None = None,
    send_email: bool = True,
    additional_message: str = "",
    shipping_cost: Decimal | float | None = None,
    currency: str = "",
) -> dict[str, Any]:
    """Variables of ``LockstepCompleteShipment``; unknown values are left out (their input fields then are).

    ``shipping_cost`` goes to ``internalShippingCost`` (the order's shipping charge, carried by its first
    shipment only); it needs the order's currency."""
    variables: dict[str, Any] = {"id": int(shipment_id), "sendEmail": send_email}
    if shipping_cost is not None and currency:
        variables["internalShippingCost"] = {"value": float(shipping_cost), "currencyIsoCode": currency}
    if shipped_at is not None:
        variables["shippedAt"] = datetime_input(shipped_at)
    if additional_message:
        variables["additionalMessage"] = additional_message
    info = shipment_info(carrier=carrier, service=service, tracking_number=tracking_number, packages=packages)
    variables.update(info)  # the variables are named after the shipmentInfo fields they fill
    return variables


def update_shipment_input(
    *,
    external_id: str | None = None,
    carrier: str = "",
    service: str = "",
    tracking_number: str = "",
    packages: int = 0,
    good_to_go: bool | None = None,
    paid: bool | None = None,
    additional_message: str | None = None,
) -> dict[str, Any]:
    """``ShipmentUpdateInput`` (externalId tags the shipment with the Deposco shipment id)."""
    update: dict[str, Any] = {}
    if external_id is not None:
        update["externalId"] = external_id
    info = shipment_info(carrier=carrier, service=service, tracking_number=tracking_number, packages=packages)
    if info:
        update["shipmentInfo"] = info
    if good_to_go is not None:
        update["isGoodToGo"] = good_to_go
    if paid is not None:
        update["isPaid"] = paid
    if additional_message is not None:
        update["additionalMessage"] = additional_message
    if not update:
        raise Permanent("updateShipment needs at least one field to change")
    return update


def warehouse_input(ref: int | str) -> dict[str, Any]:
    """``WarehouseInput``: an int (or all-digit text) is the id, anything else the warehouse's name."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        return {"id": ref}
    text = str(ref).strip()
    if not text:
        raise Permanent("empty Centra warehouse reference")
    return {"id": int(text)} if text.isdigit() else {"name": text}


def product_size_input(key: str, sku_key: SkuKey) -> dict[str, str]:
    """``ProductSizeInput`` by the brand's key: ``{"SKU": ...}`` or ``{"EAN": ...}``."""
    if sku_key not in ("sku", "ean"):
        raise ValueError(f"sku_key must be 'sku' or 'ean', not {sku_key!r}")
    return {"SKU" if sku_key == "sku" else "EAN": key}


def stock_batches(
    warehouse_ref: int | str,
    rows: Iterable[tuple[str, int]],
    *,
    sku_key: SkuKey,
    batch_size: int = 200,
    description: str = "Lockstep stock sync",
) -> list[tuple[list[str], dict[str, Any]]]:
    """``StockSetInput`` batches (physical, absolute) as (keys in the batch, input).

    Rows keep the caller's order (decreases first is the caller's rule); a key given twice keeps its last
    value at its first position, because Centra would skip the later duplicate with a warning.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    latest: dict[str, int] = {}
    for key, quantity in rows:
        key = str(key).strip()
        if not key:
            raise Permanent("stock row without a SKU/EAN")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
            raise Permanent(f"stock quantity for {key} must be a whole number >= 0, got {quantity!r}")
        latest[key] = quantity
    keys = list(latest)
    target = warehouse_input(warehouse_ref)
    batches = []
    for start in range(0, len(keys), batch_size):
        chunk = keys[start : start + batch_size]
        batches.append(
            (
                chunk,
                {
                    "warehouse": target,
                    "description": description,
                    "stockQuantityType": "PHYSICAL",
                    "productSizes": [
                        {"productSize": product_size_input(k, sku_key), "quantity": latest[k]} for k in chunk
                    ],
                },
            )
        )
    return batches


_ROW_IN_PATH = re.compile(r"(?:^|\.)productSizes\.(\d+)(?:\.|$)")


def rejected_stock_rows(errors: Sequence[UserError], batch: Sequence[str]) -> list[tuple[str, str]] | None:
    """Map ``setStock`` userErrors to the rows they name (``input.productSizes.<i>...``).

    ``None`` when any error does not point at a row: then the whole batch is at fault, not single sizes.
    """
    rejected = []
    for error in errors:
        match = _ROW_IN_PATH.search(error.path or "")
        if match is None or int(match.group(1)) >= len(batch):
            return None
        rejected.append((batch[int(match.group(1))], error.message))
    return rejected


def product_size_filter(*, updated_after: datetime | None = None, active: bool | None = None) -> dict | None:
    where: dict[str, Any] = {}
    if updated_after is not None:
        where["updatedAt"] = {"from": datetime_input(updated_after)}
    if active is not None:
        where["isActive"] = active
    return where or None


# --- webhook plugin payloads ---------------------------------------------------------------------------


def decode_webhook_payload(raw_body: bytes) -> dict:
    """The JSON inside a form-encoded ``payload=…`` body; ValueError with a one-line reason if malformed."""
    try:
        fields = parse_qs(raw_body.decode("utf-8"), strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise ValueError("body is not form-encoded") from None
    values = fields.get("payload")
    if not values:
        raise ValueError("body has no payload field")
    try:
        payload = json.loads(values[0])
    except json.JSONDecodeError as exc:
        raise ValueError(f"payload is not JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(payload, dict):
        raise ValueError("payload is not a JSON object")
    return payload


@dataclass(frozen=True)
class ChangeNotice:
    """One entry of a webhook call: which object changed (orders by number, others by id), and how."""

    object_type: str  # order | shipment | customer | ...
    action: str
    reference: str
    date: str

    @property
    def event_id(self) -> str:
        """Centra sends no event id: type, object, action and time identify a delivery (retries repeat them)."""
        return f"{self.object_type}:{self.reference}:{self.action}:{self.date}"


def webhook_notices(payload: dict) -> list[ChangeNotice]:
    """The notices in a decoded webhook payload; ValueError with a one-line reason if the shape is wrong."""
    events = payload.get("events")
    if not isinstance(events, list):
        raise ValueError("payload has no events list")
    notices = []
    for index, event in enumerate(events):
        if not isinstance(event, dict) or "type" not in event or "id" not in event:
            raise ValueError(f"events[{index}] lacks type or id")
        notices.append(
            ChangeNotice(str(event["type"]), str(event.get("action", "")), str(event["id"]), str(event.get("date", "")))
        )
    return notices
