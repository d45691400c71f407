"""A file to import is read within bounds: a workbook's far columns are not kept, and a file has a most rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from starter import intake
from starter.intake import MAX_IMPORT_COLUMNS, MAX_IMPORT_ROWS, IntakeError, Layout
from tests.starter.test_intake import SPREADSHEET_HEADER, spreadsheet_row, take, write_csv


def test_a_workbook_with_a_cell_in_its_last_column_on_every_row_keeps_only_the_columns_it_can_use(
    tmp_path: Path,
) -> None:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(SPREADSHEET_HEADER)
    for number in range(200):
        row = spreadsheet_row(f"2024-{number}")
        # Column XFD, the last there is: every row reads 16,384 cells wide.
        sheet.append([*row, *[None] * (16_383 - len(row)), "stray"])
    path = tmp_path / "wide.xlsx"
    workbook.save(path)

    table = intake.read_table(path, intake.file_format(path), Layout.SPREADSHEET)
    taken = take(path, Layout.SPREADSHEET)

    assert len(table.rows) == 200
    assert max(len(row.cells) for row in table.rows) <= MAX_IMPORT_COLUMNS
    assert len(taken.candidates) == 200
    assert not taken.rejected


def test_a_row_with_a_value_past_the_header_is_still_rejected_for_it(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "extra.csv", SPREADSHEET_HEADER, [[*spreadsheet_row("2024-1"), "", "surplus"]])

    [rejected] = take(path, Layout.SPREADSHEET).rejected

    assert "has 1 more value than the header has columns" in rejected.reason


def test_a_file_of_more_rows_than_an_import_takes_is_refused_in_one_line(tmp_path: Path) -> None:
    rows = [spreadsheet_row(f"2024-{number}") for number in range(MAX_IMPORT_ROWS)]
    path = write_csv(tmp_path / "huge.csv", SPREADSHEET_HEADER, rows)

    with pytest.raises(IntakeError) as refused:
        intake.read_table(path, intake.file_format(path), Layout.SPREADSHEET)

    assert str(refused.value) == f"cannot import {path}: it has more than 100,000 rows; split it into smaller files"


def test_blank_rows_do_not_count_towards_the_most_rows(tmp_path: Path) -> None:
    rows = [[""] * len(SPREADSHEET_HEADER)] * (MAX_IMPORT_ROWS + 10) + [spreadsheet_row("2024-1")]
    path = write_csv(tmp_path / "sparse.csv", SPREADSHEET_HEADER, rows)

    table = intake.read_table(path, intake.file_format(path), Layout.SPREADSHEET)

    assert [row.number for row in table.rows] == [MAX_IMPORT_ROWS + 12]
