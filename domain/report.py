"""The operator's report: what it holds, how its figures are worked out, and how it reads as text and CSV rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, Field

from domain.base import Frozen
from domain.figures import Durations
from domain.money import ExchangeRates, Money
from domain.status import OperatorList, OrderStatus

# Orders in these statuses never became a sale: nothing was (or stays) paid and nothing left the warehouse.
NOT_SALES = frozenset({OrderStatus.PAYMENT_FAILED.value, OrderStatus.CANCELLED.value})

# The steps of an order's life whose durations a report shows, in the order an order goes through them.
STEPS: tuple[OrderStatus, ...] = (
    OrderStatus.RECEIVED,
    OrderStatus.AWAITING_PAYMENT,
    OrderStatus.PAID,
    OrderStatus.BACKORDERED,
    OrderStatus.PICKING,
    OrderStatus.PACKING,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
    OrderStatus.REFUNDING,
)


class Period(BaseModel):
    """The window the report covers: orders placed, refunds requested, feedback given and steps ended in it."""

    since: datetime | None = Field(None, description="Start (inclusive); None means since the first order.")
    until: datetime | None = Field(None, description="End (exclusive); None means up to now.")
    timezone: str


class OrderCounts(BaseModel):
    """Orders placed in the period, by operator list and by status (every list and status present)."""

    total: int
    per_list: dict[str, int]
    per_status: dict[str, int]


class CurrencyRevenue(BaseModel):
    """One currency's sales: the orders, gross, refunded and net, and net in the base currency."""

    currency: str
    orders: int
    gross: Money
    refunded: Money
    net: Money
    rate: Decimal | None = Field(description="Base-currency value of one unit; None when no rate is configured.")
    net_in_base: Money | None


class Revenue(BaseModel):
    """Sales of the orders placed in the period, per currency and converted into the base currency."""

    per_currency: list[CurrencyRevenue]
    gross_in_base: Money
    refunded_in_base: Money
    net_in_base: Money
    missing_rates: list[str] = Field(description="Currencies left out of the base totals: no rate configured.")


class Breakdown(BaseModel):
    """Orders and net sales of one channel or one payment method."""

    name: str
    orders: int
    net: list[Money] = Field(description="Net sales per currency.")
    net_in_base: Money


class StepTime(BaseModel):
    """How long orders stayed in one status before moving on, in seconds."""

    step: str
    durations: Durations


class RefundFigures(BaseModel):
    """Refunds and cancellations requested in the period, and how the SLA held."""

    requested: int
    refunds: int
    cancellations: int
    amount: list[Money] = Field(description="What goes back to customers, per currency.")
    amount_in_base: Money
    finished: int = Field(description="Refunds finished in the period.")
    within_sla: int
    late: int
    sla_compliance_percent: Decimal | None = Field(description="Finished within SLA, of those finished.")
    open: int = Field(description="Refunds not finished yet, whenever requested.")
    overdue: int = Field(description="Open refunds past their deadline now.")


class Satisfaction(BaseModel):
    """Survey answers given in the period."""

    responses: int
    average: Decimal | None
    ratings: dict[int, int] = Field(description="How many answers gave each rating, 1 to 5.")


class StockItem(BaseModel):
    """Units of one SKU available in one warehouse."""

    sku: str
    name: str
    warehouse: str
    available: int


class StockFigures(BaseModel):
    """SKUs with nothing to sell and SKUs with more than the shop wants to hold."""

    low_units: int
    overstock_units: int
    sold_out: list[StockItem]
    low: list[StockItem] = Field(description="Available but at or below the low-stock threshold.")
    overstocked: list[StockItem]


class Report(Frozen):
    """Everything an operator sees at a glance, read from the OMS database when it was generated."""

    generated_at: datetime
    period: Period
    base_currency: str
    orders: OrderCounts
    revenue: Revenue
    channels: list[Breakdown]
    payment_methods: list[Breakdown]
    steps: list[StepTime]
    placed_to_completed: Durations
    refunds: RefundFigures
    satisfaction: Satisfaction
    stock: StockFigures


# --- working the figures out ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SalesRow:
    """Orders placed in the period with the same status, channel, payment method and currency."""

    status: str
    channel: str
    payment_method: str
    currency: str
    orders: int
    total_minor: int


@dataclass(frozen=True)
class RefundedRow:
    """Refunds of sold orders placed in the period, by channel, payment method and currency."""

    channel: str
    payment_method: str
    currency: str
    amount_minor: int


