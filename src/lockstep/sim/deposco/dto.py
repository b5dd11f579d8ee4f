"""Render simulator records as Deposco "latest" DTOs (ItemDTO, SalesOrderDTO, OutboundShipmentDTO, …).

This is the only module that knows the response field names; shapes follow the reconstructed OpenAPI 2.0.2519
and the captured real responses (``{id, businessKey, href}`` references, nested collections capped at 10
rows). ``api`` is the base URL of ``/latest`` as the client reached it, so every ``href`` is followable.
"""

from __future__ import annotations

from typing import Any

from .clock import iso
from .model import Adjustment, Container, Facility, Item, OrderLine, Pack, SalesOrder, Shipment, ShipmentLine
from .paging import nested
from .state import DeposcoState


class Renderer:
    def __init__(self, state: DeposcoState, api: str) -> None:
        self.state = state
        self.api = api.rstrip("/")

    # ------------------------------------------------------------------ references
    def ref(self, path: str, entity_id: int, key: dict[str, Any]) -> dict[str, Any]:
        return {"id": entity_id, "businessKey": key, "href": f"{self.api}/{path}/{entity_id}"}

    def bu_ref(self) -> dict[str, Any]:
        return {"id": 1, "businessKey": {"code": self.state.business_unit}, "href": f"{self.api}/companies/1"}

    def item_ref(self, item_id: int, number: str) -> dict[str, Any]:
        return self.ref("items", item_id, {"number": number, "businessUnit.code": self.state.business_unit})

    def pack_ref(self, item_id: int, item_number: str, pack_id: int, quantity: int) -> dict[str, Any]:
        key = {
            "item.number": item_number,
            "quantity": quantity,
            "item.businessUnit.code": self.state.business_unit,
        }
        return {"id": pack_id, "businessKey": key, "href": f"{self.api}/items/{item_id}/packs/{pack_id}"}

    def facility_ref(self, number: str | None) -> dict[str, Any] | None:
        if number is None or number not in self.state.facility_ids:
            return None
        return self.ref("facilities", self.state.facility_ids[number], {"number": number})

    def order_ref(self, order: SalesOrder) -> dict[str, Any]:
        return self.ref(
            "orders/salesOrders",
            order.id,
            {"number": order.number, "businessUnit.code": self.state.business_unit},
        )

    def shipment_ref(self, shipment: Shipment) -> dict[str, Any]:
        return self.ref(
            "shipments/outboundShipments",
            shipment.id,
            {"number": shipment.number, "businessUnit.code": self.state.business_unit},
        )

    # ------------------------------------------------------------------ items and facilities
    def pack(self, item: Item, pack: Pack) -> dict[str, Any]:
        return {
            "self": self.pack_ref(item.id, item.number, pack.id, pack.quantity),
            "businessUnit": self.bu_ref(),
            "item": self.item_ref(item.id, item.number),
            "type": pack.type,
            "quantity": pack.quantity,
            "key": f"{item.number}|{pack.type}|{pack.quantity}",
            "name": pack.type,
            "newPackFlag": pack.fields.get("newPackFlag", False),
            "weight": pack.fields.get("weight"),
            "createdDate": iso(item.created),
            "updatedDate": iso(item.updated),
        }

    def upc(self, item: Item, value: str, index: int) -> dict[str, Any]:
        return {
            "self": {"id": item.id * 100 + index, "businessKey": {"value": value}},
            "item": self.item_ref(item.id, item.number),
            "value": value,
        }

    def item(self, item: Item) -> dict[str, Any]:
        upcs = list(enumerate(item.upcs, start=1))
        return {
            "self": self.item_ref(item.id, item.number),
            "businessUnit": self.bu_ref(),
            "number": item.number,
            **item.fields,
            "packs": [self.pack(item, p) for p in item.packs],
            "upcs": nested(upcs, lambda u: self.upc(item, u[1], u[0]), row_id=lambda u: u[0]),
            "createdDate": iso(item.created),
            "updatedDate": iso(item.updated),
        }

    def facility(self, facility: Facility) -> dict[str, Any]:
        return {
            "self": self.ref("facilities", facility.id, {"number": facility.number}),
            "businessUnit": self.bu_ref(),
            "number": facility.number,
            "name": facility.number,
            **facility.fields,
            "createdDate": iso(facility.created),
            "updatedDate": iso(facility.updated),
        }

    # ------------------------------------------------------------------ inventory
    def adjustment(self, adjustment: Adjustment) -> dict[str, Any]:
        """An InventoryAdjustmentDTO: a signed on-hand change of one item in one facility (packs of one here)."""
        item_id = self.state.item_ids.get(adjustment.item_number, 0)
        item = self.state.items.get(item_id)
        pack = item.packs[0] if item is not None and item.packs else None
        return {
            "self": self.ref("inventory/inventoryAdjustments", adjustment.id, {"id": adjustment.id}),
            "businessUnit": self.bu_ref(),
            "facility": self.facility_ref(adjustment.facility) or {"businessKey": {"number": adjustment.facility}},
            "item": self.item_ref(item_id, adjustment.item_number),
            "pack": self.pack_ref(item_id, adjustment.item_number, pack.id if pack else 0, 1),
            "quantity": int(adjustment.quantity),
            "actionType": "Adjustment",
            "inventoryStatus": "Available",
            "reasonCode": adjustment.reason_code[:20] or None,
            "createdDate": iso(adjustment.created),
        }

    # ------------------------------------------------------------------ sales orders
    def order_line(self, order: SalesOrder, line: OrderLine) -> dict[str, Any]:
        return {
            "self": self.ref(
                f"orders/salesOrders/{order.id}/orderLines",
                line.id,
                {
                    "orderHeader.number": order.number,
                    "lineNumber": line.line_number,
                    "orderHeader.businessUnit.code": self.state.business_unit,
                },
            ),
            "businessUnit": self.bu_ref(),
            "lineNumber": line.line_number,
            "customerLineNumber": line.customer_line_number,
            "orderHeader": self.order_ref(order),
            "item": self.item_ref(line.item_id, line.item_number),
            "pack": self.pack_ref(line.item_id, line.item_number, line.pack_id, line.pack_quantity),
            **line.fields,
            "orderPackQuantity": line.order_pack_quantity,
            "canceledPackQuantity": line.canceled,
            "orderLineStatus": line.status,
            "shipFromFacility": self.facility_ref(order.facility),
            "allocatedQuantity": line.remaining if order.status in ("Released", "Picking", "Partially Shipped") else 0,
            "pickedPackQuantity": line.picked,
            "shortagePackQuantity": 0,
            "shippedPackQuantity": line.shipped,
            "createdDate": iso(line.created),
            "updatedDate": iso(line.updated),
        }

    def order(self, order: SalesOrder) -> dict[str, Any]:
        shipments = [self.state.shipments[s] for s in order.shipment_ids]
        last_ship = max((s.actual_ship_date or 0 for s in shipments), default=None)
        return {
            "self": self.order_ref(order),
            "businessUnit": self.bu_ref(),
            "number": order.number,
            **order.fields,
            "type": "Sales Order",
            "orderStatus": order.status,
            "shipFromFacility": self.facility_ref(order.facility),
            "actualShipDate": iso(last_ship) if last_ship else None,
            "orderLines": nested(order.lines, lambda ln: self.order_line(order, ln)),
            "shipments": nested(shipments, self.shipment_ref),
            "createdDate": iso(order.created),
            "updatedDate": iso(order.updated),
        }

    # ------------------------------------------------------------------ shipments
    def shipment_line(self, shipment: Shipment, line: ShipmentLine) -> dict[str, Any]:
        order = self.state.orders[shipment.order_id]
        return {
            "self": self.ref(
                f"shipments/outboundShipments/{shipment.id}/shipmentLines",
                line.id,
                {"number": line.number, "shipment.number": shipment.number},
            ),
            "businessUnit": self.bu_ref(),
            "shipment": self.shipment_ref(shipment),
            "number": line.number,
            "orderLine": self.ref(
                f"orders/salesOrders/{order.id}/orderLines",
                line.order_line_id,
                {"orderHeader.number": order.number},
            ),
            "orderLineDetails": {
                "customerLineNumber": line.customer_line_number,
                "pack": self.pack_ref(line.item_id, line.item_number, line.pack_id, line.pack_quantity),
            },
            "item": self.item_ref(line.item_id, line.item_number),
            "pack": self.pack_ref(line.item_id, line.item_number, line.pack_id, line.pack_quantity),
            "orderPackQuantity": line.order_pack_quantity,
            "shippedPackQuantity": line.shipped_pack_quantity,
            "canceledPackQuantity": 0,
            "shortagePackQuantity": 0,
            "pickedPackQuantity": line.shipped_pack_quantity,
            "externalLineNumber": None,
            "lotNumber": None,
            "lineSerialNumbers": [],
            "createdDate": iso(line.created),
            "updatedDate": iso(shipment.updated),
        }

    def container(self, shipment: Shipment, container: Container) -> dict[str, Any]:
        by_id = {ln.id: ln for ln in shipment.lines}
        return {
            "self": {"id": container.id, "businessKey": {"number": container.number}},
            "businessUnit": self.bu_ref(),
            "number": container.number,
            "lpnNumber": container.lpn_number,
            "type": "Carton",
            "status": "Shipped",
            "shipment": self.shipment_ref(shipment),
            "trackingNumber": container.tracking_number,
            "trackingNumber2": None,
            "returnTrackingNumber": None,
            "weight": {"value": container.weight_kg, "units": "kg"},
            "shippedContainerLines": [
                {
                    "item": self.item_ref(by_id[lid].item_id, by_id[lid].item_number),
                    "pack": self.pack_ref(
                        by_id[lid].item_id,
                        by_id[lid].item_number,
                        by_id[lid].pack_id,
                        by_id[lid].pack_quantity,
                    ),
                    "externalLineNumber": None,
                    "shippedPackQuantity": qty,
                }
                for lid, qty in container.lines
            ],
            "createdDate": iso(container.created),
            "updatedDate": iso(shipment.updated),
        }

    def shipment(self, shipment: Shipment) -> dict[str, Any]:
        order = self.state.orders[shipment.order_id]
        units = sum(ln.shipped_pack_quantity * ln.pack_quantity for ln in shipment.lines)
        weight = round(sum(c.weight_kg for c in shipment.containers), 2)
        return {
            "self": self.shipment_ref(shipment),
            "businessUnit": self.bu_ref(),
            "number": shipment.number,
            "type": "Outbound Shipment",
            "status": shipment.status,
            "orderHeaders": {"data": [self.order_ref(order)], "links": [], "complete": True, "pages": 1},
            "shipFromFacility": self.facility_ref(shipment.facility),
            "shipVia": shipment.ship_via,
            "shipVendor": shipment.ship_vendor,
            "shipMethod": shipment.ship_method,
            "trackingNumber": shipment.tracking_number,
            "trackingUrl": shipment.tracking_url,
            "shipToContact": order.fields.get("shipToContact"),
            "shipToAddress": order.fields.get("shipToAddress"),
            "shipmentDates": {
                "plannedShipDate": order.fields.get("plannedShipDate"),
                "actualShipDate": iso(shipment.actual_ship_date),
                "actualArrivalDate": None,
            },
            "totalPackages": len(shipment.containers),
            "totalPieces": units,
            "totalWeight": {"value": weight, "units": "kg"},
            "chargeableWeight": {"value": weight, "units": "kg"},
            "lpnNumber": shipment.containers[0].lpn_number if shipment.containers else None,
            "shippingCosts": {
                "shippingCost": round(4.9 * len(shipment.containers), 2),
                "handlingCost": 0,
                "insuranceCost": 0,
                "taxCost": 0,
                "currencyCode": "EUR",
                "freightTermsType": "Prepaid",
            },
            "shipmentLines": nested(shipment.lines, lambda ln: self.shipment_line(shipment, ln)),
            "shippedContainers": nested(shipment.containers, lambda c: self.container(shipment, c)),
            "createdDate": iso(shipment.created),
            "updatedDate": iso(shipment.updated),
        }
