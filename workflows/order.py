"""OrderWorkflow: one order's life from payment to the end of its refund window."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.order import Order
    from domain.policy import OrderPolicy

STATUS_QUERY = "status"


def workflow_id(order_id: str) -> str:
    """The order workflow's id: the business key, so the same channel order can never start twice."""
    return f"order-{order_id}"


class PlaceOrder(BaseModel):
    """Input of an order workflow: the validated order and the policy fixed at placement."""

    model_config = ConfigDict(frozen=True)

    order: Order
    policy: OrderPolicy
