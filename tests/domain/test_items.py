"""The item master rule: Centra size -> desired Deposco item, differences, decisions, coverage classes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lockstep.domain.items import (
    COMPARED,
    Action,
    Coverage,
    apply_changes,
    classify,
    decide,
    desired_item,
    differences,
    item_key,
    merged,
)
from lockstep.domain.model import Change, Item, ProductSize

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
codes = st.text(alphabet="0123456789ABCDEFXYZ-", min_size=1, max_size=20)
weights = st.none() | st.decimals(min_value=Decimal("0.001"), max_value=Decimal("100"), places=3)

sizes = st.builds(
    ProductSize,
    sku=codes,
    ean=st.text(alphabet="0123456789", max_size=13),
    product_number=text,
    product_name=text,
    variant_name=text,
    size=text,
    is_active=st.booleans(),
    country_of_origin=st.sampled_from(["", "se", "PT", " it "]),
    hs_code=st.sampled_from(["", "620193", " 6109 "]),
    weight_kg=weights,
)
items = st.builds(
    Item,
    number=codes,
    description=text,
    upc=st.text(alphabet="0123456789", max_size=13),
    style=text,
    colour=text,
    size=text,
    weight_kg=weights,
    country_of_origin=st.sampled_from(["", "SE", "pt"]),
    hs_code=st.sampled_from(["", "620193"]),
    active=st.booleans(),
)
sku_keys = st.sampled_from(["sku", "ean"])


@given(sizes, sku_keys)
def test_the_desired_item_is_numbered_by_the_brands_key_with_the_ean_as_upc(size, sku_key):
    item = desired_item(size, sku_key)
    assert item.number == item_key(size, sku_key) == (size.sku if sku_key == "sku" else size.ean).strip()
    assert item.upc == size.ean.strip()
    assert item.active == size.is_active
    assert item.style == size.product_number.strip() and item.colour == size.variant_name.strip()
    assert item.country_of_origin == size.country_of_origin.strip().upper()


@given(items)
def test_an_item_does_not_differ_from_itself(item):
    assert differences(item, item) == {}


@given(items, items)
def test_after_an_upsert_deposco_holds_what_centra_says(desired, actual):
    """The convergence the sync relies on: once sent, a size is unchanged on the next full sync."""
    assert differences(desired, merged(actual, desired)) == {}
    assert decide(desired, exists=True, diffs=differences(desired, merged(actual, desired))) == Action.UNCHANGED


@given(items, items)
def test_only_fields_centra_states_are_reported_each_with_both_values(desired, actual):
    found = differences(desired, actual)
    assert set(found) <= set(COMPARED)
    for field, (want, have) in found.items():
        assert want != "" and want != have
        value = getattr(desired, field)
        assert value is not None and (field == "active" or str(value).strip() != "")


@given(items, st.booleans(), st.none() | codes)
def test_decisions(desired, exists, owner):
    diffs = {} if exists else None
    action = decide(desired, exists=exists, diffs=diffs, upc_owner=owner)
    if not exists and not desired.active:
        assert action == Action.SKIP  # nothing is created that nobody can order
    elif owner and owner != desired.number:
        assert action == Action.CONFLICT  # never sent: Deposco would refuse it
    elif not exists:
        assert action == Action.CREATE
    else:
        assert action == Action.UNCHANGED
    assert decide(desired, exists=True, diffs=None) == Action.UPDATE  # not read: a change in Centra is sent


def test_a_difference_is_an_update():
    desired = Item("A", description="Shirt", size="M")
    assert decide(desired, exists=True, diffs=differences(desired, Item("A", description="Shirt", size="L"))) == (
        Action.UPDATE
    )


def test_values_compare_as_deposco_spells_them():
    desired = Item("A", weight_kg=Decimal("0.35"), country_of_origin="pt", description=" Tee ")
    actual = Item("A", weight_kg=Decimal("0.3500000001"), country_of_origin="PT", description="Tee")
    assert differences(desired, actual) == {}
    assert differences(Item("A", active=False), Item("A", active=True)) == {"active": ["false", "true"]}


@given(items, st.lists(st.sampled_from(["description", "style", "colour", "size", "brand"]), max_size=4), text)
def test_the_connectors_changes_are_applied_to_the_compared_item(item, fields, after):
    changes = [Change(f"item.{name}", "truncated", "before", after) for name in fields]
    fitted = apply_changes(item, changes)
    for name in fields:
        if name != "brand":  # not an attribute of the item: not compared, not applied
            assert getattr(fitted, name) == after
    untouched = set(COMPARED) - set(fields)
    assert all(getattr(fitted, name) == getattr(item, name) for name in untouched)


@given(st.booleans(), st.booleans(), st.dictionaries(st.sampled_from(COMPARED), st.just(["a", "b"])))
def test_every_known_key_has_exactly_one_coverage_class(in_centra, in_deposco, diffs):
    if not in_centra and not in_deposco:
        with pytest.raises(ValueError):
            classify(in_centra=in_centra, in_deposco=in_deposco, diffs=diffs)
        return
    found = classify(in_centra=in_centra, in_deposco=in_deposco, diffs=diffs)
    expected = {
        (True, False): Coverage.CENTRA_ONLY,
        (False, True): Coverage.DEPOSCO_ONLY,
        (True, True): Coverage.BOTH_DIFFERENT if diffs else Coverage.BOTH,
    }[(in_centra, in_deposco)]
    assert found == expected
