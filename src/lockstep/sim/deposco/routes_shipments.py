"""``/latest/shipments/outboundShipments``: shipments (polled by ``updatedAfter``/``shippedAfter``), lines."""

from __future__ import annotations

from fastapi import APIRouter, Request

from .web import find, listing, ok, parse_id, renderer, require, sim

router = APIRouter(prefix="/latest/shipments/outboundShipments")

SHIPMENT_FILTERS = (
    "businessUnit",
    "shipmentNumber",
    "orderNumber",
    "customerOrderNumber",
    "shipmentStatus",
    "shippedAfter",
    "createdAfter",
    "updatedAfter",
)
LINE_FILTERS = ("shipmentLineNumber", "createdAfter", "updatedAfter")


@router.get("", name="outboundShipments.list")
async def list_shipments(request: Request):
    require(request, "outboundShipments/read")
    s, r = sim(request), renderer(request)
    orders = s.state.orders

    def attrs(sh):
        order = orders[sh.order_id]
        return {
            "businessUnit": sh.business_unit,
            "shipmentNumber": sh.number,
            "orderNumber": order.number,
            "customerOrderNumber": order.fields.get("customerOrderNumber"),
            "shipmentStatus": sh.status,
            "shippedAfter": sh.actual_ship_date,
            "createdAfter": sh.created,
            "updatedAfter": sh.updated,
        }

    return listing(request, s.state.shipments.values(), attrs, SHIPMENT_FILTERS, 50, 100, r.shipment)


def _shipment(request: Request, raw_id: str):
    return sim(request).state.shipment_by_id(parse_id(raw_id, "Outbound Shipment"))


@router.get("/{shipmentId}", name="outboundShipments.get")
async def get_shipment(request: Request, shipmentId: str):
    require(request, "outboundShipments/read")
    return ok(renderer(request).shipment(_shipment(request, shipmentId)))


@router.get("/{shipmentId}/shipmentLines", name="outboundShipments.lines.list")
async def list_lines(request: Request, shipmentId: str):
    require(request, "outboundShipments/read")
    shipment, r = _shipment(request, shipmentId), renderer(request)
    return listing(
        request,
        shipment.lines,
        lambda ln: {
            "shipmentLineNumber": ln.number,
            "createdAfter": ln.created,
            "updatedAfter": shipment.updated,
        },
        LINE_FILTERS,
        50,
        100,
        lambda ln: r.shipment_line(shipment, ln),
    )


@router.get("/{shipmentId}/shipmentLines/{shipmentLineId}", name="outboundShipments.lines.get")
async def get_line(request: Request, shipmentId: str, shipmentLineId: str):
    require(request, "outboundShipments/read")
    shipment = _shipment(request, shipmentId)
    line = find(shipment.lines, shipmentLineId, "Outbound Shipment Line")
    return ok(renderer(request).shipment_line(shipment, line))
