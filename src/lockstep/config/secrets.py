"""Secrets: looked up by variable name, kept out of files, and scrubbed from anything printed.

A brand file only names environment variables; the values come from the process environment or, failing that,
from the secrets file (dotenv style) named by ``LOCKSTEP_SECRETS_FILE``. Every value resolved here is also
registered for redaction, so the log processor and the error printer (which call :func:`redact`) cannot leak
it even when an exception message or an HTTP error body happens to echo it. Nothing here ever puts a secret
value into a message.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote

from pydantic import SecretStr

from lockstep.config.topology import BrandTopology
from lockstep.config.validate import ConfigError, Problem

MASK = "***"
# Shorter values would shred ordinary text ("ops", "eu") when replaced everywhere; real secrets are longer.
MIN_SECRET_LENGTH = 4

_lock = threading.Lock()
_registered: set[str] = set()
_pattern: re.Pattern[str] | None = None

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# scheme://user:password@host...: the password runs to the LAST '@' before the path, so an unescaped '@'
# inside a password is still hidden rather than mistaken for the host.
_URL_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@]*:)(?P<password>[^/?#]*)(?P<tail>@.*)$")
_URL_PASSWORD_PARAM = re.compile(r"(?i)([?&](?:password|passwd|pass|pwd)=)[^&#]*")


# --- redaction registry ---


def register_secret(value: str | SecretStr | None) -> None:
    """Make :func:`redact` hide ``value`` (and its URL-encoded forms) from now on, process-wide.

    Register derived credentials too when code builds them (an OAuth access token, a Basic auth header).
    """
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    global _pattern
    with _lock:
        before = len(_registered)
        _registered.update({value, quote(value, safe=""), quote_plus(value)})
        if len(_registered) != before:
            # Longest first, so a secret that contains another is hidden whole rather than in pieces.
            ordered = sorted(_registered, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(secret) for secret in ordered))


def clear_secrets() -> None:
    """Forget every registered secret (for tests, and for a process that reloads its configuration)."""
    global _pattern
    with _lock:
        _registered.clear()
        _pattern = None


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    pattern = _pattern  # read once: the registry may be swapped concurrently
    return pattern.sub(MASK, text) if pattern is not None else text


def url_password(url: str) -> str | None:
    """The (percent-decoded) password in a URL's user info, if there is one."""
    match = _URL_USERINFO.match(url)
    return unquote(match.group("password")) if match and match.group("password") else None


def redact_url(url: str) -> str:
    """``url`` with its password (user info or a ``password=`` query parameter) replaced by ``***``.

    Done on the string, not via urllib round-tripping, which would rewrite ``sqlite:///x`` as ``sqlite:/x``.
    """
    match = _URL_USERINFO.match(url)
    if match and match.group("password"):
        url = f"{match.group('head')}{MASK}{match.group('tail')}"
    return redact(_URL_PASSWORD_PARAM.sub(rf"\g<1>{MASK}", url))


# --- secrets file ---


def load_secrets_file(path: Path | str) -> dict[str, str]:
    """Parse a dotenv-style file: ``KEY=VALUE`` lines, ``#`` comments, optional ``export`` and quotes.

    Strict on purpose (a malformed line or a key given twice is a :class:`ConfigError` naming the line), since
    a silently skipped line shows up much later as a missing credential. Problems never include values.
    """
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(name, "", "secrets file does not exist")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(name, "", f"cannot read secrets file: {type(exc).__name__}")]) from None
    values: dict[str, str] = {}
    first_line: dict[str, int] = {}
    problems = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _ENV_NAME.fullmatch(key):
            problems.append(Problem(name, f"line {number}", "expected KEY=VALUE"))
            continue
        if key in first_line:
            problems.append(Problem(name, f"line {number}", f"{key} already set at line {first_line[key]}"))
            continue
        first_line[key] = number
        values[key] = _unquote(value.strip())
    if problems:
        raise ConfigError(problems)
    return values


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    # As in shells and python-dotenv: an unquoted value ends at " #" (a '#' inside a token is kept).
    return re.split(r"\s+#", value, maxsplit=1)[0]


# --- resolution ---


def resolve_secrets(
    topology: BrandTopology,
    environ: Mapping[str, str],
    secrets_file_values: Mapping[str, str],
    *,
    source: str | None = None,
) -> tuple[dict[str, str], list[Problem]]:
    """The values of every variable ``topology`` names (environment first, then the secrets file), and a
    problem for each field whose variable is set in neither. ``source`` names the brand file in problems.

    Resolved values are registered for redaction as a side effect: this is the one door secrets come through.
    """
    file = source or f"brand {topology.brand}"
    values: dict[str, str] = {}
    problems: list[Problem] = []
    for path, variable in topology.secret_env_vars():
        value = environ.get(variable) or secrets_file_values.get(variable)
        if value:
            values[variable] = value
            register_secret(value)
        else:
            problems.append(
                Problem(file, path, f"environment variable {variable} is not set (nor in the secrets file)")
            )
    return values, problems
