"""``/_sim/…``: the control and ground-truth API (not part of Deposco's surface).

Protected by the same client credentials (HTTP Basic ``client_id:client_secret``). Tests, scenarios and the
demo use it to seed the tenant, move stock and orders the way a warehouse floor would, inject faults and
throttle at run time, and read the truth (orders held, units shipped, counters) that Lockstep's claims are
checked against.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request

from .auth import Authority
from .catalog import catalog_items
from .context import Sim
from .errors import DeposcoError, bad_request
from .state import AutoFulfil
from .throttle import Throttle
from .v1_shapes import V1_MEASURES
from .web import read_json, sim


def _control_auth(request: Request) -> None:
    if not sim(request).auth.basic_ok(request.headers.get("authorization")):
        raise DeposcoError(401, "Control API: HTTP Basic client_id:client_secret required")


router = APIRouter(prefix="/_sim", dependencies=[Depends(_control_auth)])


def _num(body: dict, name: str, default: float | None = None) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"{name} must be a number")
    return value


def _str(body: dict, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise bad_request(f"{name} is required")
    return value


async def _body(request: Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("a JSON object is expected")
    return body


def _reconfigure(part: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Apply ``body`` with ``part.configure`` (a bad setting is a 400) and answer the settings now in force."""
    try:
        part.configure(body)
    except (ValueError, TypeError) as exc:
        raise bad_request(str(exc)) from None
    return part.to_dict()


def _stock_row(s: Sim, facility: str, sku: str) -> dict[str, Any]:
    return {"facility": facility, "itemNumber": sku, **s.state.inventory(facility, sku)}


@router.get("/health", name="sim.health")
async def health(request: Request):
    s = sim(request)
    return {
        "ok": True,
        "businessUnit": s.state.business_unit,
        "tenantCode": s.tenant_code,
        "seed": s.config.seed,
    }


# ---------------------------------------------------------------------- master data
@router.post("/facilities", name="sim.facilities")
async def create_facility(request: Request):
    body = await _body(request)
    s = sim(request)
    number = _str(body, "number")
    facility, created = s.state.upsert_facility(
        {
            "number": number,
            "name": body.get("name") or number[:30],
            "businessUnit": {"businessKey": {"code": s.state.business_unit}},
        }
    )
    return {"id": facility.id, "number": facility.number, "created": created}


@router.post("/items", name="sim.items")
async def seed_items(request: Request):
    """Upsert items: ``{"items": [{"number", "ean"?, "name"?, "packQuantity"?}]}``."""
    body = await _body(request)
    s = sim(request)
    out = []
    for row in body.get("items") or []:
        payload = {
            "number": _str(row, "number"),
            "businessUnit": {"businessKey": {"code": s.state.business_unit}},
            "name": row.get("name") or row["number"],
            "packs": [{"type": "Each", "quantity": int(row.get("packQuantity", 1))}],
        }
        if row.get("ean"):
            payload["upcs"] = {"data": [{"value": row["ean"]}]}
        item, _ = s.state.upsert_item(payload)
        out.append({"id": item.id, "number": item.number})
    return {"items": out}


@router.post("/catalog", name="sim.catalog")
async def seed_catalog(request: Request):
    """Seed ``products x variants x sizes`` items with EANs; optional ``stock`` on hand per facility."""
    body = await _body(request)
    s = sim(request)
    rows = catalog_items(
        s.state.business_unit,
        int(_num(body, "products", 10)),
        int(_num(body, "variants", 2)),
        int(_num(body, "sizes", 4)),
        str(body.get("prefix") or "SKU"),
        len(s.state.items),
    )
    for row in rows:
        s.state.upsert_item(row)
    stock = body.get("stock") or {}
    for facility, on_hand in stock.items():
        for row in rows:
            s.state.set_on_hand(facility, row["number"], float(on_hand))
    return {"items": [r["number"] for r in rows], "eans": [r["upcs"]["data"][0]["value"] for r in rows]}


# ---------------------------------------------------------------------- stock
@router.put("/stock", name="sim.stock")
async def set_stock(request: Request):
    """Absolute on hand: ``{"rows": [{"facility", "itemNumber", "onHand"}]}`` (or one row inline)."""
    body = await _body(request)
    s = sim(request)
    rows = body.get("rows") or [body]
    for row in rows:
        s.state.set_on_hand(_str(row, "facility"), _str(row, "itemNumber"), _num(row, "onHand"))
    return {"rows": [_stock_row(s, r["facility"], r["itemNumber"]) for r in rows]}


