"""Custom search attributes the order workflow keeps current, so engineers can find orders in Temporal UI."""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
# Set on an order and on its refund workflow while a refund runs, so overdue refunds can be found by time.
REFUND_DEADLINE = SearchAttributeKey.for_datetime("RefundDeadline")

# What `oms up` registers on the dev server (`--search-attribute NAME=TYPE`) and a cluster admin registers once.
ALL: tuple[SearchAttributeKey[Any], ...] = (ORDER_STATUS, CHANNEL, REFUND_DEADLINE)


def type_name(key: SearchAttributeKey[Any]) -> str:
    """The type as the Temporal CLI spells it in `--search-attribute NAME=TYPE`."""
    return {
        SearchAttributeIndexedValueType.KEYWORD: "Keyword",
        SearchAttributeIndexedValueType.DATETIME: "Datetime",
    }[key.indexed_value_type]


def indexed_value_type(key: SearchAttributeKey[Any]) -> IndexedValueType.ValueType:
    """The type as the operator service's `AddSearchAttributesRequest` takes it (the SDK's enum mirrors the API's)."""
    return IndexedValueType.ValueType(int(key.indexed_value_type))
