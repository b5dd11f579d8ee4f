"""Integration API tokens and per-field permissions.

Each token belongs to an *integration name* (which scopes the events queue) and carries a set of permissions
(``None`` = every permission, the default for the token given on the command line). A missing, unknown or
expired token is refused with HTTP 403 before any GraphQL runs. A missing permission is a top-level GraphQL
error naming the permission with ``extensions.category: "authorization"`` (HTTP 200), and the permissions a
request used are reported in ``extensions.permissionsUsed``, so a client can derive its least-privilege list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import GraphQLError

#: (parent type, field) -> permission. Root fields use "Query"/"Mutation".
FIELD_PERMISSIONS: dict[tuple[str, str], str] = {
    ("Query", "orders"): "Order:read",
    ("Query", "orderConnection"): "Order:read",
    ("Query", "order"): "Order:read",
    ("Query", "shipments"): "Shipment:read",
    ("Query", "shipmentConnection"): "Shipment:read",
    ("Query", "shipment"): "Shipment:read",
    ("Query", "products"): "Product:read",
    ("Query", "product"): "Product:read",
    ("Query", "productSizes"): "Product:read",
    ("Query", "productSizeConnection"): "Product:read",
    ("Query", "warehouses"): "Warehouse:read",
    ("Query", "warehouse"): "Warehouse:read",
    ("Query", "markets"): "Market:read",
    ("Query", "market"): "Market:read",
    ("Query", "allocationRules"): "AllocationRule:read",
    ("Query", "allocationRule"): "AllocationRule:read",
    ("Query", "stores"): "Store:read",
    ("Query", "events"): "Event:read",
    ("Query", "eventListeners"): "Event:read",
    ("Counters", "products"): "Product:read",
    ("Counters", "orders"): "Order:read",
    ("Mutation", "setStock"): "StockChange:write",
    ("Mutation", "changeStock"): "StockChange:write",
    ("Mutation", "confirmOrder"): "Order:write",
    ("Mutation", "updateDirectToConsumerOrder"): "Order:write",
    ("Mutation", "cancelDirectToConsumerOrder"): "Order:write",
    ("Mutation", "setOrdersLock"): "Order.isLocked:write",
    ("Mutation", "createShipment"): "Shipment:write",
    ("Mutation", "updateShipment"): "Shipment:write",
    ("Mutation", "captureShipment"): "Shipment:write",
    ("Mutation", "completeShipment"): "Shipment:write",
    ("Mutation", "setEventListeners"): "Event:write",
    ("Mutation", "unsetEventListeners"): "Event:write",
    ("Mutation", "confirmEvents"): "Event:write",
    ("DirectToConsumerOrder", "shippingAddress"): "Order.shippingAddress:read",
    ("DirectToConsumerOrder", "billingAddress"): "Order.billingAddress:read",
    ("DirectToConsumerOrder", "customer"): "Purchaser:read",
    ("DirectToConsumerOrder", "internalComment"): "Order.internalComment:read",
    ("DirectToConsumerOrder", "shipments"): "Shipment:read",
    ("DirectToConsumerShipment", "shippingAddress"): "Shipment.shippingAddress:read",
    ("DirectToConsumerShipment", "order"): "Order:read",
    ("ProductSize", "stock"): "Warehouse.stock:read",
    ("Warehouse", "stock"): "Warehouse.stock:read",
    ("ProductOrderLine", "product"): "Product:read",
}
ALL_PERMISSIONS = frozenset(FIELD_PERMISSIONS.values())


@dataclass
class ApiToken:
    token: str
    integration_name: str
    permissions: frozenset[str] | None = None  # None = all
    expires_at: datetime | None = None

    def allows(self, permission: str) -> bool:
        return self.permissions is None or permission in self.permissions


class TokenRegistry:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.tokens: dict[str, ApiToken] = {}

    def add(self, token: ApiToken) -> ApiToken:
        self.tokens[token.token] = token
        return token

    def revoke(self, token: str) -> bool:
        return self.tokens.pop(token, None) is not None

    def authenticate(self, token: str | None) -> ApiToken | None:
        found = self.tokens.get(token or "")
        if found is None or (found.expires_at is not None and found.expires_at <= self.clock()):
            return None
        return found


def bearer_token(headers: Any, cookies: dict[str, str]) -> str | None:
    """The token from ``Authorization: Bearer …`` or, as Centra also accepts, the ``graphql-access``
    cookie."""
    header = headers.get("authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return cookies.get("graphql-access") or None


def permission_middleware(resolver: Callable[..., Any], obj: Any, info: Any, **kwargs: Any) -> Any:
    """graphql-core middleware: enforce and record the permission a field needs."""
    permission = FIELD_PERMISSIONS.get((info.parent_type.name, info.field_name))
    if permission is not None:
        context = info.context
        if not context.token.allows(permission):
            raise GraphQLError(
                f"Access denied: field {info.parent_type.name}.{info.field_name} requires the permission {permission}",
                extensions={"category": "authorization"},
            )
        context.permissions_used.setdefault(permission, None)
    return resolver(obj, info, **kwargs)
