"""``lockstep sim scenario NAME``: drive both simulators through a scenario and print a JSON summary.

A plain function whose parameters are ``typer.Argument``/``typer.Option``s; the CLI mounts it with
``sim_app.command("scenario")(scenario)``. Errors are one line on stderr and exit status 1.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import typer

from lockstep.config import ConfigError
from lockstep.sim.centra.app import DEFAULT_TOKEN

from .control import ControlError
from .runner import DEFAULT_DEPOSCO_CLIENT, run_scenario
from .spec import SCENARIOS


def scenario(
    name: str = typer.Argument(..., help=f"Scenario to run: {', '.join(SCENARIOS)}."),
    duration: float = typer.Option(30.0, "--duration", min=0.0, help="Seconds to drive the simulators."),
    seed: int = typer.Option(0, "--seed", help="Seed of the event schedule, initial stock and simulators."),
    centra: str | None = typer.Option(
        None, "--centra", help="Base URL of a running Centra simulator (default: start one in-process)."
    ),
    centra_token: str = typer.Option(DEFAULT_TOKEN, "--centra-token", help="Bearer token of the Centra simulator."),
    deposco: str | None = typer.Option(
        None, "--deposco", help="Base URL of a running Deposco simulator (default: start one in-process)."
    ),
    deposco_client_id: str = typer.Option(
        DEFAULT_DEPOSCO_CLIENT[0], "--deposco-client-id", help="Client id of the Deposco simulator."
    ),
    deposco_client_secret: str = typer.Option(
        DEFAULT_DEPOSCO_CLIENT[1], "--deposco-client-secret", help="Client secret of the Deposco simulator."
    ),
    rate_multiplier: float = typer.Option(
        1.0, "--rate-multiplier", min=0.0, help="Multiply every event rate of the scenario (2 = twice the load)."
    ),
    topology: Path | None = typer.Option(
        None, "--topology", help="Brand file to model the world on (default: the example brand)."
    ),
    publish: bool = typer.Option(
        True,
        "--publish/--no-publish",
        help="Set Centra stock from Deposco's at seeding and at go-live (turn off when Lockstep does it).",
    ),
    settle: float = typer.Option(
        0.0, "--settle", min=0.0, help="Seconds to wait after the last event before reading the truth."
    ),
) -> None:
    """Seed a brand world in both simulators, drive storefront and warehouse traffic, print the truth as JSON."""
    if name not in SCENARIOS:
        raise typer.BadParameter(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}", param_hint="NAME")
    try:
        summary = asyncio.run(
            run_scenario(
                name,
                duration,
                seed,
                centra_url=centra,
                centra_token=centra_token,
                deposco_url=deposco,
                deposco_client_id=deposco_client_id,
                deposco_client_secret=deposco_client_secret,
                rate_multiplier=rate_multiplier,
                topology=topology,
                publish_stock=publish,
                settle_s=settle,
            )
        )
    except (ConfigError, ControlError, httpx.HTTPError, OSError) as exc:
        typer.echo(f"error: {' '.join(str(exc).split()) or type(exc).__name__}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(summary, indent=2))
