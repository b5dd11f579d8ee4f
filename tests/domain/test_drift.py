"""The bulk stock equation (domain/drift.py) against the scalar one (domain/stock.py), and the comparison."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from lockstep.domain.drift import (
    CHANGED_OUTSIDE,
    IN_FLIGHT_SCHEMA,
    NEVER_PUBLISHED,
    NOT_YET_PUBLISHED,
    READINGS_SCHEMA,
    BufferRule,
    BufferRules,
    Tolerance,
    compare,
    expected_physical,
    explain,
    glob_to_rust_regex,
    shares_frame,
    with_buffers,
)
from lockstep.domain.stock import InFlight, Reading, centra_physical

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
FACILITIES = ("F1", "F2", "F3")
SKUS = ("A-1", "A-2", "B-1", "LTD-9")
POOLS = ("p1", "p2", "p3")


def _frames(readings, in_flight):
    r = pl.DataFrame(readings, schema=READINGS_SCHEMA, orient="row")
    f = pl.DataFrame(in_flight, schema=IN_FLIGHT_SCHEMA, orient="row")
    return r, f


times = st.one_of(st.none(), st.integers(-5, 5).map(lambda m: T0 + timedelta(minutes=m)))


@st.composite
def worlds(draw):
    shares = {
        pool: dict(
            draw(
                st.lists(
                    st.tuples(
                        st.sampled_from(FACILITIES),
                        st.one_of(st.sampled_from([0.1, 0.2, 0.3, 0.7, 0.8, 1.0]), st.floats(0.01, 1.0)),
                    ),
                    max_size=3,
                    unique_by=lambda t: t[0],
                )
            )
        )
        for pool in POOLS
    }
    readings = {}
    for facility in FACILITIES:
        for sku in SKUS:
            if draw(st.booleans()) or draw(st.booleans()):
                as_of = T0 + timedelta(minutes=draw(st.integers(-3, 3)))
                readings[(facility, sku)] = (draw(st.integers(-20, 500)), as_of)
    in_flight = draw(
        st.lists(
            st.tuples(
                st.sampled_from(POOLS),
                st.sampled_from(FACILITIES),
                st.sampled_from(SKUS),
                times,
                st.integers(-2, 9),
                st.integers(-2, 9),
            ),
            max_size=12,
        )
    )
    rules = BufferRules(
        default=draw(st.integers(0, 3)),
        rules=tuple(
            draw(
                st.lists(
                    st.builds(
                        BufferRule,
                        st.sampled_from(["A-*", "*-1", "LTD-?", "[AB]-2", "[!A]*", "*"]),
                        st.integers(0, 5),
                        st.sampled_from([(), ("p1",), ("p2", "p3")]),
                    ),
                    max_size=3,
                )
            )
        ),
    )
    return shares, readings, in_flight, rules, draw(st.booleans())


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_bulk_equals_scalar(world):
    shares, readings, in_flight, rules, nets = world
    r, f = _frames([(fac, sku, atp, as_of) for (fac, sku), (atp, as_of) in readings.items()], in_flight)
    s = shares_frame([(pool, list(entries.items())) for pool, entries in shares.items()])
    keys = pl.DataFrame(
        [(p, k) for p in POOLS for k in SKUS], schema={"pool": pl.String, "sku": pl.String}, orient="row"
    )
    bulk = expected_physical(r, s, f, rules, atp_nets_open_orders=nets, pools=POOLS, keys=keys)
    # The store's shape: readings without times, times only for keys with in-flight units.
    flying = f.select("facility", "sku").unique()
    times = r.join(flying, on=["facility", "sku"], how="semi").select("facility", "sku", "as_of")
    split = expected_physical(
        r.drop("as_of"), s, f, rules, atp_nets_open_orders=nets, pools=POOLS, keys=keys, reading_times=times
    )
    assert split.sort("pool", "sku").equals(bulk.sort("pool", "sku"))
    got = {(row["pool"], row["sku"]): row for row in bulk.iter_rows(named=True)}
    assert len(got) == len(POOLS) * len(SKUS)
    for pool in POOLS:
        for sku in SKUS:
            scalar = centra_physical(
                shares[pool],
                {fac: Reading(atp, as_of) for (fac, s_), (atp, as_of) in readings.items() if s_ == sku},
                [
                    InFlight(fac, conf, open=o, shipped=sh)
                    for p, fac, s_, conf, o, sh in in_flight
                    if (p, s_) == (pool, sku)
                ],
                rules.units_for(pool, sku),
                atp_nets_open_orders=nets,
                elsewhere=[
                    InFlight(fac, conf, open=o, shipped=sh)
                    for p, fac, s_, conf, o, sh in in_flight
                    if s_ == sku and p != pool
                ],
            )
            row = got[(pool, sku)]
            assert row["expected"] == scalar.value, (pool, sku)
            assert (row["atp_part"], row["held_open"], row["shipped_unconfirmed"], row["buffer"]) == (
                scalar.atp_part,
                scalar.held_open,
                scalar.shipped_unconfirmed,
                scalar.buffer,
            )
            assert row["unclamped"] == scalar.unclamped
            assert row["missing"] == len(scalar.missing)
            assert row["left_out"] == scalar.left_out
            assert row["claimed_elsewhere"] == scalar.claimed_elsewhere


GLOB_ALPHABET = "ab-]![^\\*?.$(|&~"


@settings(max_examples=400, deadline=None)
@given(st.text(GLOB_ALPHABET, max_size=7), st.lists(st.text("ab-]![^\\.$(|&~\n", max_size=6), max_size=12))
def test_glob_translation_matches_fnmatchcase(pattern, skus):
    regex = glob_to_rust_regex(pattern)
    series = pl.Series(skus, dtype=pl.String)
    got = [False] * len(skus) if regex is None else series.str.contains(regex).to_list()
    assert got == [fnmatchcase(s, pattern) for s in skus], regex


def test_buffers_first_matching_rule_wins_and_respects_pools():
    rules = BufferRules(
        default=1,
        rules=(BufferRule("NW-LTD-*", 3, ("eu", "uk")), BufferRule("NW-*", 0), BufferRule("*", 7)),
    )
    keys = pl.LazyFrame({"pool": ["eu", "us", "eu", "eu"], "sku": ["NW-LTD-1", "NW-LTD-1", "NW-X", "OTHER"]})
    assert with_buffers(keys, rules).collect()["buffer"].to_list() == [3, 0, 0, 7]
    assert with_buffers(keys, BufferRules(default=2)).collect()["buffer"].to_list() == [2, 2, 2, 2]


def _expected(readings, shares, in_flight=(), keys=None, pools=("eu", "uk", "us")):
    r, f = _frames(readings, list(in_flight))
    k = None if keys is None else pl.DataFrame(keys, schema={"pool": pl.String, "sku": pl.String}, orient="row")
    return expected_physical(r, shares_frame(shares), f, BufferRules(), pools=pools, keys=k)


def test_shared_facility_splits_by_shares_and_draft_facility_never_counts():
    # SE backs eu 70 % and uk 30 %; us is backed by a draft facility only (not in the live shares).
    shares = [("eu", [("SE", 0.7)]), ("uk", [("GB", 1.0), ("SE", 0.3)]), ("us", [])]
    readings = [("SE", "X", 10, T0), ("GB", "X", 4, T0), ("US", "X", 50, T0)]
    frame = _expected(readings, shares, keys=[("us", "X")]).sort("pool")
    assert frame.select("pool", "atp_part", "expected").rows() == [("eu", 7, 7), ("uk", 7, 7), ("us", 0, 0)]


def test_missing_reading_is_unknown_and_reported_not_drift():
    shares = [("uk", [("GB", 1.0), ("SE", 0.3)])]
    expected = _expected([("GB", "X", 4, T0)], shares, pools=("uk",))
    centra = pl.DataFrame({"pool": ["uk"], "sku": ["X"], "value": [100]})
    result = compare(expected, centra, Tolerance())
    assert result.drift.height == 0
    assert result.unknown.rows() == [("uk", "X", 1)]
    assert result.per_pool.row(0, named=True)["unknown"] == 1


def test_tolerance_needs_both_units_and_percent():
    shares = [("eu", [("SE", 1.0)])]
    readings = [("SE", sku, atp, T0) for sku, atp in [("a", 100), ("b", 100), ("c", 0), ("d", 10)]]
    expected = _expected(readings, shares, pools=("eu",))
    # a: 4 units but 4 % (no); b: 6 units and 6 % (yes); c: 3 units over an expected 0 (yes); d: 2 units (no)
    centra = pl.DataFrame({"pool": ["eu"] * 4, "sku": ["a", "b", "c", "d"], "value": [104, 94, 3, 12]})
    result = compare(expected, centra, Tolerance(units=2, percent=5.0))
    assert result.drift.select("sku", "expected", "centra", "difference").rows() == [
        ("b", 100, 94, -6),
        ("c", 0, 3, 3),
    ]


def test_cause_names_the_disagreeing_term():
    shares = [("eu", [("SE", 1.0)])]
    readings = [("SE", sku, 50, T0) for sku in "abc"]
    expected = _expected(readings, shares, pools=("eu",))
    centra = pl.DataFrame({"pool": ["eu"] * 3, "sku": list("abc"), "value": [20, 30, 40]})
    believed = pl.DataFrame({"pool": ["eu", "eu"], "sku": ["a", "b"], "believed": [50, 30]})
    dirty = pl.DataFrame({"pool": ["eu"], "sku": ["b"], "dirty_since": [T0]})
    drift = explain(compare(expected, centra, Tolerance()).drift, believed=believed, dirty=dirty)
    causes = {row["sku"]: (row["cause"], row["dirty_since"]) for row in drift.iter_rows(named=True)}
    assert causes == {"a": (CHANGED_OUTSIDE, None), "b": (NOT_YET_PUBLISHED, T0), "c": (NEVER_PUBLISHED, None)}
    assert drift["sku"].to_list() == ["a", "b", "c"]  # worst first


def test_light_pass_compares_free_to_allocate():
    shares = [("eu", [("SE", 1.0)])]
    expected = _expected([("SE", "a", 50, T0)], shares, pools=("eu",))
    allocated = pl.DataFrame({"pool": ["eu"], "sku": ["a"], "allocated": [10]})
    same = compare(
        expected, pl.DataFrame({"pool": ["eu"], "sku": ["a"], "value": [40]}), Tolerance(), allocated=allocated
    )
    assert same.drift.height == 0
    off = compare(
        expected, pl.DataFrame({"pool": ["eu"], "sku": ["a"], "value": [50]}), Tolerance(), allocated=allocated
    )
    assert off.drift.select("expected", "centra", "allocated").rows() == [(40, 50, 10)]


def test_light_pass_expects_no_negative_free_to_allocate_a_sold_out_figure_is_not_drift():
    """Sold out: the buffer holds the figure at zero while 6 units of orders are still allocated. Centra clamps
    physical up to allocated, so its FTA is 0, not -6; the light pass expects 0 too. An unknown figure stays
    unknown (not zero)."""
    shares = [("eu", [("SE", 1.0), ("DE", 1.0)])]
    expected = _expected([("SE", "a", 0, T0), ("SE", "b", 0, T0), ("DE", "a", 0, T0)], shares, pools=("eu",))
    allocated = pl.DataFrame({"pool": ["eu", "eu"], "sku": ["a", "b"], "allocated": [6, 6]})
    centra = pl.DataFrame({"pool": ["eu", "eu"], "sku": ["a", "b"], "value": [0, 0]})
    result = compare(expected, centra, Tolerance(), allocated=allocated)
    assert result.drift.height == 0
    assert result.unknown["sku"].to_list() == ["b"]  # DE has no reading of b: unknown, never 0
    oversold = compare(
        expected, pl.DataFrame({"pool": ["eu"], "sku": ["a"], "value": [4]}), Tolerance(), allocated=allocated
    )
    assert oversold.drift.select("expected", "centra").rows() == [(0, 4)]  # Centra offering units is still drift


def test_full_pass_expects_no_physical_below_what_centra_holds_allocated():
    """The same clamp on the full pass: Centra shows physical 6 for a figure published as 0 while 6 units are
    allocated; that is what Lockstep's write leaves there, not drift. Above the allocation it still is."""
    expected = _expected([("SE", "a", 0, T0), ("SE", "b", 0, T0)], [("eu", [("SE", 1.0)])], pools=("eu",))
    held = pl.DataFrame({"pool": ["eu", "eu"], "sku": ["a", "b"], "allocated": [6, 0]})
    centra = pl.DataFrame({"pool": ["eu", "eu"], "sku": ["a", "b"], "value": [6, 6]})
    result = compare(expected, centra, Tolerance(), centra_allocated=held)
    assert result.drift.select("sku", "expected", "centra").rows() == [("b", 0, 6)]
    assert compare(expected, centra, Tolerance()).drift.height == 2  # without Centra's allocation: both


def test_a_sku_only_centra_lists_is_unknown_not_drift():
    expected = _expected([("SE", "a", 5, T0)], [("eu", [("SE", 1.0)])], pools=("eu",))
    centra = pl.DataFrame({"pool": ["eu", "eu"], "sku": ["a", "ghost"], "value": [5, 40]})
    result = compare(expected, centra, Tolerance())
    assert result.drift.height == 0
    assert result.unknown.rows() == [("eu", "ghost", None)]
