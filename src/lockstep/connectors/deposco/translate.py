"""Deposco payloads ↔ domain objects: the only module that knows Deposco's field names.

Requests: an item upsert (``POST /items``), sales-order create-or-update bodies (``POST /orders/salesOrders``,
split into requests of at most 100 lines) and cancellations. Deposco refuses over-long text and characters
outside 3-byte UTF-8 with a 400, so every free-text value is made to fit *here*, deliberately, and each
adjustment is returned as a :class:`~lockstep.domain.model.Change`: the flow decides whether an order goes out
with a note or is quarantined. A value that cannot be adjusted without changing its meaning (an item or order
number, a key) raises :class:`Untranslatable` instead.

Responses: items, facilities, sales orders and their lines, outbound shipments and their lines, V1 inventory
availability, error bodies and webhook notifications. Parsing is defensive (see :mod:`.values`): a missing or
odd field becomes empty, never an exception; only a response without the identity fields raises
:class:`~.values.MalformedPayload`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from lockstep.connectors.errors import Permanent, UserError
from lockstep.domain.model import (
    Address,
    CarrierService,
    Change,
    Item,
    SalesOrder,
    SalesOrderLine,
    ShipmentLine,
    StockAdjustment,
    StockReading,
    WarehouseShipment,
)
from lockstep.domain.routing import sales_order_number as sales_order_number  # numbering is a domain rule

from . import values as v
from .values import MalformedPayload

MAX_LINES_PER_REQUEST = 100  # Deposco rejects larger sales-order requests (live)
NESTED_CAP = 10  # nested collections inside a DTO stop at 10 rows
ORDER_SOURCE = "Centra"
EACH = {"type": "Each", "quantity": 1}

# deposco.md §4 (SDK validators, matching live 400s)
CONTACT_LIMITS = {"firstName": 30, "lastName": 30, "phone": 30, "email": 50}
ADDRESS_LIMITS = {
    "line1": 64,
    "line2": 64,
    "line3": 64,
    "line4": 64,
    "city": 30,
    "postalCode": 20,
    "stateProvince": 100,
    "country": 100,
}
ORDER_LIMITS = {
    "shipVia": 50,
    "shipVendor": 50,
    "shipMethod": 50,
    "customerOrderNumber": 50,
    "otherReferenceNumber": 50,
    "orderSource": 100,
}
ITEM_LIMITS = {"name": 150, "shortDescription": 100, "brandName": 35, "styleNumber": 100, "colorName": 100, "size": 100}
KEY_LIMITS = {
    "item number": 40,
    "sales order number": 50,
    "line number": 55,
    "customer line number": 100,
    "upc": 50,
    # Carrier names must match what Deposco has set up: sent exactly as configured, never cut.
    "ship via": ORDER_LIMITS["shipVia"],
    "carrier": ORDER_LIMITS["shipVendor"],
    "service": ORDER_LIMITS["shipMethod"],
}

# Sales-order statuses in which Deposco still accepts changes and cancellations (deposco.md §7).
EDITABLE_STATUSES = frozenset({"Draft", "New", "Hold", "Ready for Fulfillment", "Wave Built", "Back Ordered"})
CANCELLABLE_STATUSES = frozenset({"New", "Hold", "Ready for Fulfillment", "Wave Built", "Back Ordered"})
STATUS_NEW, STATUS_HOLD, STATUS_CANCELED = "New", "Hold", "Canceled"
SHIPPED = "Shipped"

WEIGHT_TO_KG = {"kg": Decimal(1), "g": Decimal("0.001"), "lb": Decimal("0.45359237"), "oz": Decimal("0.028349523125")}


class Untranslatable(Permanent):
    """A value Deposco cannot take and Lockstep must not alter (a key): quarantine with this reason.

    A ``Permanent`` error, so a job that meets it is dead-lettered rather than retried; ``field`` and ``reason``
    are also in ``user_errors`` for the quarantine record.
    """

    def __init__(self, field: str, reason: str):
        super().__init__(
            f"{field}: {reason}", user_errors=[UserError(reason, field)], system="deposco", operation="translate"
        )
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Translated:
    """A request body and what the translation changed to make it acceptable."""

    payload: dict[str, Any]
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class SalesOrderRequests:
    """A sales order as one or more request bodies (≤ 100 lines each, same header) and what was changed."""

    bodies: tuple[dict[str, Any], ...]
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class FacilityRecord:
    """A Deposco facility as ``GET /facilities`` lists it (validated against the topology at start-up)."""

    code: str
    name: str = ""
    facility_id: str = ""
    country: str = ""


@dataclass(frozen=True)
class ShipmentHint:
    """What an (unsigned) shipment webhook says: only enough to re-fetch the shipment through the API."""

    shipment_id: str = ""
    shipment_number: str = ""
    order_numbers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    next_href: str | None
    complete: bool


# ============================================================================================ requests


class _Fitter:
    """Collects :class:`Change` records while fitting values into Deposco's columns."""

    def __init__(self) -> None:
        self.changes: list[Change] = []

    def text(self, name: str, value: str, limit: int) -> str:
        fitted, reasons = v.fit(value or "", limit)
        if reasons:
            self.changes.append(Change(name, "; ".join(reasons), value, fitted))
        return fitted

    def drop(self, name: str, value: str, reason: str) -> str:
        self.changes.append(Change(name, reason, value, ""))
        return ""


