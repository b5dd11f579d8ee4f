"""Malformed files and directories give one-line problems, never a traceback."""

from __future__ import annotations

import pytest

from lockstep.config import ConfigError, load_brand_file, load_config_dir


def test_invalid_yaml_names_file_and_line(tmp_path):
    (tmp_path / "broken.yaml").write_text("brand: nordwind\npools:\n  - id: eu\n   centra_warehouse: EU\n")

    result = load_config_dir(tmp_path)

    assert len(result.problems) == 1
    text = str(result.problems[0])
    assert text.startswith("broken.yaml: invalid YAML at line 4")
    assert "\n" not in text


def test_a_key_given_twice_is_refused_with_its_line(tmp_path):
    (tmp_path / "twice.yaml").write_text("brand: nordwind\nname: A\nname: B\n")

    result = load_config_dir(tmp_path)

    assert [str(p) for p in result.problems] == ["twice.yaml: invalid YAML at line 3, column 1: duplicate key 'name'"]


def test_yes_no_are_strings_but_true_false_are_booleans(example_doc, write_brand):
    example_doc["schedules"]["item_sync"]["enabled"] = False
    path = write_brand(example_doc)
    text = path.read_text()
    assert "enabled: false" in text
    path.write_text(text.replace("- SE\n", "- NO\n", 1))  # unquoted NO: YAML 1.1 would read False

    topology = load_brand_file(path)

    assert topology.market("eu").countries[0] == "NO"
    assert topology.schedules["item_sync"].enabled is False
    assert "item_sync" not in topology.enabled_schedules()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "file is empty; expected a brand topology"),
        ("# only a comment\n", "file is empty; expected a brand topology"),
        (
            "- brand: nordwind\n",
            "top level must be a mapping (brand: ..., name: ..., pools: ...), not a list",
        ),
        ("just some words\n", "top level must be a mapping (brand: ..., name: ..., pools: ...), not a str"),
    ],
)
def test_file_that_is_not_a_mapping(tmp_path, content, reason):
    (tmp_path / "brand.yaml").write_text(content)

    result = load_config_dir(tmp_path)

    assert [str(p) for p in result.problems] == [f"brand.yaml: {reason}"]


def test_file_that_is_not_utf8(tmp_path):
    (tmp_path / "latin1.yaml").write_bytes("name: Nordwind Bergstr\xf6m\n".encode("latin-1"))

    result = load_config_dir(tmp_path)

    assert [str(p) for p in result.problems] == ["latin1.yaml: file is not UTF-8 text"]


def test_unknown_key_typo_is_refused_with_a_suggestion(example_doc, check):
    entry = example_doc["pools"][0]["facilities"][0]
    entry["shrae"] = entry.pop("share")

    problems = check(example_doc).problems

    assert [p.path for p in problems] == ["pools[0].facilities[0].shrae"]
    assert problems[0].message == "unknown key (did you mean 'share'? allowed here: facility, share)"


def test_unknown_top_level_key(example_doc, check):
    example_doc["routing_override"] = example_doc.pop("routing_overrides")

    problems = check(example_doc).problems

    assert [p.path for p in problems] == ["routing_override"]
    assert "did you mean 'routing_overrides'?" in problems[0].message


def test_unknown_key_inside_a_mapping_of_models(example_doc, check):
    example_doc["schedules"]["item_sync"]["enable"] = False

    problems = check(example_doc).problems

    assert [p.path for p in problems] == ["schedules.item_sync.enable"]
    assert "did you mean 'enabled'?" in problems[0].message


@pytest.mark.parametrize(
    ("edit", "path", "reason"),
    [
        (lambda d: d.update(pools={"eu": "EU Stockholm"}), "pools", "Input should be a list"),
        (lambda d: d.update(centra="https://nordwind.centra.com"), "centra", "Input should be a mapping"),
        (lambda d: d["facilities"][0].update(code=4711), "facilities[0].code", "put it in quotes"),
        (
            lambda d: d["deposco"].update(requests_per_second="fast"),
            "deposco.requests_per_second",
            "valid number",
        ),
        (lambda d: d["thresholds"].update(order_stuck_minutes=0), "thresholds.order_stuck_minutes", ">= 1"),
        (lambda d: d.update(markets=[]), "markets", "needs at least 1 item(s)"),
        (lambda d: d["centra"].pop("token_env"), "centra.token_env", "required key is missing"),
        (
            lambda d: d["centra"].update(rate_tier="gold"),
            "centra.rate_tier",
            "'growth', 'enhanced', 'high' or",
        ),
    ],
)
def test_wrong_types_and_values(example_doc, check, edit, path, reason):
    edit(example_doc)

    problems = check(example_doc).problems

    assert [p.path for p in problems] == [path]
    message = problems[0].message.replace("greater than or equal to ", ">= ")
    assert reason in message


def test_missing_directory(tmp_path):
    result = load_config_dir(tmp_path / "nope")

    assert [str(p) for p in result.problems] == [f"{tmp_path / 'nope'}: config directory does not exist"]
    assert result.brands == {}


def test_directory_without_brand_files(tmp_path):
    (tmp_path / "README.md").write_text("not a brand")
    (tmp_path / ".hidden.yaml").write_text("brand: ghost\n")

    result = load_config_dir(tmp_path)

    assert [p.message for p in result.problems] == ["no brand files (*.yaml, *.yml) in directory"]


def test_config_path_that_is_a_file(example_path):
    result = load_config_dir(example_path)

    assert [p.message for p in result.problems] == ["config path is not a directory"]


def test_one_broken_file_does_not_hide_a_good_one(example_doc, write_brand, tmp_path):
    write_brand(example_doc, "nordwind.yaml")
    (tmp_path / "broken.yaml").write_text("brand: [unclosed\n")

    result = load_config_dir(tmp_path)

    assert list(result.brands) == ["nordwind"]
    assert [p.file for p in result.problems] == ["broken.yaml"]


def test_load_brand_file_raises_config_error_with_every_problem(example_doc, write_brand):
    example_doc["timezone"] = "Nowhere/Else"
    example_doc["pools"][0]["facilities"][0]["share"] = 3
    path = write_brand(example_doc)

    with pytest.raises(ConfigError) as caught:
        load_brand_file(path)

    assert [p.path for p in caught.value.problems] == ["timezone", "pools[0].facilities[0].share"]
    assert str(caught.value).splitlines()[0].startswith(f"{path}: timezone: ")


def test_load_brand_file_on_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read file"):
        load_brand_file(tmp_path / "missing.yaml")
