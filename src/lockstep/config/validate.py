"""Checks that relate several parts of a brand file, and the one-line problem format every check reports in.

An operator fixing a topology file wants every mistake at once, each pointing at the exact place, in the
same shape whether it came from YAML, from pydantic or from a cross-reference rule:
``file: dotted.path[i]: reason``. So nothing here stops at the first problem, and nothing here raises except
:class:`ConfigError`, which carries the whole list. Rules that would make Lockstep oversell or route to a
guessed warehouse are errors; things that are legitimate mid-rollout (a pool whose only facility is still in
draft) are warnings.
"""

from __future__ import annotations

import difflib
import re
import types
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from lockstep.config.topology import BrandTopology, PoolFacility
from lockstep.domain.exception_kinds import KINDS, TEAMS

# The account-wide Deposco limit people report (docs/api): above this the integration meets 429 storms.
_DEPOSCO_SAFE_RPS = 4.0
# Shares are decimals typed by people (0.1 + 0.2 + 0.7 is 1.0000000000000002 in binary floating point).
_SHARE_EPSILON = 1e-9
_SCHEDULE_NAME = re.compile(r"[a-z][a-z0-9_]*")

T = TypeVar("T")

# Pydantic speaks Python ("valid tuple", "dictionary"); the people reading these messages edit YAML.
_YAML_WORDING = {
    "tuple_type": "Input should be a list",
    "list_type": "Input should be a list",
    "dict_type": "Input should be a mapping (key: value lines)",
    "model_type": "Input should be a mapping (key: value lines)",
    "model_attributes_type": "Input should be a mapping (key: value lines)",
}


@dataclass(frozen=True)
class Problem:
    """One finding: which file, where in it (dotted path, may be empty), and why, on one line."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return ": ".join(part for part in (self.file, self.path, self.message) if part)


class ConfigError(Exception):
    """Configuration that cannot be used; ``problems`` says everything that is wrong with it."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass
class Findings:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def format_path(loc: tuple[str | int, ...]) -> str:
    """``("pools", 1, "facilities", 0, "share")`` -> ``pools[1].facilities[0].share``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# --- pydantic errors -> problems ---


def problems_from_validation_error(
    file: str, error: ValidationError, root: type[BaseModel] = BrandTopology
) -> list[Problem]:
    """Turn pydantic's errors into problems, with messages written for someone editing YAML."""
    items = error.errors(include_url=False)
    failed = [tuple(item["loc"]) for item in items]
    problems = []
    for item, loc in zip(items, failed, strict=True):
        if item["type"] == "too_short" and any(other[: len(loc)] == loc and other != loc for other in failed):
            continue  # "list too short" only because an item inside it failed: the item's error says it all
        problems.append(Problem(file, format_path(_without_key_marker(loc)), _message(item, loc, root)))
    return problems