def _key(kind: str, value: str) -> str:
    """A key goes out exactly as it is, or not at all."""
    if not value or not value.strip():
        raise Untranslatable(kind, "is empty")
    if v.strip_astral(value)[1]:
        raise Untranslatable(kind, "contains characters outside 3-byte UTF-8")
    if len(value) > KEY_LIMITS[kind]:
        raise Untranslatable(kind, f"{value!r} is longer than {KEY_LIMITS[kind]} characters")
    return value


def _bu(business_unit: str) -> dict[str, Any]:
    return {"businessKey": {"code": business_unit}}


def _item_ref(number: str, business_unit: str) -> dict[str, Any]:
    return {"businessKey": {"number": number, "businessUnit.code": business_unit}}


def _pack_ref(number: str, business_unit: str) -> dict[str, Any]:
    return {"businessKey": {"item.number": number, "quantity": 1, "item.businessUnit.code": business_unit}}


def _compact(body: dict[str, Any]) -> dict[str, Any]:
    """Leave out empty values: an empty string would overwrite what Deposco has with nothing."""
    return {k: val for k, val in body.items() if val not in ("", None, {}, [])}


def item_request(item: Item, business_unit: str, *, brand_name: str = "", hs_code_country: str = "") -> Translated:
    """``POST /items`` body: upsert on ``number`` (the brand's SKU key) + business unit; EAN as UPC.

    One ``Each`` pack of 1. The HS code needs a country: ``hs_code_country`` or else the country of origin; with
    neither, the HS code is left out and reported as a change.
    """
    fit = _Fitter()
    number = _key("item number", item.number)
    name = fit.text("item.description", item.description, ITEM_LIMITS["name"])
    short, _ = v.fit(name, ITEM_LIMITS["shortDescription"])  # derived from name: its cut is not news
    pack: dict[str, Any] = {**EACH, "newPackFlag": False}
    body: dict[str, Any] = {
        "businessUnit": _bu(business_unit),
        "number": number,
        "name": name,
        "shortDescription": short,
        "brandName": fit.text("item.brand", brand_name, ITEM_LIMITS["brandName"]),
        "styleNumber": fit.text("item.style", item.style, ITEM_LIMITS["styleNumber"]),
        "colorName": fit.text("item.colour", item.colour, ITEM_LIMITS["colorName"]),
        "size": fit.text("item.size", item.size, ITEM_LIMITS["size"]),
        "originCountry": item.country_of_origin.strip().upper(),
        "salesEnabledFlag": item.active,
        "shippable": True,
        "inventoryTrackingEnabled": True,
        "packs": [pack],
    }
    if item.upc:
        body["upcs"] = {"data": [{"value": _key("upc", item.upc.strip())}]}
    if item.weight_kg is not None and item.weight_kg > 0:
        weight = {"weight": float(item.weight_kg), "units": "kg"}
        body["weight"] = weight
        pack["weight"] = dict(weight)
    if item.hs_code:
        country = (hs_code_country or item.country_of_origin).strip().upper()
        if country:
            body["hsCodes"] = {"data": [{"code": item.hs_code.strip(), "country": {"businessKey": {"code": country}}}]}
        else:
            fit.drop("item.hs_code", item.hs_code, "left out: an HS code needs a country and none is known")
    return Translated(_compact(body), tuple(fit.changes))


def line_number(order_number: str, line: int) -> str:
    return f"{order_number}-{line}"


