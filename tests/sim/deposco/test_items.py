"""Items (upsert on number, barcodes, length limits), facilities, and the list conventions they share."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

ITEM = {
    "number": "SKU-123-BLK-M",
    "businessUnit": {"businessKey": {"code": "BU1"}},
    "name": "Tee black M",
    "shortDescription": "Tee Black M",
    "brandName": "Brand",
    "styleNumber": "SKU-123",
    "colorName": "Black",
    "size": "M",
    "unitPrice": 25,
    "shippable": True,
    "inventoryTrackingEnabled": True,
    "salesEnabledFlag": True,
    "packs": [{"type": "Each", "quantity": 1, "newPackFlag": False, "weight": {"weight": 0.3, "units": "kg"}}],
    "upcs": {"data": [{"value": "7350000000000"}]},
}


def test_post_items_upserts_on_number(deposco):
    api = deposco.api()
    created = api.post("/latest/items", json=ITEM)
    assert created.status_code == 200
    first = created.json()
    assert first["self"]["id"] and first["packs"][0]["self"]["id"]
    assert first["upcs"]["data"][0]["value"] == "7350000000000"
    updated = api.post("/latest/items", json={**ITEM, "name": "Tee black M (new)"}).json()
    assert updated["self"]["id"] == first["self"]["id"]
    assert updated["name"] == "Tee black M (new)"
    assert len(updated["packs"]) == 1
    listed = api.get("/latest/items", params={"number": "SKU-123-BLK-M"}).json()
    assert [i["self"]["id"] for i in listed["data"]] == [first["self"]["id"]]
    assert api.get(f"/latest/items/{first['self']['id']}").json()["name"] == "Tee black M (new)"


def test_barcode_used_by_another_item_is_a_400(deposco):
    api = deposco.api()
    assert api.post("/latest/items", json=ITEM).status_code == 200
    clash = api.post("/latest/items", json={**ITEM, "number": "OTHER"})
    assert clash.status_code == 400
    assert clash.json()["errors"][0]["errorMessage"] == "UPC 7350000000000 exists for item SKU-123-BLK-M"
    assert api.get("/latest/items", params={"number": "OTHER"}).json()["data"] == []


def test_item_length_limits_are_400s_naming_the_field(deposco):
    api = deposco.api()
    for field, limit in (("name", 150), ("shortDescription", 100), ("brandName", 35)):
        response = api.post("/latest/items", json={**ITEM, field: "x" * (limit + 1)})
        assert response.status_code == 400
        assert response.json()["errors"][0]["errorMessage"] == f"item.{field} size must be between 0 and {limit}"
        assert api.post("/latest/items", json={**ITEM, field: "x" * limit}).status_code == 200


def test_facilities_list_with_number_codes(seeded):
    api = seeded.api()
    facilities = api.get("/latest/facilities").json()
    assert sorted(f["number"] for f in facilities["data"]) == ["WH1", "WH2"]
    only = api.get("/latest/facilities", params={"number": "WH2"}).json()["data"]
    assert [f["number"] for f in only] == ["WH2"]
    one = api.get(f"/latest/facilities/{only[0]['self']['id']}").json()
    assert one["number"] == "WH2"


def test_lists_page_id_descending_with_searchid_links_until_complete(deposco):
    deposco.control("POST", "/catalog", json={"products": 5, "variants": 3, "sizes": 5})  # 75 items
    api = deposco.api()
    page = api.get("/latest/items", params={"pageSize": 20}).json()
    assert page["pages"] == 4 and page["complete"] is False
    seen = []
    while True:
        ids = [i["self"]["id"] for i in page["data"]]
        assert ids == sorted(ids, reverse=True)
        seen += ids
        nexts = [link["href"] for link in page["links"] if link["rel"] == "next"]
        if page["complete"]:
            assert not nexts
            break
        query = parse_qs(urlsplit(nexts[0]).query)
        assert list(query) == ["searchId"]
        assert base64.urlsafe_b64decode(query["searchId"][0] + "==").decode().startswith("maxId|lt|")
        page = api.get(nexts[0]).json()
    assert len(seen) == 75 and len(set(seen)) == 75
    assert seen == sorted(seen, reverse=True)


def test_page_size_is_capped_per_resource(deposco):
    deposco.control("POST", "/catalog", json={"products": 20, "variants": 2, "sizes": 3})  # 120 items
    api = deposco.api()
    assert len(api.get("/latest/items").json()["data"]) == 50  # default
    assert len(api.get("/latest/items", params={"pageSize": 500}).json()["data"]) == 100  # cap


def test_unknown_query_parameters_are_ignored_silently(seeded):
    api = seeded.api()
    everything = api.get("/latest/items").json()["data"]
    ignored = api.get("/latest/items", params={"upc": "7350000000017", "itemNumber": "SKU-A"})
    assert ignored.status_code == 200
    assert [i["number"] for i in ignored.json()["data"]] == [i["number"] for i in everything]
    assert len(everything) == 3


def test_created_after_and_updated_after_filter(seeded):
    api = seeded.api()
    items = api.get("/latest/items").json()["data"]
    cutoff = max(i["updatedDate"] for i in items)
    assert api.get("/latest/items", params={"updatedAfter": cutoff}).json()["data"] == []
    seeded.control("POST", "/clock/advance", json={"seconds": 5})
    api.post(
        "/latest/items",
        json={"number": "SKU-B", "businessUnit": {"businessKey": {"code": "BU1"}}, "name": "renamed"},
    )
    changed = api.get("/latest/items", params={"updatedAfter": cutoff}).json()["data"]
    assert [i["number"] for i in changed] == ["SKU-B"]
    assert api.get("/latest/items", params={"createdAfter": cutoff}).json()["data"] == []
    assert api.get("/latest/items", params={"updatedAfter": "not-a-date"}).status_code == 400


def test_item_packs_and_upcs_sub_resources(deposco):
    api = deposco.api()
    item = api.post("/latest/items", json=ITEM).json()
    item_id, pack = item["self"]["id"], item["packs"][0]
    assert api.get(f"/latest/items/{item_id}/packs/{pack['self']['id']}").json()["quantity"] == 1
    upcs = api.get(f"/latest/items/{item_id}/upcs").json()
    assert [u["value"] for u in upcs["data"]] == ["7350000000000"]
    assert api.delete(f"/latest/items/{item_id}/upcs/{upcs['data'][0]['self']['id']}").status_code == 204
    assert api.get(f"/latest/items/{item_id}/upcs").json()["data"] == []
    assert api.post("/latest/items", json={**ITEM, "number": "OTHER"}).status_code == 200  # barcode is free
    assert api.get("/latest/items/999999").status_code == 404
