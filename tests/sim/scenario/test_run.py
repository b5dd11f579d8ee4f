"""Scenarios against real in-process simulator servers (Lockstep not running), and the truth read over HTTP."""

from __future__ import annotations

import dataclasses
import json

import httpx
import pytest
import typer
from typer.testing import CliRunner

from lockstep.sim.centra.app import build_app as build_centra
from lockstep.sim.deposco.app import build_app as build_deposco
from lockstep.sim.scenario import get_scenario, run_scenario
from lockstep.sim.scenario.command import scenario as scenario_command
from lockstep.sim.scenario.control import CentraControl, DeposcoControl
from lockstep.sim.scenario.seeding import seed_world
from lockstep.sim.scenario.world import load_topology
from lockstep.sim.server import running
from lockstep.sim.truth import Endpoints, read_truth


@pytest.fixture
def sims():
    """Both simulators on free ports; yields the endpoints and the two apps (to look inside afterwards)."""
    centra_app = build_centra("tok", seed=0)
    deposco_app = build_deposco(client_id="cid", client_secret="csecret", requests_per_second=0)
    with running(centra_app) as centra_url, running(deposco_app) as deposco_url:
        yield Endpoints(centra_url, "tok", deposco_url, "cid", "csecret"), centra_app, deposco_app


def _outcome(summary, key):
    return summary["events"]["outcomes"].get(key, 0)


async def test_steady_sends_every_kind_and_the_truth_finds_every_eligible_order_missing():
    summary = await run_scenario("steady", 2.0, seed=0, rate_multiplier=4.0)
    assert summary["events"]["sent"] == summary["events"]["planned"]
    assert set(summary["events"]["sent"]) == {"storefront_order", "other_channel_order", "receipt", "adjustment"}
    assert summary["events"]["errors"] == []
    accepted = _outcome(summary, "storefront_order.accepted")
    missing = summary["truth"]["missing_in_deposco"]
    assert accepted > 0 and missing["orders"] == accepted  # nothing exports orders: every eligible one is missing
    assert missing["held_back"] == _outcome(summary, "storefront_order.accepted_held")
    assert summary["truth"]["unconfirmed_shipments"]["shipments"] == 0
    assert summary["truth"]["totals"]["deposco_shipments"] > 0  # the warehouse shipped other-channel orders
    assert (
        summary["counters"]["centra"]["state"]["orders_placed"]
        == summary["truth"]["totals"]["centra_orders"]["CONFIRMED"]
    )
    assert summary["counters"]["deposco"]["calls"]  # both simulators' counters are in the summary
    json.dumps(summary)


async def test_peak_sale_runs_out_of_stock_and_reports_missing_orders():
    summary = await run_scenario("peak-sale", 2.0, seed=0)
    assert summary["seeded"]["skus"] == 400
    assert _outcome(summary, "storefront_order.refused") > 0  # near-zero stock: checkouts are refused
    assert _outcome(summary, "storefront_order.accepted") == summary["truth"]["missing_in_deposco"]["orders"] > 0
    assert _outcome(summary, "other_channel_order.placed") > 0 and _outcome(summary, "receipt.received") > 0
    assert summary["truth"]["totals"]["deposco_shipments"] > 0  # the warehouse keeps shipping during the sale
    oversold = summary["truth"]["oversold"]
    assert oversold["units"] == oversold["open_units"] + oversold["short_shipped_units"]


async def test_new_facility_goes_live_and_its_stock_is_published(sims):
    endpoints, centra_app, _ = sims
    went_live: list[str] = []

    async def on_live(code: str) -> None:
        went_live.append(code)

    summary = await run_scenario(
        "new-facility",
        2.0,
        seed=0,
        centra_url=endpoints.centra_url,
        centra_token=endpoints.centra_token,
        deposco_url=endpoints.deposco_url,
        deposco_client_id=endpoints.deposco_client_id,
        deposco_client_secret=endpoints.deposco_client_secret,
        on_facility_live=on_live,
    )
    assert went_live == ["US-NJ"] and summary["facilities"]["US-NJ"] == "live"
    assert _outcome(summary, "facility_live.live") == 1 and _outcome(summary, "receipt.received") > 0
    assert summary["simulators"]["in_process"] == {"centra": False, "deposco": False}
    state = centra_app.sim.state
    us = next(w.id for w in state.warehouses.values() if w.name == "US New Jersey")
    assert sum(level.physical for (_, wh), level in state.stock.items() if wh == us) > 0


async def test_truth_read_over_http_sees_missing_orders_unconfirmed_shipments_and_oversells(sims):
    endpoints, _, _ = sims
    brand = load_topology()
    tiny = dataclasses.replace(get_scenario("steady"), products=1, variants=1, sizes=3, stock=(5, 5))
    async with endpoints.centra_client() as c_http, endpoints.deposco_client() as d_http:
        centra, deposco = CentraControl(c_http), DeposcoControl(d_http)
        world = await seed_world(centra, deposco, brand, tiny, seed=0)
        sku = [item.sku for item in world.items]
        eu = world.markets["eu"]
        exported = (await centra.place_order(eu, "SE", [(sku[0], 1)], 1))[1]["number"]
        await centra.place_order(eu, "DE", [(sku[2], 1)], 2)
        await centra.place_order(eu, "SE", [(sku[1], 2)], 3)  # EU may sell 2 (0.7 x 5 - 1) of SE-STO's 5 ...
        await deposco.other_channel_order("SE-STO", [(sku[1], 4)])  # ... but wholesale takes 4 of them
    async with httpx.AsyncClient(base_url=endpoints.deposco_url) as api:
        token = (
            await api.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=("cid", "csecret"))
        ).json()["access_token"]
        number = f"{exported}-SE-STO"
        order = {
            "businessUnit": {"businessKey": {"code": "BU1"}},
            "number": number,
            "customerOrderNumber": str(exported),
            "shipFromFacility": {"businessKey": {"number": "SE-STO"}},
            "shipToContact": {"firstName": "Ada", "lastName": "Shopper"},
            "shipToAddress": {"line1": "Main Street 1", "city": "Stockholm", "postalCode": "11122", "country": "SE"},
            "orderLines": {
                "data": [{"lineNumber": "1", "item": {"businessKey": {"number": sku[0]}}, "orderPackQuantity": 1}]
            },
        }
        created = await api.post("/latest/orders/salesOrders", json=order, headers={"Authorization": f"Bearer {token}"})
        assert created.status_code == 200, created.text
        shipped = await api.post(f"/_sim/orders/{number}/advance", json={}, auth=("cid", "csecret"))
        assert shipped.status_code == 200, shipped.text

    truth = await read_truth(endpoints, brand.routing_table())
    assert truth["missing_in_deposco"]["orders"] == 2
    unconfirmed = truth["unconfirmed_shipments"]
    assert (unconfirmed["shipments"], unconfirmed["absent"]) == (1, 1)
    assert unconfirmed["examples"][0]["centra_order"] == str(exported)
    assert truth["oversold"]["units"] == 1
    assert truth["oversold"]["examples"][0]["facility"] == "SE-STO"
    assert truth["oversold"]["examples"][0]["item"] == sku[1]


def test_command_prints_the_summary_as_json():
    app = typer.Typer()
    app.command()(scenario_command)
    runner = CliRunner()
    result = runner.invoke(app, ["steady", "--duration", "1", "--seed", "3"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["scenario"] == "steady" and "truth" in summary and "counters" in summary
    unknown = runner.invoke(app, ["no-such-scenario", "--duration", "1"])
    assert unknown.exit_code == 2 and "unknown scenario" in unknown.output
