"""Job handlers: read/write the store, call connectors; no API field names here.

``build_registry()`` is the single list of tasks a worker can run. A schedule in a brand file whose task is not
registered here is reported by ``lockstep check`` and not fired (it belongs to a flow not yet installed).
"""

from lockstep.flows import housekeeping, inventory, items, monitor, orders, shipments
from lockstep.queue import TaskRegistry


def build_registry() -> TaskRegistry:
    registry = TaskRegistry()
    monitor.register(registry)
    housekeeping.register(registry)
    items.register(registry)
    orders.register(registry)
    shipments.register(registry)
    inventory.register(registry)
    return registry
