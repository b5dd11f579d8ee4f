"""``/latest/items`` and ``/latest/facilities``: the item master (upsert on number) and the warehouse list; and
``/latest/inventory/inventoryAdjustments``, the feed of manual stock adjustments."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .errors import DeposcoError
from .model import Facility, Item
from .web import empty, find, listing, ok, parse_id, read_json, renderer, require, sim

router = APIRouter(prefix="/latest")

MASTER_FILTERS = ("businessUnit", "number", "name", "createdAfter", "updatedAfter")
ADJUSTMENT_FILTERS = ("businessUnit", "actionType", "facilityNumber", "itemNumber", "createdAfter")


def _master_listing(
    request: Request,
    records: Iterable[Item | Facility],
    name: Callable[[Any], str | None],
    render: Callable[[Any], dict],
) -> JSONResponse:
    """The item and facility lists: the same filters (:data:`MASTER_FILTERS`) and page sizes; only how a
    record's name is found differs."""

    def attrs(record: Item | Facility) -> dict[str, Any]:
        return {
            "businessUnit": record.business_unit,
            "number": record.number,
            "name": name(record),
            "createdAfter": record.created,
            "updatedAfter": record.updated,
        }

    return listing(request, records, attrs, MASTER_FILTERS, 50, 100, render)


def _by_id(records: Mapping[int, Any], raw_id: str, what: str) -> Any:
    record = records.get(parse_id(raw_id, what))
    if record is None:
        raise DeposcoError(404, f"{what} with id = [{raw_id}]")
    return record


@router.get("/items", name="items.list")
async def list_items(request: Request):
    require(request, "items/read")
    s, r = sim(request), renderer(request)
    return _master_listing(request, s.state.items.values(), lambda i: i.fields.get("name"), r.item)


@router.post("/items", name="items.upsert")
async def upsert_item(request: Request):
    require(request, "items/write")
    item, _ = sim(request).state.upsert_item(await read_json(request))
    return ok(renderer(request).item(item))


def _item(request: Request, raw_id: str) -> Item:
    return _by_id(sim(request).state.items, raw_id, "Item")


@router.get("/items/{itemId}", name="items.get")
async def get_item(request: Request, itemId: str):
    require(request, "items/read")
    return ok(renderer(request).item(_item(request, itemId)))


@router.get("/items/{itemId}/packs/{packId}", name="items.pack")
async def get_pack(request: Request, itemId: str, packId: str):
    require(request, "items/read")
    item = _item(request, itemId)
    return ok(renderer(request).pack(item, find(item.packs, packId, "Pack")))


@router.get("/items/{itemId}/upcs", name="items.upcs")
async def list_upcs(request: Request, itemId: str):
    require(request, "items/read")
    item, r = _item(request, itemId), renderer(request)
    rows = list(enumerate(item.upcs, start=1))

    class Row:
        def __init__(self, index: int, value: str) -> None:
            self.id, self.value = item.id * 100 + index, value
            self.index = index

    return listing(
        request,
        [Row(i, u) for i, u in rows],
        lambda _: {},
        (),
        50,
        100,
        lambda row: r.upc(item, row.value, row.index),
    )


@router.delete("/items/{itemId}/upcs/{upcId}", name="items.upcs.delete")
async def delete_upc(request: Request, itemId: str, upcId: str):
    require(request, "items/write")
    item = _item(request, itemId)
    index = parse_id(upcId, "UPC") - item.id * 100
    if not 1 <= index <= len(item.upcs):
        raise DeposcoError(404, f"UPC with id = [{upcId}]")
    sim(request).state.delete_upc(item, item.upcs[index - 1])
    return empty(204)


@router.get("/facilities", name="facilities.list")
async def list_facilities(request: Request):
    require(request, "facilities/read")
    s, r = sim(request), renderer(request)
    return _master_listing(request, s.state.facilities.values(), lambda f: f.fields.get("name", f.number), r.facility)


@router.post("/facilities", name="facilities.upsert")
async def upsert_facility(request: Request):
    require(request, "facilities/write")
    facility, _ = sim(request).state.upsert_facility(await read_json(request))
    return ok(renderer(request).facility(facility))


@router.get("/facilities/{facilityId}", name="facilities.get")
async def get_facility(request: Request, facilityId: str):
    require(request, "facilities/read")
    return ok(renderer(request).facility(_by_id(sim(request).state.facilities, facilityId, "Facility")))


@router.get("/inventory/inventoryAdjustments", name="inventoryAdjustments.list")
async def list_adjustments(request: Request):
    """Adjustments only (cycle counts, damages, set-stock corrections): receipts and picks are other records in
    Deposco, so they are not in this feed. Id-descending, at most 100 a page, like every list."""
    require(request, "inventoryAdjustments/read")
    s, r = sim(request), renderer(request)

    def attrs(adjustment) -> dict[str, Any]:
        return {
            "businessUnit": s.state.business_unit,
            "actionType": "Adjustment",
            "facilityNumber": adjustment.facility,
            "itemNumber": adjustment.item_number,
            "createdAfter": adjustment.created,
        }

    feed = [a for a in s.state.adjustments if a.kind == "Adjustment"]
    return listing(request, feed, attrs, ADJUSTMENT_FILTERS, 50, 100, r.adjustment)
