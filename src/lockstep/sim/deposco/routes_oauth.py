"""``POST /oauth2/token``: Deposco's token endpoint (auth.deposco.com), served on the simulator's own port."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request

from .auth import OAuthError
from .web import ok, sim

router = APIRouter()


@router.post("/oauth2/token", name="oauth.token")
async def token(request: Request):
    body = (await request.body()).decode("utf-8", "replace")
    form = dict(parse_qsl(body, keep_blank_values=True))
    try:
        return ok(sim(request).auth.grant(form, request.headers.get("authorization")))
    except OAuthError as exc:
        return ok({"error": exc.error, "error_description": exc.description}, exc.status)
