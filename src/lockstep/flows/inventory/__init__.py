"""The inventory flow: Deposco stock -> the stock equation -> Centra stock pools (DESIGN §4, docs/stock-model.md).

- ``ingest``: readings from Deposco (changed-since poll, rolling scan, refresh on demand) -> dirty (pool, SKU) keys.
- ``publish``: dirty keys -> figures computed at send time -> ``setStock`` of the values that changed, per pool lane.
- ``reconcile``: expected vs Centra for every (pool, SKU) in bulk -> ``stock_drift``, corrected and auto-resolved.
"""

import importlib
import importlib.util

from lockstep.queue import TaskRegistry


def register(registry: TaskRegistry) -> None:
    from lockstep.flows.inventory import ingest, publish

    ingest.register(registry)
    publish.register(registry)
    if importlib.util.find_spec("lockstep.flows.inventory.reconcile"):  # reconciliation lands separately
        importlib.import_module("lockstep.flows.inventory.reconcile").register(registry)
