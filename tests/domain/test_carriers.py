"""Carrier choice: first matching rule, then the facility default, else not covered (quarantine, never a guess)."""

from __future__ import annotations

from pathlib import Path

from lockstep.config import load_brand_file
from lockstep.domain.carriers import (
    UNMAPPED_SHIPPING_OPTION,
    CarrierRule,
    CarrierTable,
    choose_carrier,
)
from lockstep.domain.model import Address, Allocation, CarrierService, Order, OrderLine, OrderStatus, ShippingOption
from lockstep.domain.orders import evaluate, from_snapshot, to_snapshot

EXAMPLE = load_brand_file(Path(__file__).resolve().parents[2] / "config" / "example-brand.yaml")

EXPRESS = ShippingOption("2", "Express delivery", "express")
STANDARD = ShippingOption("1", "Standard delivery", "standard")
PICKUP = ShippingOption("3", "Pickup point", "pickup-point")
NORDIC = CarrierService("PostNord Express", "PostNord", "Express")
WORLD = CarrierService("DHL Express", "DHL", "Express Worldwide")
PARCEL = CarrierService("PostNord Parcel", "PostNord", "Parcel")

TABLE = CarrierTable(
    rules=(
        CarrierRule(("express",), NORDIC, facilities=("SE-STO",), countries=("SE", "NO")),
        CarrierRule(("Express Delivery",), WORLD),  # by name, in another case
    ),
    defaults={"SE-STO": PARCEL},
)


def test_the_first_matching_rule_wins_with_facility_and_country():
    decision = choose_carrier(TABLE, EXPRESS, "SE-STO", "no")
    assert decision.ok and decision.service == NORDIC
    assert "rule 1" in decision.why and "'express'" in decision.why


def test_a_narrowed_rule_is_skipped_outside_its_facility_or_country():
    assert choose_carrier(TABLE, EXPRESS, "SE-STO", "DE").service == WORLD  # country outside the first rule
    assert choose_carrier(TABLE, EXPRESS, "GB-MKN", "SE").service == WORLD  # facility outside the first rule


def test_an_option_is_named_by_uri_exactly_or_by_name_in_any_case():
    by_name = ShippingOption("9", "  EXPRESS delivery ", "exp-2")
    assert choose_carrier(TABLE, by_name, "GB-MKN", "GB").service == WORLD
    other_uri_case = ShippingOption("9", "Fast", "Express")  # uris are exact: "Express" is not "express"
    assert choose_carrier(TABLE, other_uri_case, "SE-STO", "SE").service == PARCEL


def test_the_facility_default_applies_when_no_rule_matches():
    decision = choose_carrier(TABLE, STANDARD, "SE-STO", "SE")
    assert decision.service == PARCEL and "default of facility SE-STO" in decision.why
    assert choose_carrier(TABLE, None, "SE-STO", "SE").service == PARCEL  # no option at all: still the default


def test_no_rule_and_no_default_is_not_covered_never_guessed():
    decision = choose_carrier(TABLE, STANDARD, "GB-MKN", "gb")
    assert not decision.ok and decision.service is None
    assert "'standard'" in decision.why and "GB-MKN" in decision.why and "to GB" in decision.why
    missing = choose_carrier(TABLE, None, "GB-MKN", "GB")
    assert not missing.ok and "no shipping option" in missing.why


def test_a_brand_without_a_mapping_lets_deposco_choose():
    decision = choose_carrier(CarrierTable(), EXPRESS, "SE-STO", "SE")
    assert decision.ok and decision.service == CarrierService() and not decision.service
    assert "Deposco chooses" in decision.why


def test_the_example_brand_covers_every_option_the_simulator_sells():
    table = EXAMPLE.carrier_table()
    assert choose_carrier(table, EXPRESS, "SE-STO", "FI").service == NORDIC
    assert choose_carrier(table, EXPRESS, "SE-STO", "DE").service == WORLD
    assert choose_carrier(table, EXPRESS, "GB-MKN", "GB").service == WORLD
    assert choose_carrier(table, PICKUP, "SE-STO", "SE").service.ship_via == "PostNord Service Point"
    assert choose_carrier(table, PICKUP, "GB-MKN", "GB").service.ship_via == "UPS Standard"  # the default
    assert choose_carrier(table, STANDARD, "GB-MKN", "IE").service == CarrierService("UPS Standard", "UPS", "Standard")
    assert "carriers.rules[0]" in choose_carrier(table, EXPRESS, "SE-STO", "SE").why


# --- in the order decision -----------------------------------------------------------------------------------


def order(option: ShippingOption | None, *warehouses: str, country: str = "GB") -> Order:
    return Order(
        order_id="h",
        number="1001",
        status=OrderStatus.CONFIRMED,
        lines=tuple(
            OrderLine(line_id=n, sku=f"SKU{n}", quantity=1, allocations=(Allocation(w, 1),))
            for n, w in enumerate(warehouses, start=1)
        ),
        ship_to=Address(first_name="A", address1="x", city="y", country=country),
        shipping_option=option,
    )


def test_an_uncovered_option_quarantines_with_one_cause_per_facility_grouped_by_option():
    no_default_uk = CarrierTable(rules=TABLE.rules, defaults={"SE-STO": PARCEL})
    two_facilities = order(STANDARD, "EU Stockholm", "UK Milton Keynes")
    result = evaluate(two_facilities, EXAMPLE.routing_table(), set(), "sku", carriers=no_default_uk)
    assert result.state == "quarantined"
    [cause] = result.causes  # SE-STO has a default; GB-MKN has none
    assert cause.kind == UNMAPPED_SHIPPING_OPTION and cause.facility == "GB-MKN"
    assert cause.shipping_option == "standard" and cause.group == "shipping:GB-MKN:standard"


def test_a_covered_order_exports_and_no_mapping_means_no_carrier_check():
    covered = evaluate(order(EXPRESS, "UK Milton Keynes"), EXAMPLE.routing_table(), set(), "sku", carriers=TABLE)
    assert covered.state == "export"
    free = evaluate(order(None, "UK Milton Keynes"), EXAMPLE.routing_table(), set(), "sku", carriers=CarrierTable())
    assert free.state == "export"


def test_the_shipping_option_survives_the_snapshot_and_old_snapshots_still_load():
    placed = order(EXPRESS, "EU Stockholm")
    assert from_snapshot(to_snapshot(placed)) == placed
    old = to_snapshot(order(None, "EU Stockholm"))
    old.pop("shipping_option")
    old["shipping_method"] = ""  # what snapshots stored before the shipping option was read
    assert from_snapshot(old).shipping_option is None
