"""The account-wide request budget (≈ 4 requests/second) that answers 429 with an empty body.

Deposco's limit is per account, not per connection: separate Lockstep workers that each pace themselves still
trip it together. One token bucket per simulator therefore serves every client, V1 and ``/latest`` alike.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Throttle:
    def __init__(
        self,
        requests_per_second: float,
        burst: float | None = None,
        retry_after: float | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._now = now
        self._lock = threading.Lock()
        self.retry_after = retry_after
        self.configure(requests_per_second, burst)

    def configure(self, requests_per_second: float, burst: float | None = None) -> None:
        """Change the budget at run time; ``requests_per_second <= 0`` switches throttling off."""
        with self._lock:
            self.rate = float(requests_per_second)
            self.burst = float(burst) if burst else max(1.0, self.rate)
            self._tokens = self.burst
            self._stamp = self._now()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def try_acquire(self) -> bool:
        """Spend one request from the budget; False means the caller must get a 429."""
        if not self.enabled:
            return True
        with self._lock:
            now = self._now()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False
