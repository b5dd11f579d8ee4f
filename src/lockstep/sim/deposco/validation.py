"""Deposco's input rules for writes: which fields are accepted, their types, and their length limits.

The real API rejects an over-long field with ``400 <path> size must be between 0 and <max>`` and refuses text
that needs more than 3 UTF-8 bytes per character (emoji). Lockstep must pre-validate against exactly these
limits, so the simulator enforces the documented table (deposco.md §4, SDK validators) rather than being
lenient. Only whitelisted fields are kept: anything else is ignored, as Deposco ignores unknown JSON
properties.
"""

from __future__ import annotations

from typing import Any

from .clock import iso, parse_iso
from .errors import bad_request

CONTACT = {"firstName": 30, "lastName": 30, "phone": 30, "email": 50}
ADDRESS = {
    "line1": 64,
    "line2": 64,
    "line3": 64,
    "line4": 64,
    "city": 30,
    "postalCode": 20,
    "stateProvince": 100,
    "country": 100,
}
FACILITY_ADDRESS = {"line1": 30, "line2": 30, "city": 20, "stateProvince": 10, "postalCode": 20, "country": 2}

# field -> ("str", max) | ("num",) | ("int",) | ("bool",) | ("date",) | ("enum", {...}) | ("obj", {sub: max})
ITEM_FIELDS: dict[str, tuple] = {
    "number": ("str", 40),
    "name": ("str", 150),
    "shortDescription": ("str", 100),
    "longDescription": ("str", 4000),
    "brandName": ("str", 35),
    "productCode": ("str", 40),
    "externalImageUrl": ("str", 200),
    "styleNumber": ("str", 100),
    "styleName": ("str", 100),
    "colorCode": ("str", 100),
    "colorName": ("str", 100),
    "size": ("str", 100),
    "originCountry": ("str", 100),
    "unitPrice": ("num",),
    "purchaseCost": ("num",),
    "taxable": ("bool",),
    "shippable": ("bool",),
    "salesEnabledFlag": ("bool",),
    "inventoryTrackingEnabled": ("bool",),
    "lotTrackingEnabled": ("bool",),
    "serialTrackingEnabled": ("bool",),
    "hazmat": ("bool",),
    "itemType": ("enum", {"Simple", "Custom Fee"}),
    "customAttribute1": ("str", 200),
    "customAttribute2": ("str", 200),
    "customAttribute3": ("str", 200),
    "customAttribute4": ("str", 200),
    "customAttribute5": ("str", 200),
}
PACK_TYPES = {"Each", "Case", "Bundle", "Loose", "Mill Unit", "Outer", "Unit"}
WEIGHT_UNITS = {"lb", "kg", "oz", "g"}

FACILITY_FIELDS: dict[str, tuple] = {
    "number": ("str", 20),
    "name": ("str", 30),
    "type": ("enum", {"Distribution Center", "Retail Store"}),
    "isVirtual": ("bool",),
    "enableShipToCustomer": ("bool",),
    "enableCustomerPickup": ("bool",),
    "facilityUOMSystem": ("enum", {"Metric", "Imperial"}),
    "address": ("obj", FACILITY_ADDRESS),
}

