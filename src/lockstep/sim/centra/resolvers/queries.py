"""Root query resolvers: filtering, sorting and paging over the simulated state."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from ariadne import ObjectType
from graphql import GraphQLError

from lockstep.sim.centra import model
from lockstep.sim.centra.resolvers.paging import MAX_LIMIT, connection, page_list
from lockstep.sim.centra.state import CentraState, parse_datetime

query = ObjectType("Query")


def _state(info: Any) -> CentraState:
    return info.context.state


def _in_range(value: datetime, rng: dict[str, Any] | None, now: datetime) -> bool:
    if not rng:
        return True
    try:
        if rng.get("from") and value < parse_datetime(rng["from"], now):
            return False
        return not (rng.get("to") and value > parse_datetime(rng["to"], now))
    except model.UserError as exc:
        raise GraphQLError(exc.message) from exc


def _string_match(value: str, match: dict[str, Any] | None) -> bool:
    if not match:
        return True
    if match.get("equals") is not None and value != match["equals"]:
        return False
    return not (match.get("contains") is not None and match["contains"].lower() not in value.lower())


def _sorted(
    items: list[Any], sort: list[str] | None, keys: dict[str, Callable[[Any], float]], default: str
) -> tuple[list[Any], Callable[[Any], tuple[float, ...]]]:
    """Sort by the first sort enum (``field_ASC|DESC``), ties by id; returns the items and their key
    function."""
    field, _, direction = (sort[0] if sort else default).rpartition("_")
    sign = -1.0 if direction == "DESC" else 1.0
    primary = keys[field]
    tiebreak = keys["id"]

    def key(item: Any) -> tuple[float, ...]:
        return (sign * primary(item), sign * tiebreak(item))

    return sorted(items, key=key), key


def _listing(
    list_field: str,
    connection_field: str | None,
    rows: Callable[[CentraState, dict[str, Any] | None], Iterable[Any]],
    matches: Callable[[CentraState, Any, dict[str, Any] | None], bool],
    keys: dict[str, Callable[[Any], float]],
    default_sort: str,
) -> None:
    """Register an entity's ``limit``/``page`` list field and, where it has one, its Relay connection field.

    Both filter and sort the same way; only the paging differs (the connection's cursors are the sort keys).
    """

    def select(info: Any, where: dict[str, Any] | None, sort: list[str] | None):
        state = _state(info)
        return _sorted([x for x in rows(state, where) if matches(state, x, where)], sort, keys, default_sort)

    def resolve_list(
        _obj: Any,
        info: Any,
        where: dict[str, Any] | None = None,
        sort: list[str] | None = None,
        limit: int | None = None,
        page: int | None = None,
    ) -> list[Any]:
        items, _key = select(info, where, sort)
        return page_list(items, limit, page)

    def resolve_connection(
        _obj: Any,
        info: Any,
        where: dict[str, Any] | None = None,
        sort: list[str] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> dict[str, Any]:
        items, key = select(info, where, sort)
        return connection(items, key, first, after, last, before)

    query.set_field(list_field, resolve_list)
    if connection_field is not None:
        query.set_field(connection_field, resolve_connection)


# --- orders -------------------------------------------------------------------------------------------------

ORDER_KEYS: dict[str, Callable[[model.Order], float]] = {
    "id": lambda o: float(o.number),
    "number": lambda o: float(o.number),
    "createdAt": lambda o: o.created_at.timestamp(),
    "orderDate": lambda o: o.created_at.timestamp(),
    "updatedAt": lambda o: o.updated_at.timestamp(),
}


def order_matches(state: CentraState, order: model.Order, where: dict[str, Any] | None) -> bool:
    if not where:
        return True
    now = state.now()
    checks = (
        where.get("id") is None or order.id == where["id"],
        where.get("number") is None or order.number == where["number"],
        where.get("externalId") is None or order.external_id == where["externalId"],
        not where.get("status") or order.status in where["status"],
        where.get("storeId") is None or order.store_id == where["storeId"],
        where.get("marketId") is None or order.market_id == where["marketId"],
        where.get("storeType") is None or state.stores[order.store_id].type == where["storeType"],
        where.get("isLocked") is None or order.is_locked == where["isLocked"],
        where.get("isOnHold") is None or order.is_on_hold == where["isOnHold"],
        where.get("isWaitingForPayment") is None or order.is_waiting_for_payment == where["isWaitingForPayment"],
        not where.get("orderHoldReason") or (order.is_on_hold and order.hold_reason in where["orderHoldReason"]),
    )
    return (
        all(checks)
        and _in_range(order.created_at, where.get("createdAt"), now)
        and _in_range(order.updated_at, where.get("updatedAt"), now)
        and _in_range(order.created_at, where.get("orderDate"), now)
    )


def order_rows(state: CentraState, where: dict[str, Any] | None) -> Iterable[model.Order]:
    """Candidates for ``where``: a filter by number is a key look-up (orders are kept by number), not a scan."""
    if where and where.get("number") is not None:
        found = state.orders.get(where["number"])
        return [found] if found is not None else []
    return state.orders.values()


_listing("orders", "orderConnection", order_rows, order_matches, ORDER_KEYS, "number_ASC")


@query.field("order")
def resolve_order(_obj: Any, info: Any, id: str) -> model.Order | None:
    return next((o for o in _state(info).orders.values() if o.id == id), None)


# --- shipments ----------------------------------------------------------------------------------------------

SHIPMENT_KEYS: dict[str, Callable[[model.Shipment], float]] = {
    "id": lambda s: float(s.id),
    "updatedAt": lambda s: s.updated_at.timestamp(),
}


def shipment_matches(state: CentraState, shipment: model.Shipment, where: dict[str, Any] | None) -> bool:
    if not where:
        return True
    order = state.orders[shipment.order_number]
    now = state.now()
    checks = (
        not where.get("id") or shipment.id in where["id"],
        where.get("number") is None or shipment.number == where["number"],
        where.get("externalId") is None or shipment.external_id == where["externalId"],
        where.get("orderId") is None or order.id == where["orderId"],
        where.get("orderNumber") is None or order.number == where["orderNumber"],
        where.get("trackingNumber") is None or shipment.tracking_number == where["trackingNumber"],
        where.get("isGoodToGo") is None or shipment.is_good_to_go == where["isGoodToGo"],
        where.get("isShipped") is None or shipment.is_shipped == where["isShipped"],
        where.get("isPaid") is None or shipment.is_paid == where["isPaid"],
        where.get("isCaptured") is None or shipment.is_captured == where["isCaptured"],
        where.get("storeId") is None or order.store_id == where["storeId"],
    )
    return (
        all(checks)
        and _in_range(shipment.created_at, where.get("createdAt"), now)
        and _in_range(shipment.updated_at, where.get("updatedAt"), now)
    )


_listing(
    "shipments", "shipmentConnection", lambda s, _w: s.shipments.values(), shipment_matches, SHIPMENT_KEYS, "id_ASC"
)


@query.field("shipment")
def resolve_shipment(_obj: Any, info: Any, id: int) -> model.Shipment | None:
    return _state(info).shipments.get(id)


# --- catalog ------------------------------------------------------------------------------------------------

CATALOG_KEYS: dict[str, Callable[[Any], float]] = {
    "id": lambda x: float(x.id),
    "updatedAt": lambda x: x.updated_at.timestamp(),
}


def product_matches(state: CentraState, product: model.Product, where: dict[str, Any] | None) -> bool:
    if not where:
        return True
    return (
        (not where.get("id") or product.id in where["id"])
        and (not where.get("status") or product.status in where["status"])
        and _string_match(product.name, where.get("name"))
        and (where.get("productNumber") is None or product.product_number == where["productNumber"])
        and _in_range(product.updated_at, where.get("updatedAt"), state.now())
    )


_listing("products", None, lambda s, _w: s.products.values(), product_matches, CATALOG_KEYS, "id_ASC")


@query.field("product")
def resolve_product(_obj: Any, info: Any, id: int) -> model.Product | None:
    return _state(info).products.get(id)


def size_matches(state: CentraState, size: model.Size, where: dict[str, Any] | None) -> bool:
    if not where:
        return True
    return (
        (not where.get("id") or size.id in where["id"])
        and (where.get("SKU") is None or size.sku == where["SKU"])
        and (where.get("EAN") is None or size.ean == where["EAN"])
        and where.get("UPC") is None  # no simulated size has a UPC
        and (where.get("isActive") is None or size.is_active == where["isActive"])
        and _in_range(size.updated_at, where.get("updatedAt"), state.now())
    )


def _size_rows(state: CentraState, where: dict[str, Any] | None) -> Iterable[model.Size]:
    if where and where.get("SKU") is not None and set(where) <= {"SKU"}:
        return [state.sizes[i] for i in [state.sku_index.get(where["SKU"])] if i in state.sizes]
    return state.sizes.values()


_listing("productSizes", "productSizeConnection", _size_rows, size_matches, CATALOG_KEYS, "id_ASC")


# --- topology -----------------------------------------------------------------------------------------------

NAMED_KEYS: dict[str, Callable[[Any], Any]] = {"id": lambda x: x.id, "name": lambda x: x.name}


def _named_listing(
    field: str, rows: Callable[[CentraState], Iterable[Any]], matches: Callable[[Any, dict[str, Any]], bool]
) -> None:
    """Register a list field over a small named collection: sorted by ``id`` or ``name``, no connection."""

    def resolve(
        _obj: Any,
        info: Any,
        where: dict[str, Any] | None = None,
        sort: list[str] | None = None,
        limit: int | None = None,
        page: int | None = None,
    ) -> list[Any]:
        items = [x for x in rows(_state(info)) if matches(x, where or {})]
        field_name, _, direction = (sort[0] if sort else "id_ASC").rpartition("_")
        return page_list(sorted(items, key=NAMED_KEYS[field_name], reverse=direction == "DESC"), limit, page)

    query.set_field(field, resolve)


_named_listing(
    "warehouses",
    lambda s: s.warehouses.values(),
    lambda w, where: (
        (not where.get("id") or w.id in where["id"])
        and _string_match(w.name, where.get("name"))
        and (not where.get("status") or w.status in where["status"])
    ),
)


@query.field("warehouse")
def resolve_warehouse(_obj: Any, info: Any, id: int) -> model.Warehouse | None:
    return _state(info).warehouses.get(id)


_named_listing(
    "markets",
    lambda s: s.markets.values(),
    lambda m, where: (
        (not where.get("id") or m.id in where["id"])
        and (where.get("storeId") is None or m.store_id == where["storeId"])
    ),
)


@query.field("market")
def resolve_market(_obj: Any, info: Any, id: int) -> model.Market | None:
    return _state(info).markets.get(id)


_named_listing(
    "allocationRules",
    lambda s: s.allocation_rules.values(),
    lambda r, where: not where.get("id") or r.id in where["id"],
)


@query.field("allocationRule")
def resolve_rule(_obj: Any, info: Any, id: int) -> model.AllocationRule | None:
    return _state(info).allocation_rules.get(id)


@query.field("stores")
def resolve_stores(_obj: Any, info: Any) -> list[model.Store]:
    return list(_state(info).stores.values())


counters = ObjectType("Counters")


@query.field("counters")
def resolve_counters(*_args: Any) -> dict[str, Any]:
    return {}


@counters.field("products")
def resolve_product_count(_obj: Any, info: Any, where: dict[str, Any] | None = None) -> int:
    state = _state(info)
    return sum(1 for p in state.products.values() if product_matches(state, p, where))


@counters.field("orders")
def resolve_order_count(_obj: Any, info: Any, where: dict[str, Any] | None = None) -> int:
    state = _state(info)
    return sum(1 for o in state.orders.values() if order_matches(state, o, where))


# --- events and rate limits ---------------------------------------------------------------------------------


@query.field("events")
def resolve_events(_obj: Any, info: Any, where: dict[str, Any] | None = None, limit: int | None = None) -> list[Any]:
    limit = 100 if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise GraphQLError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    where = where or {}
    queue = _state(info).queue(info.context.token.integration_name)
    return queue.pending(
        where.get("objectType"), where.get("changeType"), where.get("storeId"), where.get("marketId"), limit
    )


@query.field("eventListeners")
def resolve_event_listeners(_obj: Any, info: Any) -> list[Any]:
    return list(_state(info).queue(info.context.token.integration_name).listeners.values())


@query.field("rateLimits")
def resolve_rate_limits(_obj: Any, info: Any) -> list[dict[str, object]]:
    return info.context.limiter.snapshot()
