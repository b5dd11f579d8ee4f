"""Cross-system ground truth: what really went wrong between the simulated Centra and the simulated Deposco.

Each simulator only knows its own side, yet every promise Lockstep makes (no oversell, no lost order, no
shipment left unconfirmed) is about the *pair*. This module reads both simulators' control/truth APIs and
judges the pair. :func:`cross_truth` is a pure function over two normalised snapshots (unit-testable without
servers); :func:`read_snapshots` / :func:`read_truth` fetch them over HTTP.

Vocabulary. An *item* is a Deposco item number, i.e. the Centra size's SKU or EAN (the brand's ``sku_key``).
A Deposco sales order is *Centra-linked* when it is not an other-channel order and its ``customerOrderNumber``
is a Centra order number, or its number is ``sales_order_number(centra_number, facility)``. A unit is *open*
in Deposco when it is ordered, not shipped and not cancelled on an open order (not Ship Complete / Canceled).
A Centra order *holds stock* when it is CONFIRMED or PROCESSING (allocated at confirmation, not yet fully
shipped); on-hold and waiting-for-payment orders hold stock too, because their allocation stands.

For a Centra order and item, ``Q`` = units on its lines (after Centra cancellations) and ``D`` = units ordered
on its linked Deposco orders (handed to Deposco, whatever became of them since: open, shipped or cancelled
there). The *in-flight* units ``max(0, Q - D)`` are sold in Centra but were never handed to Deposco. They are
placed on a facility with the brand's routing (the Centra allocation warehouse -> pool -> the routing override
for the ship-to country, else the pool's first live facility: :func:`lockstep.domain.routing.choose_facility`,
with the liveness at the time of reading); when a line is partly exported, the in-flight units are taken from
its allocations last-first. Units whose pool has no live facility, or whose warehouse no pool maps, are
*unroutable*.

The three numbers:

``oversold`` — units Centra accepted that Deposco cannot fulfil. Per facility ``f`` and item ``s``::

    on_hand       = max(0, Deposco on hand(f, s))
    other_open    = open units of non-Centra-linked Deposco orders at f (wholesale, retail, ...)
    centra_open   = open units of Centra-linked Deposco orders at f  +  in-flight Centra units routed to f
    oversold(f,s) = max(0, centra_open - max(0, on_hand - other_open))

i.e. what the warehouse already promised to other channels is served first, and the Centra units beyond the
remaining stock can never ship from ``f`` (equivalently ``min(centra_open, open demand - on_hand)``).
``short_shipped_units`` adds the shortfall Deposco recorded when shipping Centra-linked orders that are now
closed (their missing units are no longer open demand): per order ``min(shortUnits, ordered - shipped)``,
capped because the simulator adds to ``shortUnits`` on every short shipping attempt. Open orders are left out
of it: their missing units are still open demand and already in ``oversold(f,s)``. ``units`` is the sum of
both; rows list each (facility, item) with its terms and the pools whose Centra orders make up centra_open.
A pool's own total is not reported: when pools share a facility the shortfall belongs to the facility.

``missing_in_deposco`` — orders that should be in Deposco and are not: CONFIRMED, not on hold, not waiting for
payment (the eligibility rule), with in-flight units > 0. ``partial`` counts those with some linked Deposco
order already; ``unroutable`` those with in-flight units that have no live facility (Lockstep should have
quarantined them, they are still missing). ``held_back`` counts CONFIRMED orders that are on hold or waiting
for payment (correctly not sent). Ages are seconds since the Centra order was created.

``unconfirmed_shipments`` — Deposco outbound shipments of Centra-linked orders with at least one unit shipped
for which Centra has no *completed* shipment tagged with the Deposco shipment number (its ``externalId``, else
the number Lockstep's create wrote first into its ``additionalMessage``). ``state`` is ``absent`` (no Centra
shipment with that tag) or ``not_completed``. Zero-unit (label-only)
shipments and other-channel shipments never count. Ages are seconds since the Deposco ship date, on Deposco's
clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx

from lockstep.connectors.centra.translate import tag_in_message
from lockstep.domain.routing import RoutingTable, choose_facility, sales_order_number

ItemKey = Literal["sku", "ean"]
HOLDS_STOCK = frozenset({"CONFIRMED", "PROCESSING"})
CLOSED_DEPOSCO = frozenset({"Ship Complete", "Canceled"})
OTHER_CHANNEL = "other"

# --- the two snapshots ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CentraAllocation:
    warehouse: str  # Centra warehouse name: what the brand's pools map
    quantity: int  # units allocated there (shipped ones included)
    shipped: int = 0  # units completed in Centra


@dataclass(frozen=True)
class CentraLine:
    sku: str
    ean: str
    quantity: int  # after cancellations
    allocations: tuple[CentraAllocation, ...] = ()

    def item(self, key: ItemKey) -> str:
        return self.sku if key == "sku" else self.ean


@dataclass(frozen=True)
class CentraOrder:
    number: str
    status: str
    country: str
    lines: tuple[CentraLine, ...]
    created_at: float = 0.0  # epoch seconds
    on_hold: bool = False
    waiting_for_payment: bool = False

    @property
    def eligible(self) -> bool:
        return self.status == "CONFIRMED" and not self.on_hold and not self.waiting_for_payment


@dataclass(frozen=True)
class CentraShipment:
    order_number: str
    tag: str | None  # the Deposco shipment it was made for
    completed: bool


@dataclass(frozen=True)
class CentraSnapshot:
    orders: tuple[CentraOrder, ...]
    shipments: tuple[CentraShipment, ...] = ()
    now: float = 0.0


@dataclass(frozen=True)
class DeposcoLine:
    item: str
    ordered: float  # units
    shipped: float = 0.0
    canceled: float = 0.0

    @property
    def remaining(self) -> float:
        return max(0.0, self.ordered - self.shipped - self.canceled)


@dataclass(frozen=True)
class DeposcoOrder:
    number: str
    status: str
    facility: str | None
    lines: tuple[DeposcoLine, ...]
    channel: str = "api"
    customer_order_number: str | None = None
    short_units: float = 0.0

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED_DEPOSCO


@dataclass(frozen=True)
class DeposcoShipment:
    number: str
    order_number: str
    facility: str | None
    units: float
    shipped_at: float = 0.0  # epoch seconds, Deposco's clock


@dataclass(frozen=True)
class DeposcoSnapshot:
    orders: tuple[DeposcoOrder, ...]
    shipments: tuple[DeposcoShipment, ...] = ()
    on_hand: Mapping[tuple[str, str], float] = field(default_factory=dict)  # (facility, item) -> units
    now: float = 0.0

    def open_units(self) -> dict[tuple[str, str], float]:
        """Open demand per (facility, item) over every open order: what Deposco's ATP nets out."""
        totals: dict[tuple[str, str], float] = defaultdict(float)
        for order in self.orders:
            if order.is_open and order.facility:
                for line in order.lines:
                    totals[(order.facility, line.item)] += line.remaining
        return totals

    def atp(self, facility: str, item: str, open_units: Mapping[tuple[str, str], float] | None = None) -> float:
        demand = self.open_units() if open_units is None else open_units
        return self.on_hand.get((facility, item), 0.0) - demand.get((facility, item), 0.0)


