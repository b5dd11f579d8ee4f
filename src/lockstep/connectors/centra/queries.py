"""Every GraphQL document the Centra client sends, as named operations.

Why named documents in one place: Centra reports deprecated fields and permissions per operation, the
simulator and the fidelity tests validate exactly these strings, and a reviewer can see the whole API surface
Lockstep depends on in one file. Operation names start with ``Lockstep`` so they are recognisable in Centra's
logs.

Naming rules (checked by ``tests/connectors/centra/test_fidelity.py``): every field, argument, enum value and
type name used here appears in ``shared/api/centra.md`` or in Centra's published examples. Where a documented
input type name is missing (``ShipmentCompleteInput``, ``OrdersLockInput``, ``EventsConfirmInput``, ...), the
input object is written inline with scalar variables instead of inventing a name.

Where the 2021 schema inventory and centra.md differ, these documents follow centra.md (the newer source):
``EAN`` rather than the deprecated ``GTIN`` on sizes, ``Shipment`` as an interface with ``externalId``, the
events queue (absent from the 2021 inventory) and ``setStock`` with ``stockQuantityType``.
"""

from __future__ import annotations

import functools
import re

ADDRESS_FIELDS = """
fragment LockstepAddress on Address {
  firstName
  lastName
  companyName
  address1
  address2
  city
  zipCode
  stateOrProvince
  country { code name }
  email
  phoneNumber
  cellPhoneNumber
}
"""

# `lines(includeFullyCancelled: true)`: a line cancelled after export must still be visible, so the flow can
# propagate the cancellation; routing skips lines whose quantity is 0.
# `shippingPriceGroup { shippingOption { id name uri } }`: the customer's shipping method, in the shape of
# Centra's own order example (examples-dtc/01-orders); the brand's carrier mapping turns it into Deposco's ship
# via, carrier and service.
ORDER_FIELDS = (
    """
fragment LockstepOrderFields on Order {
  id
  number
  status
  createdAt
  updatedAt
  orderDate
  isOnHold
  orderHoldReason
  isWaitingForPayment
  isLocked
  market { id name }
  shippingPriceGroup { shippingOption { id name uri } }
  shippingAddress { ...LockstepAddress }
  billingAddress { ...LockstepAddress }
  totals {
    shipping { value currency { code } }
    grandTotal { value currency { code } }
  }
  ... on DirectToConsumerOrder { customer { email } }
  lines(includeFullyCancelled: true) {
    id
    quantity
    cancelledQuantity
    productNumber
    productName
    productVariantName
    size
    productSize { id SKU EAN }
    unitPrice { value currency { code } }
    allocations { quantity warehouse { id name } }
  }
}
"""
    + ADDRESS_FIELDS
)

SHIPMENT_FIELDS = """
fragment LockstepShipmentFields on Shipment {
  id
  number
  externalId
  createdAt
  updatedAt
  shippedAt
  isGoodToGo
  isShipped
  isPaid
  isCaptured
  trackingNumber
  numberOfPackages
  additionalMessage
  carrierInformation { carrierName serviceName }
  order { id number }
  lines { id quantity orderLine { id } }
}
"""

PAYLOAD_ISSUES = "userErrors { message path } userWarnings { message path }"

# --- orders ---------------------------------------------------------------------------------------------------

# Sorted by number (not updatedAt): the cursor is keyed on the sort value, and an order that changes while we
# page keeps its number, so it is neither skipped nor repeated. The updatedAt window is the filter.
ORDERS = (
    """
query LockstepOrders($where: OrderFilter, $first: Int!, $after: String) {
  orderConnection(where: $where, first: $first, after: $after, sort: [number_ASC]) {
    pageInfo { hasNextPage endCursor }
    edges { node { ...LockstepOrderFields } }
  }
}
"""
    + ORDER_FIELDS
)

ORDER_BY_NUMBER = (
    """
query LockstepOrder($number: Int!) {
  orders(where: { number: $number }, limit: 1) { ...LockstepOrderFields }
}
"""
    + ORDER_FIELDS
)


