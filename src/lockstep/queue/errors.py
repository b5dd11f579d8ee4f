"""How a handler tells the queue what its failure means.

The classes live in :mod:`lockstep.errors` so connectors can raise them without importing the queue.
Unclassified exceptions count as transient: a bug that raises ``KeyError`` is retried with backoff until its
attempts run out and is then dead-lettered with an exception record, so it is seen, not lost and not looping.
"""

from __future__ import annotations

from lockstep.errors import PermanentError, RetryLater, TransientError


class LeaseLost(Exception):
    """The job's lease expired and another worker took it over; this worker's writes were rolled back."""


__all__ = ["LeaseLost", "PermanentError", "RetryLater", "TransientError"]
