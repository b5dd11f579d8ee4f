"""The simulated Centra's in-memory state and its commerce rules (no GraphQL, no HTTP).

Rules reproduced (centra.md §6-§8 and DESIGN.md §4):

* markets -> allocation rule -> warehouses in priority order; an order is allocated at confirmation, split
  over
  the rule's warehouses by priority, and refused (nothing allocated) when free-to-allocate is short;
* FTA = physical - allocated; completing a shipment decrements physical *and* allocated in the warehouse the
  units were allocated in; cancellations release allocation (or also remove the units from stock);
* statuses PENDING -> CONFIRMED -> PROCESSING (a shipment exists) -> SHIPPED (every line shipped or
  cancelled),
  CANCELLED; hold / waiting-for-payment / lock are flags, not statuses;
* every mutation validates everything first and raises :class:`UserError` before touching anything, so a
  ``userErrors`` answer always means nothing changed.

All methods run on the server's single event loop thread, so no locking is needed.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from lockstep.sim.centra import refdata
from lockstep.sim.centra.events import Event, IntegrationQueue
from lockstep.sim.centra.model import (
    Address,
    Allocation,
    AllocationRule,
    Customer,
    Market,
    Order,
    OrderLine,
    PaymentEntry,
    Product,
    Shipment,
    ShipmentLine,
    ShipmentPick,
    Size,
    StockChange,
    StockLevel,
    Store,
    UserError,
    Variant,
    Warehouse,
)

CAPTURE_MODES = ("success", "fail", "pending")
#: Webhook ``action`` per (object type, change type); ids only are sent, the receiver re-fetches.
WEBHOOK_ACTIONS = {
    ("Order", "CREATED"): "insert",
    ("Order", "UPDATED"): "update",
    ("Order", "COMPLETED"): "update",
    ("Order", "DELETED"): "delete",
    ("Shipment", "CREATED"): "create",
    ("Shipment", "UPDATED"): "update",
    ("Shipment", "COMPLETED"): "update",
    ("Shipment", "DELETED"): "delete",
}
ChangeListener = Callable[[str, str, int, str], None]


def utcnow() -> datetime:
    return datetime.now(UTC)


_RELATIVE = re.compile(r"^\s*([+-]?\d+)\s*(second|minute|hour|day|week)s?\s*$", re.IGNORECASE)


def parse_datetime(value: str, now: datetime) -> datetime:
    """Parse Centra ``DateTimeTz`` input: ISO 8601 (with or without zone; none = UTC), ``now`` or ``-1
    hour``."""
    text = value.strip()
    if text.lower() == "now":
        return now
    match = _RELATIVE.match(text)
    if match:
        amount, unit = int(match.group(1)), match.group(2).lower()
        return now + timedelta(**{f"{unit}s": amount})
    try:
        parsed = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError as exc:
        raise UserError(f"Invalid date: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class CentraState:
    """All simulated Centra data plus the operations that change it."""

    def __init__(self, seed: int = 0, clock: Callable[[], datetime] = utcnow) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.clock = clock
        self.stores: dict[int, Store] = {}
        self.warehouses: dict[int, Warehouse] = {}
        self.allocation_rules: dict[int, AllocationRule] = {}
        self.markets: dict[int, Market] = {}
        self.products: dict[int, Product] = {}
        self.variants: dict[int, Variant] = {}
        self.sizes: dict[int, Size] = {}
        self.product_variants: dict[int, list[int]] = {}
        self.variant_sizes: dict[int, list[int]] = {}
        self.sku_index: dict[str, int] = {}
        self.ean_index: dict[str, int] = {}
        self.stock: dict[tuple[int, int], StockLevel] = {}
        self.orders: dict[int, Order] = {}
        self.shipments: dict[int, Shipment] = {}
        self.stock_changes: dict[int, StockChange] = {}
        self.customers: dict[str, Customer] = {}
        self.queues: dict[str, IntegrationQueue] = {}
        self.deleted_orders: set[int] = set()
        self.capture_mode = "success"
        self.capture_overrides: dict[int, str] = {}  # order number -> capture mode
        self.sequences: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()
        self.change_listeners: list[ChangeListener] = []

    # --- ids, time, notifications --------------------------------------------------------------------------

    def next_id(self, kind: str, start: int = 1) -> int:
        if kind not in self.sequences:
            self.sequences[kind] = start - 1
        self.sequences[kind] += 1
        return self.sequences[kind]

    def now(self) -> datetime:
        return self.clock()

    def order_hash(self, number: int) -> str:
        return hashlib.md5(f"{self.seed}:order:{number}".encode(), usedforsecurity=False).hexdigest()

    def queue(self, integration: str) -> IntegrationQueue:
        if integration not in self.queues:
            self.queues[integration] = IntegrationQueue(integration)
        return self.queues[integration]

    def emit(
        self,
        object_type: str,
        change_type: str,
        key: int,
        *,
        store_id: int | None = None,
        market_id: int | None = None,
        action: str | None = None,
    ) -> None:
        """Record a change: queue an event for every subscribed integration and notify webhook listeners."""
        now = self.now()
        reference = str(key)
        for queue in self.queues.values():
            if queue.wants(object_type, change_type):
                event_id = self.next_id("event")
                queue.events[event_id] = Event(
                    event_id, object_type, change_type, reference, key, now, store_id, market_id
                )
        self.counters[f"events_emitted:{object_type}:{change_type}"] += 1
        webhook_action = action or WEBHOOK_ACTIONS.get((object_type, change_type))
        if webhook_action:
            for listener in self.change_listeners:
                listener(object_type, change_type, key, webhook_action)

    def _emit_order(self, order: Order, change_type: str) -> None:
        self.emit("Order", change_type, order.number, store_id=order.store_id, market_id=order.market_id)

    def _emit_shipment(self, shipment: Shipment, change_type: str, action: str | None = None) -> None:
        order = self.orders[shipment.order_number]
        self.emit(
            "Shipment",
            change_type,
            shipment.id,
            store_id=order.store_id,
            market_id=order.market_id,
            action=action,
        )

    # --- topology and catalog -------------------------------------------------------------------------------

    def add_store(self, name: str, store_type: str = "DIRECT_TO_CONSUMER") -> Store:
        store = Store(self.next_id("store"), name, store_type)
        self.stores[store.id] = store
        return store

    def add_warehouse(self, name: str) -> Warehouse:
        if any(w.name == name for w in self.warehouses.values()):
            raise UserError(f"Warehouse {name!r} already exists", ["name"])
        warehouse = Warehouse(self.next_id("warehouse"), name)
        self.warehouses[warehouse.id] = warehouse
        self.emit("Warehouse", "CREATED", warehouse.id)
        return warehouse

    def add_allocation_rule(self, name: str, warehouse_ids: list[int]) -> AllocationRule:
        for warehouse_id in warehouse_ids:
            self.warehouse(warehouse_id)
        if len(set(warehouse_ids)) != len(warehouse_ids):
            raise UserError("A warehouse is listed twice", ["warehouses"])
        rule = AllocationRule(self.next_id("allocation_rule"), name, list(warehouse_ids))
        self.allocation_rules[rule.id] = rule
        return rule

    def set_allocation_rule_warehouses(self, rule_id: int, warehouse_ids: list[int]) -> AllocationRule:
        rule = self.allocation_rules.get(rule_id)
        if rule is None:
            raise UserError(f"Allocation rule {rule_id} not found", ["id"])
        for warehouse_id in warehouse_ids:
            self.warehouse(warehouse_id)
        rule.warehouse_ids = list(warehouse_ids)
        return rule

    def add_market(
        self,
        name: str,
        store_id: int,
        allocation_rule_id: int | None,
        country_codes: list[str],
        currency: str = "EUR",
    ) -> Market:
        if store_id not in self.stores:
            raise UserError(f"Store {store_id} not found", ["store"])
        if allocation_rule_id is not None and allocation_rule_id not in self.allocation_rules:
            raise UserError(f"Allocation rule {allocation_rule_id} not found", ["allocationRule"])
        market = Market(
            self.next_id("market"),
            name,
            store_id,
            allocation_rule_id,
            [c.upper() for c in country_codes],
            currency.upper(),
        )
        self.markets[market.id] = market
        return market

    def add_product(
        self, product_number: str, name: str, *, status: str = "ACTIVE", harmonized_code: str | None = None
    ) -> Product:
        now = self.now()
        product = Product(self.next_id("product"), product_number, name, status, now, now, harmonized_code)
        self.products[product.id] = product
        self.emit("Product", "CREATED", product.id)
        return product

    def add_variant(
        self, product: Product, variant_number: str, name: str, *, price: float, unit_cost: float
    ) -> Variant:
        now = self.now()
        variant = Variant(
            self.next_id("variant"),
            product.id,
            variant_number,
            name,
            product.status,
            now,
            now,
            internal_name=name.lower(),
            unit_cost=unit_cost,
            price=price,
        )
        self.variants[variant.id] = variant
        self.product_variants.setdefault(product.id, []).append(variant.id)
        self.emit("ProductVariant", "CREATED", variant.id)
        return variant

    def add_size(self, variant: Variant, description: str, size_number: str, ean: str) -> Size:
        product = self.products[variant.product_id]
        sku = f"{product.product_number}{variant.variant_number}{size_number}"
        if sku in self.sku_index or ean in self.ean_index:
            raise UserError(f"SKU {sku} or EAN {ean} already exists")
        now = self.now()
        size = Size(self.next_id("size"), variant.id, description, size_number, sku, ean, now, now)
        self.sizes[size.id] = size
        self.variant_sizes.setdefault(variant.id, []).append(size.id)
        self.sku_index[sku] = size.id
        self.ean_index[ean] = size.id
        self.emit("ProductSize", "CREATED", size.id)
        return size

    # --- lookups --------------------------------------------------------------------------------------------

    def warehouse(self, warehouse_id: int | None, path: list[str] | None = None) -> Warehouse:
        warehouse = self.warehouses.get(warehouse_id) if warehouse_id is not None else None
        if warehouse is None:
            raise UserError(f"Warehouse {warehouse_id} not found", path or ["warehouse"])
        return warehouse

    def find_warehouse(self, ref: dict[str, Any] | None, path: list[str]) -> Warehouse:
        ref = ref or {}
        if ref.get("id") is not None:
            return self.warehouse(ref["id"], path)
        if ref.get("name"):
            for warehouse in self.warehouses.values():
                if warehouse.name == ref["name"]:
                    return warehouse
            raise UserError(f"Warehouse {ref['name']!r} not found", path)
        raise UserError("Warehouse: give id or name", path)

    def find_order(self, ref: dict[str, Any] | None, path: list[str]) -> Order:
        """Resolve an ``OrderInput``: exactly one of ``id`` (hash), ``number`` or ``externalId``."""
        ref = {k: v for k, v in (ref or {}).items() if v is not None}
        if len(ref) != 1:
            raise UserError("OrderInput needs exactly one of id, number, externalId", path)
        key, value = next(iter(ref.items()))
        for order in self.orders.values():
            if (
                (key == "number" and order.number == value)
                or (key == "id" and order.id == value)
                or (key == "externalId" and order.external_id == value)
            ):
                return order
        raise UserError(f"Order with {key} {value!r} not found", path)

    def find_size(self, ref: dict[str, Any] | None, path: list[str]) -> Size:
        """Resolve a ``ProductSizeInput``: exactly one of ``id``, ``SKU``, ``EAN``, ``UPC`` or ``any``."""
        ref = {k: v for k, v in (ref or {}).items() if v is not None}
        if len(ref) != 1:
            raise UserError("ProductSizeInput needs exactly one of id, SKU, EAN, UPC, any", path)
        key, value = next(iter(ref.items()))
        indexed = {"id": value, "SKU": self.sku_index.get(value), "EAN": self.ean_index.get(value)}.get(key)
        if indexed in self.sizes:
            return self.sizes[indexed]
        for size in self.sizes.values() if key in ("any", "UPC") else ():
            if (
                (key == "id" and size.id == value)
                or (key == "SKU" and size.sku == value)
                or (key == "EAN" and size.ean == value)
                or (key == "any" and value in (size.sku, size.ean, str(size.id)))
            ):
                return size
        raise UserError(f"Product size with {key} {value!r} not found", path)

    def find_variant_size(self, variant_ref: dict[str, Any], size_ref: dict[str, Any], path: list[str]) -> Size:
        variant = self.variants.get((variant_ref or {}).get("id"))
        if variant is None:
            raise UserError(f"Product variant {variant_ref} not found", [*path, "productVariant"])
        for size in (self.sizes[i] for i in self.variant_sizes.get(variant.id, [])):
            if size_ref.get("id") is not None and size.id == size_ref["id"]:
                return size
            if size_ref.get("name") is not None and size.description == size_ref["name"]:
                return size
        raise UserError(f"Size {size_ref} not found on variant {variant.id}", [*path, "size"])

    def size_by_sku(self, sku: str) -> Size:
        return self.find_size({"SKU": sku}, ["sku"])

    def level(self, size_id: int, warehouse_id: int) -> StockLevel:
        key = (size_id, warehouse_id)
        if key not in self.stock:
            self.stock[key] = StockLevel()
        return self.stock[key]

    def peek_level(self, size_id: int, warehouse_id: int) -> StockLevel:
        return self.stock.get((size_id, warehouse_id)) or StockLevel()

    def rule_for_market(self, market: Market) -> AllocationRule | None:
        return self.allocation_rules.get(market.allocation_rule_id) if market.allocation_rule_id else None

    # --- stock ----------------------------------------------------------------------------------------------

    def set_stock(
        self, warehouse: Warehouse, description: str, items: list[tuple[Size, int]], path: list[str]
    ) -> tuple[StockChange, list[UserError]]:
        """Absolute PHYSICAL write of many sizes. Later duplicates of a size are skipped with a warning.

        Assumption (unconfirmed for GraphQL, documented for REST): a value below the allocated quantity is
        clamped up to it, with a warning, because physical stock cannot be below what orders hold.
        """
        for i, (_size, quantity) in enumerate(items):
            if quantity < 0:
                raise UserError("Quantity must be >= 0", [*path, str(i), "quantity"])
        warnings: list[UserError] = []
        seen: set[int] = set()
        change = StockChange(self.next_id("stock_change"), warehouse.id, description, self.now())
        for i, (size, quantity) in enumerate(items):
            if size.id in seen:
                warnings.append(UserError(f"Duplicate size {size.sku} skipped", [*path, str(i)]))
                continue
            seen.add(size.id)
            level = self.level(size.id, warehouse.id)
            if quantity < level.allocated:
                warnings.append(
                    UserError(
                        f"Quantity {quantity} for {size.sku} is below the allocated {level.allocated}; "
                        f"set to {level.allocated}",
                        [*path, str(i), "quantity"],
                    )
                )
                quantity = level.allocated
            level.physical = quantity
            change.lines.append((size.id, quantity))
        self.stock_changes[change.id] = change
        self.counters["stock_rows_written"] += len(change.lines)
        return change, warnings

    def change_stock(
        self,
        into: Warehouse | None,
        out: Warehouse | None,
        description: str,
        items: list[tuple[Size, int]],
        path: list[str],
    ) -> StockChange:
        """Delta write: into adds, out removes (never beyond FTA), both moves."""
        if into is None and out is None:
            raise UserError("Give intoWarehouse, outFromWarehouse or both", path)
        needed: Counter[int] = Counter()
        for i, (size, quantity) in enumerate(items):
            if quantity <= 0:
                raise UserError("deliveredQuantity must be > 0", [*path, str(i), "deliveredQuantity"])
            needed[size.id] += quantity
        if out is not None:
            for size_id, quantity in needed.items():
                fta = self.peek_level(size_id, out.id).free_to_allocate
                if quantity > fta:
                    raise UserError(
                        f"Cannot remove {quantity} of {self.sizes[size_id].sku}: only {fta} free "
                        f"to allocate in {out.name}",
                        path,
                    )
        change = StockChange(self.next_id("stock_change"), (into or out).id, description, self.now())  # type: ignore[union-attr]
        for size, quantity in items:
            if out is not None:
                self.level(size.id, out.id).physical -= quantity
            if into is not None:
                self.level(size.id, into.id).physical += quantity
            change.lines.append((size.id, quantity))
        self.stock_changes[change.id] = change
        return change

    # --- orders ---------------------------------------------------------------------------------------------

    def _customer(self, email: str | None, first_name: str | None, last_name: str | None) -> Customer:
        key = email or f"guest-{len(self.customers) + 1}"
        if key not in self.customers:
            self.customers[key] = Customer(self.next_id("customer"), email, first_name, last_name)
        return self.customers[key]

    def _plan_allocation(self, order: Order, lines: list[OrderLine]) -> list[tuple[OrderLine, list[tuple[int, int]]]]:
        """Split each line over the market's allocation-rule warehouses by priority, or refuse the order."""
        market = self.markets[order.market_id]
        rule = self.rule_for_market(market)
        if rule is None or not rule.warehouse_ids:
            raise UserError(f"Market {market.name} has no allocation rule with warehouses", ["order"])
        reserved: Counter[tuple[int, int]] = Counter()
        plan: list[tuple[OrderLine, list[tuple[int, int]]]] = []
        for index, line in enumerate(lines):
            need = line.quantity - sum(a.quantity for a in line.allocations)
            takes: list[tuple[int, int]] = []
            for warehouse_id in rule.warehouse_ids:
                if need <= 0:
                    break
                free = (
                    self.peek_level(line.size_id, warehouse_id).free_to_allocate
                    - reserved[(line.size_id, warehouse_id)]
                )
                take = min(free, need)
                if take > 0:
                    takes.append((warehouse_id, take))
                    reserved[(line.size_id, warehouse_id)] += take
                    need -= take
            if need > 0:
                size = self.sizes[line.size_id]
                raise UserError(
                    f"Insufficient stock for {size.sku}: {need} more than free to allocate",
                    ["lines", str(index), "quantity"],
                )
            plan.append((line, takes))
        return plan

    def _apply_allocation(self, plan: list[tuple[OrderLine, list[tuple[int, int]]]]) -> None:
        for line, takes in plan:
            for warehouse_id, quantity in takes:
                self.level(line.size_id, warehouse_id).allocated += quantity
                existing = next((a for a in line.allocations if a.warehouse_id == warehouse_id), None)
                if existing:
                    existing.quantity += quantity
                else:
                    line.allocations.append(Allocation(self.next_id("allocation"), warehouse_id, quantity))

    def place_order(
        self,
        *,
        market_id: int,
        country_code: str,
        lines: list[tuple[Size, int]],
        address: Address | None = None,
        email: str | None = None,
        confirm: bool = True,
        is_on_hold: bool = False,
        is_waiting_for_payment: bool = False,
        hold_reason: str | None = None,
        number: int | None = None,
        shipping_cost: float = 49.0,
        shipping_option: str | None = refdata.DEFAULT_SHIPPING_OPTION,
    ) -> Order:
        """Place a storefront order as a shopper would; refused (UserError, nothing created) if stock is
        short. ``shipping_option``: the chosen option's uri or name (None: an order without one)."""
        market = self.markets.get(market_id)
        if market is None:
            raise UserError(f"Market {market_id} not found", ["market"])
        country_code = country_code.upper()
        if market.country_codes and country_code not in market.country_codes:
            raise UserError(f"Country {country_code} is not in market {market.name}", ["country"])
        if not lines:
            raise UserError("An order needs at least one line", ["lines"])
        if number is not None and number in self.orders:
            raise UserError(f"Order number {number} exists", ["number"])
        for i, (_size, quantity) in enumerate(lines):
            if quantity <= 0:
                raise UserError("Quantity must be > 0", ["lines", str(i), "quantity"])
        option_uri = refdata.shipping_option_uri(shipping_option) if shipping_option is not None else None
        if shipping_option is not None and option_uri is None:
            raise UserError(f"Shipping option {shipping_option!r} not found", ["shippingOption"])
        now = self.now()
        address = address or Address()
        address.country_code = country_code
        email = email or address.email
        draft_lines = [
            OrderLine(
                self.sequences["order_line"] + i + 1,
                size.id,
                quantity,
                self.variants[size.variant_id].price,
                currency=market.currency,
            )
            for i, (size, quantity) in enumerate(lines)
        ]
        order_number = number if number is not None else max([1000, *self.orders, *self.deleted_orders]) + 1
        order = Order(
            id=self.order_hash(order_number),
            number=order_number,
            status="CONFIRMED" if confirm else "PENDING",
            store_id=market.store_id,
            market_id=market.id,
            currency=market.currency,
            created_at=now,
            updated_at=now,
            customer=Customer(0, email, address.first_name, address.last_name),
            shipping_address=address,
            billing_address=Address(**vars(address)),
            lines=draft_lines,
            is_on_hold=is_on_hold,
            hold_reason=hold_reason,
            is_waiting_for_payment=is_waiting_for_payment,
            shipping_cost=shipping_cost,
            shipping_option=option_uri,
        )
        try:
            plan = self._plan_allocation(order, draft_lines)  # checkout refuses what cannot be allocated
        except UserError:
            self.counters["orders_refused"] += 1
            raise
        for line in draft_lines:
            line.id = self.next_id("order_line")
        order.customer = self._customer(email, address.first_name, address.last_name)
        if confirm:
            self._apply_allocation(plan)
        total = sum(line.quantity * line.unit_price for line in draft_lines) + shipping_cost
        order.payments.append(PaymentEntry(self.next_id("payment"), now, "AUTHORIZATION", "SUCCESS", total))
        self.orders[order.number] = order
        self.counters["orders_placed"] += 1
        self._emit_order(order, "CREATED")
        return order

    def confirm_order(self, order: Order) -> Order:
        if order.status != "PENDING":
            raise UserError(f"Order {order.number} is {order.status}, not PENDING", ["input", "order"])
        self._apply_allocation(self._plan_allocation(order, order.lines))
        order.status = "CONFIRMED"
        self._touch(order)
        return order

    def _touch(self, order: Order, change_type: str = "UPDATED") -> None:
        order.updated_at = self.now()
        self._emit_order(order, change_type)

    def set_orders_lock(self, orders: list[Order], locked: bool) -> list[Order]:
        for order in orders:
            order.is_locked = locked
            self._touch(order)
        return orders

    def set_flags(
        self,
        order: Order,
        *,
        is_on_hold: bool | None = None,
        hold_reason: str | None = None,
        is_waiting_for_payment: bool | None = None,
        note: str | None = None,
    ) -> Order:
        """Toggle hold / waiting-for-payment (the shop, a PSP or a fraud check would do this)."""
        if is_on_hold is not None:
            order.is_on_hold = is_on_hold
            order.hold_reason = hold_reason if is_on_hold else None
        if is_waiting_for_payment is not None:
            order.is_waiting_for_payment = is_waiting_for_payment
        if note:
            order.history.append(note)
        self._touch(order)
        return order

    def units_in_shipments(self, line: OrderLine) -> int:
        return sum(sl.quantity for s in self._order_shipments(line) for sl in s.lines if sl.order_line_id == line.id)

    def shipped_units(self, line: OrderLine) -> int:
        return sum(a.shipped for a in line.allocations)

    def _order_shipments(self, line: OrderLine) -> list[Shipment]:
        return [s for s in self.shipments.values() if any(sl.order_line_id == line.id for sl in s.lines)]

    def shipments_of(self, order: Order) -> list[Shipment]:
        return [s for s in self.shipments.values() if s.order_number == order.number]

    def _picked(self, allocation_id: int) -> int:
        return sum(
            p.quantity
            for s in self.shipments.values()
            for sl in s.lines
            for p in sl.picks
            if p.allocation_id == allocation_id
        )

    def _release(self, line: OrderLine, quantity: int, remove_from_stock: bool) -> None:
        """Release ``quantity`` unpicked allocated units of ``line``, lowest-priority warehouse first."""
        for allocation in reversed(line.allocations):
            if quantity <= 0:
                break
            free = allocation.quantity - self._picked(allocation.id)
            take = min(free, quantity)
            if take <= 0:
                continue
            allocation.quantity -= take
            level = self.level(line.size_id, allocation.warehouse_id)
            level.allocated -= take
            if remove_from_stock:
                level.physical -= take
            quantity -= take
        line.allocations = [a for a in line.allocations if a.quantity > 0]

    def update_dtc_order(
        self,
        order: Order,
        *,
        is_on_hold: bool | None = None,
        hold_reason_text: str | None = None,
        cancel_lines: list[dict[str, Any]] | None = None,
        cancellation_comment: str | None = None,
        shipping_cost: float | None = None,
        shipping_address: dict[str, Any] | None = None,
        billing_address: dict[str, Any] | None = None,
    ) -> Order:
        cancels: list[tuple[OrderLine, int, bool]] = []
        if cancel_lines:
            if order.status in ("CANCELLED", "SHIPPED", "ARCHIVED"):
                raise UserError(f"Order {order.number} is {order.status}", ["input", "cancelLines"])
            asked: Counter[int] = Counter()
            for i, spec in enumerate(cancel_lines):
                path = ["input", "cancelLines", str(i)]
                line = next((ln for ln in order.lines if ln.id == spec["line"]["id"]), None)
                if line is None:
                    raise UserError(
                        f"Order line {spec['line']['id']} not found in order {order.number}", [*path, "line"]
                    )
                quantity = spec["quantity"]
                asked[line.id] += quantity
                cancellable = line.quantity - self.units_in_shipments(line)
                if quantity <= 0 or asked[line.id] > cancellable:
                    raise UserError(f"Can cancel at most {cancellable} of line {line.id}", [*path, "quantity"])
                cancels.append((line, quantity, spec.get("stockAction") == "REMOVE_FROM_STOCK"))
        if shipping_cost is not None:
            if order.status != "CONFIRMED":
                raise UserError("Shipping cost can only be changed on CONFIRMED orders", ["input", "shippingCost"])
            if shipping_cost > order.shipping_cost:
                raise UserError("Shipping cost can only be lowered", ["input", "shippingCost"])
        for name, given in (("shippingAddress", shipping_address), ("billingAddress", billing_address)):
            if given and "country" in given:
                raise UserError("The country of an address cannot be changed", ["input", name, "country"])
        # validated: apply
        if is_on_hold is not None:
            order.is_on_hold = is_on_hold
            order.hold_reason = None
        if hold_reason_text:
            order.history.append(f"hold: {hold_reason_text}")
        for line, quantity, remove in cancels:
            if order.status != "PENDING":
                self._release(line, quantity, remove)
            line.quantity -= quantity
            line.cancelled_quantity += quantity
        if cancellation_comment:
            order.history.append(f"cancel: {cancellation_comment}")
        if shipping_cost is not None:
            order.shipping_cost = shipping_cost
        for target, given in (
            (order.shipping_address, shipping_address),
            (order.billing_address, billing_address),
        ):
            for key, value in (given or {}).items():
                setattr(target, ADDRESS_FIELDS[key], value)
        if cancels:
            self._settle_status(order)
        self._touch(order)
        return order

    def cancel_order(
        self,
        order: Order,
        *,
        remove_from_stock: bool = False,
        comment: str | None = None,
        cancel_authorization: bool = True,
    ) -> list[UserError]:
        if order.status in ("CANCELLED", "SHIPPED", "ARCHIVED"):
            raise UserError(f"Order {order.number} is {order.status} and cannot be cancelled", ["id"])
        if self.shipments_of(order):
            raise UserError(f"Order {order.number} has shipments; cancel is not possible (use a return)", ["id"])
        for line in order.lines:
            self._release(line, line.quantity, remove_from_stock)
            line.cancelled_quantity += line.quantity
            line.quantity = 0
        order.status = "CANCELLED"
        if comment:
            order.history.append(f"cancel: {comment}")
        if cancel_authorization:
            order.payments.append(PaymentEntry(self.next_id("payment"), self.now(), "CANCEL", "SUCCESS", 0.0))
        self.counters["orders_cancelled"] += 1
        self._touch(order)
        return []

    def delete_order(self, order: Order) -> None:
        """Remove an order entirely (an AMS operator deleting a test order): releases it and emits DELETED."""
        for line in order.lines:
            self._release(line, line.quantity, False)
        for shipment in self.shipments_of(order):
            del self.shipments[shipment.id]
        del self.orders[order.number]
        self.deleted_orders.add(order.number)
        self._emit_order(order, "DELETED")

    def _settle_status(self, order: Order) -> None:
        if all(line.quantity == 0 for line in order.lines):
            order.status = "CANCELLED"
            return
        shipments = self.shipments_of(order)
        if all(self.shipped_units(line) >= line.quantity for line in order.lines) and all(
            s.is_shipped for s in shipments
        ):
            order.status = "SHIPPED"

    # --- shipments ------------------------------------------------------------------------------------------

    def create_shipment(
        self,
        order: Order,
        lines: list[tuple[int, int]],
        *,
        is_good_to_go: bool = False,
        is_paid: bool = False,
        capture: bool = False,
        send_email: bool = False,
        additional_message: str | None = None,
        created_at: datetime | None = None,
        shipped_at: datetime | None = None,
    ) -> tuple[Shipment, list[UserError]]:
        if order.status not in ("CONFIRMED", "PROCESSING"):
            raise UserError(
                f"Order {order.number} is {order.status}; shipments need a confirmed order",
                ["input", "order"],
            )
        if not lines:
            raise UserError("A shipment needs at least one line", ["input", "lines"])
        asked: Counter[int] = Counter()
        by_id = {line.id: line for line in order.lines}
        for i, (line_id, quantity) in enumerate(lines):
            path = ["input", "lines", str(i)]
            line = by_id.get(line_id)
            if line is None:
                raise UserError(f"Order line {line_id} not found in order {order.number}", [*path, "orderLine"])
            asked[line_id] += quantity
            unshipped = line.quantity - self.units_in_shipments(line)
            if quantity <= 0 or asked[line_id] > unshipped:
                raise UserError(
                    f"Quantity {quantity} exceeds the {unshipped} unshipped units of line {line_id}",
                    [*path, "quantity"],
                )
        now = self.now()
        shipment = Shipment(
            id=self.next_id("shipment"),
            number=f"{order.number}-{len(self.shipments_of(order)) + 1}",
            order_number=order.number,
            created_at=created_at or now,
            updated_at=now,
            is_good_to_go=is_good_to_go,
            additional_message=additional_message,
            send_email=send_email,
            shipped_at=shipped_at,
        )
        for line_id, quantity in lines:
            line = by_id[line_id]
            picks: list[ShipmentPick] = []
            need = quantity
            for allocation in line.allocations:
                free = (
                    allocation.quantity
                    - self._picked(allocation.id)
                    - sum(p.quantity for sl in shipment.lines for p in sl.picks if p.allocation_id == allocation.id)
                )
                take = min(free, need)
                if take > 0:
                    picks.append(ShipmentPick(allocation.warehouse_id, allocation.id, take))
                    need -= take
            shipment.lines.append(ShipmentLine(self.next_id("shipment_line"), line_id, quantity, picks))
        warnings: list[UserError] = []
        if capture:
            entry = self._capture(order, shipment)
            if entry.status == "FAILED":
                warnings.append(
                    UserError("Capture failed: the payment provider declined the capture", ["input", "capture"])
                )
            elif entry.status == "PENDING":
                warnings.append(
                    UserError(
                        "Capture requested; the payment provider has not confirmed it yet",
                        ["input", "capture"],
                    )
                )
        elif is_paid:
            shipment.is_paid, shipment.paid_at = True, now
        self.shipments[shipment.id] = shipment
        if order.status == "CONFIRMED":
            order.status = "PROCESSING"
        self.counters["shipments_created"] += 1
        self._emit_shipment(shipment, "CREATED")
        if shipment.is_good_to_go:
            self._emit_shipment(shipment, "UPDATED", action="good_to_go")
        self._touch(order)
        return shipment, warnings

    def shipment_value(self, shipment: Shipment) -> float:
        order = self.orders[shipment.order_number]
        prices = {line.id: line.unit_price for line in order.lines}
        return sum(sl.quantity * prices[sl.order_line_id] for sl in shipment.lines)

    def _capture(self, order: Order, shipment: Shipment) -> PaymentEntry:
        mode = self.capture_overrides.get(order.number, self.capture_mode)
        now = self.now()
        value = self.shipment_value(shipment)
        if mode == "success":
            entry = PaymentEntry(
                self.next_id("payment"),
                now,
                "CAPTURE",
                "SUCCESS",
                value,
                external_reference=f"psp-{shipment.id}",
                shipment_id=shipment.id,
            )
            shipment.is_captured, shipment.captured_at = True, now
            shipment.is_paid, shipment.paid_at = True, now
        elif mode == "pending":
            entry = PaymentEntry(
                self.next_id("payment"),
                now,
                "CAPTURE_REQUEST",
                "PENDING",
                value,
                external_reference=f"psp-{shipment.id}",
                shipment_id=shipment.id,
            )
        else:
            entry = PaymentEntry(self.next_id("payment"), now, "CAPTURE", "FAILED", value, shipment_id=shipment.id)
        order.payments.append(entry)
        self.counters[f"captures:{entry.status.lower()}"] += 1
        return entry

    def shipment(self, shipment_id: int, path: list[str] | None = None) -> Shipment:
        shipment = self.shipments.get(shipment_id)
        if shipment is None:
            raise UserError(f"Shipment {shipment_id} not found", path or ["id"])
        return shipment

    def capture_shipment(self, shipment: Shipment) -> tuple[PaymentEntry, list[UserError]]:
        if shipment.is_captured:
            raise UserError(f"Shipment {shipment.number} is already captured", ["id"])
        order = self.orders[shipment.order_number]
        if self.capture_overrides.get(order.number, self.capture_mode) == "fail":
            self.counters["captures:failed"] += 1
            raise UserError("Capture failed: the payment provider declined the capture", ["id"])
        entry = self._capture(order, shipment)
        warnings = []
        if entry.status == "PENDING":
            warnings.append(UserError("Capture requested; the payment provider has not confirmed it yet", ["id"]))
        shipment.updated_at = self.now()
        self._emit_shipment(shipment, "UPDATED")
        return entry, warnings

    def settle_capture(self, shipment: Shipment, success: bool) -> PaymentEntry:
        """The PSP finalises a pending capture (days later, in real life)."""
        order = self.orders[shipment.order_number]
        now = self.now()
        entry = PaymentEntry(
            self.next_id("payment"),
            now,
            "CAPTURE",
            "SUCCESS" if success else "FAILED",
            self.shipment_value(shipment),
            external_reference=f"psp-{shipment.id}",
            shipment_id=shipment.id,
        )
        order.payments.append(entry)
        if success:
            shipment.is_captured, shipment.captured_at = True, now
            shipment.is_paid, shipment.paid_at = True, now
        shipment.updated_at = now
        self._emit_shipment(shipment, "UPDATED")
        return entry

    def update_shipment(
        self,
        shipment: Shipment,
        *,
        info: dict[str, Any] | None = None,
        additional_message: str | None = None,
        is_good_to_go: bool | None = None,
        is_paid: bool | None = None,
        external_id: str | None = None,
    ) -> Shipment:
        if shipment.is_shipped and (info or is_good_to_go is not None):
            raise UserError(f"Shipment {shipment.number} is shipped; its info and good-to-go are frozen", ["input"])
        if info:
            self._apply_info(shipment, info)
        if additional_message is not None:
            shipment.additional_message = additional_message
        became_good_to_go = is_good_to_go and not shipment.is_good_to_go
        if is_good_to_go is not None:
            shipment.is_good_to_go = is_good_to_go
        if is_paid and not shipment.is_paid:
            shipment.is_paid, shipment.paid_at = True, self.now()
        if external_id is not None:
            shipment.external_id = external_id
        shipment.updated_at = self.now()
        self._emit_shipment(shipment, "UPDATED", action="good_to_go" if became_good_to_go else None)
        return shipment

    @staticmethod
    def _apply_info(shipment: Shipment, info: dict[str, Any]) -> None:
        if "carrier" in info:
            shipment.carrier = info["carrier"]
        if "service" in info:
            shipment.service = info["service"]
        if info.get("packagesNumber") is not None:
            shipment.number_of_packages = info["packagesNumber"]
        if "trackingNumber" in info:
            shipment.tracking_number = info["trackingNumber"]
        if "returnTrackingNumber" in info:
            shipment.return_tracking_number = info["returnTrackingNumber"]
        if info.get("internalShippingCost"):
            shipment.internal_shipping_cost = float(info["internalShippingCost"]["value"])

    def complete_shipment(
        self,
        shipment: Shipment,
        *,
        shipped_at: datetime | None = None,
        info: dict[str, Any] | None = None,
        send_email: bool = False,
        additional_message: str | None = None,
    ) -> Shipment:
        if shipment.is_shipped:
            raise UserError(f"Shipment {shipment.number} is already completed", ["id"])
        if not shipment.is_good_to_go:
            raise UserError(f"Shipment {shipment.number} is not good to go", ["id"])
        if not shipment.is_paid:
            raise UserError(f"Shipment {shipment.number} is not paid", ["id"])
        now = self.now()
        if shipped_at is not None and shipped_at > now + timedelta(seconds=1):
            raise UserError("shippedAt cannot be in the future", ["input", "shippedAt"])
        order = self.orders[shipment.order_number]
        lines = {line.id: line for line in order.lines}
        for shipment_line in shipment.lines:
            line = lines[shipment_line.order_line_id]
            for pick in shipment_line.picks:
                level = self.level(line.size_id, pick.warehouse_id)
                level.physical -= pick.quantity
                level.allocated -= pick.quantity
                allocation = next(a for a in line.allocations if a.id == pick.allocation_id)
                allocation.shipped += pick.quantity
        if info:
            self._apply_info(shipment, info)
        if additional_message is not None:
            shipment.additional_message = additional_message
        shipment.is_shipped = True
        shipment.shipped_at = shipped_at or now
        shipment.send_email = send_email
        shipment.email_sent = send_email
        shipment.updated_at = now
        self.counters["shipments_completed"] += 1
        if send_email:
            self.counters["shipping_emails_sent"] += 1
        self._emit_shipment(shipment, "COMPLETED")
        before = order.status
        self._settle_status(order)
        self._touch(order, "COMPLETED" if order.status == "SHIPPED" and before != "SHIPPED" else "UPDATED")
        return shipment


ADDRESS_FIELDS = {
    "firstName": "first_name",
    "lastName": "last_name",
    "companyName": "company_name",
    "attention": "attention",
    "address1": "address1",
    "address2": "address2",
    "city": "city",
    "zipCode": "zip_code",
    "stateOrProvince": "state_or_province",
    "email": "email",
    "phoneNumber": "phone_number",
    "cellPhoneNumber": "cell_phone_number",
    "faxNumber": "fax_number",
    "vatNumber": "vat_number",
}
