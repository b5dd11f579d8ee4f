"""``lockstep sim centra``: run the simulated Centra Integration API as a real HTTP server.

The lead mounts :func:`centra` on the CLI (``app.command("centra")(centra)``); it is a plain function whose
parameters are ``typer.Option``s, so it can also be called directly.
"""

from __future__ import annotations

import typer

from lockstep.sim.centra.app import DEFAULT_TOKEN, build_app
from lockstep.sim.centra.ratelimit import RETRY_AFTER_FORMATS, TIERS
from lockstep.sim.server import serve


def centra(
    port: int = typer.Option(8101, help="TCP port to listen on."),
    token: str = typer.Option(DEFAULT_TOKEN, help="Bearer token for /graphql and the /_sim control API."),
    tier: str = typer.Option("growth", help=f"Rate-limit tier: {', '.join(TIERS)}."),
    seed: int = typer.Option(0, help="Seed for every random choice (catalog, faults, webhooks)."),
    webhook_url: str | None = typer.Option(None, help="Deliver Centra webhook-plugin calls to this URL."),
    webhook_secret: str | None = typer.Option(None, help="Secret for the X-Centra-Signature HMAC."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind (keep 127.0.0.1 unless you need more)."),
    products: int = typer.Option(0, help="Seed a catalog of this many products (2 variants x 4 sizes each)."),
    snapshot: str | None = typer.Option(None, help="JSON snapshot: loaded at start if present, saved at exit."),
    rate_limits: bool = typer.Option(
        True, "--rate-limits/--no-rate-limits", help="Enforce the tier's limits (off: measure the client alone)."
    ),
    retry_after: str = typer.Option("timestamp", help=f"Retry-After format on 429: {', '.join(RETRY_AFTER_FORMATS)}."),
) -> None:
    """Run a simulated Centra (GraphQL Integration API + /_sim control API) until interrupted."""
    if tier not in TIERS:
        raise typer.BadParameter(f"tier must be one of {', '.join(TIERS)}", param_hint="--tier")
    if retry_after not in RETRY_AFTER_FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(RETRY_AFTER_FORMATS)}", param_hint="--retry-after")
    app = build_app(
        token,
        tier=tier,
        seed=seed,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        products=products,
        snapshot_path=snapshot,
        retry_after_format=retry_after,
        rate_limits=rate_limits,
    )
    typer.echo(f"Centra simulator on http://{host}:{port}/graphql (tier {tier}, seed {seed})")
    serve(app, host=host, port=port)
