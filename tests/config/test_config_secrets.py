"""Secret resolution by variable name, the secrets file, and redaction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lockstep.config import ConfigError, load_brand_file
from lockstep.config.secrets import (
    clear_secrets,
    load_secrets_file,
    redact,
    redact_url,
    register_secret,
    resolve_secrets,
    url_password,
)


@pytest.fixture
def topology(example_path):
    return load_brand_file(example_path)


@pytest.fixture
def full_environ(topology):
    return {name: f"value-of-{name.lower()}" for _, name in topology.secret_env_vars()}


def test_all_variables_set_resolves_every_secret(topology, full_environ):
    values, problems = resolve_secrets(topology, full_environ, {})

    assert problems == []
    assert values == full_environ


def test_missing_variable_is_a_problem_naming_field_and_variable_but_no_value(topology, full_environ):
    del full_environ["NORDWIND_CENTRA_TOKEN"]
    del full_environ["NORDWIND_PAGER_WEBHOOK"]

    values, problems = resolve_secrets(topology, full_environ, {}, source="example-brand.yaml")

    assert [str(p) for p in problems] == [
        "example-brand.yaml: centra.token_env: environment variable NORDWIND_CENTRA_TOKEN is not set "
        "(nor in the secrets file)",
        "example-brand.yaml: teams.tech.channels[1].webhook_url_env: "
        "environment variable NORDWIND_PAGER_WEBHOOK is not set (nor in the secrets file)",
    ]
    assert "NORDWIND_CENTRA_TOKEN" not in values
    assert not any("value-of" in str(p) for p in problems)


def test_problems_name_the_brand_without_a_source(topology):
    _, problems = resolve_secrets(topology, {}, {})

    assert problems[0].file == "brand nordwind"
    assert len(problems) == len(topology.secret_env_vars())


def test_secrets_file_fills_variables_missing_from_the_environment(topology, full_environ):
    del full_environ["NORDWIND_DEPOSCO_V1_PASSWORD"]
    full_environ["NORDWIND_CENTRA_TOKEN"] = ""  # set but empty counts as not set

    values, problems = resolve_secrets(
        topology,
        full_environ,
        {
            "NORDWIND_DEPOSCO_V1_PASSWORD": "from-file-pw",
            "NORDWIND_CENTRA_TOKEN": "from-file-token",
            "NORDWIND_SLACK_OPS_WEBHOOK": "ignored-env-wins",
        },
    )

    assert problems == []
    assert values["NORDWIND_DEPOSCO_V1_PASSWORD"] == "from-file-pw"
    assert values["NORDWIND_CENTRA_TOKEN"] == "from-file-token"
    assert values["NORDWIND_SLACK_OPS_WEBHOOK"] == "value-of-nordwind_slack_ops_webhook"


def test_resolved_secrets_are_redacted_afterwards(topology, full_environ):
    values, _ = resolve_secrets(topology, full_environ, {})

    line = f"POST failed: token={values['NORDWIND_CENTRA_TOKEN']} hook={values['NORDWIND_PAGER_WEBHOOK']}"

    assert redact(line) == "POST failed: token=*** hook=***"


# --- secrets file ---


def test_secrets_file_format(tmp_path):
    path = tmp_path / "secrets.env"
    path.write_text(
        "# Nordwind production\n"
        "\n"
        "export NORDWIND_CENTRA_TOKEN=abc#def\n"
        'NORDWIND_DEPOSCO_V1_PASSWORD="p@ss word # not a comment"\n'
        "NORDWIND_DEPOSCO_V1_USER='api-user'\n"
        "NORDWIND_SLACK_OPS_WEBHOOK = https://hooks.slack.example/T/B/x  # the ops channel\n"
    )

    assert load_secrets_file(path) == {
        "NORDWIND_CENTRA_TOKEN": "abc#def",
        "NORDWIND_DEPOSCO_V1_PASSWORD": "p@ss word # not a comment",
        "NORDWIND_DEPOSCO_V1_USER": "api-user",
        "NORDWIND_SLACK_OPS_WEBHOOK": "https://hooks.slack.example/T/B/x",
    }


def test_malformed_secrets_file_names_lines_not_values(tmp_path):
    path = tmp_path / "secrets.env"
    path.write_text("GOOD=1\nthis-is-a-bare-secret-value\nGOOD=2\n")

    with pytest.raises(ConfigError) as caught:
        load_secrets_file(path)

    assert [(p.path, p.message) for p in caught.value.problems] == [
        ("line 2", "expected KEY=VALUE"),
        ("line 3", "GOOD already set at line 1"),
    ]
    assert "bare-secret" not in str(caught.value)


def test_missing_secrets_file(tmp_path):
    with pytest.raises(ConfigError, match="secrets file does not exist"):
        load_secrets_file(tmp_path / "absent.env")


# --- redaction ---


def test_redact_replaces_every_registered_secret():
    register_secret("s3cr3t-token")
    register_secret("hunter22")

    assert redact("a s3cr3t-token b hunter22 c s3cr3t-token") == "a *** b *** c ***"


def test_redact_hides_url_encoded_forms():
    register_secret("pa ss/wo@rd")

    assert redact("url=https://x/?k=pa%20ss%2Fwo%40rd or pa+ss%2Fwo%40rd") == "url=https://x/?k=*** or ***"


def test_longer_secret_is_hidden_whole_even_if_it_contains_a_shorter_one():
    register_secret("abcd")
    register_secret("xxabcdxx")

    assert redact("[xxabcdxx]") == "[***]"


def test_short_and_empty_values_are_not_registered():
    register_secret("ops")
    register_secret("")
    register_secret(None)

    assert redact("ops team") == "ops team"


def test_clear_secrets_forgets_everything():
    register_secret("forget-me")
    clear_secrets()

    assert redact("forget-me") == "forget-me"


@given(
    secret=st.text(alphabet=st.characters(blacklist_characters="*", blacklist_categories=["Cs"]), min_size=4),
    before=st.text(),
    after=st.text(),
)
def test_a_registered_secret_never_survives_redaction(secret, before, after):
    clear_secrets()
    register_secret(secret)

    assert secret not in redact(before + secret + after)


# --- URLs ---


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://lockstep:s3cret@db.internal:5432/lockstep",
            "postgresql://lockstep:***@db.internal:5432/lockstep",
        ),
        ("postgres://u:p@ss@db/x?sslmode=require", "postgres://u:***@db/x?sslmode=require"),
        ("postgresql://lockstep@db/x", "postgresql://lockstep@db/x"),
        (
            "postgresql://db/x?user=u&password=pw1&sslmode=require",
            "postgresql://db/x?user=u&password=***&sslmode=require",
        ),
        ("sqlite+aiosqlite:///./var/lockstep.db", "sqlite+aiosqlite:///./var/lockstep.db"),
    ],
)
def test_redact_url_hides_only_the_password(url, shown):
    assert redact_url(url) == shown


def test_url_password_is_percent_decoded():
    assert url_password("postgresql://u:p%40ss@db/x") == "p@ss"
    assert url_password("postgresql://u@db/x") is None
