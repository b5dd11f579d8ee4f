"""HttpCaller edge cases through httpx.MockTransport: 429 forms, retries, idempotency, auth refresh, redaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from lockstep.clock import utcnow
from lockstep.config.secrets import register_secret
from lockstep.connectors.errors import AuthFailed, Permanent, RateLimited, Transient
from lockstep.connectors.http import HttpCaller, RetrySettings, parse_retry_after


class Script:
    """A MockTransport handler answering from a list of responses (or exceptions), recording requests."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def caller(script: Script, **kwargs) -> tuple[HttpCaller, list[float]]:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    client = httpx.AsyncClient(transport=httpx.MockTransport(script), base_url="http://api.test")
    return HttpCaller(client, system="deposco", budget=None, sleep=fake_sleep, **kwargs), slept


def get(client: HttpCaller, path: str = "/items"):
    async def build():
        return client.client.build_request("GET", path)

    return build


NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("12", NOW + timedelta(seconds=12)),
        ("0.5", NOW + timedelta(seconds=0.5)),
        (str(int((NOW + timedelta(seconds=30)).timestamp())), NOW + timedelta(seconds=30)),
        ("2026-11-27T12:01:00Z", NOW + timedelta(minutes=1)),
        ("Fri, 27 Nov 2026 12:02:00 GMT", NOW + timedelta(minutes=2)),
        ("soon", NOW + timedelta(seconds=5)),
        (None, NOW + timedelta(seconds=5)),
    ],
)
def test_retry_after_in_every_form(header, expected):
    assert parse_retry_after(header, now=NOW) == expected


async def test_short_429_is_waited_out_then_succeeds():
    script = Script(httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(200, json={"ok": 1}))
    client, slept = caller(script)
    response = await client.send(get(client), operation="items.list", idempotent=True)
    assert response.json() == {"ok": 1}
    assert len(script.requests) == 2
    assert 1.5 < slept[0] <= 2.0


async def test_long_429_becomes_rate_limited_with_the_time_to_resume():
    resume = utcnow() + timedelta(seconds=120)
    script = Script(httpx.Response(429, headers={"Retry-After": str(int(resume.timestamp()))}))
    client, _ = caller(script)
    with pytest.raises(RateLimited) as raised:
        await client.send(get(client), operation="items.list", idempotent=True)
    assert abs((raised.value.retry_at - resume).total_seconds()) < 1
    assert 110 < raised.value.delay_s <= 120
    assert "deposco items.list" in str(raised.value)


async def test_5xx_is_retried_only_when_idempotent():
    script = Script(httpx.Response(503), httpx.Response(502), httpx.Response(200, json={}))
    client, slept = caller(script)
    await client.send(get(client), operation="items.list", idempotent=True)
    assert len(script.requests) == 3 and len(slept) == 2

    script = Script(httpx.Response(503))
    client, _ = caller(script)
    with pytest.raises(Transient):
        await client.send(get(client, "/orders"), operation="orders.create", idempotent=False)
    assert len(script.requests) == 1


async def test_connection_never_made_is_retried_even_for_non_idempotent_calls():
    script = Script(httpx.ConnectError("refused"), httpx.Response(201, json={"id": 1}))
    client, _ = caller(script)
    response = await client.send(get(client), operation="orders.create", idempotent=False)
    assert response.status_code == 201


async def test_read_timeout_on_non_idempotent_call_is_not_repeated():
    script = Script(httpx.ReadTimeout("slow"))
    client, _ = caller(script)
    with pytest.raises(Transient, match="ReadTimeout"):
        await client.send(get(client), operation="orders.create", idempotent=False)
    assert len(script.requests) == 1


async def test_auth_failure_refreshes_once_then_gives_up():
    refreshes = []

    async def refresh():
        refreshes.append(1)

    script = Script(httpx.Response(401), httpx.Response(200, json={}))
    client, _ = caller(script)
    await client.send(get(client), operation="items.list", idempotent=True, on_auth_failure=refresh)
    assert refreshes == [1]

    script = Script(httpx.Response(401), httpx.Response(401))
    client, _ = caller(script)
    with pytest.raises(AuthFailed):
        await client.send(get(client), operation="items.list", idempotent=True, on_auth_failure=refresh)
    assert refreshes == [1, 1]


async def test_4xx_is_permanent_and_exhausted_retries_transient():
    client, _ = caller(Script(httpx.Response(400, json={"errors": []})))
    with pytest.raises(Permanent) as raised:
        await client.send(get(client), operation="items.upsert", idempotent=True)
    assert raised.value.status == 400

    client, _ = caller(Script(*[httpx.Response(500)] * 4), retry=RetrySettings(attempts=4))
    with pytest.raises(Transient, match="HTTP 500"):
        await client.send(get(client), operation="items.list", idempotent=True)


async def test_secrets_never_appear_in_errors():
    register_secret("s3cr3t-client-secret")
    script = Script(httpx.ConnectError("cannot reach http://id:s3cr3t-client-secret@api.test"))
    client, _ = caller(script, retry=RetrySettings(attempts=1))
    with pytest.raises(Transient) as raised:
        await client.send(get(client), operation="token", idempotent=True)
    assert "s3cr3t-client-secret" not in str(raised.value)
