"""The sync's bookkeeping with the real Deposco translation: what is sent once is never sent again."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from lockstep.connectors.deposco import translate as t
from lockstep.domain.model import ProductSize
from lockstep.flows.item_plan import Outcome, plan, settle

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200)
sizes = st.lists(
    st.builds(
        ProductSize,
        sku=st.text(alphabet="ABC0123-", max_size=45),
        ean=st.text(alphabet="0123456789", max_size=8),
        product_number=st.text(alphabet="ABC0123", max_size=8),
        product_name=names,
        variant_name=names,
        size=st.sampled_from(["XS", "M", "", "One size"]),
        is_active=st.booleans(),
        hs_code=st.sampled_from(["", "620193"]),
        country_of_origin=st.sampled_from(["", "PT"]),
    ),
    max_size=12,
)


def fit(item):
    return t.item_request(item, "NORDWIND", brand_name="Nordwind").changes


def stored(item):
    """What Deposco holds after the upsert: the request body, read back by the same translation."""
    return t.item(t.item_request(item, "NORDWIND", brand_name="Nordwind").payload)


@settings(max_examples=150, deadline=None)
@given(sizes, st.sampled_from(["sku", "ean"]))
def test_a_second_full_sync_sends_nothing(batch, sku_key):
    first = plan(batch, sku_key=sku_key, fit=fit, refusal=t.Untranslatable, deposco_items={})
    deposco: dict = {}
    owner: dict[str, str] = {}  # UPC -> item key
    for entry in first:
        if not entry.needs_send:
            continue
        item = stored(entry.desired)
        if item.upc and owner.get(item.upc, entry.key) != entry.key:
            continue  # Deposco refuses a barcode that is already on another item (400), as the simulator does
        owner.setdefault(item.upc, entry.key)
        deposco[entry.key] = item
    assert all(e.outcome is None or e.outcome in (Outcome.SKIPPED, Outcome.REFUSED) for e in first)

    second = plan(batch, sku_key=sku_key, fit=fit, refusal=t.Untranslatable, deposco_items=deposco)

    assert [e for e in second if e.needs_send] == []
    assert {e.key for e in second if e.outcome == Outcome.UNCHANGED} == set(deposco)
    outcome = settle(second, brand="nordwind", now=NOW, deposco_items=deposco)
    assert all(not row.differences for row in outcome.rows)
    missing = {r.dedupe_key for r in outcome.raises if r.kind == "sku_missing_in_deposco"}
    active_not_sent = {
        e.key or f"size:{e.size.sku}" for e in second if e.size.is_active and e.key not in deposco and not e.twin
    }
    assert missing == active_not_sent  # every active size Deposco lacks is an exception, and nothing else is


def test_a_upc_on_another_item_is_a_conflict_not_a_request():
    size = ProductSize(sku="NW1-01", ean="7300000000017", product_name="Tee")
    legacy = t.item({"number": "LEGACY", "upcs": {"data": [{"value": "7300000000017"}]}})
    [entry] = plan([size], sku_key="sku", fit=fit, refusal=t.Untranslatable, deposco_items={"LEGACY": legacy})
    assert not entry.needs_send and entry.outcome == Outcome.REFUSED and entry.upc_owner == "LEGACY"
    outcome = settle([entry], brand="nordwind", now=NOW, deposco_items={"LEGACY": legacy})
    kinds = sorted(r.kind for r in outcome.raises)
    assert kinds == ["duplicate_upc", "sku_missing_in_centra", "sku_missing_in_deposco"]
    assert outcome.resolve_all_but["duplicate_upc"] == {"upc:7300000000017"}
