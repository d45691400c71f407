"""The console's home page figures, on the hand-worked week of report_dataset.py, seen on Saturday 7 November."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.money import Money
from domain.order import Channel, FulfilmentMode, PaymentMethod
from domain.status import OrderStatus
from store import orders
from store.glance import Glance, glance, recent_period
from store.reports import build_report
from tests.store import report_dataset as week

BERLIN = ZoneInfo("Europe/Berlin")
# Saturday 7 November, 13:00 in Berlin: after the week's last order (web-GB1, placed at 11:00 Berlin that day).
SATURDAY = datetime(2026, 11, 7, 12, 0, tzinfo=UTC)


async def look(sessions: async_sessionmaker[AsyncSession], now: datetime = SATURDAY) -> Glance:
    return await glance(
        sessions,
        now=now,
        zone=BERLIN,
        rates=week.RATES,
        low_units=week.LOW_UNITS,
        overstock_units=week.OVERSTOCK_UNITS,
    )


@pytest.fixture
async def shop(sessions: async_sessionmaker[AsyncSession]) -> Glance:
    await week.write_dataset(sessions)
    return await look(sessions)


def test_the_three_lists_count_every_order(shop: Glance) -> None:
    # Pending: web-KW1 shipped, phone-P1 awaiting payment, web-US1 and web-GB1 paid.
    # Completed: web-1001, marketplace-M1, web-JP1, web-0999. Cancelled: web-1002, web-1003, pos-C1.
    assert shop.per_list == {"pending": 4, "completed": 4, "cancelled": 3}


def test_today_is_since_midnight_in_the_shops_time_zone(shop: Glance) -> None:
    today = shop.recent[0]
    assert today.label == "Today"
    assert today.period.since == datetime(2026, 11, 7, 0, 0, tzinfo=BERLIN)
    # Only web-GB1, in GBP, for which the shop has no rate: counted as an order, left out of the base total.
    assert (today.orders, today.net_in_base, today.missing_rates) == (1, Money.of("0.00", "EUR"), ["GBP"])


def test_last_seven_days_are_the_hand_worked_week(shop: Glance) -> None:
    last_week = shop.recent[1]
    assert last_week.label == "Last 7 days"
    assert last_week.period.since == datetime(2026, 11, 1, 0, 0, tzinfo=BERLIN)
    # The week's ten orders; net 131.90 EUR as test_report works it out.
    assert (last_week.orders, last_week.net_in_base) == (10, Money.of("131.90", "EUR"))


def test_last_thirty_days_add_an_order_refunded_in_full(shop: Glance) -> None:
    # web-0999 (100.00 EUR, 30 October) was refunded in full: one more order, the same net.
    month = shop.recent[2]
    assert (month.orders, month.net_in_base) == (11, Money.of("131.90", "EUR"))


async def test_recent_sales_are_the_figures_oms_report_gives_for_the_same_period(
    sessions: async_sessionmaker[AsyncSession], shop: Glance
) -> None:
    for sales in shop.recent:
        report = await build_report(
            sessions,
            period=sales.period,
            rates=week.RATES,
            low_units=week.LOW_UNITS,
            overstock_units=week.OVERSTOCK_UNITS,
            now=SATURDAY,
        )
        assert (sales.orders, sales.net_in_base) == (report.orders.total, report.revenue.net_in_base)


def test_what_waits_for_a_person(shop: Glance) -> None:
    waiting = shop.waiting
    # phone-P1 waits for its bank transfer; marketplace-M1's second refund runs, due on 13 November.
    assert (waiting.awaiting_payment, waiting.backordered, waiting.manual_picking, waiting.manual_packing) == (
        1,
        0,
        0,
        0,
    )
    assert (waiting.refunds_open, waiting.refunds_overdue, waiting.payouts_by_hand) == (1, 0, 0)
    assert waiting.total == 2


async def test_an_open_refund_past_its_deadline_is_overdue(sessions: async_sessionmaker[AsyncSession]) -> None:
    await week.write_dataset(sessions)
    later = await look(sessions, now=datetime(2026, 11, 14, 8, 0, tzinfo=UTC))
    assert (later.waiting.refunds_open, later.waiting.refunds_overdue) == (1, 1)


async def test_manual_picking_and_packing_wait_for_the_operator(sessions: async_sessionmaker[AsyncSession]) -> None:
    placed = SATURDAY - timedelta(hours=1)
    for order_id, status in (("pos-M1", OrderStatus.PICKING), ("pos-M2", OrderStatus.PACKING)):
        view = week.order_view(
            order_id, Channel.POS, PaymentMethod.CARD, [("MUG-ENAMEL", 1, "14.90")], "0.00", "EUR", [(status, placed)]
        )
        await orders.project(sessions, view.model_copy(update={"mode": FulfilmentMode.MANUAL}))
    auto = week.order_view(
        "pos-A1",
        Channel.POS,
        PaymentMethod.CARD,
        [("MUG-ENAMEL", 1, "14.90")],
        "0.00",
        "EUR",
        [(OrderStatus.PICKING, placed)],
    )
    await orders.project(sessions, auto)
    waiting = (await look(sessions)).waiting
    assert (waiting.manual_picking, waiting.manual_packing) == (1, 1)


def test_stock_to_watch(shop: Glance) -> None:
    assert [level.sku for level in shop.sold_out] == ["MUG-ENAMEL"]
    assert [(level.sku, level.available) for level in shop.low] == [("TEA-GREEN", 3)]
    assert [(level.sku, level.available) for level in shop.overstocked] == [("COFFEE-250G", 250)]


def test_a_recent_period_starts_at_midnight_across_a_clock_change() -> None:
    # 25 October 2026 ends summer time in Berlin: seven days back from the 29th is the 23rd, 00:00 CEST.
    period = recent_period(7, datetime(2026, 10, 29, 10, 0, tzinfo=UTC), BERLIN)
    assert period.since == datetime(2026, 10, 23, 0, 0, tzinfo=BERLIN)
    assert period.since.utcoffset() == timedelta(hours=2)
