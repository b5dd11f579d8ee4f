"""Root mutation resolvers.

Every mutation resolves and validates its input first; a :class:`UserError` anywhere becomes the payload's
``userErrors`` (HTTP 200) and, because the state methods validate before they change anything, nothing
changed.
Non-fatal findings come back as ``userWarnings``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from ariadne import ObjectType

from lockstep.sim.centra.model import UserError
from lockstep.sim.centra.state import CentraState, parse_datetime

mutation = ObjectType("Mutation")


def _state(info: Any) -> CentraState:
    return info.context.state


def _issue(error: UserError) -> dict[str, Any]:
    return {"message": error.message, "path": error.path or None}


def payload_of(
    empty: dict[str, Any],
) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Wrap a resolver: its dict gets ``userErrors: []`` / ``userWarnings``; a UserError yields ``empty`` +
    error."""

    def decorate(resolver: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        @wraps(resolver)
        def wrapper(obj: Any, info: Any, **kwargs: Any) -> dict[str, Any]:
            try:
                result = resolver(obj, info, **kwargs)
            except UserError as error:
                info.context.state.counters[f"user_errors:{info.field_name}"] += 1
                return {**empty, "userErrors": [_issue(error)], "userWarnings": []}
            warnings = result.pop("warnings", [])
            return {**result, "userErrors": [], "userWarnings": [_issue(w) for w in warnings]}

        return wrapper

    return decorate


def _when(value: str | None, state: CentraState) -> Any:
    return parse_datetime(value, state.now()) if value else None


# --- stock --------------------------------------------------------------------------------------------------


def _stock_items(
    state: CentraState, data: dict[str, Any], quantity_key: str, size_list: str, variant_list: str
) -> list[tuple[Any, int]]:
    items: list[tuple[Any, int]] = []
    for i, row in enumerate(data.get(variant_list) or []):
        path = ["input", "productVariants", str(i)]
        for j, level in enumerate(row.get(size_list) or []):
            size = state.find_variant_size(row["productVariant"], level["size"], [*path, size_list, str(j)])
            items.append((size, level[quantity_key]))
    for i, row in enumerate(data.get("productSizes") or []):
        items.append(
            (
                state.find_size(row["productSize"], ["input", "productSizes", str(i), "productSize"]),
                row[quantity_key],
            )
        )
    if not items:
        raise UserError("Give productSizes or productVariants", ["input"])
    return items


@mutation.field("setStock")
@payload_of({"stockChanges": []})
def resolve_set_stock(_obj: Any, info: Any, input: dict[str, Any]) -> dict[str, Any]:
    state = _state(info)
    warehouse = state.find_warehouse(input["warehouse"], ["input", "warehouse"])
    items = _stock_items(state, input, "quantity", "sizeStockLevels", "productVariants")
    change, warnings = state.set_stock(warehouse, input["description"], items, ["input"])
    return {"stockChanges": [change], "warnings": warnings}


@mutation.field("changeStock")
@payload_of({"stockChange": None})
def resolve_change_stock(_obj: Any, info: Any, input: dict[str, Any]) -> dict[str, Any]:
    state = _state(info)
    into = (
        state.find_warehouse(input["intoWarehouse"], ["input", "intoWarehouse"]) if input.get("intoWarehouse") else None
    )
    out = (
        state.find_warehouse(input["outFromWarehouse"], ["input", "outFromWarehouse"])
        if input.get("outFromWarehouse")
        else None
    )
    items = _stock_items(state, input, "deliveredQuantity", "sizeChanges", "productVariants")
    return {"stockChange": state.change_stock(into, out, input["description"], items, ["input"])}


# --- orders -------------------------------------------------------------------------------------------------


@mutation.field("confirmOrder")
@payload_of({"order": None})
def resolve_confirm_order(_obj: Any, info: Any, input: dict[str, Any]) -> dict[str, Any]:
    state = _state(info)
    return {"order": state.confirm_order(state.find_order(input["order"], ["input", "order"]))}


@mutation.field("setOrdersLock")
@payload_of({"orders": []})
def resolve_set_orders_lock(_obj: Any, info: Any, input: dict[str, Any]) -> dict[str, Any]:
    state = _state(info)
    orders = [state.find_order(ref, ["input", "orders", str(i)]) for i, ref in enumerate(input["orders"])]
    return {"orders": state.set_orders_lock(orders, input["isLocked"])}


@mutation.field("updateDirectToConsumerOrder")
@payload_of({"order": None})
def resolve_update_dtc(_obj: Any, info: Any, order: dict[str, Any], input: dict[str, Any]) -> dict[str, Any]:
    state = _state(info)
    target = state.find_order(order, ["order"])
    shipping_cost = None
    if input.get("shippingCost") is not None:
        cost = input["shippingCost"]
        if cost["currencyIsoCode"].upper() != target.currency:
            raise UserError(f"Currency must be {target.currency}", ["input", "shippingCost", "currencyIsoCode"])
        shipping_cost = float(cost["value"])
    updated = state.update_dtc_order(
        target,
        is_on_hold=input.get("isOnHold"),
        hold_reason_text=input.get("holdStatusChangeReason"),
        cancel_lines=input.get("cancelLines"),
        cancellation_comment=input.get("cancellationComment"),
        shipping_cost=shipping_cost,
        shipping_address=input.get("shippingAddress"),
        billing_address=input.get("billingAddress"),
    )
    return {"order": updated}


@mutation.field("cancelDirectToConsumerOrder")
@payload_of({"order": None})
def resolve_cancel_dtc(_obj: Any, info: Any, id: str, input: dict[str, Any] | None = None) -> dict[str, Any]:
    state = _state(info)
    input = input or {}
    order = state.find_order({"id": id}, ["id"])
    policy = input.get("stockAction") or {}
    if policy.get("removeItemsFromStock") and policy.get("releaseItemsBackToWarehouse"):
        raise UserError("Give exactly one stock action policy", ["input", "stockAction"])
    warnings = state.cancel_order(
        order,
        remove_from_stock=bool(policy.get("removeItemsFromStock")),
        comment=input.get("comment"),
        cancel_authorization=input.get("cancelAuthorization", True) is not False,
    )
    return {"order": order, "warnings": warnings}


# --- shipments ----------------------------------------------------------------------------------------------


@mutation.field("createShipment")
@payload_of({"shipment": None})
def resolve_create_shipment(_obj: Any, info: Any, input: dict[str, Any]) -> dict[str, Any]:
    state = _state(info)
    order = state.find_order(input["order"], ["input", "order"])
    lines = [(row["orderLine"]["id"], row["quantity"]) for row in input.get("lines") or []]
    shipment, warnings = state.create_shipment(
        order,
        lines,
        is_good_to_go=bool(input.get("isGoodToGo")),
        is_paid=bool(input.get("isPaid")),
        capture=bool(input.get("capture")),
        send_email=bool(input.get("sendEmail")),
        additional_message=input.get("additionalMessage"),
        created_at=_when(input.get("createdAt"), state),
        shipped_at=_when(input.get("shippedAt"), state),
    )
    return {"shipment": shipment, "warnings": warnings}


@mutation.field("updateShipment")
@payload_of({"shipment": None})
def resolve_update_shipment(_obj: Any, info: Any, id: int, input: dict[str, Any]) -> dict[str, Any]:
    state = _state(info)
    shipment = state.update_shipment(
        state.shipment(id),
        info=input.get("shipmentInfo"),
        additional_message=input.get("additionalMessage"),
        is_good_to_go=input.get("isGoodToGo"),
        is_paid=input.get("isPaid"),
        external_id=input.get("externalId"),
    )
    return {"shipment": shipment}


@mutation.field("captureShipment")
@payload_of({"shipment": None, "paymentHistoryEntry": None})
def resolve_capture_shipment(_obj: Any, info: Any, id: int) -> dict[str, Any]:
    state = _state(info)
    shipment = state.shipment(id)
    entry, warnings = state.capture_shipment(shipment)
    return {"shipment": shipment, "paymentHistoryEntry": entry, "warnings": warnings}


@mutation.field("completeShipment")
@payload_of({"shipment": None})
def resolve_complete_shipment(_obj: Any, info: Any, id: int, input: dict[str, Any] | None = None) -> dict[str, Any]:
    state = _state(info)
    input = input or {}
    shipment = state.shipment(id)
    shipped_at = _when(input.get("shippedAt"), state)
    completed = state.complete_shipment(
        shipment,
        shipped_at=shipped_at,
        info=input.get("shipmentInfo"),
        send_email=bool(input.get("sendEmail")),
        additional_message=input.get("additionalMessage"),
    )
    return {"shipment": completed}


# --- events -------------------------------------------------------------------------------------------------


@mutation.field("setEventListeners")
@payload_of({"eventListeners": []})
def resolve_set_listeners(_obj: Any, info: Any, input: list[dict[str, Any]]) -> dict[str, Any]:
    state = _state(info)
    queue = state.queue(info.context.token.integration_name)
    listeners = [queue.set_listener(row["objectType"], row.get("changeTypes"), state.now()) for row in input]
    return {"eventListeners": list({id(x): x for x in listeners}.values())}


@mutation.field("unsetEventListeners")
@payload_of({"eventListeners": []})
def resolve_unset_listeners(_obj: Any, info: Any, input: list[dict[str, Any]]) -> dict[str, Any]:
    state = _state(info)
    queue = state.queue(info.context.token.integration_name)
    kept = [queue.unset_listener(row["objectType"], row.get("changeTypes"), state.now()) for row in input]
    return {"eventListeners": [x for x in {id(k): k for k in kept if k is not None}.values()]}


@mutation.field("confirmEvents")
@payload_of({})
def resolve_confirm_events(_obj: Any, info: Any, input: dict[str, Any]) -> dict[str, Any]:
    state = _state(info)
    unknown = state.queue(info.context.token.integration_name).confirm(input["eventsIds"])
    return {
        "warnings": [
            UserError(f"Event {i} is not in this integration's queue", ["input", "eventsIds"]) for i in unknown
        ]
    }
