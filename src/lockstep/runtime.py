"""The composition root: settings + brand topologies + database + task registry, and the serving loop.

CLI commands and the HTTP app get what they need from here; nothing below this module imports it.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from lockstep.config import BrandTopology, ConfigError, LoadResult, Settings, load_config_dir, resolve_secrets
from lockstep.connectors.budget import CENTRA_TIERS, deposco_windows, make_budget
from lockstep.connectors.centra.client import CentraClient
from lockstep.connectors.deposco.client import DeposcoClient
from lockstep.flows import build_registry
from lockstep.queue import DEFAULT_CONCURRENCY, TaskRegistry, Worker
from lockstep.queue.scheduler import Schedule, Scheduler
from lockstep.store.db import create_engine

log = structlog.get_logger("lockstep.runtime")

# Built-in schedules every brand gets unless its file defines one of the same name.
BUILTIN_SCHEDULES = {"housekeeping": ("17 3 * * *", "housekeeping.purge_jobs")}


@dataclass
class Runtime:
    settings: Settings
    config: LoadResult
    engine: AsyncEngine
    registry: TaskRegistry = field(default_factory=build_registry)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)  # brand -> variable -> value
    _clients: dict[tuple[str, str], object] = field(default_factory=dict, repr=False)

    @property
    def brands(self) -> Mapping[str, BrandTopology]:
        return self.config.brands

    def owner_for(self, brand: str, kind: str) -> str | None:
        topology = self.brands.get(brand)
        return topology.owner_for(kind) if topology else None

    def schedules(self) -> tuple[list[Schedule], list[str]]:
        return plan_schedules(self.brands, self.registry)

    def centra(self, brand: str) -> CentraClient:
        """The brand's Centra client (one per process, sharing the brand's rate budget across processes)."""
        key = (brand, "centra")
        if key not in self._clients:
            topology = self.brands[brand]
            budget = make_budget(self.engine, f"{brand}:centra", CENTRA_TIERS[topology.centra.rate_tier])
            self._clients[key] = CentraClient.from_topology(
                topology, self.secrets[brand][topology.centra.token_env], budget
            )
        return self._clients[key]  # type: ignore[return-value]

    def deposco(self, brand: str) -> DeposcoClient:
        """The brand's Deposco client (REST and V1 share one budget: the limit is per account)."""
        key = (brand, "deposco")
        if key not in self._clients:
            topology = self.brands[brand]
            budget = make_budget(self.engine, f"{brand}:deposco", deposco_windows(topology.deposco.requests_per_second))
            self._clients[key] = DeposcoClient.from_topology(topology, self.secrets[brand], budget)
        return self._clients[key]  # type: ignore[return-value]

    async def drop_clients(self) -> None:
        """Close the API clients; the next call builds them again from the current topology (a changed brand
        setting can change what a client asks for, such as the Deposco token's scopes)."""
        for client in self._clients.values():
            await client.aclose()  # type: ignore[attr-defined]
        self._clients.clear()

    async def close(self) -> None:
        await self.drop_clients()
        await self.engine.dispose()


def plan_schedules(brands: Mapping[str, BrandTopology], registry: TaskRegistry) -> tuple[list[Schedule], list[str]]:
    """The schedules to fire, and a note for each one whose task no installed flow handles yet."""
    active, skipped = [], []
    for brand, topology in brands.items():
        entries = {name: (s.cron, s.task) for name, s in topology.enabled_schedules().items()}
        for name, spec in BUILTIN_SCHEDULES.items():
            entries.setdefault(name, spec)
        for name, (cron, task) in entries.items():
            if task in registry:
                active.append(Schedule(brand, name, cron, task, timezone=topology.timezone))
            else:
                skipped.append(f"{brand}: schedule {name} -> task {task} (not installed yet)")
    return active, skipped


def load_config(settings: Settings) -> LoadResult:
    """The brand files, or ConfigError with every problem found."""
    result = load_config_dir(settings.config_dir)
    if result.problems:
        raise ConfigError(result.problems)
    return result


def build_runtime(settings: Settings, *, require_secrets: bool) -> Runtime:
    """``require_secrets``: ``run``/``worker``/``api`` refuse to start when a brand's secret is not set."""
    config = load_config(settings)
    secrets: dict[str, dict[str, str]] = {}
    if require_secrets:
        file_values = settings.secrets_file_values()
        problems = []
        for brand, topology in config.brands.items():
            values, missing = resolve_secrets(
                topology, os.environ, file_values, source=str(config.files.get(brand, brand))
            )
            secrets[brand] = values
            problems += missing
        if problems:
            raise ConfigError(problems)
    return Runtime(settings, config, create_engine(settings.database_url), secrets=secrets)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runtime owns SIGTERM/SIGINT for all its parts."""

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        pass

    def capture_signals(self):  # uvicorn >= 0.29
        import contextlib

        return contextlib.nullcontext()


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def serve(
    runtime: Runtime,
    stop: asyncio.Event,
    *,
    api: bool = True,
    workers: bool = True,
    scheduler: bool = True,
    concurrency: int = DEFAULT_CONCURRENCY,
    brands: list[str] | None = None,
    lease_s: float = 30.0,
) -> None:
    """Run the chosen parts until ``stop`` is set, then shut them down gracefully (running jobs finish)."""
    parts = []
    if workers:
        worker = Worker(
            runtime.engine,
            runtime.registry,
            concurrency=concurrency,
            lease_s=lease_s,
            brands=brands,
            services=runtime,
            owner_for=runtime.owner_for,
        )
        parts.append(asyncio.create_task(worker.run(stop), name="worker"))
    if scheduler:
        schedules, skipped = runtime.schedules()
        for note in skipped:
            log.info("schedule not fired", detail=note)
        parts.append(asyncio.create_task(Scheduler(runtime.engine, schedules).run(stop), name="scheduler"))
    if api:
        from lockstep.web.app import create_app

        config = uvicorn.Config(
            create_app(runtime),
            host=runtime.settings.api_host,
            port=runtime.settings.api_port,
            log_level="warning",
            lifespan="off",
        )
        server = _Server(config)
        parts.append(asyncio.create_task(server.serve(), name="api"))

        async def _stop_api():
            await stop.wait()
            server.should_exit = True

        parts.append(asyncio.create_task(_stop_api(), name="api-stopper"))
        log.info("api listening", url=f"http://{config.host}:{config.port}")
    await asyncio.gather(*(_guard(part, stop) for part in parts))


async def _guard(part: asyncio.Task, stop: asyncio.Event) -> None:
    """If one part dies (e.g. the API port is taken), stop the others instead of running half a service."""
    try:
        await part
    except SystemExit as exit_:  # uvicorn exits when it cannot bind
        stop.set()
        raise RuntimeError(f"{part.get_name()} stopped: could not start (is the port in use?)") from exit_
    except BaseException:
        stop.set()
        raise
