"""What every resolver gets as ``info.context``: the state, the caller's token and per-request bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass, field

from lockstep.sim.centra.auth import ApiToken
from lockstep.sim.centra.ratelimit import RateLimiter
from lockstep.sim.centra.state import CentraState


@dataclass
class RequestContext:
    state: CentraState
    limiter: RateLimiter
    token: ApiToken
    permissions_used: dict[str, None] = field(default_factory=dict)  # insertion-ordered set