def order_counts(rows: Iterable[SalesRow]) -> OrderCounts:
    """Orders per list and per status."""
    per_status = {status.value: 0 for status in OrderStatus}
    for row in rows:
        per_status[row.status] = per_status.get(row.status, 0) + row.orders
    per_list = {operator_list.value: 0 for operator_list in OperatorList}
    for status, count in per_status.items():
        per_list[OrderStatus(status).operator_list.value] += count
    return OrderCounts(total=sum(per_status.values()), per_list=per_list, per_status=per_status)


def revenue(sales: list[SalesRow], refunded: list[RefundedRow], rates: ExchangeRates) -> Revenue:
    """Gross sales (orders that became sales), refunded and net, per currency and in the base currency."""
    currencies = sorted({row.currency for row in sales} | {row.currency for row in refunded})
    per_currency = []
    for currency in currencies:
        gross = _sum_minor((row.total_minor for row in sales if row.currency == currency and _sold(row)), currency)
        back = _sum_minor((row.amount_minor for row in refunded if row.currency == currency), currency)
        net = gross - back
        per_currency.append(
            CurrencyRevenue(
                currency=currency,
                orders=sum(row.orders for row in sales if row.currency == currency),
                gross=gross,
                refunded=back,
                net=net,
                rate=rates.rate(currency),
                net_in_base=rates.to_base(net),
            )
        )
    return Revenue(
        per_currency=per_currency,
        gross_in_base=in_base((figure.gross for figure in per_currency), rates),
        refunded_in_base=in_base((figure.refunded for figure in per_currency), rates),
        net_in_base=in_base((figure.net for figure in per_currency), rates),
        missing_rates=[currency for currency in currencies if rates.rate(currency) is None],
    )


def breakdown(sales: list[SalesRow], refunded: list[RefundedRow], by: str, rates: ExchangeRates) -> list[Breakdown]:
    """Orders and net sales per channel (`by="channel"`) or per payment method (`by="payment_method"`)."""
    names = sorted({getattr(row, by) for row in sales} | {getattr(row, by) for row in refunded})
    result = []
    for name in names:
        mine = [row for row in sales if getattr(row, by) == name]
        back = [row for row in refunded if getattr(row, by) == name]
        currencies = sorted({row.currency for row in mine} | {row.currency for row in back})
        net = [
            _sum_minor((row.total_minor for row in mine if row.currency == currency and _sold(row)), currency)
            - _sum_minor((row.amount_minor for row in back if row.currency == currency), currency)
            for currency in currencies
        ]
        result.append(
            Breakdown(
                name=name,
                orders=sum(row.orders for row in mine),
                net=net,
                net_in_base=in_base(net, rates),
            )
        )
    return result


def in_base(amounts: Iterable[Money], rates: ExchangeRates) -> Money:
    """The sum of amounts converted one by one into the base currency; amounts without a rate are left out."""
    total = Money.zero(rates.base)
    for amount in amounts:
        converted = rates.to_base(amount)
        if converted is not None:
            total = total + converted
    return total


