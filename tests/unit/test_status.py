"""The transitions table decides every status change and explains a refusal."""

import itertools

from domain.status import OperatorList, OrderStatus, refusal


def test_the_happy_path_is_allowed_step_by_step() -> None:
    path = ["received", "paid", "picking", "packing", "shipped", "delivered", "completed"]
    for current, wanted in itertools.pairwise(path):
        assert refusal(OrderStatus(current), OrderStatus(wanted)) is None


def test_packing_before_picking_is_refused_with_the_allowed_next_steps() -> None:
    reason = refusal(OrderStatus.PAID, OrderStatus.PACKING)
    assert reason is not None
    assert "cannot become packing" in reason
    assert "picking" in reason


def test_final_statuses_never_change() -> None:
    for final in (OrderStatus.REFUNDED, OrderStatus.CANCELLED, OrderStatus.PAYMENT_FAILED):
        assert final.is_final
        assert "final status" in (refusal(final, OrderStatus.PAID) or "")


def test_every_status_belongs_to_one_operator_list() -> None:
    assert OrderStatus.COMPLETED.operator_list is OperatorList.COMPLETED
    assert OrderStatus.REFUNDED.operator_list is OperatorList.CANCELLED
    assert OrderStatus.PAYMENT_FAILED.operator_list is OperatorList.CANCELLED
    assert OrderStatus.BACKORDERED.operator_list is OperatorList.PENDING
    assert OrderStatus.REFUNDING.operator_list is OperatorList.PENDING
