"""Carrier choice: how each Deposco sales order ships, from the customer's Centra shipping option. Pure.

The brand's topology maps Centra shipping options (by uri, or by name) — optionally narrowed to facilities
and/or ship-to countries — to Deposco's ship via, carrier and service; the first rule that matches wins, in
the order the file lists them. When no rule matches, the facility's default applies. When there is no default
either, the option is *not covered*: the order is quarantined with that reason rather than sent with a guessed
carrier (a wrong service level costs money or misses a promised delivery date, and an order Deposco cannot
ship-via-match parks in its Review queue where nobody sees it).

A brand that configures no carrier mapping at all lets Deposco choose: its sales orders carry no carrier
fields, as before the mapping existed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lockstep.domain.model import CarrierService, ShippingOption

UNMAPPED_SHIPPING_OPTION = "unmapped_shipping_option"


@dataclass(frozen=True)
class CarrierRule:
    """Orders whose shipping option is one of ``shipping_options`` (uri, or name in any case), shipped from one
    of ``facilities`` (empty: any) to one of ``countries`` (empty: any), go out with ``service``."""

    shipping_options: tuple[str, ...]
    service: CarrierService
    facilities: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    source: str = ""  # where the rule is written, e.g. "carriers.rules[2]", for the decision's reason

    def matches(self, option: ShippingOption | None, facility: str, country: str) -> bool:
        if option is None or not option_matches(self.shipping_options, option):
            return False
        if self.facilities and facility not in self.facilities:
            return False
        return not self.countries or country.upper() in self.countries


def option_matches(keys: tuple[str, ...], option: ShippingOption) -> bool:
    """A rule's key names an option by its uri (exactly) or by its name (ignoring case and outer spaces)."""
    name = option.name.strip().casefold()
    return any((option.uri and key == option.uri) or (name and key.strip().casefold() == name) for key in keys)


@dataclass(frozen=True)
class CarrierTable:
    """The brand's carrier mapping: rules in priority order, and a default per facility code."""

    rules: tuple[CarrierRule, ...] = ()
    defaults: Mapping[str, CarrierService] = field(default_factory=dict)

    @property
    def configured(self) -> bool:
        """False for a brand that lets Deposco choose every carrier (no rules, no defaults)."""
        return bool(self.rules or self.defaults)


@dataclass(frozen=True)
class CarrierDecision:
    """How the sales order of ``facility`` ships, and why; ``service`` None = not covered (quarantine)."""

    facility: str
    service: CarrierService | None
    why: str

    @property
    def ok(self) -> bool:
        return self.service is not None


def choose_carrier(table: CarrierTable, option: ShippingOption | None, facility: str, country: str) -> CarrierDecision:
    """The carrier for the part of an order with shipping ``option`` that ``facility`` ships to ``country``."""
    if not table.configured:
        return CarrierDecision(facility, CarrierService(), "the brand has no carrier mapping: Deposco chooses")
    for index, rule in enumerate(table.rules):
        if rule.matches(option, facility, country):
            where = rule.source or f"rule {index + 1}"
            return CarrierDecision(facility, rule.service, f"{where} maps shipping option {_name(option)}")
    default = table.defaults.get(facility)
    if default is not None:
        return CarrierDecision(
            facility, default, f"no rule for shipping option {_name(option)}: the default of facility {facility}"
        )
    to = f" to {country.upper()}" if country else ""
    return CarrierDecision(
        facility,
        None,
        f"shipping option {_name(option)} from facility {facility}{to} has no carrier mapping "
        "and the facility no default carrier",
    )


def _name(option: ShippingOption | None) -> str:
    if option is None:
        return "(none: Centra gave the order no shipping option)"
    if option.uri and option.name and option.name != option.uri:
        return f"{option.uri!r} ({option.name})"
    return repr(option.label)