def percent(part: int, whole: int) -> Decimal | None:
    """`part` of `whole` in percent to one decimal, None of nothing."""
    if whole == 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def satisfaction(ratings: dict[int, int]) -> Satisfaction:
    """Responses, average rating to two decimals, and the count per rating."""
    every = {rating: ratings.get(rating, 0) for rating in range(1, 6)}
    responses = sum(every.values())
    average = None
    if responses:
        points = sum(rating * count for rating, count in every.items())
        average = (Decimal(points) / Decimal(responses)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return Satisfaction(responses=responses, average=average, ratings=every)


def _sold(row: SalesRow) -> bool:
    return row.status not in NOT_SALES


def _sum_minor(minors: Iterable[int], currency: str) -> Money:
    return Money.from_minor(sum(minors), currency)


# --- reading it -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """One table of the report as people read it: a title, column headings and rows of text."""

    title: str
    headers: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    note: str | None = None


def sections(report: Report) -> list[Section]:
    """The report as tables of text, in the order an operator reads them; the email and the terminal share it."""
    base = report.base_currency
    orders = report.orders
    revenue = report.revenue
    missing = f"; no rate for {', '.join(revenue.missing_rates)} (OMS_FX_RATES)" if revenue.missing_rates else ""
    refunds = report.refunds
    stock = report.stock
    return [
        Section(
            "Orders",
            ("list", "orders"),
            [(name.capitalize(), str(count)) for name, count in orders.per_list.items()] + [("All", str(orders.total))],
        ),
        Section(
            "Orders by status",
            ("status", "orders"),
            [(status, str(count)) for status, count in orders.per_status.items() if count],
        ),
        Section(
            "Revenue",
            ("currency", "orders", "gross", "refunded", "net", "rate", f"net {base}"),
            [
                (
                    figure.currency,
                    str(figure.orders),
                    _amount(figure.gross),
                    _amount(figure.refunded),
                    _amount(figure.net),
                    str(figure.rate) if figure.rate is not None else "no rate",
                    _amount(figure.net_in_base) if figure.net_in_base is not None else "-",
                )
                for figure in revenue.per_currency
            ]
            + [
                (
                    f"all in {base}",
                    str(orders.total),
                    _amount(revenue.gross_in_base),
                    _amount(revenue.refunded_in_base),
                    _amount(revenue.net_in_base),
                    "",
                    _amount(revenue.net_in_base),
                )
            ],
            note="gross: orders that became sales (not payment_failed or cancelled); refunded: refunds of them"
            + missing,
        ),
        _breakdown_section("By channel", "channel", report.channels, base),
        _breakdown_section("By payment method", "payment method", report.payment_methods, base),
        Section(
            "Time per step",
            ("step", "orders", "average", "p50", "p95", "p99"),
            [_step_row(step.step, step.durations) for step in report.steps if step.durations.count]
            + [_step_row("placed -> completed", report.placed_to_completed)],
            note="time an order stayed in each status before moving on",
        ),
        Section(
            "Refunds",
            ("figure", "value"),
            [
                (
                    "requested",
                    f"{refunds.requested} ({count_of(refunds.refunds, 'refund')}, "
                    f"{count_of(refunds.cancellations, 'cancellation')})",
                ),
                ("amount", ", ".join(amount.format() for amount in refunds.amount) or "-"),
                (f"amount in {base}", refunds.amount_in_base.format()),
                ("finished", str(refunds.finished)),
                ("within SLA", str(refunds.within_sla)),
                ("late", str(refunds.late)),
                (
                    "SLA compliance",
                    f"{refunds.sla_compliance_percent}%" if refunds.sla_compliance_percent is not None else "-",
                ),
                ("open now", str(refunds.open)),
                ("overdue now", str(refunds.overdue)),
            ],
        ),
        Section(
            "Satisfaction",
            ("figure", "value"),
            [
                ("responses", str(report.satisfaction.responses)),
                ("average", f"{report.satisfaction.average} / 5" if report.satisfaction.average is not None else "-"),
                *((f"rated {rating}", str(count)) for rating, count in report.satisfaction.ratings.items()),
            ],
        ),
        Section(
            "Stock",
            ("SKU", "product", "warehouse", "available", "state"),
            [(item.sku, item.name, item.warehouse, str(item.available), "sold out") for item in stock.sold_out]
            + [(item.sku, item.name, item.warehouse, str(item.available), "low") for item in stock.low]
            + [(item.sku, item.name, item.warehouse, str(item.available), "overstocked") for item in stock.overstocked],
            note=f"low: {stock.low_units} units or fewer; overstocked: {stock.overstock_units} or more",
        ),
    ]


def _amount(money: Money) -> str:
    """An amount without its code, where the row or heading names the currency: '1,234.50', '3,760'."""
    return money.format().rpartition(" ")[0]


def count_of(number: int, noun: str) -> str:
    """'1 refund', '3 refunds': a count with its noun, for headlines and summaries."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _breakdown_section(title: str, heading: str, rows: list[Breakdown], base: str) -> Section:
    return Section(
        title,
        (heading, "orders", "net", f"net in {base}"),
        [
            (row.name, str(row.orders), ", ".join(amount.format() for amount in row.net), row.net_in_base.format())
            for row in rows
        ],
    )


def _step_row(name: str, durations: Durations) -> tuple[str, ...]:
    return (
        name,
        str(durations.count),
        duration_text(durations.mean),
        duration_text(durations.p50),
        duration_text(durations.p95),
        duration_text(durations.p99),
    )


def duration_text(seconds: float | None) -> str:
    """A duration as people say it: '0.4 s', '12 s', '3 min 5 s', '2 h 10 min', '3 d 4 h'."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def as_text(report: Report) -> str:
    """The report as plain text with aligned columns, for an email or a file."""
    lines = [f"Report {period_text(report.period)}, generated {report.generated_at:%Y-%m-%d %H:%M %Z}"]
    for section in sections(report):
        lines += ["", section.title]
        widths = [max(len(cell) for cell in column) for column in zip(section.headers, *section.rows, strict=False)]
        for row in (section.headers, *section.rows):
            lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip())
        if section.note:
            lines.append(f"({section.note})")
    return "\n".join(lines) + "\n"