@router.post("/receipts", name="sim.receipts")
async def receipt(request: Request):
    body = await _body(request)
    s = sim(request)
    facility = _str(body, "facility")
    lines = body.get("lines") or []
    for line in lines:
        s.state.receive(facility, _str(line, "itemNumber"), _num(line, "quantity"))
    return {"rows": [_stock_row(s, facility, ln["itemNumber"]) for ln in lines]}


@router.post("/adjustments", name="sim.adjustments")
async def adjustment(request: Request):
    body = await _body(request)
    s = sim(request)
    facility, sku = _str(body, "facility"), _str(body, "itemNumber")
    s.state.adjust(facility, sku, _num(body, "quantity"), str(body.get("reasonCode") or "Cycle Count"))
    return _stock_row(s, facility, sku)


@router.get("/inventory", name="sim.inventory")
async def inventory(request: Request):
    s = sim(request)
    facility, sku = request.query_params.get("facility"), request.query_params.get("itemNumber")
    if not facility or not sku:
        raise bad_request("facility and itemNumber are required")
    return _stock_row(s, facility, sku)


# ---------------------------------------------------------------------- orders and the warehouse floor
@router.post("/otherChannelOrders", name="sim.otherChannelOrders")
async def other_channel_order(request: Request):
    body = await _body(request)
    s = sim(request)
    lines = [(_str(ln, "itemNumber"), _num(ln, "quantity")) for ln in body.get("lines") or []]
    order = s.state.create_other_channel_order(_str(body, "facility"), lines, str(body.get("source") or "Wholesale"))
    return {"id": order.id, "number": order.number, "status": order.status}


@router.post("/orders/{number}/advance", name="sim.orders.advance")
async def advance(request: Request, number: str):
    """Move one order: ``{"to": "Released"|"Picking"|"Ship Complete", "lines": {lineNumber: packs},
    "tracking": true, "packages": n, "carrier": true}`` — shipping with ``lines`` makes a partial shipment;
    ``"carrier": false`` ships with tracking but no ship via, carrier or method."""
    body = await _body(request)
    s = sim(request)
    order = s.state.order_by_number(number)
    lines = body.get("lines")
    if lines is not None and not isinstance(lines, dict):
        raise bad_request("lines must map lineNumber to a pack quantity")
    shipment = s.state.advance(
        order,
        str(body.get("to") or "Ship Complete"),
        lines,
        bool(body.get("tracking", True)),
        body.get("packages"),
        bool(body.get("carrier", True)),
    )
    return {
        "number": order.number,
        "status": order.status,
        "shipment": None
        if shipment is None
        else {"id": shipment.id, "number": shipment.number, "trackingNumber": shipment.tracking_number},
    }


@router.post("/orders/{number}/label", name="sim.orders.label")
async def label(request: Request, number: str):
    s = sim(request)
    shipment = s.state.label_only(s.state.order_by_number(number))
    return {"id": shipment.id, "number": shipment.number}


@router.post("/shipments/{shipment_id}/tracking", name="sim.shipments.tracking")
async def add_tracking(request: Request, shipment_id: int):
    s = sim(request)
    shipment = s.state.add_tracking(s.state.shipment_by_id(shipment_id))
    return {"id": shipment.id, "trackingNumber": shipment.tracking_number}


@router.post("/warehouse/tick", name="sim.warehouse.tick")
async def tick(request: Request):
    return {"shipments": sim(request).tick()}


@router.put("/warehouse/auto", name="sim.warehouse.auto")
async def set_auto(request: Request):
    """``{"releaseAfter", "pickAfter", "shipAfter"}`` in simulated seconds, or ``{"enabled": false}``."""
    body = await _body(request)
    s = sim(request)
    if body.get("enabled") is False:
        s.auto = None
    else:
        s.auto = AutoFulfil(_num(body, "releaseAfter", 60), _num(body, "pickAfter", 60), _num(body, "shipAfter", 60))
    return {"auto": None if s.auto is None else asdict(s.auto)}


@router.get("/clock", name="sim.clock")
async def clock(request: Request):
    s = sim(request)
    return {"now": s.clock.now(), "offset": s.clock.offset}


