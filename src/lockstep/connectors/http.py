"""HTTP plumbing shared by the connectors: budget, retries, 429 handling, error mapping, metrics, redaction.

A connector client builds requests and interprets bodies; :class:`HttpCaller` does everything around the wire:

- waits for the rate budget before *every* attempt (retries spend budget too);
- retries transient failures with backoff and jitter, but only for idempotent calls (a non-idempotent call
  that may have reached the server is raised as ``Transient`` and the job's own idempotency takes over),
  except when the connection was never made, which is always safe to retry;
- honours ``Retry-After`` given in seconds, as an HTTP date or as a timestamp: short waits are slept here,
  longer ones become ``RateLimited(retry_at)`` so the job is rescheduled instead of holding a worker;
- maps status codes to the typed errors via the connector's ``classify`` hook;
- counts calls, latency, errors by class and 429s for Prometheus; never logs credentials.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import structlog
from prometheus_client import Counter, Histogram

from lockstep.clock import utcnow
from lockstep.config.secrets import redact
from lockstep.connectors.budget import Priority, take_prepaid
from lockstep.connectors.errors import AuthFailed, ConnectorError, Permanent, RateLimited, Transient

log = structlog.get_logger("lockstep.connectors")

CALLS = Counter("lockstep_api_calls_total", "External API calls by outcome", ["system", "operation", "outcome"])
LATENCY = Histogram("lockstep_api_call_seconds", "External API call latency", ["system", "operation"])
RATE_LIMITED = Counter("lockstep_api_429_total", "429 responses received", ["system"])

Classifier = Callable[[httpx.Response, str], ConnectorError | None]


def parse_retry_after(value: str | None, *, now: datetime | None = None, default_s: float = 5.0) -> datetime:
    """``Retry-After`` as seconds (``"12"``), an epoch timestamp, an ISO-8601 time or an HTTP date."""
    now = now or utcnow()
    if not value:
        return now + timedelta(seconds=default_s)
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        if number > 1_000_000_000:  # an epoch timestamp ("the time at which you may resume")
            return datetime.fromtimestamp(number, UTC)
        return now + timedelta(seconds=max(0.0, number))
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return now + timedelta(seconds=default_s)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RetrySettings:
    attempts: int = 4  # in-client attempts before the job queue takes over
    base_s: float = 0.2
    cap_s: float = 5.0
    max_inline_wait_s: float = 15.0  # a Retry-After longer than this is handed back to the queue

    def delay(self, attempt: int) -> float:
        exp = min(self.cap_s, self.base_s * 2 ** (attempt - 1))
        return exp / 2 + random.uniform(0, exp / 2)


def default_classify(response: httpx.Response, system: str) -> ConnectorError | None:
    """Status-code mapping common to both APIs; connectors refine it (bodies, blank 200)."""
    status = response.status_code
    if status < 300:
        return None
    if status in (401, 403):
        return AuthFailed(f"HTTP {status}: credentials refused")
    if status == 409:
        return Transient("HTTP 409: concurrent update, retry")
    if status in (408, 425, 499) or status >= 500:
        return Transient(f"HTTP {status}")
    return Permanent(f"HTTP {status}", status=status)


class HttpCaller:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        system: str,
        budget,
        classify: Classifier = default_classify,
        retry: RetrySettings | None = None,
        sleep=asyncio.sleep,
    ):
        self.client = client
        self.system = system
        self.budget = budget
        self.classify = classify
        self.retry = retry or RetrySettings()
        self.sleep = sleep

    async def send(
        self,
        build: Callable[[], Awaitable[httpx.Request]],
        *,
        operation: str,
        idempotent: bool,
        buckets: tuple[str, ...] = ("requests",),
        priority: Priority = Priority.NORMAL,
        on_auth_failure: Callable[[], Awaitable[None]] | None = None,
    ) -> httpx.Response:
        """Send with budget, retries and error mapping; returns a successful response or raises.

        ``build`` makes the request afresh for every attempt, so a refreshed token is picked up.
        ``on_auth_failure`` (if given) is called once after a 401/403 to force new credentials.
        """
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            if self.budget is not None and not (attempt == 1 and take_prepaid(self.budget, buckets)):
                await self.budget.acquire(*buckets, priority=priority)
            request = await build()
            started = time.perf_counter()
            try:
                response = await self.client.send(request)
                await response.aread()
            except httpx.TransportError as exc:
                LATENCY.labels(self.system, operation).observe(time.perf_counter() - started)
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
                error = Transient(f"{type(exc).__name__}: {redact(str(exc)) or 'no detail'}")
                CALLS.labels(self.system, operation, "network_error").inc()
                if (idempotent or never_sent) and attempt < self.retry.attempts:
                    await self.sleep(self.retry.delay(attempt))
                    continue
                raise self._named(error, operation) from None
            LATENCY.labels(self.system, operation).observe(time.perf_counter() - started)

            if response.status_code == 429:
                RATE_LIMITED.labels(self.system).inc()
                CALLS.labels(self.system, operation, "rate_limited").inc()
                retry_at = parse_retry_after(response.headers.get("Retry-After"))
                wait = (retry_at - utcnow()).total_seconds()
                if attempt < self.retry.attempts and wait <= self.retry.max_inline_wait_s:
                    log.warning("rate limited, waiting", system=self.system, operation=operation, wait_s=round(wait, 2))
                    await self.sleep(max(0.0, wait))
                    continue
                raise RateLimited("HTTP 429", retry_at=retry_at, system=self.system, operation=operation)

            error = self.classify(response, self.system)
            if error is None:
                CALLS.labels(self.system, operation, "ok").inc()
                return response
            CALLS.labels(self.system, operation, type(error).__name__.lower()).inc()
            if isinstance(error, AuthFailed) and on_auth_failure is not None and not refreshed:
                refreshed = True
                await on_auth_failure()
                continue
            retryable = isinstance(error, Transient) and not isinstance(error, AuthFailed)
            if retryable and idempotent and attempt < self.retry.attempts:
                await self.sleep(self.retry.delay(attempt))
                continue
            raise self._named(error, operation)

    def _named(self, error: ConnectorError, operation: str) -> ConnectorError:
        """Attach system and operation to an error built without them, keeping its class and details."""
        if error.system:
            return error
        error.system, error.operation = self.system, operation
        message = f"{self.system} {operation}: {error.args[0] if error.args else ''}"
        error.args = (redact(message),)
        return error
