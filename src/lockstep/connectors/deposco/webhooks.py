"""Deposco webhooks: unsigned hints, optionally guarded by a shared secret or HTTP Basic auth.

Deposco signs nothing (a signature was "pending development"), so a notification is never trusted for its
content: it only says *which* shipment to re-fetch, or *which* items' stock to re-read, through the API, and
polling continues regardless. Shipment notifications are documented; stock notifications (an inventory
adjustment or notice activity, in Deposco's V1 shapes) are accepted in the same way for a tenant that sends them. When a
brand configures a secret (``deposco.webhook_secret_env``), the receiver requires it either in a header
(``X-Lockstep-Webhook-Secret`` by default, set up as a custom header in Deposco) or as the password of HTTP Basic
auth (``https://lockstep:<secret>@…`` in the callback URL). Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .translate import ShipmentHint, StockHint, shipment_hints, stock_hints
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


@dataclass(frozen=True)
class Notification:
    """What a webhook call is about: shipments to re-fetch, or items whose stock to re-read."""

    shipments: tuple[ShipmentHint, ...] = ()
    stock: tuple[StockHint, ...] = ()


def parse_notification(raw_body: bytes, content_type: str = "") -> Notification:
    """The shipments or items a notification names; ValueError if it names neither.

    A stock notice is recognised first (a REST adjustment has an id too, which would read as a shipment's)."""
    try:
        payload = decode_body(raw_body, content_type)
    except MalformedPayload as exc:
        raise ValueError(f"unreadable webhook body: {exc}") from None
    stock = stock_hints(payload)
    if stock:
        return Notification(stock=tuple(stock))
    shipments = shipment_hints(payload)
    if not shipments:
        raise ValueError("webhook body names no shipment (no id or shipmentNumber) and no item")
    return Notification(shipments=tuple(shipments))