# --- the judgement ----------------------------------------------------------------------------------------------


@dataclass
class _InFlight:
    """In-flight units of one Centra order, placed on facilities (or not)."""

    order: CentraOrder
    partial: bool
    routed: list[tuple[str, str, str, int]] = field(default_factory=list)  # (facility, pool, item, units)
    unroutable: list[tuple[str, int, str]] = field(default_factory=list)  # (item, units, why)

    @property
    def units(self) -> int:
        return sum(r[3] for r in self.routed) + sum(u[1] for u in self.unroutable)


def link_orders(centra: CentraSnapshot, deposco: DeposcoSnapshot) -> dict[str, str]:
    """Deposco sales order number -> Centra order number, for every Centra-linked Deposco order."""
    numbers = {o.number for o in centra.orders}
    facilities = {o.facility for o in deposco.orders if o.facility}
    derived = {sales_order_number(n, f): n for n in numbers for f in facilities}
    links: dict[str, str] = {}
    for order in deposco.orders:
        if order.channel == OTHER_CHANNEL:
            continue
        if order.customer_order_number in numbers:
            links[order.number] = order.customer_order_number  # type: ignore[assignment]
        elif order.number in derived:
            links[order.number] = derived[order.number]
    return links


def _in_flight(
    centra: CentraSnapshot, deposco: DeposcoSnapshot, links: Mapping[str, str], routing: RoutingTable, key: ItemKey
) -> list[_InFlight]:
    exported: dict[str, Counter[str]] = defaultdict(Counter)  # Centra order -> item -> units in Deposco
    for order in deposco.orders:
        centra_number = links.get(order.number)
        if centra_number is not None:
            for line in order.lines:
                exported[centra_number][line.item] += int(line.ordered)
    found: list[_InFlight] = []
    for order in centra.orders:
        if order.status not in HOLDS_STOCK:
            continue
        in_deposco = exported.get(order.number, Counter())
        flight = _InFlight(order, partial=bool(in_deposco))
        by_item: dict[str, list[CentraLine]] = defaultdict(list)
        for line in order.lines:
            by_item[line.item(key)].append(line)
        for item, lines in by_item.items():
            missing = max(0, sum(line.quantity for line in lines) - in_deposco[item])
            allocations = [a for line in lines for a in line.allocations]
            for allocation in reversed(allocations):  # the last allocations are the ones not handed over
                take = min(missing, allocation.quantity)
                if take <= 0:
                    continue
                missing -= take
                route = routing.by_warehouse.get(allocation.warehouse)
                if route is None:
                    flight.unroutable.append((item, take, f"warehouse {allocation.warehouse!r} maps to no pool"))
                    continue
                facility, problem = choose_facility(route, order.country)
                if facility is None:
                    flight.unroutable.append((item, take, problem.detail if problem else "no facility"))
                else:
                    flight.routed.append((facility, route.pool, item, take))
            if missing > 0:
                flight.unroutable.append((item, missing, "units without an allocation warehouse"))
        if flight.units > 0:
            found.append(flight)
    return found


