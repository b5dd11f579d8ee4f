"""Part of a line cancelled in Centra (``updateDirectToConsumerOrder`` ``cancelLines``) reaches Deposco exactly once."""

from __future__ import annotations

from lockstep.domain.routing import sales_order_number
from lockstep.store import orders as order_store

from ..harness import brand_world

CANCEL_LINES = """
mutation Cancel($number: Int!, $lines: [CancelLineInput!]) {
  updateDirectToConsumerOrder(order: {number: $number}, input: {cancelLines: $lines, cancellationComment: "shopper"}) {
    order { number }
    userErrors { message path }
  }
}
"""


async def cancel_units(world, number: str, line_id: int, units: int) -> None:
    """What the shop (or customer service in the AMS) does: cancel ``units`` of one line, releasing the stock."""
    lines = [{"line": {"id": line_id}, "quantity": units, "stockAction": "RELEASE_BACK_TO_WAREHOUSE"}]
    await world.centra_graphql(CANCEL_LINES, {"number": int(number), "lines": lines})


def line_ids(world, number: str) -> list[int]:
    return [line.id for line in world.centra_state().orders[int(number)].lines]


def deposco_lines(world, so_number: str) -> dict[str, tuple[int, int]]:
    """Centra line id -> (ordered, cancelled) units on the Deposco order."""
    order = world.api_orders()[so_number]
    return {line.customer_line_number: (int(line.order_pack_quantity), int(line.canceled)) for line in order.lines}


async def test_cancelled_units_of_a_line_are_cancelled_in_deposco_exactly_once(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        first, second = world.seeded.items[4].sku, world.seeded.items[5].sku
        number = await world.place("eu", "SE", [(first, 3), (second, 2)], 41)
        await world.fetch(number)
        so = sales_order_number(number, "SE-STO")
        a, b = (str(i) for i in line_ids(world, number))
        assert deposco_lines(world, so) == {a: (3, 0), b: (2, 0)}

        await cancel_units(world, number, int(a), 2)
        await world.fetch(number)
        assert deposco_lines(world, so) == {a: (3, 2), b: (2, 0)}
        assert world.api_orders()[so].status == "New"

        # The propagate job runs again (a retry after a lost answer, a duplicate notice): nothing more is cancelled.
        await world.enqueue("orders.propagate", {"number": number})
        await world.run_jobs()
        await world.fetch(number)
        assert deposco_lines(world, so) == {a: (3, 2), b: (2, 0)}

        # A later cancellation on the other line adds only its own unit.
        await cancel_units(world, number, int(b), 1)
        await world.fetch(number)
        await world.enqueue("orders.propagate", {"number": number})
        await world.run_jobs()
        assert deposco_lines(world, so) == {a: (3, 2), b: (2, 1)}
        assert len(world.api_orders()) == 1
        async with world.runtime.engine.connect() as conn:
            assert (await order_store.get(conn, world.brand, number)).state == "exported"


async def test_units_cancelled_before_the_export_are_not_cancelled_again_afterwards(db_url, tmp_path):
    async with brand_world(db_url, tmp_path) as world:
        sku = world.seeded.items[6].sku
        number = await world.place("uk", "GB", [(sku, 4)], 42)
        [line] = line_ids(world, number)
        await cancel_units(world, number, line, 1)  # before Lockstep has seen the order
        await world.fetch(number)
        so = sales_order_number(number, "GB-MKN")
        assert deposco_lines(world, so) == {str(line): (3, 0)}, "only the 3 units still wanted are sent"

        await cancel_units(world, number, line, 1)
        await world.fetch(number)
        await world.enqueue("orders.propagate", {"number": number})
        await world.run_jobs()
        # Centra: 2 of 4 cancelled, 2 wanted. Deposco got 3, so exactly 1 is cancelled there.
        assert deposco_lines(world, so) == {str(line): (3, 1)}
