"""Process settings: where the database, the brand files and the secrets are, and how the API listens.

These are per deployment (one process serving many brands), read from ``LOCKSTEP_*`` environment variables;
everything per brand lives in the topology files under ``config_dir``. Defaults give a working single-machine
setup (SQLite under ./var, API on localhost only, as the design requires for an unauthenticated first start).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lockstep.config.secrets import load_secrets_file, register_secret, url_password
from lockstep.config.validate import ConfigError, Problem

ENV_PREFIX = "LOCKSTEP_"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

# Plain URLs people copy from their hosting provider, mapped to the async drivers Lockstep runs on.
_ASYNC_SCHEMES = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


def sqlalchemy_async_url(url: str) -> str:
    """``postgres(ql)://`` -> ``postgresql+asyncpg://`` and ``sqlite://`` -> ``sqlite+aiosqlite://``; a URL
    that already names a driver is left alone (the user chose it)."""
    scheme, sep, rest = url.partition("://")
    driver = _ASYNC_SCHEMES.get(scheme.lower()) if sep else None
    return f"{driver}://{rest}" if driver else url


class Settings(BaseSettings):
    """Deployment settings from ``LOCKSTEP_<FIELD>`` variables. Construct through :func:`get_settings`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    # repr=False: the URL may carry a password, and settings objects end up in debug logs.
    database_url: str = Field("sqlite+aiosqlite:///./var/lockstep.db", repr=False)
    config_dir: Path = Path("./config")
    secrets_file: Path | None = None
    log_level: LogLevel = "INFO"
    api_host: str = "127.0.0.1"
    api_port: int = Field(8080, ge=1, le=65535)
    admin_token: SecretStr | None = None

    @field_validator("database_url")
    @classmethod
    def _looks_like_url(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError("must be a database URL such as postgresql://user@host/db or sqlite:///./var/x.db")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def async_database_url(self) -> str:
        return sqlalchemy_async_url(self.database_url)

    def secrets_file_values(self) -> dict[str, str]:
        """The secrets file's variables ({} without one); ConfigError if it is missing or malformed."""
        return load_secrets_file(self.secrets_file) if self.secrets_file is not None else {}


def get_settings() -> Settings:
    """Settings from the current environment (read afresh on every call; it is cheap).

    ``LOCKSTEP_ADMIN_TOKEN`` may also come from the secrets file. The admin token and the database password
    are registered for redaction. Invalid values raise :class:`ConfigError` naming the variable, never its
    value.
    """
    try:
        settings = Settings()
    except ValidationError as exc:
        raise ConfigError([_env_problem(error) for error in exc.errors(include_input=False)]) from None
    if settings.admin_token is None and settings.secrets_file is not None:
        token = settings.secrets_file_values().get(f"{ENV_PREFIX}ADMIN_TOKEN")
        if token:
            settings = settings.model_copy(update={"admin_token": SecretStr(token)})
    register_secret(settings.admin_token)
    register_secret(url_password(settings.database_url))
    return settings


def _env_problem(error: Mapping[str, Any]) -> Problem:
    variable = f"{ENV_PREFIX}{str(error['loc'][0]).upper()}" if error["loc"] else ""
    return Problem("environment", variable, error["msg"].removeprefix("Value error, "))
