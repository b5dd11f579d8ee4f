"""Centra's rate limits: request count, query complexity and mutation count, each per 10 s and per 1 h.

Centra documents the limits as token buckets shared by every integration of an environment ("quota points are
replenished at a constant rate up to maximum capacity; quota = usedQuota + remainingQuota"), so one limiter
serves all tokens. A request that does not fit *any* bucket is refused with HTTP 429 and ``Retry-After``, and
is not charged. ``Retry-After`` is configurable: ``seconds`` (delta), ``timestamp`` (unix time at which to
resume, the form Centra's docs describe) or ``http-date``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate

REQUEST_COUNT, QUERY_COMPLEXITY, MUTATION_COUNT = "REQUEST_COUNT", "QUERY_COMPLEXITY", "MUTATION_COUNT"
INTERVALS = {"TEN_SECONDS": 10.0, "ONE_HOUR": 3600.0}

#: Quotas per tier: {(type, interval): quota}. "standard" holds the older documented figures.
TIERS: dict[str, dict[tuple[str, str], int]] = {
    "growth": {
        (REQUEST_COUNT, "TEN_SECONDS"): 60,
        (REQUEST_COUNT, "ONE_HOUR"): 5_000,
        (QUERY_COMPLEXITY, "TEN_SECONDS"): 250_000,
        (QUERY_COMPLEXITY, "ONE_HOUR"): 30_000_000,
        (MUTATION_COUNT, "TEN_SECONDS"): 20,
        (MUTATION_COUNT, "ONE_HOUR"): 1_800,
    },
    "enhanced": {
        (REQUEST_COUNT, "TEN_SECONDS"): 150,
        (REQUEST_COUNT, "ONE_HOUR"): 20_000,
        (QUERY_COMPLEXITY, "TEN_SECONDS"): 900_000,
        (QUERY_COMPLEXITY, "ONE_HOUR"): 90_000_000,
        (MUTATION_COUNT, "TEN_SECONDS"): 50,
        (MUTATION_COUNT, "ONE_HOUR"): 4_500,
    },
    "high": {
        (REQUEST_COUNT, "TEN_SECONDS"): 450,
        (REQUEST_COUNT, "ONE_HOUR"): 40_000,
        (QUERY_COMPLEXITY, "TEN_SECONDS"): 1_800_000,
        (QUERY_COMPLEXITY, "ONE_HOUR"): 180_000_000,
        (MUTATION_COUNT, "TEN_SECONDS"): 150,
        (MUTATION_COUNT, "ONE_HOUR"): 7_000,
    },
    "enterprise": {
        (REQUEST_COUNT, "TEN_SECONDS"): 1_500,
        (REQUEST_COUNT, "ONE_HOUR"): 85_000,
        (QUERY_COMPLEXITY, "TEN_SECONDS"): 4_000_000,
        (QUERY_COMPLEXITY, "ONE_HOUR"): 400_000_000,
        (MUTATION_COUNT, "TEN_SECONDS"): 500,
        (MUTATION_COUNT, "ONE_HOUR"): 25_000,
    },
    "standard": {
        (REQUEST_COUNT, "TEN_SECONDS"): 40,
        (REQUEST_COUNT, "ONE_HOUR"): 3_600,
        (QUERY_COMPLEXITY, "TEN_SECONDS"): 150_000,
        (QUERY_COMPLEXITY, "ONE_HOUR"): 20_000_000,
        (MUTATION_COUNT, "TEN_SECONDS"): 20,
        (MUTATION_COUNT, "ONE_HOUR"): 1_800,
    },
}
RETRY_AFTER_FORMATS = ("seconds", "timestamp", "http-date")


@dataclass
class Bucket:
    quota: int
    interval: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(float(self.quota), self.tokens + (now - self.updated) * self.quota / self.interval)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` tokens are available (inf if it can never fit)."""
        if amount > self.quota:
            return math.inf
        return max(0.0, (amount - self.tokens) * self.interval / self.quota)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0  # seconds from now


class RateLimiter:
    """Token buckets for one environment; thread-safe; ``clock`` is monotonic seconds (injectable for
    tests)."""

    def __init__(
        self,
        tier: str = "growth",
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        retry_after_format: str = "timestamp",
        enabled: bool = True,
    ) -> None:
        if tier not in TIERS:
            raise ValueError(f"unknown tier {tier!r}; choose one of {sorted(TIERS)}")
        if retry_after_format not in RETRY_AFTER_FORMATS:
            raise ValueError(f"retry_after_format must be one of {RETRY_AFTER_FORMATS}")
        self.clock, self.wall = clock, wall
        self.retry_after_format = retry_after_format
        self.enabled = enabled
        self._lock = threading.Lock()
        self.configure(tier)

    def configure(self, tier: str, overrides: dict[tuple[str, str], int] | None = None) -> None:
        """(Re)set the quotas (Centra can lower them temporarily); buckets start full."""
        quotas = dict(TIERS[tier])
        quotas.update(overrides or {})
        now = self.clock()
        with self._lock:
            self.tier = tier
            self.buckets = {key: Bucket(q, INTERVALS[key[1]], float(q), now) for key, q in quotas.items()}

    def try_acquire(self, complexity: int, mutations: int) -> Decision:
        """Charge one request (plus complexity and mutations) if every bucket can afford it."""
        if not self.enabled:
            return Decision(True)
        need = {REQUEST_COUNT: 1, QUERY_COMPLEXITY: complexity, MUTATION_COUNT: mutations}
        now = self.clock()
        with self._lock:
            wait = 0.0
            for (kind, _interval), bucket in self.buckets.items():
                bucket.refill(now)
                if need[kind] and bucket.tokens < need[kind]:
                    wait = max(wait, bucket.wait_for(need[kind]))
            if wait > 0:
                return Decision(False, wait if math.isfinite(wait) else 3600.0)
            for (kind, _interval), bucket in self.buckets.items():
                bucket.tokens -= need[kind]
        return Decision(True)

    def snapshot(self) -> list[dict[str, object]]:
        """Quota, used and remaining per bucket, as the ``rateLimits`` query reports them."""
        now = self.clock()
        out = []
        with self._lock:
            for (kind, interval), bucket in self.buckets.items():
                bucket.refill(now)
                remaining = max(0, math.floor(bucket.tokens))
                out.append(
                    {
                        "type": kind,
                        "intervalSeconds": interval,
                        "quota": bucket.quota,
                        "usedQuota": bucket.quota - remaining,
                        "remainingQuota": remaining,
                    }
                )
        return out

    def retry_after_header(self, seconds: float) -> str:
        seconds = max(1, math.ceil(seconds))
        if self.retry_after_format == "seconds":
            return str(seconds)
        if self.retry_after_format == "http-date":
            return formatdate(self.wall() + seconds, usegmt=True)
        return str(math.ceil(self.wall() + seconds))
