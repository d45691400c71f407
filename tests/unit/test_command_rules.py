"""Each operator command's refusal rule, reply and input decoding, read from `COMMANDS` with no Temporal at all."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from domain.commands import (
    COMMANDS,
    Command,
    Complete,
    DeliveryEvent,
    Feedback,
    MalformedCommand,
    OrderSituation,
    Packed,
    PaymentReceived,
    Picked,
    Shipped,
    StockArrived,
    readable,
    unknown_signal,
)
from domain.money import Money
from domain.order import FulfilmentMode, PaymentMethod
from domain.policy import OrderPolicy
from domain.refund import (
    Cancel,
    Refund,
    RefundItem,
    RefundKind,
    RefundPaidOut,
    RefundState,
    RefundView,
)
from domain.status import OrderStatus
from domain.view import OrderView, PaymentState
from tests.activities.fixtures_views import PLACED_AT, placed_order, shipped_with, view_of
from tests.unit.test_actions import a_refund as refund_of_a_mug

S = OrderStatus
C = Command
NOW = PLACED_AT + timedelta(days=1)
POLICY = OrderPolicy()


def order_in(
    status: OrderStatus,
    *,
    mode: FulfilmentMode = FulfilmentMode.MANUAL,
    method: PaymentMethod = PaymentMethod.CARD,
    paid: bool = True,
    given: frozenset[Command] = frozenset(),
    completed: bool = False,
    feedback_closed: bool = False,
    ending: RefundView | None = None,
    now: timedelta = timedelta(0),
) -> OrderSituation:
    """An order of two blue mugs and one green tea in `status`, seen at `NOW` (+ `now`)."""
    order = placed_order(method=method, lines=(("MUG-BLUE", 2, "12.50", "Blue mug"), ("TEA-GREEN", 1, "6.50", None)))
    view: OrderView = view_of(order, status=status)
    view.mode = mode
    if paid:
        view.payment.captured = order.total
    else:
        view.payment.state = PaymentState.PENDING
    return OrderSituation(
        view=view,
        policy=POLICY,
        now=NOW + now,
        given=given,
        completed=completed,
        feedback_closed=feedback_closed,
        ending=ending,
    )


def a_refund(
    kind: RefundKind = RefundKind.REFUND, *, state: RefundState = RefundState.RUNNING, needs_payout: bool = False
) -> RefundView:
    """The console tests' refund of one blue mug, of `kind`."""
    return refund_of_a_mug(state, needs_payout=needs_payout).model_copy(update={"kind": kind})


def completed_order(
    *, refunds: list[RefundView] | None = None, after_delivery: timedelta = timedelta(days=1)
) -> OrderSituation:
    """A completed order delivered `after_delivery` before now."""
    order = order_in(S.COMPLETED, completed=True)
    order.view.shipment = shipped_with("DHL", "JJD1")
    order.view.shipment.delivered_at = order.now - after_delivery
    order.view.refunds = refunds or []
    return order


def refusal(command: Command, order: OrderSituation, payload: object | None = None) -> str | None:
    rule = COMMANDS[command]
    return rule.refusal(order, payload if payload is not None else rule.read(None))


SHIPPED = Shipped(carrier="DHL", tracking="JJD1")
WHOLE = Refund(reason="arrived broken")
ONE_MUG = Refund(reason="chipped", lines=[RefundItem(sku="MUG-BLUE", quantity=1)])
CANCEL = Cancel(reason="customer asked")
# A well-formed payload of each command.
VALID: dict[Command, object] = {
    C.PAYMENT_RECEIVED: PaymentReceived(),
    C.PICKED: Picked(),
    C.PACKED: Packed(),
    C.SHIPPED: SHIPPED,
    C.COMPLETE: Complete(),
    C.FEEDBACK: Feedback(rating=5),
    C.DELIVERY_EVENT: DeliveryEvent(event="delivered"),
    C.STOCK_ARRIVED: StockArrived(),
    C.REFUND: WHOLE,
    C.CANCEL: CANCEL,
    C.REFUND_PAID_OUT: RefundPaidOut(),
}


# --- every command is in the table, and an order in the right state takes it -------------------------------------


def test_every_command_has_one_rule_in_the_table() -> None:
    assert set(COMMANDS) == set(Command)


