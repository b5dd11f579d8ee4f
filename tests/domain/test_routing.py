"""Routing: explicit pool -> facility mapping, overrides, liveness; quarantine instead of guessing."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from lockstep.config import load_brand_file
from lockstep.domain.model import Address, Allocation, Order, OrderLine, OrderStatus
from lockstep.domain.routing import (
    ANY_POOL,
    NOT_LIVE,
    UNROUTABLE,
    PoolRoute,
    RoutingTable,
    route_order,
    sales_order_number,
    sales_orders,
)

EXAMPLE = load_brand_file(Path(__file__).resolve().parents[2] / "config" / "example-brand.yaml")
TABLE = EXAMPLE.routing_table()


def order(*lines: OrderLine, country: str = "SE", number: str = "1001") -> Order:
    return Order(
        order_id="h",
        number=number,
        status=OrderStatus.CONFIRMED,
        lines=lines,
        ship_to=Address(first_name="A", last_name="B", address1="x", city="y", postal_code="1", country=country),
    )


def line(line_id: int, qty: int, *allocs: tuple[str, int], sku: str | None = None) -> OrderLine:
    return OrderLine(
        line_id=line_id,
        sku=sku or f"SKU{line_id}",
        quantity=qty,
        allocations=tuple(Allocation(w, q) for w, q in allocs),
    )


def test_example_routes_each_pool_to_its_live_facility():
    result = route_order(order(line(1, 2, ("EU Stockholm", 2)), line(2, 1, ("UK Milton Keynes", 1))), TABLE)
    assert result.ok
    assert [(u.line_id, u.pool, u.facility) for u in result.units] == [(1, "eu", "SE-STO"), (2, "uk", "GB-MKN")]
    built = sales_orders(
        order(line(1, 2, ("EU Stockholm", 2)), line(2, 1, ("UK Milton Keynes", 1))), result, {1: "SKU1", 2: "SKU2"}
    )
    assert [(s.number, s.facility, [(x.item, x.quantity, x.customer_line_number) for x in s.lines]) for s in built] == [
        ("C1001-GB-MKN", "GB-MKN", [("SKU2", 1, "2")]),
        ("C1001-SE-STO", "SE-STO", [("SKU1", 2, "1")]),
    ]


def test_override_by_ship_to_country_within_the_pool():
    result = route_order(order(line(1, 1, ("UK Milton Keynes", 1)), country="IE"), TABLE)
    assert [u.facility for u in result.units] == ["SE-STO"]


def test_a_pool_reaches_its_second_facility_when_the_first_cannot_supply_its_share():
    """uk sells 80 % of GB-MKN and 30 % of SE-STO: once GB-MKN's share is used up, GB orders ship from SE-STO,
    or the SE-STO share would be sold out of GB-MKN's shelves. Units routed count against the allowance, across
    the lines of one order too."""
    gb_out = {("uk", "GB-MKN", "A"): 0, ("uk", "SE-STO", "A"): 3}
    result = route_order(order(line(1, 2, ("UK Milton Keynes", 2), sku="A"), country="GB"), TABLE, available=gb_out)
    assert [u.facility for u in result.units] == ["SE-STO"]

    both = {("uk", "GB-MKN", "A"): 1, ("uk", "SE-STO", "A"): 5}
    two_lines = order(
        line(1, 1, ("UK Milton Keynes", 1), sku="A"), line(2, 1, ("UK Milton Keynes", 1), sku="A"), country="GB"
    )
    assert [u.facility for u in route_order(two_lines, TABLE, available=both).units] == ["GB-MKN", "SE-STO"]

    # Nobody can supply, or nothing is known: the configured first live facility ships (Deposco back-orders).
    nothing = {("uk", "GB-MKN", "A"): 0, ("uk", "SE-STO", "A"): 1}
    big = order(line(1, 2, ("UK Milton Keynes", 2), sku="A"), country="GB")
    assert [u.facility for u in route_order(big, TABLE, available=nothing).units] == ["GB-MKN"]
    assert [u.facility for u in route_order(big, TABLE, available={}).units] == ["GB-MKN"]
    only_second = {("uk", "SE-STO", "A"): 9}  # GB-MKN not read yet: no judgement, the configured order holds
    assert [u.facility for u in route_order(big, TABLE, available=only_second).units] == ["GB-MKN"]
    # An override wins while the pool's share there covers the units, or while that is not known ...
    irish = order(line(1, 1, ("UK Milton Keynes", 1), sku="A"), country="IE")
    assert [u.facility for u in route_order(irish, TABLE, available={("uk", "GB-MKN", "A"): 9}).units] == ["SE-STO"]
    plenty = {("uk", "GB-MKN", "A"): 9, ("uk", "SE-STO", "A"): 1}
    assert [u.facility for u in route_order(irish, TABLE, available=plenty).units] == ["SE-STO"]
    # ... but once the share is used up, the unit the pool sold comes from its other facility: sent to SE-STO
    # anyway it would be short there (the peak sale's oversold units were Irish orders routed this way).
    used_up = {("uk", "GB-MKN", "A"): 9, ("uk", "SE-STO", "A"): 0}
    assert [u.facility for u in route_order(irish, TABLE, available=used_up).units] == ["GB-MKN"]
    # nobody can supply: the override holds, as configured
    empty = {("uk", "GB-MKN", "A"): 0, ("uk", "SE-STO", "A"): 0}
    assert [u.facility for u in route_order(irish, TABLE, available=empty).units] == ["SE-STO"]


def test_a_unit_sold_beyond_every_share_goes_where_units_are_left_unclaimed():
    """Centra sold on a stale figure: the pool's share is used up everywhere. Sent to the configured facility,
    the unit is certainly short; where units are left that no pool's open orders claim (buffers, floored-away
    parts, a share another pool has not sold), it ships."""
    irish = order(line(1, 1, ("UK Milton Keynes", 1), sku="A"), country="IE")
    used_up = {("uk", "GB-MKN", "A"): 0, ("uk", "SE-STO", "A"): 0}
    gb_left = {**used_up, (ANY_POOL, "GB-MKN", "A"): 1, (ANY_POOL, "SE-STO", "A"): 0}
    assert [u.facility for u in route_order(irish, TABLE, available=gb_left).units] == ["GB-MKN"]
    # several have units left: the one with the most (it keeps the most slack), the configured order on a tie
    both_left = {**used_up, (ANY_POOL, "GB-MKN", "A"): 2, (ANY_POOL, "SE-STO", "A"): 1}
    assert [u.facility for u in route_order(irish, TABLE, available=both_left).units] == ["GB-MKN"]
    tie = {**used_up, (ANY_POOL, "GB-MKN", "A"): 2, (ANY_POOL, "SE-STO", "A"): 2}
    assert [u.facility for u in route_order(irish, TABLE, available=tie).units] == ["SE-STO"]  # the override first
    none_left = {**used_up, (ANY_POOL, "GB-MKN", "A"): 0, (ANY_POOL, "SE-STO", "A"): -1}
    assert [u.facility for u in route_order(irish, TABLE, available=none_left).units] == ["SE-STO"]
    # an order's lines draw on what is left as they are routed
    two = order(line(1, 1, ("UK Milton Keynes", 1), sku="A"), line(2, 1, ("UK Milton Keynes", 1), sku="A"))
    routed = route_order(two, TABLE, available={**used_up, (ANY_POOL, "GB-MKN", "A"): 0, (ANY_POOL, "SE-STO", "A"): 1})
    assert [u.facility for u in routed.units] == ["SE-STO", "GB-MKN"]


def test_draft_facility_quarantines_instead_of_guessing():
    result = route_order(order(line(1, 1, ("US New Jersey", 1)), country="US"), TABLE)
    assert not result.ok and result.units == ()
    [problem] = result.problems
    assert problem.cause == NOT_LIVE and problem.pool == "us" and "US-NJ" in problem.detail


def test_unknown_warehouse_and_missing_allocation_are_unroutable():
    result = route_order(order(line(1, 1, ("Popup Store", 1)), line(2, 3, ("EU Stockholm", 1))), TABLE)
    causes = sorted((p.cause, p.line_id) for p in result.problems)
    assert causes == [(UNROUTABLE, 1), (UNROUTABLE, 2)]
    assert "Popup Store" in result.problems[0].detail


def test_override_to_a_facility_that_is_not_live_is_a_problem():
    table = RoutingTable({"W": PoolRoute("p", (("A", True), ("B", False)), {"NO": "B"})})
    result = route_order(order(line(1, 1, ("W", 1)), country="NO"), table)
    assert [p.cause for p in result.problems] == [NOT_LIVE]


def test_a_line_split_over_two_pools_goes_to_two_facilities():
    result = route_order(order(line(1, 3, ("EU Stockholm", 2), ("UK Milton Keynes", 1))), TABLE)
    assert sorted((u.facility, u.quantity) for u in result.units) == [("GB-MKN", 1), ("SE-STO", 2)]


def test_fully_cancelled_lines_are_skipped_and_an_empty_order_is_unroutable():
    result = route_order(order(line(1, 0)), TABLE)
    assert [p.cause for p in result.problems] == [UNROUTABLE]


WAREHOUSES = st.sampled_from(["W1", "W2", "W3", "W4", "nowhere"])
FACILITIES = st.sampled_from(["A", "B", "C"])


@st.composite
def tables(draw):
    routes = {}
    for warehouse in ["W1", "W2", "W3", "W4"]:
        codes = draw(st.lists(FACILITIES, max_size=3, unique=True))
        facilities = tuple((c, draw(st.booleans())) for c in codes)
        overrides = draw(st.dictionaries(st.sampled_from(["SE", "GB", "US"]), FACILITIES, max_size=2))
        routes[warehouse] = PoolRoute(f"pool-{warehouse}", facilities, overrides)
    return RoutingTable(routes)


@st.composite
def orders(draw):
    lines = []
    for line_id in range(1, draw(st.integers(1, 5)) + 1):
        allocs = draw(st.lists(st.tuples(WAREHOUSES, st.integers(1, 4)), max_size=2))
        qty = sum(q for _, q in allocs) + draw(st.sampled_from([0, 0, 0, 1]))
        lines.append(line(line_id, qty, *allocs))
    return order(*lines, country=draw(st.sampled_from(["SE", "GB", "US", "DE"])))


@given(tables(), orders())
def test_routing_never_guesses_and_never_loses_units(table, o):
    result = route_order(o, table)
    for unit in result.units:
        route = next(r for r in table.by_warehouse.values() if r.pool == unit.pool)
        assert route.is_live(unit.facility), "only live facilities ship"
        expected = route.overrides.get(o.ship_to.country)
        if expected is not None:
            assert unit.facility == expected, "without an allowance, an override for the ship-to country wins"
        else:
            assert unit.facility == next(code for code, live in route.facilities if live), "first live facility"
    if result.ok:
        for ordered in o.lines:
            routed = sum(u.quantity for u in result.units if u.line_id == ordered.line_id)
            assert routed == ordered.quantity, "every unit of every line is routed exactly once"
        built = sales_orders(o, result, {x.line_id: x.sku for x in o.lines})
        assert len({s.number for s in built}) == len(built) == len(result.facilities)
        assert all(s.number == sales_order_number(o.number, s.facility) for s in built)
        assert sum(x.quantity for s in built for x in s.lines) == sum(x.quantity for x in o.lines)


def test_the_safety_buffer_is_kept_at_every_facility_a_pool_draws_from():
    """The peak sale's residual oversold unit: GB-MKN has 3, SE-STO 5; uk sells ⌊0.8·3⌋ + ⌊0.3·5⌋ - 1 = 2. By
    the shares alone both uk units came from GB-MKN (share 2), leaving it one unit for other channels' orders
    before the next figure lands. Keeping uk's buffer there too, the second unit still comes from uk's own share
    — Stockholm's, where more is left — and Milton Keynes keeps two."""
    left = {("uk", "GB-MKN", "A"): 2, ("uk", "SE-STO", "A"): 1, (ANY_POOL, "GB-MKN", "A"): 3}
    left[(ANY_POOL, "SE-STO", "A")] = 5
    two = order(
        line(1, 1, ("UK Milton Keynes", 1), sku="A"), line(2, 1, ("UK Milton Keynes", 1), sku="A"), country="GB"
    )
    buffer_of = {"uk": 1}
    assert [u.facility for u in route_order(two, TABLE, available=left, held=lambda p, i: buffer_of[p]).units] == [
        "GB-MKN",
        "SE-STO",
    ]
    assert [u.facility for u in route_order(two, TABLE, available=left).units] == ["GB-MKN", "GB-MKN"]  # no buffer

    # Beyond the buffer-keeping choice, the units still come from the pool's own share where there is one (even
    # where less is unclaimed: a facility's unclaimed units may be another pool's unsold share) ...
    only_gb = {("uk", "GB-MKN", "A"): 1, ("uk", "SE-STO", "A"): 0, (ANY_POOL, "GB-MKN", "A"): 1}
    only_gb[(ANY_POOL, "SE-STO", "A")] = 9
    one = order(line(1, 1, ("UK Milton Keynes", 1), sku="A"), country="GB")
    assert [u.facility for u in route_order(one, TABLE, available=only_gb, held=lambda p, i: 1).units] == ["GB-MKN"]
    # ... and an override keeps its preference while its share there keeps the buffer
    irish = order(line(1, 1, ("UK Milton Keynes", 1), sku="A"), country="IE")
    roomy = {("uk", "GB-MKN", "A"): 9, ("uk", "SE-STO", "A"): 2, (ANY_POOL, "GB-MKN", "A"): 12}
    roomy[(ANY_POOL, "SE-STO", "A")] = 4
    assert [u.facility for u in route_order(irish, TABLE, available=roomy, held=lambda p, i: 1).units] == ["SE-STO"]
    roomy[("uk", "SE-STO", "A")] = 1  # its share's last unit there: the buffer would go, GB-MKN keeps it
    assert [u.facility for u in route_order(irish, TABLE, available=roomy, held=lambda p, i: 1).units] == ["GB-MKN"]
    # nothing known: the buffer changes nothing, the configured order holds
    assert [u.facility for u in route_order(one, TABLE, available=None, held=lambda p, i: 1).units] == ["GB-MKN"]
