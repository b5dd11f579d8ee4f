"""``lockstep check --connect``: prove that a brand's credentials and mapping hold against the real systems.

For each brand: Centra accepts the token, every pool's Centra warehouse exists, and the rate tier's remaining
budget is shown; Deposco issues a token, every facility in the topology exists, and the legacy V1 API accepts its
credentials. Every failure is one line naming the brand and what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lockstep.config import BrandTopology
from lockstep.connectors.budget import CENTRA_TIERS, LocalBudget, Priority, deposco_windows
from lockstep.connectors.centra.client import CentraClient
from lockstep.connectors.deposco.client import DeposcoClient
from lockstep.connectors.errors import ConnectorError


@dataclass
class ConnectReport:
    brand: str
    passed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text


async def check_brand(topology: BrandTopology, secrets: dict[str, str]) -> ConnectReport:
    report = ConnectReport(topology.brand)
    brand = topology.brand
    centra = CentraClient.from_topology(
        topology,
        secrets[topology.centra.token_env],
        LocalBudget(f"{brand}:centra", CENTRA_TIERS[topology.centra.rate_tier]),
    )
    try:
        warehouses = {w.name for w in await centra.list_warehouses(priority=Priority.HIGH)}
        report.passed.append(f"Centra {topology.centra.base_url}: token accepted, {len(warehouses)} warehouse(s)")
        for pool in topology.pools:
            if pool.centra_warehouse not in warehouses:
                report.problems.append(
                    f"{brand}: pool {pool.id}: Centra has no warehouse named {pool.centra_warehouse!r} "
                    f"(Centra has: {', '.join(sorted(warehouses)) or 'none'})"
                )
        limits = await centra.rate_limits(priority=Priority.HIGH)
        summary = ", ".join(
            f"{limit.kind} {limit.remaining}/{limit.quota} per {limit.window_seconds:g}s" for limit in limits
        )
        report.passed.append(f"Centra rate tier {topology.centra.rate_tier}: remaining {summary or 'not reported'}")
    except ConnectorError as error:
        report.problems.append(f"{brand}: Centra: {_reason(error)}")
    finally:
        await centra.aclose()

    deposco = DeposcoClient.from_topology(
        topology, secrets, LocalBudget(f"{brand}:deposco", deposco_windows(topology.deposco.requests_per_second))
    )
    try:
        facilities = {f.code for f in await deposco.list_facilities(priority=Priority.HIGH)}
        report.passed.append(
            f"Deposco {topology.deposco.base_url}: token issued, {len(facilities)} facility(ies) for "
            f"business unit {topology.deposco.business_unit}"
        )
        for facility in topology.facilities:
            if facility.code not in facilities:
                report.problems.append(
                    f"{brand}: facility {facility.code}: Deposco has no such facility "
                    f"(Deposco has: {', '.join(sorted(facilities)) or 'none'})"
                )
        live = [f.code for f in topology.facilities if f.is_live and f.code in facilities]
        if deposco.v1 is not None and live:
            await deposco.v1.availability(facilities=live[:1], items=["lockstep-connect-check"])
            report.passed.append(f"Deposco V1 {topology.deposco.v1_base_url}: credentials accepted")
    except ConnectorError as error:
        report.problems.append(f"{brand}: Deposco: {_reason(error)}")
    finally:
        await deposco.aclose()
    return report