def period_text(period: Period) -> str:
    """'2026-11-26 00:00 to 2026-11-27 00:00 Europe/Berlin', or 'all time' when open on both sides."""
    if period.since is None and period.until is None:
        return "for all time"
    since = f"{period.since:%Y-%m-%d %H:%M}" if period.since else "the first order"
    until = f"{period.until:%Y-%m-%d %H:%M}" if period.until else "now"
    return f"from {since} to {until} {period.timezone}"


def csv_rows(report: Report) -> list[tuple[str, str, str, str, str]]:
    """Every figure as one row (section, item, currency, figure, value): easy to filter and pivot in a sheet."""
    rows: list[tuple[str, str, str, str, str]] = [("section", "item", "currency", "figure", "value")]
    rows.append(("orders", "all", "", "orders", str(report.orders.total)))
    rows += [("orders", name, "", "orders", str(count)) for name, count in report.orders.per_list.items()]
    rows += [("status", name, "", "orders", str(count)) for name, count in report.orders.per_status.items()]
    for figure in report.revenue.per_currency:
        code = figure.currency
        rows += [
            ("revenue", code, code, "orders", str(figure.orders)),
            ("revenue", code, code, "gross", str(figure.gross.amount)),
            ("revenue", code, code, "refunded", str(figure.refunded.amount)),
            ("revenue", code, code, "net", str(figure.net.amount)),
            ("revenue", code, code, "rate", "" if figure.rate is None else str(figure.rate)),
            (
                "revenue",
                code,
                report.base_currency,
                "net_in_base",
                "" if figure.net_in_base is None else str(figure.net_in_base.amount),
            ),
        ]
    base = report.base_currency
    rows += [
        ("revenue", "total", base, "gross_in_base", str(report.revenue.gross_in_base.amount)),
        ("revenue", "total", base, "refunded_in_base", str(report.revenue.refunded_in_base.amount)),
        ("revenue", "total", base, "net_in_base", str(report.revenue.net_in_base.amount)),
    ]
    for section, breakdowns in (("channel", report.channels), ("payment_method", report.payment_methods)):
        for row in breakdowns:
            rows.append((section, row.name, "", "orders", str(row.orders)))
            rows += [(section, row.name, amount.currency, "net", str(amount.amount)) for amount in row.net]
            rows.append((section, row.name, base, "net_in_base", str(row.net_in_base.amount)))
    for step in [*report.steps, StepTime(step="placed_to_completed", durations=report.placed_to_completed)]:
        for name in ("count", "mean", "p50", "p95", "p99"):
            value = getattr(step.durations, name)
            rows.append(("step_seconds", step.step, "", name, "" if value is None else _seconds(value)))
    refunds = report.refunds
    for name in ("requested", "refunds", "cancellations", "finished", "within_sla", "late", "open", "overdue"):
        rows.append(("refunds", "all", "", name, str(getattr(refunds, name))))
    rows += [("refunds", "amount", amount.currency, "amount", str(amount.amount)) for amount in refunds.amount]
    rows.append(("refunds", "amount", base, "amount_in_base", str(refunds.amount_in_base.amount)))
    compliance = refunds.sla_compliance_percent
    rows.append(("refunds", "all", "", "sla_compliance_percent", "" if compliance is None else str(compliance)))
    satisfaction = report.satisfaction
    rows.append(("satisfaction", "all", "", "responses", str(satisfaction.responses)))
    rows.append(
        ("satisfaction", "all", "", "average", "" if satisfaction.average is None else str(satisfaction.average))
    )
    rows += [("satisfaction", f"rated_{rating}", "", "responses", str(n)) for rating, n in satisfaction.ratings.items()]
    for state, items in (
        ("sold_out", report.stock.sold_out),
        ("low", report.stock.low),
        ("overstocked", report.stock.overstocked),
    ):
        rows += [("stock", f"{item.sku}@{item.warehouse}", "", state, str(item.available)) for item in items]
    return rows


def _seconds(value: float) -> str:
    # Three decimals: milliseconds are as fine as step times are measured.
    return f"{value:.3f}"
