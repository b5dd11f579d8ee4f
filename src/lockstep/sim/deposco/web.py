"""Small HTTP helpers shared by the route modules: the Sim from the request, JSON in/out, auth, filters."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from .clock import ms, parse_iso
from .context import Sim
from .dto import Renderer
from .errors import DeposcoError, bad_request
from .paging import PageQuery, paginate, parse_query


def sim(request: Request) -> Sim:
    return request.app.state.sim


def renderer(request: Request) -> Renderer:
    return Renderer(sim(request).state, f"{str(request.base_url).rstrip('/')}/latest")


def require(request: Request, scope: str) -> None:
    """Bearer auth for ``/latest``: 401 missing/expired, 403 wrong scope."""
    sim(request).auth.check_bearer(request.headers.get("authorization"), scope)


async def read_json(request: Request) -> Any:
    body = await request.body()
    if not body.strip():
        raise bad_request("Required request body is missing")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"JSON parse error: {exc}") from None


def ok(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)


def parse_id(raw: str, what: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise DeposcoError(404, f"{what} with id = [{raw}]") from None


def find(rows: Iterable[Any], raw_id: str, what: str) -> Any:
    """The row of a sub-collection (packs, order lines, shipment lines) whose id is ``raw_id``, else a 404."""
    row = next((r for r in rows if str(r.id) == raw_id), None)
    if row is None:
        raise DeposcoError(404, f"{what} with id = [{raw_id}]")
    return row


def after(value: str, name: str) -> float:
    try:
        return parse_iso(value)
    except ValueError:
        raise bad_request(f"Invalid date-time for {name}: [{value}]") from None


def matches(attrs: Mapping[str, Any], filters: Mapping[str, str]) -> bool:
    """Apply Deposco list filters: ``…After`` are strict "later than" filters, the rest exact matches."""
    for name, wanted in filters.items():
        actual = attrs.get(name)
        if name.endswith("After"):
            if actual is None or ms(actual) <= ms(after(wanted, name)):
                return False
        elif actual is None or str(actual) != wanted:
            return False
    return True


def listing(
    request: Request,
    rows: Iterable[Any],
    attrs: Callable[[Any], Mapping[str, Any]],
    allowed: tuple[str, ...],
    default_size: int,
    max_size: int,
    render: Callable[[Any], dict],
) -> JSONResponse:
    """Filter + page one collection; unknown query parameters are ignored, exactly like the real API."""
    query: PageQuery = parse_query(request.query_params, allowed, default_size, max_size)
    for name in query.filters:
        if name.endswith("After"):
            after(query.filters[name], name)  # a malformed date is a 400 even when nothing matches
    selected = [r for r in rows if matches(attrs(r), query.filters)]
    href = f"{str(request.base_url).rstrip('/')}{request.url.path}"
    return ok(paginate(selected, query, href, render))


def empty(status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, headers=headers)