@pytest.mark.parametrize(
    ("command", "order", "payload"),
    [
        (C.PAYMENT_RECEIVED, order_in(S.AWAITING_PAYMENT, paid=False), PaymentReceived(reference="SEPA-1")),
        (C.PICKED, order_in(S.PICKING), Picked()),
        (C.PACKED, order_in(S.PACKING), Packed()),
        (C.SHIPPED, order_in(S.PACKING, given=frozenset({C.PACKED})), SHIPPED),
        (C.COMPLETE, order_in(S.SHIPPED), Complete()),
        (C.FEEDBACK, order_in(S.COMPLETED, completed=True), Feedback(rating=5)),
        (C.DELIVERY_EVENT, order_in(S.SHIPPED), DeliveryEvent(event="in_transit")),
        (C.STOCK_ARRIVED, order_in(S.BACKORDERED), StockArrived(sku="MUG-BLUE")),
        (C.REFUND, order_in(S.PAID), WHOLE),
        (C.CANCEL, order_in(S.PAID), CANCEL),
        (C.REFUND_PAID_OUT, replace(order_in(S.REFUNDING), ending=a_refund(needs_payout=True)), RefundPaidOut()),
    ],
    ids=lambda value: value.value if isinstance(value, Command) else "",
)
def test_a_command_given_at_the_right_time_is_taken(command: Command, order: OrderSituation, payload: object) -> None:
    order.view.refunds = [order.ending] if order.ending else []
    assert refusal(command, order, payload) is None


# --- the refund or cancellation that ends the order -----------------------------------------------------------


@pytest.mark.parametrize("command", [command for command in Command if command is not C.REFUND_PAID_OUT])
def test_once_a_refund_ends_the_order_no_other_command_is_taken(command: Command) -> None:
    order = order_in(S.PICKING, ending=a_refund())

    assert (
        refusal(command, order, VALID[command])
        == "the order is being refunded (refund-web-1001); nothing else can change it"
    )


def test_once_a_cancellation_ends_the_order_it_says_cancelled() -> None:
    order = order_in(S.PICKING, ending=a_refund(RefundKind.CANCELLATION))

    assert refusal(C.PICKED, order) == "the order is being cancelled (refund-web-1001); nothing else can change it"


# --- payment, picking, packing, shipping, completion ------------------------------------------------------------


def test_payment_received_is_refused_unless_payment_is_awaited() -> None:
    assert refusal(C.PAYMENT_RECEIVED, order_in(S.PAID)) == (
        "the order is paid; payment is only awaited for bank transfer and invoice orders"
    )


def test_payment_received_twice_is_refused() -> None:
    order = order_in(S.AWAITING_PAYMENT, paid=False, given=frozenset({C.PAYMENT_RECEIVED}))

    assert refusal(C.PAYMENT_RECEIVED, order) == "payment is already confirmed"


@pytest.mark.parametrize("command", [C.PICKED, C.PACKED, C.SHIPPED])
def test_warehouse_steps_of_an_auto_order_are_refused(command: Command) -> None:
    order = order_in(S.PICKING, mode=FulfilmentMode.AUTO)

    reason = refusal(command, order, SHIPPED if command is C.SHIPPED else None)

    assert reason == "the order is in auto mode; the warehouse system confirms this step itself"


@pytest.mark.parametrize(("command", "step"), [(C.PICKED, "picking"), (C.PACKED, "packing")])
def test_a_warehouse_step_is_refused_outside_its_own_status(command: Command, step: str) -> None:
    assert (
        refusal(command, order_in(S.SHIPPED))
        == f"the order is shipped; {step} can be confirmed only while it is {step}"
    )


@pytest.mark.parametrize(
    ("command", "status", "step"), [(C.PICKED, S.PICKING, "picking"), (C.PACKED, S.PACKING, "packing")]
)
def test_a_warehouse_step_confirmed_twice_is_refused(command: Command, status: OrderStatus, step: str) -> None:
    assert refusal(command, order_in(status, given=frozenset({command}))) == f"{step} is already confirmed"


def test_shipping_before_packing_is_confirmed_is_refused() -> None:
    assert refusal(C.SHIPPED, order_in(S.PACKING), SHIPPED) == (
        "the order is packing; it can be shipped only once packing is confirmed"
    )


def test_shipping_twice_is_refused() -> None:
    order = order_in(S.PACKING, given=frozenset({C.PACKED, C.SHIPPED}))

    assert refusal(C.SHIPPED, order, SHIPPED) == "shipping is already confirmed"


@pytest.mark.parametrize("status", [S.PAID, S.BACKORDERED, S.COMPLETED])
def test_completing_by_hand_is_refused_outside_fulfilment(status: OrderStatus) -> None:
    assert refusal(C.COMPLETE, order_in(status)) == (
        f"the order is {status.value}; only an order in fulfilment can be completed by hand"
    )


def test_completing_twice_is_refused() -> None:
    assert refusal(C.COMPLETE, order_in(S.SHIPPED, given=frozenset({C.COMPLETE}))) == "completion is already under way"


# --- feedback, carrier events, stock ---------------------------------------------------------------------------


def test_feedback_before_completion_is_refused() -> None:
    assert refusal(C.FEEDBACK, order_in(S.SHIPPED), Feedback(rating=4)) == (
        "the order is shipped; feedback is taken once it is completed"
    )


