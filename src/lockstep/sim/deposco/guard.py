"""Overlapping writes to one sales order get Deposco's 409 "updated by a concurrent request".

An order write holds its order for ``hold_seconds`` (the time Deposco's transaction takes); a second write to
the same order that arrives meanwhile is refused, exactly the transient conflict Lockstep must back off and
retry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from .errors import CONCURRENT_UPDATE, DeposcoError


class WriteGuard:
    def __init__(self, hold_seconds: float) -> None:
        self.hold_seconds = hold_seconds
        self._busy: set[str] = set()

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        if key in self._busy:
            raise DeposcoError(409, CONCURRENT_UPDATE)
        self._busy.add(key)
        try:
            if self.hold_seconds > 0:
                await asyncio.sleep(self.hold_seconds)
            yield
        finally:
            self._busy.discard(key)

    @contextlib.asynccontextmanager
    async def hold_many(self, keys: list[str]) -> AsyncIterator[set[str]]:
        """One batch write (a V1 import): every free key is held for one transaction; yields the busy ones,
        which the batch answers with an inner 409 "updated by a concurrent request"."""
        busy = {key for key in keys if key in self._busy}
        mine = [key for key in dict.fromkeys(keys) if key not in busy]
        self._busy.update(mine)
        try:
            if self.hold_seconds > 0 and mine:
                await asyncio.sleep(self.hold_seconds)
            yield busy
        finally:
            self._busy.difference_update(mine)
