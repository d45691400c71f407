"""The operator's report, read from the OMS database alone: orders, sales, step times, refunds, feedback, stock."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import QueryableAttribute

from domain import report as figures
from domain.figures import Durations
from domain.money import ExchangeRates, Money
from domain.refund import RefundKind, RefundState
from domain.report import Period, RefundedRow, Report, SalesRow
from store import catalogue
from store.schema import FeedbackRecord, OrderRecord, RefundRecord
from store.steps import step_times


async def build_report(
    sessions: async_sessionmaker[AsyncSession],
    *,
    period: Period,
    rates: ExchangeRates,
    low_units: int,
    overstock_units: int,
    now: datetime,
) -> Report:
    """The report of `period` as the database holds it at `now`."""
    placed = within(OrderRecord.placed_at, period)
    async with sessions() as session:
        sales = await sales_rows(session, placed)
        refunded = await refunded_rows(session, placed)
        refund_figures = await _refunds(session, period, rates, now)
        ratings = {
            int(rating): int(count)
            for rating, count in await session.execute(
                select(FeedbackRecord.rating, func.count())
                .where(*within(FeedbackRecord.at, period))
                .group_by(FeedbackRecord.rating)
            )
        }
    times = await step_times(sessions, since=period.since, until=period.until)
    levels = await catalogue.stock_levels(sessions)

    def items(wanted: list[catalogue.StockCount]) -> list[figures.StockItem]:
        return [
            figures.StockItem(sku=level.sku, name=level.name, warehouse=level.warehouse, available=level.available)
            for level in wanted
        ]

    return Report(
        generated_at=now,
        period=period,
        base_currency=rates.base,
        orders=figures.order_counts(sales),
        revenue=figures.revenue(sales, refunded, rates),
        channels=figures.breakdown(sales, refunded, "channel", rates),
        payment_methods=figures.breakdown(sales, refunded, "payment_method", rates),
        steps=[
            figures.StepTime(step=step.value, durations=Durations.of(times.in_status.get(step.value, [])))
            for step in figures.STEPS
        ],
        placed_to_completed=Durations.of(times.to_completed),
        refunds=refund_figures,
        satisfaction=figures.satisfaction(ratings),
        stock=figures.StockFigures(
            low_units=low_units,
            overstock_units=overstock_units,
            sold_out=items([level for level in levels if level.available == 0]),
            low=items([level for level in levels if 0 < level.available <= low_units]),
            overstocked=items([level for level in levels if level.available >= overstock_units]),
        ),
    )


async def sales_rows(session: AsyncSession, placed: list[ColumnElement[bool]]) -> list[SalesRow]:
    """Orders placed as `placed` says, summed per status, channel, payment method and currency."""
    return [
        SalesRow(status, channel, method, currency, int(orders), int(total or 0))
        for status, channel, method, currency, orders, total in await session.execute(
            select(
                OrderRecord.status,
                OrderRecord.channel,
                OrderRecord.payment_method,
                OrderRecord.currency,
                func.count(),
                func.sum(OrderRecord.total_minor),
            )
            .where(*placed)
            .group_by(OrderRecord.status, OrderRecord.channel, OrderRecord.payment_method, OrderRecord.currency)
        )
    ]


async def refunded_rows(session: AsyncSession, placed: list[ColumnElement[bool]]) -> list[RefundedRow]:
    """Refunds of the sold orders placed as `placed` says, per channel, payment method and currency."""
    return [
        RefundedRow(channel, method, currency, int(amount or 0))
        for channel, method, currency, amount in await session.execute(
            select(
                OrderRecord.channel,
                OrderRecord.payment_method,
                RefundRecord.currency,
                func.sum(RefundRecord.amount_minor),
            )
            .join(OrderRecord, OrderRecord.order_id == RefundRecord.order_id)
            .where(
                *placed,
                RefundRecord.kind == RefundKind.REFUND.value,
                OrderRecord.status.not_in(figures.NOT_SALES),
            )
            .group_by(OrderRecord.channel, OrderRecord.payment_method, RefundRecord.currency)
        )
    ]


async def _refunds(session: AsyncSession, period: Period, rates: ExchangeRates, now: datetime) -> figures.RefundFigures:
    """Refunds requested and finished in the period, and the ones open now."""
    requested = (
        await session.execute(
            select(RefundRecord.kind, RefundRecord.currency, func.count(), func.sum(RefundRecord.amount_minor))
            .where(*within(RefundRecord.requested_at, period))
            .group_by(RefundRecord.kind, RefundRecord.currency)
        )
    ).all()
    amounts: dict[str, int] = {}
    for _, currency, _, amount in requested:
        amounts[currency] = amounts.get(currency, 0) + int(amount or 0)
    per_currency = [Money.from_minor(amount, currency) for currency, amount in sorted(amounts.items())]
    finished = {
        bool(within): int(count)
        for within, count in await session.execute(
            select(RefundRecord.within_sla, func.count())
            .where(RefundRecord.state == RefundState.FINISHED.value, *within(RefundRecord.finished_at, period))
            .group_by(RefundRecord.within_sla)
        )
    }
    unfinished = RefundRecord.state != RefundState.FINISHED.value
    still_open = int(await session.scalar(select(func.count()).select_from(RefundRecord).where(unfinished)) or 0)
    overdue = int(
        await session.scalar(
            select(func.count()).select_from(RefundRecord).where(unfinished, RefundRecord.deadline < now)
        )
        or 0
    )
    done = finished.get(True, 0) + finished.get(False, 0)

    def kind_count(kind: RefundKind) -> int:
        return sum(int(count) for refund_kind, _, count, _ in requested if refund_kind == kind.value)

    return figures.RefundFigures(
        requested=sum(int(count) for _, _, count, _ in requested),
        refunds=kind_count(RefundKind.REFUND),
        cancellations=kind_count(RefundKind.CANCELLATION),
        amount=per_currency,
        amount_in_base=figures.in_base(per_currency, rates),
        finished=done,
        within_sla=finished.get(True, 0),
        late=finished.get(False, 0),
        sla_compliance_percent=figures.percent(finished.get(True, 0), done),
        open=still_open,
        overdue=overdue,
    )


def within(
    column: QueryableAttribute[datetime] | QueryableAttribute[datetime | None], period: Period
) -> list[ColumnElement[bool]]:
    """The period as conditions on a timestamp column: since inclusive, until exclusive."""
    conditions: list[ColumnElement[bool]] = []
    if period.since is not None:
        conditions.append(column >= period.since)
    if period.until is not None:
        conditions.append(column < period.until)
    return conditions