def test_feedback_after_the_survey_closed_is_refused() -> None:
    order = order_in(S.COMPLETED, completed=True, feedback_closed=True)

    assert refusal(C.FEEDBACK, order, Feedback(rating=4)) == (
        "the satisfaction survey has closed; feedback is no longer taken"
    )


def test_feedback_twice_is_refused() -> None:
    order = order_in(S.COMPLETED, completed=True, given=frozenset({C.FEEDBACK}))

    assert refusal(C.FEEDBACK, order, Feedback(rating=4)) == "feedback was already given"


def test_a_carrier_event_is_refused_unless_the_order_is_shipped() -> None:
    assert refusal(C.DELIVERY_EVENT, order_in(S.PACKING), DeliveryEvent(event="delivered")) == (
        "the order is packing; carrier events are taken while it is shipped"
    )


def test_stock_arrived_is_refused_unless_the_order_is_backordered() -> None:
    assert refusal(C.STOCK_ARRIVED, order_in(S.PICKING)) == "the order is picking, not backordered"


# --- refunds ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [S.REFUNDED, S.CANCELLED, S.PAYMENT_FAILED])
def test_a_refund_of_a_final_order_is_refused(status: OrderStatus) -> None:
    assert refusal(C.REFUND, order_in(status), WHOLE) == f"the order is {status.value}; there is nothing left to refund"


def test_a_refund_while_another_runs_is_refused() -> None:
    order = completed_order(refunds=[a_refund()])

    assert refusal(C.REFUND, order, ONE_MUG) == "refund refund-web-1001 is still under way; wait until it has finished"


def test_a_refund_of_an_unpaid_order_is_refused() -> None:
    order = order_in(S.AWAITING_PAYMENT, paid=False)

    assert refusal(C.REFUND, order, WHOLE) == (
        "nothing has been paid for the order yet (it is awaiting_payment); cancel it instead"
    )


def test_a_refund_while_completion_is_under_way_is_refused() -> None:
    order = order_in(S.SHIPPED, given=frozenset({C.COMPLETE}))

    assert refusal(C.REFUND, order, WHOLE) == "completion is under way; refund the order once it is completed"


def test_a_refund_after_the_window_closed_is_refused() -> None:
    order = completed_order(after_delivery=POLICY.refund_window + timedelta(minutes=1))

    reason = refusal(C.REFUND, order, ONE_MUG)

    assert reason is not None
    assert reason.startswith("the refund window closed on ")
    assert reason.endswith(", 30 days after delivery")


def test_a_refund_the_day_the_window_closes_is_still_taken() -> None:
    assert refusal(C.REFUND, completed_order(after_delivery=POLICY.refund_window), ONE_MUG) is None


def test_a_refund_of_more_than_is_left_is_refused_with_the_plans_reason() -> None:
    three_mugs = Refund(reason="x", lines=[RefundItem(sku="MUG-BLUE", quantity=3)])

    assert refusal(C.REFUND, completed_order(), three_mugs) == (
        "only 2 of SKU MUG-BLUE can still be refunded (2 ordered, 0 already refunded)"
    )


def test_a_refund_of_a_sku_not_on_the_order_is_refused() -> None:
    lamp = Refund(reason="x", lines=[RefundItem(sku="LAMP", quantity=1)])

    assert refusal(C.REFUND, completed_order(), lamp) == "SKU LAMP is not on the order (it has: MUG-BLUE, TEA-GREEN)"


def test_a_partial_refund_before_completion_is_refused() -> None:
    assert refusal(C.REFUND, order_in(S.SHIPPED), ONE_MUG) == (
        "the order is shipped; a partial refund is taken once it is completed "
        "(before that, refund the whole order or cancel it)"
    )


def test_no_restock_for_goods_that_never_left_the_warehouse_is_refused() -> None:
    keep = Refund(reason="x", no_restock=["MUG-BLUE"])

    assert refusal(C.REFUND, order_in(S.PICKING), keep) == (
        "--no-restock: the goods never left the warehouse; their reservation is simply released"
    )


# --- cancellation and payouts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [S.SHIPPED, S.DELIVERED, S.COMPLETED, S.REFUNDING])
def test_cancelling_a_shipped_order_is_refused(status: OrderStatus) -> None:
    assert refusal(C.CANCEL, order_in(status), CANCEL) == (
        f"the order is {status.value}; it has shipped, so refund it instead of cancelling"
    )


def test_cancelling_a_final_order_is_refused() -> None:
    assert refusal(C.CANCEL, order_in(S.CANCELLED), CANCEL) == (
        "the order is cancelled, a final status; there is nothing to cancel"
    )


