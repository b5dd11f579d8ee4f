"""Rate budgets: never send a request the API would refuse with a 429.

Both APIs count requests in windows (Centra: 10 s and 1 h, separately for requests and mutations; Deposco: about
4 requests per second account-wide). A token bucket cannot honour a window limit without wasting half of it
(capacity + refill both land in one window), so the budget keeps a **sliding log** of grant times per bucket and
grants only while every window still has room. A small margin covers the network delay between our grant and the
server's count. Centra's hour is in addition spent as a bucket inside the window (:func:`steady`): a tenth of it
at full pace, the rest evenly, so a long sale slows down instead of running dry for the rest of the hour.

Priorities are reserves: a low-priority call (item-master update) may use only 70 % of the longest window, a
normal call 95 %, and a high-priority call (stock decrease, shipment confirmation) all of it. That works the same
within one process and across processes, because it needs no shared waiting queue. Reserves act on the longest
window only (Centra's hour), so within one process waiting callers are also served in priority order: a call
that could go now stands back while a higher-priority caller that could also go now waits on one of the same
buckets. Without that, in a saturated 10-second window whichever sleeper woke first took the slot, and a peak
sale's order fetches and stock decreases queued behind shipment calls.

:class:`LocalBudget` lives in memory (SQLite deployments are one process). :class:`SharedBudget` keeps the log in
PostgreSQL, serialised per bucket by an advisory lock and timed by the database clock, so every worker process of
a brand draws from one budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import IntEnum

from prometheus_client import Counter, Histogram
from sqlalchemy import and_, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from lockstep.store.tables import rate_grants

BUDGET_WAIT = Histogram("lockstep_budget_wait_seconds", "Time a call waited for its rate budget", ["scope"])
BUDGET_GRANTS = Counter("lockstep_budget_grants_total", "Calls admitted by the rate budget", ["scope", "priority"])


class Priority(IntEnum):
    URGENT = -1  # stock: Deposco's changes feed and Centra's setStock (one request each, every figure waits on it)
    HIGH = 0  # order exports and fetches: the in-flight units the stock figures count on
    NORMAL = 1
    LOW = 2  # item-master updates, reconciliation reads: can wait


class BudgetBusy(Exception):
    """The budget has no room within the caller's patience (see :func:`patience`); nothing was sent."""


_PATIENCE: ContextVar[float | None] = ContextVar("budget_patience", default=None)


@contextmanager
def patience(seconds: float) -> Iterator[None]:
    """Calls made inside wait at most ``seconds`` for their budget, then raise :class:`BudgetBusy`.

    For work that holds something others need while it waits: a shipment completion holds its stock pool's lane,
    and asleep on Centra's mutation budget it kept the pool's stock publish out of the lane for seconds at a time.
    It gives the lane back and comes again instead."""
    token = _PATIENCE.set(seconds)
    try:
        yield
    finally:
        _PATIENCE.reset(token)


def _impatient(started: float, now: float, wait: float) -> None:
    limit = _PATIENCE.get()
    if limit is not None and (now - started) + wait > limit:
        raise BudgetBusy(f"no budget within {limit:g} s")


_PREPAID: ContextVar[list | None] = ContextVar("budget_prepaid", default=None)


@contextmanager
def prepaid(budget: object, names: tuple[str, ...]) -> Iterator[None]:
    """The first call made inside on ``budget`` with buckets ``names`` was granted already: it does not wait again.

    For a caller whose request depends on *when* it goes: a stock publish waits for its mutation first and
    computes the figures after, so what it writes is as fresh as the moment it may write (computed before, a
    sale's figures were the budget wait old when they landed, and changes read during the wait missed them)."""
    token = _PREPAID.set([budget, tuple(names)])
    try:
        yield
    finally:
        _PREPAID.reset(token)


def take_prepaid(budget: object, names: tuple[str, ...]) -> bool:
    """Spend the grant :func:`prepaid` holds for this budget and buckets, once; False if there is none."""
    held = _PREPAID.get()
    if held is None or held[0] is not budget or held[1] != tuple(names):
        return False
    held[0] = None
    return True


# Precedence stops where a priority (with those below it) got less than this share of the recent grants.
STARVATION_SHARE, STARVATION_WINDOW_S = 0.2, 10.0

