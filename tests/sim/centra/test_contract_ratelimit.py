"""Contract: shared token-bucket budgets per tier, 429 + Retry-After, and the rateLimits query."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.sim.centra.conftest import Centra, simulator

QUERY = "{ stores { id } }"


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def limited(clock: ManualClock) -> Iterator[Centra]:
    with simulator(monotonic=clock, retry_after_format="seconds") as centra:
        yield centra


def test_growth_request_budget_then_429_with_retry_after(limited: Centra, clock: ManualClock) -> None:
    statuses = [limited.gql(QUERY).status_code for _ in range(61)]
    assert statuses[:60] == [200] * 60 and statuses[60] == 429
    refused = limited.gql(QUERY)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"  # 60/10 s refill: 1 token in 1/6 s
    clock.now += 10  # the bucket refills
    assert limited.gql(QUERY).status_code == 200
    assert limited.ctl("GET", "/counters")["rateLimited"] == 2


def test_mutation_budget_is_shared_by_all_tokens(limited: Centra, clock: ManualClock) -> None:
    limited.ctl("POST", "/tokens", {"token": "second", "integrationName": "erp"})
    mutation = "mutation { confirmEvents(input: {eventsIds: []}) { userErrors { message } } }"
    results = [limited.gql(mutation, token="second" if i % 2 else "test-token").status_code for i in range(21)]
    assert results[:20] == [200] * 20 and results[20] == 429
    assert limited.gql(QUERY).status_code == 200  # queries still have request budget
    clock.now += 0.5  # 20/10 s: one mutation token per 0.5 s
    assert limited.gql(mutation).status_code == 200


def test_rate_limits_query_reports_quota_used_and_remaining(limited: Centra) -> None:
    limited.gql(QUERY)
    rows = limited.data("{ rateLimits { type intervalSeconds quota usedQuota remainingQuota } }")["rateLimits"]
    by_key = {(r["type"], r["intervalSeconds"]): r for r in rows}
    assert by_key[("REQUEST_COUNT", "TEN_SECONDS")] == {
        "type": "REQUEST_COUNT",
        "intervalSeconds": "TEN_SECONDS",
        "quota": 60,
        "usedQuota": 2,
        "remainingQuota": 58,
    }
    assert by_key[("MUTATION_COUNT", "ONE_HOUR")]["quota"] == 1800
    assert all(r["quota"] == r["usedQuota"] + r["remainingQuota"] for r in rows)


def test_retry_after_as_timestamp_and_lowered_budget(clock: ManualClock) -> None:
    with simulator(monotonic=clock, retry_after_format="timestamp") as centra:
        centra.ctl(
            "PUT",
            "/rate-limits",
            {"overrides": [{"type": "REQUEST_COUNT", "interval": "TEN_SECONDS", "quota": 2}]},
        )
        assert [centra.gql(QUERY).status_code for _ in range(3)] == [200, 200, 429]
        retry_at = int(centra.gql(QUERY).headers["Retry-After"])
        assert time.time() < retry_at <= time.time() + 10


def test_enterprise_tier_budget(clock: ManualClock) -> None:
    with simulator(monotonic=clock, tier="enterprise") as centra:
        rows = centra.data("{ rateLimits { type intervalSeconds quota } }")["rateLimits"]
        assert {"type": "MUTATION_COUNT", "intervalSeconds": "TEN_SECONDS", "quota": 500} in rows
