"""The shared helpers: real-server runner and deterministic fault injection (through real HTTP)."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from lockstep.sim.faults import BLANK_200, ERROR_5XX, NONE, RESET, FaultPlan, FaultRule
from lockstep.sim.server import running
from tests.sim.centra.conftest import TOKEN, Centra

QUERY = {"query": "{ stores { id } }"}


def test_plan_is_deterministic_per_seed() -> None:
    def draws(seed: int) -> list[str]:
        plan = FaultPlan(seed=seed, default=FaultRule(error_5xx=0.3, reset=0.2, blank_200=0.1))
        return [plan.decide("setStock").kind for _ in range(200)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)
    kinds = draws(7)
    assert {NONE, ERROR_5XX, RESET, BLANK_200} <= set(kinds)
    assert 0.2 < kinds.count(ERROR_5XX) / 200 < 0.4


def test_rules_are_validated() -> None:
    with pytest.raises(ValueError):
        FaultRule(error_5xx=0.7, reset=0.5)
    with pytest.raises(ValueError):
        FaultPlan().configure({"operations": {"x": {"nope": 1}}})


def test_injected_faults_over_http_target_one_operation(centra: Centra) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    centra.ctl("PUT", "/faults", {"seed": 1, "operations": {"stores": {"error_5xx": 1.0, "error_status": 502}}})
    assert centra.client.post("/graphql", json=QUERY, headers=headers).status_code == 502
    assert centra.gql("{ warehouses { id } }").status_code == 200  # other operations are untouched
    centra.ctl("PUT", "/faults", {"operations": {"stores": {"blank_200": 1.0}}})
    blank = centra.client.post("/graphql", json=QUERY, headers=headers)
    assert blank.status_code == 200 and blank.content == b""
    centra.ctl("PUT", "/faults", {"operations": {"stores": {"reset": 1.0}}})
    with pytest.raises(httpx.TransportError):
        centra.client.post("/graphql", json=QUERY, headers=headers)
    centra.ctl("PUT", "/faults", {"default": {"latency_mean": 0.15, "latency_jitter": 0.0}})
    started = time.monotonic()
    assert centra.gql("{ stores { id } }").status_code == 200
    assert time.monotonic() - started >= 0.14
    centra.ctl("DELETE", "/faults")
    assert centra.gql("{ stores { id } }").status_code == 200
    injected = centra.ctl("GET", "/counters")["faults"]
    assert injected["error_5xx:stores"] == 1 and injected["reset:stores"] == 1 and injected["blank_200"] == 1


def test_slow_response_beyond_client_timeout(centra: Centra) -> None:
    centra.ctl("PUT", "/faults", {"operations": {"stores": {"slow": 1.0, "slow_seconds": 1.0}}})
    with pytest.raises(httpx.ReadTimeout):
        centra.client.post("/graphql", json=QUERY, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=0.3)


def test_running_binds_a_free_port_and_shuts_down() -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    app = Starlette(routes=[Route("/", lambda _r: PlainTextResponse("ok"))])
    with running(app) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        assert httpx.get(base_url).text == "ok"
        port = int(base_url.rsplit(":", 1)[1])
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more
