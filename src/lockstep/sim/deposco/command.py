"""``lockstep sim deposco``: run the Deposco simulator as a real HTTP server (mounted by cli.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from lockstep.sim.server import serve

from .app import build_app
from .context import DeposcoSimConfig
from .state import AutoFulfil


def deposco(
    port: int = typer.Option(8102, "--port", help="TCP port to listen on."),
    client_id: str = typer.Option("lockstep", "--client-id", help="OAuth2 client id (also the V1/control user)."),
    client_secret: str = typer.Option(
        "secret", "--client-secret", help="OAuth2 client secret (also the V1/control password)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for every random choice (ids, tracking numbers, faults)."),
    requests_per_second: float = typer.Option(
        4.0,
        "--requests-per-second",
        help="Account-wide request budget; beyond it 429 with an empty body. 0 disables the throttle.",
    ),
    webhook_url: str | None = typer.Option(
        None, "--webhook-url", help="POST unsigned shipment notifications to this URL."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (keep it local)."),
    business_unit: str = typer.Option("BU1", "--business-unit", help="Business unit (company) code of the tenant."),
    token_ttl: float = typer.Option(3600.0, "--token-ttl", help="Access-token lifetime in simulated seconds."),
    auto_ship_after: float | None = typer.Option(
        None,
        "--auto-ship-after",
        help="Let the warehouse release, pick and ship orders by itself, each step after this many seconds.",
    ),
    snapshot: Path | None = typer.Option(
        None, "--snapshot", help="JSON snapshot: loaded at start if present, written at shutdown."
    ),
) -> None:
    """Run a faithful local Deposco (OAuth2, /latest REST, V1 inventory, webhooks, faults, /_sim control)."""
    config = DeposcoSimConfig(
        client_id=client_id,
        client_secret=client_secret,
        seed=seed,
        requests_per_second=requests_per_second,
        webhook_url=webhook_url,
        business_unit=business_unit,
        token_ttl=token_ttl,
        snapshot_path=snapshot,
        auto_fulfil=None if auto_ship_after is None else AutoFulfil(auto_ship_after, auto_ship_after, auto_ship_after),
    )
    typer.echo(
        f"Deposco simulator on http://{host}:{port} (token: POST /oauth2/token, API: /latest, "
        f"V1: /integration/{business_unit}, control: /_sim)"
    )
    serve(build_app(config), host=host, port=port)