def _oversold(
    deposco: DeposcoSnapshot,
    links: Mapping[str, str],
    flights: Iterable[_InFlight],
    centra_pools: Mapping[tuple[str, str], Counter[str]],
    examples: int,
) -> dict[str, Any]:
    other: dict[tuple[str, str], float] = defaultdict(float)
    in_deposco: dict[tuple[str, str], float] = defaultdict(float)
    for order in deposco.orders:
        if not order.is_open or not order.facility:
            continue
        target = in_deposco if order.number in links else other
        for line in order.lines:
            target[(order.facility, line.item)] += line.remaining
    routed: dict[tuple[str, str], float] = defaultdict(float)
    pools: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for flight in flights:
        for facility, pool, item, units in flight.routed:
            routed[(facility, item)] += units
            pools[(facility, item)][pool] += units
    rows = []
    for cell in sorted(set(in_deposco) | set(routed)):
        on_hand = max(0.0, deposco.on_hand.get(cell, 0.0))
        centra_open = in_deposco[cell] + routed[cell]
        oversold = max(0.0, centra_open - max(0.0, on_hand - other[cell]))
        if oversold > 0:
            share = pools[cell] + centra_pools.get(cell, Counter())
            rows.append(
                {
                    "facility": cell[0],
                    "item": cell[1],
                    "oversold": _num(oversold),
                    "on_hand": _num(on_hand),
                    "other_open": _num(other[cell]),
                    "centra_in_deposco": _num(in_deposco[cell]),
                    "centra_in_flight": _num(routed[cell]),
                    "pools": dict(sorted(share.items())),
                }
            )
    rows.sort(key=lambda r: (-r["oversold"], r["facility"], r["item"]))
    short_orders = []
    for order in deposco.orders:
        if order.number in links and not order.is_open and order.short_units > 0:
            ordered = sum(line.ordered for line in order.lines)
            shipped = sum(line.shipped for line in order.lines)
            units = min(order.short_units, max(0.0, ordered - shipped))
            if units > 0:
                short_orders.append({"sales_order": order.number, "centra_order": links[order.number], "units": units})
    by_facility: Counter[str] = Counter()
    for row in rows:
        by_facility[row["facility"]] += row["oversold"]
    open_units = sum(r["oversold"] for r in rows)
    short_units = sum(o["units"] for o in short_orders)
    return {
        "units": _num(open_units + short_units),
        "open_units": _num(open_units),
        "short_shipped_units": _num(short_units),
        "cells": len(rows),
        "by_facility": {k: _num(v) for k, v in sorted(by_facility.items())},
        "examples": rows[:examples],
        "short_shipped_examples": [{**o, "units": _num(o["units"])} for o in short_orders[:examples]],
    }


