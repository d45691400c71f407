"""Custom search attributes the order workflow keeps current, so engineers can find orders in Temporal UI."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CHANNEL = SearchAttributeKey.for_keyword("Channel")

# What `oms up` registers on the dev server (`--search-attribute NAME=TYPE`) and a cluster admin registers once.
ALL: tuple[SearchAttributeKey[str], ...] = (ORDER_STATUS, CHANNEL)
