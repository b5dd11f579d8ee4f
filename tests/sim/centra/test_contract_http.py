"""Contract: endpoint, bearer auth, the two error layers, permissions and response extensions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.sim.centra.conftest import TOKEN, Centra, simulator

WAREHOUSES = "{ warehouses { id name } }"


def test_missing_or_wrong_token_is_403(centra: Centra) -> None:
    assert centra.gql(WAREHOUSES, token=None).status_code == 403
    assert centra.gql(WAREHOUSES, token="wrong").status_code == 403
    assert centra.client.get("/_sim/truth").status_code == 403
    assert centra.gql(WAREHOUSES).status_code == 200


def test_graphql_access_cookie_is_accepted(centra: Centra) -> None:
    with httpx.Client(base_url=centra.base_url, cookies={"graphql-access": TOKEN}) as client:
        response = client.post("/graphql", json={"query": WAREHOUSES})
    assert response.status_code == 200
    assert [w["name"] for w in response.json()["data"]["warehouses"]] == ["EU Main", "US East"]


def test_expired_token_is_403(centra: Centra) -> None:
    expired = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    centra.ctl("POST", "/tokens", {"token": "old", "expiresAt": expired})
    assert centra.gql(WAREHOUSES, token="old").status_code == 403
    centra.ctl("POST", "/tokens", {"token": "fresh"})
    assert centra.gql(WAREHOUSES, token="fresh").status_code == 200


def test_bad_json_invalid_graphql_and_missing_argument_are_400(centra: Centra) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert centra.client.post("/graphql", content=b"{not json", headers=headers).status_code == 400
    syntax = centra.gql("{ warehouses { id ")
    assert syntax.status_code == 400 and syntax.json()["errors"][0]["message"]
    unknown = centra.gql("{ warehouses { id nope } }")
    assert unknown.status_code == 400 and "nope" in unknown.json()["errors"][0]["message"]
    missing = centra.gql("{ order { id } }")
    assert missing.status_code == 400 and "id" in missing.json()["errors"][0]["message"]
    missing_variable = centra.gql("query($id: String!) { order(id: $id) { id } }")
    assert missing_variable.status_code == 400


def test_missing_permission_is_a_top_level_authorization_error(centra: Centra) -> None:
    centra.ctl("POST", "/tokens", {"token": "narrow", "integrationName": "other", "permissions": ["Order:read"]})
    response = centra.gql(WAREHOUSES, token="narrow")
    assert response.status_code == 200
    error = response.json()["errors"][0]
    assert "Warehouse:read" in error["message"] and error["extensions"]["category"] == "authorization"
    allowed = centra.gql("{ orders { number } }", token="narrow")
    assert allowed.status_code == 200 and allowed.json()["extensions"]["permissionsUsed"] == ["Order:read"]


def test_every_response_has_complexity_and_permissions_used(centra: Centra) -> None:
    body = centra.gql("{ warehouses { id stock { freeToAllocateQuantity } } rateLimits { type } }").json()
    assert body["extensions"]["complexity"] > 0
    assert body["extensions"]["permissionsUsed"] == ["Warehouse:read", "Warehouse.stock:read"]
    mutation = centra.gql("mutation { confirmOrder(input: {order: {number: 1}}) { userErrors { message } } }")
    assert mutation.status_code == 200
    assert mutation.json()["extensions"]["permissionsUsed"] == ["Order:write"]
    assert mutation.json()["data"]["confirmOrder"]["userErrors"][0]["message"].startswith("Order with number")


def test_order_input_accepts_id_number_or_external_id_but_exactly_one(centra: Centra) -> None:
    sizes = centra.seed(1, 1, 1)
    centra.stock(1, {sizes[0]["sku"]: 5})
    order = centra.order([(sizes[0]["sku"], 1)], confirm=False)
    lock = (
        "mutation($o: OrderInput!) { setOrdersLock(input: {orders: [$o], isLocked: true}) "
        "{ orders { number isLocked } userErrors { message } } }"
    )
    by_id = centra.data(lock, {"o": {"id": order["id"]}})["setOrdersLock"]
    assert by_id["orders"] == [{"number": order["number"], "isLocked": True}]
    both = centra.data(lock, {"o": {"id": order["id"], "number": order["number"]}})["setOrdersLock"]
    assert both["userErrors"] and both["orders"] == []
    assert isinstance(order["id"], str) and len(order["id"]) == 32 and isinstance(order["number"], int)


def test_snapshot_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "centra.json"
    with simulator(snapshot_path=path) as centra:
        sku = centra.seed(1, 1, 1)[0]["sku"]
        centra.stock(1, {sku: 5})
        number = centra.order([(sku, 2)])["number"]
    assert path.exists()
    with simulator(snapshot_path=path) as centra:
        assert centra.ctl("GET", f"/orders/{number}")["lines"][0]["allocations"][0]["quantity"] == 2
        assert centra.level(sku, 1)["freeToAllocate"] == 3
        found = centra.data("query($s: String!) { productSizes(where: {SKU: $s}) { SKU } }", {"s": sku})
        assert found["productSizes"] == [{"SKU": sku}]


def test_command_is_a_typer_command() -> None:
    import typer
    from typer.testing import CliRunner

    from lockstep.sim.centra.command import centra

    app = typer.Typer()
    app.command("centra")(centra)
    app.command("other")(lambda: None)
    result = CliRunner().invoke(app, ["centra", "--help"])
    assert result.exit_code == 0 and "--tier" in result.output and "--webhook-secret" in result.output
    bad = CliRunner().invoke(app, ["centra", "--tier", "platinum"])
    assert bad.exit_code != 0