STARVED_RANK = min(Priority) - 1  # a starved priority goes before every other

# How soon a caller that stood back for a higher-priority one looks again (the other takes the slot meanwhile).
OUTRANKED_RETRY_S = 0.01
# How often a SharedBudget caller waiting in line re-checks who is first (it is also woken when the first is done).
TURN_RECHECK_S = 0.25

# Share of each window a priority may fill. HIGH may use everything; the rest stays for it.
SHARE = {Priority.URGENT: 1.0, Priority.HIGH: 1.0, Priority.NORMAL: 0.95, Priority.LOW: 0.7}


@dataclass(frozen=True)
class Window:
    """At most ``limit`` grants in any ``seconds``. With ``burst``, also spent no faster than it comes back: at
    most ``burst`` x limit at once, the rest at an even rate (see :func:`steady`)."""

    limit: int
    seconds: float
    burst: float | None = None

    def allowed(self, priority: Priority) -> int:
        return max(1, math.floor(self.limit * SHARE[priority]))


def steady(window: Window, burst: float) -> Window:
    """``window`` spent as a token bucket inside it: ``burst`` x limit at once, then ``(1 - burst)`` x limit
    spread evenly over the window — never more than the limit in any window, and never a dry spell.

    A sliding hour spent at the 10-second pace runs out mid-sale: Growth's 1,800 mutations last 15 minutes at
    2 a second, and then nothing — no stock, no shipment — for the 45 minutes until the first ones leave the
    hour. Paced, a sale of a minute or two runs at full speed and a longer one at 90 % of the hour's average."""
    return Window(window.limit, window.seconds, burst)


HOUR_BURST = 0.1  # share of Centra's hourly budgets that may go at the 10-second pace before the even rate