def test_cancelling_while_the_card_is_charged_is_refused() -> None:
    assert refusal(C.CANCEL, order_in(S.RECEIVED, paid=False), CANCEL) == (
        "the payment is being taken right now; cancel once the order is paid or its payment has failed"
    )


def test_cancelling_while_a_confirmed_payment_is_booked_is_refused() -> None:
    order = order_in(
        S.AWAITING_PAYMENT, method=PaymentMethod.BANK_TRANSFER, paid=False, given=frozenset({C.PAYMENT_RECEIVED})
    )

    assert refusal(C.CANCEL, order, CANCEL) == (
        "the payment was just confirmed and is being booked; try again in a moment"
    )


def test_cancelling_while_completion_is_under_way_is_refused() -> None:
    order = order_in(S.PICKING, given=frozenset({C.COMPLETE}))

    assert refusal(C.CANCEL, order, CANCEL) == "completion is under way; refund the order once it is completed"


def test_a_payout_with_no_refund_waiting_for_one_is_refused() -> None:
    order = completed_order(refunds=[a_refund()])

    assert refusal(C.REFUND_PAID_OUT, order) == "no refund of this order is waiting for a payout by hand"


def test_a_second_payout_is_refused() -> None:
    order = completed_order(refunds=[a_refund(needs_payout=True)])

    assert refusal(C.REFUND_PAID_OUT, replace(order, given=frozenset({C.REFUND_PAID_OUT}))) == (
        "the payout is already recorded"
    )


# --- replies ---------------------------------------------------------------------------------------------------


def test_a_refund_replies_with_its_amount_and_deadline_in_shop_time() -> None:
    order = completed_order(refunds=[a_refund()])

    assert COMMANDS[C.REFUND].reply(order, ONE_MUG) == (
        "refund refund-web-1001 accepted: 12.50 EUR back to the customer by Mon 10 Mar 2025 10:30 CET"
    )


def test_a_cancellation_with_nothing_paid_says_nothing_goes_back() -> None:
    nothing = a_refund(RefundKind.CANCELLATION).model_copy(update={"amount": Money.zero("EUR")})
    order = order_in(S.AWAITING_PAYMENT, paid=False)
    order.view.refunds = [nothing]

    assert COMMANDS[C.CANCEL].reply(order, CANCEL) == (
        "cancellation refund-web-1001 accepted; nothing was paid, so nothing goes back"
    )


@pytest.mark.parametrize(
    ("event", "reply"), [("delivered", "delivery recorded"), ("in_transit", "carrier event in_transit recorded")]
)
def test_a_carrier_event_replies_with_what_was_recorded(event: str, reply: str) -> None:
    assert COMMANDS[C.DELIVERY_EVENT].reply(order_in(S.SHIPPED), DeliveryEvent(event=event)) == reply


# --- reading a command's input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [None, b"", b"null", b"  null ", b"{}"])
def test_no_input_or_null_is_a_command_with_every_field_left_out(data: bytes | None) -> None:
    assert COMMANDS[C.PICKED].read(data) == Picked()


@pytest.mark.parametrize(
    ("command", "data", "problem"),
    [
        (C.REFUND, b'{"reason": "x", "lines": "x"}', "lines: Input should be a valid array"),
        (C.PICKED, b'"garbage"', "input: Input should be an object"),
        (C.PICKED, b"garbage", "input: Invalid JSON: expected value at line 1 column 1"),
        (C.FEEDBACK, b'{"rating": 99}', "rating: Input should be less than or equal to 5"),
        (C.SHIPPED, b"null", "carrier: Field required"),
        (C.SHIPPED, b'{"carrier": "DHL", "tracking": "a\\r\\nb"}', "tracking: must not contain control characters"),
        (C.FEEDBACK, b'{"rating": 4, "by": "\\u0000"}', "by: "),
        (C.PICKED, b"\xff\xfe", "input: Invalid JSON"),
    ],
)
def test_a_malformed_input_is_refused_naming_the_field(command: Command, data: bytes, problem: str) -> None:
    with pytest.raises(MalformedCommand) as malformed:
        COMMANDS[command].read(data)

    assert str(malformed.value).startswith(problem)


def test_a_refusal_reason_is_one_printable_line_of_bounded_length() -> None:
    reason = readable("line\nbreak\x00" + "x" * 1000)

    assert reason.startswith("line?break?x")
    assert reason.isprintable()
    assert len(reason) == 300


def test_an_unknown_signal_is_named_safely_and_the_commands_listed() -> None:
    reason = unknown_signal("refnud\r\n" + "y" * 100)

    assert reason.startswith("no command is called 'refnud??yyy")
    assert reason.isprintable()
    assert reason.endswith(
        "an order takes payment_received, picked, packed, shipped, complete, feedback, "
        "delivery_event, stock_arrived, refund, cancel, refund_paid_out"
    )
