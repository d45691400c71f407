"""What a refund gives back: lines, shipping once, and refusals for asking more than is left."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain.money import Money
from domain.order import Line, PaymentMethod
from domain.refund import Refund, RefundItem, RefundKind, RefundRefused, RefundView, plan_refund

MUGS = Line(sku="MUG-ENAMEL", quantity=2, unit_price=Money.of("14.90", "EUR"), name="Mug")
NOTEBOOK = Line(sku="NOTEBOOK-A5", quantity=1, unit_price=Money.of("9.50", "EUR"))
SHIPPING = Money.of("4.90", "EUR")
AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def earlier(plan_lines: list[tuple[str, int]]) -> RefundView:
    """A refund that already gave these units back."""
    plan = plan_refund(
        [MUGS, NOTEBOOK],
        SHIPPING,
        [],
        Refund(reason="earlier", lines=[RefundItem(sku=sku, quantity=quantity) for sku, quantity in plan_lines]),
    )
    return RefundView(
        refund_id="refund-web-1",
        kind=RefundKind.REFUND,
        reason="earlier",
        lines=plan.lines,
        shipping=plan.shipping,
        amount=plan.amount,
        method=PaymentMethod.CARD,
        needs_payout=False,
        requested_at=AT,
        deadline=AT,
    )


def test_a_full_refund_gives_back_every_line_and_the_shipping() -> None:
    plan = plan_refund([MUGS, NOTEBOOK], SHIPPING, [], Refund(reason="broken"))

    assert plan.covers_everything
    assert plan.amount == Money.of("44.20", "EUR")  # 2 x 14.90 + 9.50 + 4.90
    assert [(line.sku, line.quantity) for line in plan.lines] == [("MUG-ENAMEL", 2), ("NOTEBOOK-A5", 1)]


def test_a_partial_refund_gives_back_only_its_units_and_keeps_the_shipping() -> None:
    plan = plan_refund(
        [MUGS, NOTEBOOK], SHIPPING, [], Refund(reason="chipped", lines=[RefundItem(sku="mug-enamel", quantity=1)])
    )

    assert not plan.covers_everything
    assert plan.amount == Money.of("14.90", "EUR")
    assert plan.shipping.amount == Decimal("0.00")


def test_the_rest_after_a_partial_refund_includes_the_shipping() -> None:
    plan = plan_refund([MUGS, NOTEBOOK], SHIPPING, [earlier([("MUG-ENAMEL", 1)])], Refund(reason="rest"))

    assert plan.covers_everything
    assert plan.amount == Money.of("29.30", "EUR")  # 14.90 + 9.50 + 4.90


def test_refunding_more_units_than_are_left_is_refused_with_the_counts() -> None:
    with pytest.raises(RefundRefused, match=r"only 1 of SKU MUG-ENAMEL can still be refunded \(2 ordered, 1 already"):
        plan_refund(
            [MUGS, NOTEBOOK],
            SHIPPING,
            [earlier([("MUG-ENAMEL", 1)])],
            Refund(reason="x", lines=[RefundItem(sku="MUG-ENAMEL", quantity=2)]),
        )


def test_a_sku_that_is_not_on_the_order_is_refused() -> None:
    with pytest.raises(RefundRefused, match="SKU TOTE-CANVAS is not on the order"):
        plan_refund([MUGS], SHIPPING, [], Refund(reason="x", lines=[RefundItem(sku="TOTE-CANVAS", quantity=1)]))


def test_nothing_is_left_after_everything_was_refunded() -> None:
    everything = earlier([("MUG-ENAMEL", 2), ("NOTEBOOK-A5", 1)])

    with pytest.raises(RefundRefused, match="already been refunded"):
        plan_refund([MUGS, NOTEBOOK], SHIPPING, [everything], Refund(reason="again"))


def test_damaged_skus_are_not_restocked_and_must_be_among_the_refunded_lines() -> None:
    plan = plan_refund([MUGS, NOTEBOOK], SHIPPING, [], Refund(reason="broken", no_restock=["mug-enamel"]))
    assert {line.sku: line.restock for line in plan.lines} == {"MUG-ENAMEL": False, "NOTEBOOK-A5": True}

    with pytest.raises(RefundRefused, match="--no-restock NOTEBOOK-A5: not among the refunded lines"):
        plan_refund(
            [MUGS, NOTEBOOK],
            SHIPPING,
            [],
            Refund(reason="x", lines=[RefundItem(sku="MUG-ENAMEL", quantity=1)], no_restock=["NOTEBOOK-A5"]),
        )


def test_a_refund_request_names_its_bad_fields() -> None:
    with pytest.raises(ValidationError, match="reason"):
        Refund(reason="  ")
    with pytest.raises(ValidationError, match="appears more than once"):
        Refund(reason="x", lines=[RefundItem(sku="A", quantity=1), RefundItem(sku="a", quantity=1)])
    with pytest.raises(ValidationError, match="quantity"):
        RefundItem(sku="A", quantity=0)
