"""List paging (``limit``/``page``) and Relay connections (``first``/``after``/``last``/``before``).

Cursors encode the sort key of the row they point at (keyset paging), so they stay valid while rows are added
or change: a client syncing with ``after`` never skips or repeats rows that did not move.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from graphql import GraphQLError

MAX_LIMIT = 200
DEFAULT_LIMIT = 20


def page_list(items: list[Any], limit: int | None, page: int | None) -> list[Any]:
    limit = DEFAULT_LIMIT if limit is None else limit
    page = 1 if page is None else page
    if not 1 <= limit <= MAX_LIMIT:
        raise GraphQLError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if page < 1:
        raise GraphQLError(f"page must be >= 1, got {page}")
    start = (page - 1) * limit
    return items[start : start + limit]


def encode_cursor(key: tuple[float, ...]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def decode_cursor(cursor: str) -> tuple[float, ...]:
    try:
        return tuple(json.loads(base64.urlsafe_b64decode(cursor.encode())))
    except (ValueError, TypeError) as exc:
        raise GraphQLError(f"Invalid cursor {cursor!r}") from exc


def connection(
    items: list[Any],
    key: Callable[[Any], tuple[float, ...]],
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> dict[str, Any]:
    """A Relay connection over ``items`` already sorted by ``key`` (ascending in key space)."""
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= MAX_LIMIT:
            raise GraphQLError(f"{name} must be between 0 and {MAX_LIMIT}, got {value}")
    keyed = [(key(item), item) for item in items]
    window = keyed
    if after is not None:
        after_key = decode_cursor(after)
        window = [(k, i) for k, i in window if k > after_key]
    if before is not None:
        before_key = decode_cursor(before)
        window = [(k, i) for k, i in window if k < before_key]
    has_next = has_previous = False
    if first is None and last is None:
        first = DEFAULT_LIMIT
    if first is not None and len(window) > first:
        window, has_next = window[:first], True
    if last is not None and len(window) > last:
        window, has_previous = window[-last:], True
    if window:
        has_previous = has_previous or keyed[0][0] < window[0][0]
        has_next = has_next or keyed[-1][0] > window[-1][0]
    edges = [{"cursor": encode_cursor(k), "node": i} for k, i in window]
    return {
        "totalCount": len(items),
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
        "edges": edges,
    }
