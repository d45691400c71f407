"""The console offers the buttons that make sense for an order now, and says why the others are missing."""

from __future__ import annotations

from datetime import timedelta

from domain.actions import Action, offers, refundable
from domain.commands import Confirmation
from domain.money import Money
from domain.order import FulfilmentMode, PaymentMethod
from domain.refund import RefundKind, RefundLine, RefundState, RefundView
from domain.status import OrderStatus
from domain.view import FollowUpView, OrderView, PaymentState, TimelineEntry
from tests.activities.fixtures_views import PLACED_AT, placed_order, shipped_with, view_of

S = OrderStatus
NOW = PLACED_AT + timedelta(days=1)


def order_in(
    status: OrderStatus,
    *,
    mode: FulfilmentMode = FulfilmentMode.AUTO,
    method: PaymentMethod = PaymentMethod.CARD,
    paid: bool = True,
) -> OrderView:
    order = placed_order(method=method, lines=(("MUG-BLUE", 2, "12.50", "Blue mug"), ("TEA-GREEN", 1, "6.50", None)))
    view = view_of(order, status=status)
    view.mode = mode
    if paid:
        view.payment.captured = order.total
    else:
        view.payment.state = PaymentState.PENDING
    return view


def available(view: OrderView) -> set[Action]:
    return {offer.action for offer in offers(view, NOW) if offer.available}


def why_not(view: OrderView, action: Action) -> str | None:
    return next(offer.unavailable for offer in offers(view, NOW) if offer.action is action)


def a_refund(state: RefundState = RefundState.RUNNING, *, needs_payout: bool = False) -> RefundView:
    return RefundView(
        refund_id="refund-web-1001",
        kind=RefundKind.REFUND,
        reason="chipped",
        lines=[RefundLine(sku="MUG-BLUE", quantity=1, unit_price=Money.of("12.50", "EUR"))],
        shipping=Money.of("0", "EUR"),
        amount=Money.of("12.50", "EUR"),
        method=PaymentMethod.BANK_TRANSFER if needs_payout else PaymentMethod.CARD,
        needs_payout=needs_payout,
        requested_at=PLACED_AT,
        deadline=PLACED_AT + timedelta(days=7),
        state=state,
    )


def test_a_manual_order_being_picked_offers_picked_complete_cancel_and_refund() -> None:
    view = order_in(S.PICKING, mode=FulfilmentMode.MANUAL)
    assert available(view) == {Action.PICK, Action.COMPLETE, Action.CANCEL, Action.REFUND}


def test_a_manual_order_being_packed_offers_packed_and_ships_only_once_packing_is_confirmed() -> None:
    view = order_in(S.PACKING, mode=FulfilmentMode.MANUAL)
    view.timeline = [TimelineEntry(at=NOW, event="packing", status=S.PACKING)]
    assert Action.PACK in available(view)
    assert why_not(view, Action.SHIP) == "the parcel is shipped once packing is confirmed"
    view.timeline.append(TimelineEntry(at=NOW, event=Confirmation.PACKING.value, by="anna@shop.example"))
    assert why_not(view, Action.PACK) == "packing is already confirmed"
    assert Action.SHIP in available(view)


def test_a_confirmation_from_an_earlier_status_does_not_count() -> None:
    view = order_in(S.PICKING, mode=FulfilmentMode.MANUAL)
    view.timeline = [
        TimelineEntry(at=NOW, event="picking", status=S.PICKING),
        TimelineEntry(at=NOW, event=Confirmation.PICKING.value, rejected=True),
    ]
    assert Action.PICK in available(view)
    view.timeline.append(TimelineEntry(at=NOW, event=Confirmation.PICKING.value))
    assert why_not(view, Action.PICK) == "picking is already confirmed"
    view.timeline.append(TimelineEntry(at=NOW, event="packing", status=S.PACKING))
    view.status = S.PACKING
    assert Action.PACK in available(view)


