"""Custom search attributes the order workflow keeps current, so engineers can find orders in Temporal UI."""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey, SearchAttributeUpdate

from domain.order import Order
from domain.status import OrderStatus

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
PAYMENT_METHOD = SearchAttributeKey.for_keyword("PaymentMethod")
CURRENCY = SearchAttributeKey.for_keyword("Currency")
# The order's total in its own currency (compare it together with `Currency`).
ORDER_TOTAL = SearchAttributeKey.for_float("OrderTotal")
# Set on an order and on its refund workflow while a refund runs, so overdue refunds can be found by time.
REFUND_DEADLINE = SearchAttributeKey.for_datetime("RefundDeadline")

# What `oms up` registers on the dev server (`--search-attribute NAME=TYPE`) and a cluster admin registers once.
ALL: tuple[SearchAttributeKey[Any], ...] = (
    ORDER_STATUS,
    CHANNEL,
    PAYMENT_METHOD,
    CURRENCY,
    ORDER_TOTAL,
    REFUND_DEADLINE,
)


def of_order(order: Order, status: OrderStatus) -> list[SearchAttributeUpdate[Any]]:
    """The attributes an order carries in `status`: set at placement, kept current at every status change."""
    return [
        ORDER_STATUS.value_set(status.value),
        CHANNEL.value_set(order.channel.value),
        PAYMENT_METHOD.value_set(order.payment.method.value),
        CURRENCY.value_set(order.currency),
        # Visibility keeps doubles: exact to the cent for any order total a shop will see.
        ORDER_TOTAL.value_set(float(order.total.amount)),
    ]


def type_name(key: SearchAttributeKey[Any]) -> str:
    """The type as the Temporal CLI spells it in `--search-attribute NAME=TYPE`."""
    return {
        SearchAttributeIndexedValueType.KEYWORD: "Keyword",
        SearchAttributeIndexedValueType.DATETIME: "Datetime",
        SearchAttributeIndexedValueType.DOUBLE: "Double",
    }[key.indexed_value_type]


def indexed_value_type(key: SearchAttributeKey[Any]) -> IndexedValueType.ValueType:
    """The type as the operator service's `AddSearchAttributesRequest` takes it (the SDK's enum mirrors the API's)."""
    return IndexedValueType.ValueType(int(key.indexed_value_type))
