"""Each validation rule, triggered on an edited copy of the example, reports the right path and reason.

Example indices used below: pools 0 eu, 1 uk (GB-MKN 0.8, SE-STO 0.3), 2 us (US-NJ, draft), 3 us-export
(GB-MKN 0.2); facilities 0 SE-STO, 1 GB-MKN, 2 US-NJ; markets 0 eu, 1 uk, 2 us.
"""

from __future__ import annotations

import pytest

from lockstep.config import load_config_dir


def by_path(problems):
    return {problem.path: problem.message for problem in problems}


# --- references ---


def test_unknown_facility_in_pool(example_doc, check):
    example_doc["pools"][0]["facilities"][0]["facility"] = "SE-ST0"

    problems = by_path(check(example_doc).problems)

    assert "unknown facility 'SE-ST0'" in problems["pools[0].facilities[0].facility"]
    assert "did you mean 'SE-STO'" in problems["pools[0].facilities[0].facility"]


def test_unknown_pool_in_market(example_doc, check):
    example_doc["markets"][2]["pools"].append("ca")

    problems = by_path(check(example_doc).problems)

    assert problems["markets[2].pools[2]"].startswith("unknown pool 'ca'")


def test_override_with_unknown_pool_and_facility(example_doc, check):
    example_doc["routing_overrides"].append({"pool": "nope", "ship_to_countries": ["SE"], "facility": "XX"})

    problems = by_path(check(example_doc).problems)

    assert problems["routing_overrides[1].pool"].startswith("unknown pool 'nope'")
    assert problems["routing_overrides[1].facility"].startswith("unknown facility 'XX'")


def test_override_to_a_facility_outside_the_pool(example_doc, check):
    example_doc["routing_overrides"][0] = {"pool": "eu", "ship_to_countries": ["DK"], "facility": "GB-MKN"}

    problems = by_path(check(example_doc).problems)

    assert problems["routing_overrides[0].facility"].startswith("facility 'GB-MKN' does not back pool 'eu'")


def test_override_routing_one_country_twice_in_a_pool(example_doc, check):
    example_doc["routing_overrides"].append({"pool": "uk", "ship_to_countries": ["IE"], "facility": "GB-MKN"})

    problems = by_path(check(example_doc).problems)

    assert "already routed by routing_overrides[0]" in problems["routing_overrides[1].ship_to_countries[0]"]


def test_buffer_rule_for_unknown_pool(example_doc, check):
    example_doc["safety_buffers"]["per_sku"][0]["pools"] = ["eu", "uss"]

    problems = by_path(check(example_doc).problems)

    assert "unknown pool 'uss'" in problems["safety_buffers.per_sku[0].pools[1]"]


# --- shares ---


def test_shares_over_one_name_facility_and_pools(example_doc, check):
    example_doc["pools"][1]["facilities"][1]["share"] = 0.5  # SE-STO: eu 0.7 + uk 0.5

    findings = check(example_doc)

    assert len(findings.problems) == 1
    problem = findings.problems[0]
    assert problem.path == "pools[1].facilities[1].share"
    assert "facility 'SE-STO'" in problem.message
    assert "eu (0.7), uk (0.5)" in problem.message
    assert "1.2" in problem.message
    assert "double sellable stock" in problem.message


def test_facility_shared_at_100_percent_by_two_pools_is_refused(example_doc, check):
    # The classic mistake: a facility listed in two pools without shares (each defaults to 1).
    for pool in example_doc["pools"]:
        for entry in pool["facilities"]:
            entry.pop("share", None)

    problems = check(example_doc).problems
    messages = {p.message.split(" is shared")[0]: p for p in problems}

    assert set(messages) == {"facility 'SE-STO'", "facility 'GB-MKN'"}
    se = messages["facility 'SE-STO'"]
    assert "eu (1), uk (1)" in se.message
    assert "double sellable stock" in se.message
    assert "a share left out counts as 1" in se.message


def test_shares_that_sum_to_one_in_binary_floating_point_noise_are_fine(example_doc, check):
    example_doc["pools"][0]["facilities"][0]["share"] = 0.6
    example_doc["pools"][1]["facilities"][1]["share"] = 0.3
    example_doc["pools"][3]["facilities"].append({"facility": "SE-STO", "share": 0.1})  # 0.6+0.3+0.1 > 1.0 in fp

    assert check(example_doc).problems == []


def test_share_out_of_range_uses_pydantic_message_in_one_line_form(example_doc, write_brand, tmp_path):
    example_doc["pools"][1]["facilities"][0]["share"] = 1.5
    write_brand(example_doc)

    result = load_config_dir(tmp_path)

    assert [str(p) for p in result.problems] == [
        "example-brand.yaml: pools[1].facilities[0].share: Input should be less than or equal to 1"
    ]
    assert result.brands == {}


@pytest.mark.parametrize("share", [0, -0.2])
def test_share_must_be_positive(example_doc, check, share):
    example_doc["pools"][0]["facilities"][0]["share"] = share

    problems = by_path(check(example_doc).problems)

    assert problems == {"pools[0].facilities[0].share": "Input should be greater than 0"}


