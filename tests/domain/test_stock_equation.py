"""The stock equation (DESIGN §4): worked examples and its invariants as properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from lockstep.domain.stock import (
    InFlight,
    Reading,
    StockChange,
    Urgency,
    centra_physical,
    changes_to_send,
    urgency,
)

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
BEFORE = T0 - timedelta(minutes=5)
AFTER = T0 + timedelta(seconds=1)


def test_worked_example_from_the_design():
    # Stockholm backs eu (70 %) and uk (30 %): 10 on hand, eu has 2 open Centra units, uk 1 → ATP 7.
    readings = {"SE-STO": Reading(atp=7, as_of=T0)}
    eu = centra_physical({"SE-STO": 0.7}, readings, [InFlight("SE-STO", BEFORE, open=2)], buffer=0)
    uk = centra_physical({"SE-STO": 0.3}, readings, [InFlight("SE-STO", BEFORE, open=1)], buffer=0)
    assert (eu.atp_part, eu.held_open, eu.value) == (4, 2, 6)  # ⌊4.9⌋ + 2
    assert (uk.atp_part, uk.held_open, uk.value) == (2, 1, 3)  # ⌊2.1⌋ + 1
    # Centra FTA = physical - its own allocations: 4 + 2 sellable ≤ ATP 7.
    assert (eu.value - 2) + (uk.value - 1) <= 7


def test_shipped_units_whose_centra_shipment_is_open_are_added_back():
    figure = centra_physical(
        {"GB-MKN": 1.0},
        {"GB-MKN": Reading(atp=5, as_of=T0)},
        [InFlight("GB-MKN", BEFORE, open=1, shipped=2)],
        buffer=1,
    )
    assert (figure.held_open, figure.shipped_unconfirmed, figure.buffer, figure.value) == (1, 2, 1, 7)


def test_an_order_confirmed_after_the_reading_is_left_out():
    figure = centra_physical(
        {"SE-STO": 1.0},
        {"SE-STO": Reading(atp=5, as_of=T0)},
        [InFlight("SE-STO", AFTER, open=3), InFlight("SE-STO", None, open=2)],
        buffer=0,
    )
    assert (figure.value, figure.held_open, figure.left_out) == (5, 0, 5)


def test_a_live_facility_without_reading_makes_the_figure_unknown():
    figure = centra_physical(
        {"SE-STO": 0.5, "GB-MKN": 0.5}, {"SE-STO": Reading(atp=10, as_of=T0)}, [InFlight("SE-STO", BEFORE, open=1)], 0
    )
    assert figure.value is None
    assert figure.missing == ("GB-MKN",)


def test_units_in_a_facility_outside_the_pool_are_ignored():
    figure = centra_physical({"SE-STO": 1.0}, {"SE-STO": Reading(4, T0)}, [InFlight("US-NJ", BEFORE, open=9)], 0)
    assert figure.value == 4


def test_negative_atp_eats_the_added_back_units_and_the_total_is_clamped():
    figure = centra_physical({"SE-STO": 1.0}, {"SE-STO": Reading(-3, T0)}, [InFlight("SE-STO", BEFORE, open=2)], 1)
    assert figure.unclamped == -2
    assert figure.value == 0


def test_tenant_whose_atp_does_not_net_open_orders_adds_back_only_shipped_units():
    figure = centra_physical(
        {"SE-STO": 1.0},
        {"SE-STO": Reading(6, T0)},
        [InFlight("SE-STO", BEFORE, open=2, shipped=1)],
        0,
        atp_nets_open_orders=False,
    )
    assert (figure.held_open, figure.shipped_unconfirmed, figure.value) == (0, 1, 7)


def test_publish_order_decreases_to_low_stock_first_then_decreases_then_increases():
    changes = changes_to_send(
        {"A": 10, "B": 1, "C": 3, "D": 20, "E": 5},
        {"A": 5, "B": 8, "C": 9, "D": 20, "E": None},
        low_stock_threshold=2,
    )
    assert [c.sku for c in changes] == ["B", "C", "A", "E"]  # D unchanged: not sent
    assert [urgency(c, 2) for c in changes] == [
        Urgency.LOW_STOCK_DECREASE,
        Urgency.DECREASE,
        Urgency.INCREASE,
        Urgency.INCREASE,
    ]
    assert StockChange("X", 0, None).delta == 0


def test_within_an_urgency_the_longest_waiting_go_first():
    """What does not fit one mutation waits for the next; newer changes must not keep jumping ahead of it."""
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    since = {"OLD": t0, "NEW": t0 + timedelta(seconds=5), "DROP": t0 + timedelta(seconds=9)}
    changes = changes_to_send(
        {"OLD": 6, "NEW": 50, "DROP": 0, "NEVER": 4},
        {"OLD": 5, "NEW": 5, "DROP": 9, "NEVER": 1},
        low_stock_threshold=2,
        waiting_since=since,
    )
    # the decrease still leads, however recent; among the increases the oldest first, whatever their size,
    # and a key with no recorded wait last
    assert [c.sku for c in changes] == ["DROP", "OLD", "NEW", "NEVER"]


# --- properties ---------------------------------------------------------------------------------------

shares_st = st.floats(min_value=0.01, max_value=1.0, allow_nan=False)
atp_st = st.integers(min_value=-50, max_value=10_000)
units_st = st.integers(min_value=0, max_value=50)
confirmed_st = st.sampled_from([BEFORE, AFTER, None])


@st.composite
def pool_case(draw):
    facilities = draw(st.lists(st.sampled_from(["F1", "F2", "F3"]), min_size=1, max_size=3, unique=True))
    shares = {f: draw(shares_st) for f in facilities}
    readings = {f: Reading(draw(atp_st), T0) for f in facilities}
    in_flight = draw(
        st.lists(
            st.builds(InFlight, st.sampled_from(facilities), confirmed_st, units_st, units_st),
            max_size=6,
        )
    )
    buffer = draw(st.integers(min_value=0, max_value=20))
    return shares, readings, in_flight, buffer


@given(pool_case())
def test_never_negative(case):
    shares, readings, in_flight, buffer = case
    assert centra_physical(shares, readings, in_flight, buffer).value >= 0


@given(pool_case(), st.sampled_from(["F1", "F2", "F3"]), st.integers(min_value=0, max_value=500))
def test_monotone_in_atp(case, facility, more):
    shares, readings, in_flight, buffer = case
    if facility not in readings:
        return
    before = centra_physical(shares, readings, in_flight, buffer).value
    raised = {**readings, facility: Reading(readings[facility].atp + more, T0)}
    assert centra_physical(shares, raised, in_flight, buffer).value >= before


@given(
    atp_before=st.integers(min_value=-5, max_value=1000),
    atp_after=st.integers(min_value=-5, max_value=1000),
    other_units=st.integers(min_value=0, max_value=20),
    shipped=st.integers(min_value=1, max_value=20),
    buffer=st.integers(min_value=0, max_value=5),
)
def test_completion_and_publish_in_either_order_converge(atp_before, atp_after, other_units, shipped, buffer):
    """Centra holds what Lockstep last published while a Deposco shipment of ``shipped`` units awaits its Centra
    completion (ATP does not move when Deposco ships); then a new reading arrives. Completing the shipment lowers
    Centra's physical and allocated by the shipped units, and Lockstep lowers what it believes Centra holds by
    the same units in the same step; publishing writes only values that differ. Either order ends at the same
    physical and free-to-allocate."""
    shares = {"F": 1.0}
    open_line = InFlight("F", BEFORE, open=other_units)

    def compute(atp: int, completed: bool) -> int:
        lines = [open_line] if completed else [open_line, InFlight("F", BEFORE, shipped=shipped)]
        return centra_physical(shares, {"F": Reading(atp, T0)}, lines, buffer).value

    def run(order: list[str]) -> tuple[int, int]:
        believed = physical = compute(atp_before, completed=False)
        allocated, completed = other_units + shipped, False
        for step in order:
            if step == "publish":
                value = compute(atp_after, completed)
                if value != believed:
                    physical = believed = value
            else:
                physical, allocated, believed, completed = (
                    physical - shipped,
                    allocated - shipped,
                    believed - shipped,
                    True,
                )
        return physical, physical - allocated

    complete_first = run(["complete", "publish"])
    publish_first = run(["publish", "complete", "publish"])
    assert complete_first == publish_first
    assert complete_first[0] == compute(atp_after, completed=True)


@given(
    on_hand=st.integers(min_value=0, max_value=500),
    centra_open=st.lists(st.integers(min_value=0, max_value=30), min_size=2, max_size=2),
    not_yet_in_deposco=st.lists(st.integers(min_value=0, max_value=30), min_size=2, max_size=2),
    other_channel=st.integers(min_value=0, max_value=50),
    split=st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
    buffers=st.lists(st.integers(min_value=0, max_value=5), min_size=2, max_size=2),
)
def test_in_flight_orders_are_never_sold_twice(on_hand, centra_open, not_yet_in_deposco, other_channel, split, buffers):
    """Two pools share one facility. Whatever Centra can still sell across both pools never exceeds what
    Deposco can still promise: each in-flight unit is counted once, in Centra's allocation or in ATP."""
    atp = on_hand - sum(centra_open) - other_channel
    reading = {"F": Reading(atp, T0)}
    sellable = 0
    for pool, share in enumerate((split, 1.0 - split)):
        if share <= 0:
            continue
        physical = centra_physical(
            {"F": share}, reading, [InFlight("F", BEFORE, open=centra_open[pool])], buffers[pool]
        )
        allocated = centra_open[pool] + not_yet_in_deposco[pool]  # Centra allocated every unit it took
        sellable += max(0, physical.value - allocated)
    assert sellable <= max(0, atp)


