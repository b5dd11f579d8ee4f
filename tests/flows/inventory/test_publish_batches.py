"""How the publisher cuts its changes into setStock mutations (pure)."""

from lockstep.connectors.budget import Priority
from lockstep.domain.stock import changes_to_send
from lockstep.flows.inventory.publish import STOCK_WRITE_PRIORITY, write_batches


def test_urgent_first_no_extra_mutation_per_urgency():
    computed = {f"UP{i:03d}": 10 for i in range(250)} | {"LOW": 1, "DOWN": 7}
    believed = {f"UP{i:03d}": 5 for i in range(250)} | {"LOW": 6, "DOWN": 9}
    changes = changes_to_send(computed, believed, low_stock_threshold=2)
    batches = write_batches(changes, batch_size=200)
    assert [len(chunk) for chunk in batches] == [200, 52]  # 252 changes, not one mutation per urgency group
    assert [c.sku for c in batches[0][:2]] == ["LOW", "DOWN"]  # the decreases lead the first mutation
    assert write_batches([], 200) == []


def test_stock_writes_go_first_on_centras_budget():
    """Ahead of order fetches (HIGH) and shipment calls (NORMAL); the budget's starvation floor keeps theirs."""
    assert STOCK_WRITE_PRIORITY < Priority.HIGH
