"""JSON snapshot of the simulated Centra's state, so a demo or a failing scenario can be saved and
replayed."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from lockstep.sim.centra import model
from lockstep.sim.centra.events import IntegrationQueue
from lockstep.sim.centra.state import CentraState

VERSION = 1
COLLECTIONS: dict[str, Any] = {
    "stores": dict[int, model.Store],
    "warehouses": dict[int, model.Warehouse],
    "allocation_rules": dict[int, model.AllocationRule],
    "markets": dict[int, model.Market],
    "products": dict[int, model.Product],
    "variants": dict[int, model.Variant],
    "sizes": dict[int, model.Size],
    "orders": dict[int, model.Order],
    "shipments": dict[int, model.Shipment],
    "stock_changes": dict[int, model.StockChange],
    "customers": dict[str, model.Customer],
    "queues": dict[str, IntegrationQueue],
    "product_variants": dict[int, list[int]],
    "variant_sizes": dict[int, list[int]],
    "capture_overrides": dict[int, str],
}


def dump(state: CentraState) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": VERSION,
        "seed": state.seed,
        "capture_mode": state.capture_mode,
        "sequences": dict(state.sequences),
        "counters": dict(state.counters),
        "deleted_orders": sorted(state.deleted_orders),
        "stock": [[s, w, lvl.physical, lvl.allocated] for (s, w), lvl in sorted(state.stock.items())],
    }
    for name, type_ in COLLECTIONS.items():
        data[name] = TypeAdapter(type_).dump_python(getattr(state, name), mode="json")
    return data


def load(state: CentraState, data: dict[str, Any]) -> None:
    """Replace ``state``'s data with a snapshot (listeners and clock are kept)."""
    if data.get("version") != VERSION:
        raise ValueError(f"unsupported snapshot version {data.get('version')!r}")
    for name, type_ in COLLECTIONS.items():
        setattr(state, name, TypeAdapter(type_).validate_python(data.get(name, {})))
    state.seed = int(data["seed"])
    state.capture_mode = data.get("capture_mode", "success")
    state.sequences.clear()
    state.sequences.update(data.get("sequences", {}))
    state.counters.clear()
    state.counters.update(data.get("counters", {}))
    state.deleted_orders = set(data.get("deleted_orders", []))
    state.stock = {(s, w): model.StockLevel(p, a) for s, w, p, a in data.get("stock", [])}
    state.sku_index = {size.sku: size.id for size in state.sizes.values()}
    state.ean_index = {size.ean: size.id for size in state.sizes.values()}
