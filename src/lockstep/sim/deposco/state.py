"""The simulated Deposco tenant: item master, facilities, stock, and the truth about them.

:class:`DeposcoState` is the warehouse's rules and nothing else (no HTTP, no JSON shapes). This module holds
the records, item and facility upserts with Deposco's validation, stock movements and the inventory arithmetic
``ATP = on hand - open order demand`` over every open status; the sales-order rules (:mod:`.orders`) and the
warehouse floor (:mod:`.fulfilment`) are mixed in. All randomness comes from one seeded generator, so a run is
reproducible, and the whole state round-trips through a JSON snapshot.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any

from . import validation as v
from .clock import SimClock
from .errors import bad_request, not_found
from .fulfilment import SHIPPABLE, AutoFulfil, Fulfilment, ShipmentListener
from .model import (
    Adjustment,
    Container,
    Facility,
    Item,
    OrderLine,
    Pack,
    SalesOrder,
    Shipment,
    ShipmentLine,
    StockCell,
)
from .orders import OrderRules

__all__ = ["AutoFulfil", "DeposcoState"]

ALLOCATED = SHIPPABLE  # released to the floor: stock is allocated to these orders


class DeposcoState(OrderRules, Fulfilment):
    def __init__(self, business_unit: str = "BU1", seed: int = 0, clock: SimClock | None = None) -> None:
        self.business_unit = business_unit
        self.seed = seed
        self.rng = random.Random(seed)
        self.clock = clock or SimClock()
        self.items: dict[int, Item] = {}
        self.item_ids: dict[str, int] = {}
        self.upc_owner: dict[str, int] = {}
        self.facilities: dict[int, Facility] = {}
        self.facility_ids: dict[str, int] = {}
        self.orders: dict[int, SalesOrder] = {}
        self.order_ids: dict[str, int] = {}
        self.shipments: dict[int, Shipment] = {}
        self.stock: dict[str, dict[str, StockCell]] = {}
        self.adjustments: list[Adjustment] = []
        self.listeners: list[ShipmentListener] = []
        self.stock_listeners: list[Callable[[Adjustment], None]] = []  # receipts and adjustments, as they happen
        self._ids = {
            "item": 1000,
            "pack": 5000,
            "facility": 0,
            "order": 5000,
            "line": 200000,
            "shipment": 1000,
            "shipment_line": 300000,
            "container": 400000,
            "adjustment": 0,
            "shipment_number": 1000,
            "other_order": 0,
        }

    # ------------------------------------------------------------------ helpers
    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def now(self) -> float:
        return self.clock.now()

    def _check_business_unit(self, ref: Any, path: str, required: bool = True) -> None:
        if ref is None:
            if required:
                raise bad_request(f"{path} must not be null")
            return
        key = v.business_key(ref, path)
        code = key.get("code")
        if code is not None and code != self.business_unit:
            raise not_found(f"Company with business key code = [{code}]")

    def _record_number(self, payload: Any, kind: str, noun: str) -> str:
        """The ``number`` of an upserted record (its business key), after the checks every upsert makes first:
        a JSON object, this tenant's business unit, and a non-blank number."""
        if not isinstance(payload, dict):
            raise bad_request(f"JSON parse error: {noun} object is expected")
        self._check_business_unit(payload.get("businessUnit"), f"{kind}.businessUnit")
        number = payload.get("number")
        if not isinstance(number, str) or not number.strip():
            raise bad_request(f"{kind}.number must not be null")
        return number

    def item_by_ref(self, ref: Any, path: str) -> Item:
        if not isinstance(ref, dict):
            raise bad_request(f"{path} must not be null")
        if isinstance(ref.get("id"), int) and not isinstance(ref.get("id"), bool):
            item = self.items.get(ref["id"])
            if item is None:
                raise not_found(f"Item with id = [{ref['id']}]")
            return item
        number = v.business_key(ref, path).get("number")
        item_id = self.item_ids.get(str(number)) if number is not None else None
        if item_id is None:
            raise not_found(f"Item with business key number = [{number}]")
        return self.items[item_id]

    def item(self, number: str) -> Item:
        return self.item_by_ref({"businessKey": {"number": number}}, "item")

    def facility(self, number: str) -> Facility:
        facility_id = self.facility_ids.get(number)
        if facility_id is None:
            raise not_found(f"Facility with business key number = [{number}]")
        return self.facilities[facility_id]

    def facility_by_ref(self, ref: Any, path: str) -> Facility:
        if isinstance(ref, dict) and isinstance(ref.get("id"), int):
            found = self.facilities.get(ref["id"])
            if found is None:
                raise not_found(f"Facility with id = [{ref['id']}]")
            return found
        return self.facility(str(v.business_key(ref, path).get("number")))

    def order_by_id(self, order_id: int) -> SalesOrder:
        order = self.orders.get(order_id)
        if order is None:
            raise not_found(f"Sales Order with id = [{order_id}]")
        return order

    def order_by_number(self, number: str) -> SalesOrder:
        order_id = self.order_ids.get(number)
        if order_id is None:
            raise not_found(f"Sales Order with business key number = [{number}]")
        return self.orders[order_id]

    def shipment_by_id(self, shipment_id: int) -> Shipment:
        shipment = self.shipments.get(shipment_id)
        if shipment is None:
            raise not_found(f"Outbound Shipment with id = [{shipment_id}]")
        return shipment

    # ------------------------------------------------------------------ items
    def upsert_item(self, payload: Any) -> tuple[Item, bool]:
        """``POST /items``: create, or update the item with the same number (+ business unit)."""
        number = self._record_number(payload, "item", "an item")
        fields = v.accept("item", payload, v.ITEM_FIELDS)
        fields.pop("number", None)
        if "weight" in payload:
            fields["weight"] = v.weight("item.weight", payload["weight"])
        packs = self._parse_packs(payload.get("packs"))
        upcs = self._parse_upcs(payload)
        existing = self.items.get(self.item_ids.get(number, -1))
        if existing is None and not packs:
            raise bad_request("item.packs must not be empty")
        for upc in upcs:
            owner = self.upc_owner.get(upc)
            if owner is not None and (existing is None or owner != existing.id):
                raise bad_request(f"UPC {upc} exists for item {self.items[owner].number}")
        now = self.now()
        created = existing is None
        if existing is None:
            existing = Item(
                id=self._next("item"),
                number=number,
                business_unit=self.business_unit,
                created=now,
                updated=now,
            )
            self.items[existing.id] = existing
            self.item_ids[number] = existing.id
        existing.fields.update(fields)
        for pack_type, quantity, extra in packs:
            match = next((p for p in existing.packs if p.type == pack_type and p.quantity == quantity), None)
            if match is None:
                existing.packs.append(Pack(id=self._next("pack"), type=pack_type, quantity=quantity, fields=extra))
            else:
                match.fields.update(extra)
        for upc in upcs:
            if upc not in existing.upcs:
                existing.upcs.append(upc)
            self.upc_owner[upc] = existing.id
        existing.updated = now
        return existing, created

    @staticmethod
    def _parse_packs(raw: Any) -> list[tuple[str, int, dict]]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise bad_request("JSON parse error: item.packs must be an array")
        packs = []
        for i, pack in enumerate(raw):
            path = f"item.packs[{i}]"
            if not isinstance(pack, dict):
                raise bad_request(f"JSON parse error: {path} must be an object")
            pack_type, quantity = pack.get("type"), pack.get("quantity")
            if pack_type not in v.PACK_TYPES:
                raise bad_request(f"{path}.type must be one of {sorted(v.PACK_TYPES)}")
            if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
                raise bad_request(f"{path}.quantity must be greater than or equal to 1")
            extra: dict[str, Any] = {}
            if isinstance(pack.get("newPackFlag"), bool):
                extra["newPackFlag"] = pack["newPackFlag"]
            if pack.get("weight") is not None:
                extra["weight"] = v.weight(f"{path}.weight", pack["weight"])
            packs.append((pack_type, quantity, extra))
        return packs

    @staticmethod
    def _parse_upcs(payload: dict) -> list[str]:
        found: list[str] = []
        sources = [payload.get("upcs")] + [p.get("upcs") for p in payload.get("packs") or [] if isinstance(p, dict)]
        for source in sources:
            rows = source.get("data") if isinstance(source, dict) else None
            for row in rows or []:
                value = row.get("value") if isinstance(row, dict) else None
                if not isinstance(value, str) or not value.strip():
                    raise bad_request("upc.value must not be blank")
                if value not in found:
                    found.append(value)
        return found

    def delete_upc(self, item: Item, upc: str) -> None:
        if upc not in item.upcs:
            raise not_found(f"UPC {upc} not found for item {item.number}")
        item.upcs.remove(upc)
        self.upc_owner.pop(upc, None)
        item.updated = self.now()

    # ------------------------------------------------------------------ facilities
    def upsert_facility(self, payload: Any) -> tuple[Facility, bool]:
        number = self._record_number(payload, "facility", "a facility")
        fields = v.accept("facility", payload, v.FACILITY_FIELDS)
        fields.pop("number", None)
        now = self.now()
        existing = self.facilities.get(self.facility_ids.get(number, -1))
        created = existing is None
        if existing is None:
            existing = Facility(
                id=self._next("facility"),
                number=number,
                business_unit=self.business_unit,
                created=now,
                updated=now,
                fields={"type": "Distribution Center"},
            )
            self.facilities[existing.id] = existing
            self.facility_ids[number] = existing.id
            self.stock.setdefault(number, {})
        existing.fields.update(fields)
        existing.updated = now
        return existing, created

    # ------------------------------------------------------------------ stock
    def _cell(self, facility: str | None, item_number: str) -> StockCell:
        return self.stock.setdefault(facility or "", {}).setdefault(item_number, StockCell())

    def _move_stock(self, facility: str | None, item_number: str, delta: float, kind: str, reason: str) -> None:
        cell = self._cell(facility, item_number)
        cell.on_hand += delta
        cell.activity = self.now()
        record = Adjustment(
            id=self._next("adjustment"),
            facility=facility or "",
            item_number=item_number,
            quantity=delta,
            reason_code=reason,
            created=cell.activity,
            kind=kind,
        )
        self.adjustments.append(record)
        if kind in ("Adjustment", "Receipt"):
            for listener in self.stock_listeners:
                listener(record)

    def receive(self, facility: str, item_number: str, quantity: float) -> StockCell:
        if quantity <= 0:
            raise bad_request("receipt quantity must be positive")
        self.facility(facility)
        self.item(item_number)
        self._move_stock(facility, item_number, quantity, "Receipt", "receipt")
        return self._cell(facility, item_number)

    def adjust(self, facility: str, item_number: str, delta: float, reason: str = "Cycle Count") -> StockCell:
        self.facility(facility)
        self.item(item_number)
        self._move_stock(facility, item_number, delta, "Adjustment", reason)
        return self._cell(facility, item_number)

    def set_on_hand(self, facility: str, item_number: str, on_hand: float) -> StockCell:
        self.facility(facility)
        self.item(item_number)
        delta = on_hand - self._cell(facility, item_number).on_hand
        self._move_stock(facility, item_number, delta, "Adjustment", "set stock")
        return self._cell(facility, item_number)

    def open_units(self, facility: str, item_number: str, statuses: Iterable[str] | None = None) -> float:
        wanted = set(statuses) if statuses is not None else None
        total = 0.0
        for order in self.orders.values():
            if not order.is_open or order.facility != facility:
                continue
            if wanted is not None and order.status not in wanted:
                continue
            total += sum(line.remaining_units for line in order.lines if line.item_number == item_number)
        return total

    def inventory(self, facility: str, item_number: str) -> dict[str, float]:
        """Per-facility figures; ``atpQty`` nets out open demand of every open status and can go negative."""
        on_hand = self._cell(facility, item_number).on_hand
        open_units = self.open_units(facility, item_number)
        allocated = self.open_units(facility, item_number, ALLOCATED)
        return {
            "totalOnHandQty": on_hand,
            "openOrderLineQty": open_units,
            "allocatedQty": allocated,
            "atpQty": on_hand - open_units,
        }

    # ------------------------------------------------------------------ truth and snapshot
    def truth(self) -> dict[str, Any]:
        orders = {}
        for order in sorted(self.orders.values(), key=lambda o: o.id):
            orders[order.number] = {
                "id": order.id,
                "status": order.status,
                "channel": order.channel,
                "facility": order.facility,
                "customerOrderNumber": order.fields.get("customerOrderNumber"),
                "orderedUnits": sum(ln.order_pack_quantity * ln.pack_quantity for ln in order.lines),
                "shippedUnits": sum(ln.shipped * ln.pack_quantity for ln in order.lines),
                "canceledUnits": sum(ln.canceled * ln.pack_quantity for ln in order.lines),
                "openUnits": sum(ln.remaining_units for ln in order.lines) if order.is_open else 0,
                "shortUnits": order.short_units,
                "shipments": [self.shipments[s].number for s in order.shipment_ids],
            }
        stock = {f: {sku: self.inventory(f, sku) for sku in sorted(cells)} for f, cells in sorted(self.stock.items())}
        return {
            "orders": orders,
            "ordersHeld": sorted(n for n, o in orders.items() if self.orders[o["id"]].is_open),
            "unitsShipped": sum(o["shippedUnits"] for o in orders.values()),
            "shortUnits": sum(o["shortUnits"] for o in orders.values()),
            "stock": stock,
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "version": 1,
            "businessUnit": self.business_unit,
            "seed": self.seed,
            "ids": dict(self._ids),
            "rngState": _encode_rng(self.rng.getstate()),
            "clockOffset": self.clock.offset,
            "items": [asdict(x) for x in self.items.values()],
            "facilities": [asdict(x) for x in self.facilities.values()],
            "orders": [asdict(x) for x in self.orders.values()],
            "shipments": [asdict(x) for x in self.shipments.values()],
            "stock": {f: {sku: asdict(c) for sku, c in cells.items()} for f, cells in self.stock.items()},
            "adjustments": [asdict(x) for x in self.adjustments],
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Replace the whole state with a snapshot taken by :meth:`snapshot`."""
        self.business_unit = data["businessUnit"]
        self._ids = dict(data["ids"])
        self.rng.setstate(_decode_rng(data["rngState"]))
        self.items = {}
        for raw in data["items"]:
            item = Item(**{**raw, "packs": [Pack(**p) for p in raw["packs"]]})
            self.items[item.id] = item
        self.item_ids = {i.number: i.id for i in self.items.values()}
        self.upc_owner = {u: i.id for i in self.items.values() for u in i.upcs}
        self.facilities = {f["id"]: Facility(**f) for f in data["facilities"]}
        self.facility_ids = {f.number: f.id for f in self.facilities.values()}
        self.orders = {}
        for raw in data["orders"]:
            order = SalesOrder(**{**raw, "lines": [OrderLine(**ln) for ln in raw["lines"]]})
            self.orders[order.id] = order
        self.order_ids = {o.number: o.id for o in self.orders.values()}
        self.shipments = {}
        for raw in data["shipments"]:
            containers = [Container(**{**c, "lines": [tuple(x) for x in c["lines"]]}) for c in raw["containers"]]
            shipment = Shipment(
                **{**raw, "lines": [ShipmentLine(**ln) for ln in raw["lines"]], "containers": containers}
            )
            self.shipments[shipment.id] = shipment
        self.stock = {f: {sku: StockCell(**c) for sku, c in cells.items()} for f, cells in data["stock"].items()}
        self.adjustments = [Adjustment(**a) for a in data["adjustments"]]


def _encode_rng(state: tuple) -> list:
    return [state[0], list(state[1]), state[2]]


def _decode_rng(raw: list) -> tuple:
    return (raw[0], tuple(raw[1]), raw[2])