# --- live state ---


def test_pool_without_live_facility_is_a_warning_not_an_error(example_doc, check, write_brand, tmp_path):
    example_doc["facilities"][1]["state"] = "testing"  # GB-MKN: us-export now has no live facility

    findings = check(example_doc)
    result = load_config_dir(tmp_path)

    assert findings.problems == []
    warnings = by_path(findings.warnings)
    assert "pool 'us-export' has no live facility" in warnings["pools[3]"]
    assert "pool 'us' has no live facility" in warnings["pools[2]"]
    assert "uk" not in str(warnings)  # uk still has SE-STO live
    assert list(result.brands) == ["nordwind"]  # warnings do not block loading


# --- duplicates ---


def test_duplicate_market_pool_and_facility_ids(example_doc, check):
    example_doc["markets"][1]["id"] = "eu"
    example_doc["pools"][3]["id"] = "us"
    example_doc["facilities"][2]["code"] = "GB-MKN"

    problems = by_path(check(example_doc).problems)

    assert problems["markets[1].id"] == "duplicate market id 'eu', already used at markets[0]"
    assert problems["pools[3].id"] == "duplicate pool id 'us', already used at pools[2]"
    assert problems["facilities[2].code"] == "duplicate facility code 'GB-MKN', already used at facilities[1]"


def test_duplicate_facility_within_a_pool(example_doc, check):
    example_doc["pools"][0]["facilities"].append({"facility": "SE-STO", "share": 0.1})
    example_doc["pools"][0]["facilities"][0]["share"] = 0.5

    problems = by_path(check(example_doc).problems)

    assert list(problems) == ["pools[0].facilities[1].facility"]
    assert problems["pools[0].facilities[1].facility"] == (
        "facility 'SE-STO' is listed twice in pool 'eu' (see facilities[0])"
    )


def test_two_pools_writing_one_centra_warehouse(example_doc, check):
    example_doc["pools"][3]["centra_warehouse"] = "US New Jersey"

    problems = by_path(check(example_doc).problems)

    assert problems["pools[3].centra_warehouse"].startswith("duplicate Centra warehouse 'US New Jersey'")


def test_duplicate_brand_id_across_files_loads_neither(example_doc, write_brand, tmp_path):
    write_brand(example_doc, "a.yaml")
    write_brand(example_doc, "b.yml")

    result = load_config_dir(tmp_path)

    assert [str(p) for p in result.problems] == [
        "b.yml: brand: duplicate brand id 'nordwind', already defined in a.yaml"
    ]
    assert result.brands == {}


# --- schedules ---


@pytest.mark.parametrize(
    "cron",
    [
        "61 * * * *",  # minute out of range
        "0 0 30 2 *",  # 30 February never comes
        "*/5 * * * * *",  # six fields (seconds) are not run
        "every five minutes",
    ],
)
def test_invalid_cron_expression(example_doc, check, cron):
    example_doc["schedules"]["item_sync"]["cron"] = cron

    problems = by_path(check(example_doc).problems)

    assert list(problems) == ["schedules.item_sync.cron"]
    assert "is not a valid 5-field cron expression" in problems["schedules.item_sync.cron"]


def test_free_schedule_names_are_allowed_but_must_be_identifiers(example_doc, check):
    example_doc["schedules"]["nightly_export"] = {"cron": "0 2 * * *", "task": "finance.export"}
    assert check(example_doc).problems == []

    example_doc["schedules"]["Nightly Export"] = {"cron": "0 2 * * *", "task": "finance.export"}
    assert list(by_path(check(example_doc).problems)) == ["schedules.Nightly Export"]


# --- owners and teams ---


def test_unknown_exception_kind_and_unknown_team_in_owners(example_doc, check):
    example_doc["owners"] = {"unroutable_ordr": "ops", "capture_failed": "accounting"}

    problems = by_path(check(example_doc).problems)

    assert "unknown exception kind 'unroutable_ordr'" in problems["owners.unroutable_ordr"]
    assert "did you mean 'unroutable_order'" in problems["owners.unroutable_ordr"]
    assert problems["owners.capture_failed"].startswith("unknown team 'accounting'")


def test_channels_for_a_team_that_does_not_exist(example_doc, check):
    example_doc["teams"]["marketing"] = {"channels": [{"type": "email", "to": ["m@nordwind.example"]}]}

    problems = by_path(check(example_doc).problems)

    assert problems["teams.marketing"].startswith("unknown team 'marketing'")


def test_team_owning_kinds_without_channels_is_warned(example_doc, check):
    del example_doc["teams"]["finance"]

    findings = check(example_doc)

    assert findings.problems == []
    assert "team 'finance' owns 1 exception kind(s) (capture_failed)" in by_path(findings.warnings)["teams.finance"]