@functools.lru_cache(maxsize=128)
def orders_by_numbers(count: int) -> str:
    """One request for ``count`` orders by number: the same ``orders(where:{number})`` field once per order,
    under aliases ``o0``…; variables ``$n0``…. One document per count, so the server's parse cache still hits."""
    if count < 1:
        raise ValueError("at least one order")
    params = ", ".join(f"$n{i}: Int!" for i in range(count))
    fields = "\n".join(
        f"  o{i}: orders(where: {{ number: $n{i} }}, limit: 1) {{ ...LockstepOrderFields }}" for i in range(count)
    )
    return f"query LockstepOrdersByNumber({params}) {{\n{fields}\n}}\n" + ORDER_FIELDS


ORDER_SHIPMENTS = (
    """
query LockstepOrderShipments($number: Int!) {
  orders(where: { number: $number }, limit: 1) {
    number
    shipments { ...LockstepShipmentFields }
  }
}
"""
    + SHIPMENT_FIELDS
)

LOCK_ORDERS = f"""
mutation LockstepLockOrders($orders: [OrderInput!]!, $isLocked: Boolean!) {{
  setOrdersLock(input: {{ orders: $orders, isLocked: $isLocked }}) {{
    orders {{ number isLocked }}
    {PAYLOAD_ISSUES}
  }}
}}
"""

# --- shipments ------------------------------------------------------------------------------------------------

CREATE_SHIPMENT = (
    f"""
mutation LockstepCreateShipment($input: ShipmentCreateInput!) {{
  createShipment(input: $input) {{
    shipment {{ ...LockstepShipmentFields }}
    {PAYLOAD_ISSUES}
  }}
}}
"""
    + SHIPMENT_FIELDS
)

CAPTURE_SHIPMENT = (
    f"""
mutation LockstepCaptureShipment($id: Int!) {{
  captureShipment(id: $id) {{
    paymentHistoryEntry {{ status entryType }}
    shipment {{ ...LockstepShipmentFields }}
    {PAYLOAD_ISSUES}
  }}
}}
"""
    + SHIPMENT_FIELDS
)

# Inline input with optional variables: a variable that is not sent leaves its field out of the input, so
# only what the warehouse reported is written (no nulls over existing values).
COMPLETE_SHIPMENT = (
    f"""
mutation LockstepCompleteShipment(
  $id: Int!
  $shippedAt: DateTimeTz
  $sendEmail: Boolean
  $additionalMessage: String
  $carrier: String
  $service: String
  $packagesNumber: Int
  $trackingNumber: String
  $internalShippingCost: MonetaryValueInput
) {{
  completeShipment(
    id: $id
    input: {{
      shippedAt: $shippedAt
      sendEmail: $sendEmail
      additionalMessage: $additionalMessage
      shipmentInfo: {{
        carrier: $carrier
        service: $service
        packagesNumber: $packagesNumber
        trackingNumber: $trackingNumber
        internalShippingCost: $internalShippingCost
      }}
    }}
  ) {{
    shipment {{ ...LockstepShipmentFields }}
    {PAYLOAD_ISSUES}
  }}
}}
"""
    + SHIPMENT_FIELDS
)

UPDATE_SHIPMENT = (
    f"""
mutation LockstepUpdateShipment($id: Int!, $input: ShipmentUpdateInput!) {{
  updateShipment(id: $id, input: $input) {{
    shipment {{ ...LockstepShipmentFields }}
    {PAYLOAD_ISSUES}
  }}
}}
"""
    + SHIPMENT_FIELDS
)

SHIPMENTS_BY_EXTERNAL_ID = (
    """
query LockstepShipmentsByExternalId($externalId: String!) {
  shipments(where: { externalId: $externalId }, limit: 10) { ...LockstepShipmentFields }
}
"""
    + SHIPMENT_FIELDS
)

# --- events queue ---------------------------------------------------------------------------------------------

# centra.md §1.2: subscribe once for Order and Shipment, all change types (no changeTypes = all).
SUBSCRIBE_EVENTS = f"""
mutation LockstepSubscribeEvents {{
  setEventListeners(input: [{{ objectType: Order }}, {{ objectType: Shipment }}]) {{
    eventListeners {{ objectType changeTypes }}
    {PAYLOAD_ISSUES}
  }}
}}
"""

