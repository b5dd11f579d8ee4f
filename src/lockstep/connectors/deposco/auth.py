"""OAuth2 access tokens for Deposco's REST API, shared by every coroutine of a brand.

Tokens come from ``POST https://auth.deposco.com/oauth2/token`` (form-encoded): either the client-credentials
grant with the client id and secret as HTTP Basic auth (what live integrations use, with the business unit as
``company``), or the refresh-token grant with the long-lived refresh token an app install hands out. An access
token lives about an hour.

Why a manager: many coroutines (and the V1 reads) call Deposco at once. Each asking for its own token would
multiply token requests and race; instead one :class:`TokenManager` per brand refreshes *before* expiry, one
refresh at a time under an :class:`asyncio.Lock`, and callers that queued behind a refresh take its result
(or its error) instead of starting their own. A 401 forces a refresh, but only if the token that failed is
still the current one, so a burst of 401s from one expired token costs a single refresh.

Token values, the client secret and the refresh token are registered for redaction; nothing here logs them.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from lockstep.config.secrets import register_secret
from lockstep.connectors.errors import AuthFailed, ConnectorError, Permanent, Transient, describe
from lockstep.connectors.http import HttpCaller, RetrySettings

from . import values
from .translate import user_errors

log = structlog.get_logger("lockstep.connectors.deposco")

# What Lockstep reads and writes; the refresh-token grant carries the scopes of the installed application.
DEFAULT_SCOPES = (
    "items/read",
    "items/write",
    "facilities/read",
    "salesOrders/read",
    "salesOrders/write",
    "outboundShipments/read",
)
# Asked for only by a brand that reads the adjustment feed (``inventory.adjustments_seconds``): an application not
# granted a scope it asks for may be refused a token altogether.
ADJUSTMENTS_SCOPE = "inventoryAdjustments/read"


def scopes_for(topology: Any) -> tuple[str, ...]:
    """The scopes a brand's token asks for: the defaults, plus the adjustment feed's when the brand reads it."""
    extra = (ADJUSTMENTS_SCOPE,) if topology.inventory.adjustments_seconds > 0 else ()
    return DEFAULT_SCOPES + extra


DEFAULT_TTL_S = 3600.0  # when the token response has no usable expires_in
MAX_EARLY_S = 300.0  # refresh at most this long before expiry ...
EARLY_FRACTION = 0.2  # ... and at most this share of the lifetime before it (short-lived tokens)


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_at: float  # on the manager's clock
    refresh_at: float


def _classify_token(response: httpx.Response, system: str) -> ConnectorError | None:
    """The token endpoint answers RFC 6749 errors: bad client or grant → AuthFailed, bad request → Permanent."""
    status = response.status_code
    if status == 200:
        try:
            values.decode_body(response.content, response.headers.get("content-type", ""))
        except values.MalformedPayload as exc:  # a blank or cut-off answer: ask again
            return (Transient if exc.transient else Permanent)(f"token response: {exc}")
        return None
    if status >= 500 or status in (408, 429):
        return Transient(f"token endpoint HTTP {status}")
    try:
        body = values.decode_body(response.content)
    except values.MalformedPayload:
        body = response.text
    error = body.get("error", "") if isinstance(body, dict) else ""
    reasons = "; ".join(e.message for e in user_errors(body)) or describe(response.text)
    if status in (401, 403) or error in ("invalid_client", "invalid_grant", "unauthorized_client"):
        return AuthFailed(f"token request refused (HTTP {status} {error}): {reasons}")
    return Permanent(f"token request rejected (HTTP {status}): {reasons}", user_errors=user_errors(body), status=status)


def basic_auth(username: str, password: str) -> str:
    """An HTTP Basic ``Authorization`` value, registered for redaction (it is the password, encoded)."""
    value = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    register_secret(value.removeprefix("Basic "))
    return value


class TokenManager:
    """One per brand: hands out a valid bearer token, refreshing before expiry and on demand (after a 401)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str | None = None,
        company: str | None = None,
        environment: str | None = None,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        clock: Callable[[], float] = time.monotonic,
        retry: RetrySettings | None = None,
    ):
        for secret in (client_secret, refresh_token):
            register_secret(secret)
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._company = company
        self._environment = environment
        self._scopes = tuple(scopes)
        self._clock = clock
        # The token endpoint is not part of the API's request budget; it has its own, gentle retries.
        self._caller = HttpCaller(http, system="deposco", budget=None, classify=_classify_token, retry=retry)
        self._lock = asyncio.Lock()
        self._current: AccessToken | None = None
        self._generation = 0  # bumped by every completed refresh attempt (success or failure)
        self._failure: ConnectorError | None = None
        self.refreshes = 0  # successful token requests, for tests and metrics

    async def token(self) -> str:
        """A bearer token that is valid now and not about to expire."""
        current = self._current
        if current is not None and self._clock() < current.refresh_at:
            return current.value
        try:
            return await self._refresh(stale=current.value if current else None)
        except ConnectorError:
            current = self._current  # an early refresh failed: the old token is still good until it expires
            if current is not None and self._clock() < current.expires_at:
                return current.value
            raise

    async def force_refresh(self, stale: str | None) -> str:
        """Replace ``stale`` (the token a request was refused with); a no-op if it was already replaced."""
        return await self._refresh(stale=stale, forced=True)

    async def _refresh(self, *, stale: str | None, forced: bool = False) -> str:
        seen = self._generation
        async with self._lock:
            current = self._current
            if current is not None and current.value != stale and self._clock() < current.refresh_at:
                return current.value  # refreshed while we waited
            if self._generation != seen and self._failure is not None:
                raise self._failure  # the refresh we waited for failed: do not hammer the endpoint
            try:
                self._current = await self._request()
                self._failure = None
            except ConnectorError as exc:
                self._failure = exc
                if forced or current is None or self._clock() >= current.expires_at:
                    self._current = None
                raise
            finally:
                self._generation += 1
            return self._current.value

    async def _request(self) -> AccessToken:
        if self._refresh_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": self._refresh_token,
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            }
            headers = {"Accept": "application/json"}
        else:
            form = {"grant_type": "client_credentials", "scope": " ".join(self._scopes)}
            if self._company:
                form["company"] = self._company
            if self._environment:
                form["env"] = self._environment
            headers = {"Accept": "application/json", "Authorization": basic_auth(self._client_id, self._client_secret)}

        async def build() -> httpx.Request:
            return self._caller.client.build_request("POST", self._token_url, data=form, headers=headers)

        started = self._clock()
        response = await self._caller.send(build, operation="oauth2.token", idempotent=True)
        try:
            body = values.decode_body(response.content, response.headers.get("content-type", ""))
        except values.MalformedPayload as exc:
            raise (Transient if exc.transient else Permanent)(f"token response: {exc}") from None
        value = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            raise Permanent(
                f"token response without access_token: {describe(list(body)[:10] if isinstance(body, dict) else body)}"
            )
        register_secret(value)
        renewed = body.get("refresh_token")
        if self._refresh_token and isinstance(renewed, str) and renewed and renewed != self._refresh_token:
            register_secret(renewed)
            self._refresh_token = renewed
        ttl = values.number(body.get("expires_in"))
        ttl_s = float(ttl) if ttl is not None and ttl > 0 else DEFAULT_TTL_S
        early = min(MAX_EARLY_S, ttl_s * EARLY_FRACTION)
        self.refreshes += 1
        log.info("deposco token acquired", expires_in_s=round(ttl_s), grant=form["grant_type"])
        return AccessToken(value, started + ttl_s, started + ttl_s - early)
