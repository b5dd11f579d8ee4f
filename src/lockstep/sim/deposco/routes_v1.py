"""Legacy V1 ``/integration/{code}/…`` with HTTP Basic auth: the practical source of per-facility stock.

Inventory reads (availability per facility, full inventory since a time, item ATP, facility on hand) and the
batch order import that answers ``207`` multistatus with an inner ``409`` for a duplicate.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from . import v1_shapes
from .context import Sim
from .errors import CONCURRENT_UPDATE, DeposcoError, bad_request
from .web import after, read_json, sim

router = APIRouter(prefix="/integration/{code}")


def _authorise(request: Request, code: str, bu: str | None = None) -> Sim:
    s = sim(request)
    if not s.auth.basic_ok(request.headers.get("authorization")) or code != s.tenant_code:
        raise DeposcoError(401, "Bad credentials")
    if bu is not None and bu != s.state.business_unit:
        raise DeposcoError(404, f"Company with code [{bu}] not found")
    return s


def _respond(request: Request, data: dict[str, Any], status: int = 200, json_as_xml: bool = False) -> Response:
    """JSON when the client accepts it, XML otherwise; optionally JSON mislabelled as XML (a live quirk)."""
    accept = request.headers.get("accept", "")
    if "json" in accept or json_as_xml:
        media = "application/xml" if json_as_xml else "application/json"
        return Response(json.dumps(data), status_code=status, media_type=media)
    return Response(v1_shapes.to_xml(data), status_code=status, media_type="application/xml")


def _csv(raw: str | None) -> list[str] | None:
    if raw is None or not raw.strip():
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def _int(raw: str | None, name: str, default: int) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer") from None
    if value < 1:
        raise bad_request(f"{name} must be >= 1")
    return value


@router.get("/enterpriseinventory/{bu}/availability", name="v1.availability")
async def availability(request: Request, code: str, bu: str):
    s = _authorise(request, code, bu)
    q = request.query_params
    requested = _csv(q.get("measures")) or list(s.v1.measures)
    measures = [m for m in requested if m in s.v1.measures]  # unconfigured measures are omitted, not 0
    state = s.state
    items = sorted(n for n in (_csv(q.get("itemNumbers")) or state.item_ids) if n in state.item_ids)
    facilities = sorted(f for f in (_csv(q.get("facilityNumbers")) or state.facility_ids) if f in state.facility_ids)
    size = _int(q.get("pageSize"), "pageSize", 100)
    page = _int(q.get("pageNumber"), "pageNumber", 1)
    items = items[(page - 1) * size : page * size]
    data = v1_shapes.availability(state, items, facilities, measures)
    return _respond(request, data, json_as_xml=s.v1.json_as_xml)


@router.get("/inventory/full", name="v1.inventory.full")
async def full_inventory(request: Request, code: str):
    s = _authorise(request, code)
    q = request.query_params
    since = after(q["startActivityTime"], "startActivityTime") if q.get("startActivityTime") else None
    data = v1_shapes.full_inventory(
        s.state, since, _int(q.get("pageNo"), "pageNo", 1), _int(q.get("pageSize"), "pageSize", 100)
    )
    return _respond(request, data)


@router.get("/items/{bu}/{item}/atps", name="v1.item.atps")
async def item_atps(request: Request, code: str, bu: str, item: str):
    s = _authorise(request, code, bu)
    s.state.item(item)
    return _respond(request, v1_shapes.item_atp(s.state, item))


@router.get("/inventory/{bu}/facility/{facility}", name="v1.facility.inventory")
async def facility_inventory(request: Request, code: str, bu: str, facility: str):
    s = _authorise(request, code, bu)
    s.state.facility(facility)
    return _respond(request, v1_shapes.facility_inventory(s.state, facility))


def _v1_order_to_latest(order: dict[str, Any], bu: str) -> dict[str, Any]:
    """Map a V1 ``OrderHeader`` onto the state's sales-order rules (the same validation as the REST create).

    The XSD names (``number``, ``status``, ``facility``, ``shipToAddress`` as an ``AddressType``,
    ``orderLines.orderLine[]`` with ``itemNumber`` and ``pack``) and the older ``orderNumber`` /
    ``shipFromFacility`` / ``line1`` spellings are both read. V1's one ``name`` becomes first and last name.
    """
    lines = (order.get("orderLines") or {}).get("orderLine") or []
    if isinstance(lines, dict):  # a single child may arrive as an object
        lines = [lines]
    facility = order.get("facility") or order.get("shipFromFacility")
    ship_to = order.get("shipToAddress") or {}
    contact = {k: ship_to[k] for k in ("firstName", "lastName", "phone", "email") if k in ship_to}
    if ship_to.get("name") and "firstName" not in contact:
        first, _, last = str(ship_to["name"]).partition(" ")
        contact.update(firstName=first[:30], lastName=last[:30])
    address = {
        k: ship_to[k] for k in ("line1", "line2", "city", "stateProvince", "postalCode", "country") if k in ship_to
    }
    for v1_name, name in (
        ("addressLine1", "line1"),
        ("addressLine2", "line2"),
        ("addressLine3", "line3"),
        ("addressLine4", "line4"),
        ("stateProvinceCode", "stateProvince"),
        ("countryCode", "country"),
    ):
        if ship_to.get(v1_name) is not None:
            address[name] = ship_to[v1_name]
    header = {
        "businessUnit": {"businessKey": {"code": order.get("businessUnit") or bu}},
        "number": order.get("number") or order.get("orderNumber"),
        "customerOrderNumber": order.get("customerOrderNumber"),
        "orderSource": order.get("orderSource"),
        "orderStatus": order.get("status") or order.get("orderStatus") or "New",
        "shipFromFacility": {"businessKey": {"number": facility}} if facility else None,
        "shipVia": order.get("shipVia"),
        "shipVendor": order.get("shipVendor"),
        "shipMethod": order.get("shipMethod"),
        "placedDate": order.get("placedDate"),
        "shipToContact": contact,
        "shipToAddress": address,
        "orderLines": {"data": [_v1_line(ln) for ln in lines if isinstance(ln, dict)]},
    }
    return {k: value for k, value in header.items() if value is not None}


def _v1_line(line: dict[str, Any]) -> dict[str, Any]:
    item = line.get("itemNumber")
    pack = line.get("pack") if isinstance(line.get("pack"), dict) else {}
    body = {
        "lineNumber": line.get("lineNumber"),
        "customerLineNumber": line.get("customerLineNumber"),
        "item": {"businessKey": {"number": item}},
        "pack": {"businessKey": {"item.number": pack.get("itemNumber") or item, "quantity": pack.get("quantity", 1)}},
        "orderPackQuantity": float(line.get("orderPackQuantity") or 0),
        "unitPrice": line.get("unitPrice"),
    }
    return {k: value for k, value in body.items() if value is not None}


@router.post("/orders", name="v1.orders.import")
async def import_orders(request: Request, code: str):
    """Import new orders only: each answers its own inner status inside one ``207`` multistatus."""
    s = _authorise(request, code)
    body = await read_json(request)
    orders = body.get("order") if isinstance(body, dict) else None
    if isinstance(orders, dict):
        orders = [orders]
    if not isinstance(orders, list):
        raise bad_request('Expected {"order": [...]}')
    responses = []
    base = f"{str(request.base_url).rstrip('/')}/integration/{code}/orders/Sales Order"
    numbers = [(raw.get("number") or raw.get("orderNumber")) if isinstance(raw, dict) else None for raw in orders]
    async with s.guard.hold_many([f"order:{n}" for n in numbers if n]) as busy:
        for raw, number in zip(orders, numbers, strict=True):
            entry: dict[str, Any] = {"type": "Order", "entity": f"Sales Order {number}"}
            if f"order:{number}" in busy:
                entry.update(
                    status="HTTP/1.1 409 Conflict",
                    description=CONCURRENT_UPDATE,
                    errors={"message": [CONCURRENT_UPDATE]},
                )
            elif number in s.state.order_ids:
                entry.update(
                    status="HTTP/1.1 409 Conflict",
                    description=f"Order [Sales Order {number}] already exists",
                    errors={"message": [f"Order [Sales Order {number}] already exists"]},
                )
            else:
                try:
                    s.state.upsert_order(_v1_order_to_latest(raw, s.state.business_unit))
                    entry.update(status="HTTP/1.1 201 Created", href=f"{base}/{number}")
                except DeposcoError as exc:
                    reason = "Not Found" if exc.status == 404 else "Bad Request"
                    entry.update(
                        status=f"HTTP/1.1 {exc.status} {reason}",
                        description=exc.message,
                        errors={"message": [exc.message]},
                    )
            responses.append(entry)
    return _respond(request, {"response": responses}, status=207)
