"""The control and ground-truth API under ``/_sim`` (not part of Centra's surface).

Protected by the simulator's bearer token. Lets tests, scenarios and the demo shape the world (topology,
catalog, stock, storefront orders, flags, faults, rate budgets, tokens, webhooks, capture behaviour) and read
what really happened (orders accepted with per-line allocation, shipments completed, stock, counters).

Errors: 400 ``{"error", "path"}`` for bad input, 404 for unknown objects, 409 when a storefront order is
refused
because free-to-allocate stock is short (nothing was created).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lockstep.sim.centra import catalog, refdata, snapshot
from lockstep.sim.centra.auth import ApiToken, bearer_token
from lockstep.sim.centra.model import Address, Order, UserError
from lockstep.sim.centra.ratelimit import INTERVALS, TIERS
from lockstep.sim.centra.state import ADDRESS_FIELDS, CAPTURE_MODES

if TYPE_CHECKING:
    from lockstep.sim.centra.app import CentraSimulator

Handler = Callable[["CentraSimulator", Request], Awaitable[Any]]


class NotFound(Exception):
    pass


def _error(status: int, message: str, path: list[str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "path": path or []}, status_code=status)


def _route(path: str, handler: Handler, methods: list[str], sim: CentraSimulator) -> Route:
    async def endpoint(request: Request) -> Response:
        if bearer_token(request.headers, request.cookies) != sim.admin_token:
            return _error(403, "Access denied: the control API needs the simulator's bearer token")
        try:
            result = await handler(sim, request)
        except UserError as exc:
            status = 409 if exc.message.startswith("Insufficient stock") else 400
            return _error(status, exc.message, exc.path)
        except NotFound as exc:
            return _error(404, str(exc))
        except (ValueError, KeyError, TypeError) as exc:
            return _error(400, f"bad request: {exc}")
        if isinstance(result, Response):
            return result
        return JSONResponse(result)

    return Route(path, endpoint, methods=methods)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw else {}
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _order(sim: CentraSimulator, request: Request) -> Order:
    number = int(request.path_params["number"])
    order = sim.state.orders.get(number)
    if order is None:
        raise NotFound(f"order {number} not found")
    return order


def _size_ref(sim: CentraSimulator, row: dict[str, Any], path: list[str]) -> Any:
    if "sku" in row:
        return sim.state.find_size({"SKU": row["sku"]}, path)
    if "ean" in row:
        return sim.state.find_size({"EAN": row["ean"]}, path)
    return sim.state.find_size({"id": row.get("sizeId")}, path)


# --- views --------------------------------------------------------------------------------------------------


def order_view(sim: CentraSimulator, order: Order) -> dict[str, Any]:
    state = sim.state
    return {
        "number": order.number,
        "id": order.id,
        "status": order.status,
        "marketId": order.market_id,
        "country": order.shipping_address.country_code,
        "isOnHold": order.is_on_hold,
        "holdReason": order.hold_reason,
        "isWaitingForPayment": order.is_waiting_for_payment,
        "isLocked": order.is_locked,
        "shippingOption": order.shipping_option,
        "createdAt": order.created_at.isoformat(),
        "lines": [
            {
                "id": line.id,
                "sku": state.sizes[line.size_id].sku,
                "ean": state.sizes[line.size_id].ean,
                "quantity": line.quantity,
                "cancelledQuantity": line.cancelled_quantity,
                "shippedQuantity": state.shipped_units(line),
                "allocations": [
                    {"warehouseId": a.warehouse_id, "quantity": a.quantity, "shipped": a.shipped}
                    for a in line.allocations
                ],
            }
            for line in order.lines
        ],
    }


def shipment_view(sim: CentraSimulator, shipment: Any) -> dict[str, Any]:
    return {
        "id": shipment.id,
        "number": shipment.number,
        "orderNumber": shipment.order_number,
        "externalId": shipment.external_id,
        "additionalMessage": shipment.additional_message,
        "isGoodToGo": shipment.is_good_to_go,
        "isPaid": shipment.is_paid,
        "isCaptured": shipment.is_captured,
        "isShipped": shipment.is_shipped,
        "shippedAt": shipment.shipped_at.isoformat() if shipment.shipped_at else None,
        "trackingNumber": shipment.tracking_number,
        "carrier": shipment.carrier,
        "service": shipment.service,
        "sendEmail": shipment.send_email,
        "emailSent": shipment.email_sent,
        "lines": [
            {
                "orderLineId": sl.order_line_id,
                "quantity": sl.quantity,
                "picks": [{"warehouseId": p.warehouse_id, "quantity": p.quantity} for p in sl.picks],
            }
            for sl in shipment.lines
        ],
    }


def stock_rows(sim: CentraSimulator, sku: str | None = None, warehouse_id: int | None = None) -> list[dict]:
    state = sim.state
    rows = []
    for (size_id, wh), level in sorted(state.stock.items()):
        size = state.sizes[size_id]
        if (sku and size.sku != sku) or (warehouse_id is not None and wh != warehouse_id):
            continue
        rows.append(
            {
                "sku": size.sku,
                "ean": size.ean,
                "warehouseId": wh,
                "physical": level.physical,
                "allocated": level.allocated,
                "freeToAllocate": level.free_to_allocate,
            }
        )
    return rows


# --- handlers -----------------------------------------------------------------------------------------------


async def topology(sim: CentraSimulator, _request: Request) -> dict[str, Any]:
    state = sim.state
    return {
        "stores": [vars(s) for s in state.stores.values()],
        "warehouses": [vars(w) for w in state.warehouses.values()],
        "allocationRules": [
            {"id": r.id, "name": r.name, "warehouseIds": r.warehouse_ids} for r in state.allocation_rules.values()
        ],
        "markets": [
            {
                "id": m.id,
                "name": m.name,
                "storeId": m.store_id,
                "allocationRuleId": m.allocation_rule_id,
                "countries": m.country_codes,
                "currency": m.currency,
            }
            for m in state.markets.values()
        ],
    }


async def add_warehouse(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    return vars(sim.state.add_warehouse((await _body(request))["name"]))


async def add_rule(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    body = await _body(request)
    rule = sim.state.add_allocation_rule(body["name"], [int(w) for w in body["warehouseIds"]])
    return {"id": rule.id, "name": rule.name, "warehouseIds": rule.warehouse_ids}


async def set_rule(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    body = await _body(request)
    rule = sim.state.set_allocation_rule_warehouses(
        int(request.path_params["rule_id"]), [int(w) for w in body["warehouseIds"]]
    )
    return {"id": rule.id, "name": rule.name, "warehouseIds": rule.warehouse_ids}


async def add_market(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    body = await _body(request)
    store_id = body.get("storeId") or next(iter(sim.state.stores))
    market = sim.state.add_market(
        body["name"],
        int(store_id),
        body.get("allocationRuleId"),
        body.get("countries", []),
        body.get("currency", "EUR"),
    )
    return {"id": market.id, "name": market.name, "allocationRuleId": market.allocation_rule_id}


async def seed_catalog(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    body = await _body(request)
    sizes = catalog.seed_catalog(
        sim.state,
        int(body.get("products", 10)),
        int(body.get("variants", 2)),
        int(body.get("sizes", 4)),
        body.get("prefix", "P"),
    )
    return {"created": len(sizes), "sizes": [{"id": s.id, "sku": s.sku, "ean": s.ean} for s in sizes]}


async def list_catalog(sim: CentraSimulator, _request: Request) -> dict[str, Any]:
    return {
        "sizes": [
            {"id": s.id, "sku": s.sku, "ean": s.ean, "description": s.description, "variantId": s.variant_id}
            for s in sim.state.sizes.values()
        ]
    }


async def put_stock(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    body = await _body(request)
    warehouse = sim.state.find_warehouse({"id": body.get("warehouseId"), "name": body.get("warehouse")}, ["warehouse"])
    items = [(_size_ref(sim, row, ["items", str(i)]), int(row["physical"])) for i, row in enumerate(body["items"])]
    _change, warnings = sim.state.set_stock(warehouse, body.get("description", "control API"), items, ["items"])
    return {"warnings": [w.message for w in warnings], "stock": stock_rows(sim, warehouse_id=warehouse.id)}


async def get_stock(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    wh = request.query_params.get("warehouseId")
    return {"stock": stock_rows(sim, request.query_params.get("sku"), int(wh) if wh else None)}


async def place_order(sim: CentraSimulator, request: Request) -> JSONResponse:
    body = await _body(request)
    state = sim.state
    market_ref = body["market"]
    market = next((m for m in state.markets.values() if market_ref in (m.id, m.name)), None)
    if market is None:
        raise NotFound(f"market {market_ref!r} not found")
    lines = [(_size_ref(sim, row, ["lines", str(i)]), int(row["quantity"])) for i, row in enumerate(body["lines"])]
    given = body.get("address") or {
        "firstName": "Ada",
        "lastName": "Shopper",
        "address1": "Main Street 1",
        "city": "Stockholm",
        "zipCode": "11122",
        "email": "ada@example.com",
    }
    address = Address(**{ADDRESS_FIELDS[key]: value for key, value in given.items()})
    order = state.place_order(
        market_id=market.id,
        country_code=body["country"],
        lines=lines,
        address=address,
        email=body.get("email"),
        confirm=body.get("confirm", True),
        is_on_hold=body.get("isOnHold", False),
        is_waiting_for_payment=body.get("isWaitingForPayment", False),
        hold_reason=body.get("holdReason"),
        number=body.get("number"),
        shipping_cost=float(body.get("shippingCost", 49.0)),
        shipping_option=body.get("shippingOption", refdata.DEFAULT_SHIPPING_OPTION),
    )
    return JSONResponse(order_view(sim, order), status_code=201)


async def get_order(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    return order_view(sim, _order(sim, request))


async def order_flags(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    body = await _body(request)
    order = sim.state.set_flags(
        _order(sim, request),
        is_on_hold=body.get("isOnHold"),
        hold_reason=body.get("holdReason"),
        is_waiting_for_payment=body.get("isWaitingForPayment"),
        note=body.get("note"),
    )
    return order_view(sim, order)


async def confirm(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    return order_view(sim, sim.state.confirm_order(_order(sim, request)))


async def cancel(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    body = await _body(request)
    order = _order(sim, request)
    sim.state.cancel_order(order, remove_from_stock=bool(body.get("removeFromStock")), comment=body.get("comment"))
    return order_view(sim, order)


async def delete_order(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    order = _order(sim, request)
    sim.state.delete_order(order)
    return {"deleted": order.number}


async def settle(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    body = await _body(request)
    shipment = sim.state.shipments.get(int(request.path_params["shipment_id"]))
    if shipment is None:
        raise NotFound("shipment not found")
    entry = sim.state.settle_capture(shipment, bool(body.get("success", True)))
    return {"status": entry.status, "shipment": shipment_view(sim, shipment)}


async def capture_mode(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    if request.method == "PUT":
        body = await _body(request)
        modes = [body.get("mode", sim.state.capture_mode), *(body.get("orders") or {}).values()]
        if any(m not in CAPTURE_MODES for m in modes):
            raise ValueError(f"capture mode must be one of {CAPTURE_MODES}")
        sim.state.capture_mode = body.get("mode", sim.state.capture_mode)
        sim.state.capture_overrides.update({int(k): v for k, v in (body.get("orders") or {}).items()})
    return {"mode": sim.state.capture_mode, "orders": sim.state.capture_overrides}


async def truth(sim: CentraSimulator, _request: Request) -> dict[str, Any]:
    state = sim.state
    return {
        "orders": [order_view(sim, o) for o in state.orders.values()],
        "shipments": [shipment_view(sim, s) for s in state.shipments.values()],
        "stock": stock_rows(sim),
        "deletedOrders": sorted(state.deleted_orders),
    }


async def counters(sim: CentraSimulator, _request: Request) -> dict[str, Any]:
    calls = {k.split(":", 1)[1]: v for k, v in sim.counters.items() if k.startswith("calls:")}
    return {
        "calls": calls,
        "requests": sim.counters["requests"],
        "http": {k: v for k, v in sim.counters.items() if k.startswith("http_")},
        "rateLimited": sim.counters["http_429"],
        "state": dict(sim.state.counters),
        "webhooks": dict(sim.webhooks.counters),
        "faults": dict(sim.faults.injected),
    }


async def faults(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    if request.method == "PUT":
        sim.faults.configure(await _body(request))
    elif request.method == "DELETE":
        sim.faults.clear()
    return sim.faults.to_dict()


async def rate_limits(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    limiter = sim.limiter
    if request.method == "PUT":
        body = await _body(request)
        tier = body.get("tier", limiter.tier)
        if tier not in TIERS:
            raise ValueError(f"tier must be one of {sorted(TIERS)}")
        overrides = {}
        for row in body.get("overrides", []):
            if row["interval"] not in INTERVALS:
                raise ValueError(f"interval must be one of {sorted(INTERVALS)}")
            overrides[(row["type"], row["interval"])] = int(row["quota"])
        if "retryAfterFormat" in body:
            limiter.retry_after_format = body["retryAfterFormat"]
        if "enabled" in body:
            limiter.enabled = bool(body["enabled"])
        limiter.configure(tier, overrides)
    return {
        "tier": limiter.tier,
        "enabled": limiter.enabled,
        "retryAfterFormat": limiter.retry_after_format,
        "buckets": limiter.snapshot(),
    }


async def add_token(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    body = await _body(request)
    permissions = body.get("permissions")
    expires = body.get("expiresAt")
    token = sim.tokens.add(
        ApiToken(
            body["token"],
            body.get("integrationName", "lockstep"),
            frozenset(permissions) if permissions is not None else None,
            datetime.fromisoformat(expires) if expires else None,
        )
    )
    return {
        "token": "***",
        "integrationName": token.integration_name,
        "permissions": sorted(token.permissions) if token.permissions is not None else None,
    }


async def revoke_token(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    return {"revoked": sim.tokens.revoke(request.path_params["token"])}


async def webhooks(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    if request.method == "PUT":
        sim.webhooks.config.update(await _body(request))
    return sim.webhooks.describe()


async def snapshot_api(sim: CentraSimulator, request: Request) -> dict[str, Any]:
    if request.method == "PUT":
        snapshot.load(sim.state, await _body(request))
        return {"loaded": True}
    return snapshot.dump(sim.state)


def routes(sim: CentraSimulator) -> list[Route]:
    table: list[tuple[str, Handler, list[str]]] = [
        ("/_sim/topology", topology, ["GET"]),
        ("/_sim/warehouses", add_warehouse, ["POST"]),
        ("/_sim/allocation-rules", add_rule, ["POST"]),
        ("/_sim/allocation-rules/{rule_id:int}", set_rule, ["PUT"]),
        ("/_sim/markets", add_market, ["POST"]),
        ("/_sim/catalog", seed_catalog, ["POST"]),
        ("/_sim/catalog", list_catalog, ["GET"]),
        ("/_sim/stock", put_stock, ["PUT"]),
        ("/_sim/stock", get_stock, ["GET"]),
        ("/_sim/orders", place_order, ["POST"]),
        ("/_sim/orders/{number:int}", get_order, ["GET"]),
        ("/_sim/orders/{number:int}", delete_order, ["DELETE"]),
        ("/_sim/orders/{number:int}/flags", order_flags, ["POST"]),
        ("/_sim/orders/{number:int}/confirm", confirm, ["POST"]),
        ("/_sim/orders/{number:int}/cancel", cancel, ["POST"]),
        ("/_sim/shipments/{shipment_id:int}/settle-capture", settle, ["POST"]),
        ("/_sim/capture", capture_mode, ["GET", "PUT"]),
        ("/_sim/truth", truth, ["GET"]),
        ("/_sim/counters", counters, ["GET"]),
        ("/_sim/faults", faults, ["GET", "PUT", "DELETE"]),
        ("/_sim/rate-limits", rate_limits, ["GET", "PUT"]),
        ("/_sim/tokens", add_token, ["POST"]),
        ("/_sim/tokens/{token}", revoke_token, ["DELETE"]),
        ("/_sim/webhooks", webhooks, ["GET", "PUT"]),
        ("/_sim/snapshot", snapshot_api, ["GET", "PUT"]),
    ]
    return [_route(path, handler, methods, sim) for path, handler, methods in table]
