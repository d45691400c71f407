"""`oms report`'s figures for a hand-worked week of a small shop (see report_dataset.py for every order)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.money import Money
from domain.report import Report
from store import orders
from store.reports import build_report
from tests.store import report_dataset as week


@pytest.fixture
async def report(sessions: async_sessionmaker[AsyncSession]) -> Report:
    """The report of the week as of 20 November."""
    await week.write_dataset(sessions)
    return await build(sessions)


async def build(sessions: async_sessionmaker[AsyncSession]) -> Report:
    return await build_report(
        sessions,
        period=week.WEEK,
        rates=week.RATES,
        low_units=week.LOW_UNITS,
        overstock_units=week.OVERSTOCK_UNITS,
        now=week.NOW,
    )


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def test_orders_placed_in_the_week_are_counted_per_list_and_status(report: Report) -> None:
    # web-0999 was placed before the week.
    assert report.orders.total == 10
    assert report.orders.per_list == {"pending": 4, "completed": 3, "cancelled": 3}
    assert {status: count for status, count in report.orders.per_status.items() if count} == {
        "awaiting_payment": 1,
        "paid": 2,
        "shipped": 1,
        "completed": 3,
        "refunded": 1,
        "cancelled": 1,
        "payment_failed": 1,
    }


def test_revenue_per_currency_counts_sales_less_refunds_and_converts_with_the_configured_rates(report: Report) -> None:
    revenue = {figure.currency: figure for figure in report.revenue.per_currency}

    eur_sales = revenue["EUR"]
    # Sold: 34.70 + 28.90 + 28.50 + 12.00 (the failed card and the cancelled order are not sales).
    assert (eur_sales.orders, eur_sales.gross, eur_sales.refunded, eur_sales.net) == (
        6,
        eur("104.10"),
        eur("38.40"),
        eur("65.70"),
    )
    assert (revenue["JPY"].net, revenue["JPY"].rate, revenue["JPY"].net_in_base) == (
        Money.of("3760", "JPY"),
        Decimal("0.0061"),
        eur("22.94"),  # 3,760 x 0.0061 = 22.936
    )
    assert (revenue["KWD"].net, revenue["KWD"].net_in_base) == (Money.of("6.800", "KWD"), eur("20.26"))  # 20.264
    assert revenue["USD"].net_in_base == eur("23.00")
    assert (report.revenue.gross_in_base, report.revenue.refunded_in_base, report.revenue.net_in_base) == (
        eur("170.30"),
        eur("38.40"),
        eur("131.90"),
    )


def test_a_currency_without_a_rate_is_named_and_left_out_of_the_base_totals(report: Report) -> None:
    gbp = next(figure for figure in report.revenue.per_currency if figure.currency == "GBP")

    assert (gbp.net, gbp.rate, gbp.net_in_base) == (Money.of("10.00", "GBP"), None, None)
    assert report.revenue.missing_rates == ["GBP"]


def test_sales_per_channel_add_up_to_the_net_revenue(report: Report) -> None:
    channels = {row.name: (row.orders, row.net_in_base) for row in report.channels}

    assert channels == {
        "marketplace": (1, eur("19.00")),
        "phone": (1, eur("12.00")),
        "pos": (1, eur("0.00")),
        "web": (7, eur("100.90")),
    }
    web = next(row for row in report.channels if row.name == "web")
    assert [amount.format() for amount in web.net] == ["34.70 EUR", "10.00 GBP", "3,760 JPY", "6.800 KWD", "25.00 USD"]


def test_sales_per_payment_method_add_up_to_the_net_revenue(report: Report) -> None:
    methods = {row.name: (row.orders, row.net_in_base) for row in report.payment_methods}

    assert methods == {
        "bank_transfer": (1, eur("12.00")),
        "card": (6, eur("100.90")),
        "cash_on_delivery": (1, eur("0.00")),
        "paypal": (2, eur("19.00")),
    }


def test_time_per_step_counts_the_stays_that_ended_in_the_week(report: Report) -> None:
    picking = next(step.durations for step in report.steps if step.step == "picking")

    assert (picking.count, picking.mean, picking.p50, picking.p95, picking.p99) == (5, 1320, 900, 3600, 3600)
    placed_to_completed = report.placed_to_completed
    assert (placed_to_completed.count, placed_to_completed.p50, placed_to_completed.p95) == (3, 86_400, 176_402)
    assert placed_to_completed.mean == pytest.approx((10_800 + 86_400 + 176_402) / 3)


def test_refunds_requested_in_the_week_and_how_the_sla_held(report: Report) -> None:
    refunds = report.refunds

    assert (refunds.requested, refunds.refunds, refunds.cancellations) == (4, 3, 1)
    assert (refunds.amount, refunds.amount_in_base) == ([eur("138.40")], eur("138.40"))
    assert (refunds.finished, refunds.within_sla, refunds.late) == (3, 2, 1)
    assert refunds.sla_compliance_percent == Decimal("66.7")
    assert (refunds.open, refunds.overdue) == (1, 1)


def test_satisfaction_averages_the_answers_given_in_the_week(report: Report) -> None:
    assert report.satisfaction.responses == 2
    assert report.satisfaction.average == Decimal("4.50")
    assert report.satisfaction.ratings == {1: 0, 2: 0, 3: 0, 4: 1, 5: 1}


def test_sold_out_low_and_overstocked_skus_use_the_configured_thresholds(report: Report) -> None:
    stock = report.stock

    assert [(item.sku, item.available) for item in stock.sold_out] == [("MUG-ENAMEL", 0)]
    assert [(item.sku, item.available) for item in stock.low] == [("TEA-GREEN", 3)]
    assert [(item.sku, item.available) for item in stock.overstocked] == [("COFFEE-250G", 250)]


async def test_the_figures_move_when_an_order_moves_on(
    report: Report, sessions: async_sessionmaker[AsyncSession]
) -> None:
    shipped = next(view for view in week.VIEWS if view.order_id == "web-KW1")
    delivered = shipped.model_copy(
        update={
            "status": week.S.DELIVERED,
            "version": shipped.version + 1,
            "timeline": [
                *shipped.timeline,
                shipped.timeline[-1].model_copy(update={"at": week.at(6, 11), "status": week.S.DELIVERED}),
            ],
        }
    )
    await orders.project(sessions, delivered)
    again = await build(sessions)

    assert report.orders.per_status["shipped"] == 1
    assert (again.orders.per_status["shipped"], again.orders.per_status["delivered"]) == (0, 1)
    shipped_stays = next(step.durations for step in again.steps if step.step == "shipped")
    assert shipped_stays.count == next(step.durations for step in report.steps if step.step == "shipped").count + 1


async def test_an_empty_shop_reports_zeros_not_errors(sessions: async_sessionmaker[AsyncSession]) -> None:
    empty = await build(sessions)

    assert empty.orders.total == 0
    assert empty.revenue.net_in_base == eur("0.00")
    assert empty.refunds.sla_compliance_percent is None
    assert empty.satisfaction.average is None
    assert empty.placed_to_completed.p95 is None
