"""V1 inventory (basic auth, JSON labelled XML, blank 200, paging) and unsigned webhook hints."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from lockstep.connectors.deposco.webhooks import WebhookRejected, parse_notification, verify
from lockstep.connectors.errors import AuthFailed, Transient

from .conftest import Script, make_client


def availability(items, facility="WH1"):
    rows = [
        {"itemNumber": sku, "facilities": [{"facility": facility, "totalOnHandQty": on_hand, "atpQty": atp}]}
        for sku, on_hand, atp in items
    ]
    # Deposco's live quirk: JSON under an XML content type
    return httpx.Response(
        200, content=json.dumps({"enterpriseInventory": rows}).encode(), headers={"content-type": "application/xml"}
    )


async def test_availability_pages_until_a_short_page_with_basic_auth():
    pages = iter(
        [
            availability([(f"SKU-{i}", 5, 3) for i in range(2)]),
            httpx.Response(200, content=b""),
            availability([("SKU-9", 1, -2)]),
        ]
    )
    script = Script(lambda r: next(pages))
    async with make_client(script) as client:
        readings, problems = await client.v1.availability(facilities=["WH1"], page_size=2)
    assert [(r.item, r.on_hand, r.atp) for r in readings] == [("SKU-0", 5, 3), ("SKU-1", 5, 3), ("SKU-9", 1, -2)]
    assert not problems and all(r.as_of is not None for r in readings)
    first, blank_retry, second = script.requests
    assert first.url.path == "/integration/ACME/enterpriseinventory/ACME/availability"
    assert first.url.params["measures"] == "totalOnHandQty,atpQty,openOrderLineQty"
    assert first.url.params["facilityNumbers"] == "WH1" and first.url.params["pageNumber"] == "1"
    assert blank_retry.url.params["pageNumber"] == "2" and second.url.params["pageNumber"] == "2"
    assert base64.b64decode(first.headers["authorization"].split()[1]) == b"v1user:v1-pass-word"
    assert not script.token_requests  # V1 needs no OAuth token


async def test_availability_for_chosen_items_is_split_into_short_queries():
    def page(request):
        wanted = request.url.params["itemNumbers"].split(",")
        return availability([(n, 1, 1) for n in wanted] if request.url.params["pageNumber"] == "1" else [])

    script = Script(page)
    async with make_client(script) as client:
        readings, _ = await client.v1.availability(items=[f"SKU-{i}" for i in range(150)])
    assert len(readings) == 150
    assert [len(r.url.params["itemNumbers"].split(",")) for r in script.requests] == [100, 50]
    async with make_client(Script(lambda r: availability([]))) as client:
        assert await client.v1.availability(items=[]) == ([], [])


async def test_v1_refused_credentials_and_persistent_blank_200():
    refused = Script(lambda r: httpx.Response(401, content=b'{"errors":[{"errorMessage":"Bad credentials"}]}'))
    async with make_client(refused) as client:
        with pytest.raises(AuthFailed, match="Bad credentials") as caught:
            await client.v1.availability()
    assert "v1-pass-word" not in str(caught.value)
    blank = Script(lambda r: httpx.Response(200, content=b""))
    async with make_client(blank) as client:
        with pytest.raises(Transient):
            await client.v1.availability()


async def test_inventory_changes_since():
    payload = {
        "itemInventory": [
            {
                "itemNumber": "SKU-1",
                "facilityInventory": {"facility": "WH1", "inventory": {"total": "4", "availableToPromise": "1"}},
            }
        ]
    }
    script = Script(lambda r: httpx.Response(200, json=payload))
    async with make_client(script) as client:
        from datetime import UTC, datetime

        (reading,) = await client.v1.inventory_changes(datetime(2026, 9, 1, 12, tzinfo=UTC))
    assert (reading.item, reading.on_hand, reading.atp) == ("SKU-1", 4, 1)
    assert script.requests[0].url.params["startActivityTime"] == "2026-09-01T12:00:00Z"


def test_webhook_without_configured_secret_is_accepted_as_a_hint():
    verify({}, [])
    body = json.dumps(
        {
            "event": "shipment.shipped",
            "shipment": {"id": 7, "shipmentNumber": "1040", "trackingNumber": "forged-but-ignored"},
        }
    ).encode()
    (hint,) = parse_notification(body, "application/json").shipments
    assert (hint.shipment_id, hint.shipment_number) == ("7", "1040")


def test_webhook_secret_in_header_or_basic_auth_with_rotation():
    verify({"X-Lockstep-Webhook-Secret": "s3cret-new"}, ["s3cret-old", "s3cret-new"])
    basic = "Basic " + base64.b64encode(b"lockstep:s3cret-old").decode()
    verify({"Authorization": basic}, ["s3cret-old"])
    with pytest.raises(WebhookRejected, match="does not match"):
        verify({"x-lockstep-webhook-secret": "guess"}, ["s3cret-old"])
    with pytest.raises(WebhookRejected, match="no webhook secret"):
        verify({"Authorization": "Bearer s3cret-old"}, ["s3cret-old"])
    with pytest.raises(WebhookRejected):
        verify({"Authorization": "Basic !!notbase64"}, ["s3cret-old"])


@pytest.mark.parametrize("body", [b"", b"{not json", b"<html>oops</html>", b'{"hello": "world"}', b"[]"])
def test_malformed_webhooks_are_a_clear_value_error(body):
    with pytest.raises(ValueError):
        parse_notification(body, "application/json")


def test_webhook_hint_in_xml():
    xml = (
        b"<shipments><shipment><shipmentNumber>1041</shipmentNumber><orders><order><orderNumber>C2-WH1"
        b"</orderNumber></order></orders></shipment></shipments>"
    )
    (hint,) = parse_notification(xml, "application/xml").shipments
    assert hint.shipment_number == "1041" and hint.order_numbers == ("C2-WH1",)


def test_stock_notifications_name_items_and_facilities_in_every_v1_shape_and_the_rest_dto():
    xml = (
        b"<invAdjustments><invAdjustment><invAdjustmentId>5</invAdjustmentId><facilityNumber>WH2</facilityNumber>"
        b"<fromFacilityNumber>WH1</fromFacilityNumber><itemSku>SKU-A</itemSku><quantity>3</quantity>"
        b"</invAdjustment><invAdjustment><facilityNumber>WH1</facilityNumber><itemSku>SKU-B</itemSku>"
        b"<quantity>-1</quantity></invAdjustment></invAdjustments>"
    )
    moved = parse_notification(xml, "application/xml")
    assert [(h.item, h.facility) for h in moved.stock] == [("SKU-A", "WH2"), ("SKU-A", "WH1"), ("SKU-B", "WH1")]
    assert moved.shipments == ()

    notice = json.dumps({"inventoryNoticeActivity": {"itemNumber": "SKU-C", "facility": "WH1", "quantity": 4}})
    assert [(h.item, h.facility) for h in parse_notification(notice.encode()).stock] == [("SKU-C", "WH1")]

    rest = {  # a REST adjustment has an id, which must not read as a shipment's
        "self": {"id": 9},
        "actionType": "Status Change",
        "facility": {"businessKey": {"number": "WH1"}},
        "item": {"businessKey": {"number": "SKU-D"}},
        "quantity": -2,
    }
    parsed = parse_notification(json.dumps(rest).encode())
    assert [(h.item, h.facility) for h in parsed.stock] == [("SKU-D", "WH1")] and parsed.shipments == ()

    shipment = parse_notification(b'{"shipment": {"id": 7, "shipmentNumber": "1040"}}')
    assert shipment.stock == () and shipment.shipments[0].shipment_number == "1040"
    with pytest.raises(ValueError, match="no item"):
        parse_notification(b'{"invAdjustment": {"facilityNumber": "WH1", "quantity": 2}}')