ORDER_FIELDS: dict[str, tuple] = {
    "number": ("str", 50),
    "customerOrderNumber": ("str", 50),
    "otherReferenceNumber": ("str", 50),
    "otherReferenceNumber2": ("str", 45),
    "orderSource": ("str", 100),
    "orderPriority": ("int",),
    "shipVia": ("str", 50),
    "shipVendor": ("str", 50),
    "shipMethod": ("str", 50),
    "freightTermsType": ("str", 100),
    "placedDate": ("date",),
    "plannedShipDate": ("date",),
    "plannedArrivalDate": ("date",),
    "orderTotal": ("num",),
    "orderSubtotal": ("num",),
    "orderShippingTotal": ("num",),
    "orderTaxTotal": ("num",),
    "residential": ("bool",),
    "deliveryConfirmation": ("str", 45),
    "dutyPaidBy": ("enum", {"DDU", "DDP"}),
    "incotermsType": ("str", 50),
    "shipToContact": ("obj", CONTACT),
    "shipToAddress": ("obj", ADDRESS),
    "billToContact": ("obj", CONTACT),
    "billToAddress": ("obj", ADDRESS),
    **{f"customAttribute{i}": ("str", 100) for i in range(1, 8)},
}
LINE_FIELDS: dict[str, tuple] = {
    "lineNumber": ("str", 55),
    "customerLineNumber": ("str", 100),
    "description": ("str", 250),
    "orderPackQuantity": ("num",),
    "unitPrice": ("num",),
    "unitCost": ("num",),
    "discountAmount": ("num",),
    "taxable": ("bool",),
    "lotNumber": ("str", 200),
}
MAX_LINES_PER_REQUEST = 100


def length_message(path: str, limit: int) -> str:
    return f"{path} size must be between 0 and {limit}"


def check_text(path: str, value: Any, limit: int) -> str:
    if not isinstance(value, str):
        raise bad_request(f"JSON parse error: {path} must be a string")
    if len(value) > limit:
        raise bad_request(length_message(path, limit))
    if any(ord(ch) > 0xFFFF for ch in value):
        # MySQL utf8 (3-byte) columns: what Deposco's database answers for emoji.
        raise bad_request(f"Incorrect string value for {path}: characters beyond 3 UTF-8 bytes are not supported")
    return value


def _check(path: str, rule: tuple, value: Any) -> Any:
    kind = rule[0]
    if value is None:
        return None
    if kind == "str":
        return check_text(path, value, rule[1])
    if kind in ("num", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad_request(f"JSON parse error: {path} must be a number")
        if kind == "int" and value != int(value):
            raise bad_request(f"JSON parse error: {path} must be an integer")
        return int(value) if kind == "int" else value
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad_request(f"JSON parse error: {path} must be a boolean")
        return value
    if kind == "date":
        try:
            return iso(parse_iso(check_text(path, value, 64)))
        except ValueError:
            raise bad_request(f"JSON parse error: {path} is not a valid date-time") from None
    if kind == "enum":
        if value not in rule[1]:
            raise bad_request(f"{path} must be one of {sorted(rule[1])}")
        return value
    if kind == "obj":
        if not isinstance(value, dict):
            raise bad_request(f"JSON parse error: {path} must be an object")
        return {k: check_text(f"{path}.{k}", v, rule[1][k]) for k, v in value.items() if k in rule[1] and v is not None}
    raise AssertionError(kind)


def accept(prefix: str, payload: dict, rules: dict[str, tuple]) -> dict[str, Any]:
    """Validate the whitelisted fields of ``payload``; return them normalised. Unknown fields are dropped."""
    accepted: dict[str, Any] = {}
    for name, rule in rules.items():
        if name in payload:
            accepted[name] = _check(f"{prefix}.{name}", rule, payload[name])
    return accepted


def weight(path: str, value: Any) -> dict | None:
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or isinstance(value.get("weight"), bool)
        or not isinstance(value.get("weight"), int | float)
    ):
        raise bad_request(f"JSON parse error: {path}.weight must be a number")
    units = value.get("units")
    if units is not None and units not in WEIGHT_UNITS:
        raise bad_request(f"{path}.units must be one of {sorted(WEIGHT_UNITS)}")
    return {"weight": value["weight"], "units": units}


def business_key(ref: Any, path: str) -> dict:
    """Return the businessKey of an ``{id}|{businessKey}`` reference (empty when only an id is given)."""
    if ref is None:
        return {}
    if not isinstance(ref, dict):
        raise bad_request(f"JSON parse error: {path} must be an object")
    key = ref.get("businessKey") or {}
    if not isinstance(key, dict):
        raise bad_request(f"JSON parse error: {path}.businessKey must be an object")
    return key
