"""Defensive reading of Deposco payload values, and making text fit Deposco's columns. No field names here.

Deposco's JSON is in part an XML mapping (V1 always, the REST API sometimes): ``{"@nil":"true"}`` for null,
numbers as strings, a single child as an object instead of a list, wrapper objects around lists, and bodies
labelled ``application/xml`` that are JSON (or the reverse). These helpers turn all of that into plain Python
values, so :mod:`.translate` can state *which* fields it reads without repeating *how* to read them, and so a
strange value degrades to "missing" instead of an exception in a flow.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any
from xml.etree import ElementTree as ET


class MalformedPayload(ValueError):
    """A body Lockstep cannot read. ``transient`` = worth retrying (blank, truncated, an HTML error page)."""

    def __init__(self, message: str, *, transient: bool):
        super().__init__(message)
        self.transient = transient


# ---------------------------------------------------------------------------------------------- decoding


def decode_body(content: bytes, content_type: str = "") -> Any:
    """JSON or XML (as nested dicts) by sniffing the body, whatever the content type claims.

    Deposco labels JSON as ``application/xml`` on some V1 endpoints, so the label is only a hint. A blank
    body, an HTML page (a proxy or maintenance page) and truncated JSON are transient: the same request may
    well succeed later. Anything else unreadable is permanent.
    """
    text = content.decode("utf-8", "replace").lstrip("\ufeff").strip()
    if not text:
        raise MalformedPayload("blank response body", transient=True)
    head = text[:200].lower()
    if head.startswith(("<!doctype html", "<html")) or "<html" in head:
        raise MalformedPayload(f"HTML page instead of data: {_snippet(text)}", transient=True)
    if text[0] != "<":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            if text[0] in "{[":  # almost always a body cut short (connection dropped): worth another try
                raise MalformedPayload(f"unreadable JSON ({exc.msg} at {exc.pos})", transient=True) from None
    if text[0] == "<":
        try:
            root = ET.fromstring(text)
        except ET.ParseError as exc:
            raise MalformedPayload(f"unreadable XML ({exc})", transient=True) from None
        return {_local(root.tag): xml_to_dict(root)}
    raise MalformedPayload(
        f"neither JSON nor XML: {_snippet(text)} ({content_type or 'no content type'})", transient=False
    )


def _snippet(text: str) -> str:
    return " ".join(text[:120].split())


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def xml_to_dict(element: ET.Element) -> Any:
    """An element as the JSON mapping Deposco uses: attributes and children as keys, repeats as lists,
    ``xsi:nil`` as ``None``, a leaf as its text."""
    nil = any(_local(k) == "nil" and v in ("true", "1") for k, v in element.attrib.items())
    if nil:
        return None
    children = list(element)
    attributes = {_local(k): v for k, v in element.attrib.items() if not k.startswith("{http://www.w3.org/")}
    if not children and not attributes:
        return (element.text or "").strip()
    result: dict[str, Any] = dict(attributes)
    for child in children:
        key, value = _local(child.tag), xml_to_dict(child)
        if key in result:
            existing = result[key]
            result[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            result[key] = value
    return result


# ---------------------------------------------------------------------------------------------- values


def is_nil(value: Any) -> bool:
    """``None`` or the XML mapping's null marker ``{"@nil": "true"}`` (also ``{"nil": true}``)."""
    if value is None:
        return True
    if isinstance(value, dict) and value:
        marker = value.get("@nil", value.get("@xsi:nil", value.get("nil")))
        return marker in (True, "true", "1") and len(value) <= 2
    return False


def as_dict(value: Any) -> dict:
    """An object, or ``{}`` for anything that is not one (null, a string where an object belongs, …)."""
    return value if isinstance(value, dict) and not is_nil(value) else {}


