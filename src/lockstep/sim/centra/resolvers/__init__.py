"""GraphQL resolvers: translate between Centra's API shapes and :mod:`lockstep.sim.centra.state`.

``types`` resolves object fields, ``queries`` the root query fields, ``mutations`` the root mutations (turning
:class:`~lockstep.sim.centra.model.UserError` into ``userErrors``). :func:`bindables` returns them all for
``ariadne.make_executable_schema``.
"""

from __future__ import annotations

from typing import Any

from lockstep.sim.centra.resolvers import mutations, queries, types


def bindables() -> list[Any]:
    return [*types.bindables(), queries.query, queries.counters, mutations.mutation]
