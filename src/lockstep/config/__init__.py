"""Configuration: deployment settings (environment), brand topology files, their validation, and secrets.

See docs/configuration.md for the file format and the rules checked.
"""

from lockstep.config.loader import LoadResult, load_brand_file, load_config_dir, read_brand_file
from lockstep.config.secrets import (
    load_secrets_file,
    redact,
    redact_url,
    register_secret,
    resolve_secrets,
)
from lockstep.config.settings import Settings, get_settings, sqlalchemy_async_url
from lockstep.config.topology import BrandTopology
from lockstep.config.validate import ConfigError, Problem

__all__ = [
    "BrandTopology",
    "ConfigError",
    "LoadResult",
    "Problem",
    "Settings",
    "get_settings",
    "load_brand_file",
    "load_config_dir",
    "load_secrets_file",
    "read_brand_file",
    "redact",
    "redact_url",
    "register_secret",
    "resolve_secrets",
    "sqlalchemy_async_url",
]
