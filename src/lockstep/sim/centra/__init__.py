"""Simulated Centra Integration API (GraphQL) for local development, tests, the demo and benchmarks.

Entry points: :func:`build_app` (an ASGI app; run it with :func:`lockstep.sim.server.running` or
:func:`lockstep.sim.server.serve`) and :func:`lockstep.sim.centra.command.centra` (the CLI command).
Modules: ``state`` (commerce rules), ``model`` (records), ``events`` (events queue), ``ratelimit`` /
``complexity`` (budgets), ``auth`` (tokens, permissions), ``resolvers`` (GraphQL), ``endpoint`` (HTTP),
``control`` (``/_sim``), ``webhooks``, ``snapshot``, ``catalog`` (seeding).
"""

from lockstep.sim.centra.app import CentraApp, CentraSimulator, build_app

__all__ = ["CentraApp", "CentraSimulator", "build_app"]
