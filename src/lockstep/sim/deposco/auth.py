"""OAuth2 for ``/latest`` and HTTP Basic for V1, as Deposco does them.

Access tokens come from ``POST /oauth2/token`` (client credentials with Basic auth, or the long-lived refresh
token an app install hands out) and expire after ``ttl`` simulated seconds, so Lockstep's refresh logic is
exercised for real: an expired token gets a 401, a token without the resource's scope a 403.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from .clock import SimClock
from .errors import DeposcoError

RESOURCES = (
    "items",
    "facilities",
    "salesOrders",
    "outboundShipments",
    "inventory",
    "inventoryAdjustments",
    "companies",
)
ALL_SCOPES = frozenset(f"{r}/{m}" for r in RESOURCES for m in ("read", "write"))


@dataclass
class Token:
    value: str
    expires_at: float
    scopes: frozenset[str] = field(default_factory=lambda: ALL_SCOPES)


class OAuthError(Exception):
    """Token-endpoint failure; rendered as an RFC 6749 ``{"error", "error_description"}`` body."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def parse_basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class Authority:
    def __init__(
        self,
        client_id: str,
        client_secret: str,
        clock: SimClock,
        ttl: float = 3600.0,
        refresh_token: str | None = None,
        seed: int = 0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock = clock
        self.ttl = ttl
        digest = hashlib.sha256(f"{client_id}:{seed}".encode()).hexdigest()[:32]
        self.refresh_token = refresh_token or f"rt-{digest}"
        self.tokens: dict[str, Token] = {}
        self.issued = 0

    def credentials_ok(self, client_id: str | None, client_secret: str | None) -> bool:
        return (
            client_id is not None
            and client_secret is not None
            and hmac.compare_digest(client_id.encode(), self.client_id.encode())
            and hmac.compare_digest(client_secret.encode(), self.client_secret.encode())
        )

    def basic_ok(self, header: str | None) -> bool:
        pair = parse_basic(header)
        return pair is not None and self.credentials_ok(*pair)

    def grant(self, form: dict[str, str], authorization: str | None) -> dict:
        """Handle one token request; the form is what ``application/x-www-form-urlencoded`` carried."""
        if "businessUnitId" in form:
            raise OAuthError(400, "invalid_request", "Invalid business unit id")
        grant_type = form.get("grant_type")
        pair = parse_basic(authorization) or (form.get("client_id"), form.get("client_secret"))
        if grant_type == "client_credentials":
            if not self.credentials_ok(*pair):
                raise OAuthError(401, "invalid_client", "Client authentication failed")
            scopes = self._scopes(form.get("scope"))
        elif grant_type == "refresh_token":
            if not self.credentials_ok(*pair):
                raise OAuthError(401, "invalid_client", "Client authentication failed")
            if not hmac.compare_digest((form.get("refresh_token") or "").encode(), self.refresh_token.encode()):
                raise OAuthError(400, "invalid_grant", "Invalid refresh token")
            scopes = ALL_SCOPES
        else:
            raise OAuthError(400, "unsupported_grant_type", f"Unsupported grant type [{grant_type}]")
        token = Token(value=secrets.token_urlsafe(24), expires_at=self.clock.now() + self.ttl, scopes=scopes)
        self.tokens[token.value] = token
        self.issued += 1
        return {
            "access_token": token.value,
            "token_type": "Bearer",
            "expires_in": int(self.ttl),
            "refresh_token": self.refresh_token,
            "scope": " ".join(sorted(scopes)),
        }

    @staticmethod
    def _scopes(raw: str | None) -> frozenset[str]:
        if not raw:
            return ALL_SCOPES
        requested = frozenset(raw.replace(",", " ").split())
        unknown = requested - ALL_SCOPES
        if unknown:
            raise OAuthError(400, "invalid_scope", f"Unknown scope(s): {' '.join(sorted(unknown))}")
        return requested

    def check_bearer(self, authorization: str | None, scope: str) -> Token:
        """401 for a missing, unknown or expired token; 403 when the token lacks ``scope``."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise DeposcoError(401, "Full authentication is required to access this resource")
        token = self.tokens.get(authorization[7:].strip())
        if token is None:
            raise DeposcoError(401, "Invalid access token")
        if token.expires_at <= self.clock.now():
            raise DeposcoError(401, "Access token expired")
        if scope not in token.scopes:
            raise DeposcoError(403, f"Insufficient scope: {scope} is required")
        return token

    def expire_all(self) -> int:
        """Control hook: every issued access token expires now (the next call must refresh)."""
        now = self.clock.now()
        for token in self.tokens.values():
            token.expires_at = min(token.expires_at, now)
        return len(self.tokens)
