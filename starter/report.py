"""`oms report`: the numbers at a glance in the terminal, or as JSON, CSV or an Excel workbook."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.money import MINOR_UNITS, Money
from domain.report import Period, Report, csv_rows, period_text, sections
from settings import Settings
from starter.commandline import AsJson, database, fail, moment_option, run
from store.reports import build_report


def report(
    since: Annotated[
        str | None,
        typer.Option(help="Start of the period: a shop-local date or time, e.g. 2026-11-01. (default: the beginning)"),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="End of the period, exclusive: a shop-local date or time. (default: now)")
    ] = None,
    as_json: AsJson = False,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Also write every figure as CSV rows to this file.", metavar="FILE")
    ] = None,
    xlsx_file: Annotated[
        Path | None, typer.Option("--xlsx", help="Also write the report as an Excel workbook.", metavar="FILE")
    ] = None,
) -> None:
    """Orders per list and status, revenue per currency and in the base currency, sales per channel and payment
    method, time per step, refunds and their SLA, satisfaction, sold-out and overstocked SKUs.

    Orders and revenue: the orders placed in the period, as they stand now.

    Refunds, feedback and step times: what was requested, given or finished in the period.
    """
    for option, path in (("--csv", csv_file), ("--xlsx", xlsx_file)):
        if path is not None and not path.parent.is_dir():
            fail(f"{option} {path}: the folder {path.parent} does not exist")

    async def read(settings: Settings) -> Report:
        zone = settings.calendar.zone
        period = Period(
            since=moment_option("--since", since, zone),
            until=moment_option("--until", until, zone),
            timezone=settings.timezone,
        )
        if period.since and period.until and period.since >= period.until:
            fail(f"--until {until!r}: must be after --since {since!r}")
        async with database(settings) as sessions:
            return await report_of(sessions, settings, period)

    result = run(read)
    if csv_file is not None:
        write_csv(result, csv_file)
    if xlsx_file is not None:
        write_xlsx(result, xlsx_file)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    show(result)
    for path in (csv_file, xlsx_file):
        if path is not None:
            typer.echo(f"written to {path}", err=True)


async def report_of(sessions: async_sessionmaker[AsyncSession], settings: Settings, period: Period) -> Report:
    """The report of `period` with the shop's rates and stock thresholds, as of now."""
    return await build_report(
        sessions,
        period=period,
        rates=settings.exchange_rates,
        low_units=settings.low_stock_units,
        overstock_units=settings.overstock_units,
        now=datetime.now(UTC),
    )