# The event's `object` is left out on purpose: it is the *current* state anyway, so the flow re-fetches
# the order or shipment it needs, and 200 full orders per poll would spend the complexity budget for nothing.
EVENTS = """
query LockstepEvents($objectTypes: [EventObjectType!], $limit: Int!) {
  events(where: { objectType: $objectTypes }, limit: $limit) {
    id
    objectType
    changeType
    objectReference
    createdAt
  }
}
"""

CONFIRM_EVENTS = f"""
mutation LockstepConfirmEvents($eventsIds: [Int!]!) {{
  confirmEvents(input: {{ eventsIds: $eventsIds }}) {{
    {PAYLOAD_ISSUES}
  }}
}}
"""

# --- stock, catalogue, warehouses, budget ---------------------------------------------------------------------

SET_STOCK = f"""
mutation LockstepSetStock($input: StockSetInput!) {{
  setStock(input: $input) {{
    stockChanges {{ id }}
    {PAYLOAD_ISSUES}
  }}
}}
"""

# freeToAllocateQuantity costs nothing in complexity; allocatedQuantity is expensive, so it has its own
# document. Physical is derived as FTA + allocated (centra.md §8: "Physical = FTA + Allocated"): that keeps
# to documented field names (no `physicalQuantity` appears in the documentation).
WAREHOUSE_STOCK = """
query LockstepWarehouseStock($id: Int!, $limit: Int!, $page: Int!) {
  warehouse(id: $id) {
    id
    name
    stock(limit: $limit, page: $page) {
      productSize { SKU EAN }
      freeToAllocateQuantity
    }
  }
}
"""

WAREHOUSE_STOCK_WITH_ALLOCATED = """
query LockstepWarehouseStockWithAllocated($id: Int!, $limit: Int!, $page: Int!) {
  warehouse(id: $id) {
    id
    name
    stock(limit: $limit, page: $page) {
      productSize { SKU EAN }
      freeToAllocateQuantity
      allocatedQuantity
    }
  }
}
"""

# Sorted by id: stable keyset cursors while sizes change; updatedAt is the filter (`updatedAt_ASC` is not a
# documented sort value).
PRODUCT_SIZES = """
query LockstepProductSizes($where: ProductSizeFilter, $first: Int!, $after: String) {
  productSizeConnection(where: $where, first: $first, after: $after, sort: [id_ASC]) {
    pageInfo { hasNextPage endCursor }
    edges {
      node {
        id
        SKU
        EAN
        sizeNumber
        description
        isActive
        updatedAt
        productVariant { variantNumber name }
        product { productNumber name status harmonizedCommodityCode }
      }
    }
  }
}
"""

WAREHOUSES = """
query LockstepWarehouses($limit: Int!, $page: Int!) {
  warehouses(sort: [id_ASC], limit: $limit, page: $page) { id name status }
}
"""

RATE_LIMITS = """
query LockstepRateLimits {
  rateLimits { type intervalSeconds quota usedQuota remainingQuota }
}
"""

_OPERATION = re.compile(r"^\s*(?:query|mutation)\s+(\w+)", re.MULTILINE)


def operation_name(document: str) -> str:
    """The operation's name (``LockstepOrders``): sent as ``operationName`` and used as the metric label."""
    match = _OPERATION.search(document)
    if match is None:
        raise ValueError("every Centra document must be a named operation")
    return match.group(1)


DOCUMENTS: dict[str, str] = {
    operation_name(doc): doc
    for doc in (
        ORDERS,
        ORDER_BY_NUMBER,
        orders_by_numbers(3),
        ORDER_SHIPMENTS,
        LOCK_ORDERS,
        CREATE_SHIPMENT,
        CAPTURE_SHIPMENT,
        COMPLETE_SHIPMENT,
        UPDATE_SHIPMENT,
        SHIPMENTS_BY_EXTERNAL_ID,
        SUBSCRIBE_EVENTS,
        EVENTS,
        CONFIRM_EVENTS,
        SET_STOCK,
        WAREHOUSE_STOCK,
        WAREHOUSE_STOCK_WITH_ALLOCATED,
        PRODUCT_SIZES,
        WAREHOUSES,
        RATE_LIMITS,
    )
}
"""Every document the client can send, by operation name (the fidelity tests validate all of them)."""
