"""Sales-order rules of the simulated tenant: upsert by number, the status machine, cancellations.

Mixed into :class:`~.state.DeposcoState`. Everything is validated before anything changes, so a rejected
request leaves the order untouched; the rules and messages follow deposco.md §7 and the SDK validators.
"""

from __future__ import annotations

from typing import Any

from . import validation as v
from .errors import bad_request, not_found
from .model import Item, OrderLine, Pack, SalesOrder

# status -> targets allowed through POST .../status?value= (deposco.md §7)
STATUS_TRANSITIONS = {
    "Draft": {"New", "Hold", "Canceled"},
    "New": {"Hold", "Canceled"},
    "Hold": {"New", "Canceled"},
    "Ready for Fulfillment": {"New", "Hold", "Canceled"},
    "Wave Built": {"New", "Hold", "Canceled"},
    "Back Ordered": {"New", "Hold", "Canceled"},
}
EDITABLE = frozenset({"Draft", "New", "Hold", "Ready for Fulfillment", "Wave Built", "Back Ordered"})
CANCELLABLE = frozenset({"New", "Hold", "Ready for Fulfillment", "Wave Built", "Back Ordered"})
CREATE_STATUSES = frozenset({"New", "Hold", "Draft"})


class OrderRules:
    def upsert_order(self, payload: Any, channel: str = "api") -> tuple[SalesOrder, bool]:
        """``POST /orders/salesOrders``: create, or update the order with the same number.

        Everything is validated before anything changes, so a rejected request leaves the order untouched.
        """
        number = self._record_number(payload, "salesOrder", "a sales order")
        raw_lines = self._raw_lines(payload.get("orderLines"))
        if len(raw_lines) > v.MAX_LINES_PER_REQUEST:
            raise bad_request(
                f"A sales order request may contain at most {v.MAX_LINES_PER_REQUEST} order lines "
                f"(got {len(raw_lines)})"
            )
        fields = v.accept("salesOrder", payload, v.ORDER_FIELDS)
        fields.pop("number", None)
        if payload.get("notes") is not None:
            fields["notes"] = self._parse_notes(payload["notes"])
        existing = self.orders.get(self.order_ids.get(number, -1))
        if existing is not None:
            if payload.get("orderStatus") is not None:
                raise bad_request("Order status updates are not accepted for order at this API Endpoint")
            if existing.status not in EDITABLE:
                raise bad_request(f"Sales Order {number} cannot be updated while in the status of [{existing.status}]")
        else:
            for required in ("shipToContact", "shipToAddress"):
                if payload.get(required) is None:
                    raise bad_request(f"salesOrder.{required} must not be null")
            status = payload.get("orderStatus") or "New"
            if status not in CREATE_STATUSES:
                raise bad_request(f"salesOrder.orderStatus must be one of {sorted(CREATE_STATUSES)} on create")
        facility = self._order_facility(payload.get("shipFromFacility"), existing)
        lines = [self._parse_line(i, raw) for i, raw in enumerate(raw_lines)]
        seen: set[str] = set()
        for parsed in lines:
            if parsed["lineNumber"] in seen:
                raise bad_request(f"Duplicate lineNumber {parsed['lineNumber']} in request")
            seen.add(parsed["lineNumber"])
        if existing is not None:
            self._check_line_changes(existing, lines)
        elif not lines:
            raise bad_request("salesOrder.orderLines must not be empty")
        return self._apply_order(existing, number, fields, facility, lines, payload, channel)

    @staticmethod
    def _raw_lines(raw: Any) -> list:
        if raw is None:
            return []
        rows = raw.get("data") if isinstance(raw, dict) else raw
        if rows is None:
            return []
        if not isinstance(rows, list):
            raise bad_request("JSON parse error: salesOrder.orderLines.data must be an array")
        return rows

    @staticmethod
    def _parse_notes(raw: Any) -> list[dict]:
        if not isinstance(raw, list):
            raise bad_request("JSON parse error: salesOrder.notes must be an array")
        notes = []
        for i, note in enumerate(raw):
            if not isinstance(note, dict) or not isinstance(note.get("title"), str) or not note["title"].strip():
                raise bad_request(f"salesOrder.notes[{i}].title must not be blank")
            notes.append(
                {
                    "title": v.check_text(f"salesOrder.notes[{i}].title", note["title"], 150),
                    "body": note.get("body") if isinstance(note.get("body"), str) else None,
                }
            )
        return notes

    def _order_facility(self, ref: Any, existing: SalesOrder | None) -> str | None:
        if ref is not None:
            return self.facility_by_ref(ref, "salesOrder.shipFromFacility").number
        if existing is not None:
            return existing.facility
        if len(self.facilities) == 1:
            return next(iter(self.facilities.values())).number
        raise bad_request("salesOrder.shipFromFacility must not be null")

    def _parse_line(self, index: int, raw: Any) -> dict[str, Any]:
        path = f"salesOrder.orderLines.data[{index}]"
        if not isinstance(raw, dict):
            raise bad_request(f"JSON parse error: {path} must be an object")
        fields = v.accept(path, raw, v.LINE_FIELDS)
        if not fields.get("lineNumber") or not fields["lineNumber"].strip():
            raise bad_request(f"{path}.lineNumber must not be null")
        quantity = fields.get("orderPackQuantity")
        if quantity is None or quantity <= 0:
            raise bad_request(f"{path}.orderPackQuantity must be greater than 0")
        item = self.item_by_ref(raw.get("item"), f"{path}.item")
        pack = self._line_pack(item, raw.get("pack"), path)
        fields["_item"], fields["_pack"] = item, pack
        return fields

    def _line_pack(self, item: Item, ref: Any, path: str) -> Pack:
        if isinstance(ref, dict) and isinstance(ref.get("id"), int):
            match = next((p for p in item.packs if p.id == ref["id"]), None)
        else:
            key = v.business_key(ref, f"{path}.pack")
            quantity = key.get("quantity", 1)
            match = next((p for p in item.packs if p.quantity == quantity), None)
        if match is None:
            raise not_found(f"Pack with business key item.number = [{item.number}] not found")
        return match

    @staticmethod
    def _check_line_changes(order: SalesOrder, lines: list[dict]) -> None:
        by_number = {line.line_number: line for line in order.lines}
        for parsed in lines:
            current = by_number.get(parsed["lineNumber"])
            if current is None:
                continue
            new_qty = parsed["orderPackQuantity"]
            if new_qty < current.order_pack_quantity:
                raise bad_request(
                    f"Order line {current.line_number}: lowering orderPackQuantity is a "
                    "cancellation; use /cancellations"
                )
            if new_qty > current.order_pack_quantity and current.status not in ("New", "Back Ordered"):
                raise bad_request(
                    f"Order line {current.line_number} cannot be updated while in the status of [{current.status}]"
                )
            if parsed["_item"].id != current.item_id:
                raise bad_request(f"Order line {current.line_number}: the item of a line cannot be changed")

    def _apply_order(
        self,
        order: SalesOrder | None,
        number: str,
        fields: dict,
        facility: str | None,
        lines: list[dict],
        payload: dict,
        channel: str,
    ) -> tuple[SalesOrder, bool]:
        now = self.now()
        created = order is None
        if order is None:
            status = payload.get("orderStatus") or "New"
            order = SalesOrder(
                id=self._next("order"),
                number=number,
                business_unit=self.business_unit,
                status=status,
                facility=facility,
                created=now,
                updated=now,
                status_since=now,
                channel=channel,
            )
            self.orders[order.id] = order
            self.order_ids[number] = order.id
        order.facility = facility
        order.fields.update(fields)
        by_number = {line.line_number: line for line in order.lines}
        for parsed in lines:
            item, pack = parsed.pop("_item"), parsed.pop("_pack")
            line = by_number.get(parsed["lineNumber"])
            if line is None:
                line = OrderLine(
                    id=self._next("line"),
                    line_number=parsed["lineNumber"],
                    item_id=item.id,
                    item_number=item.number,
                    pack_id=pack.id,
                    pack_quantity=pack.quantity,
                    order_pack_quantity=parsed["orderPackQuantity"],
                    created=now,
                    updated=now,
                    status="Draft" if order.status == "Draft" else "New",
                )
                order.lines.append(line)
            line.order_pack_quantity = parsed["orderPackQuantity"]
            line.customer_line_number = parsed.get("customerLineNumber", line.customer_line_number)
            line.fields.update(
                {
                    k: val
                    for k, val in parsed.items()
                    if k not in ("lineNumber", "customerLineNumber", "orderPackQuantity")
                }
            )
            line.updated = now
        order.updated = now
        return order, created

    def set_status(self, order: SalesOrder, value: str | None) -> SalesOrder:
        """``POST …/status?value=``: only the documented transitions; anything else is a 400."""
        allowed = STATUS_TRANSITIONS.get(order.status, set())
        if value not in allowed:
            raise bad_request(f"Order status cannot be changed from [{order.status}] to [{value}]")
        if value == "Canceled":
            for line in order.lines:
                line.canceled += line.remaining
                line.status = "Canceled"
                line.updated = self.now()
        self._set_status(order, value)
        return order

    def _set_status(self, order: SalesOrder, status: str) -> None:
        now = self.now()
        order.status = status
        order.status_since = now
        order.updated = now

    def cancel(self, order: SalesOrder, payload: Any) -> SalesOrder:
        """``POST …/cancellations``: cancel whole lines or quantities while the order is not yet released."""
        if not isinstance(payload, dict) or not isinstance(payload.get("orderLines"), list):
            raise bad_request("orderCancellation.orderLines must not be null")
        if order.status not in CANCELLABLE:
            raise bad_request(f"Sales Order {order.number} cannot be canceled while in the status of [{order.status}]")
        by_id = {line.id: line for line in order.lines}
        by_number = {line.line_number: line for line in order.lines}
        plan: list[tuple[OrderLine, float]] = []
        for i, row in enumerate(payload["orderLines"]):
            path = f"orderCancellation.orderLines[{i}]"
            ref = row.get("orderLine") if isinstance(row, dict) else None
            if not isinstance(ref, dict):
                raise bad_request(f"{path}.orderLine must not be null")
            line = by_id.get(ref.get("id")) or by_number.get(str(v.business_key(ref, path).get("lineNumber")))
            if line is None:
                raise not_found(
                    f"Order line {ref.get('id') or ref.get('businessKey')} not found on order {order.number}"
                )
            quantity = row.get("canceledPackQuantity")
            quantity = line.remaining if quantity is None else quantity
            if isinstance(quantity, bool) or not isinstance(quantity, int | float) or quantity < 0:
                raise bad_request(f"{path}.canceledPackQuantity must be a positive number")
            if quantity > line.remaining:
                raise bad_request(
                    f"{path}.canceledPackQuantity {quantity} exceeds the open quantity "
                    f"{line.remaining} of line {line.line_number}"
                )
            plan.append((line, quantity))
        now = self.now()
        for line, quantity in plan:
            line.canceled += quantity
            line.updated = now
            if line.remaining == 0:
                line.status = "Canceled"
        if all(line.remaining == 0 for line in order.lines):
            self._set_status(order, "Canceled")
        order.updated = now
        return order

    def create_other_channel_order(
        self, facility: str, lines: list[tuple[str, float]], source: str = "Wholesale"
    ) -> SalesOrder:
        """An order from another sales channel (wholesale, retail): it consumes ATP like any other."""
        seq = self._next("other_order")
        number = f"OC-{seq:06d}"
        payload = {
            "businessUnit": {"businessKey": {"code": self.business_unit}},
            "number": number,
            "orderSource": source,
            "shipFromFacility": {"businessKey": {"number": facility}},
            "shipToContact": {"firstName": "Other", "lastName": "Channel"},
            "shipToAddress": {"line1": "Dock 1", "city": "Stockholm", "postalCode": "11122", "country": "SE"},
            "orderLines": {
                "data": [
                    {
                        "lineNumber": f"{number}-{i + 1}",
                        "item": {"businessKey": {"number": sku}},
                        "orderPackQuantity": qty,
                    }
                    for i, (sku, qty) in enumerate(lines)
                ]
            },
        }
        order, _ = self.upsert_order(payload, channel="other")
        return order