def _without_key_marker(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Drop pydantic's ``[key]`` marker; the segment before it is a mapping key, even a numeric one."""
    out: list[str | int] = []
    for part in loc:
        if part == "[key]" and out:
            out[-1] = str(out[-1])
        else:
            out.append(part)
    return tuple(out)


def _message(item: Mapping[str, Any], loc: tuple[str | int, ...], root: type[BaseModel]) -> str:
    kind, message = item["type"], item["msg"]
    if "[key]" in loc:  # pydantic marks a bad mapping key with a pseudo-segment
        return f"invalid key: {message}"
    if kind == "extra_forbidden":
        return _unknown_key_message(root, loc)
    if kind == "missing":
        return "required key is missing"
    if kind == "too_short":
        return f"needs at least {item['ctx']['min_length']} item(s)"
    if kind in ("value_error", "assertion_error"):
        return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in _YAML_WORDING:
        return _YAML_WORDING[kind]
    if kind == "string_type" and isinstance(item.get("input"), int | float):
        return message + " (YAML read a number here; put it in quotes)"
    return message


def _unknown_key_message(root: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    allowed = _allowed_keys(root, loc[:-1])
    key = str(loc[-1]) if loc else ""
    if not allowed:
        return "unknown key"
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key ({hint}allowed here: {', '.join(allowed)})"


def _allowed_keys(root: type[BaseModel], parent: tuple[str | int, ...]) -> list[str]:
    """The field names of the model found by walking ``parent`` down from ``root``'s type annotations."""
    current: object = root
    for part in parent:
        current = _strip(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            current = info.annotation if info else None
        elif get_origin(current) in (tuple, list):
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
    current = _strip(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _strip(annotation: object) -> object:
    """Remove ``Annotated`` metadata and ``| None`` so the walk reaches the model inside."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        annotation = args[0] if len(args) == 1 else annotation
    return annotation


# --- cross-field rules ---


def check_topology(topology: BrandTopology, file: str) -> Findings:
    """Every cross-reference rule over one parsed brand file. A topology with problems must not be used."""
    findings = Findings()
    out = _Report(file, findings)
    _check_unique_ids(topology, out)
    _check_pools(topology, out)
    _check_shares(topology, out)
    _check_markets(topology, out)
    _check_overrides(topology, out)
    _check_carriers(topology, out)
    _check_buffers(topology, out)
    _check_owners_and_teams(topology, out)
    _check_schedules(topology, out)
    _check_deposco(topology, out)
    _check_inventory(topology, out)
    return findings


@dataclass
class _Report:
    file: str
    findings: Findings

    def error(self, path: str, message: str) -> None:
        self.findings.problems.append(Problem(self.file, path, message))

    def warn(self, path: str, message: str) -> None:
        self.findings.warnings.append(Problem(self.file, path, message))


def _first_by_key(items: Iterable[T], attr: str) -> dict[str, T]:
    """Items by ``attr``, keeping the first of duplicates (reported separately) like the topology lookups."""
    index: dict[str, T] = {}
    for item in items:
        index.setdefault(getattr(item, attr), item)
    return index


def _duplicates(values: list[str]) -> list[tuple[int, int]]:
    """(index of a repeat, index of its first occurrence) for each repeated value."""
    first: dict[str, int] = {}
    repeats = []
    for index, value in enumerate(values):
        if value in first:
            repeats.append((index, first[value]))
        else:
            first[value] = index
    return repeats


def _check_unique_ids(t: BrandTopology, out: _Report) -> None:
    for section, attr, noun, why in (
        ("markets", "id", "market id", ""),
        ("pools", "id", "pool id", ""),
        ("facilities", "code", "facility code", ""),
        ("pools", "centra_warehouse", "Centra warehouse", ": two pools writing its stock clash"),
    ):
        values = [getattr(item, attr) for item in getattr(t, section)]
        for index, first in _duplicates(values):
            out.error(
                f"{section}[{index}].{attr}",
                f"duplicate {noun} {values[index]!r}, already used at {section}[{first}]{why}",
            )


def _check_pools(t: BrandTopology, out: _Report) -> None:
    known = _first_by_key(t.facilities, "code")
    used: set[str] = set()
    for p, pool in enumerate(t.pools):
        codes = [entry.facility for entry in pool.facilities]
        used.update(codes)
        for index, first in _duplicates(codes):
            out.error(
                f"pools[{p}].facilities[{index}].facility",
                f"facility {codes[index]!r} is listed twice in pool {pool.id!r} (see facilities[{first}])",
            )
        for index, code in enumerate(codes):
            if code not in known:
                out.error(f"pools[{p}].facilities[{index}].facility", _unknown("facility", code, known))
        if not any(code in known and known[code].is_live for code in codes):
            out.warn(
                f"pools[{p}]",
                f"pool {pool.id!r} has no live facility: no stock is published for it and its orders are "
                "held as unroutable until one goes live",
            )
    for index, facility in enumerate(t.facilities):
        if facility.code not in used:
            out.warn(f"facilities[{index}]", f"facility {facility.code!r} backs no pool, so it is never used")


def _check_shares(t: BrandTopology, out: _Report) -> None:
    """A facility's shares across all pools must sum to at most 1, or the pools sell the same units twice."""
    declared = {facility.code for facility in t.facilities}
    uses: dict[str, list[tuple[str, str, PoolFacility]]] = defaultdict(list)  # code -> (path, pool id, entry)
    for p, pool in enumerate(t.pools):
        for f, entry in enumerate(pool.facilities):
            uses[entry.facility].append((f"pools[{p}].facilities[{f}].share", pool.id, entry))
    for code, entries in uses.items():
        total = sum(entry.share for _, _, entry in entries)
        if code not in declared or total <= 1 + _SHARE_EPSILON:
            continue
        pools = ", ".join(f"{pool_id} ({entry.share:g})" for _, pool_id, entry in entries)
        implicit = any("share" not in entry.model_fields_set for _, _, entry in entries)
        out.error(
            entries[-1][0],  # the entry that, in reading order, over-commits the facility
            f"facility {code!r} is shared by pools {pools} with shares summing to {total:g}, more than 1: "
            "that would double sellable stock (each pool would sell the same units); give the pools explicit "
            "shares that sum to at most 1" + ("; a share left out counts as 1" if implicit else ""),
        )


def _check_markets(t: BrandTopology, out: _Report) -> None:
    known = {pool.id for pool in t.pools}
    reached: set[str] = set()
    for m, market in enumerate(t.markets):
        reached.update(market.pools)
        for index, first in _duplicates(list(market.pools)):
            out.error(
                f"markets[{m}].pools[{index}]",
                f"pool {market.pools[index]!r} is listed twice in market {market.id!r} (see pools[{first}])",
            )
        for index, pool_id in enumerate(market.pools):
            if pool_id not in known:
                out.error(f"markets[{m}].pools[{index}]", _unknown("pool", pool_id, known))
    for index, pool in enumerate(t.pools):
        if pool.id not in reached:
            out.warn(f"pools[{index}]", f"pool {pool.id!r} is not reachable from any market")


def _check_overrides(t: BrandTopology, out: _Report) -> None:
    pools = _first_by_key(t.pools, "id")
    facilities = _first_by_key(t.facilities, "code")
    seen: dict[tuple[str, str], int] = {}
    for o, override in enumerate(t.routing_overrides):
        at = f"routing_overrides[{o}]"
        pool = pools.get(override.pool)
        if pool is None:
            out.error(f"{at}.pool", _unknown("pool", override.pool, pools))
        if override.facility not in facilities:
            out.error(f"{at}.facility", _unknown("facility", override.facility, facilities))
        elif pool is not None and override.facility not in {entry.facility for entry in pool.facilities}:
            out.error(
                f"{at}.facility",
                f"facility {override.facility!r} does not back pool {pool.id!r}; add it to the pool's "
                "facilities (with its share) or route to one of them",
            )
        elif not facilities[override.facility].is_live:
            out.warn(
                f"{at}.facility",
                f"facility {override.facility!r} is {facilities[override.facility].state}: orders this "
                "override routes are held until it goes live",
            )
        for c, country in enumerate(override.ship_to_countries):
            key = (override.pool, country)
            if key in seen:
                out.error(
                    f"{at}.ship_to_countries[{c}]",
                    f"{country} in pool {override.pool!r} is already routed by routing_overrides[{seen[key]}]"
                    if seen[key] != o
                    else f"{country} is listed twice",
                )
            seen.setdefault(key, o)
        if pool is not None:
            sold_to = {c for market in t.markets if pool.id in market.pools for c in market.countries}
            unreachable = [c for c in override.ship_to_countries if c not in sold_to]
            if unreachable:
                out.warn(
                    f"{at}.ship_to_countries",
                    f"no market that draws on pool {pool.id!r} sells to {', '.join(unreachable)}, "
                    "so the override never applies there",
                )


def _check_carriers(t: BrandTopology, out: _Report) -> None:
    """Carrier rules and defaults name known facilities; a rule an earlier one always pre-empts is dead."""
    known = _first_by_key(t.facilities, "code")
    sold_to = {country for market in t.markets for country in market.countries}
    rules = t.carriers.rules
    for r, rule in enumerate(rules):
        at = f"carriers.rules[{r}]"
        for index, code in enumerate(rule.facilities):
            if code not in known:
                out.error(f"{at}.facilities[{index}]", _unknown("facility", code, known))
        unsold = [c for c in rule.ship_to_countries if c not in sold_to]
        if unsold:
            out.warn(
                f"{at}.ship_to_countries", f"no market sells to {', '.join(unsold)}, so the rule never applies there"
            )
        earlier = next((e for e in range(r) if _covers(rules[e], rule)), None)
        if earlier is not None:
            out.warn(
                at,
                f"never applies: carriers.rules[{earlier}] comes first and matches every order this rule does "
                "(the first matching rule wins; put the narrower rule first)",
            )
    for code in t.carriers.defaults:
        if code not in known:
            out.error(f"carriers.defaults.{code}", _unknown("facility", code, known))


def _covers(first: Any, later: Any) -> bool:
    """Does rule ``first`` match every order rule ``later`` matches (same options, no narrower scope)?"""
    return (
        set(later.shipping_options) <= set(first.shipping_options)
        and (not first.facilities or (bool(later.facilities) and set(later.facilities) <= set(first.facilities)))
        and (
            not first.ship_to_countries
            or (bool(later.ship_to_countries) and set(later.ship_to_countries) <= set(first.ship_to_countries))
        )
    )


def _check_buffers(t: BrandTopology, out: _Report) -> None:
    known = {pool.id for pool in t.pools}
    for r, rule in enumerate(t.safety_buffers.per_sku):
        for index, pool_id in enumerate(rule.pools):
            if pool_id not in known:
                out.error(f"safety_buffers.per_sku[{r}].pools[{index}]", _unknown("pool", pool_id, known))


def _check_owners_and_teams(t: BrandTopology, out: _Report) -> None:
    for kind, team in t.owners.items():
        if kind not in KINDS:
            out.error(f"owners.{kind}", _unknown("exception kind", kind, KINDS))
        if team not in TEAMS:
            out.error(f"owners.{kind}", _unknown("team", team, TEAMS))
    for team in t.teams:
        if team not in TEAMS:
            out.error(f"teams.{team}", _unknown("team", team, TEAMS))
    if not t.teams:
        return  # no alerting configured at all is a deliberate choice (dashboard only), not an oversight
    owned: dict[str, list[str]] = defaultdict(list)
    for kind in KINDS:
        team = t.owners.get(kind, KINDS[kind].default_owner)
        owned[team].append(kind)
    for team, kinds in owned.items():
        if team in TEAMS and not (team in t.teams and t.teams[team].channels):
            out.warn(
                f"teams.{team}",
                f"team {team!r} owns {len(kinds)} exception kind(s) ({', '.join(kinds)}) but has no alert "
                "channel; those exceptions only show on the dashboard",
            )


def _check_schedules(t: BrandTopology, out: _Report) -> None:
    for name in t.schedules:
        if not _SCHEDULE_NAME.fullmatch(name):
            out.error(f"schedules.{name}", "schedule name must be lower-case letters, digits and '_'")


def _check_deposco(t: BrandTopology, out: _Report) -> None:
    rps = t.deposco.requests_per_second
    if rps > _DEPOSCO_SAFE_RPS:
        out.warn(
            "deposco.requests_per_second",
            f"{rps:g} requests/second is above the ~{_DEPOSCO_SAFE_RPS:g}/s Deposco allows per account; "
            "expect 429 responses",
        )


def _check_inventory(t: BrandTopology, out: _Report) -> None:
    inv = t.inventory
    if not inv.changed_since and inv.adjustments_seconds == 0:
        out.warn(
            "inventory.changed_since",
            "without changed-since or the adjustment feed (inventory.adjustments_seconds) only the rolling scan "
            f"sees stock changes: {inv.scan_page_items} items every {inv.rolling_scan_seconds} s, so an item "
            "waits a catalog cycle",
        )


def _unknown(noun: str, value: str, known: Iterable[str]) -> str:
    names = sorted(known)
    close = difflib.get_close_matches(str(value), names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown {noun} {value!r} ({hint}known: {', '.join(names) or 'none'})"
