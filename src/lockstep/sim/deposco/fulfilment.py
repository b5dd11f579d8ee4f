"""The warehouse floor: release -> pick -> ship, outbound shipments with parcels and tracking, auto-progress.

Mixed into :class:`~.state.DeposcoState`. Shipping takes what the facility holds (short-ships the rest and
records the shortage as ground truth), decrements on hand, and tells listeners (webhooks) about the shipment.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .errors import DeposcoError, bad_request, not_found
from .model import Container, OrderLine, SalesOrder, Shipment, ShipmentLine

RELEASABLE = frozenset({"New", "Ready for Fulfillment", "Wave Built", "Back Ordered"})
SHIPPABLE = frozenset({"Released", "Picking", "Pick Complete", "Partially Shipped"})
CARRIERS = {
    "UPS": ("UPS Ground", "https://www.ups.com/track?tracknum="),
    "FedEx": ("FedEx Ground", "https://www.fedex.com/fedextrack/?trknbr="),
    "DHL": ("DHL Express", "https://www.dhl.com/track?tracking-id="),
    "PostNord": ("PostNord Parcel", "https://tracking.postnord.com/se/?id="),
}
UNITS_PER_PACKAGE = 5

ShipmentListener = Callable[[Shipment, str], None]


@dataclass
class AutoFulfil:
    """Simulated seconds an order waits in each step before the warehouse moves it on by itself."""

    release_after: float = 60.0
    pick_after: float = 60.0
    ship_after: float = 60.0


class Fulfilment:
    def release(self, order: SalesOrder) -> SalesOrder:
        if order.status in SHIPPABLE or order.status in ("Ship Complete",):
            return order
        if order.status not in RELEASABLE:
            raise DeposcoError(
                409, f"Sales Order {order.number} cannot be released while in the status of [{order.status}]"
            )
        for line in order.lines:
            if line.remaining > 0:
                line.status = "Released"
        self._set_status(order, "Released")
        return order

    def pick(self, order: SalesOrder) -> SalesOrder:
        self.release(order)
        if order.status == "Released":
            for line in order.lines:
                if line.remaining > 0:
                    line.status = "Picking"
                    line.picked = line.shipped + line.remaining
            self._set_status(order, "Picking")
        return order

    def ship(
        self,
        order: SalesOrder,
        quantities: dict[str, float] | None = None,
        with_tracking: bool = True,
        packages: int | None = None,
        with_carrier: bool = True,
    ) -> Shipment:
        """Ship what the facility holds (up to the requested packs per line number); short-ship the rest.

        Creates an outbound shipment with lines, parcels and tracking, decrements on hand, and moves the order
        to Ship Complete or Partially Shipped. ``with_carrier=False``: a 3PL that reports tracking numbers but
        no ship via, carrier or method (seen with manually keyed shipments).
        """
        self.pick(order)
        if order.status not in SHIPPABLE:
            raise DeposcoError(
                409, f"Sales Order {order.number} cannot be shipped while in the status of [{order.status}]"
            )
        if quantities:
            unknown = set(quantities) - {line.line_number for line in order.lines}
            if unknown:
                raise not_found(f"Order lines {sorted(unknown)} not found on order {order.number}")
        plan: list[tuple[OrderLine, float]] = []
        for line in order.lines:
            wanted = line.remaining if quantities is None else min(quantities.get(line.line_number, 0), line.remaining)
            if wanted <= 0:
                continue
            cell = self._cell(order.facility, line.item_number)
            possible = math.floor(max(0.0, cell.on_hand) / line.pack_quantity)
            packs = min(wanted, possible)
            if packs < wanted:
                order.short_units += (wanted - packs) * line.pack_quantity
            if packs > 0:
                plan.append((line, packs))
        if not plan:
            raise DeposcoError(409, f"Sales Order {order.number}: nothing can be shipped (no stock on hand)")
        shipment = self._new_shipment(order, plan, with_tracking, packages, with_carrier)
        now = self.now()
        for line, packs in plan:
            line.shipped += packs
            line.picked = max(line.picked, line.shipped)
            line.updated = now
            line.status = "Complete" if line.remaining == 0 else "Picking"
            self._move_stock(
                order.facility,
                line.item_number,
                -packs * line.pack_quantity,
                "Shipment",
                f"shipment {shipment.number}",
            )
        done = all(line.remaining == 0 for line in order.lines)
        self._set_status(order, "Ship Complete" if done else "Partially Shipped")
        order.shipment_ids.append(shipment.id)
        self.shipments[shipment.id] = shipment
        self._emit(shipment, "shipped")
        return shipment

    def label_only(self, order: SalesOrder) -> Shipment:
        """A label printed but nothing shipped: a real-life zero-unit shipment clients must skip."""
        plan = [(line, 0.0) for line in order.lines[:1]]
        shipment = self._new_shipment(order, plan, True, 1)
        order.shipment_ids.append(shipment.id)
        self.shipments[shipment.id] = shipment
        self._emit(shipment, "shipped")
        return shipment

    def _new_shipment(
        self,
        order: SalesOrder,
        plan: list[tuple[OrderLine, float]],
        with_tracking: bool,
        packages: int | None,
        with_carrier: bool = True,
    ) -> Shipment:
        now = self.now()
        vendor = order.fields.get("shipVendor") or "UPS"
        default_via, base_url = CARRIERS.get(vendor, CARRIERS["UPS"])
        number = str(self._next("shipment_number"))
        shipment = Shipment(
            id=self._next("shipment"),
            number=number,
            business_unit=self.business_unit,
            status="Shipped",
            order_id=order.id,
            facility=order.facility,
            created=now,
            updated=now,
            ship_via=(order.fields.get("shipVia") or default_via) if with_carrier else None,
            ship_vendor=vendor if with_carrier else None,
            ship_method=(order.fields.get("shipMethod") or "Ground") if with_carrier else None,
            tracking_number=None,
            tracking_url=base_url,
            actual_ship_date=now,
        )
        for i, (line, packs) in enumerate(plan):
            shipment.lines.append(
                ShipmentLine(
                    id=self._next("shipment_line"),
                    number=f"{number}-{i + 1}",
                    order_line_id=line.id,
                    item_id=line.item_id,
                    item_number=line.item_number,
                    pack_id=line.pack_id,
                    pack_quantity=line.pack_quantity,
                    order_pack_quantity=line.order_pack_quantity,
                    shipped_pack_quantity=packs,
                    created=now,
                    customer_line_number=line.customer_line_number,
                )
            )
        units = sum(packs * line.pack_quantity for line, packs in plan)
        count = packages or max(1, math.ceil(units / UNITS_PER_PACKAGE))
        for n in range(count):
            shipment.containers.append(
                Container(
                    id=self._next("container"),
                    number=f"{number}-C{n + 1}",
                    lpn_number=f"LPN{self.rng.randrange(10**9):09d}",
                    tracking_number=None,
                    weight_kg=round(0.3 * max(1.0, units / count), 2),
                    created=now,
                )
            )
        for i, sline in enumerate(shipment.lines):  # parcels take the lines round-robin
            shipment.containers[i % count].lines.append((sline.id, sline.shipped_pack_quantity))
        if with_tracking:
            self._assign_tracking(shipment)
        return shipment

    def _tracking_number(self, vendor: str | None) -> str:
        digits = "".join(self.rng.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(16))
        return f"1Z{digits}" if vendor == "UPS" else digits

    def _assign_tracking(self, shipment: Shipment) -> None:
        for container in shipment.containers:
            container.tracking_number = self._tracking_number(shipment.ship_vendor)
        shipment.tracking_number = shipment.containers[0].tracking_number

    def add_tracking(self, shipment: Shipment) -> Shipment:
        """Tracking arriving after the shipment exists: assigns numbers and bumps ``updatedDate``."""
        if shipment.tracking_number is None:
            self._assign_tracking(shipment)
        shipment.updated = self.now()
        self._emit(shipment, "tracking")
        return shipment

    def advance(
        self,
        order: SalesOrder,
        to: str,
        quantities: dict[str, float] | None = None,
        with_tracking: bool = True,
        packages: int | None = None,
        with_carrier: bool = True,
    ) -> Shipment | None:
        """Control hook: move an order forward to ``to`` (Released, Picking, Ship Complete/Partially
        Shipped)."""
        if to == "Released":
            self.release(order)
        elif to == "Picking":
            self.pick(order)
        elif to in ("Ship Complete", "Partially Shipped", "Shipped"):
            return self.ship(order, quantities, with_tracking, packages, with_carrier)
        else:
            raise bad_request(f"cannot advance to [{to}]: use Released, Picking or Ship Complete")
        return None

    def tick(self, auto: AutoFulfil) -> list[Shipment]:
        """Let the warehouse work on its own: each open order moves one step once it waited long enough."""
        now = self.now()
        shipped: list[Shipment] = []
        for order in sorted(self.orders.values(), key=lambda o: o.id):
            waited = now - order.status_since
            try:
                if order.status in RELEASABLE and waited >= auto.release_after:
                    self.release(order)
                elif order.status == "Released" and waited >= auto.pick_after:
                    self.pick(order)
                elif order.status in ("Picking", "Partially Shipped") and waited >= auto.ship_after:
                    shipped.append(self.ship(order))
            except DeposcoError:
                order.status_since = now  # no stock yet: try again after another wait
        return shipped

    def _emit(self, shipment: Shipment, event: str) -> None:
        for listener in self.listeners:
            listener(shipment, event)