@router.post("/clock/advance", name="sim.clock.advance")
async def advance_clock(request: Request):
    """Move simulated time (token expiry, auto-fulfilment) and let the warehouse catch up."""
    body = await _body(request)
    s = sim(request)
    try:
        now = s.clock.advance(_num(body, "seconds"))
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    return {"now": now, "shipments": s.tick()}


# ---------------------------------------------------------------------- truth and counters
@router.get("/truth", name="sim.truth")
async def truth(request: Request):
    s = sim(request)
    return {**s.state.truth(), "webhooksDelivered": len(s.webhooks.delivered)}


@router.get("/counters", name="sim.counters")
async def counters(request: Request):
    s = sim(request)
    return {**s.counters.to_dict(), "faultsInjected": dict(s.faults.injected), "tokensIssued": s.auth.issued}


@router.post("/counters/reset", name="sim.counters.reset")
async def reset_counters(request: Request):
    s = sim(request)
    s.counters.reset()
    s.faults.injected.clear()
    return {"ok": True}


# ---------------------------------------------------------------------- faults, throttle, webhooks, auth, V1
@router.get("/faults", name="sim.faults.get")
async def get_faults(request: Request):
    return sim(request).faults.to_dict()


@router.put("/faults", name="sim.faults.set")
async def set_faults(request: Request):
    """Same JSON as :class:`lockstep.sim.faults.FaultPlan`; keys are ``"<METHOD> <route>"`` (see README)."""
    return _reconfigure(sim(request).faults, await _body(request))


def _throttle_settings(t: Throttle) -> dict[str, Any]:
    return {"requestsPerSecond": t.rate, "burst": t.burst, "retryAfter": t.retry_after}


@router.get("/throttle", name="sim.throttle.get")
async def get_throttle(request: Request):
    return _throttle_settings(sim(request).throttle)


@router.put("/throttle", name="sim.throttle.set")
async def set_throttle(request: Request):
    body = await _body(request)
    t = sim(request).throttle
    t.retry_after = body.get("retryAfter", t.retry_after)
    t.configure(_num(body, "requestsPerSecond", t.rate), body.get("burst"))
    return _throttle_settings(t)


@router.get("/webhooks", name="sim.webhooks.get")
async def get_webhooks(request: Request):
    return sim(request).webhooks.to_dict()


@router.put("/webhooks", name="sim.webhooks.set")
async def set_webhooks(request: Request):
    """``{"url": "...", "faults": {"drop", "duplicate", "reorder", "delay", "delay_seconds"}}``."""
    return _reconfigure(sim(request).webhooks, await _body(request))


@router.post("/webhooks/drain", name="sim.webhooks.drain")
async def drain_webhooks(request: Request):
    s = sim(request)
    await s.webhooks.drain()
    return s.counters.to_dict()["webhooks"]


def _auth_settings(a: Authority) -> dict[str, Any]:
    return {"refreshToken": a.refresh_token, "tokenTtl": a.ttl, "tokensIssued": a.issued}


@router.get("/auth", name="sim.auth.get")
async def get_auth(request: Request):
    return _auth_settings(sim(request).auth)


@router.put("/auth", name="sim.auth.set")
async def set_auth(request: Request):
    body = await _body(request)
    a = sim(request).auth
    a.ttl = _num(body, "tokenTtl", a.ttl)
    return _auth_settings(a)


@router.post("/auth/expire", name="sim.auth.expire")
async def expire_tokens(request: Request):
    return {"expired": sim(request).auth.expire_all()}


@router.put("/v1", name="sim.v1")
async def set_v1(request: Request):
    """Tenant quirks: ``{"measures": [...configured...], "jsonAsXml": true}``."""
    body = await _body(request)
    s = sim(request)
    if "measures" in body:
        unknown = set(body["measures"]) - set(V1_MEASURES)
        if unknown:
            raise bad_request(f"unknown measures {sorted(unknown)}")
        s.v1.measures = tuple(body["measures"])
    s.v1.json_as_xml = bool(body.get("jsonAsXml", s.v1.json_as_xml))
    return {"measures": list(s.v1.measures), "jsonAsXml": s.v1.json_as_xml}


@router.get("/snapshot", name="sim.snapshot.get")
async def get_snapshot(request: Request):
    return sim(request).state.snapshot()


@router.put("/snapshot", name="sim.snapshot.set")
async def put_snapshot(request: Request):
    body = await _body(request)
    try:
        sim(request).state.restore(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise bad_request(f"invalid snapshot: {exc}") from None
    return {"ok": True}
