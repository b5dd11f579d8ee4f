"""V1 ("integration") payload shapes: inventory availability, full inventory, item ATP, multistatus.

V1 is XML-first; its JSON is a mapping of the XML (wrapper objects, measures the tenant has not configured
omitted). Shapes follow deposco.md §10-11 and the XSDs ``ItemATP.xsd``, ``FacilityInventory.xsd`` and
``MultiStatusResponse.xsd``. :func:`to_xml` renders the same dicts as XML for clients that do not ask for
JSON.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from .clock import ms
from .state import DeposcoState

#: Every measure the simulated V1 can report; a tenant configures which of them it shows.
V1_MEASURES = (
    "totalOnHandQty",
    "atpQty",
    "coAtpQty",
    "totalAtp",
    "openOrderLineQty",
    "allocatedQty",
    "qtyOnPO",
    "inTransitQty",
)


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def availability(state: DeposcoState, items: list[str], facilities: list[str], measures: list[str]) -> dict[str, Any]:
    """``/enterpriseinventory/{bu}/availability``: per item the totals, and per facility the same measures."""
    rows = []
    for number in items:
        item = state.items[state.item_ids[number]]
        per_facility = []
        totals = dict.fromkeys(measures, 0.0)
        for facility in facilities:
            figures = _measures(state, facility, number)
            picked = {m: _num(figures[m]) for m in measures if m in figures}
            for m, value in picked.items():
                totals[m] += value
            per_facility.append({"facility": facility, **picked})
        rows.append(
            {
                "itemNumber": number,
                "itemId": item.id,
                **{m: _num(v) for m, v in totals.items() if m in V1_MEASURES},
                "facilities": per_facility,
            }
        )
    return {"enterpriseInventory": rows}


def _measures(state: DeposcoState, facility: str, number: str) -> dict[str, float]:
    inv = state.inventory(facility, number)
    return {**inv, "coAtpQty": inv["atpQty"], "totalAtp": inv["atpQty"], "qtyOnPO": 0.0, "inTransitQty": 0.0}


def full_inventory(state: DeposcoState, since: float | None, page: int, page_size: int) -> dict[str, Any]:
    """``/inventory/full``: one row per item x facility, only those with activity after ``since``."""
    rows = []
    for facility, cells in sorted(state.stock.items()):
        for number, cell in sorted(cells.items()):
            if since is not None and ms(cell.activity) <= ms(since):
                continue
            inv = state.inventory(facility, number)
            rows.append(
                {
                    "itemNumber": number,
                    "facilityInventory": {
                        "facility": facility,
                        "inventory": {
                            "total": _num(inv["totalOnHandQty"]),
                            "availableToPromise": _num(inv["atpQty"]),
                            "allocated": _num(inv["allocatedQty"]),
                            "unallocated": _num(inv["totalOnHandQty"] - inv["allocatedQty"]),
                        },
                    },
                }
            )
    start = (page - 1) * page_size
    return {"itemInventory": rows[start : start + page_size]}


def item_atp(state: DeposcoState, number: str) -> dict[str, Any]:
    """``/items/{bu}/{item}/atps`` as ItemATP.xsd (``itemATPDTOes/item-atp`` with attribute values)."""
    atp = on_hand = open_units = 0.0
    for facility in state.stock:
        inv = state.inventory(facility, number)
        atp += inv["atpQty"]
        on_hand += inv["totalOnHandQty"]
        open_units += inv["openOrderLineQty"]
    return {
        "item-atp": [
            {
                "itemNumber": number,
                "availableToPromise": _num(atp),
                "totalItems": _num(on_hand),
                "quantityOnBackOrdered": 0,
                "quantityOnPurchaseOrder": 0,
            }
        ]
    }


def facility_inventory(state: DeposcoState, facility: str) -> dict[str, Any]:
    """``/inventory/{bu}/facility/{facility}`` as FacilityInventory.xsd (on hand per item)."""
    cells = state.stock.get(facility, {})
    return {
        "facilityInventory": [
            {
                "businessUnit": state.business_unit,
                "facility": facility,
                "itemNumber": number,
                "inventoryOnHandQty": _num(cell.on_hand),
            }
            for number, cell in sorted(cells.items())
        ]
    }


XML_ROOTS = {
    "enterpriseInventory": "enterpriseInventories",
    "itemInventory": "itemInventories",
    "item-atp": "itemATPDTOes",
    "facilityInventory": "facilityInventorySync",
    "response": "multistatus",
}
XML_ATTRIBUTES = {"item-atp"}  # ItemATP.xsd carries its values as attributes


def to_xml(data: dict[str, Any]) -> bytes:
    ((key, rows),) = data.items()
    root = ET.Element(XML_ROOTS.get(key, key))
    for row in rows:
        el = ET.SubElement(root, key)
        if key in XML_ATTRIBUTES:
            for name, value in row.items():
                el.set(name, str(value))
        else:
            _fill(el, row)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _fill(el: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for name, child in value.items():
            if isinstance(child, list):
                holder = ET.SubElement(el, name)
                for item in child:
                    _fill(ET.SubElement(holder, name.rstrip("s") or name), item)
            else:
                _fill(ET.SubElement(el, name), child)
    elif value is not None:
        el.text = str(value)
