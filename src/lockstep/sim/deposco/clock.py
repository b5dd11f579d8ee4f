"""Simulated time for the Deposco simulator.

Timestamps drive ``updatedAfter``/``shippedAfter`` filters, token expiry and the automatic warehouse
progression, so tests must be able to move time forward without sleeping. The clock is the wall clock plus an
offset that :meth:`SimClock.advance` grows; with ``start`` given it is frozen at that instant (plus the
offset), which makes a whole run reproducible.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class SimClock:
    def __init__(self, start: float | None = None) -> None:
        self._frozen = start
        self._offset = 0.0

    def now(self) -> float:
        """Seconds since the epoch, in simulated time."""
        base = self._frozen if self._frozen is not None else time.time()
        return base + self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._offset += seconds
        return self.now()

    @property
    def offset(self) -> float:
        return self._offset


def ms(ts: float) -> int:
    """Whole milliseconds: the precision Deposco renders, hence the precision time filters compare at."""
    return round(ts * 1000)


def iso(ts: float | None) -> str | None:
    """Render a timestamp the way Deposco does: ISO-8601 with an explicit offset, millisecond precision."""
    if ts is None:
        return None
    whole, rest = divmod(ms(ts), 1000)
    moment = datetime.fromtimestamp(whole, UTC) + timedelta(milliseconds=rest)
    return moment.isoformat(timespec="milliseconds")


def parse_iso(value: str) -> float:
    """Parse ISO-8601 (``Z`` or an offset; naive means UTC) into epoch seconds; ValueError if bad."""
    parsed = datetime.fromisoformat(value.strip().replace(" ", "+"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
