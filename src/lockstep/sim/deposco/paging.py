"""Deposco collection paging: ``{data, links, complete, pages}``, id-descending, keyset ``searchId`` links.

A ``next`` link carries only a ``searchId``: base64 of the keyset bound plus every filter and the page size
(``maxId|lt|202756|innerJoin&number|eq|X|innerJoin&pageSize|eq|25``), as the real API does, so following links
never needs the original query. Nested collections inside a DTO are a different animal: they stop at 10 rows
with empty ``links`` (see :func:`nested`), which is the trap that forces clients onto the line sub-resources.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from .errors import bad_request

NESTED_CAP = 10


@dataclass
class PageQuery:
    filters: dict[str, str]
    page_size: int
    bound: tuple[str, int] | None = None  # ("maxId", id) = rows below id; ("minId", id) = rows above id
    extra: dict[str, str] = field(default_factory=dict)


def parse_query(params: Mapping[str, str], allowed: Sequence[str], default_size: int, max_size: int) -> PageQuery:
    """Read paging and filters from the query; names not in ``allowed`` are ignored, as Deposco does."""
    search_id = params.get("searchId")
    if search_id:
        return _decode(search_id, max_size)
    filters = {name: params[name] for name in allowed if params.get(name) not in (None, "")}
    return PageQuery(filters=filters, page_size=_page_size(params.get("pageSize"), default_size, max_size))


def _page_size(raw: str | None, default: int, cap: int) -> int:
    if raw in (None, ""):
        return default
    try:
        size = int(raw)
    except ValueError:
        raise bad_request(f"pageSize must be an integer, got [{raw}]") from None
    if size < 1:
        raise bad_request("pageSize must be greater than or equal to 1")
    return min(size, cap)


def _encode(query: PageQuery, bound: tuple[str, int], pages: int) -> str:
    op = "lt" if bound[0] == "maxId" else "gt"
    parts = [f"{bound[0]}|{op}|{bound[1]}"]
    parts += [f"{quote(k, safe='.')}|eq|{quote(v, safe='')}" for k, v in query.filters.items()]
    parts += [f"pageSize|eq|{query.page_size}", f"totalPages|eq|{pages}"]
    raw = "|innerJoin&".join(parts)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(search_id: str, max_size: int) -> PageQuery:
    try:
        raw = base64.urlsafe_b64decode(search_id + "=" * (-len(search_id) % 4)).decode()
        query = PageQuery(filters={}, page_size=max_size)
        for part in raw.split("&"):
            key, _op, value = part.split("|")[:3]
            key, value = unquote(key), unquote(value)
            if key in ("maxId", "minId"):
                query.bound = (key, int(value))
            elif key == "pageSize":
                query.page_size = min(int(value), max_size)
            elif key != "totalPages":
                query.filters[key] = value
        return query
    except (ValueError, UnicodeDecodeError):
        raise bad_request(f"Invalid searchId [{search_id}]") from None


def paginate(
    rows: Sequence[Any],
    query: PageQuery,
    href: str,
    render: Callable[[Any], dict],
    row_id: Callable[[Any], int] = lambda r: r.id,
) -> dict[str, Any]:
    """One page of ``rows`` (already filtered), sorted by id descending, with prev/next keyset links."""
    ordered = sorted(rows, key=row_id, reverse=True)
    size = query.page_size
    pages = max(1, math.ceil(len(ordered) / size))
    if query.bound is None:
        page = ordered[:size]
    elif query.bound[0] == "maxId":
        page = [r for r in ordered if row_id(r) < query.bound[1]][:size]
    else:
        page = [r for r in ordered if row_id(r) > query.bound[1]][-size:]
    links: list[dict[str, str]] = []
    sep = "&" if "?" in href else "?"
    if page and any(row_id(r) > row_id(page[0]) for r in ordered):
        search_id = _encode(query, ("minId", row_id(page[0])), pages)
        links.append({"rel": "prev", "href": f"{href}{sep}searchId={search_id}"})
    has_next = bool(page) and any(row_id(r) < row_id(page[-1]) for r in ordered)
    if has_next:
        search_id = _encode(query, ("maxId", row_id(page[-1])), pages)
        links.append({"rel": "next", "href": f"{href}{sep}searchId={search_id}"})
    return {"data": [render(r) for r in page], "links": links, "complete": not has_next, "pages": pages}


def nested(
    rows: Sequence[Any], render: Callable[[Any], dict], row_id: Callable[[Any], int] = lambda r: r.id
) -> dict[str, Any]:
    """An embedded collection: at most 10 rows, no links to the rest (``complete`` tells the truth)."""
    ordered = sorted(rows, key=row_id)
    shown = ordered[:NESTED_CAP]
    return {
        "data": [render(r) for r in shown],
        "links": [],
        "complete": len(ordered) <= NESTED_CAP,
        "pages": max(1, math.ceil(len(ordered) / NESTED_CAP)),
    }
