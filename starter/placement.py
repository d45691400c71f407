"""Turning a channel's JSON into a validated order and starting its workflow, once per business key."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain.cards import card_numbers_in_payment
from domain.order import FulfilmentMode, Order, size_problem
from domain.status import OrderStatus
from settings import Settings
from store import catalogue
from workflows import search
from workflows.order import OrderWorkflow, PlaceOrder, workflow_id

# A file with everything wrong would otherwise print a wall of text; the first few problems say enough.
MAX_PROBLEMS_SHOWN = 3


class OrderInputError(ValueError):
    """The order as given cannot be placed; each problem names the field in the order file's own terms."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        shown = "; ".join(self.problems[:MAX_PROBLEMS_SHOWN])
        hidden = len(self.problems) - MAX_PROBLEMS_SHOWN
        super().__init__(f"{shown}; and {hidden} more" if hidden > 0 else shown)


class OrderAlreadyExists(Exception):
    """An order with this business key was placed before; placing it again would charge twice."""

    def __init__(self, order_id: str) -> None:
        self.order_id = order_id
        super().__init__(
            f"order {order_id} already exists (workflow {workflow_id(order_id)}); "
            f"see it with `oms order status {order_id}`"
        )


def parse_order(text: str) -> Order:
    """Parse and validate an order file's JSON, or raise `OrderInputError` naming each bad field.

    A payment that carries a card number (`card_number`, or one in any other payment field) is refused: the
    shop takes the payment provider's token instead.
    """
    if not text.strip():
        raise OrderInputError(["the order is empty: expected a JSON object"])
    try:
        # JSON numbers become Decimals: `12.50` in a file is exact, and Money refuses floats.
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise OrderInputError([f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"]) from None
    except ValueError:
        # Python refuses to read an integer of thousands of digits (a denial-of-service guard).
        raise OrderInputError(["invalid JSON: a number has more digits than any order needs"]) from None
    except RecursionError:
        raise OrderInputError(["invalid JSON: nested deeper than any order needs"]) from None
    if not isinstance(data, dict):
        raise OrderInputError([f"the order must be a JSON object, got {type(data).__name__}"])
    # Refused before anything else looks at the payment, so no message can repeat the number (PCI DSS).
    card_numbers = card_numbers_in_payment(data.get("payment"))
    if card_numbers:
        raise OrderInputError([found.problem for found in card_numbers])
    try:
        order = Order.model_validate(data)
    except ValidationError as error:
        raise OrderInputError([_problem(detail) for detail in error.errors(include_url=False)]) from None
    too_large = size_problem(order)
    if too_large is not None:
        raise OrderInputError([too_large])
    return order


def _problem(detail: ErrorDetails) -> str:
    """One pydantic error as `path: message`, in the words an operator reads."""
    path = _field_path(detail["loc"])
    message = _message(detail)
    # Order-level checks already name their field (`totals.total: ...`); do not prefix them with nothing.
    return f"{path}: {message}" if path else message


def _field_path(loc: tuple[int | str, ...]) -> str:
    """`('lines', 0, 'quantity')` as `lines[0].quantity`."""
    path = ""
    previous: int | str | None = None
    for part in loc:
        # A validator that builds a nested model (the order's currency is checked by Money) repeats its field
        # name in the location; no real path of an order has the same field twice in a row.
        if part == previous:
            continue
        previous = part
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def _message(detail: ErrorDetails) -> str:
    """The error's text without pydantic's boilerplate, with the offending value where it helps."""
    kind = detail["type"]
    context: dict[str, Any] = dict(detail.get("ctx") or {})
    if kind == "value_error" and "error" in context:
        return str(context["error"])
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field of an order"
    if kind == "enum":
        return f"must be one of {context['expected']}, got {detail['input']!r}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number, got {detail['input']!r}"
    if kind == "model_type":
        return f"must be a JSON object, got {detail['input']!r}"
    return detail["msg"].replace("Input should be", "must be").replace("Value error, ", "")


async def check_catalogue(sessions: async_sessionmaker[AsyncSession], order: Order) -> None:
    """Refuse an order that names a SKU the shop does not sell, before anything is started or written."""
    unknown = set(await catalogue.unknown_skus(sessions, [line.sku for line in order.lines]))
    problems = [
        f"lines[{index}].sku: unknown SKU {line.sku!r}" for index, line in enumerate(order.lines) if line.sku in unknown
    ]
    if problems:
        raise OrderInputError(problems)


async def place_order(
    client: Client,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    order: Order,
    mode: FulfilmentMode | None = None,
    placed_by: str | None = None,
) -> str:
    """Check the order against the catalogue and start its workflow, in the name of `placed_by`; the order id.

    Raises `OrderInputError` for an order over `MAX_ORDER_BYTES` or an unknown SKU (nothing started) and
    `OrderAlreadyExists` when the channel order was placed before, running or not.
    """
    too_large = size_problem(order)
    if too_large is not None:
        raise OrderInputError([too_large])
    await check_catalogue(sessions, order)
    try:
        await client.start_workflow(
            OrderWorkflow.run,
            PlaceOrder(order=order, policy=settings.order_policy(mode), placed_by=placed_by),
            id=workflow_id(order.order_id),
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(update.key, update.value)
                    for update in search.of_order(order, OrderStatus.RECEIVED)
                    if update.value is not None
                ]
            ),
            # Summaries, details and search attributes are not covered by the payload codec: no personal data here.
            static_summary=f"{order.channel.value} order {order.external_id}: {order.total.format()}, "
            f"{order.payment.method.value}",
            static_details="\n".join(
                f"- {line.quantity} x {line.name or line.sku} ({line.sku}) at {line.unit_price.format()}"
                for line in order.lines
            ),
        )
    except WorkflowAlreadyStartedError:
        raise OrderAlreadyExists(order.order_id) from None
    return order.order_id