def paced(*windows: Window) -> tuple[Window, ...]:
    """Centra's windows plus a one-second one at a tenth of the 10-second limit.

    A sliding log lets a backlog fill a whole 10-second window in its first second; the window then frees in the
    same burst ten seconds later, and the burst repeats. A call arriving between two bursts (a stock publish)
    waited up to the whole window for a slot, however high its priority: a sale's publishes stalled 5-7 s every
    10 s. Spreading grants over the window costs nothing in throughput and leaves a slot free every fraction of a
    second, for the waiting caller of the highest priority to take."""
    ten = next(w for w in windows if w.seconds == 10)
    return (Window(max(1, ten.limit // 10), 1.0), *windows)


CENTRA_TIERS: dict[str, dict[str, tuple[Window, ...]]] = {
    "growth": {
        "requests": paced(Window(60, 10), steady(Window(5000, 3600), HOUR_BURST)),
        "mutations": paced(Window(20, 10), steady(Window(1800, 3600), HOUR_BURST)),
    },
    "enhanced": {
        "requests": paced(Window(150, 10), steady(Window(20000, 3600), HOUR_BURST)),
        "mutations": paced(Window(50, 10), steady(Window(4500, 3600), HOUR_BURST)),
    },
    "high": {
        "requests": paced(Window(450, 10), steady(Window(40000, 3600), HOUR_BURST)),
        "mutations": paced(Window(150, 10), steady(Window(7000, 3600), HOUR_BURST)),
    },
    "enterprise": {
        "requests": paced(Window(1500, 10), steady(Window(85000, 3600), HOUR_BURST)),
        "mutations": paced(Window(500, 10), steady(Window(25000, 3600), HOUR_BURST)),
    },
}


def deposco_windows(requests_per_second: float) -> dict[str, tuple[Window, ...]]:
    """Deposco's throttle as a one-second window (and a ten-second one, so fractional rates are honoured)."""
    return {
        "requests": (
            Window(max(1, math.floor(requests_per_second)), 1.0),
            Window(max(1, math.floor(requests_per_second * 10)), 10.0),
        )
    }


def _wait_needed(
    grants: list[float] | deque,
    windows: tuple[Window, ...],
    priority: Priority,
    now: float,
    margin: float,
    levels: dict[int, _Level] | None = None,
):
    """Seconds until a grant is possible (0 = now), given the grant times sorted oldest first (and, for
    :func:`steady` windows, their buckets kept up to date by the caller in ``levels``, by window index; without
    them the bucket is replayed from the log).

    The margin is at most 5 % of a window (a 1 s window must not lose a quarter of its calls to it). Priority
    reserves apply to the longest window only: that is where a budget runs dry, and short windows would otherwise
    lose whole calls to rounding (90 % of 4 per second is 3).
    """
    wait = 0.0
    longest = max(w.seconds for w in windows)
    for index, window in enumerate(windows):
        horizon = now - window.seconds - min(margin, 0.05 * window.seconds)
        inside = [t for t in grants if t > horizon]
        allowed = window.allowed(priority) if window.seconds == longest else window.limit
        if len(inside) >= allowed:
            # the grant that must leave the window before one more fits
            blocking = inside[len(inside) - allowed]
            wait = max(wait, blocking - horizon)
        if window.burst is not None:
            level = levels[index] if levels is not None and index in levels else _Level.replayed(inside, window, now)
            wait = max(wait, level.wait(window, priority, now))
    return wait


@dataclass
class _Level:
    """A :func:`steady` window's bucket: ``tokens`` at time ``last``."""

    tokens: float
    last: float

    @staticmethod
    def shape(window: Window) -> tuple[float, float]:
        capacity = max(1.0, window.burst * window.limit)
        return capacity, (window.limit - capacity) / window.seconds

    @classmethod
    def full(cls, window: Window, now: float) -> _Level:
        return cls(cls.shape(window)[0], now)

    @classmethod
    def replayed(cls, grants: list[float], window: Window, now: float) -> _Level:
        """From the grants inside the window, taken to be full where the window starts (older grants are
        forgotten; the sliding window itself still caps the count)."""
        level = cls.full(window, now - window.seconds)
        for at in grants:
            level.spend(window, at)
        return level

    def spend(self, window: Window, at: float, units: int = 1) -> None:
        capacity, rate = self.shape(window)
        self.tokens = min(capacity, self.tokens + max(0.0, at - self.last) * rate) - units
        self.last = max(self.last, at)

    def wait(self, window: Window, priority: Priority, now: float) -> float:
        """Seconds until the bucket holds a token for ``priority``: lower priorities leave the same share of the
        burst that they leave of the window."""
        capacity, rate = self.shape(window)
        tokens = min(capacity, self.tokens + max(0.0, now - self.last) * rate)
        needed = 1 + capacity * (1 - SHARE[priority])
        return 0.0 if tokens >= needed else (needed - tokens) / rate


class _Precedence:
    """Who goes first among this process's waiting callers: priority, unless a priority is starved (see
    :meth:`LocalBudget._ahead`). Needs ``self.buckets``; keeps the recent grants it judges starvation by."""

    buckets: dict[str, tuple[Window, ...]]

    def _init_precedence(self) -> None:
        self._grants: deque[tuple[float, Priority, str]] = deque()  # recent grants, for the starvation floor

    def _note_grant(self, names: tuple[str, ...], priority: Priority, now: float) -> None:
        for name in names:
            self._grants.append((now, priority, name))
        while self._grants and self._grants[0][0] <= now - STARVATION_WINDOW_S:
            self._grants.popleft()

    def _scarcest(self, names: set[str]) -> str:
        """The bucket whose windows allow the lowest rate: the one two callers really compete for.
        (Counted over a union, Centra's mutations looked starved whenever order fetches took most requests,
        and a sale's shipment completions went ahead of every stock publish.)"""
        return min(sorted(names), key=lambda name: min(w.limit / w.seconds for w in self.buckets[name]))

    def _rank(self, bucket: str, priority: Priority, now: float) -> int:
        recent = [p for t, p, name in self._grants if t > now - STARVATION_WINDOW_S and name == bucket]
        starved = bool(recent) and sum(1 for p in recent if p >= priority) < STARVATION_SHARE * len(recent)
        return STARVED_RANK if starved else int(priority)


class LocalBudget(_Precedence):
    """In-process sliding-window budget (one per brand and system)."""

    def __init__(self, scope: str, buckets: dict[str, tuple[Window, ...]], *, margin_s: float = 0.25):
        self.scope = scope
        self.buckets = buckets
        self.margin_s = margin_s
        self._log: dict[str, deque[float]] = {name: deque() for name in buckets}
        start = time.monotonic()
        self._levels: dict[str, dict[int, _Level]] = {  # steady windows' buckets, kept as grants are made
            name: {i: _Level.full(w, start) for i, w in enumerate(windows) if w.burst is not None}
            for name, windows in buckets.items()
        }
        self._lock = asyncio.Lock()
        self._init_precedence()
        self._waiting: dict[asyncio.Event, tuple[tuple[str, ...], Priority]] = {}  # waiting: buckets, priority

    async def acquire(self, *names: str, priority: Priority = Priority.NORMAL) -> float:
        """Wait until every named bucket has room and no higher-priority caller of this process that could go
        now waits on one of them, then record one grant in each; returns seconds waited."""
        started = time.monotonic()
        me = asyncio.Event()  # set by a lower-priority caller that stands back for this one: look again now
        try:
            while True:
                async with self._lock:
                    now = time.monotonic()
                    wait = self._wait(names, priority, now)
                    if wait <= 0:
                        ahead = self._ahead(me, names, priority, now)
                        if ahead:
                            for other in ahead:
                                other.set()
                            wait = OUTRANKED_RETRY_S
                    if wait > 0:
                        _impatient(started, now, wait)
                    if wait <= 0:
                        for name in names:
                            self._log[name].append(now)
                            self._spend(name, now)
                        self._note_grant(names, priority, now)
                        waited = now - started
                        BUDGET_WAIT.labels(self.scope).observe(waited)
                        BUDGET_GRANTS.labels(self.scope, priority.name).inc()
                        return waited
                    self._waiting[me] = (names, priority)
                    me.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(me.wait(), min(wait, 5.0))
        finally:
            self._waiting.pop(me, None)

    def _wait(self, names: tuple[str, ...], priority: Priority, now: float) -> float:
        wait = 0.0
        for name in names:
            log = self._log[name]
            longest = max(w.seconds for w in self.buckets[name]) + self.margin_s
            while log and log[0] <= now - longest:
                log.popleft()
            wait = max(wait, _wait_needed(log, self.buckets[name], priority, now, self.margin_s, self._levels[name]))
        return wait

    def _spend(self, name: str, now: float, units: int = 1) -> None:
        for index, level in self._levels[name].items():
            level.spend(self.buckets[name][index], now, units)

    def _ahead(self, me: object, names: tuple[str, ...], priority: Priority, now: float) -> list[asyncio.Event]:
        """Waiting callers that go before this one: of higher rank, sharing a bucket, and able to be granted now
        (they may be asleep until a later time they computed before: they are woken).

        The rank is the priority, except that a priority which (with those below it) got less than
        ``STARVATION_SHARE`` of the last ``STARVATION_WINDOW_S`` of grants of the scarcest bucket the two
        callers share ranks first: precedence, not starvation. Without it a sale's exports and stock scans took
        all of Deposco's budget, and not one shipment was read until the sale ended."""
        ahead = []
        mine: dict[str, int] = {}  # my rank per contested bucket, computed once
        for other, (their_names, their_priority) in list(self._waiting.items()):
            shared = set(their_names) & set(names)
            if other is me or not shared:
                continue
            bucket = self._scarcest(shared)
            if bucket not in mine:
                mine[bucket] = self._rank(bucket, priority, now)
            if self._rank(bucket, their_priority, now) < mine[bucket] and (
                self._wait(their_names, their_priority, now) <= 0
            ):
                ahead.append(other)
        return ahead

    async def observe_used(self, name: str, window_seconds: float, used: int) -> None:
        """The API reported ``used`` calls in its window (other integrations share it): count them too."""
        async with self._lock:
            now = time.monotonic()
            log = self._log[name]
            ours = sum(1 for t in log if t > now - window_seconds)
            for _ in range(max(0, used - ours)):
                log.append(now)
            self._spend(name, now, max(0, used - ours))


class SharedBudget(_Precedence):
    """Sliding-window budget in PostgreSQL, shared by every process that uses the same ``scope``.

    Within a process, waiting callers take turns by precedence (priority, with the starvation floor of
    :class:`LocalBudget`), like :class:`LocalBudget`'s: a caller asks the database only when no caller ahead of it
    that shares one of its buckets could go now (see :meth:`_held_back`); the others wait for it. Without that,
    every waiter polled the log and whoever polled first when a slot freed took it — a sale's stock writes
    (URGENT) got a random share of Centra's mutations and lagged 20 s on PostgreSQL; and while only callers of
    the same buckets took turns, the order fetches (requests only) took the request slots the stock writes
    (requests and mutations) also needed. The database still decides between processes."""

    def __init__(
        self,
        engine: AsyncEngine,
        scope: str,
        buckets: dict[str, tuple[Window, ...]],
        *,
        margin_s: float = 0.25,
    ):
        if engine.dialect.name != "postgresql":
            raise ValueError("SharedBudget needs PostgreSQL; use LocalBudget on SQLite")
        self.engine = engine
        self.scope = scope
        self.buckets = buckets
        self.margin_s = margin_s
        self._grants_written = 0
        self._init_precedence()
        self._waiting: dict[asyncio.Event, tuple[tuple[str, ...], Priority, int]] = {}
        self._arrivals = itertools.count()
        self._free_at: dict[str, float] = {}  # bucket -> when its last look said it has room (monotonic)

    async def acquire(self, *names: str, priority: Priority = Priority.NORMAL) -> float:
        started = time.monotonic()
        me = asyncio.Event()
        self._waiting[me] = (tuple(names), priority, next(self._arrivals))
        try:
            while True:
                if self._held_back(me, self._places()):
                    await self._sleep(me, started, TURN_RECHECK_S)
                    continue
                wait = await self._try(names, priority)
                if wait <= 0:
                    self._note_grant(tuple(names), priority, time.monotonic())
                    waited = time.monotonic() - started
                    BUDGET_WAIT.labels(self.scope).observe(waited)
                    BUDGET_GRANTS.labels(self.scope, priority.name).inc()
                    return waited
                _impatient(started, time.monotonic(), wait)
                await self._sleep(me, started, min(wait, 5.0))
        finally:
            del self._waiting[me]
            places = self._places()
            for other in list(self._waiting):  # whoever is next now looks again (a local check, no query)
                if not self._held_back(other, places):
                    other.set()

    def _places(self) -> dict[asyncio.Event, tuple[int, int]]:
        """Every waiting caller's place: rank on its own scarcest bucket, then arrival. A rank depends only on
        the bucket and the priority, so each pair of those is ranked once (a rank scans the recent grants)."""
        now, ranks, places = time.monotonic(), {}, {}
        for caller, (names, priority, arrival) in self._waiting.items():
            key = (self._scarcest(set(names)), priority)
            if key not in ranks:
                ranks[key] = self._rank(*key, now)
            places[caller] = (ranks[key], arrival)
        return places

    def _held_back(self, me: asyncio.Event, places: dict[asyncio.Event, tuple[int, int]]) -> bool:
        """Whether a waiting caller ahead of ``me`` that shares one of its buckets goes first: one asking for the
        same buckets always does (one query per turn, not one per waiter), another only if the buckets it needs
        have room, by their last look, no later than those of ``me`` (one waiting on a bucket ``me`` does not need
        holds nobody back).

        Ahead means a better place (:meth:`_places`). One key per caller is a total order, so callers never hold
        each other back in a circle (ranked per pair on the bucket two share, a starved shipment write, an order
        fetch and a stock write could)."""
        names, _, _ = self._waiting[me]
        # Two callers sleeping until the same slot frees wake in either order: the one ahead goes first if its
        # buckets have room no later than mine.
        ready = max([time.monotonic(), *(self._free_at.get(n, 0.0) for n in names)])
        for other, (their_names, _, _) in self._waiting.items():
            if other is me or not set(their_names) & set(names) or places[other] >= places[me]:
                continue
            if their_names == names or all(self._free_at.get(n, 0.0) <= ready for n in their_names):
                return True
        return False

    async def _sleep(self, me: asyncio.Event, started: float, seconds: float) -> None:
        """Until ``seconds`` pass or the caller ahead is done; a caller with patience wakes in time to give up."""
        limit = _PATIENCE.get()
        if limit is not None:
            left = limit - (time.monotonic() - started)
            if left <= 0:
                raise BudgetBusy(f"no budget within {limit:g} s")
            seconds = min(seconds, left)
        me.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(me.wait(), seconds)

    async def _try(self, names: tuple[str, ...], priority: Priority) -> float:
        async with self.engine.begin() as conn:
            # One writer per scope at a time; the lock ends with the transaction.
            await conn.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"budget:{self.scope}", 0))))
            now = (await conn.execute(text("SELECT extract(epoch FROM clock_timestamp())"))).scalar_one()
            now = float(now)
            wait = 0.0
            for name in names:
                bucket_wait = await self._bucket_wait(conn, name, priority, now)
                self._free_at[name] = time.monotonic() + bucket_wait
                wait = max(wait, bucket_wait)
            if wait > 0:
                return wait
            await conn.execute(insert(rate_grants), [{"scope": self.scope, "bucket": n, "at": now} for n in names])
            self._grants_written += 1
            if self._grants_written % 200 == 1:  # keep the log short: nothing older than the longest window matters
                oldest = max(w.seconds for ws in self.buckets.values() for w in ws) + self.margin_s
                await conn.execute(
                    delete(rate_grants).where(rate_grants.c.scope == self.scope, rate_grants.c.at < now - oldest)
                )
            return 0.0

    async def _bucket_wait(self, conn, name: str, priority: Priority, now: float) -> float:
        """:func:`_wait_needed` for one bucket, reading only what it needs: the short windows' few grants as rows,
        the longest window (Centra's hour: thousands of grants) summed up in SQL — its count, the grant that must
        leave it before one more fits, and for a :func:`steady` window the bucket's deficit (the largest excess
        of grants over refill, ``max_k(k - rate * (now - t_k))`` counting from the newest grant)."""
        windows = self.buckets[name]
        longest = max(windows, key=lambda w: w.seconds)
        short = [w for w in windows if w is not longest]
        mine = and_(rate_grants.c.scope == self.scope, rate_grants.c.bucket == name)
        wait = 0.0
        if short:
            reach = max(w.seconds for w in short) + self.margin_s
            rows = await conn.execute(
                select(rate_grants.c.at).where(mine, rate_grants.c.at > now - reach).order_by(rate_grants.c.at)
            )
            wait = _wait_needed([r.at for r in rows], tuple(short), Priority.URGENT, now, self.margin_s)
        horizon = now - longest.seconds - min(self.margin_s, 0.05 * longest.seconds)
        inside = mine & (rate_grants.c.at > horizon)
        allowed = longest.allowed(priority)
        count = await conn.scalar(select(func.count()).where(inside))
        if count >= allowed:
            blocking = await conn.scalar(
                select(rate_grants.c.at).where(inside).order_by(rate_grants.c.at.desc()).offset(allowed - 1).limit(1)
            )
            wait = max(wait, blocking - horizon)
        if longest.burst is not None and count:
            capacity, rate = _Level.shape(longest)
            newest_first = func.row_number().over(order_by=rate_grants.c.at.desc())
            excess = select((newest_first - rate * (now - rate_grants.c.at)).label("excess")).where(inside).subquery()
            deficit = max(0.0, float(await conn.scalar(select(func.max(excess.c.excess)))))
            wait = max(wait, _Level(capacity - deficit, now).wait(longest, priority, now))
        return wait

    async def observe_used(self, name: str, window_seconds: float, used: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"budget:{self.scope}", 0))))
            now = float((await conn.execute(text("SELECT extract(epoch FROM clock_timestamp())"))).scalar_one())
            ours = await conn.scalar(
                select(func.count()).where(
                    rate_grants.c.scope == self.scope,
                    rate_grants.c.bucket == name,
                    rate_grants.c.at > now - window_seconds,
                )
            )
            missing = max(0, used - ours)
            if missing:
                await conn.execute(insert(rate_grants), [{"scope": self.scope, "bucket": name, "at": now}] * missing)


def make_budget(engine: AsyncEngine | None, scope: str, buckets: dict[str, tuple[Window, ...]]):
    """Shared across processes on PostgreSQL, in-process otherwise."""
    if engine is not None and engine.dialect.name == "postgresql":
        return SharedBudget(engine, scope, buckets)
    return LocalBudget(scope, buckets)
