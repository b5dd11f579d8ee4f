"""Fixtures for the Deposco connector: spec validation, scripted ``httpx.MockTransport`` servers, a real
simulator, and clients wired like production (token manager, shared budget, fast retries)."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lockstep.config.loader import load_brand_file
from lockstep.connectors.deposco.auth import TokenManager
from lockstep.connectors.deposco.client import DeposcoClient
from lockstep.connectors.deposco.v1 import DeposcoV1Client
from lockstep.connectors.http import RetrySettings
from tests.shared_spec import SPEC_DIR

REPO = Path(__file__).resolve().parents[3]
SHARED = SPEC_DIR.parent
SPEC_FILE = SHARED / "spec" / "deposco-openapi-2.0.2519.reconstructed.yaml"
EXAMPLES = SHARED / "spec" / "examples" / "deposco" / "v2"
BASE = "https://api.deposco.test/latest"
TOKEN_URL = "https://auth.deposco.test/oauth2/token"
V1_BASE = "https://acme.deposco.test/integration/ACME"
FAST = RetrySettings(attempts=4, base_s=0.005, cap_s=0.02, max_inline_wait_s=3.0)


def json_response(status: int, body: Any = None, **headers: str) -> httpx.Response:
    content = b"" if body is None else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers={"content-type": "application/json", **headers})


def token_response(value: str = "tok-1", expires_in: int = 3600) -> httpx.Response:
    return json_response(200, {"access_token": value, "token_type": "Bearer", "expires_in": expires_in})


class Script:
    """A fake Deposco for ``httpx.MockTransport``: the token endpoint plus a handler per request; records all."""

    def __init__(
        self,
        handler: Callable[[httpx.Request], httpx.Response],
        *,
        ttl: int = 3600,
        token_delay: float = 0.0,
        token_handler: Callable[[httpx.Request], httpx.Response] | None = None,
    ):
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.token_requests: list[httpx.Request] = []
        self.tokens_issued = 0
        self.ttl = ttl
        self.token_delay = token_delay
        self.token_handler = token_handler

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            self.token_requests.append(request)
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            if self.token_handler is not None:
                return self.token_handler(request)
            self.tokens_issued += 1
            return token_response(f"tok-{self.tokens_issued}", self.ttl)
        self.requests.append(request)
        result = self.handler(request)
        return await result if inspect.isawaitable(result) else result

    def api_requests(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith(path)]


def make_client(script: Script, *, budget: Any = None, clock: Callable[[], float] | None = None) -> DeposcoClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(script))
    kwargs = {"clock": clock} if clock else {}
    auth = TokenManager(
        http, token_url=TOKEN_URL, client_id="cid", client_secret="csecret-xyz", company="ACME", retry=FAST, **kwargs
    )
    v1 = DeposcoV1Client(
        base_url=V1_BASE,
        business_unit="ACME",
        username="v1user",
        password="v1-pass-word",
        budget=budget,
        http=http,
        retry=FAST,
    )
    return DeposcoClient(base_url=BASE, business_unit="ACME", auth=auth, budget=budget, http=http, retry=FAST, v1=v1)


@pytest.fixture
def example_topology():
    return load_brand_file(REPO / "config" / "example-brand.yaml")


@pytest.fixture(scope="session")
def spec_raw() -> dict[str, Any]:
    import yaml

    if not SPEC_FILE.exists():
        pytest.fail(f"Deposco OpenAPI not found at {SPEC_FILE}")
    return yaml.safe_load(SPEC_FILE.read_text())


@pytest.fixture(scope="session")
def openapi():
    from openapi_core import OpenAPI

    return OpenAPI.from_file_path(str(SPEC_FILE))


@pytest.fixture
def sim_factory() -> Iterator[Callable[..., tuple[str, Any]]]:
    """Start real Deposco simulators (127.0.0.1, free port); yields a factory returning (base URL, Sim)."""
    from contextlib import ExitStack

    from lockstep.sim.deposco import build_app
    from lockstep.sim.server import running

    with ExitStack() as stack:

        def start(**overrides: Any) -> tuple[str, Any]:
            config = {
                "client_id": "lockstep",
                "client_secret": "sim-secret",
                "business_unit": "BU1",
                "requests_per_second": 0,
                "order_write_seconds": 0.0,
                **overrides,
            }
            app = build_app(**config)
            return stack.enter_context(running(app)), app.sim

        yield start
