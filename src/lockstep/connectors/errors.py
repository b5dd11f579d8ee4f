"""The small, typed error hierarchy every connector maps its failures onto.

They extend the queue's vocabulary, so a flow can let them propagate and the job queue does the right thing:
``Transient`` -> retry with backoff, ``RateLimited`` -> retry at the time the API named, ``Permanent`` ->
dead-letter (or the flow catches it and quarantines with the API's reason), ``AuthFailed`` -> retried with
backoff (credentials rotated by an operator start working again) and reported with the system's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lockstep.clock import utcnow
from lockstep.errors import PermanentError, RetryLater, TransientError


@dataclass(frozen=True)
class UserError:
    """A reason the other system gave for refusing a request: message and, where known, the field path."""

    message: str
    path: str | None = None


class ConnectorError(Exception):
    """Base for connector failures; ``system`` is ``centra`` or ``deposco``, ``operation`` the call's name."""

    def __init__(self, message: str, *, system: str = "", operation: str = ""):
        prefix = f"{system} {operation}: " if system or operation else ""
        # Exception.__init__ directly: the cooperative chain would reach RetryLater.__init__ (see RateLimited).
        Exception.__init__(self, f"{prefix}{message}")
        self.system = system
        self.operation = operation


class Transient(ConnectorError, TransientError):
    """Network error, timeout, 5xx, 409 conflict, blank 200: retry later."""


class RateLimited(Transient, RetryLater):
    """HTTP 429: the API told us when to come back (``retry_at``)."""

    def __init__(self, message: str, *, retry_at: datetime, system: str = "", operation: str = ""):
        ConnectorError.__init__(self, message, system=system, operation=operation)
        self.retry_at = retry_at
        self.delay_s = max(0.0, (retry_at - utcnow()).total_seconds())


class Permanent(ConnectorError, PermanentError):
    """The request itself is wrong or refused; retrying the same request cannot succeed."""

    def __init__(
        self,
        message: str,
        *,
        user_errors: list[UserError] | None = None,
        status: int | None = None,
        system: str = "",
        operation: str = "",
    ):
        super().__init__(message, system=system, operation=operation)
        self.user_errors = list(user_errors or [])
        self.status = status

    @property
    def fields(self) -> list[str]:
        return [e.path for e in self.user_errors if e.path]


class AuthFailed(Transient):
    """Credentials refused (401/403 after one refresh). Retried with backoff; alerted via the dead letter."""


@dataclass
class Warnings:
    """Non-fatal remarks a call returned (Centra ``userWarnings``); flows log or attach them as evidence."""

    items: list[UserError] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.items)


def describe(payload: Any, limit: int = 300) -> str:
    """A short, single-line rendering of an unexpected response body for error messages."""
    text = payload if isinstance(payload, str) else repr(payload)
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")
