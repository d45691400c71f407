"""`oms report` for the hand-worked week: the same figures as JSON, in an Excel workbook and as CSV rows."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from settings import Settings
from starter.cli import app
from tests.starter.test_cli import one_error_line
from tests.store import report_dataset as week

THE_WEEK = ["report", "--since", "2026-11-02", "--until", "2026-11-09"]


@pytest.fixture
async def env(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """The week in the database, and the shop's rates and thresholds as OMS_ variables."""
    await week.write_dataset(sessions)
    return {
        "OMS_VAR_DIR": str(settings.var_dir),
        "OMS_BASE_CURRENCY": "EUR",
        "OMS_FX_RATES": "JPY=0.0061,KWD=2.98,USD=0.92",
        "OMS_TIMEZONE": week.BERLIN,
        "OMS_LOW_STOCK_UNITS": str(week.LOW_UNITS),
        "OMS_OVERSTOCK_UNITS": str(week.OVERSTOCK_UNITS),
    }


def test_the_json_report_of_a_week_in_shop_time_has_the_hand_worked_figures(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, [*THE_WEEK, "--json"], env=env)

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["period"]["since"] == "2026-11-02T00:00:00+01:00"
    assert report["orders"]["per_list"] == {"pending": 4, "completed": 3, "cancelled": 3}
    revenue = {figure["currency"]: figure for figure in report["revenue"]["per_currency"]}
    # Amounts are exact decimal strings in each currency's precision, never floats.
    assert revenue["JPY"]["net"] == {"amount": "3760", "currency": "JPY"}
    assert revenue["KWD"]["net"] == {"amount": "6.800", "currency": "KWD"}
    assert (revenue["KWD"]["rate"], revenue["KWD"]["net_in_base"]["amount"]) == ("2.98", "20.26")
    assert revenue["JPY"]["net_in_base"]["amount"] == "22.94"
    assert report["revenue"]["net_in_base"] == {"amount": "131.90", "currency": "EUR"}
    assert report["revenue"]["missing_rates"] == ["GBP"]
    assert report["refunds"]["sla_compliance_percent"] == "66.7"
    assert report["satisfaction"]["average"] == "4.50"


def test_the_workbook_holds_the_same_figures_as_numbers_in_each_currencys_precision(
    env: dict[str, str], tmp_path: Path
) -> None:
    workbook = tmp_path / "week.xlsx"

    result = CliRunner().invoke(app, [*THE_WEEK, "--xlsx", str(workbook)], env=env)

    assert result.exit_code == 0, result.output
    book = load_workbook(workbook)
    assert book.sheetnames == [
        "Summary",
        "Status",
        "Revenue",
        "Channels",
        "Payment methods",
        "Steps",
        "Refunds",
        "Satisfaction",
        "Stock",
    ]
    revenue = {row[0].value: row for row in book["Revenue"].iter_rows(min_row=2)}
    jpy, kwd = revenue["JPY"], revenue["KWD"]
    assert [cell.value for cell in jpy] == ["JPY", 1, 3760, 0, 3760, 0.0061, 22.94]
    assert [cell.value for cell in kwd] == ["KWD", 1, 6.8, 0, 6.8, 2.98, 20.26]
    assert kwd[4].number_format == '#,##0.000 "KWD"'
    assert jpy[4].number_format == '#,##0 "JPY"'
    assert jpy[6].number_format == '#,##0.00 "EUR"'
    summary = {row[0].value: row[1].value for row in book["Summary"].iter_rows(min_row=2)}
    assert (summary["net sales"], summary["refund SLA compliance %"], summary["satisfaction average"]) == (
        131.9,
        66.7,
        4.5,
    )
    stock = [(row[0].value, row[4].value) for row in book["Stock"].iter_rows(min_row=2)]
    assert stock == [("MUG-ENAMEL", "sold out"), ("TEA-GREEN", "low"), ("COFFEE-250G", "overstocked")]


def test_the_csv_has_one_row_per_figure(env: dict[str, str], tmp_path: Path) -> None:
    figures = tmp_path / "week.csv"

    result = CliRunner().invoke(app, [*THE_WEEK, "--csv", str(figures)], env=env)

    assert result.exit_code == 0, result.output
    rows = list(csv.reader(figures.open(encoding="utf-8")))
    assert rows[0] == ["section", "item", "currency", "figure", "value"]
    assert ["revenue", "KWD", "EUR", "net_in_base", "20.26"] in rows
    assert ["channel", "web", "EUR", "net_in_base", "100.90"] in rows
    assert ["step_seconds", "picking", "", "p95", "3600.000"] in rows


def test_the_text_report_shows_every_table(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, THE_WEEK, env={**env, "COLUMNS": "140"})

    assert result.exit_code == 0, result.output
    for title in ("Orders", "Revenue", "By channel", "By payment method", "Time per step", "Refunds", "Stock"):
        assert title in result.stdout
    assert re.search(r"all in EUR\s+10\s+170\.30\s+38\.40\s+131\.90\s+131\.90", result.stdout)
    assert "no rate for GBP (OMS_FX_RATES)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last week"], "--since 'last week': not a date or time"),
        (["--since", "2026-11-09", "--until", "2026-11-02"], "--until '2026-11-02': must be after --since"),
        (["--xlsx", "/no/such/folder/week.xlsx"], "--xlsx /no/such/folder/week.xlsx: the folder"),
    ],
)
def test_a_bad_option_is_one_line_naming_it(env: dict[str, str], args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["report", *args], env=env)

    assert result.exit_code == 1
    assert message in one_error_line(result.stderr)


def test_the_order_lists_of_the_week_match_the_report(env: dict[str, str]) -> None:
    listed = CliRunner().invoke(app, ["order", "list", "--since", "2026-11-02", "--limit", "50", "--json"], env=env)
    cancelled = CliRunner().invoke(
        app, ["order", "list", "--status", "cancelled", "--since", "2026-11-02", "--json"], env=env
    )

    assert listed.exit_code == 0, listed.output
    week_orders = json.loads(listed.stdout)
    assert week_orders["counts"] == {"pending": 4, "completed": 3, "cancelled": 3}
    assert week_orders["matching"] == 10
    # Newest first: the GBP order of Saturday, then the USD order of Friday.
    assert [order["order_id"] for order in week_orders["orders"][:2]] == ["web-GB1", "web-US1"]
    assert {order["order_id"] for order in json.loads(cancelled.stdout)["orders"]} == {"web-1002", "web-1003", "pos-C1"}
