"""Field resolvers for Centra's object types (orders, lines, shipments, products, stock, events...).

Simple fields are read from the model's snake_case attribute (or a dict key) by :func:`snake_case_resolver`,
installed for every field without an explicit resolver; only computed fields are defined here.
"""

from __future__ import annotations

import re
from typing import Any

from ariadne import InterfaceType, ObjectType, ScalarType, UnionType

from lockstep.sim.centra import model, refdata
from lockstep.sim.centra.events import CHANGE_TYPES
from lockstep.sim.centra.resolvers.paging import page_list
from lockstep.sim.centra.timefmt import format_datetime

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake_case_resolver(obj: Any, info: Any, **_kwargs: Any) -> Any:
    """Default resolver: dict key by GraphQL name, else the snake_case attribute (``isOnHold`` ->
    ``is_on_hold``)."""
    name = info.field_name
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, _CAMEL.sub("_", name).lower(), None)


def _state(info: Any) -> Any:
    return info.context.state


def _dates(object_type: ObjectType, *fields: tuple[str, str]) -> None:
    """Bind ``field(format:)`` resolvers reading datetime attributes."""
    for graphql_name, attr in fields:

        def resolve(obj: Any, _info: Any, format: str | None = None, _attr: str = attr) -> str | None:
            return format_datetime(getattr(obj, _attr), format)

        object_type.set_field(graphql_name, resolve)


datetime_scalar = ScalarType("DateTimeTz", serializer=lambda value: value, value_parser=lambda value: str(value))
int64_scalar = ScalarType("Int64", serializer=int, value_parser=int)

order_interface = InterfaceType("Order", lambda obj, *_: "DirectToConsumerOrder")
shipment_interface = InterfaceType("Shipment", lambda obj, *_: "DirectToConsumerShipment")
order_line_interface = InterfaceType("OrderLine", lambda obj, *_: "ProductOrderLine")
payload_interface = InterfaceType("Payload", lambda obj, *_: None)

_TARGET_TYPES = {
    model.Order: "DirectToConsumerOrder",
    model.Shipment: "DirectToConsumerShipment",
    model.Product: "Product",
    model.Variant: "ProductVariant",
    model.Size: "ProductSize",
    model.Warehouse: "Warehouse",
}
event_target = UnionType("EventTarget", lambda obj, *_: _TARGET_TYPES.get(type(obj)))

# --- orders -------------------------------------------------------------------------------------------------

order = ObjectType("DirectToConsumerOrder")
_dates(order, ("createdAt", "created_at"), ("updatedAt", "updated_at"), ("orderDate", "created_at"))


@order.field("orderHoldReason")
def resolve_hold_reason(obj: model.Order, _info: Any) -> str | None:
    return obj.hold_reason if obj.is_on_hold else None


@order.field("store")
def resolve_order_store(obj: model.Order, info: Any) -> Any:
    return _state(info).stores.get(obj.store_id)


@order.field("market")
def resolve_order_market(obj: model.Order, info: Any) -> Any:
    return _state(info).markets.get(obj.market_id)


@order.field("allocationRule")
def resolve_order_rule(obj: model.Order, info: Any) -> Any:
    state = _state(info)
    market = state.markets.get(obj.market_id)
    return state.rule_for_market(market) if market else None


@order.field("shippingPriceGroup")
def resolve_shipping_price_group(obj: model.Order, _info: Any) -> Any:
    option = refdata.shipping_option(obj.shipping_option)
    return {"shippingOption": option} if option else None


def order_items_total(obj: model.Order) -> float:
    return sum(line.quantity * line.unit_price for line in obj.lines)


@order.field("grandTotal")
def resolve_order_total(obj: model.Order, _info: Any, includingTax: bool = True) -> dict[str, Any]:
    total = order_items_total(obj) + obj.shipping_cost
    return refdata.money(total if includingTax else total / 1.25, obj.currency)


