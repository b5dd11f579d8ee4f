"""Reconciliation in bulk: the stock equation for every (pool, SKU) at once, and the comparison with Centra.

``domain.stock.centra_physical`` is the equation for one key; reconciliation needs it for a million SKU x
facility readings in seconds, so this module states the same equation over columnar frames (polars). It must
agree with the scalar function to the unit — ``tests/domain/test_drift.py`` checks that on random data — so each
step mirrors it:

- per facility ``⌊share · ATP + 1e-9⌋`` in float64 (the same IEEE operations as ``math.floor``), summed per key;
- an in-flight line counts only when its Deposco confirmation is strictly before that facility's reading
  (``as_of``); units of facilities outside the pool's live shares are ignored; negative units count as 0;
- a live facility of the pool without a reading makes the key *unknown* (``expected`` is null, ``missing`` says
  how many): reported, never compared, never corrected;
- another pool's open units at a facility, not netted by its reading, come off that reading's ATP before the
  share; not for ``atp_nets_open_orders = False``;
- ``atp_nets_open_orders = False`` adds back only the shipped units;
- the safety buffer (first matching rule, else the default) is subtracted and the total clamped at 0.

A pool with no live facility has an expected value of 0 for every SKU Centra lists: stock of a draft or
testing facility never counts.

Tolerance (``thresholds.drift_tolerance_units`` / ``_percent``): a key drifts when **both** ``|centra -
expected| > units`` **and** ``100 · |centra - expected| / max(|expected|, 1) > percent``. The percentage is
taken of the expected figure (what Centra *should* hold); an expected 0 counts as 1 so a few stray units in an
empty pool still show as a large relative error instead of dividing by zero.

Pure: frames in, frames out, no I/O and no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

import polars as pl

KEY = ["pool", "sku"]
EPSILON = 1e-9  # the same nudge as domain.stock: 0.7 · 10 is 6.999… in float64 and must floor to 7

READINGS_SCHEMA = {"facility": pl.String, "sku": pl.String, "atp": pl.Int64, "as_of": pl.Datetime("us", "UTC")}
SHARES_SCHEMA = {"pool": pl.String, "facility": pl.String, "share": pl.Float64}
IN_FLIGHT_SCHEMA = {
    "pool": pl.String,
    "facility": pl.String,
    "sku": pl.String,
    "confirmed_at": pl.Datetime("us", "UTC"),
    "open": pl.Int64,
    "shipped": pl.Int64,
}
TIMES_SCHEMA = {"facility": pl.String, "sku": pl.String, "as_of": pl.Datetime("us", "UTC")}
CENTRA_SCHEMA = {"pool": pl.String, "sku": pl.String, "value": pl.Int64}
BELIEVED_SCHEMA = {"pool": pl.String, "sku": pl.String, "believed": pl.Int64}
ALLOCATED_SCHEMA = {"pool": pl.String, "sku": pl.String, "allocated": pl.Int64}
DIRTY_SCHEMA = {"pool": pl.String, "sku": pl.String, "dirty_since": pl.Datetime("us", "UTC")}

# Why a key drifts, judged from what Lockstep last published (``believed``):
CHANGED_OUTSIDE = "changed_outside_lockstep"  # Centra ≠ believed: someone or something else wrote Centra
NOT_YET_PUBLISHED = "not_yet_published"  # Centra = believed ≠ expected: the publisher has not caught up (or missed it)
NEVER_PUBLISHED = "never_published"  # Lockstep has no record of writing this key


# --- safety buffers ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BufferRule:
    """Hold back ``units`` of SKUs matching ``pattern`` (``fnmatchcase`` glob) in ``pools`` (empty: every pool)."""

    pattern: str
    units: int
    pools: tuple[str, ...] = ()


@dataclass(frozen=True)
class BufferRules:
    """The topology's ``safety_buffers``: the first matching rule wins, else ``default``."""

    default: int = 0
    rules: tuple[BufferRule, ...] = ()

    def units_for(self, pool: str, sku: str) -> int:
        """Scalar resolution, the reference the bulk one is tested against (same as BrandTopology.safety_buffer)."""
        for rule in self.rules:
            if (not rule.pools or pool in rule.pools) and fnmatchcase(sku, rule.pattern):
                return rule.units
        return self.default


