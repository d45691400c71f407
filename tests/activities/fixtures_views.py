"""Orders and their views as a workflow would show them, for activity tests to vary one field at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.money import Money
from domain.order import (
    Address,
    Channel,
    Customer,
    FulfilmentMode,
    Line,
    Order,
    PaymentDetails,
    PaymentMethod,
)
from domain.status import OrderStatus
from domain.view import OrderView, PaymentState, PaymentView, ShipmentView, Totals
from workflows.order import workflow_id

PLACED_AT = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
# The sandbox's approving test card, as the shop's checkout hands it over: shown as "Visa ending 4242".
TEST_CARD = PaymentDetails(method=PaymentMethod.CARD, token="tok_visa", brand="visa", last4="4242")


def placed_order(
    *,
    external_id: str = "1001",
    currency: str = "EUR",
    lines: tuple[tuple[str, int, str, str | None], ...] = (("MUG-BLUE", 2, "12.50", "Blue mug"),),
    shipping: str | None = "4.90",
    method: PaymentMethod = PaymentMethod.CARD,
    customer_name: str = "Ada Lovelace",
    customer_email: str = "ada@example.com",
) -> Order:
    """A valid web order; `lines` are (sku, quantity, unit price, name)."""
    return Order(
        channel=Channel.WEB,
        external_id=external_id,
        customer=Customer(name=customer_name, email=customer_email),
        shipping_address=Address(
            name=customer_name, line1="12 Analytical Row", postal_code="10115", city="Berlin", country="DE"
        ),
        lines=[
            Line(sku=sku, quantity=quantity, unit_price=Money.of(price, currency), name=name)
            for sku, quantity, price, name in lines
        ],
        payment=TEST_CARD if method is PaymentMethod.CARD else PaymentDetails(method=method),
        currency=currency,
        shipping_fee=None if shipping is None else Money.of(shipping, currency),
    )


def view_of(
    order: Order,
    *,
    status: OrderStatus = OrderStatus.PAID,
    version: int = 1,
    placed_at: datetime = PLACED_AT,
    shipment: ShipmentView | None = None,
    payment_failure: str | None = None,
) -> OrderView:
    """The order's `status` view at `version`, in `status`."""
    return OrderView(
        order_id=order.order_id,
        workflow_id=workflow_id(order.order_id),
        channel=order.channel,
        external_id=order.external_id,
        status=status,
        operator_list=status.operator_list,
        mode=FulfilmentMode.AUTO,
        customer=order.customer,
        shipping_address=order.shipping_address,
        lines=order.lines,
        totals=Totals(subtotal=order.subtotal, shipping=order.shipping, total=order.total),
        payment=PaymentView(
            method=order.payment.method,
            reference=order.payment.reference,
            state=PaymentState.DECLINED if payment_failure else PaymentState.CAPTURED,
            failure=payment_failure,
        ),
        shipment=shipment,
        placed_at=placed_at,
        updated_at=placed_at + timedelta(minutes=version),
        version=version,
    )


def shipped_with(carrier: str, tracking: str) -> ShipmentView:
    """The shipment part of a view: handed to `carrier` under `tracking`."""
    return ShipmentView(carrier=carrier, tracking=tracking, shipped_at=PLACED_AT + timedelta(hours=4))