@order.field("totals")
def resolve_totals(obj: model.Order, _info: Any) -> dict[str, Any]:
    items = order_items_total(obj)
    total = items + obj.shipping_cost
    return {
        "quantity": sum(line.quantity for line in obj.lines),
        "itemsTotal": refdata.money(items, obj.currency),
        "shipping": refdata.money(obj.shipping_cost, obj.currency),
        "handling": refdata.money(0, obj.currency),
        "taxAdded": refdata.money(0, obj.currency),
        "taxDeducted": refdata.money(0, obj.currency),
        "taxIncluded": refdata.money(round(total - total / 1.25, 2), obj.currency),
        "grandTotal": refdata.money(total, obj.currency),
    }


@order.field("discountsApplied")
def resolve_no_discounts(*_args: Any) -> list[Any]:
    return []  # the simulator sells at list price


@order.field("lines")
def resolve_order_lines(obj: model.Order, _info: Any, includeFullyCancelled: bool = False) -> list[Any]:
    return [line for line in obj.lines if includeFullyCancelled or line.quantity > 0]


@order.field("shipments")
def resolve_order_shipments(obj: model.Order, info: Any) -> list[Any]:
    return _state(info).shipments_of(obj)


@order.field("paymentHistory")
def resolve_payment_history(obj: model.Order, _info: Any, where: dict[str, Any] | None = None) -> list[Any]:
    where = where or {}
    return [
        p
        for p in obj.payments
        if (not where.get("entryType") or p.entry_type in where["entryType"])
        and (not where.get("status") or p.status in where["status"])
    ]


payment_entry = ObjectType("PaymentHistoryEntry")
_dates(payment_entry, ("createdAt", "created_at"))
payment_entry.set_alias("paramsJSON", "params_json")


@payment_entry.field("value")
def resolve_payment_value(obj: model.PaymentEntry, info: Any) -> dict[str, Any]:
    return refdata.money(obj.value, "EUR" if obj.shipment_id is None else _shipment_currency(info, obj.shipment_id))


@payment_entry.field("paramsJSON")
def resolve_params(obj: model.PaymentEntry, _info: Any) -> str:
    return "{}"


def _shipment_currency(info: Any, shipment_id: int) -> str:
    state = _state(info)
    shipment = state.shipments.get(shipment_id)
    order_ = state.orders.get(shipment.order_number) if shipment else None
    return order_.currency if order_ else "EUR"


address = ObjectType("Address")
address.set_alias("address1", "address1")
address.set_alias("address2", "address2")


@address.field("country")
def resolve_country(obj: model.Address, _info: Any) -> Any:
    return refdata.country(obj.country_code)


@address.field("state")
def resolve_state(*_args: Any) -> None:
    return None  # states/provinces are kept as the free-text stateOrProvince only


# --- order lines --------------------------------------------------------------------------------------------

line = ObjectType("ProductOrderLine")


def _size(info: Any, obj: model.OrderLine) -> model.Size:
    return _state(info).sizes[obj.size_id]


def _variant(info: Any, obj: model.OrderLine) -> model.Variant:
    return _state(info).variants[_size(info, obj).variant_id]


def _product(info: Any, obj: model.OrderLine) -> model.Product:
    return _state(info).products[_variant(info, obj).product_id]


line.set_field("shippedQuantity", lambda obj, info: _state(info).shipped_units(obj))
line.set_field("productNumber", lambda obj, info: _product(info, obj).product_number)
line.set_field("productName", lambda obj, info: _product(info, obj).name)
line.set_field("productVariantName", lambda obj, info: _variant(info, obj).name)
line.set_field("size", lambda obj, info: _size(info, obj).description)
line.set_field("product", lambda obj, info: _product(info, obj))
line.set_field("productVariant", lambda obj, info: _variant(info, obj))
line.set_field("productSize", lambda obj, info: _size(info, obj))
line.set_field("unitPrice", lambda obj, _info: refdata.money(obj.unit_price, obj.currency))
line.set_field("unitOriginalPrice", lambda obj, _info: refdata.money(obj.unit_price, obj.currency))
line.set_field("discountPercent", lambda obj, _info: 0.0)
line.set_field("hasAnyDiscount", lambda obj, _info: False)
line.set_field("lineValue", lambda obj, _info: refdata.money(obj.quantity * obj.unit_price, obj.currency))

