"""OAuth2 token endpoint, bearer auth on /latest (401/403, expiry, refresh), Basic auth on V1 and /_sim."""

from __future__ import annotations

from .conftest import CLIENT_ID, CLIENT_SECRET


def test_client_credentials_grant_with_basic_auth_returns_expiring_bearer_token(deposco):
    body = deposco.token(scope="items/read items/write")
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"] and body["refresh_token"]
    items = deposco.client(headers={"Authorization": f"Bearer {body['access_token']}"}).get("/latest/items")
    assert items.status_code == 200


def test_refresh_token_grant_issues_a_new_access_token(deposco):
    refresh = deposco.control("GET", "/auth")["refreshToken"]
    plain = deposco.client()
    response = plain.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert response.status_code == 200
    token = response.json()["access_token"]
    assert deposco.client(headers={"Authorization": f"Bearer {token}"}).get("/latest/facilities").status_code == 200
    wrong = plain.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "nope",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_token_endpoint_rejects_business_unit_id_and_bad_credentials(deposco):
    plain = deposco.client()
    bu = plain.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "businessUnitId": "7"},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert bu.status_code == 400
    assert bu.json()["error_description"] == "Invalid business unit id"
    bad = plain.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, "wrong"))
    assert bad.status_code == 401


def test_missing_unknown_and_expired_tokens_get_401_then_refresh_recovers(start_deposco):
    deposco = start_deposco(token_ttl=30)
    anonymous = deposco.client()
    assert anonymous.get("/latest/items").status_code == 401
    assert deposco.client(headers={"Authorization": "Bearer forged"}).get("/latest/items").status_code == 401
    api = deposco.api()
    assert api.get("/latest/items").status_code == 200
    deposco.control("POST", "/clock/advance", json={"seconds": 31})
    expired = api.get("/latest/items")
    assert expired.status_code == 401
    assert "expired" in expired.json()["errors"][0]["errorMessage"].lower()
    assert deposco.api().get("/latest/items").status_code == 200  # a fresh token works again


def test_token_without_the_resource_scope_gets_403(deposco):
    api = deposco.api(scope="items/read")
    assert api.get("/latest/items").status_code == 200
    forbidden = api.get("/latest/orders/salesOrders")
    assert forbidden.status_code == 403
    assert api.post("/latest/items", json={"number": "X"}).status_code == 403


def test_v1_and_control_api_require_basic_client_credentials(seeded):
    path = "/integration/BU1/enterpriseinventory/BU1/availability"
    anonymous = seeded.client(headers={"Accept": "application/json"})
    assert anonymous.get(path).status_code == 401
    assert anonymous.get(path).headers["www-authenticate"].startswith("Basic")
    assert seeded.client(auth=(CLIENT_ID, "bad")).get(path).status_code == 401
    assert seeded.v1().get("/integration/OTHER/enterpriseinventory/BU1/availability").status_code == 401
    assert seeded.v1().get(path).status_code == 200
    assert anonymous.get("/_sim/truth").status_code == 401
