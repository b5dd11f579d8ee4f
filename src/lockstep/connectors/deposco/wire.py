"""What a Deposco HTTP response means: success, retry later, or refused (with the fields Deposco named).

Shared by the REST client and the V1 client so both read statuses and bodies the same way:

- 2xx with a blank body (V1's documented failure mode, seen on REST too), truncated JSON or an HTML page →
  ``Transient``: the same request may succeed later; only idempotent calls are retried in place;
- 400/404/405/422 → ``Permanent`` carrying Deposco's messages as ``UserError`` with the field path
  (``salesOrder.shipToContact.lastName``) or ``item.number`` for an unknown item;
- 401/403 → ``AuthFailed`` (the caller forces one token refresh first); 409 and 5xx → ``Transient``.
  429 never gets here: :class:`~lockstep.connectors.http.HttpCaller` handles it before classifying.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from lockstep.connectors.errors import AuthFailed, ConnectorError, Permanent, Transient, describe

from .translate import user_errors
from .values import MalformedPayload, decode_body


def classify(response: httpx.Response, system: str) -> ConnectorError | None:
    status = response.status_code
    if 200 <= status < 300:
        if status == 204:
            return None
        try:
            decode_body(response.content, response.headers.get("content-type", ""))
        except MalformedPayload as exc:
            kind = Transient if exc.transient else Permanent
            return kind(f"HTTP {status} but {exc}")
        return None
    body = _body(response)
    errors = user_errors(body)
    reasons = "; ".join(e.message for e in errors) or describe(response.text or "(empty body)")
    if status in (401, 403):
        return AuthFailed(f"HTTP {status}: {reasons}")
    if status == 409:
        return Transient(f"HTTP 409: {reasons}")
    if status >= 500 or status in (408, 425, 429):
        return Transient(f"HTTP {status}: {reasons}")
    return Permanent(f"HTTP {status}: {reasons}", user_errors=errors, status=status)


def _body(response: httpx.Response) -> Any:
    try:
        return decode_body(response.content, response.headers.get("content-type", ""))
    except MalformedPayload:
        return response.text if len(response.text) < 500 and "<" not in response.text else ""


def decode(response: httpx.Response) -> Any:
    """The body of a response :func:`classify` accepted (it decodes, or classify would have refused it)."""
    if response.status_code == 204 or not response.content.strip():
        return None
    try:
        return decode_body(response.content, response.headers.get("content-type", ""))
    except MalformedPayload as exc:  # pragma: no cover - classify already checked the same bytes
        raise (Transient if exc.transient else Permanent)(str(exc)) from None


def same_origin(href: str, base_url: str) -> str:
    """``href`` (a paging link) pointed at ``base_url``'s scheme and host.

    Links come from the response; following one to another host would hand it our bearer token. A link to a
    foreign host keeps its path and query but is sent to our own API host.
    """
    link, base = urlsplit(href), urlsplit(base_url)
    if not link.scheme and not link.netloc:
        return urlunsplit((base.scheme, base.netloc, link.path, link.query, ""))
    if (link.scheme, link.netloc) == (base.scheme, base.netloc):
        return href
    return urlunsplit((base.scheme, base.netloc, link.path, link.query, ""))
