"""How the publisher cuts its changes into setStock mutations (pure)."""

from lockstep.connectors.budget import Priority
from lockstep.domain.stock import changes_to_send
from lockstep.flows.inventory.publish import write_batches


def test_urgent_first_no_extra_mutation_per_urgency_and_priority_by_content():
    computed = {f"UP{i:03d}": 10 for i in range(250)} | {"LOW": 1, "DOWN": 7}
    believed = {f"UP{i:03d}": 5 for i in range(250)} | {"LOW": 6, "DOWN": 9}
    changes = changes_to_send(computed, believed, low_stock_threshold=2)
    batches = write_batches(changes, low_stock_threshold=2, batch_size=200)
    assert [len(chunk) for chunk, _ in batches] == [200, 52]  # 252 changes, not one mutation per urgency group
    assert [c.sku for c in batches[0][0][:2]] == ["LOW", "DOWN"]  # the decreases lead the first mutation
    # both ahead of shipment calls (NORMAL) on Centra's budget: restocks are sales waiting, and they share the
    # budget with the order fetches (HIGH); the decreases lead by going first
    assert [priority for _, priority in batches] == [Priority.HIGH, Priority.HIGH]
    assert write_batches([], 2, 200) == []
