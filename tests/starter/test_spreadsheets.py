"""Files operators open in spreadsheets: text from outside never runs as a formula, and no planted link is followed.

The rejected-rows file of an import (and the console's download of it), `oms report --csv` and `--xlsx`.
"""

from __future__ import annotations

import csv
import io
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.money import Money
from domain.order import Channel
from domain.report import StockItem
from settings import Settings
from starter import intake, spreadsheets
from starter.intake import FileFormat, Layout
from starter.operations import Shop
from starter.report import report_csv, report_xlsx
from starter.spreadsheets import text_cell
from store import catalogue
from tests.conftest import free_port
from tests.starter.test_intake import CATALOGUE, SPREADSHEET_HEADER, spreadsheet_row, write_csv

HYPERLINK = '=HYPERLINK("http://evil.example","x")'

# Texts a spreadsheet program would run, or strip and then run, as a formula.
FORMULAS = [HYPERLINK, "+49 30 1234567", "-Anna-", "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "\n=1+1"]


@pytest.mark.parametrize("text", FORMULAS)
def test_text_that_would_start_a_formula_is_written_as_text(text: str) -> None:
    assert text_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["-12.50", "+3", "-0.5e3", "Sophie Wagner", "1001", ""])
def test_numbers_and_plain_text_are_written_as_they_are(text: str) -> None:
    assert text_cell(text) == text


def test_csv_cells_that_are_numbers_stay_numbers() -> None:
    text = spreadsheets.csv_text([["refund", Decimal("-12.50"), -3, "-12.50", "-refund"]])

    assert next(csv.reader(io.StringIO(text))) == ["refund", "-12.50", "-3", "-12.50", "'-refund"]


def rejected_rows(tmp_path: Path) -> tuple[intake.SourceTable, intake.Intake]:
    """An old spreadsheet whose every row is rejected (a quantity of `two`), with a formula in one column of each."""
    rows = [
        spreadsheet_row(1001 + number, customer=text, product=text, qty="two") for number, text in enumerate(FORMULAS)
    ]
    path = write_csv(tmp_path / "orders.csv", SPREADSHEET_HEADER, rows)
    table = intake.read_table(path, FileFormat.CSV, Layout.SPREADSHEET)
    return table, intake.take_in(table, Layout.SPREADSHEET, Channel.SPREADSHEET, CATALOGUE, "EUR")


def test_a_rejected_row_with_formulas_in_its_cells_is_written_as_text(tmp_path: Path) -> None:
    table, taken = rejected_rows(tmp_path)
    path = intake.rejected_path(table.path)

    intake.write_rejected(table, taken.rejected, path)

    written = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))
    # Every one is text now; the CR of one may come back as an LF, as the orders file was read as text.
    assert all(row["Customer"].startswith("'") and row["Product"].startswith("'") for row in written), written
    assert [row["Customer"][1:].replace("\r", "\n") for row in written] == [
        text.replace("\r", "\n") for text in FORMULAS
    ]
    # The row numbers the operator fixes by stay numbers.
    assert [row["row"] for row in written] == [str(number) for number in range(2, 2 + len(FORMULAS))]


async def test_the_consoles_rejected_rows_download_holds_no_formula(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "orders.csv", SPREADSHEET_HEADER, [spreadsheet_row(1001, customer=HYPERLINK, qty="two")]
    )
    nowhere = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    async with Shop.open(nowhere) as shop:
        outcome = await shop.import_orders(path, Channel.SPREADSHEET)

    download = outcome.rejected_csv()

    assert download is not None
    [row] = csv.DictReader(io.StringIO(download.decode("utf-8-sig"), newline=""))
    assert row["Customer"] == "'" + HYPERLINK


def test_a_link_planted_at_the_rejected_file_is_replaced_not_written_through(tmp_path: Path) -> None:
    table, taken = rejected_rows(tmp_path)
    victim = tmp_path / "elsewhere" / "victim.txt"
    victim.parent.mkdir()
    victim.write_text("precious")
    path = intake.rejected_path(table.path)
    path.symlink_to(victim)

    intake.write_rejected(table, taken.rejected, path)

    assert victim.read_text() == "precious"
    assert not path.is_symlink()
    assert "reason" in path.read_text(encoding="utf-8-sig")


def test_a_link_planted_where_a_temporary_file_used_to_go_is_not_written_through(tmp_path: Path) -> None:
    table, taken = rejected_rows(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    path = intake.rejected_path(table.path)
    (tmp_path / ".orders.rejected.csv.tmp").symlink_to(victim)

    intake.write_rejected(table, taken.rejected, path)

    assert victim.read_text() == "precious"


def test_a_link_planted_at_the_temporary_name_is_never_written_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table, taken = rejected_rows(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    path = intake.rejected_path(table.path)
    # Someone who guessed the first temporary name planted a link there; the next name is a fresh one.
    names = iter([".orders.rejected.csv.guessed.tmp", ".orders.rejected.csv.fresh.tmp"])
    monkeypatch.setattr(spreadsheets, "temporary_name", lambda beside: next(names))
    (tmp_path / ".orders.rejected.csv.guessed.tmp").symlink_to(victim)

    intake.write_rejected(table, taken.rejected, path)

    assert victim.read_text() == "precious"
    assert "reason" in path.read_text(encoding="utf-8-sig")
    assert not (tmp_path / ".orders.rejected.csv.fresh.tmp").exists()


def test_the_temporary_name_cannot_be_guessed() -> None:
    beside = Path("orders.rejected.csv")

    assert spreadsheets.temporary_name(beside) != spreadsheets.temporary_name(beside)


def test_the_rejected_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    table, taken = rejected_rows(tmp_path)
    path = intake.rejected_path(table.path)

    intake.write_rejected(table, taken.rejected, path)

    assert path.stat().st_mode & 0o777 == 0o600


async def test_a_product_named_like_a_formula_is_text_in_the_report_workbook(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await catalogue.add_product(sessions, "EVIL", HYPERLINK, Money.of("1.00", "EUR"), stock=0)
    async with Shop.open(settings) as shop:
        report = await shop.report()

    workbook = load_workbook(io.BytesIO(report_xlsx(report)))

    rows = list(workbook["Stock"].iter_rows(min_row=2))
    [evil] = [row for row in rows if row[0].value == "EVIL"]
    assert evil[1].value == HYPERLINK
    assert evil[1].data_type == "s"
    assert evil[3].value == 0
    assert evil[3].data_type == "n"
    with zipfile.ZipFile(io.BytesIO(report_xlsx(report))) as file:
        sheets = [file.read(name) for name in file.namelist() if name.startswith("xl/worksheets/")]
    assert not any(b"<f>" in sheet for sheet in sheets), "a cell of the workbook is a formula"


async def test_text_in_the_report_csv_that_would_start_a_formula_is_written_as_text(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with Shop.open(settings) as shop:
        report = await shop.report()
    planted = StockItem(sku="-EVIL", name=HYPERLINK, warehouse="main", available=-2)
    report = report.model_copy(update={"stock": report.stock.model_copy(update={"low": [planted]})})

    rows = list(csv.reader(io.StringIO(report_csv(report).decode("utf-8"))))

    assert ["stock", "'-EVIL@main", "", "low", "-2"] in rows