def _centra_pools_in_deposco(
    centra: CentraSnapshot, deposco: DeposcoSnapshot, links: Mapping[str, str], routing: RoutingTable, key: ItemKey
) -> dict[tuple[str, str], Counter[str]]:
    """Pools behind the open units of Centra-linked Deposco orders, per (facility, item): for the report only."""
    by_number = {o.number: o for o in centra.orders}
    pools: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for order in deposco.orders:
        centra_order = by_number.get(links.get(order.number, ""))
        if centra_order is None or not order.is_open or not order.facility:
            continue
        for line in order.lines:
            if line.remaining <= 0:
                continue
            pool = next(
                (
                    route.pool
                    for c_line in centra_order.lines
                    if c_line.item(key) == line.item
                    for a in c_line.allocations
                    if (route := routing.by_warehouse.get(a.warehouse)) is not None
                ),
                "?",
            )
            pools[(order.facility, line.item)][pool] += int(line.remaining)
    return pools


def _missing(centra: CentraSnapshot, flights: Iterable[_InFlight], examples: int) -> dict[str, Any]:
    missing = [f for f in flights if f.order.eligible]
    missing.sort(key=lambda f: (f.order.created_at, f.order.number))
    held = sum(1 for o in centra.orders if o.status == "CONFIRMED" and not o.eligible)
    return {
        "orders": len(missing),
        "units": sum(f.units for f in missing),
        "partial": sum(1 for f in missing if f.partial),
        "unroutable": sum(1 for f in missing if f.unroutable),
        "held_back": held,
        "oldest_age_s": round(centra.now - missing[0].order.created_at, 3) if missing else None,
        "examples": [
            {
                "order": f.order.number,
                "age_s": round(centra.now - f.order.created_at, 3),
                "units": f.units,
                "partial": f.partial,
                "facilities": sorted({r[0] for r in f.routed}),
                "unroutable": [{"item": i, "units": u, "why": why} for i, u, why in f.unroutable],
            }
            for f in missing[:examples]
        ],
    }


