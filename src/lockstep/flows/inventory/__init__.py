"""The inventory flow: Deposco stock -> the stock equation -> Centra stock pools (DESIGN §4, docs/stock-model.md).

- ``ingest``: readings from Deposco (changed-since poll, rolling scan, refresh on demand) -> dirty (pool, SKU) keys.
- ``hints``: items re-read at once on a hint: other channels' orders, the adjustment feed, Deposco's notifications.
- ``publish``: dirty keys -> figures computed at send time -> ``setStock`` of the values that changed, per pool lane.
- ``reconcile``: expected vs Centra for every (pool, SKU) in bulk -> ``stock_drift``, corrected and auto-resolved.
"""

from lockstep.queue import TaskRegistry


def register(registry: TaskRegistry) -> None:
    from lockstep.flows.inventory import hints, ingest, publish, reconcile

    ingest.register(registry)
    hints.register(registry)
    publish.register(registry)
    reconcile.register(registry)