def test_another_pools_order_not_yet_in_the_reading_comes_off_the_shared_facility_first():
    # The peak sale's trace: Stockholm 4 (eu 70 %, uk 30 %), Milton Keynes 2 (uk 80 %), buffer 1. An eu order
    # for one unit is routed to Stockholm; the reading does not net it yet. uk's 30 % is of the 3 units left.
    readings = {"SE-STO": Reading(atp=4, as_of=T0), "GB-MKN": Reading(atp=2, as_of=T0)}
    eu_order = InFlight("SE-STO", AFTER, open=1)
    uk = centra_physical({"GB-MKN": 0.8, "SE-STO": 0.3}, readings, [], 1, elsewhere=[eu_order])
    assert (uk.per_facility, uk.claimed_elsewhere, uk.value) == ({"GB-MKN": 1, "SE-STO": 0}, 1, 0)
    without = centra_physical({"GB-MKN": 0.8, "SE-STO": 0.3}, readings, [], 1)
    assert without.value == 1  # what uk showed, and sold, before
    # The same order once the reading nets it: uk's figure is what it already was.
    netted = {**readings, "SE-STO": Reading(atp=3, as_of=T0)}
    settled = centra_physical(
        {"GB-MKN": 0.8, "SE-STO": 0.3}, netted, [], 1, elsewhere=[InFlight("SE-STO", BEFORE, open=1)]
    )
    assert (settled.value, settled.claimed_elsewhere) == (0, 0)


