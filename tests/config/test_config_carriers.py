"""The carrier mapping is validated like the rest of the file: every problem at once, with its path.

Example: carriers.rules 0 (express, SE-STO, Nordics), 1 (express, anywhere), 2 (pickup-point, SE-STO);
defaults for SE-STO, GB-MKN and US-NJ.
"""

from __future__ import annotations


def by_path(problems):
    return {problem.path: problem.message for problem in problems}


def test_the_example_mapping_is_clean(example_doc, check):
    findings = check(example_doc)
    assert findings.problems == []
    assert not [w for w in findings.warnings if w.path.startswith("carriers")]


def test_unknown_facilities_in_rules_and_defaults_are_errors_reported_with_the_rest(example_doc, check):
    example_doc["carriers"]["rules"][0]["facilities"] = ["SE-STO", "SE-ST0"]
    example_doc["carriers"]["defaults"]["DE-BER"] = {"ship_via": "DHL Paket"}
    example_doc["pools"][0]["facilities"][0]["facility"] = "XX"  # an unrelated mistake, reported alongside

    problems = by_path(check(example_doc).problems)

    assert "unknown facility 'SE-ST0'" in problems["carriers.rules[0].facilities[1]"]
    assert "did you mean 'SE-STO'" in problems["carriers.rules[0].facilities[1]"]
    assert problems["carriers.defaults.DE-BER"].startswith("unknown facility 'DE-BER'")
    assert "unknown facility 'XX'" in problems["pools[0].facilities[0].facility"]


def test_a_rule_needs_a_shipping_option_and_a_ship_via(example_doc, check):
    example_doc["carriers"]["rules"][0]["shipping_options"] = []
    del example_doc["carriers"]["rules"][1]["ship_via"]

    problems = by_path(check(example_doc).problems)

    assert problems["carriers.rules[0].shipping_options"] == "needs at least 1 item(s)"
    assert problems["carriers.rules[1].ship_via"] == "required key is missing"


def test_carrier_names_longer_than_deposco_stores_are_refused_not_cut(example_doc, check):
    example_doc["carriers"]["defaults"]["SE-STO"]["ship_via"] = "P" * 51

    problems = by_path(check(example_doc).problems)

    assert "at most 50 characters" in problems["carriers.defaults.SE-STO.ship_via"]


def test_typos_and_bad_countries_fail_loudly(example_doc, check):
    example_doc["carriers"]["rules"][0]["ship_to_country"] = ["SE"]
    example_doc["carriers"]["rules"][1]["ship_to_countries"] = ["UK"]

    problems = by_path(check(example_doc).problems)

    assert "did you mean 'ship_to_countries'" in problems["carriers.rules[0].ship_to_country"]
    assert "use 'GB'" in problems["carriers.rules[1].ship_to_countries[0]"]


def test_a_rule_an_earlier_one_always_pre_empts_is_warned(example_doc, check):
    rules = example_doc["carriers"]["rules"]
    rules.insert(0, {"shipping_options": ["express", "standard"], "ship_via": "DHL Express"})

    findings = check(example_doc)

    assert findings.problems == []
    warnings = by_path(findings.warnings)
    # the Nordic express rule (now rules[1]) and the world-wide one (rules[2]) can never apply any more
    assert "carriers.rules[0] comes first" in warnings["carriers.rules[1]"]
    assert "carriers.rules[0] comes first" in warnings["carriers.rules[2]"]
    assert "carriers.rules[3]" not in warnings  # pickup-point: not covered by the new rule


def test_a_rule_for_countries_no_market_sells_to_is_warned(example_doc, check):
    example_doc["carriers"]["rules"][0]["ship_to_countries"] = ["SE", "JP"]

    warnings = by_path(check(example_doc).warnings)

    assert "no market sells to JP" in warnings["carriers.rules[0].ship_to_countries"]


def test_the_section_is_optional(example_doc, check):
    del example_doc["carriers"]
    assert check(example_doc).problems == []
