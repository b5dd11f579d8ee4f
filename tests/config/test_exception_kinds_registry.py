"""The exception-kind registry is complete and internally consistent."""

from __future__ import annotations

import re

import pytest

from lockstep.domain.exception_kinds import KINDS, SEVERITIES, TEAMS, ExceptionKind, get_kind

REQUIRED = {
    "unroutable_order", "unknown_sku", "invalid_address", "order_rejected", "order_stuck",
    "cancellation_too_late", "shipment_unconfirmed", "shipment_rejected", "capture_failed", "over_shipment",
    "sku_missing_in_deposco", "sku_missing_in_centra", "duplicate_upc", "stock_drift", "mapping_invalid",
    "facility_not_live", "event_feed_silent", "job_dead",
}  # fmt: skip


def test_every_required_kind_is_registered():
    assert set(KINDS) >= REQUIRED


def test_teams_and_severities():
    assert TEAMS == ("ops", "ecom", "finance", "cx", "tech")
    assert SEVERITIES == ("info", "warning", "critical")


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_kind_is_consistent(name):
    kind = KINDS[name]

    assert kind.name == name
    assert kind.default_owner in TEAMS
    assert kind.severity in SEVERITIES
    assert kind.title and kind.title[0].isupper()
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", kind.playbook)
    assert kind.playbook == name.replace("_", "-")
    assert kind.playbook_path == f"docs/playbooks/{kind.playbook}.md"


def test_money_and_routing_problems_are_critical_and_owned_sensibly():
    assert get_kind("capture_failed").default_owner == "finance"
    assert get_kind("unroutable_order").severity == "critical"
    assert get_kind("job_dead").default_owner == "tech"


def test_get_kind_unknown_name():
    with pytest.raises(KeyError, match="unknown exception kind 'unroutable'; known kinds: "):
        get_kind("unroutable")


def test_registry_is_read_only():
    with pytest.raises(TypeError):
        KINDS["new_kind"] = KINDS["job_dead"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("owner", "severity", "playbook", "reason"),
    [
        ("marketing", "warning", "x", "unknown team"),
        ("ops", "urgent", "x", "unknown severity"),
        ("ops", "warning", "Not A Slug", "not a slug"),
    ],
)
def test_invalid_kinds_cannot_be_defined(owner, severity, playbook, reason):
    with pytest.raises(ValueError, match=reason):
        ExceptionKind("x", "X", owner, severity, playbook)