def test_other_pools_claims_beyond_the_reading_make_it_negative_as_the_next_reading_will():
    # pool b sold 3 at F on a stale figure, F shows 2: the next reading says -1, and it eats what pool a adds back
    # there (as a negative reading does) instead of being hidden.
    figure = centra_physical(
        {"F": 0.5}, {"F": Reading(2, T0)}, [InFlight("F", BEFORE, open=3)], 0, elsewhere=[InFlight("F", None, open=3)]
    )
    assert (figure.per_facility, figure.held_open, figure.claimed_elsewhere, figure.value) == ({"F": -1}, 3, 3, 2)


def test_a_tenant_whose_atp_nets_no_orders_ignores_other_pools_orders():
    # Each pool's share is then of the on-hand, and its own orders use it up through Centra's allocation.
    figure = centra_physical(
        {"F": 0.3}, {"F": Reading(10, T0)}, [], 0, atp_nets_open_orders=False, elsewhere=[InFlight("F", None, open=7)]
    )
    assert (figure.value, figure.claimed_elsewhere) == (3, 0)


@st.composite
def shared_facilities(draw):
    """Two pools over up to two facilities (shares of one facility add up to at most 1), open Centra units of
    each pool per facility that the first reading does not net, and the ATP that reading showed."""
    facilities = draw(st.lists(st.sampled_from(["F1", "F2"]), min_size=1, max_size=2, unique=True))
    shares = {"a": {}, "b": {}}
    for f in facilities:
        first = draw(st.sampled_from([0.0, 0.2, 0.3, 0.5, 0.7, 1.0]))
        if first > 0:
            shares["a"][f] = first
        if first < 1 and draw(st.booleans()):
            shares["b"][f] = draw(st.floats(min_value=0.01, max_value=1.0 - first, allow_nan=False))
    atp = {f: draw(st.integers(min_value=-5, max_value=60)) for f in facilities}
    units = {(p, f): draw(st.integers(min_value=0, max_value=8)) for p in shares for f in facilities}
    buffers = {p: draw(st.integers(min_value=0, max_value=3)) for p in shares}
    return shares, atp, units, buffers


@given(shared_facilities())
def test_no_pool_sells_more_before_a_reading_nets_the_orders_than_after(world):
    """Orders of both pools are routed but not yet in the reading; the next reading nets them (ATP lower by
    their units, the orders confirmed before it). What each pool's Centra free-to-allocate allows is never
    more before than after: no pool sells a unit that another pool's unreported order already took."""
    shares, atp, units, buffers = world
    before = {f: Reading(a, T0) for f, a in atp.items()}
    after = {f: Reading(a - sum(units[(p, f)] for p in shares), T0) for f, a in atp.items()}

    def sellable(pool: str, readings: dict, confirmed) -> int:
        mine = [InFlight(f, confirmed, open=n) for (p, f), n in units.items() if p == pool and n]
        others = [InFlight(f, confirmed, open=n) for (p, f), n in units.items() if p != pool and n]
        value = centra_physical(shares[pool], readings, mine, buffers[pool], elsewhere=others).value
        allocated = sum(n for (p, f), n in units.items() if p == pool and f in shares[pool])
        return max(0, value - allocated)

    for pool in shares:
        assert sellable(pool, before, AFTER) <= sellable(pool, after, BEFORE)
