"""What the simulator served, for assertions and benchmarks: calls per operation, statuses, 429s, webhooks."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.events: Counter[str] = Counter()

    def call(self, operation: str) -> None:
        with self._lock:
            self.calls[operation] += 1

    def status(self, operation: str, status: int) -> None:
        with self._lock:
            self.statuses[str(status)] += 1
            self.statuses[f"{status} {operation}"] += 1

    def event(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.events[name] += n

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(self.calls),
                "statuses": dict(self.statuses),
                "throttled429": self.events["throttled429"],
                "conflicts409": self.events["conflicts409"],
                "webhooks": {k.split(".", 1)[1]: n for k, n in self.events.items() if k.startswith("webhook.")},
                "events": dict(self.events),
            }

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.statuses.clear()
            self.events.clear()