allocation = ObjectType("OrderLineAllocation")
allocation.set_field("warehouse", lambda obj, info: _state(info).warehouses[obj.warehouse_id])
allocation.set_field("isWaitingForConfirmation", lambda obj, _info: False)

# --- shipments ----------------------------------------------------------------------------------------------

shipment = ObjectType("DirectToConsumerShipment")
_dates(
    shipment,
    ("createdAt", "created_at"),
    ("updatedAt", "updated_at"),
    ("paidAt", "paid_at"),
    ("capturedAt", "captured_at"),
    ("shippedAt", "shipped_at"),
)


def _shipment_order(info: Any, obj: model.Shipment) -> model.Order:
    return _state(info).orders[obj.order_number]


@shipment.field("internalShippingCost")
def resolve_internal_cost(obj: model.Shipment, info: Any) -> dict[str, Any]:
    return refdata.money(obj.internal_shipping_cost, _shipment_order(info, obj).currency)


@shipment.field("grandTotal")
def resolve_shipment_total(obj: model.Shipment, info: Any, includingTax: bool = True) -> dict[str, Any]:
    value = _state(info).shipment_value(obj)
    return refdata.money(value if includingTax else value / 1.25, _shipment_order(info, obj).currency)


@shipment.field("carrierInformation")
def resolve_carrier(obj: model.Shipment, _info: Any) -> dict[str, Any] | None:
    if obj.carrier is None and obj.service is None:
        return None
    return {"carrierName": obj.carrier, "serviceName": obj.service}


shipment.set_field("adminUser", lambda *_: None)
shipment.set_field("shipmentPlugin", lambda *_: None)
shipment.set_field("discountsApplied", lambda *_: [])
shipment.set_field("shippingAddress", lambda obj, info: _shipment_order(info, obj).shipping_address)
shipment.set_field("order", lambda obj, info: _shipment_order(info, obj))


@shipment.field("lines")
def resolve_shipment_lines(obj: model.Shipment, info: Any) -> list[dict[str, Any]]:
    parent = _shipment_order(info, obj)
    by_id = {ln.id: ln for ln in parent.lines}
    return [
        {
            "id": sl.id,
            "quantity": sl.quantity,
            "orderLine": by_id[sl.order_line_id],
            "lineValue": refdata.money(sl.quantity * by_id[sl.order_line_id].unit_price, parent.currency),
        }
        for sl in obj.lines
    ]


# --- catalog and stock --------------------------------------------------------------------------------------

product = ObjectType("Product")
_dates(product, ("createdAt", "created_at"), ("updatedAt", "updated_at"))
product.set_alias("harmonizedCommodityCode", "harmonized_code")
product.set_alias("harmonizedCommodityCodeDescription", "harmonized_description")
product.set_field("isBundle", lambda *_: False)
product.set_field("isSerializableProduct", lambda *_: False)
product.set_field(
    "variants",
    lambda obj, info: [_state(info).variants[i] for i in _state(info).product_variants.get(obj.id, [])],
)

variant = ObjectType("ProductVariant")
_dates(variant, ("createdAt", "created_at"), ("updatedAt", "updated_at"))
variant.set_field("unitCost", lambda obj, _info: refdata.money(obj.unit_cost, "EUR"))
variant.set_field("product", lambda obj, info: _state(info).products[obj.product_id])
variant.set_field(
    "productSizes",
    lambda obj, info: [_state(info).sizes[i] for i in _state(info).variant_sizes.get(obj.id, [])],
)

size = ObjectType("ProductSize")
_dates(size, ("updatedAt", "updated_at"))
size.set_alias("SKU", "sku")
size.set_alias("EAN", "ean")
size.set_alias("GTIN", "ean")
size.set_field("UPC", lambda *_: None)
size.set_field("productVariant", lambda obj, info: _state(info).variants[obj.variant_id])
size.set_field("product", lambda obj, info: _state(info).products[_state(info).variants[obj.variant_id].product_id])


