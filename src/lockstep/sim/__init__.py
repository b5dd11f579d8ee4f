"""Faithful local simulators of the systems Lockstep talks to (Centra, Deposco).

Nobody working on Lockstep can reach a real Centra or Deposco, so everything Lockstep claims is only as true
as
these simulators. Shared pieces live here: :mod:`lockstep.sim.server` runs any ASGI app as a real uvicorn
server,
and :mod:`lockstep.sim.faults` injects the unpleasant parts (5xx, slow responses, resets, blank 200s, 409s).
"""