class _Unsupported(Exception):
    """fnmatch produced a regex construct with no exact Rust-regex equivalent here: match in Python instead."""


class _NeverMatches(Exception):
    """The glob cannot match anything (e.g. an empty range such as ``[z-a]``)."""


def glob_to_rust_regex(pattern: str) -> str | None:
    """A Rust-regex (polars) equivalent of ``fnmatchcase(sku, pattern)``; None when it can never match.

    Why not translate the glob by hand: ``fnmatch`` has many corner cases (``[!]``, ``[]]``, an unclosed ``[``,
    reversed ranges, ``-`` at either end of a set). Parsing the regex the standard library itself builds and
    re-emitting each node keeps its exact semantics; every literal is written as ``\\x{…}`` so nothing needs
    escaping. Raises ``_Unsupported`` for a construct this does not know (the caller falls back to Python).
    """
    import fnmatch

    try:
        from re import _constants as c
        from re import _parser as parser
    except ImportError:  # pragma: no cover - older layouts
        import sre_constants as c  # type: ignore[no-redef]
        import sre_parse as parser  # type: ignore[no-redef]

    def lit(code: int) -> str:
        return f"\\x{{{code:X}}}"

    def emit(nodes) -> str:
        out = []
        for op, av in nodes:
            if op is c.LITERAL:
                out.append(lit(av))
            elif op is c.NOT_LITERAL:
                out.append(f"[^{lit(av)}]")
            elif op is c.ANY:
                out.append(".")
            elif op is c.IN:
                negate, parts = "", []
                for item_op, item in av:
                    if item_op is c.NEGATE:
                        negate = "^"
                    elif item_op is c.LITERAL:
                        parts.append(lit(item))
                    elif item_op is c.RANGE:
                        parts.append(f"{lit(item[0])}-{lit(item[1])}")
                    else:
                        raise _Unsupported(str(item_op))
                if not parts:
                    raise _Unsupported("empty set")
                out.append(f"[{negate}{''.join(parts)}]")
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
                low, high, sub = av
                lazy = "?" if op is c.MIN_REPEAT else ""
                bound = "*" if (low, high) == (0, c.MAXREPEAT) else f"{{{low},}}" if high == c.MAXREPEAT else None
                if bound is None:
                    bound = f"{{{low},{high}}}"
                out.append(f"(?:{emit(sub)}){bound}{lazy}")
            elif op is c.SUBPATTERN:
                _group, add_flags, del_flags, sub = av
                if del_flags or add_flags not in (0, c.SRE_FLAG_DOTALL):
                    raise _Unsupported("flags")
                out.append(f"(?:{emit(sub)})")
            elif op is getattr(c, "ATOMIC_GROUP", None):
                # fnmatch uses (?>.*?X) only where backtracking into it can never help a match: same language.
                out.append(f"(?:{emit(av)})")
            elif op is c.AT and av is c.AT_END_STRING:
                out.append("\\z")
            elif op is c.ASSERT_NOT and not av[1]:
                raise _NeverMatches
            else:
                raise _Unsupported(str(op))
        return "".join(out)

    try:
        return "(?s)^" + emit(parser.parse(fnmatch.translate(pattern)))
    except _NeverMatches:
        return None


def _rule_matches(rule: BufferRule, sku: pl.Expr) -> pl.Expr:
    try:
        regex = glob_to_rust_regex(rule.pattern)
    except _Unsupported:
        pattern = rule.pattern
        return sku.map_elements(lambda s: fnmatchcase(s, pattern), return_dtype=pl.Boolean)
    if regex is None:
        return pl.lit(False)
    return sku.str.contains(regex)


