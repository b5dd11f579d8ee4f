"""Both simulators for one brand, started in-process, and the brand's topology pointed at them.

``make demo``, end-to-end tests and benchmarks need the same three things: a Centra and a Deposco simulator
configured like the brand (business unit, tenant code), a copy of the brand file whose URLs lead to them, and
the secrets the simulators accept, under the variable names the brand file gives. This module provides exactly
that and nothing else; seeding a world is :mod:`lockstep.sim.scenario.seeding`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lockstep.config.loader import read_yaml
from lockstep.config.topology import BrandTopology
from lockstep.sim.centra.app import build_app as build_centra
from lockstep.sim.deposco.app import build_app as build_deposco
from lockstep.sim.server import running
from lockstep.sim.truth import Endpoints


@dataclass(frozen=True)
class LocalSimulators:
    centra_url: str
    centra_token: str
    deposco_url: str
    deposco_client_id: str
    deposco_client_secret: str
    tenant_code: str
    centra_app: Any = None  # the ASGI apps, for in-process inspection (``.sim``)
    deposco_app: Any = None

    def endpoints(self) -> Endpoints:
        """Control-API access to both simulators (seeding, counters, truth)."""
        return Endpoints(
            self.centra_url, self.centra_token, self.deposco_url, self.deposco_client_id, self.deposco_client_secret
        )

    def secrets_for(self, topology: BrandTopology) -> dict[str, str]:
        """Every secret variable the brand file names, set to what the simulators accept."""
        values = {
            topology.centra.token_env: self.centra_token,
            topology.deposco.client_id_env: self.deposco_client_id,
            topology.deposco.client_secret_env: self.deposco_client_secret,
            topology.deposco.username_env: self.deposco_client_id,
            topology.deposco.password_env: self.deposco_client_secret,
        }
        for path, variable in topology.secret_env_vars():
            values.setdefault(variable, f"http://127.0.0.1:9/{path}" if "webhook_url" in path else "sim-secret")
        return values

    def pointed(self, brand_file: Path, target_dir: Path) -> Path:
        """Write a copy of ``brand_file`` into ``target_dir`` with its API URLs leading to the simulators."""
        data, problems = read_yaml(brand_file, brand_file.name)  # the project's loader: `NO` stays a string
        if problems:
            raise ValueError("; ".join(str(p) for p in problems))
        data["centra"]["base_url"] = self.centra_url
        data["deposco"]["base_url"] = f"{self.deposco_url}/latest"
        data["deposco"]["token_url"] = f"{self.deposco_url}/oauth2/token"
        data["deposco"]["v1_base_url"] = f"{self.deposco_url}/integration/{self.tenant_code}"
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / brand_file.name
        target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        return target


@contextlib.contextmanager
def local_simulators(
    topology: BrandTopology,
    *,
    seed: int = 0,
    centra_token: str = "lockstep-sim-token",
    deposco_client_id: str = "lockstep",
    deposco_client_secret: str = "lockstep-sim-secret",
    centra_options: Mapping[str, Any] | None = None,
    deposco_options: Mapping[str, Any] | None = None,
    wrap_deposco: Callable[[Any], Any] | None = None,
    wrap_centra: Callable[[Any], Any] | None = None,
) -> Iterator[LocalSimulators]:
    """Start both simulators on free ports of 127.0.0.1 for the duration of the block.

    ``wrap_deposco`` lets a test put an ASGI wrapper in front of the Deposco simulator (e.g. to hold back an
    answer after the request was processed, which no fault of the simulator itself does); ``wrap_centra`` the
    same in front of the Centra simulator.
    """
    business_unit = topology.deposco.business_unit
    tenant = business_unit.lower()
    centra_app = build_centra(centra_token, seed=seed, **(centra_options or {}))
    deposco_app = build_deposco(
        client_id=deposco_client_id,
        client_secret=deposco_client_secret,
        seed=seed,
        business_unit=business_unit,
        tenant_code=tenant,
        **(deposco_options or {}),
    )
    served = wrap_deposco(deposco_app) if wrap_deposco else deposco_app
    centra_served = wrap_centra(centra_app) if wrap_centra else centra_app
    with running(centra_served) as centra_url, running(served) as deposco_url:
        yield LocalSimulators(
            centra_url.rstrip("/"),
            centra_token,
            deposco_url.rstrip("/"),
            deposco_client_id,
            deposco_client_secret,
            tenant,
            centra_app,
            deposco_app,
        )
