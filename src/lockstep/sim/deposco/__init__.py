"""A faithful local Deposco (WMS): OAuth2 + ``/latest`` REST + legacy V1 inventory, with Deposco's traps.

Layout: :mod:`.state` holds the warehouse rules over plain records (:mod:`.model`); :mod:`.dto` and
:mod:`.v1_shapes` render the real payload shapes; ``routes_*`` are the HTTP surface; :mod:`.gate` and
:mod:`lockstep.sim.faults` add throttle and faults; :mod:`.routes_control` is the ``/_sim`` truth API. Entry
points: :func:`build_app` (tests, in-process) and :func:`lockstep.sim.deposco.command.deposco` (CLI).
"""

from .app import build_app
from .context import DeposcoSimConfig
from .state import AutoFulfil

__all__ = ["AutoFulfil", "DeposcoSimConfig", "build_app"]
