"""How a handler tells the queue what its failure means.

Unclassified exceptions count as transient: a bug that raises ``KeyError`` is retried with backoff until its
attempts run out and is then dead-lettered with an exception record, so it is seen, not lost and not looping.
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


class LeaseLost(Exception):
    """The job's lease expired and another worker took it over; this worker's writes were rolled back."""
