"""OAuth2 tokens: refreshed before expiry, on a 401, once for many concurrent callers, never leaked."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

import httpx
import pytest

from lockstep.config.secrets import redact
from lockstep.connectors.deposco.auth import TokenManager
from lockstep.connectors.errors import AuthFailed, Permanent

from .conftest import FAST, TOKEN_URL, Script, json_response, make_client, token_response

FACILITIES = {"data": [{"self": {"id": 1}, "number": "WH1"}], "links": [], "complete": True, "pages": 1}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def bearer(request: httpx.Request) -> str:
    return request.headers["authorization"].removeprefix("Bearer ")


def form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode()))


async def test_client_credentials_grant_uses_basic_auth_and_company():
    script = Script(lambda r: json_response(200, FACILITIES))
    async with make_client(script) as client:
        await client.list_facilities()
    (request,) = script.token_requests
    assert request.headers["authorization"].startswith("Basic ")
    body = form(request)
    assert body["grant_type"] == "client_credentials" and body["company"] == "ACME"
    assert "items/write" in body["scope"].split() and "client_secret" not in body
    assert "businessUnitId" not in body  # Deposco refuses it
    assert bearer(script.requests[0]) == "tok-1"


async def test_refresh_token_grant():
    script = Script(lambda r: json_response(200, FACILITIES))
    async with httpx.AsyncClient(transport=httpx.MockTransport(script)) as http:
        manager = TokenManager(
            http,
            token_url=TOKEN_URL,
            client_id="cid",
            client_secret="csecret-xyz",
            refresh_token="rt-long-lived",
            retry=FAST,
        )
        assert await manager.token() == "tok-1"
    body = form(script.token_requests[0])
    assert body == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-long-lived",
        "client_id": "cid",
        "client_secret": "csecret-xyz",
    }


async def test_token_is_refreshed_before_it_expires():
    clock = Clock()
    script = Script(lambda r: json_response(200, FACILITIES), ttl=3600)
    async with make_client(script, clock=clock) as client:
        await client.list_facilities()
        clock.now += 3000  # within the hour, before the early-refresh point (5 min before expiry)
        await client.list_facilities()
        clock.now += 400  # 3400 s: not expired yet, but close: refreshed in advance
        await client.list_facilities()
    assert [bearer(r) for r in script.requests] == ["tok-1", "tok-1", "tok-2"]
    assert len(script.token_requests) == 2


async def test_short_lived_tokens_refresh_early_by_a_fraction():
    clock = Clock()
    script = Script(lambda r: json_response(200, FACILITIES), ttl=10)
    async with make_client(script, clock=clock) as client:
        await client.list_facilities()
        clock.now += 7.9
        await client.list_facilities()
        clock.now += 0.2  # 8.1 s of 10: inside the last 20 %
        await client.list_facilities()
    assert [bearer(r) for r in script.requests] == ["tok-1", "tok-1", "tok-2"]


async def test_401_forces_one_refresh_and_the_call_succeeds():
    def handler(request):
        return (
            json_response(401, {"errors": [{"errorMessage": "Access token expired"}]})
            if bearer(request) == "tok-1"
            else json_response(200, FACILITIES)
        )

    script = Script(handler)
    async with make_client(script) as client:
        facilities = await client.list_facilities()
    assert [f.code for f in facilities] == ["WH1"]
    assert [bearer(r) for r in script.requests] == ["tok-1", "tok-2"]


async def test_401_after_a_refresh_is_auth_failed_without_looping():
    script = Script(lambda r: json_response(403, {"errors": [{"errorMessage": "Insufficient scope"}]}))
    async with make_client(script) as client:
        with pytest.raises(AuthFailed, match="Insufficient scope"):
            await client.list_facilities()
    assert len(script.requests) == 2 and len(script.token_requests) == 2


async def test_many_concurrent_callers_share_one_token_request():
    script = Script(lambda r: json_response(200, FACILITIES), token_delay=0.05)
    async with make_client(script) as client:
        results = await asyncio.gather(*(client.list_facilities() for _ in range(25)))
    assert len(results) == 25 and len(script.token_requests) == 1
    assert {bearer(r) for r in script.requests} == {"tok-1"}


async def test_a_burst_of_401s_from_one_stale_token_costs_one_refresh():
    def handler(request):
        if bearer(request) == "tok-1":
            return json_response(401, {"errors": [{"errorMessage": "Invalid access token"}]})
        return json_response(200, FACILITIES)

    script = Script(handler, token_delay=0.02)
    async with make_client(script) as client:
        await client.auth.token()  # everyone starts with tok-1, which the server no longer accepts
        await asyncio.gather(*(client.list_facilities() for _ in range(10)))
    assert len(script.token_requests) == 2  # the first token, then exactly one refresh
    assert sum(bearer(r) == "tok-2" for r in script.requests) == 10


async def test_refused_credentials_fail_every_waiter_with_one_request_and_no_secret():
    refused = json_response(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
    script = Script(lambda r: json_response(200, FACILITIES), token_delay=0.02, token_handler=lambda r: refused)
    async with make_client(script) as client:
        outcomes = await asyncio.gather(*(client.list_facilities() for _ in range(5)), return_exceptions=True)
    assert all(isinstance(o, AuthFailed) for o in outcomes)
    assert len(script.token_requests) == 1 and not script.requests
    assert "csecret-xyz" not in str(outcomes[0]) and "invalid_client" in str(outcomes[0])


async def test_token_endpoint_errors_and_odd_answers():
    bad_request = json_response(400, {"error": "invalid_request", "error_description": "Invalid business unit id"})
    script = Script(lambda r: json_response(200, FACILITIES), token_handler=lambda r: bad_request)
    async with make_client(script) as client:
        with pytest.raises(Permanent, match="Invalid business unit id"):
            await client.auth.token()
    no_token = Script(lambda r: json_response(200, FACILITIES), token_handler=lambda r: json_response(200, {}))
    async with make_client(no_token) as client:
        with pytest.raises(Permanent, match="without access_token"):
            await client.auth.token()
    flaky = iter([httpx.Response(503), httpx.Response(200, content=b""), token_response("tok-ok")])
    retried = Script(lambda r: json_response(200, FACILITIES), token_handler=lambda r: next(flaky))
    async with make_client(retried) as client:
        assert await client.auth.token() == "tok-ok"  # 5xx and a blank body are retried


async def test_failed_early_refresh_keeps_using_the_still_valid_token():
    clock = Clock()
    answers = iter(
        [
            token_response("tok-a", 3600),
            httpx.Response(503),
            httpx.Response(503),
            httpx.Response(503),
            httpx.Response(503),
        ]
    )
    script = Script(lambda r: json_response(200, FACILITIES), token_handler=lambda r: next(answers))
    async with make_client(script, clock=clock) as client:
        assert await client.auth.token() == "tok-a"
        clock.now += 3400  # inside the early-refresh window, not expired
        assert await client.auth.token() == "tok-a"


async def test_tokens_and_secrets_are_registered_for_redaction():
    script = Script(lambda r: json_response(200, FACILITIES))
    async with make_client(script) as client:
        token = await client.auth.token()
    assert redact(f"Bearer {token} csecret-xyz") == "Bearer *** ***"
