"""``/latest/orders/salesOrders``: create-or-update by number, read, status, cancellations, order lines.

Writes to one order go through the write guard, so overlapping requests for the same order get Deposco's 409.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from .errors import DeposcoError
from .web import find, listing, ok, parse_id, read_json, renderer, require, sim

router = APIRouter(prefix="/latest/orders/salesOrders")

ORDER_FILTERS = ("businessUnit", "number", "orderStatus", "createdAfter", "updatedAfter")
LINE_FILTERS = ("lineNumber", "orderLineStatus", "createdAfter", "updatedAfter")


def _order(request: Request, raw_id: str):
    return sim(request).state.order_by_id(parse_id(raw_id, "Sales Order"))


@router.get("", name="salesOrders.list")
async def list_orders(request: Request):
    require(request, "salesOrders/read")
    s, r = sim(request), renderer(request)
    return listing(
        request,
        s.state.orders.values(),
        lambda o: {
            "businessUnit": o.business_unit,
            "number": o.number,
            "orderStatus": o.status,
            "createdAfter": o.created,
            "updatedAfter": o.updated,
        },
        ORDER_FILTERS,
        25,
        50,
        r.order,
    )


@router.post("", name="salesOrders.upsert")
async def upsert_order(request: Request):
    require(request, "salesOrders/write")
    s = sim(request)
    payload = await read_json(request)
    key = payload.get("number") if isinstance(payload, dict) else None
    async with s.guard.hold(f"order:{key}"):
        order, _ = s.state.upsert_order(payload)
    return ok(renderer(request).order(order))


@router.get("/{orderId}", name="salesOrders.get")
async def get_order(request: Request, orderId: str):
    require(request, "salesOrders/read")
    return ok(renderer(request).order(_order(request, orderId)))


@router.get("/{orderId}/status", name="salesOrders.status.get")
async def get_status(request: Request, orderId: str):
    require(request, "salesOrders/read")
    return ok({"orderStatus": _order(request, orderId).status})


@router.post("/{orderId}/status", name="salesOrders.status.set")
async def set_status(request: Request, orderId: str):
    require(request, "salesOrders/write")
    s, order = sim(request), _order(request, orderId)
    async with s.guard.hold(f"order:{order.number}"):
        s.state.set_status(order, request.query_params.get("value"))
    return ok(renderer(request).order(order))


@router.post("/{orderId}/cancellations", name="salesOrders.cancellations")
async def cancel(request: Request, orderId: str):
    require(request, "salesOrders/write")
    s, order = sim(request), _order(request, orderId)
    payload = await read_json(request)
    async with s.guard.hold(f"order:{order.number}"):
        s.state.cancel(order, payload)
    return ok(renderer(request).order(order))


@router.get("/{orderId}/orderLines", name="salesOrders.lines.list")
async def list_lines(request: Request, orderId: str):
    require(request, "salesOrders/read")
    order, r = _order(request, orderId), renderer(request)
    return listing(
        request,
        order.lines,
        lambda ln: {
            "lineNumber": ln.line_number,
            "orderLineStatus": ln.status,
            "createdAfter": ln.created,
            "updatedAfter": ln.updated,
        },
        LINE_FILTERS,
        25,
        50,
        lambda ln: r.order_line(order, ln),
    )


@router.get("/{orderId}/orderLines/{orderLineId}", name="salesOrders.lines.get")
async def get_line(request: Request, orderId: str, orderLineId: str):
    require(request, "salesOrders/read")
    order = _order(request, orderId)
    return ok(renderer(request).order_line(order, find(order.lines, orderLineId, "Order line")))


@router.post("/{orderId}/orderLines/{orderLineId}", name="salesOrders.lines.update")
async def update_line(request: Request, orderId: str, orderLineId: str):
    """Update one line: the same rules as an order upsert carrying just this line."""
    require(request, "salesOrders/write")
    s, order = sim(request), _order(request, orderId)
    line = find(order.lines, orderLineId, "Order line")
    payload = await read_json(request)
    if not isinstance(payload, dict):
        raise DeposcoError(400, "JSON parse error: an order line object is expected")
    merged = {
        "lineNumber": line.line_number,
        "orderPackQuantity": line.order_pack_quantity,
        "item": {"id": line.item_id},
        "pack": {"id": line.pack_id},
        **payload,
    }
    merged["lineNumber"] = line.line_number
    async with s.guard.hold(f"order:{order.number}"):
        s.state.upsert_order(
            {
                "number": order.number,
                "businessUnit": {"businessKey": {"code": order.business_unit}},
                "orderLines": {"data": [merged]},
            }
        )
    return ok(renderer(request).order_line(order, line))
