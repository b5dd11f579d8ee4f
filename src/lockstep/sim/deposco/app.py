"""Assemble the Deposco simulator ASGI app: routes, error shapes, gate (counting + throttle), faults.

Layering, outermost first: :class:`~.gate.Gate` (operation key, counters, account-wide 429) →
:class:`lockstep.sim.faults.FaultMiddleware` (5xx, slow, reset, blank 200, 409, latency per operation) →
FastAPI routes, which call the state module. Errors leave as Deposco's ``{"errors":[{"errorMessage": …}]}``.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lockstep.sim.faults import CONFLICT_409, FaultMiddleware

from . import routes_control, routes_items, routes_oauth, routes_orders, routes_shipments, routes_v1
from .context import DeposcoSimConfig, Sim
from .errors import CONCURRENT_UPDATE, DeposcoError, error_body
from .gate import Gate, OperationTable


def _fault_body(kind: str, status: int) -> tuple[bytes, str]:
    message = CONCURRENT_UPDATE if kind == CONFLICT_409 else f"HTTP {status}: simulated server error"
    return json.dumps(error_body(message)).encode(), "application/json"


def _exempt(scope: dict[str, Any]) -> bool:
    path = str(scope.get("path", ""))
    return path.startswith("/_sim")


def build_app(config: DeposcoSimConfig | None = None, **overrides: Any) -> Gate:
    """Build a ready-to-serve simulator; ``overrides`` are :class:`DeposcoSimConfig` fields.

    Returns the ASGI app (a :class:`~.gate.Gate`); its ``.sim`` is the live :class:`~.context.Sim` (state,
    counters, faults, throttle), so in-process callers can inspect the truth without HTTP.
    """
    if config is None:
        config = DeposcoSimConfig(**overrides)
    elif overrides:
        raise TypeError("pass either a config or overrides, not both")
    sim = Sim(config)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        await sim.start()
        try:
            yield
        finally:
            await sim.stop()

    api = FastAPI(title="Deposco simulator", openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)
    api.state.sim = sim
    routers = [
        m.router for m in (routes_oauth, routes_items, routes_orders, routes_shipments, routes_v1, routes_control)
    ]
    for router in routers:
        api.include_router(router)

    @api.exception_handler(DeposcoError)
    async def deposco_error(request: Request, exc: DeposcoError) -> JSONResponse:
        headers = None
        if exc.status == 401 and request.url.path.startswith("/integration/"):
            headers = {"WWW-Authenticate": 'Basic realm="integration"'}
        return JSONResponse(error_body(exc.message), status_code=exc.status, headers=headers)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(error_body(str(exc.detail)), status_code=exc.status_code)

    @api.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(f"Bad request: {exc.errors()[0].get('msg')}"), status_code=400)

    faulted = FaultMiddleware(
        api,
        sim.faults,
        key_for=lambda scope, _body: scope["state"]["operation"],
        body_for=_fault_body,
        exempt=_exempt,
    )
    return Gate(faulted, sim, OperationTable(routers))