def _unconfirmed(
    centra: CentraSnapshot, deposco: DeposcoSnapshot, links: Mapping[str, str], examples: int
) -> dict[str, Any]:
    completed = {s.tag for s in centra.shipments if s.completed and s.tag}
    created = {s.tag for s in centra.shipments if s.tag}
    found = []
    for shipment in deposco.shipments:
        centra_number = links.get(shipment.order_number)
        if centra_number is None or shipment.units <= 0 or shipment.number in completed:
            continue
        found.append(
            {
                "shipment": shipment.number,
                "sales_order": shipment.order_number,
                "centra_order": centra_number,
                "units": _num(shipment.units),
                "age_s": round(deposco.now - shipment.shipped_at, 3),
                "state": "not_completed" if shipment.number in created else "absent",
            }
        )
    found.sort(key=lambda s: (-s["age_s"], s["shipment"]))
    return {
        "shipments": len(found),
        "units": _num(sum(s["units"] for s in found)),
        "absent": sum(1 for s in found if s["state"] == "absent"),
        "not_completed": sum(1 for s in found if s["state"] == "not_completed"),
        "oldest_age_s": found[0]["age_s"] if found else None,
        "examples": found[:examples],
    }


def _totals(centra: CentraSnapshot, deposco: DeposcoSnapshot, links: Mapping[str, str]) -> dict[str, Any]:
    return {
        "centra_orders": dict(sorted(Counter(o.status for o in centra.orders).items())),
        "centra_shipments_completed": sum(1 for s in centra.shipments if s.completed),
        "deposco_orders": len(deposco.orders),
        "deposco_orders_open": sum(1 for o in deposco.orders if o.is_open),
        "deposco_centra_orders": len(links),
        "deposco_shipments": sum(1 for s in deposco.shipments if s.units > 0),
        "deposco_units_shipped": _num(sum(s.units for s in deposco.shipments)),
        "deposco_units_on_hand": _num(sum(v for v in deposco.on_hand.values() if v > 0)),
    }


def cross_truth(
    centra: CentraSnapshot,
    deposco: DeposcoSnapshot,
    routing: RoutingTable,
    *,
    item_key: ItemKey = "sku",
    examples: int = 5,
) -> dict[str, Any]:
    """The cross-system ground truth (definitions in the module docstring), with counts and a few examples."""
    links = link_orders(centra, deposco)
    flights = _in_flight(centra, deposco, links, routing, item_key)
    pools = _centra_pools_in_deposco(centra, deposco, links, routing, item_key)
    return {
        "oversold": _oversold(deposco, links, flights, pools, examples),
        "missing_in_deposco": _missing(centra, flights, examples),
        "unconfirmed_shipments": _unconfirmed(centra, deposco, links, examples),
        "totals": _totals(centra, deposco, links),
    }


def _num(value: float) -> int | float:
    """Whole numbers as ints, so JSON reports read naturally."""
    return int(value) if float(value).is_integer() else round(value, 3)


# --- parsing the simulators' JSON -------------------------------------------------------------------------------


def centra_snapshot(truth: Mapping[str, Any], topology: Mapping[str, Any], now: float) -> CentraSnapshot:
    """From ``GET /_sim/truth`` and ``GET /_sim/topology`` of the Centra simulator."""
    names = {w["id"]: w["name"] for w in topology.get("warehouses", [])}
    orders = tuple(
        CentraOrder(
            number=str(o["number"]),
            status=o["status"],
            country=o.get("country") or "",
            created_at=datetime.fromisoformat(o["createdAt"]).timestamp() if o.get("createdAt") else 0.0,
            on_hold=bool(o.get("isOnHold")),
            waiting_for_payment=bool(o.get("isWaitingForPayment")),
            lines=tuple(
                CentraLine(
                    sku=line["sku"],
                    ean=line.get("ean") or "",
                    quantity=int(line["quantity"]),
                    allocations=tuple(
                        CentraAllocation(
                            names.get(a["warehouseId"], str(a["warehouseId"])), int(a["quantity"]), int(a["shipped"])
                        )
                        for a in line.get("allocations", [])
                    ),
                )
                for line in o.get("lines", [])
            ),
        )
        for o in truth.get("orders", [])
    )
    shipments = tuple(
        CentraShipment(
            str(s["orderNumber"]),
            s.get("externalId") or tag_in_message(s.get("additionalMessage") or "") or None,
            bool(s.get("isShipped")),
        )
        for s in truth.get("shipments", [])
    )
    return CentraSnapshot(orders, shipments, now)


