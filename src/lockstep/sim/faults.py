"""Generic, deterministic fault injection for the simulators.

Real APIs fail in unpleasant ways and Lockstep must survive all of them: 5xx errors, responses slower than the
client's timeout, connection resets, a blank ``200``, ``409`` conflicts, and ordinary latency. A
:class:`FaultPlan`
decides, per request, which (if any) of these happens. Decisions are keyed by an *operation key* — any string
the
simulator derives from the request (Centra: the GraphQL root field such as ``"setStock"``; Deposco: e.g.
``"POST /orders/salesOrders"``) — so faults can target one operation without touching the others.

Determinism: all draws come from one ``random.Random(seed)``, so the same seed and the same sequence of
requests
give the same faults (concurrent requests interleave in arrival order, which is as deterministic as the
client).

Run-time changes: :meth:`FaultPlan.configure` accepts the same JSON the control APIs (``/_sim/faults``)
expose, so
tests and scenarios can switch faults on and off while a server runs.

JSON shape (every field optional; probabilities are 0..1 and the fault kinds of one rule must sum to <= 1)::

    {"seed": 7,
     "default": {"latency_mean": 0.05, "latency_jitter": 0.02},
     "operations": {"setStock": {"error_5xx": 0.1, "error_status": 503},
                    "createShipment": {"reset": 0.05, "slow": 0.05, "slow_seconds": 8}}}

:class:`FaultMiddleware` applies a plan to any ASGI app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

NONE = "none"
ERROR_5XX = "error_5xx"
SLOW = "slow"
RESET = "reset"
BLANK_200 = "blank_200"
CONFLICT_409 = "conflict_409"
#: Fault kinds in the order they are drawn from one uniform number (mutually exclusive per request).
FAULT_KINDS = (RESET, ERROR_5XX, CONFLICT_409, BLANK_200, SLOW)


@dataclass
class FaultRule:
    """Probabilities and parameters of the faults for one operation key (or the default)."""

    error_5xx: float = 0.0
    error_status: int = 503
    slow: float = 0.0
    slow_seconds: float = 10.0
    reset: float = 0.0
    blank_200: float = 0.0
    conflict_409: float = 0.0
    #: Added to every response of this operation: uniform in [mean - jitter, mean + jitter], clamped at 0.
    latency_mean: float = 0.0
    latency_jitter: float = 0.0

    def __post_init__(self) -> None:
        for kind in FAULT_KINDS:
            p = getattr(self, kind)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{kind} probability must be within 0..1, got {p}")
        if sum(getattr(self, k) for k in FAULT_KINDS) > 1.0 + 1e-9:
            raise ValueError("fault probabilities of one rule must sum to <= 1")
        if not 500 <= self.error_status <= 599:
            raise ValueError(f"error_status must be a 5xx code, got {self.error_status}")
        if min(self.slow_seconds, self.latency_mean, self.latency_jitter) < 0:
            raise ValueError("durations must be >= 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault rule fields: {sorted(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class FaultDecision:
    """What happens to one request: ``kind`` (one of the constants above), plus the delay before answering."""

    kind: str
    delay: float = 0.0
    status: int = 200


@dataclass
class FaultPlan:
    """Per-operation fault probabilities with a seeded RNG; thread-safe and changeable at run time."""

    seed: int = 0
    default: FaultRule = field(default_factory=FaultRule)
    operations: dict[str, FaultRule] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        #: Faults actually injected, keyed ``"<kind>"`` and ``"<kind>:<operation>"``.
        self.injected: Counter[str] = Counter()

    def rule_for(self, key: str) -> FaultRule:
        """The rule for ``key``, falling back to the default rule."""
        return self.operations.get(key, self.default)

    def decide(self, key: str) -> FaultDecision:
        """Draw the fate of one request for operation ``key``."""
        with self._lock:
            rule = self.rule_for(key)
            u = self._rng.random()
            latency = 0.0
            if rule.latency_mean or rule.latency_jitter:
                latency = max(
                    0.0,
                    self._rng.uniform(rule.latency_mean - rule.latency_jitter, rule.latency_mean + rule.latency_jitter),
                )
            kind = NONE
            acc = 0.0
            for candidate in FAULT_KINDS:
                acc += getattr(rule, candidate)
                if u < acc:
                    kind = candidate
                    break
            if kind != NONE:
                self.injected[kind] += 1
                self.injected[f"{kind}:{key}"] += 1
        if kind == SLOW:
            return FaultDecision(SLOW, latency + rule.slow_seconds)
        if kind == ERROR_5XX:
            return FaultDecision(ERROR_5XX, latency, rule.error_status)
        if kind == CONFLICT_409:
            return FaultDecision(CONFLICT_409, latency, 409)
        return FaultDecision(kind, latency)

    def configure(self, data: dict[str, Any]) -> None:
        """Replace the plan from its JSON form (see module doc); a ``seed`` key re-seeds the RNG."""
        default = FaultRule.from_dict(data.get("default") or {})
        operations = {k: FaultRule.from_dict(v) for k, v in (data.get("operations") or {}).items()}
        with self._lock:
            self.default = default
            self.operations = operations
            if "seed" in data:
                self.seed = int(data["seed"])
                self._rng = random.Random(self.seed)

    def clear(self) -> None:
        """No faults, no latency (the RNG keeps its position)."""
        with self._lock:
            self.default = FaultRule()
            self.operations = {}

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "seed": self.seed,
                "default": asdict(self.default),
                "operations": {k: asdict(v) for k, v in self.operations.items()},
                "injected": dict(self.injected),
            }


# --- ASGI middleware ----------------------------------------------------------------------------------------

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
KeyFn = Callable[[Scope, bytes], str]
BodyFn = Callable[[str, int], tuple[bytes, str]]


def _default_body(kind: str, status: int) -> tuple[bytes, str]:
    return json.dumps({"message": f"simulated {kind} ({status})"}).encode(), "application/json"


def _exempt_control(scope: Scope) -> bool:
    return str(scope.get("path", "")).startswith("/_sim")


async def reset_connection(send: Send) -> None:
    """Drop the TCP connection without an HTTP response, like a peer reset.

    uvicorn's ``send`` is a bound method of its per-request cycle, which holds the asyncio transport: with
    ``SO_LINGER`` 0 the close becomes a real RST. If that is not reachable (another server, a wrapped
    ``send``),
    start a response and abandon it, which makes uvicorn close the transport mid-response.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        await asyncio.sleep(0)  # let connection_lost mark the cycle disconnected before we return
        await asyncio.sleep(0)
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
    raise ConnectionResetError("simulated connection reset")


class FaultMiddleware:
    """Apply a :class:`FaultPlan` in front of an ASGI app.

    ``key_for(scope, body)`` names the operation of a request (the body is read once and replayed to the app).
    ``body_for(kind, status)`` shapes the body of injected 5xx/409 answers. Paths under ``/_sim`` (control
    APIs)
    are never faulted unless ``exempt`` says otherwise.
    """

    def __init__(
        self,
        app: Any,
        plan: FaultPlan,
        key_for: KeyFn,
        body_for: BodyFn = _default_body,
        exempt: Callable[[Scope], bool] = _exempt_control,
    ) -> None:
        self.app = app
        self.plan = plan
        self.key_for = key_for
        self.body_for = body_for
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.exempt(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        decision = self.plan.decide(self.key_for(scope, body))
        if decision.delay:
            await asyncio.sleep(decision.delay)
        if decision.kind == RESET:
            await reset_connection(send)
            return
        if decision.kind in (ERROR_5XX, CONFLICT_409):
            payload, content_type = self.body_for(decision.kind, decision.status)
            await _respond(send, decision.status, payload, content_type)
            return
        if decision.kind == BLANK_200:
            await _respond(send, 200, b"", "application/json")
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _respond(send: Send, status: int, body: bytes, content_type: str) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