def test_warehouse_steps_of_an_auto_order_are_left_to_the_warehouse_system() -> None:
    view = order_in(S.PICKING)
    assert why_not(view, Action.PICK) == "auto mode: the warehouse system confirms this step"
    assert Action.PACK not in available(view)


def test_a_bank_transfer_awaiting_payment_offers_payment_received_and_cancel_but_no_refund() -> None:
    view = order_in(S.AWAITING_PAYMENT, method=PaymentMethod.BANK_TRANSFER, paid=False)
    assert available(view) == {Action.PAY, Action.CANCEL}
    assert why_not(view, Action.REFUND) == "nothing has been paid; cancel the order instead"


def test_a_shipped_order_can_be_delivered_completed_or_refunded_but_not_cancelled() -> None:
    view = order_in(S.SHIPPED)
    view.shipment = shipped_with("DHL", "00340434161094042557")
    assert available(view) == {Action.DELIVER, Action.COMPLETE, Action.REFUND}
    assert why_not(view, Action.CANCEL) == "the order has shipped; refund it instead"


def test_a_completed_order_takes_feedback_once_and_refunds_until_its_window_closes() -> None:
    view = order_in(S.COMPLETED)
    view.follow_up = FollowUpView(closes_at=NOW + timedelta(days=30))
    assert available(view) == {Action.FEEDBACK, Action.REFUND}
    view.follow_up = FollowUpView(closes_at=NOW - timedelta(seconds=1), feedback_rating=5)
    assert why_not(view, Action.REFUND) == "the refund window has closed"
    assert why_not(view, Action.FEEDBACK) == "feedback was already given"


def test_a_card_order_just_received_cannot_be_cancelled_while_its_payment_is_taken() -> None:
    view = order_in(S.RECEIVED, paid=False)
    assert why_not(view, Action.CANCEL) == "the payment is being taken right now"


def test_nothing_is_offered_while_a_refund_runs_except_its_payout() -> None:
    view = order_in(S.REFUNDING, method=PaymentMethod.BANK_TRANSFER)
    view.refunds = [a_refund(needs_payout=True)]
    assert available(view) == {Action.REFUND_PAID_OUT}
    assert why_not(view, Action.COMPLETE) == "refund refund-web-1001 is under way"


def test_a_paid_out_refund_offers_no_second_payout() -> None:
    view = order_in(S.REFUNDING, method=PaymentMethod.BANK_TRANSFER)
    refund = a_refund(needs_payout=True)
    refund.paid_at = NOW
    view.refunds = [refund]
    assert why_not(view, Action.REFUND_PAID_OUT) == "no refund is waiting for a payout by hand"


def test_a_final_order_offers_nothing() -> None:
    for status in (S.REFUNDED, S.CANCELLED, S.PAYMENT_FAILED):
        assert available(order_in(status)) == set()
        assert why_not(order_in(status), Action.REFUND) == f"the order is {status.value}"


def test_the_refund_dialog_offers_only_the_units_not_refunded_yet() -> None:
    view = order_in(S.COMPLETED)
    view.refunds = [a_refund(RefundState.FINISHED)]
    assert [(item.sku, item.quantity) for item in refundable(view)] == [("MUG-BLUE", 1), ("TEA-GREEN", 1)]


def test_an_order_refunded_line_by_line_has_nothing_left_to_refund() -> None:
    view = order_in(S.COMPLETED)
    finished = a_refund(RefundState.FINISHED)
    finished.lines = [
        RefundLine(sku="MUG-BLUE", quantity=2, unit_price=Money.of("12.50", "EUR")),
        RefundLine(sku="TEA-GREEN", quantity=1, unit_price=Money.of("6.50", "EUR")),
    ]
    view.refunds = [finished]
    assert why_not(view, Action.REFUND) == "everything has been refunded"


def test_every_button_sends_the_update_of_its_command() -> None:
    assert {action.command.value for action in Action} == {
        "payment_received",
        "picked",
        "packed",
        "shipped",
        "delivery_event",
        "complete",
        "feedback",
        "cancel",
        "refund",
        "refund_paid_out",
    }
