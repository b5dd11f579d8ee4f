"""The failure vocabulary shared by connectors, flows and the job queue.

A connector raises these; the queue acts on them without knowing about HTTP: a ``TransientError`` is retried
with backoff, ``RetryLater`` after a known delay, a ``PermanentError`` is dead-lettered at once. Everything else
counts as transient (see ``queue/errors.py``).
"""

from __future__ import annotations


class TransientError(Exception):
    """Worth retrying later (network error, 5xx, conflict)."""


class RetryLater(TransientError):
    """Retry after a known delay (e.g. a 429 with Retry-After), instead of the backoff schedule."""

    def __init__(self, delay_s: float, reason: str = "retry later"):
        super().__init__(reason)
        self.delay_s = max(0.0, float(delay_s))


class PermanentError(Exception):
    """Retrying cannot help (invalid data, refused by the other system): dead-letter at once."""
