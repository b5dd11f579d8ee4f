"""Scenario driver: seed both simulators with a brand's world and drive them at configured rates.

``lockstep sim scenario NAME`` (see :mod:`.command`) and :func:`run_scenario` (demo, tests, benchmarks) play a
scenario (:data:`SCENARIOS`: data, not code) from a schedule generated up front from the seed, then report events
sent, both simulators' counters and the cross-system truth of :mod:`lockstep.sim.truth`.
"""

from .events import Event, build_schedule
from .runner import run_scenario
from .spec import SCENARIOS, Scenario, get_scenario

__all__ = ["SCENARIOS", "Event", "Scenario", "build_schedule", "get_scenario", "run_scenario"]
