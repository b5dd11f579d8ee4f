"""The one place that reads the wall clock, so the domain stays pure and tests can reason about time."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
