"""Request bodies: valid against the Deposco OpenAPI, keys kept exact, free text made to fit with a record."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from lockstep.connectors.deposco import translate as t
from lockstep.domain.model import Address, CarrierService, Item, SalesOrder, SalesOrderLine

from .spec import RequestChecker

ADA = Address(
    first_name="Ada",
    last_name="Lovelace",
    address1="Main St 1",
    city="Stockholm",
    postal_code="11122",
    country="se",
    email="ada@example.com",
    phone="+46 70 000 00 00",
)


@pytest.fixture(scope="module")
def checker(openapi, spec_raw) -> RequestChecker:
    return RequestChecker(openapi, spec_raw)


def order(lines: int = 2, ship_to: Address = ADA, **fields) -> SalesOrder:
    return SalesOrder(
        number=t.sales_order_number("100234", "WH1"),
        facility="WH1",
        lines=tuple(
            SalesOrderLine(
                i, f"SKU-{i}", quantity=i % 3 + 1, customer_line_number=str(5500 + i), unit_price=Decimal("25.50")
            )
            for i in range(1, lines + 1)
        ),
        ship_to=ship_to,
        customer_order_number="100234",
        order_date=datetime(2026, 9, 1, 10, tzinfo=UTC),
        **{"carrier_service": CarrierService("UPS Ground", "UPS", "Ground"), **fields},
    )


def test_item_body_validates_and_carries_sku_key_ean_and_customs_data(checker):
    item = Item(
        number="SKU-123-BLK-M",
        description="Tee black M",
        upc="7350000000017",
        style="SKU-123",
        colour="Black",
        size="M",
        weight_kg=Decimal("0.3"),
        country_of_origin="pt",
        hs_code="610910",
    )
    translated = t.item_request(item, "BU1", brand_name="Nordwind")
    checker.check_body("POST", "/items", translated.payload)
    body = translated.payload
    assert body["number"] == "SKU-123-BLK-M"
    assert body["upcs"] == {"data": [{"value": "7350000000017"}]}
    assert body["packs"] == [
        {"type": "Each", "quantity": 1, "newPackFlag": False, "weight": {"weight": 0.3, "units": "kg"}}
    ]
    assert (body["styleNumber"], body["colorName"], body["size"]) == ("SKU-123", "Black", "M")
    assert body["originCountry"] == "PT"
    assert body["hsCodes"]["data"][0] == {"code": "610910", "country": {"businessKey": {"code": "PT"}}}
    assert body["businessUnit"] == {"businessKey": {"code": "BU1"}}
    assert translated.changes == ()


def test_item_name_too_long_and_emoji_are_fitted_and_reported(checker):
    item = Item(number="SKU-1", description="Tee 🔥 " + "x" * 200, hs_code="6109")
    translated = t.item_request(item, "BU1", brand_name="A brand name that is much too long for Deposco")
    checker.check_body("POST", "/items", translated.payload)
    assert len(translated.payload["name"]) == 150 and "🔥" not in translated.payload["name"]
    assert len(translated.payload["brandName"]) <= 35
    assert len(translated.payload["shortDescription"]) <= 100
    by_field = {c.field: c for c in translated.changes}
    assert "outside 3-byte UTF-8" in by_field["item.description"].reason
    assert "truncated to 150" in by_field["item.description"].reason
    assert "truncated to 35" in by_field["item.brand"].reason
    assert "hsCodes" not in translated.payload and by_field["item.hs_code"].after == ""


@pytest.mark.parametrize("number", ["", "X" * 41, "SKU-😀"])
def test_item_key_that_does_not_fit_is_untranslatable_not_altered(number):
    with pytest.raises(t.Untranslatable) as caught:
        t.item_request(Item(number=number), "BU1")
    assert caught.value.field == "item number"


def test_sales_order_create_body_validates_with_lines_mapped_to_centra_ids(checker):
    prepared = t.sales_order_requests(order(), "BU1", create=True)
    assert len(prepared.bodies) == 1 and prepared.changes == ()
    body = prepared.bodies[0]
    checker.check_body("POST", "/orders/salesOrders", body)
    assert body["number"] == "C100234-WH1" and body["customerOrderNumber"] == "100234"
    assert body["orderStatus"] == "New" and body["orderSource"] == "Centra"
    assert body["shipFromFacility"] == {"businessKey": {"number": "WH1"}}
    assert body["placedDate"] == "2026-09-01T10:00:00Z"
    assert body["shipToContact"] == {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "phone": "+46 70 000 00 00",
        "email": "ada@example.com",
    }
    assert body["shipToAddress"]["country"] == "SE"
    first = body["orderLines"]["data"][0]
    assert first == {
        "lineNumber": "C100234-WH1-1",
        "customerLineNumber": "5501",
        "item": {"businessKey": {"number": "SKU-1", "businessUnit.code": "BU1"}},
        "pack": {"businessKey": {"item.number": "SKU-1", "quantity": 1, "item.businessUnit.code": "BU1"}},
        "orderPackQuantity": 2,
        "unitPrice": 25.5,
    }


def test_hold_on_create_and_no_status_on_update(checker):
    held = t.sales_order_requests(order(), "BU1", create=True, hold=True).bodies[0]
    assert held["orderStatus"] == "Hold"
    update = t.sales_order_requests(order(), "BU1", create=False).bodies[0]
    checker.check_body("POST", "/orders/salesOrders", update)
    assert "orderStatus" not in update


def test_order_over_100_lines_is_chunked_with_the_same_header(checker):
    prepared = t.sales_order_requests(order(lines=250), "BU1", create=True)
    sizes = [len(b["orderLines"]["data"]) for b in prepared.bodies]
    assert sizes == [100, 100, 50]
    assert [("orderStatus" in b) for b in prepared.bodies] == [True, False, False]
    headers = [{k: v for k, v in b.items() if k not in ("orderLines", "orderStatus")} for b in prepared.bodies]
    assert headers[0] == headers[1] == headers[2]
    numbers = [line["lineNumber"] for b in prepared.bodies for line in b["orderLines"]["data"]]
    assert len(set(numbers)) == 250
    for body in prepared.bodies:
        checker.check_body("POST", "/orders/salesOrders", body)


def test_address_limits_are_enforced_with_change_records(checker):
    long = Address(
        first_name="Maximiliana-Alexandrina Josefine",
        last_name="von Hohenzollern-Sigmaringen-Extra",
        company="Åkesson & Söner Handelsbolag",
        address1="Drottning Kristinas väg 123, lägenhet 1402, trappa 14, port B, gården",
        city="Stockholms-Näsbypark-Täby kommun",
        postal_code="SE-111 22 STOCKHOLM-CENTRAL",
        country="se",
        region="Stockholms län",
        email="a.very.long.email.address.for.testing@some-subdomain.example.com",
        phone="+46 (0) 70-000 00 00 ext. 1234567890",
    )
    prepared = t.sales_order_requests(order(ship_to=long), "BU1", create=True)
    body = prepared.bodies[0]
    checker.check_body("POST", "/orders/salesOrders", body)
    contact, address = body["shipToContact"], body["shipToAddress"]
    assert len(contact["firstName"]) <= 30 and len(contact["lastName"]) <= 30
    assert "email" not in contact  # a cut e-mail would reach somebody else: left out, and reported
    assert len(contact["phone"]) <= 30 and contact["phone"].startswith("+46")
    assert len(address["line1"]) <= 64 and address["line2"]  # continued on line 2
    assert (address["line1"] + " " + address["line2"]).startswith("Drottning Kristinas väg 123")
    assert address["line3"] == "Åkesson & Söner Handelsbolag"
    assert len(address["city"]) <= 30 and len(address["postalCode"]) <= 20
    fields = {c.field: c.reason for c in prepared.changes}
    assert set(fields) >= {
        "ship_to.first_name",
        "ship_to.last_name",
        "ship_to.email",
        "ship_to.phone",
        "ship_to.address1",
        "ship_to.city",
        "ship_to.postal_code",
    }
    assert all(c.before != c.after for c in prepared.changes)


def test_emoji_in_names_are_removed_and_reported(checker):
    emoji = Address(
        first_name="Zoë 👩‍👩‍👧",
        last_name="Smith 🇸🇪",
        address1="Kungsgatan 1 🏠",
        city="Malmö",
        postal_code="21122",
        country="SE",
    )
    prepared = t.sales_order_requests(order(ship_to=emoji), "BU1", create=True)
    body = prepared.bodies[0]
    checker.check_body("POST", "/orders/salesOrders", body)
    assert body["shipToContact"]["firstName"] == "Zoë"  # BMP letters stay, emoji and joiners go
    assert body["shipToContact"]["lastName"] == "Smith"
    assert body["shipToAddress"]["line1"] == "Kungsgatan 1"
    assert all(ord(ch) <= 0xFFFF for value in body["shipToContact"].values() for ch in value)
    reasons = {c.field: c.reason for c in prepared.changes}
    assert reasons.keys() == {"ship_to.first_name", "ship_to.last_name", "ship_to.address1"}
    assert all("outside 3-byte UTF-8" in r for r in reasons.values())


def test_order_number_is_deterministic_and_fits_line_numbers():
    assert t.sales_order_number("100234", "WH1") == "C100234-WH1"
    long = t.sales_order_number("9" * 45, "FACILITY-LONG-CODE")
    assert long == t.sales_order_number("9" * 45, "FACILITY-LONG-CODE")
    assert len(long) <= 40 and long != t.sales_order_number("9" * 44 + "8", "FACILITY-LONG-CODE")
    assert len(t.line_number(long, 99999)) <= 55


def test_cancellation_body_validates(checker):
    body = t.cancellation_request({"101": 2, "102": 0, "103": 1})
    checker.check_body("POST", "/orders/salesOrders/5/cancellations", body)
    assert body == {
        "orderLines": [
            {"orderLine": {"id": 101}, "canceledPackQuantity": 2},
            {"orderLine": {"id": 103}, "canceledPackQuantity": 1},
        ]
    }


def test_line_with_no_quantity_is_untranslatable():
    bad = SalesOrder("C1-WH1", "WH1", (SalesOrderLine(1, "SKU-1", 0),), ship_to=ADA)
    with pytest.raises(t.Untranslatable):
        t.sales_order_requests(bad, "BU1", create=True)


def test_carrier_goes_out_as_ship_via_vendor_and_method_on_rest_and_v1_imports(checker):
    rest = t.sales_order_requests(order(), "BU1", create=True).bodies[0]
    checker.check_body("POST", "/orders/salesOrders", rest)
    assert (rest["shipVia"], rest["shipVendor"], rest["shipMethod"]) == ("UPS Ground", "UPS", "Ground")
    [v1] = t.sales_order_import([order()], "BU1").body["order"]
    assert (v1["shipVia"], v1["shipVendor"], v1["shipMethod"]) == ("UPS Ground", "UPS", "Ground")


def test_no_carrier_leaves_the_fields_out_so_deposco_chooses(checker):
    bare = order(carrier_service=CarrierService())
    rest = t.sales_order_requests(bare, "BU1", create=True).bodies[0]
    [v1] = t.sales_order_import([bare], "BU1").body["order"]
    for body in (rest, v1):
        assert not {"shipVia", "shipVendor", "shipMethod"} & set(body)
    only_via = t.sales_order_requests(order(carrier_service=CarrierService("DHL Express")), "BU1", create=True)
    assert only_via.bodies[0]["shipVia"] == "DHL Express" and "shipVendor" not in only_via.bodies[0]


def test_a_carrier_name_deposco_cannot_store_is_refused_not_cut():
    with pytest.raises(t.Untranslatable, match="ship via"):
        t.sales_order_requests(order(carrier_service=CarrierService("V" * 51)), "BU1", create=True)
