"""Retry timing: exponential backoff with jitter (pure; the random source is passed in)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Delay before attempt ``n + 1`` after ``n`` failed attempts.

    ``base * factor ** (n - 1)`` capped at ``cap``, then "equal jitter": half fixed, half random. The fixed half
    keeps a floor under the delay (no hammering a struggling API); the random half spreads the retries of many
    jobs that failed together (a 5xx burst) so they do not come back as one thundering herd.
    """

    max_attempts: int = 8
    base_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 600.0

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        rng = rng or random
        exp = min(self.cap_s, self.base_s * self.factor ** max(0, attempts - 1))
        return exp / 2 + rng.uniform(0, exp / 2)


DEFAULT_POLICY = RetryPolicy()
