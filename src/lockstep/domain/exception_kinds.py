"""The one registry of exception kinds: what can go wrong, who owns it by default, how loud it is.

Everything that names an exception kind (flows raising them, the topology's ``owners`` section, alert
routing, the dashboard, the playbooks in ``docs/playbooks/``) looks it up here, so a kind cannot exist in one
place and be unknown in another. The owner here is only the default: a brand's topology file may hand a kind
to another team. Pure data, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

TEAMS: tuple[str, ...] = ("ops", "ecom", "finance", "cx", "tech")
"""Teams an exception can be routed to: warehouse/e-commerce operations, merchandising, finance,
customer service, and the integration operator's engineers."""

SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")
"""Ordered from least to most urgent; alerting escalates along this order."""

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class ExceptionKind:
    """One kind of exception. ``playbook`` is a slug: the page is ``docs/playbooks/<playbook>.md``."""

    name: str
    title: str
    default_owner: str
    severity: str
    playbook: str

    def __post_init__(self) -> None:
        # Checked at import time, so a typo in the table below breaks the build, not an alert at 3 a.m.
        if self.default_owner not in TEAMS:
            raise ValueError(f"exception kind {self.name}: unknown team {self.default_owner!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"exception kind {self.name}: unknown severity {self.severity!r}")
        if not _SLUG.match(self.playbook):
            raise ValueError(f"exception kind {self.name}: playbook {self.playbook!r} is not a slug")

    @property
    def playbook_path(self) -> str:
        return f"docs/playbooks/{self.playbook}.md"


def _kind(name: str, title: str, owner: str, severity: str) -> ExceptionKind:
    # The playbook slug is the kind name with dashes, so a kind's page is always findable from its name.
    return ExceptionKind(name, title, owner, severity, name.replace("_", "-"))


_ALL = (
    # Orders (Centra -> Deposco)
    _kind("unroutable_order", "Order cannot be routed to a live facility", "ops", "critical"),
    _kind("unknown_sku", "Order line has a SKU that Deposco does not know", "ecom", "critical"),
    _kind("invalid_address", "Order has a shipping address the warehouse cannot use", "cx", "warning"),
    _kind("order_rejected", "Deposco rejected the order", "ops", "critical"),
    _kind("order_stuck", "Order not in Deposco in time", "ops", "warning"),
    _kind("cancellation_too_late", "Cancellation arrived after the warehouse started", "ops", "warning"),
    _kind("unmapped_shipping_option", "Order's shipping option has no carrier mapping", "ops", "critical"),
    # Shipments (Deposco -> Centra)
    _kind("shipment_unconfirmed", "Shipment not confirmed in Centra in time", "ops", "warning"),
    _kind("shipment_rejected", "Centra refused the shipment", "ops", "critical"),
    _kind("capture_failed", "Payment capture failed for a shipment", "finance", "critical"),
    _kind("over_shipment", "Warehouse shipped more than was ordered", "ops", "critical"),
    # Item master
    _kind("sku_missing_in_deposco", "SKU active in Centra is missing in Deposco", "ecom", "warning"),
    _kind("sku_missing_in_centra", "SKU in Deposco is unknown to Centra", "ecom", "info"),
    _kind("duplicate_upc", "Two sizes share one EAN/UPC", "ecom", "warning"),
    # Stock
    _kind("stock_drift", "Centra stock differs from the warehouse beyond tolerance", "ecom", "warning"),
    _kind("stock_write_rejected", "Centra refused stock for some sizes", "ecom", "warning"),
    # Configuration and plumbing
    _kind("mapping_invalid", "Pool to facility mapping is invalid", "tech", "critical"),
    _kind("facility_not_live", "Order or stock reached a facility that is not live", "ops", "warning"),
    _kind("event_feed_silent", "No events received from a system for too long", "tech", "warning"),
    _kind("job_dead", "Background job failed permanently (dead-lettered)", "tech", "critical"),
)

KINDS: Mapping[str, ExceptionKind] = MappingProxyType({kind.name: kind for kind in _ALL})


def get_kind(name: str) -> ExceptionKind:
    """The kind called ``name``; a KeyError that lists the known kinds otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown exception kind {name!r}; known kinds: {', '.join(KINDS)}") from None