def with_buffers(keys: pl.LazyFrame, rules: BufferRules) -> pl.LazyFrame:
    """``keys`` (pool, sku, …) with a ``buffer`` column: the first matching rule per key, else the default.

    One vectorised regex per rule over the keys (a handful of rules, a million keys), instead of a glob match
    per key in Python.
    """
    expr: pl.Expr | None = None
    chain = None
    for rule in rules.rules:
        cond = _rule_matches(rule, pl.col("sku"))
        if rule.pools:
            cond = pl.col("pool").is_in(list(rule.pools)) & cond
        chain = pl.when(cond).then(pl.lit(rule.units)) if chain is None else chain.when(cond).then(pl.lit(rule.units))
    expr = pl.lit(rules.default) if chain is None else chain.otherwise(pl.lit(rules.default))
    return keys.with_columns(expr.cast(pl.Int64).clip(lower_bound=0).alias("buffer"))


# --- the equation in bulk ---------------------------------------------------------------------------------------


def _utc(frame: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """Datetimes compared as UTC microseconds whatever the source gave (naive UTC from SQLite, aware from PG)."""
    dtype = frame.collect_schema()[column]
    expr = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        expr = expr.dt.replace_time_zone("UTC") if dtype.time_zone is None else expr.dt.convert_time_zone("UTC")
        expr = expr.dt.cast_time_unit("us")
    return frame.with_columns(expr.alias(column))


def _lazy(frame: pl.DataFrame | pl.LazyFrame, schema: dict) -> pl.LazyFrame:
    lazy = frame.lazy()
    have = lazy.collect_schema()
    missing = [name for name in schema if name not in have]
    if missing:
        raise ValueError(f"frame lacks columns {missing}")
    casts = [pl.col(n).cast(t) for n, t in schema.items() if not isinstance(t, pl.Datetime)]
    return lazy.select(list(schema)).with_columns(casts)


def expected_physical(
    readings: pl.DataFrame | pl.LazyFrame,
    shares: pl.DataFrame | pl.LazyFrame,
    in_flight: pl.DataFrame | pl.LazyFrame,
    buffers: BufferRules,
    *,
    atp_nets_open_orders: bool = True,
    pools: Iterable[str] = (),
    keys: pl.DataFrame | pl.LazyFrame | None = None,
    reading_times: pl.DataFrame | pl.LazyFrame | None = None,
) -> pl.DataFrame:
    """``centra_physical`` for every key: readings (facility, sku, atp, as_of) x live shares (pool, facility,
    share) plus in-flight units (pool, facility, sku, confirmed_at, open, shipped), minus buffers.

    Keys are every (pool, SKU) with a reading at one of the pool's live facilities, plus ``keys``, whose figure
    is then exact too (e.g. 0 in a pool without live facilities; unknown with ``missing`` counted where a live
    facility has no reading). :func:`compare` does not need them: a SKU only Centra lists is unknown there
    anyway, and leaving ``keys`` out saves a join per pool. ``pools`` names every pool of the brand, so a pool
    without live facilities is known to have none.

    Columns: pool, sku, atp_part, held_open, shipped_unconfirmed, left_out, claimed_elsewhere, buffer, unclamped,
    missing, expected (null when ``missing`` > 0).

    ``reading_times`` (facility, sku, as_of): when given, ``readings`` need no ``as_of`` column. A reading's time
    matters only where in-flight units may be added back, so the store sends it for those keys alone: a third of
    the values a million readings would otherwise carry. It must cover every in-flight (facility, sku) that has
    a reading; a key it lacks counts as "no reading time", and its units are left out (selling less, never more).

    Computed pool by pool: within a pool every join is on the SKU alone, which polars does several times faster
    than on (pool, SKU) pairs; a brand has a handful of pools and a million readings.
    """
    if reading_times is None:
        readings = _utc(_lazy(readings, READINGS_SCHEMA), "as_of").collect()
        times = None
    else:
        readings = _lazy(readings, {k: v for k, v in READINGS_SCHEMA.items() if k != "as_of"}).collect()
        times = _utc(_lazy(reading_times, TIMES_SCHEMA), "as_of").collect()
    shares = _lazy(shares, SHARES_SCHEMA).collect()
    in_flight = _utc(_lazy(in_flight, IN_FLIGHT_SCHEMA), "confirmed_at").collect()
    extra = None
    if keys is not None:
        extra = keys.lazy().select(pl.col("pool").cast(pl.String), pl.col("sku").cast(pl.String)).collect()
    names = sorted(set(pools) | set(shares["pool"].unique().to_list()))
    claims = _claims(readings if times is None else times, in_flight) if atp_nets_open_orders else None
    frames = [
        _pool_expected(
            pool,
            readings,
            shares.filter(pl.col("pool") == pool),
            in_flight.filter(pl.col("pool") == pool),
            None if extra is None else extra.filter(pl.col("pool") == pool).select("sku"),
            buffers,
            atp_nets_open_orders,
            times,
            _claimed_elsewhere(claims, pool),
        )
        for pool in names
    ]
    if frames:
        return pl.concat(frames)
    return _pool_expected(
        "", readings, shares.clear(), in_flight.clear(), None, buffers, atp_nets_open_orders, times, None
    )


def _netted() -> pl.Expr:
    """``domain.stock.netted``: the Deposco confirmation is strictly before the reading (unknown: not netted)."""
    return (
        pl.col("as_of").is_not_null()
        & pl.col("confirmed_at").is_not_null()
        & (pl.col("confirmed_at") < pl.col("as_of"))
    ).fill_null(False)


def _claims(times: pl.DataFrame, in_flight: pl.DataFrame) -> pl.DataFrame | None:
    """(pool, facility, sku, claimed): open units of each pool's orders that the facility's reading does not net
    (``domain.stock.claims``); None when there are none. Small: open orders, not the catalog."""
    units = in_flight.filter(pl.col("open") > 0)
    if not units.height:
        return None
    claimed = (
        units.join(times.select("facility", "sku", "as_of"), on=["facility", "sku"], how="left")
        .filter(~_netted())
        .group_by("pool", "facility", "sku")
        .agg(pl.col("open").sum().cast(pl.Int64).alias("claimed"))
    )
    return claimed if claimed.height else None


def _claimed_elsewhere(claims: pl.DataFrame | None, pool: str) -> pl.DataFrame | None:
    """(facility, sku, claimed) of every pool but ``pool``."""
    if claims is None:
        return None
    others = claims.filter(pl.col("pool") != pool)
    if not others.height:
        return None
    return others.group_by("facility", "sku").agg(pl.col("claimed").sum())


def _pool_expected(
    pool: str,
    readings: pl.DataFrame,
    shares: pl.DataFrame,
    in_flight: pl.DataFrame,
    keys: pl.DataFrame | None,
    buffers: BufferRules,
    atp_nets_open_orders: bool,
    times: pl.DataFrame | None,
    elsewhere: pl.DataFrame | None,
) -> pl.DataFrame:
    live = shares.height
    facilities = shares.select("facility", "share")
    mine = readings.filter(pl.col("facility").is_in(facilities["facility"].to_list()))
    if elsewhere is not None:  # domain.stock.unclaimed_atp
        mine = mine.join(elsewhere, on=["facility", "sku"], how="left").with_columns(pl.col("claimed").fill_null(0))
        mine = mine.with_columns(pl.col("atp") - pl.col("claimed"))
    else:
        mine = mine.with_columns(pl.lit(0, dtype=pl.Int64).alias("claimed"))
    part = (pl.col("share") * pl.col("atp").cast(pl.Float64) + EPSILON).floor().cast(pl.Int64)
    if live == 1:  # one reading per SKU at most (the store keys readings by facility and SKU): nothing to sum
        share = pl.lit(float(facilities["share"][0]), dtype=pl.Float64)
        atp = mine.select(
            "sku",
            (share * pl.col("atp").cast(pl.Float64) + EPSILON).floor().cast(pl.Int64).alias("atp_part"),
            pl.lit(1, dtype=pl.Int64).alias("read"),
            pl.col("claimed").cast(pl.Int64).alias("claimed_elsewhere"),
        )
    else:
        atp = (
            mine.join(facilities, on="facility", how="inner")
            .with_columns(part.alias("part"))
            .group_by("sku")
            .agg(
                pl.col("part").sum().alias("atp_part"),
                pl.len().cast(pl.Int64).alias("read"),
                pl.col("claimed").sum().cast(pl.Int64).alias("claimed_elsewhere"),
            )
        )
    if keys is not None and keys.height:
        atp = atp.join(keys.unique(), on="sku", how="full", coalesce=True)

    units = in_flight.filter(pl.col("facility").is_in(facilities["facility"].to_list()))
    as_of = (mine if times is None else times).join(units.select("sku").unique(), on="sku", how="semi")
    as_of = as_of.select("facility", "sku", "as_of")
    units = units.join(as_of, on=["facility", "sku"], how="left").with_columns(
        pl.col("open").clip(lower_bound=0),
        pl.col("shipped").clip(lower_bound=0),
        _netted().alias("counted"),
    )
    counted = pl.col("counted")
    open_term = pl.when(counted).then(pl.col("open")).otherwise(0) if atp_nets_open_orders else pl.lit(0)
    flight = units.group_by("sku").agg(
        open_term.sum().cast(pl.Int64).alias("held_open"),
        pl.when(counted).then(pl.col("shipped")).otherwise(0).sum().cast(pl.Int64).alias("shipped_unconfirmed"),
        pl.when(counted).then(0).otherwise(pl.col("open") + pl.col("shipped")).sum().cast(pl.Int64).alias("left_out"),
    )

    frame = (
        atp.lazy()
        .join(flight.lazy(), on="sku", how="left")
        .with_columns(
            pl.lit(pool, dtype=pl.String).alias("pool"),
            pl.col("atp_part", "read", "held_open", "shipped_unconfirmed", "left_out", "claimed_elsewhere").fill_null(
                0
            ),
        )
    )
    frame = with_buffers(frame, buffers)
    unclamped = pl.col("atp_part") + pl.col("held_open") + pl.col("shipped_unconfirmed") - pl.col("buffer")
    return (
        frame.with_columns(
            unclamped.alias("unclamped"), (pl.lit(live, dtype=pl.Int64) - pl.col("read")).alias("missing")
        )
        .select(
            *KEY,
            "atp_part",
            "held_open",
            "shipped_unconfirmed",
            "left_out",
            "claimed_elsewhere",
            "buffer",
            "unclamped",
            "missing",
            pl.when(pl.col("missing") > 0)
            .then(None)
            .otherwise(pl.col("unclamped").clip(lower_bound=0))
            .alias("expected"),
        )
        .collect()
    )


# --- comparison -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    """Both must be exceeded for a key to drift (see the module docstring for the percentage's base)."""

    units: int = 2
    percent: float = 5.0


@dataclass(frozen=True)
class Comparison:
    """The outcome of one comparison.

    ``drift``: keys beyond tolerance with every term (see :func:`compare`), worst first. ``unknown``: keys whose
    expected figure is unknown (pool, sku, missing). ``per_pool``: compared / drift / unknown / absent_in_centra
    counts per pool (absent: Lockstep expects a figure, Centra lists no stock row for the SKU in that warehouse).
    """

    drift: pl.DataFrame
    unknown: pl.DataFrame
    per_pool: pl.DataFrame


def compare(
    expected: pl.DataFrame | pl.LazyFrame,
    centra: pl.DataFrame | pl.LazyFrame,
    tolerance: Tolerance,
    *,
    allocated: pl.DataFrame | pl.LazyFrame | None = None,
    centra_allocated: pl.DataFrame | pl.LazyFrame | None = None,
) -> Comparison:
    """Compare :func:`expected_physical` with Centra's figures (pool, sku, value).

    ``allocated`` (pool, sku, allocated): Centra allocations Lockstep knows of. Given, the comparison is in
    free-to-allocate terms (the light pass): the expected figure is lowered by it, to no less than zero, and
    ``value`` is Centra's FTA. Centra clamps a physical figure below what its orders hold up to that, so its FTA
    is never negative: a sold-out SKU whose figure is held at zero by the buffer while orders are still open
    would otherwise read as drift on every pass (the demo's sale showed three). Orders Lockstep has not seen yet
    lower Centra's FTA further; the tolerance absorbs a few.

    ``centra_allocated`` (pool, sku, allocated): what Centra itself holds allocated, read with physical on the
    full pass. For the same clamp, Centra's physical is never below it, so the expected physical is raised to it:
    otherwise that sold-out SKU drifts on every full pass, and each correction is clamped back.

    Drift columns (worst first): pool, sku, atp_part, held_open, shipped_unconfirmed, left_out, buffer,
    allocated, expected, centra, difference (centra - expected), percent. :func:`explain` adds the cause.
    """
    expected = expected.lazy().collect()
    centra = _lazy(centra, CENTRA_SCHEMA).rename({"value": "centra"}).collect()
    allocation = _collect(allocated, ALLOCATED_SCHEMA)
    floor = _collect(centra_allocated, ALLOCATED_SCHEMA)
    # Pool by pool, so every join is on the SKU alone (see expected_physical). A filter per pool rather than one
    # partition_by: only one pool's copy is alive at a time, which keeps the peak memory lower.
    pools = sorted(set(expected["pool"].unique().to_list()) | set(centra["pool"].unique().to_list()))
    counts, drifts, unknowns = [], [], []
    for pool in pools:
        mine = [frame.filter(pl.col("pool") == pool) for frame in (expected, centra, allocation, floor)]
        frame, drifting = _compare_pool(pool, *mine, tolerance, allocated is not None)
        status = frame["status"]
        counts.append(
            {
                "pool": pool,
                "compared": int((status == _COMPARED).sum()),
                "drift": int(frame["drifts"].sum()),
                "unknown": int((status == _UNKNOWN).sum()),
                "absent_in_centra": int((status == _ABSENT).sum()),
            }
        )
        unknowns.append(frame.filter(status == _UNKNOWN).select(*KEY, "missing"))
        drifts.append(drifting.select(list(DRIFT_SCHEMA)))
    per_pool = pl.DataFrame(counts, schema=COUNTS_SCHEMA)
    unknown = pl.concat(unknowns) if unknowns else pl.DataFrame(schema=UNKNOWN_SCHEMA)
    drift = pl.concat(drifts).cast(DRIFT_SCHEMA) if drifts else pl.DataFrame(schema=DRIFT_SCHEMA)
    drift = drift.sort(pl.col("difference").abs(), *KEY, descending=[True, False, False])
    return Comparison(drift=drift, unknown=unknown.cast(UNKNOWN_SCHEMA), per_pool=per_pool)


def explain(
    drift: pl.DataFrame,
    *,
    believed: pl.DataFrame | pl.LazyFrame | None = None,
    dirty: pl.DataFrame | pl.LazyFrame | None = None,
    free_to_allocate: bool = False,
) -> pl.DataFrame:
    """Which term disagrees, for the (few) drifting keys: adds ``believed`` (what Lockstep last published, in the
    comparison's terms: lowered by the known allocation on a light pass), ``dirty_since`` and ``cause``.

    Centra ≠ believed: something other than Lockstep wrote Centra (or a shipment was completed by hand).
    Centra = believed ≠ expected: Lockstep has not published the current figure yet — waiting (dirty since …)
    or never told (no dirty mark: a change it did not hear about). No belief at all: never published.
    """
    frame = drift.join(_collect(believed, BELIEVED_SCHEMA), on=KEY, how="left").join(
        _utc(_lazy(dirty, DIRTY_SCHEMA), "dirty_since").collect()
        if dirty is not None
        else pl.DataFrame(schema=DIRTY_SCHEMA),
        on=KEY,
        how="left",
    )
    if free_to_allocate:
        frame = frame.with_columns((pl.col("believed") - pl.col("allocated")).clip(lower_bound=0))
    return frame.with_columns(
        pl.when(pl.col("believed").is_null())
        .then(pl.lit(NEVER_PUBLISHED))
        .when(pl.col("centra") != pl.col("believed"))
        .then(pl.lit(CHANGED_OUTSIDE))
        .otherwise(pl.lit(NOT_YET_PUBLISHED))
        .alias("cause")
    )


_COMPARED, _UNKNOWN, _ABSENT = 0, 1, 2

DRIFT_SCHEMA = {
    "pool": pl.String,
    "sku": pl.String,
    "atp_part": pl.Int64,
    "held_open": pl.Int64,
    "shipped_unconfirmed": pl.Int64,
    "left_out": pl.Int64,
    "buffer": pl.Int64,
    "allocated": pl.Int64,
    "expected": pl.Int64,
    "centra": pl.Int64,
    "difference": pl.Int64,
    "percent": pl.Float64,
}
UNKNOWN_SCHEMA = {"pool": pl.String, "sku": pl.String, "missing": pl.Int64}
COUNTS_SCHEMA = {
    "pool": pl.String,
    "compared": pl.Int64,
    "drift": pl.Int64,
    "unknown": pl.Int64,
    "absent_in_centra": pl.Int64,
}


def _collect(frame: pl.DataFrame | pl.LazyFrame | None, schema: dict) -> pl.DataFrame:
    return (_lazy(frame, schema) if frame is not None else pl.LazyFrame(schema=schema)).collect()


def _compare_pool(
    pool: str,
    expected: pl.DataFrame,
    centra: pl.DataFrame,
    allocation: pl.DataFrame,
    floor: pl.DataFrame,
    tolerance: Tolerance,
    free_to_allocate: bool,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    # Only the columns the verdict needs go through the joins; the terms are fetched for drifting keys alone.
    frame = (
        expected.lazy()
        .select("sku", "expected", "missing")
        .join(centra.lazy().select("sku", "centra"), on="sku", how="full", coalesce=True)
        .join(allocation.lazy().select("sku", "allocated"), on="sku", how="left")
        .with_columns(pl.lit(pool, dtype=pl.String).alias("pool"), pl.col("allocated").fill_null(0))
    )
    if floor.height:  # Centra's physical is never below its own allocation (null expected stays unknown)
        frame = frame.join(floor.lazy().select("sku", pl.col("allocated").alias("floor")), on="sku", how="left")
        raised = pl.max_horizontal(pl.col("expected"), pl.col("floor").fill_null(0))
        frame = frame.with_columns(
            pl.when(pl.col("expected").is_null()).then(None).otherwise(raised).alias("expected")
        ).drop("floor")
    if free_to_allocate:  # Centra's FTA is never negative: a physical below allocated is clamped up to it
        frame = frame.with_columns((pl.col("expected") - pl.col("allocated")).clip(lower_bound=0))
    difference = pl.col("centra") - pl.col("expected")
    percent = 100.0 * difference.abs() / pl.max_horizontal(pl.col("expected").abs(), pl.lit(1))
    status = (
        # Expected is null when a live facility lacks a reading, and for a SKU Centra lists that no live
        # facility of the pool reports at all (not among the keys: ``missing`` is null then). Both unknown.
        pl.when(pl.col("expected").is_null())
        .then(pl.lit(_UNKNOWN))
        .when(pl.col("centra").is_null())
        .then(pl.lit(_ABSENT))
        .otherwise(pl.lit(_COMPARED))
        .cast(pl.UInt8)
    )
    frame = (
        frame.with_columns(status.alias("status"), difference.alias("difference"), percent.alias("percent"))
        .with_columns(
            (
                (pl.col("status") == _COMPARED)
                & (pl.col("difference").abs() > tolerance.units)
                & (pl.col("percent") > tolerance.percent)
            ).alias("drifts")
        )
        .collect()
    )
    drifting = frame.filter(pl.col("drifts"))
    terms = expected.filter(pl.col("sku").is_in(drifting["sku"].implode())).select(
        "sku", "atp_part", "held_open", "shipped_unconfirmed", "left_out", "buffer"
    )
    return frame, drifting.join(terms, on="sku", how="left")


def shares_frame(pools: Sequence[tuple[str, Sequence[tuple[str, float]]]]) -> pl.DataFrame:
    """(pool, [(live facility, share), …]) pairs as the ``shares`` frame."""
    rows = [(pool, facility, float(share)) for pool, entries in pools for facility, share in entries]
    return pl.DataFrame(rows, schema=SHARES_SCHEMA, orient="row")
