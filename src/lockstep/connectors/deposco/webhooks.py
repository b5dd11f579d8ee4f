"""Deposco shipment webhooks: unsigned hints, optionally guarded by a shared secret or HTTP Basic auth.

Deposco signs nothing (a signature was "pending development"), so a notification is never trusted for its
content: it only says *which* shipment to re-fetch through the API, and polling continues regardless. When a
brand configures a secret (``deposco.webhook_secret_env``), the receiver requires it either in a header
(``X-Lockstep-Webhook-Secret`` by default, set up as a custom header in Deposco) or as the password of HTTP Basic
auth (``https://lockstep:<secret>@…`` in the callback URL). Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable, Mapping

from .translate import ShipmentHint, shipment_hints
from .values import MalformedPayload, decode_body

SECRET_HEADER = "x-lockstep-webhook-secret"


class WebhookRejected(Exception):
    """The call did not carry the configured secret; the message says why without echoing any secret."""


def verify(headers: Mapping[str, str], secrets: Iterable[str], *, header: str = SECRET_HEADER) -> None:
    """Accept the call if it presents one of ``secrets`` (header or Basic password); no secrets: accept.

    Several secrets may be given so one can be rotated without dropping notifications.
    """
    expected = [s.encode() for s in secrets if s]
    if not expected:
        return
    lowered = {k.lower(): v for k, v in headers.items()}
    presented: list[bytes] = []
    if lowered.get(header.lower()):
        presented.append(lowered[header.lower()].strip().encode())
    password = _basic_password(lowered.get("authorization", ""))
    if password is not None:
        presented.append(password)
    if not presented:
        raise WebhookRejected("no webhook secret presented (header or basic auth)")
    valid = False
    for given in presented:  # every comparison runs: no early exit that tells which secret matched
        for secret in expected:
            valid |= hmac.compare_digest(given, secret)
    if not valid:
        raise WebhookRejected("webhook secret does not match")


def _basic_password(value: str) -> bytes | None:
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    _, sep, password = decoded.partition(b":")
    return password if sep else None


def parse_hints(raw_body: bytes, content_type: str = "") -> list[ShipmentHint]:
    """The shipments a notification is about (id and/or number), to re-fetch; ValueError if there are none.

    Accepts the V1 ``ShipmentType`` mapping in JSON or XML and a REST shipment DTO.
    """
    try:
        payload = decode_body(raw_body, content_type)
    except MalformedPayload as exc:
        raise ValueError(f"unreadable webhook body: {exc}") from None
    hints = shipment_hints(payload)
    if not hints:
        raise ValueError("webhook body names no shipment (no id or shipmentNumber)")
    return hints