def stock_row(state: Any, size_id: int, warehouse_id: int) -> dict[str, Any]:
    level = state.peek_level(size_id, warehouse_id)
    return {
        "warehouse": state.warehouses[warehouse_id],
        "productSize": state.sizes[size_id],
        "freeToAllocateQuantity": level.free_to_allocate,
        "physicalQuantity": level.physical,
        "allocatedQuantity": level.allocated,
        "demandQuantity": 0,
        "availableNowQuantity": level.free_to_allocate,
    }


@size.field("stock")
def resolve_size_stock(
    obj: model.Size,
    info: Any,
    where: dict[str, Any] | None = None,
    limit: int | None = None,
    page: int | None = None,
) -> list[dict[str, Any]]:
    state = _state(info)
    wanted = (where or {}).get("warehouseId")
    rows = [stock_row(state, obj.id, w) for w in sorted(state.warehouses) if not wanted or w in wanted]
    return page_list(rows, limit, page)


warehouse = ObjectType("Warehouse")


@warehouse.field("stock")
def resolve_warehouse_stock(
    obj: model.Warehouse,
    info: Any,
    where: dict[str, Any] | None = None,
    limit: int | None = None,
    page: int | None = None,
) -> list[dict[str, Any]]:
    state = _state(info)
    size_ids = sorted(s for (s, w) in state.stock if w == obj.id)
    return page_list([stock_row(state, s, obj.id) for s in size_ids], limit, page)


market = ObjectType("Market")
market.set_field("store", lambda obj, info: _state(info).stores[obj.store_id])
market.set_field("allocationRule", lambda obj, info: _state(info).rule_for_market(obj))
market.set_field("assignedToCountries", lambda obj, _info: [refdata.country(c) for c in obj.country_codes])

rule = ObjectType("AllocationRule")
rule.set_field("warehouses", lambda obj, info: [_state(info).warehouses[w] for w in obj.warehouse_ids])
rule.set_field(
    "markets", lambda obj, info: [m for m in _state(info).markets.values() if m.allocation_rule_id == obj.id]
)

stock_change = ObjectType("StockChange")
_dates(stock_change, ("createdAt", "created_at"))
stock_change.set_field("warehouse", lambda obj, info: _state(info).warehouses[obj.warehouse_id])

# --- events -------------------------------------------------------------------------------------------------

event = ObjectType("Event")
_dates(event, ("createdAt", "created_at"))
event.set_field("objectReference", lambda obj, _info: int(obj.object_reference))
event.set_field("store", lambda obj, info: _state(info).stores.get(obj.store_id) if obj.store_id else None)
event.set_field("market", lambda obj, info: _state(info).markets.get(obj.market_id) if obj.market_id else None)

_OBJECT_COLLECTIONS = {
    "Order": "orders",
    "Shipment": "shipments",
    "Product": "products",
    "ProductVariant": "variants",
    "ProductSize": "sizes",
    "Warehouse": "warehouses",
}


@event.field("object")
def resolve_event_object(obj: Any, info: Any) -> Any:
    """The object's *current* state (Centra's semantics), or null once it is deleted."""
    if obj.change_type == "DELETED":
        return None
    collection = _OBJECT_COLLECTIONS.get(obj.object_type)
    return getattr(_state(info), collection).get(obj.object_key) if collection else None


listener = ObjectType("EventListener")
_dates(listener, ("createdAt", "created_at"), ("updatedAt", "updated_at"))
listener.set_field("integrationName", lambda obj, info: info.context.token.integration_name)
listener.set_field("changeTypes", lambda obj, _info: [c for c in CHANGE_TYPES if c in obj.change_types])


def bindables() -> list[Any]:
    return [
        datetime_scalar,
        int64_scalar,
        order_interface,
        shipment_interface,
        order_line_interface,
        payload_interface,
        event_target,
        order,
        payment_entry,
        address,
        line,
        allocation,
        shipment,
        product,
        variant,
        size,
        warehouse,
        market,
        rule,
        stock_change,
        event,
        listener,
    ]