def as_list(value: Any, *wrappers: str, unwrap_any: bool = False) -> list:
    """A list of rows from a list, a single object, ``{"data": [...]}`` or an XML wrapper (``{"line": [...]}``).

    ``wrappers`` names the wrapper keys to look through; ``unwrap_any`` looks through any object with exactly one
    key holding an object or a list (safe only where a real row always has several keys).
    """
    if is_nil(value) or value == "":
        return []
    if isinstance(value, list):
        return [row for row in value if not is_nil(row)]
    if isinstance(value, dict):
        if "data" in value and isinstance(value["data"], list | dict | type(None)):
            return as_list(value["data"], *wrappers, unwrap_any=unwrap_any)
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key in wrappers or (unwrap_any and isinstance(inner, list | dict)):
                return as_list(inner, *wrappers, unwrap_any=unwrap_any)
        return [value]
    return []


def text(value: Any) -> str:
    """A string value; numbers as their plain form (``15.0`` → ``"15"``); anything else ``""``."""
    if is_nil(value) or isinstance(value, bool):
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dict) and ("#text" in value or "$" in value):
        return text(value.get("#text", value.get("$")))
    return ""


def number(value: Any) -> Decimal | None:
    """A number from a JSON number or a numeric string; ``None`` when missing or not a number."""
    if isinstance(value, bool) or is_nil(value):
        return None
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return Decimal(str(value))
    raw = text(value)
    if not raw:
        return None
    try:
        result = Decimal(raw)
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def units(value: Any, multiplier: int = 1) -> int | None:
    """A whole number of units (pack quantity x pack size); Deposco sends floats like ``15.0``."""
    amount = number(value)
    if amount is None:
        return None
    return int((amount * multiplier).to_integral_value(rounding=ROUND_HALF_EVEN))


def moment(value: Any) -> datetime | None:
    """A timestamp from ISO-8601 (with or without offset; naive means UTC) or epoch seconds/milliseconds."""
    if is_nil(value) or isinstance(value, bool):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        seconds = float(value)
        if seconds > 1e11:  # milliseconds
            seconds /= 1000
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    raw = text(value)
    if not raw:
        return None
    raw = raw.replace("Z", "+00:00").replace(" ", "T", 1)
    raw = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", raw)  # +0100 -> +01:00
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(value: datetime) -> str:
    """UTC ISO-8601 with a ``Z``, the form Deposco's date-time fields and filters accept."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------- fitting text

# Deposco stores text in 3-byte UTF-8 columns: anything beyond the Basic Multilingual Plane (emoji, some rare
# CJK) is refused. Joiners and variation selectors left behind by a removed emoji are removed with it.
_ASTRAL = re.compile(r"[\U00010000-\U0010FFFF]")
_EMOJI_DEBRIS = re.compile(r"[\u200d\ufe0e\ufe0f\u20e3]")


def strip_astral(value: str) -> tuple[str, bool]:
    """``value`` without characters that need 4 UTF-8 bytes; and whether any were removed."""
    if not _ASTRAL.search(value):
        return value, False
    cleaned = _EMOJI_DEBRIS.sub("", _ASTRAL.sub("", value))
    return re.sub(r"\s{2,}", " ", cleaned).strip(), True


def fit(value: str, limit: int) -> tuple[str, list[str]]:
    """``value`` made acceptable for a column of ``limit`` characters, and the reasons it changed.

    Reasons: ``"characters outside 3-byte UTF-8 removed"``, ``"truncated to N characters"``. Text is NFC
    normalised first (canonically equal, and it can only get shorter); that alone is not reported.
    """
    reasons: list[str] = []
    value = unicodedata.normalize("NFC", value).strip()
    value, removed = strip_astral(value)
    if removed:
        reasons.append("characters outside 3-byte UTF-8 removed")
    if len(value) > limit:
        value = value[:limit].rstrip()
        reasons.append(f"truncated to {limit} characters")
    return value, reasons


def split_line(value: str, limit: int) -> tuple[str, str]:
    """Split an over-long address line at the last space that fits: (first part, rest)."""
    cut = value.rfind(" ", 0, limit + 1)
    if cut <= 0:
        cut = limit
    return value[:cut].rstrip(), value[cut:].strip()
