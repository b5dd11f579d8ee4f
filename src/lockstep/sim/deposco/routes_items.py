"""``/latest/items`` and ``/latest/facilities``: the item master (upsert on number) and the warehouse list."""

from __future__ import annotations

from fastapi import APIRouter, Request

from .errors import DeposcoError
from .web import empty, listing, ok, parse_id, read_json, renderer, require, sim

router = APIRouter(prefix="/latest")

ITEM_FILTERS = ("businessUnit", "number", "name", "createdAfter", "updatedAfter")
FACILITY_FILTERS = ("businessUnit", "number", "name", "createdAfter", "updatedAfter")


@router.get("/items", name="items.list")
async def list_items(request: Request):
    require(request, "items/read")
    s, r = sim(request), renderer(request)
    return listing(
        request,
        s.state.items.values(),
        lambda i: {
            "businessUnit": i.business_unit,
            "number": i.number,
            "name": i.fields.get("name"),
            "createdAfter": i.created,
            "updatedAfter": i.updated,
        },
        ITEM_FILTERS,
        50,
        100,
        r.item,
    )


@router.post("/items", name="items.upsert")
async def upsert_item(request: Request):
    require(request, "items/write")
    item, _ = sim(request).state.upsert_item(await read_json(request))
    return ok(renderer(request).item(item))


def _item(request: Request, raw_id: str):
    item = sim(request).state.items.get(parse_id(raw_id, "Item"))
    if item is None:
        raise DeposcoError(404, f"Item with id = [{raw_id}]")
    return item


@router.get("/items/{itemId}", name="items.get")
async def get_item(request: Request, itemId: str):
    require(request, "items/read")
    return ok(renderer(request).item(_item(request, itemId)))


@router.get("/items/{itemId}/packs/{packId}", name="items.pack")
async def get_pack(request: Request, itemId: str, packId: str):
    require(request, "items/read")
    item = _item(request, itemId)
    pack = next((p for p in item.packs if str(p.id) == packId), None)
    if pack is None:
        raise DeposcoError(404, f"Pack with id = [{packId}]")
    return ok(renderer(request).pack(item, pack))


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
    return listing(
        request,
        s.state.facilities.values(),
        lambda f: {
            "businessUnit": f.business_unit,
            "number": f.number,
            "name": f.fields.get("name", f.number),
            "createdAfter": f.created,
            "updatedAfter": f.updated,
        },
        FACILITY_FILTERS,
        50,
        100,
        r.facility,
    )


@router.post("/facilities", name="facilities.upsert")
async def upsert_facility(request: Request):
    require(request, "facilities/write")
    facility, _ = sim(request).state.upsert_facility(await read_json(request))
    return ok(renderer(request).facility(facility))


@router.get("/facilities/{facilityId}", name="facilities.get")
async def get_facility(request: Request, facilityId: str):
    require(request, "facilities/read")
    facility = sim(request).state.facilities.get(parse_id(facilityId, "Facility"))
    if facility is None:
        raise DeposcoError(404, f"Facility with id = [{facilityId}]")
    return ok(renderer(request).facility(facility))
