"""The shipped example brand file is valid and means what its comments say."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lockstep.config import load_brand_file, load_config_dir
from lockstep.domain.exception_kinds import KINDS


def test_example_directory_validates_with_only_the_draft_pool_warning(example_path):
    result = load_config_dir(example_path.parent)

    assert result.problems == []
    assert result.ok
    assert list(result.brands) == ["nordwind"]
    assert result.files["nordwind"] == example_path
    assert [(w.file, w.path) for w in result.warnings] == [("example-brand.yaml", "pools[2]")]
    assert "'us' has no live facility" in result.warnings[0].message


def test_example_topology_shape(example_path):
    t = load_brand_file(example_path)

    assert (t.brand, t.name, t.timezone) == ("nordwind", "Nordwind", "Europe/Stockholm")
    assert [m.id for m in t.markets] == ["eu", "uk", "us"]
    assert len(t.pools) == 4
    assert {f.code: f.state for f in t.facilities} == {"SE-STO": "live", "GB-MKN": "live", "US-NJ": "draft"}
    # Norway stays a country: the loader does not read YAML 1.1 "NO" as false.
    assert "NO" in t.market("eu").countries


def test_example_shares_split_shared_facilities_without_overcommitting(example_path):
    t = load_brand_file(example_path)

    assert t.pools_for_facility("SE-STO") == (("eu", 0.7), ("uk", 0.3))
    for facility in t.facilities:
        assert sum(share for _, share in t.pools_for_facility(facility.code)) <= 1 + 1e-9


def test_live_facilities_for_pool_skips_draft_facilities(example_path):
    t = load_brand_file(example_path)

    assert [(e.facility, e.share) for e in t.live_facilities_for_pool("uk")] == [
        ("GB-MKN", 0.8),
        ("SE-STO", 0.3),
    ]
    assert t.live_facilities_for_pool("us") == ()
    with pytest.raises(KeyError, match="unknown pool 'mars'"):
        t.live_facilities_for_pool("mars")


def test_lookups(example_path):
    t = load_brand_file(example_path)

    assert t.facility("GB-MKN").country == "GB"
    assert t.pool("us-export").centra_warehouse == "US Export"
    assert t.override_facility("uk", "ie") == "SE-STO"
    assert t.override_facility("uk", "GB") is None
    with pytest.raises(KeyError, match="unknown facility 'XX'"):
        t.facility("XX")


def test_owner_for_uses_overrides_then_registry_default(example_path):
    t = load_brand_file(example_path)

    assert t.owner_for("shipment_unconfirmed") == "cx"  # overridden in the file
    assert KINDS["shipment_unconfirmed"].default_owner != "cx"
    assert t.owner_for("capture_failed") == KINDS["capture_failed"].default_owner == "finance"
    with pytest.raises(KeyError, match="unknown exception kind"):
        t.owner_for("no_such_kind")


def test_safety_buffer_first_matching_rule_wins(example_path):
    t = load_brand_file(example_path)

    assert t.safety_buffer("eu", "NW-LTD-001-M") == 3
    assert t.safety_buffer("us", "NW-LTD-001-M") == 1  # rule limited to eu/uk: default applies
    assert t.safety_buffer("us", "NW-GIFT-50") == 0
    assert t.safety_buffer("eu", "nw-ltd-001-m") == 1  # globs are case-sensitive


def test_secret_env_vars_lists_every_variable_name_with_its_field_path(example_path):
    t = load_brand_file(example_path)
    found = dict(t.secret_env_vars())

    assert found["centra.token_env"] == "NORDWIND_CENTRA_TOKEN"
    assert found["deposco.password_env"] == "NORDWIND_DEPOSCO_V1_PASSWORD"
    assert found["teams.tech.channels[1].webhook_url_env"] == "NORDWIND_PAGER_WEBHOOK"
    assert "deposco.token_url" not in found
    assert len(found) == 10


def test_schedules(example_path):
    t = load_brand_file(example_path)
    tasks = {name: (s.cron, s.task) for name, s in t.schedules.items()}

    assert tasks["finance_snapshot"] == ("59 23 * * *", "finance.snapshot")
    assert tasks["config_monitor"] == ("*/5 * * * *", "monitor.config")
    assert tasks["reconcile_light"][1] == "inventory.reconcile_light"
    assert tasks["reconcile_full"][1] == "inventory.reconcile_full"
    assert tasks["item_sync"][1] == "items.sync"
    assert set(t.enabled_schedules()) == set(tasks)


def test_topology_is_frozen(example_path):
    t = load_brand_file(example_path)

    with pytest.raises(ValidationError):
        t.brand = "other"
    with pytest.raises(ValidationError):
        t.pools[0].facilities[0].share = 1.0
