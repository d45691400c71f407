"""The report as files to keep: every figure as CSV rows, and an Excel workbook.

The same bytes go to `oms report --csv/--xlsx` and to the console's downloads.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from domain.money import MINOR_UNITS, Money
from domain.report import Report, csv_rows, period_text
from starter.spreadsheets import csv_text, keep_text_as_text


def report_csv(result: Report) -> bytes:
    """Every figure as one CSV row (section, item, currency, figure, value), UTF-8; no text runs as a formula."""
    return csv_text(csv_rows(result)).encode("utf-8")


def report_xlsx(result: Report) -> bytes:
    """The report as an Excel workbook: a sheet per table, amounts as numbers in each currency's precision."""
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
    file = io.BytesIO()
    book.save(file)
    return file.getvalue()


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
    # A product or customer name such as `=HYPERLINK(...)` is text to show, never a formula to run.
    keep_text_as_text(sheet)
    for column, header in enumerate(headers, start=1):
        width = max([len(header)] + [len(str(row[column - 1] or "")) for row in rows])
        sheet.column_dimensions[get_column_letter(column)].width = min(max(width + 2, 10), 60)
