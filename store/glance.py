"""The shop at a glance, for the console's home page: lists, recent sales, what waits for a person, stock marks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import report as figures
from domain.money import ExchangeRates, Money
from domain.order import FulfilmentMode
from domain.refund import RefundState
from domain.report import Period
from domain.status import OrderStatus
from store import catalogue
from store.orders import count_by_list
from store.reports import refunded_rows, sales_rows, within
from store.schema import OrderRecord, RefundRecord

# The recent periods the home page shows, in days including today: "today", "last 7 days", "last 30 days".
RECENT_DAYS = (1, 7, 30)


@dataclass(frozen=True)
class RecentSales:
    """Orders placed and net revenue in the base currency since a shop-local midnight, as `oms report` counts them."""

    days: int
    period: Period
    orders: int
    net_in_base: Money
    missing_rates: list[str]

    @property
    def label(self) -> str:
        """How the home page names the period."""
        return "Today" if self.days == 1 else f"Last {self.days} days"


@dataclass(frozen=True)
class Waiting:
    """Work that waits for a person."""

    manual_picking: int
    manual_packing: int
    awaiting_payment: int
    backordered: int
    refunds_open: int
    refunds_overdue: int
    payouts_by_hand: int

    @property
    def total(self) -> int:
        """Everything a person should look at (overdue refunds and payouts by hand are among the open refunds)."""
        return self.manual_picking + self.manual_packing + self.awaiting_payment + self.backordered + self.refunds_open


@dataclass(frozen=True)
class Glance:
    """Everything the home page shows."""

    at: datetime
    per_list: dict[str, int]
    recent: list[RecentSales]
    waiting: Waiting
    sold_out: list[catalogue.StockCount]
    low: list[catalogue.StockCount]
    overstocked: list[catalogue.StockCount]
    low_units: int
    overstock_units: int


def recent_period(days: int, now: datetime, zone: ZoneInfo) -> Period:
    """From shop-local midnight `days - 1` days before today up to now: what `oms report --since DATE` covers."""
    first_day = now.astimezone(zone).date() - timedelta(days=days - 1)
    return Period(since=datetime.combine(first_day, time(0), tzinfo=zone), until=None, timezone=zone.key)


async def glance(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    zone: ZoneInfo,
    rates: ExchangeRates,
    low_units: int,
    overstock_units: int,
) -> Glance:
    """The shop as the database holds it at `now`."""
    per_list = await count_by_list(sessions)
    recent = []
    async with sessions() as session:
        for days in RECENT_DAYS:
            period = recent_period(days, now, zone)
            placed = within(OrderRecord.placed_at, period)
            sales = await sales_rows(session, placed)
            revenue = figures.revenue(sales, await refunded_rows(session, placed), rates)
            recent.append(
                RecentSales(
                    days=days,
                    period=period,
                    orders=sum(row.orders for row in sales),
                    net_in_base=revenue.net_in_base,
                    missing_rates=revenue.missing_rates,
                )
            )
        waiting = await _waiting(session, now)
    levels = await catalogue.stock_levels(sessions)
    return Glance(
        at=now,
        per_list=per_list,
        recent=recent,
        waiting=waiting,
        sold_out=[level for level in levels if level.available == 0],
        low=[level for level in levels if 0 < level.available <= low_units],
        overstocked=[level for level in levels if level.available >= overstock_units],
        low_units=low_units,
        overstock_units=overstock_units,
    )


async def _waiting(session: AsyncSession, now: datetime) -> Waiting:
    """Orders and refunds that wait for an operator, a bank or new stock."""
    manual = {
        status: int(count)
        for status, count in await session.execute(
            select(OrderRecord.status, func.count())
            .where(
                OrderRecord.mode == FulfilmentMode.MANUAL.value,
                OrderRecord.status.in_([OrderStatus.PICKING.value, OrderStatus.PACKING.value]),
            )
            .group_by(OrderRecord.status)
        )
    }
    waiting_orders = {
        status: int(count)
        for status, count in await session.execute(
            select(OrderRecord.status, func.count())
            .where(OrderRecord.status.in_([OrderStatus.AWAITING_PAYMENT.value, OrderStatus.BACKORDERED.value]))
            .group_by(OrderRecord.status)
        )
    }
    unfinished = RefundRecord.state != RefundState.FINISHED.value
    refunds = (
        await session.execute(
            select(
                func.count(),
                func.sum(case((RefundRecord.deadline < now, 1), else_=0)),
                func.sum(case((RefundRecord.state == RefundState.AWAITING_PAYOUT.value, 1), else_=0)),
            ).where(unfinished)
        )
    ).one()
    return Waiting(
        manual_picking=manual.get(OrderStatus.PICKING.value, 0),
        manual_packing=manual.get(OrderStatus.PACKING.value, 0),
        awaiting_payment=waiting_orders.get(OrderStatus.AWAITING_PAYMENT.value, 0),
        backordered=waiting_orders.get(OrderStatus.BACKORDERED.value, 0),
        refunds_open=int(refunds[0] or 0),
        refunds_overdue=int(refunds[1] or 0),
        payouts_by_hand=int(refunds[2] or 0),
    )
