"""Assemble the simulated Centra: state + schema + ``POST /graphql`` + ``/_sim`` control API + faults +
webhooks.

:func:`build_app` returns an ASGI app (run it with :mod:`lockstep.sim.server`). Fault injection wraps the
whole
Starlette app from the outside so an injected connection reset can reach uvicorn's transport.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ariadne import load_schema_from_path, make_executable_schema
from graphql import GraphQLSchema
from starlette.applications import Starlette
from starlette.routing import Route

from lockstep.sim.centra import catalog, snapshot
from lockstep.sim.centra.auth import ApiToken, TokenRegistry
from lockstep.sim.centra.control import routes as control_routes
from lockstep.sim.centra.endpoint import GraphQLEndpoint, operation_key
from lockstep.sim.centra.ratelimit import RateLimiter
from lockstep.sim.centra.resolvers import bindables
from lockstep.sim.centra.resolvers.types import snake_case_resolver
from lockstep.sim.centra.state import CentraState, utcnow
from lockstep.sim.centra.webhooks import WebhookConfig, WebhookDispatcher
from lockstep.sim.faults import FaultMiddleware, FaultPlan

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")
DEFAULT_TOKEN = "lockstep-sim-token"


def build_schema() -> GraphQLSchema:
    """The executable schema; fields without an explicit resolver read snake_case attributes."""
    schema = make_executable_schema(load_schema_from_path(str(SCHEMA_PATH)), *bindables())
    for graphql_type in schema.type_map.values():
        for field in getattr(graphql_type, "fields", {}).values() if hasattr(graphql_type, "interfaces") else ():
            if field.resolve is None:
                field.resolve = snake_case_resolver
    return schema


def _centra_error_body(kind: str, status: int) -> tuple[bytes, str]:
    message = "Internal server error" if status >= 500 else "Conflict"
    return json.dumps({"errors": [{"message": f"{message} (simulated {kind})"}]}).encode(), "application/json"


@dataclass
class CentraSimulator:
    """Everything one simulated Centra environment holds; reachable as ``app.sim``."""

    state: CentraState
    tokens: TokenRegistry
    limiter: RateLimiter
    faults: FaultPlan
    webhooks: WebhookDispatcher
    counters: Counter[str]
    admin_token: str
    snapshot_path: Path | None = None


class CentraApp:
    """The ASGI app: fault injection in front of the Starlette app. ``sim`` exposes the simulator."""

    def __init__(self, sim: CentraSimulator, inner: Starlette) -> None:
        self.sim = sim
        self.inner = inner
        self._asgi = FaultMiddleware(
            inner, sim.faults, lambda _scope, body: operation_key(body), body_for=_centra_error_body
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._asgi(scope, receive, send)


def build_app(
    token: str = DEFAULT_TOKEN,
    *,
    tier: str = "growth",
    seed: int = 0,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    integration_name: str = "lockstep",
    default_topology: bool = True,
    products: int = 0,
    snapshot_path: str | Path | None = None,
    retry_after_format: str = "timestamp",
    rate_limits: bool = True,
    clock: Callable[[], datetime] = utcnow,
    monotonic: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
    faults: FaultPlan | None = None,
    webhook_config: WebhookConfig | None = None,
) -> CentraApp:
    """Build a simulated Centra environment.

    ``token`` is both the Integration API token (integration ``integration_name``, all permissions) and the
    control-API token. ``products`` > 0 seeds a catalog (2 variants x 4 sizes each). ``snapshot_path``: load
    it
    at startup if it exists, write it at shutdown. ``clock``/``monotonic``/``wall`` are injectable for tests.
    """
    state = CentraState(seed=seed, clock=clock)
    snap = Path(snapshot_path) if snapshot_path else None
    if snap is not None and snap.exists():
        snapshot.load(state, json.loads(snap.read_text()))
    else:
        if default_topology:
            catalog.seed_default_topology(state)
        if products:
            catalog.seed_catalog(state, products)
    tokens = TokenRegistry(clock)
    tokens.add(ApiToken(token, integration_name))
    limiter = RateLimiter(tier, clock=monotonic, wall=wall, retry_after_format=retry_after_format, enabled=rate_limits)
    config = webhook_config or WebhookConfig()
    if webhook_url:
        config.url, config.secret = webhook_url, webhook_secret
    dispatcher = WebhookDispatcher(config, seed)
    state.change_listeners.append(dispatcher.submit)
    sim = CentraSimulator(state, tokens, limiter, faults or FaultPlan(seed=seed), dispatcher, Counter(), token, snap)
    endpoint = GraphQLEndpoint(build_schema(), state, tokens, limiter, sim.counters)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await dispatcher.start()
        try:
            yield
        finally:
            await dispatcher.stop()
            if snap is not None:
                snap.write_text(json.dumps(snapshot.dump(state)))

    inner = Starlette(
        routes=[Route("/graphql", endpoint.handle, methods=["POST"]), *control_routes(sim)], lifespan=lifespan
    )
    return CentraApp(sim, inner)