@pytest.mark.parametrize(
    ("channel", "reason"),
    [
        ({"type": "slack"}, "a slack channel needs 'webhook_url_env'"),
        ({"type": "email"}, "an email channel needs 'to'"),
        ({"type": "email", "to": ["a@b.example"], "webhook_url_env": "X"}, "'webhook_url_env' is for slack"),
        ({"type": "webhook", "webhook_url_env": "X", "to": ["a@b.example"]}, "'to' is for email channels"),
        ({"type": "sms", "to": ["a@b.example"]}, "Input should be 'slack', 'email' or 'webhook'"),
    ],
)
def test_channel_targets_must_match_type(example_doc, check, channel, reason):
    example_doc["teams"]["cx"]["channels"] = [channel]

    problems = check(example_doc).problems

    assert [p.path for p in problems] == ["teams.cx.channels[0]" + (".type" if "sms" in str(channel) else "")]
    assert reason in problems[0].message


# --- single values ---


def test_invalid_timezone(example_doc, check):
    example_doc["timezone"] = "Europe/Stokholm"

    problems = by_path(check(example_doc).problems)

    assert problems == {"timezone": "'Europe/Stokholm' is not a known IANA time zone (for example Europe/Stockholm)"}


def test_brand_id_must_be_a_slug(example_doc, check):
    example_doc["brand"] = "Nordwind AB"

    assert list(by_path(check(example_doc).problems)) == ["brand"]


def test_country_codes_are_iso_with_a_hint_for_uk(example_doc, check):
    example_doc["markets"][1]["countries"] = ["UK", "XX", "ie"]

    problems = by_path(check(example_doc).problems)

    assert problems["markets[1].countries[0]"] == "'UK' is not an ISO 3166 country code; use 'GB'"
    assert problems["markets[1].countries[1]"] == "'XX' is not an ISO 3166-1 alpha-2 country code"
    assert "markets[1].countries[2]" not in problems  # lower case is accepted and normalised


def test_secret_fields_take_variable_names_and_never_echo_a_pasted_value(example_doc, check):
    example_doc["centra"]["token_env"] = "ctk_live_9f8e7d6c5b4a"

    problems = check(example_doc).problems

    assert [p.path for p in problems] == ["centra.token_env"]
    assert "NAME of an environment variable" in problems[0].message
    assert "9f8e7d6c5b4a" not in str(problems[0])


def test_urls_must_be_http_and_free_of_credentials(example_doc, check):
    example_doc["centra"]["base_url"] = "nordwind.centra.com"
    example_doc["deposco"]["v1_base_url"] = "https://user:hunter22@nordwind.deposco.com/integration/nordwind"

    problems = check(example_doc).problems

    assert by_path(problems)["centra.base_url"].startswith("must be an http(s) URL")
    assert by_path(problems)["deposco.v1_base_url"].startswith("must not contain credentials")
    assert "hunter22" not in " ".join(str(p) for p in problems)


def test_base_urls_lose_their_trailing_slash(example_doc, write_brand):
    from lockstep.config import load_brand_file

    example_doc["centra"]["base_url"] = "https://nordwind.centra.com/"

    assert load_brand_file(write_brand(example_doc)).centra.base_url == "https://nordwind.centra.com"


def test_deposco_rate_above_the_account_limit_is_warned(example_doc, check):
    example_doc["deposco"]["requests_per_second"] = 10

    findings = check(example_doc)

    assert findings.problems == []
    assert "expect 429" in by_path(findings.warnings)["deposco.requests_per_second"]


def test_a_tenant_without_changed_since_or_the_adjustment_feed_is_warned(example_doc, check):
    example_doc["inventory"]["changed_since"] = False
    findings = check(example_doc)
    assert findings.problems == []
    assert "only the rolling scan" in by_path(findings.warnings)["inventory.changed_since"]

    example_doc["inventory"]["adjustments_seconds"] = 5
    assert "inventory.changed_since" not in by_path(check(example_doc).warnings)


# --- collecting everything ---


def test_all_cross_field_problems_are_reported_at_once(example_doc, check):
    example_doc["pools"][0]["facilities"][0]["facility"] = "NOPE"
    example_doc["markets"][0]["pools"] = ["eu", "missing"]
    example_doc["owners"]["bogus"] = "ops"
    example_doc["teams"]["sales"] = {}
    example_doc["facilities"].append(dict(example_doc["facilities"][0]))

    paths = {p.path for p in check(example_doc).problems}

    assert {
        "pools[0].facilities[0].facility",
        "markets[0].pools[1]",
        "owners.bogus",
        "teams.sales",
        "facilities[3].code",
    } <= paths


def test_all_structural_problems_are_reported_at_once(example_doc, check):
    example_doc["timezone"] = "Mars/Olympus"
    example_doc["pools"][1]["facilities"][0]["share"] = 2
    example_doc["schedules"]["item_sync"]["cron"] = "* *"
    example_doc["facilities"][2]["state"] = "planned"

    paths = [p.path for p in check(example_doc).problems]

    assert paths == [
        "timezone",
        "pools[1].facilities[0].share",
        "facilities[2].state",
        "schedules.item_sync.cron",
    ]
