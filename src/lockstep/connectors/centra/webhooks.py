"""Verifying Centra's webhook signature: ``X-Centra-Signature: t=<unix ts>,v1=<hex>``.

``v1`` is HMAC-SHA256 keyed with the endpoint secret over ``"<t>." + raw body``, where the raw body is the
url-encoded ``payload=…`` string exactly as received (not the decoded JSON). We compare in constant time, refuse
timestamps outside a replay window (default 5 minutes either way), and accept any of several secrets so a secret
can be rotated without dropping webhooks in between. Reading the payload is ``translate.webhook_notices``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

REPLAY_WINDOW_S = 300


class InvalidSignature(Exception):
    """The webhook cannot be trusted; the message says why (never echoing a secret)."""


def sign(secret: str, timestamp: int | str, raw_body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + raw_body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, raw_body: bytes) -> str:
    return f"t={timestamp},v1={sign(secret, timestamp, raw_body)}"


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise InvalidSignature("signature timestamp is not a number") from None
        elif key == "v1" and value:
            signatures.append(value.lower())
    if timestamp is None or not signatures:
        raise InvalidSignature("signature header lacks t= or v1=")
    return timestamp, signatures


def verify(
    header: str | None,
    raw_body: bytes,
    secrets: Iterable[str],
    *,
    now: float,
    window_s: float = REPLAY_WINDOW_S,
) -> int:
    """Return the signed timestamp if ``header`` is a valid, fresh signature of ``raw_body``; else raise."""
    if not header:
        raise InvalidSignature("missing X-Centra-Signature header")
    timestamp, signatures = _parse(header)
    if abs(now - timestamp) > window_s:
        raise InvalidSignature(f"signature timestamp outside the {window_s:g} s replay window")
    candidates = [sign(secret, timestamp, raw_body) for secret in secrets if secret]
    if not candidates:
        raise InvalidSignature("no webhook secret configured for this brand")
    valid = False
    for expected in candidates:  # compare against every secret: no early exit that leaks which one matched
        for given in signatures:
            valid |= hmac.compare_digest(expected, given)
    if not valid:
        raise InvalidSignature("signature does not match")
    return timestamp