def show(result: Report) -> None:
    """The report as tables on the terminal."""
    console = Console()
    console.print(
        f"[bold]Report {escape(period_text(result.period))}[/bold], amounts in {result.base_currency} unless named"
    )
    for section in sections(result):
        table = Table(*section.headers, title=section.title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for every in table.columns:
            every.no_wrap = True
        for column in range(1, len(section.headers)):
            # Figures line up on the right; names and states read from the left.
            if all(not row[column] or row[column][0].isdigit() or row[column][0] == "-" for row in section.rows):
                table.columns[column].justify = "right"
        for row in section.rows:
            table.add_row(*(escape(cell) for cell in row))
        console.print(table)
        if section.note:
            console.print(f"[dim]{escape(section.note)}[/dim]")


def write_csv(result: Report, path: Path) -> None:
    """Every figure as one CSV row: section, item, currency, figure, value."""
    try:
        with path.open("w", newline="", encoding="utf-8") as file:
            csv.writer(file).writerows(csv_rows(result))
    except OSError as error:
        fail(f"--csv {path}: {error.strerror or error}")


def write_xlsx(result: Report, path: Path) -> None:
    """The report as a workbook: a sheet per table, amounts as numbers in each currency's precision."""
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "Summary"
    revenue = result.revenue
    refunds = result.refunds
    _rows(
        summary,
        ("figure", "value", "currency"),
        [
            ("period", period_text(result.period), None),
            ("generated at", result.generated_at.replace(tzinfo=None), "UTC"),
            ("orders", result.orders.total, None),
            *((f"{name} orders", count, None) for name, count in result.orders.per_list.items()),
            ("gross sales", revenue.gross_in_base, result.base_currency),
            ("refunded", revenue.refunded_in_base, result.base_currency),
            ("net sales", revenue.net_in_base, result.base_currency),
            ("currencies without a rate", ", ".join(revenue.missing_rates) or "none", None),
            ("refund SLA compliance %", refunds.sla_compliance_percent, None),
            ("satisfaction average", result.satisfaction.average, None),
        ],
    )
    _rows(
        book.create_sheet("Status"),
        ("status", "orders"),
        [(status, count) for status, count in result.orders.per_status.items()],
    )
    _rows(
        book.create_sheet("Revenue"),
        ("currency", "orders", "gross", "refunded", "net", "rate", f"net in {result.base_currency}"),
        [
            (
                figure.currency,
                figure.orders,
                figure.gross,
                figure.refunded,
                figure.net,
                figure.rate,
                figure.net_in_base,
            )
            for figure in revenue.per_currency
        ],
    )
    for title, breakdowns in (("Channels", result.channels), ("Payment methods", result.payment_methods)):
        _rows(
            book.create_sheet(title),
            (title.lower().rstrip("s"), "orders", "net", f"net in {result.base_currency}"),
            [
                (row.name, row.orders if index == 0 else None, amount, row.net_in_base if index == 0 else None)
                for row in breakdowns
                for index, amount in enumerate(row.net)
            ],
        )
    _rows(
        book.create_sheet("Steps"),
        ("step", "orders", "mean s", "p50 s", "p95 s", "p99 s"),
        [
            (name, durations.count, durations.mean, durations.p50, durations.p95, durations.p99)
            for name, durations in [
                *((step.step, step.durations) for step in result.steps),
                ("placed to completed", result.placed_to_completed),
            ]
        ],
    )
    _rows(
        book.create_sheet("Refunds"),
        ("figure", "value"),
        [
            ("requested", refunds.requested),
            ("refunds", refunds.refunds),
            ("cancellations", refunds.cancellations),
            *((f"amount {amount.currency}", amount) for amount in refunds.amount),
            (f"amount in {result.base_currency}", refunds.amount_in_base),
            ("finished", refunds.finished),
            ("within SLA", refunds.within_sla),
            ("late", refunds.late),
            ("SLA compliance %", refunds.sla_compliance_percent),
            ("open now", refunds.open),
            ("overdue now", refunds.overdue),
        ],
    )
    _rows(
        book.create_sheet("Satisfaction"),
        ("figure", "value"),
        [
            ("responses", result.satisfaction.responses),
            ("average", result.satisfaction.average),
            *((f"rated {rating}", count) for rating, count in result.satisfaction.ratings.items()),
        ],
    )
    stock = result.stock
    _rows(
        book.create_sheet("Stock"),
        ("SKU", "product", "warehouse", "available", "state"),
        [(item.sku, item.name, item.warehouse, item.available, "sold out") for item in stock.sold_out]
        + [(item.sku, item.name, item.warehouse, item.available, "low") for item in stock.low]
        + [(item.sku, item.name, item.warehouse, item.available, "overstocked") for item in stock.overstocked],
    )
    try:
        book.save(path)
    except OSError as error:
        fail(f"--xlsx {path}: {error.strerror or error}")


Cell = str | int | float | Decimal | datetime | Money | None


def _rows(sheet: Worksheet, headers: tuple[str, ...], rows: Sequence[Sequence[Cell]]) -> None:
    """Headings in bold, then rows; money becomes a number formatted to its currency's precision."""
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([value.amount if isinstance(value, Money) else value for value in row])
        for column, value in enumerate(row, start=1):
            if isinstance(value, Money):
                places = MINOR_UNITS[value.currency]
                decimals = "." + "0" * places if places else ""
                sheet.cell(row=sheet.max_row, column=column).number_format = f'#,##0{decimals} "{value.currency}"'
    for column, header in enumerate(headers, start=1):
        width = max([len(header)] + [len(str(row[column - 1] or "")) for row in rows])
        sheet.column_dimensions[get_column_letter(column)].width = min(max(width + 2, 10), 60)
