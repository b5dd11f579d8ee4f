"""The front door every request passes: name the operation, count it, apply the account-wide throttle.

Operation keys are ``"<METHOD> <route template>"`` without the ``/latest`` prefix (``"POST
/orders/salesOrders"``, ``"GET /integration/{code}/enterpriseinventory/{bu}/availability"``); the same keys
select per-operation faults. The throttle answers ``429`` with an **empty body** (and ``Retry-After`` only
when configured), as Deposco does. The token endpoint and the ``/_sim`` control API are not throttled: they
are not part of the API budget.
"""

from __future__ import annotations

from typing import Any

from .context import Sim

Scope = dict[str, Any]


class OperationTable:
    """Map a request to its route template, using the routers' own path regexes (no FastAPI internals)."""

    def __init__(self, routers: list[Any]) -> None:
        self._routes = [
            (method, route.path_regex, route.path)
            for router in routers
            for route in router.routes
            for method in route.methods
        ]

    def key(self, scope: Scope) -> str:
        method, path = scope.get("method", "GET"), scope["path"]
        for route_method, regex, template in self._routes:
            if route_method == method and regex.match(path):
                return f"{method} {template.removeprefix('/latest')}"
        return f"{method} {path.removeprefix('/latest')}"


def throttled(path: str) -> bool:
    return path.startswith("/latest") or path.startswith("/integration/")


class Gate:
    def __init__(self, app: Any, sim: Sim, operations: OperationTable) -> None:
        self.app = app
        self.sim = sim
        self.operations = operations

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = self.operations.key(scope)
        scope.setdefault("state", {})["operation"] = key
        counters = self.sim.counters
        counters.call(key)
        if throttled(scope["path"]) and not self.sim.throttle.try_acquire():
            counters.event("throttled429")
            counters.status(key, 429)
            headers = [(b"content-length", b"0")]
            if self.sim.throttle.retry_after is not None:
                headers.append((b"retry-after", str(int(self.sim.throttle.retry_after)).encode()))
            await send({"type": "http.response.start", "status": 429, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def counting_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                counters.status(key, message["status"])
                if message["status"] == 409:
                    counters.event("conflicts409")
            await send(message)

        await self.app(scope, receive, counting_send)
