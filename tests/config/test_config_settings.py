"""Deployment settings from LOCKSTEP_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep.config import ConfigError, get_settings, redact, sqlalchemy_async_url


def test_defaults(clean_env):
    settings = get_settings()

    assert settings.database_url == "sqlite+aiosqlite:///./var/lockstep.db"
    assert settings.config_dir == Path("./config")
    assert settings.secrets_file is None
    assert settings.log_level == "INFO"
    assert (settings.api_host, settings.api_port) == ("127.0.0.1", 8080)
    assert settings.admin_token is None
    assert settings.secrets_file_values() == {}


def test_environment_overrides(clean_env, tmp_path):
    clean_env.setenv("LOCKSTEP_DATABASE_URL", "postgres://lockstep:pw-in-url@db/lockstep")
    clean_env.setenv("LOCKSTEP_CONFIG_DIR", str(tmp_path))
    clean_env.setenv("LOCKSTEP_LOG_LEVEL", "debug")
    clean_env.setenv("LOCKSTEP_API_PORT", "9000")
    clean_env.setenv("LOCKSTEP_ADMIN_TOKEN", "admin-token-123")

    settings = get_settings()

    assert settings.async_database_url == "postgresql+asyncpg://lockstep:pw-in-url@db/lockstep"
    assert settings.config_dir == tmp_path
    assert settings.log_level == "DEBUG"
    assert settings.api_port == 9000
    assert settings.admin_token.get_secret_value() == "admin-token-123"
    # Neither the token nor the database password shows up when settings are printed or logged.
    assert "admin-token-123" not in repr(settings)
    assert "pw-in-url" not in repr(settings)
    assert redact("admin-token-123 / pw-in-url") == "*** / ***"


def test_admin_token_from_the_secrets_file(clean_env, tmp_path):
    secrets = tmp_path / "lockstep.env"
    secrets.write_text("LOCKSTEP_ADMIN_TOKEN=from-the-file\nNORDWIND_CENTRA_TOKEN=ctk\n")
    clean_env.setenv("LOCKSTEP_SECRETS_FILE", str(secrets))

    settings = get_settings()

    assert settings.admin_token.get_secret_value() == "from-the-file"
    assert settings.secrets_file_values()["NORDWIND_CENTRA_TOKEN"] == "ctk"


def test_environment_admin_token_wins_over_the_secrets_file(clean_env, tmp_path):
    secrets = tmp_path / "lockstep.env"
    secrets.write_text("LOCKSTEP_ADMIN_TOKEN=from-the-file\n")
    clean_env.setenv("LOCKSTEP_SECRETS_FILE", str(secrets))
    clean_env.setenv("LOCKSTEP_ADMIN_TOKEN", "from-the-env")

    assert get_settings().admin_token.get_secret_value() == "from-the-env"


def test_invalid_values_name_the_variable(clean_env):
    clean_env.setenv("LOCKSTEP_API_PORT", "70000")
    clean_env.setenv("LOCKSTEP_LOG_LEVEL", "loud")
    clean_env.setenv("LOCKSTEP_DATABASE_URL", "lockstep.db")

    with pytest.raises(ConfigError) as caught:
        get_settings()

    problems = {p.path: p.message for p in caught.value.problems}
    assert set(problems) == {"LOCKSTEP_API_PORT", "LOCKSTEP_LOG_LEVEL", "LOCKSTEP_DATABASE_URL"}
    assert problems["LOCKSTEP_API_PORT"] == "Input should be less than or equal to 65535"
    assert problems["LOCKSTEP_DATABASE_URL"].startswith("must be a database URL")


def test_missing_secrets_file_is_a_config_error(clean_env, tmp_path):
    clean_env.setenv("LOCKSTEP_SECRETS_FILE", str(tmp_path / "nope.env"))

    with pytest.raises(ConfigError, match="secrets file does not exist"):
        get_settings()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db:5432/x", "postgresql+asyncpg://u:p@db:5432/x"),
        ("postgres://u@db/x", "postgresql+asyncpg://u@db/x"),
        ("sqlite:///./var/lockstep.db", "sqlite+aiosqlite:///./var/lockstep.db"),
        ("sqlite:////abs/lockstep.db", "sqlite+aiosqlite:////abs/lockstep.db"),
        ("postgresql+asyncpg://u@db/x", "postgresql+asyncpg://u@db/x"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_sqlalchemy_async_url(url, expected):
    assert sqlalchemy_async_url(url) == expected