def contact_and_address(address: Address, fit: _Fitter, prefix: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Deposco's separate contact and address objects from one domain address, fitted to their limits.

    An over-long first address line continues on line 2 when that is free; the company (Deposco's contact has
    no company field) goes on line 3. An e-mail or phone number that does not fit is left out rather than cut:
    a shortened one would reach somebody else.
    """
    contact = {
        "firstName": fit.text(f"{prefix}.first_name", address.first_name, CONTACT_LIMITS["firstName"]),
        "lastName": fit.text(f"{prefix}.last_name", address.last_name, CONTACT_LIMITS["lastName"]),
        "phone": _phone(address.phone, fit, f"{prefix}.phone"),
        "email": _email(address.email, fit, f"{prefix}.email"),
    }
    line1, line2 = address.address1, address.address2
    limit = ADDRESS_LIMITS["line1"]
    cleaned1, removed = v.strip_astral(line1.strip())
    if len(cleaned1) > limit and not line2.strip():
        head, rest = v.split_line(cleaned1, limit)
        reason = "continued on address line 2" + ("; characters outside 3-byte UTF-8 removed" if removed else "")
        fit.changes.append(Change(f"{prefix}.address1", reason, line1, f"{head} | {rest}"))
        line1, line2 = head, rest
    body = {
        "line1": fit.text(f"{prefix}.address1", line1, limit),
        "line2": fit.text(f"{prefix}.address2", line2, ADDRESS_LIMITS["line2"]),
        "line3": fit.text(f"{prefix}.company", address.company, ADDRESS_LIMITS["line3"]),
        "city": fit.text(f"{prefix}.city", address.city, ADDRESS_LIMITS["city"]),
        "postalCode": fit.text(f"{prefix}.postal_code", address.postal_code, ADDRESS_LIMITS["postalCode"]),
        "stateProvince": fit.text(f"{prefix}.region", address.region, ADDRESS_LIMITS["stateProvince"]),
        "country": fit.text(f"{prefix}.country", address.country.upper(), ADDRESS_LIMITS["country"]),
    }
    return _compact(contact), _compact(body)


def _email(value: str, fit: _Fitter, name: str) -> str:
    value = value.strip()
    limit = CONTACT_LIMITS["email"]
    if v.strip_astral(value)[1] or len(value) > limit:
        return fit.drop(name, value, f"left out: longer than {limit} characters or not 3-byte UTF-8")
    return value


def _phone(value: str, fit: _Fitter, name: str) -> str:
    value = value.strip()
    limit = CONTACT_LIMITS["phone"]
    if len(value) <= limit and not v.strip_astral(value)[1]:
        return value
    compact = re.sub(r"[\s().\-/]", "", v.strip_astral(value)[0])
    if 0 < len(compact) <= limit:
        fit.changes.append(Change(name, "formatting removed to fit 30 characters", value, compact))
        return compact
    return fit.drop(name, value, f"left out: longer than {limit} characters even without formatting")


def sales_order_requests(
    order: SalesOrder,
    business_unit: str,
    *,
    create: bool,
    hold: bool = False,
    max_lines: int = MAX_LINES_PER_REQUEST,
) -> SalesOrderRequests:
    """``POST /orders/salesOrders`` bodies for one sales order, at most ``max_lines`` lines each.

    Every request carries the same header. ``orderStatus`` (New, or Hold) is sent only in the first request
    of a *create*: Deposco refuses it on an update, and the later chunks update the order the first created.
    ``customerOrderNumber`` is the Centra order number; each line's ``customerLineNumber`` the Centra line id,
    which Deposco echoes on shipment lines.
    """
    fit = _Fitter()
    number = _key("sales order number", order.number)
    contact, address = contact_and_address(order.ship_to, fit, "ship_to")
    header: dict[str, Any] = _compact(
        {
            "businessUnit": _bu(business_unit),
            "number": number,
            "customerOrderNumber": fit.text(
                "customer_order_number", order.customer_order_number, ORDER_LIMITS["customerOrderNumber"]
            ),
            "orderSource": ORDER_SOURCE,
            "shipFromFacility": {"businessKey": {"number": order.facility}} if order.facility else None,
            **_carrier_fields(order.carrier_service),
            "placedDate": v.iso(order.order_date) if order.order_date else None,
        }
    )
    header["shipToContact"] = contact
    header["shipToAddress"] = address
    lines = [_line_body(number, line, business_unit) for line in order.lines]
    chunks = [lines[i : i + max_lines] for i in range(0, len(lines), max_lines)] or [[]]
    bodies = []
    for index, chunk in enumerate(chunks):
        body = dict(header)
        if create and index == 0:
            body["orderStatus"] = STATUS_HOLD if hold else STATUS_NEW
        if chunk:
            body["orderLines"] = {"data": chunk}
        bodies.append(body)
    return SalesOrderRequests(tuple(bodies), tuple(fit.changes))


def _carrier_fields(service: CarrierService) -> dict[str, str | None]:
    """``shipVia`` / ``shipVendor`` (carrier) / ``shipMethod`` (service): left out when empty (Deposco picks)."""
    return {
        name: _key(kind, value) if value else None
        for name, kind, value in (
            ("shipVia", "ship via", service.ship_via),
            ("shipVendor", "carrier", service.carrier),
            ("shipMethod", "service", service.service),
        )
    }


def _line_body(order_number: str, line: SalesOrderLine, business_unit: str) -> dict[str, Any]:
    item = _key("item number", line.item)
    if line.quantity <= 0:
        raise Untranslatable("line quantity", f"line {line.line_number} has quantity {line.quantity}")
    body: dict[str, Any] = {
        "lineNumber": _key("line number", line_number(order_number, line.line_number)),
        "customerLineNumber": _key("customer line number", line.customer_line_number)
        if line.customer_line_number
        else None,
        "item": _item_ref(item, business_unit),
        "pack": _pack_ref(item, business_unit),
        "orderPackQuantity": line.quantity,
        "unitPrice": float(line.unit_price) if line.unit_price is not None else None,
    }
    return _compact(body)


# --- V1 batch import: POST {v1}/orders, several new orders in one request, one inner status each ------------------

V1_ORDER_TYPE = "Sales Order"
V1_IMPORT_MAX_ORDERS = 50  # orders per import request: keeps a request small and a failure's blast radius too


@dataclass(frozen=True)
class SalesOrderImport:
    """``POST /orders`` (V1) body for several *new* sales orders, and what was changed to fit, per number."""

    body: dict[str, Any]
    changes: Mapping[str, tuple[Change, ...]]


@dataclass(frozen=True)
class ImportOutcome:
    """One order's inner status in the ``207`` multistatus: created, already there (``409``), or refused."""

    number: str
    status: int
    message: str = ""

    @property
    def created(self) -> bool:
        return self.status in (200, 201)

    @property
    def exists(self) -> bool:
        """A duplicate: the order is there. (A 409 "updated by a concurrent request" says nothing of that.)"""
        return self.status == 409 and "concurrent" not in self.message.lower()

    @property
    def transient(self) -> bool:
        return self.status >= 500 or self.status in (408, 429) or (self.status == 409 and not self.exists)


def sales_order_import(orders: Sequence[SalesOrder], business_unit: str) -> SalesOrderImport:
    """The V1 ``OrderHeader`` shape (``order[]`` with ``number``, ``type``, ``facility``, ``shipToAddress`` as an
    ``AddressType``, ``orderLines.orderLine[]`` with ``itemNumber`` and ``pack``) for orders of at most
    :data:`MAX_LINES_PER_REQUEST` lines, built from the same fitted fields as the REST create (same limits, same
    notes). Raises ``Untranslatable`` (a ``Permanent``) before anything is sent if a key does not fit."""
    built, changes = [], {}
    for order in orders:
        if len(order.lines) > MAX_LINES_PER_REQUEST:
            raise ValueError(f"{order.number}: more than {MAX_LINES_PER_REQUEST} lines go through the REST API")
        rest = sales_order_requests(order, business_unit, create=True)
        built.append(_v1_order(rest.bodies[0], business_unit))
        changes[order.number] = rest.changes
    return SalesOrderImport({"order": built}, changes)


def _v1_order(rest: Mapping[str, Any], business_unit: str) -> dict[str, Any]:
    contact, address = rest.get("shipToContact") or {}, rest.get("shipToAddress") or {}
    name = " ".join(part for part in (contact.get("firstName"), contact.get("lastName")) if part)
    ship_to = _compact(
        {
            "name": name,
            "email": contact.get("email"),
            "phone": contact.get("phone"),
            "addressLine1": address.get("line1"),
            "addressLine2": address.get("line2"),
            "addressLine3": address.get("line3"),
            "city": address.get("city"),
            "stateProvinceCode": address.get("stateProvince"),
            "postalCode": address.get("postalCode"),
            "countryCode": address.get("country"),
        }
    )
    lines = []
    for line in (rest.get("orderLines") or {}).get("data", []):
        item = line["item"]["businessKey"]["number"]
        lines.append(
            _compact(
                {
                    "lineNumber": line["lineNumber"],
                    "customerLineNumber": line.get("customerLineNumber"),
                    "itemNumber": item,
                    "pack": {"itemNumber": item, **EACH},
                    "orderPackQuantity": line["orderPackQuantity"],
                    "unitPrice": line.get("unitPrice"),
                }
            )
        )
    facility = ((rest.get("shipFromFacility") or {}).get("businessKey") or {}).get("number")
    return _compact(
        {
            "businessUnit": business_unit,
            "number": rest["number"],
            "type": V1_ORDER_TYPE,
            "status": rest.get("orderStatus", STATUS_NEW),
            "facility": facility,
            "customerOrderNumber": rest.get("customerOrderNumber"),
            "orderSource": rest.get("orderSource"),
            "shipVia": rest.get("shipVia"),
            "shipVendor": rest.get("shipVendor"),
            "shipMethod": rest.get("shipMethod"),
            "placedDate": rest.get("placedDate"),
            "shipToAddress": ship_to,
            "orderLines": {"orderLine": lines},
        }
    )


_INNER_STATUS = re.compile(r"\b([1-5]\d\d)\b")
_ENTITY_NUMBER = re.compile(r"^\s*Sales Order\s+(.+?)\s*$")


def import_outcomes(payload: Any, numbers: Sequence[str]) -> dict[str, ImportOutcome]:
    """Every inner status of a V1 ``207`` multistatus (``response[]``, possibly under ``multistatus``), by order
    number. The outer code says nothing; an order the answer does not mention is missing from the result (its
    outcome is unknown, so the caller must treat it as uncertain)."""
    body = v.as_dict(payload)
    if "multistatus" in body:
        body = v.as_dict(body["multistatus"])
    rows = v.as_list(body.get("response"), "response")
    wanted = set(numbers)
    found: dict[str, ImportOutcome] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise MalformedPayload(f"multistatus response {index} is not an object")
        number = _entity_number(row)
        if number is None and len(rows) == len(numbers):
            number = numbers[index]  # answers come in request order
        if number not in wanted:
            continue
        match = _INNER_STATUS.search(v.text(row.get("status")))
        if match is None:
            raise MalformedPayload(f"multistatus response for {number} has no status")
        messages = [e.message for e in user_errors(row)] or [v.text(row.get("description"))]
        found[number] = ImportOutcome(number, int(match.group(1)), "; ".join(m for m in messages if m))
    return found


def _entity_number(row: Mapping[str, Any]) -> str | None:
    match = _ENTITY_NUMBER.match(v.text(row.get("entity")))
    if match:
        return match.group(1)
    href = v.text(row.get("href"))
    return href.rstrip("/").rsplit("/", 1)[-1] if href else None


def import_refusal(outcome: ImportOutcome) -> Permanent:
    """A refused order of a batch import as the error a REST create would have raised (same user errors)."""
    return Permanent(
        f"Deposco refused {outcome.number} (inner {outcome.status}): {outcome.message}",
        user_errors=[_user_error(outcome.message)] if outcome.message else [],
    )


def cancellation_request(quantities: Mapping[str, int]) -> dict[str, Any]:
    """``POST /orders/salesOrders/{id}/cancellations`` body: units to cancel per Deposco line id.

    Lockstep's lines use packs of one, so units and pack quantities are the same number.
    """
    rows = []
    for line_id, quantity in quantities.items():
        if quantity <= 0:
            continue
        ref: dict[str, Any] = (
            {"id": int(line_id)} if str(line_id).isdigit() else {"businessKey": {"lineNumber": line_id}}
        )
        rows.append({"orderLine": ref, "canceledPackQuantity": quantity})
    return {"orderLines": rows}


def can_cancel(status: str) -> bool:
    """Whether Deposco still accepts cancellations for a sales order in ``status``."""
    return status in CANCELLABLE_STATUSES


def is_on_hold(status: str) -> bool:
    """Whether a sales order in ``status`` is held in Deposco (so a lifted Centra hold must release it)."""
    return status == STATUS_HOLD


def can_update(status: str) -> bool:
    """Whether Deposco still accepts header changes and added lines for a sales order in ``status``."""
    return status in EDITABLE_STATUSES


def is_shipped(shipment: WarehouseShipment) -> bool:
    """Act only on shipped shipments that moved units (label-only shipments carry none)."""
    return shipment.status == SHIPPED and shipment.shipped_units > 0


# ============================================================================================ responses


def _ref_key(ref: Any, *names: str) -> str:
    key = v.as_dict(v.as_dict(ref).get("businessKey"))
    for name in names:
        value = v.text(key.get(name))
        if value:
            return value
    return ""


def _ref_id(ref: Any) -> str:
    return v.text(v.as_dict(ref).get("id"))


def _self_id(dto: Mapping[str, Any]) -> str:
    return _ref_id(dto.get("self")) or v.text(dto.get("id"))


def _pack_size(dto: Mapping[str, Any]) -> int:
    size = v.units(v.as_dict(v.as_dict(dto.get("pack")).get("businessKey")).get("quantity"))
    return size if size and size > 0 else 1


def _require(dto: Any, what: str) -> dict[str, Any]:
    if not isinstance(dto, dict) or v.is_nil(dto):
        raise MalformedPayload(f"expected a {what} object, got {type(dto).__name__}", transient=False)
    return dto


def page(payload: Any) -> Page:
    """One collection page: its rows, the ``next`` link and whether the collection is complete.

    ``complete: true`` wins over a ``next`` link (real responses carry bogus ones); a bare list is one page.
    """
    if isinstance(payload, list):
        return Page([r for r in payload if isinstance(r, dict)], None, True)
    body = _require(payload, "collection")
    rows = [r for r in v.as_list(body.get("data")) if isinstance(r, dict)]
    complete = body.get("complete") in (True, "true")
    next_href = None
    for link in v.as_list(body.get("links"), "link"):
        if isinstance(link, dict) and v.text(link.get("rel")) == "next" and v.text(link.get("href")):
            next_href = v.text(link.get("href"))
    if complete:
        next_href = None
    return Page(rows, next_href, complete or next_href is None)


def nested_rows(dto: Mapping[str, Any], name: str) -> list[dict[str, Any]] | None:
    """Rows of a nested collection when they are certainly all there (fewer than the cap of 10), else None."""
    collection = dto.get(name)
    if name not in dto or (isinstance(collection, dict) and collection.get("complete") in (False, "false")):
        return None
    rows = [r for r in v.as_list(collection) if isinstance(r, dict)]
    return rows if len(rows) < NESTED_CAP else None


def item(dto: Any) -> Item:
    dto = _require(dto, "item")
    number = v.text(dto.get("number")) or _ref_key(dto.get("self"), "number")
    if not number:
        raise MalformedPayload("item without a number", transient=False)
    upcs = [v.text(u.get("value")) for u in v.as_list(dto.get("upcs"), "upc") if isinstance(u, dict)]
    hs_codes = [v.text(h.get("code")) for h in v.as_list(dto.get("hsCodes"), "hsCode") if isinstance(h, dict)]
    enabled = dto.get("salesEnabledFlag")
    return Item(
        number=number,
        description=v.text(dto.get("name")) or v.text(dto.get("shortDescription")),
        upc=next((u for u in upcs if u), ""),
        style=v.text(dto.get("styleNumber")) or v.text(dto.get("styleName")),
        colour=v.text(dto.get("colorName")) or v.text(dto.get("colorCode")),
        size=v.text(dto.get("size")),
        weight_kg=_kilograms(dto.get("weight")),
        country_of_origin=v.text(dto.get("originCountry")),
        hs_code=next((h for h in hs_codes if h), ""),
        active=enabled not in (False, "false"),
    )


def _kilograms(weight: Any) -> Decimal | None:
    weight = v.as_dict(weight)
    amount = v.number(weight.get("weight", weight.get("value")))
    if amount is None or amount <= 0:
        return None
    factor = WEIGHT_TO_KG.get(v.text(weight.get("units")).lower() or "kg")
    return None if factor is None else (amount * factor).normalize()


def facility(dto: Any) -> FacilityRecord:
    dto = _require(dto, "facility")
    code = v.text(dto.get("number")) or _ref_key(dto.get("self"), "number")
    if not code:
        raise MalformedPayload("facility without a number", transient=False)
    return FacilityRecord(
        code=code,
        name=v.text(dto.get("name")),
        facility_id=_self_id(dto),
        country=v.text(v.as_dict(dto.get("address")).get("country")),
    )


def address(contact: Any, postal: Any) -> Address:
    contact, postal = v.as_dict(contact), v.as_dict(postal)
    return Address(
        first_name=v.text(contact.get("firstName")),
        last_name=v.text(contact.get("lastName")),
        company=v.text(postal.get("line3")),
        address1=v.text(postal.get("line1")),
        address2=v.text(postal.get("line2")),
        city=v.text(postal.get("city")),
        postal_code=v.text(postal.get("postalCode")),
        region=v.text(postal.get("stateProvince")),
        country=v.text(postal.get("country")),
        email=v.text(contact.get("email")),
        phone=v.text(contact.get("phone")),
    )


def sales_order_line(dto: Any) -> SalesOrderLine:
    """A sales-order line in units (pack quantity x pack size), with cancelled and shipped units."""
    dto = _require(dto, "order line")
    size = _pack_size(dto)
    raw_number = v.text(dto.get("lineNumber")) or _ref_key(dto.get("self"), "lineNumber")
    suffix = raw_number.rsplit("-", 1)[-1]
    price = v.number(dto.get("unitPrice"))
    return SalesOrderLine(
        line_number=int(suffix) if suffix.isdigit() else 0,
        item=_ref_key(dto.get("item"), "number") or v.text(dto.get("itemNumber")),
        quantity=v.units(dto.get("orderPackQuantity"), size) or 0,
        customer_line_number=v.text(dto.get("customerLineNumber")),
        unit_price=price,
        line_id=_self_id(dto),
        cancelled_quantity=v.units(dto.get("canceledPackQuantity"), size) or 0,
        shipped_quantity=v.units(dto.get("shippedPackQuantity"), size) or 0,
        status=v.text(dto.get("orderLineStatus")),
    )


def sales_order(dto: Any, lines: Sequence[SalesOrderLine] | None = None) -> SalesOrder:
    """A sales-order header; ``lines`` should come from the line sub-resource (nested lines stop at 10)."""
    dto = _require(dto, "sales order")
    number = v.text(dto.get("number")) or _ref_key(dto.get("self"), "number")
    if not number:
        raise MalformedPayload("sales order without a number", transient=False)
    return SalesOrder(
        number=number,
        facility=_ref_key(dto.get("shipFromFacility"), "number"),
        lines=tuple(lines or ()),
        ship_to=address(dto.get("shipToContact"), dto.get("shipToAddress")),
        customer_order_number=v.text(dto.get("customerOrderNumber")),
        order_date=v.moment(dto.get("placedDate")),
        carrier_service=CarrierService(
            v.text(dto.get("shipVia")), v.text(dto.get("shipVendor")), v.text(dto.get("shipMethod"))
        ),
        status=v.text(dto.get("orderStatus")),
        order_id=_self_id(dto),
        created_at=v.moment(dto.get("createdDate")),
        updated_at=v.moment(dto.get("updatedDate")),
    )


def order_status(payload: Any) -> str:
    """``GET …/status`` → ``{"orderStatus": "…"}`` (a bare string is accepted too)."""
    if isinstance(payload, str):
        return payload.strip()
    status = v.text(v.as_dict(payload).get("orderStatus"))
    if not status:
        raise MalformedPayload("status response without orderStatus", transient=False)
    return status


def shipment_line(dto: Any) -> ShipmentLine:
    """A shipment line in units; the Centra line id travels as the order line's ``customerLineNumber``."""
    dto = _require(dto, "shipment line")
    details = v.as_dict(dto.get("orderLineDetails"))
    size = _pack_size(dto) if dto.get("pack") is not None else _pack_size(details)
    return ShipmentLine(
        customer_line_number=v.text(details.get("customerLineNumber"))
        or v.text(dto.get("customerLineNumber"))
        or v.text(dto.get("externalLineNumber")),
        item=_ref_key(dto.get("item"), "number") or v.text(dto.get("itemNumber")),
        quantity=v.units(dto.get("shippedPackQuantity"), size) or 0,
    )


def shipment(dto: Any, lines: Sequence[ShipmentLine] | None = None) -> WarehouseShipment:
    """An outbound shipment. Without ``lines``, the nested lines are used only if certainly complete.

    Tracking numbers: the header's plus one per shipped container (multi-parcel), without repeats.
    """
    dto = _require(dto, "outbound shipment")
    shipment_id = _self_id(dto)
    number = v.text(dto.get("number")) or v.text(dto.get("shipmentNumber")) or _ref_key(dto.get("self"), "number")
    if not shipment_id and not number:
        raise MalformedPayload("outbound shipment without id or number", transient=False)
    orders = [o for o in v.as_list(dto.get("orderHeaders"), "orderHeader") if isinstance(o, dict)]
    containers = [c for c in v.as_list(dto.get("shippedContainers"), "shippedContainer") if isinstance(c, dict)]
    tracking: list[str] = []
    for candidate in [dto.get("trackingNumber")] + [c.get("trackingNumber") for c in containers]:
        value = v.text(candidate)
        if value and value not in tracking:
            tracking.append(value)
    if lines is None:
        nested = nested_rows(dto, "shipmentLines")
        lines = [shipment_line(row) for row in nested] if nested is not None else []
    dates = v.as_dict(dto.get("shipmentDates"))
    via, vendor, method = (v.text(dto.get(k)) for k in ("shipVia", "shipVendor", "shipMethod"))
    return WarehouseShipment(
        shipment_id=shipment_id,
        number=number,
        sales_order_number=_ref_key(orders[0], "number") if orders else "",
        facility=_ref_key(dto.get("shipFromFacility"), "number") or v.text(dto.get("facility")),
        lines=tuple(lines),
        carrier=vendor or via,
        service=method or via,
        tracking_numbers=tuple(tracking),
        packages=v.units(dto.get("totalPackages")) or len(containers),
        shipped_at=v.moment(dates.get("actualShipDate")) or v.moment(dto.get("actualShipDate")),
        updated_at=v.moment(dto.get("updatedDate")),
        status=v.text(dto.get("status")) or v.text(dto.get("shipmentStatus")),
        sales_order_id=_ref_id(orders[0]) if orders else "",
        tracking_url=_tracking_url(v.text(dto.get("trackingUrl")), tracking),
    )


def _tracking_url(base: str, tracking: Sequence[str]) -> str:
    """Deposco's ``trackingUrl`` is a base to which the tracking number is appended (live)."""
    if not base or not tracking:
        return base
    return base if base.endswith(tracking[0]) else f"{base}{tracking[0]}"


# ============================================================================================ V1 inventory

ON_HAND, ATP, OPEN_ORDERS = "totalOnHandQty", "atpQty", "openOrderLineQty"
AVAILABILITY_MEASURES = (ON_HAND, ATP, OPEN_ORDERS)


def stock_readings(
    payload: Any, *, as_of: datetime | None = None, facilities: Iterable[str] | None = None
) -> tuple[list[StockReading], list[str]]:
    """Per item x facility readings from V1 ``/enterpriseinventory/{bu}/availability``, and problems.

    A measure the tenant has not configured is *omitted* (unknown, not 0): a row without on-hand or ATP gives no
    reading and a problem line instead. ATP may be negative and is kept so. Accepts the list-wrapped variant,
    XML mapped to dicts, numbers as strings and ``@nil``.
    """
    wanted = set(facilities) if facilities is not None else None
    readings: list[StockReading] = []
    problems: list[str] = []
    for row in _find_rows(payload, "enterpriseInventory"):
        item_number = v.text(row.get("itemNumber"))
        if not item_number:
            problems.append("availability row without itemNumber")
            continue
        for cell in v.as_list(row.get("facilities"), "facility", unwrap_any=True):
            if not isinstance(cell, dict):
                continue
            code = (
                v.text(cell.get("facility"))
                or _ref_key(cell.get("facility"), "number")
                or v.text(cell.get("facilityNumber"))
            )
            if not code or (wanted is not None and code not in wanted):
                continue
            on_hand, atp = v.units(cell.get(ON_HAND)), v.units(cell.get(ATP))
            if on_hand is None or atp is None:
                missing = [m for m, val in ((ON_HAND, on_hand), (ATP, atp)) if val is None]
                problems.append(f"{item_number} @ {code}: {', '.join(missing)} not reported")
                continue
            readings.append(
                StockReading(code, item_number, on_hand, atp, as_of, open_order_quantity=v.units(cell.get(OPEN_ORDERS)))
            )
    return readings, problems


def availability_item_count(payload: Any) -> int:
    """Item rows on one availability page (to know when paging is done)."""
    return len(_find_rows(payload, "enterpriseInventory"))


def inventory_changes(payload: Any, *, as_of: datetime | None = None) -> list[StockReading]:
    """Readings from V1 ``/inventory/full`` (items with activity since a time): total on hand and ATP."""
    readings = []
    for row in _find_rows(payload, "itemInventory"):
        item_number = v.text(row.get("itemNumber"))
        for cell in v.as_list(row.get("facilityInventory"), "facilityInventory"):
            if not isinstance(cell, dict):
                continue
            inventory = v.as_dict(cell.get("inventory"))
            on_hand, atp = v.units(inventory.get("total")), v.units(inventory.get("availableToPromise"))
            code = v.text(cell.get("facility"))
            if item_number and code and on_hand is not None and atp is not None:
                readings.append(StockReading(code, item_number, on_hand, atp, as_of))
    return readings


def inventory_row_count(payload: Any) -> int:
    return len(_find_rows(payload, "itemInventory"))


def _find_rows(payload: Any, key: str) -> list[dict[str, Any]]:
    """Rows under ``key`` wherever the wrapping put them: ``{key: [...]}``, ``[{key: [...]}]``, an XML root."""
    if isinstance(payload, list):
        found = [row for part in payload for row in _find_rows(part, key)]
        if found or not payload:
            return found
        return [r for r in payload if isinstance(r, dict) and key not in r and "itemNumber" in r]
    if not isinstance(payload, dict) or v.is_nil(payload):
        return []
    if key in payload:
        return [r for r in v.as_list(payload[key], key) if isinstance(r, dict)]
    if len(payload) == 1:
        return _find_rows(next(iter(payload.values())), key)
    return []


# ============================================================================================ errors, webhooks

_PATH = re.compile(r"^(?:Incorrect string value for )?([A-Za-z_]\w*(?:\[\d+\])?(?:\.\w+(?:\[\d+\])?)+)\b")
_UNKNOWN_ITEM = re.compile(r"Item with business key number = \[(.*?)\]")


def user_errors(payload: Any) -> list[UserError]:
    """Deposco's reasons from ``{"errors":[{"errorMessage"}]}``, ``{"error_messages":[…]}`` or plain text,
    each with the field path where the message names one (``salesOrder.shipToContact.lastName``)."""
    messages: list[str] = []
    if isinstance(payload, str):
        messages = [payload] if payload.strip() else []
    elif isinstance(payload, dict):
        for entry in v.as_list(payload.get("errors"), "error") + v.as_list(payload.get("error_messages")):
            if isinstance(entry, dict):
                messages.append(v.text(entry.get("errorMessage")) or v.text(entry.get("message")))
            else:
                messages.append(v.text(entry))
        for name in ("error_description", "message", "error"):
            if not messages and v.text(payload.get(name)):
                messages.append(v.text(payload.get(name)))
    return [_user_error(m) for m in messages if m]


def _user_error(message: str) -> UserError:
    if _UNKNOWN_ITEM.search(message):
        return UserError(message, "item.number")
    match = _PATH.match(message.strip())
    return UserError(message, match.group(1) if match else None)


def unknown_items(error: Permanent) -> list[str]:
    """Item numbers a 404 said Deposco does not know (push them, or quarantine the order)."""
    found = []
    for entry in error.user_errors:
        found += _UNKNOWN_ITEM.findall(entry.message)
    return found


def status_refused(error: Permanent) -> bool:
    """The 400 Deposco gives when ``orderStatus`` is sent for an order that already exists."""
    return any("status updates are not accepted" in e.message.lower() for e in error.user_errors)


def shipment_hints(payload: Any) -> list[ShipmentHint]:
    """Shipment identities in a webhook body: the V1 ``ShipmentType`` mapping (``{"shipment": {…}}``, also as
    ``{"shipments": {"shipment": [...]}}``) or a REST shipment DTO. Nothing else in it is trusted."""
    rows: list[Any]
    body = v.as_dict(payload) if not isinstance(payload, list) else {"shipment": payload}
    if "shipments" in body:
        rows = v.as_list(body["shipments"], "shipment")
    elif "shipment" in body:
        rows = v.as_list(body["shipment"], "shipment")
    else:
        rows = [body]
    hints = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        orders = v.as_list(row.get("orders"), "order") + v.as_list(row.get("orderHeaders"), "orderHeader")
        numbers = tuple(
            n
            for n in (v.text(o.get("orderNumber")) or _ref_key(o, "number") for o in orders if isinstance(o, dict))
            if n
        )
        hint = ShipmentHint(
            shipment_id=_self_id(row),
            shipment_number=v.text(row.get("shipmentNumber")) or v.text(row.get("number")),
            order_numbers=numbers,
        )
        if hint.shipment_id or hint.shipment_number:
            hints.append(hint)
    return hints


@dataclass(frozen=True)
class StockHint:
    """An item (and the facility, when named) a stock notification says changed: to re-read, nothing more."""

    item: str
    facility: str = ""


_STOCK_NOTICES = (("invAdjustments", "invAdjustment"), ("inventoryNoticeActivities", "inventoryNoticeActivity"))


def stock_hints(payload: Any) -> list[StockHint]:
    """Items a stock notification names: the V1 ``InvAdjustment`` mapping (``itemSku``, ``facilityNumber``,
    ``fromFacilityNumber`` of a move), V1 ``InventoryNoticeActivity`` (``itemNumber``, ``facility``), each alone or
    in its collection, or a REST ``InventoryAdjustmentDTO``. Quantities in it are not trusted (unsigned)."""
    body = v.as_dict(payload) if not isinstance(payload, list) else {}
    rows: list[Any] = []
    for many, one in _STOCK_NOTICES:
        if many in body:
            rows += v.as_list(body[many], one)
        elif one in body:
            rows += v.as_list(body[one], one)
    if not rows and "actionType" in body and isinstance(body.get("item"), dict):
        rows = [body]
    hints: list[StockHint] = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        item_number = v.text(row.get("itemSku")) or v.text(row.get("itemNumber")) or _ref_key(row.get("item"), "number")
        facility = (
            v.text(row.get("facilityNumber")) or v.text(row.get("facility")) or _ref_key(row.get("facility"), "number")
        )
        if not item_number:
            continue
        hints.append(StockHint(item_number, facility))
        source = v.text(row.get("fromFacilityNumber"))
        if source and source != facility:
            hints.append(StockHint(item_number, source))
    return hints


def stock_adjustment(dto: Any) -> StockAdjustment:
    """One ``InventoryAdjustmentDTO`` of ``/inventory/inventoryAdjustments``; its ``self.id`` is the feed's cursor."""
    dto = _require(dto, "inventory adjustment")
    raw_id = _self_id(dto)
    if not raw_id.isdigit():
        raise MalformedPayload("inventory adjustment without a numeric id", transient=False)
    facility = _ref_key(dto.get("facility"), "number")
    item_number = _ref_key(dto.get("item"), "number")
    if not facility or not item_number:
        raise MalformedPayload(f"inventory adjustment {raw_id} without facility or item", transient=False)
    return StockAdjustment(
        adjustment_id=int(raw_id),
        facility=facility,
        item=item_number,
        quantity=v.units(dto.get("quantity")) or 0,
        action=v.text(dto.get("actionType")) or "Adjustment",
        status=v.text(dto.get("inventoryStatus")),
        reason=v.text(dto.get("reasonCode")),
        created_at=v.moment(dto.get("createdDate")),
    )
