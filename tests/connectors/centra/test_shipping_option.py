"""The customer's shipping option: read from ``shippingPriceGroup { shippingOption { id name uri } }``.

The shape is the one Centra's own order example asks for (examples-dtc/01-orders.request.graphql).
"""

from __future__ import annotations

from lockstep.connectors.centra import queries
from lockstep.connectors.centra import translate as t
from lockstep.domain.model import ShippingOption
from tests.connectors.centra.test_client_sim import started
from tests.shared_spec import SPEC_DIR

EXAMPLE_REQUEST = SPEC_DIR / "examples/centra/graphql/examples-dtc/01-orders.request.graphql"


def node(**fields):
    return {"id": "h", "number": 1001, "status": "CONFIRMED", "lines": [], **fields}


def test_the_order_query_asks_for_the_documented_shape():
    assert "shippingPriceGroup { shippingOption { id name uri } }" in queries.ORDER_FIELDS
    text = " ".join(EXAMPLE_REQUEST.read_text().split())
    assert "shippingPriceGroup { shippingOption { name uri id } }" in text


def test_the_option_is_parsed_and_a_missing_one_is_none():
    group = {"shippingOption": {"id": 2, "name": "Express delivery", "uri": "express"}}
    assert t.order(node(shippingPriceGroup=group)).shipping_option == ShippingOption("2", "Express delivery", "express")
    assert t.order(node(shippingPriceGroup=None)).shipping_option is None
    assert t.order(node(shippingPriceGroup={"shippingOption": None})).shipping_option is None
    assert t.order(node()).shipping_option is None


async def test_the_simulator_serves_the_option_the_shopper_chose():
    with started(rate_limits=False) as sim:
        [size, *_] = sim.seed()
        sim.stock(1, {size["sku"]: 10})
        express = sim.order([(size["sku"], 1)], shippingOption="Express delivery")  # by name
        standard = sim.order([(size["sku"], 1)])  # the default
        none = sim.order([(size["sku"], 1)], shippingOption=None)
        assert express["shippingOption"] == "express"
        unknown = {"market": "Sweden", "country": "SE", "lines": [{"sku": size["sku"], "quantity": 1}]}
        refused = sim.ctl("POST", "/orders", {**unknown, "shippingOption": "teleport"}, expect=400)
        assert "Shipping option 'teleport' not found" in str(refused)
        async with sim.client() as client:
            found = await client.get_orders([express["number"], standard["number"], none["number"]])
    assert found[str(express["number"])].shipping_option == ShippingOption("2", "Express delivery", "express")
    assert found[str(standard["number"])].shipping_option.uri == "standard"
    assert found[str(none["number"])].shipping_option is None