def deposco_snapshot(snapshot: Mapping[str, Any], now: float) -> DeposcoSnapshot:
    """From ``GET /_sim/snapshot`` of the Deposco simulator (its ``/_sim/truth`` has no per-line detail)."""
    orders = []
    numbers: dict[int, str] = {}
    for o in snapshot.get("orders", []):
        numbers[o["id"]] = o["number"]
        orders.append(
            DeposcoOrder(
                number=o["number"],
                status=o["status"],
                facility=o.get("facility"),
                channel=o.get("channel", "api"),
                customer_order_number=(o.get("fields") or {}).get("customerOrderNumber"),
                short_units=float(o.get("short_units") or 0),
                lines=tuple(
                    DeposcoLine(
                        item=ln["item_number"],
                        ordered=ln["order_pack_quantity"] * ln["pack_quantity"],
                        shipped=ln["shipped"] * ln["pack_quantity"],
                        canceled=ln["canceled"] * ln["pack_quantity"],
                    )
                    for ln in o.get("lines", [])
                ),
            )
        )
    shipments = tuple(
        DeposcoShipment(
            number=s["number"],
            order_number=numbers.get(s["order_id"], ""),
            facility=s.get("facility"),
            units=sum(ln["shipped_pack_quantity"] * ln["pack_quantity"] for ln in s.get("lines", [])),
            shipped_at=s.get("actual_ship_date") or s.get("created") or 0.0,
        )
        for s in snapshot.get("shipments", [])
    )
    on_hand = {
        (facility, item): float(cell["on_hand"])
        for facility, cells in (snapshot.get("stock") or {}).items()
        for item, cell in cells.items()
    }
    return DeposcoSnapshot(tuple(orders), shipments, on_hand, now)


# --- reading over HTTP ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoints:
    """Where the two simulators are and the credentials of their control APIs."""

    centra_url: str
    centra_token: str
    deposco_url: str
    deposco_client_id: str
    deposco_client_secret: str

    def centra_client(self, timeout: float = 30.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.centra_url, headers={"Authorization": f"Bearer {self.centra_token}"}, timeout=timeout
        )

    def deposco_client(self, timeout: float = 30.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.deposco_url, auth=(self.deposco_client_id, self.deposco_client_secret), timeout=timeout
        )


async def _get(client: httpx.AsyncClient, path: str) -> Any:
    response = await client.get(path)
    response.raise_for_status()
    return response.json()


async def read_snapshots(endpoints: Endpoints, timeout: float = 30.0) -> tuple[CentraSnapshot, DeposcoSnapshot]:
    """Fetch both sides: Centra first, then Deposco.

    The two reads are not one atomic cut. Reading Centra first means an order exported in between is found in
    Deposco (never a false "missing"), while a shipment made in between shows as unconfirmed with an age near
    zero, which it truly is. With Lockstep running, let it settle before reading for stable numbers. Centra's
    ``now`` is the wall clock (its orders are stamped with it); Deposco's is its own, possibly advanced, clock.
    """
    async with endpoints.centra_client(timeout) as centra, endpoints.deposco_client(timeout) as deposco:
        c_truth, c_topology = await asyncio.gather(_get(centra, "/_sim/truth"), _get(centra, "/_sim/topology"))
        now = time.time()
        d_snapshot, d_clock = await asyncio.gather(_get(deposco, "/_sim/snapshot"), _get(deposco, "/_sim/clock"))
    return centra_snapshot(c_truth, c_topology, now), deposco_snapshot(d_snapshot, float(d_clock["now"]))


async def read_truth(
    endpoints: Endpoints,
    routing: RoutingTable,
    *,
    item_key: ItemKey = "sku",
    examples: int = 5,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """:func:`cross_truth` of the two running simulators."""
    centra, deposco = await read_snapshots(endpoints, timeout)
    return cross_truth(centra, deposco, routing, item_key=item_key, examples=examples)
