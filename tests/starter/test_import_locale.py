"""Order files as other locales and programs write them: decimal commas, UTF-16 and files that are no UTF-8."""

from __future__ import annotations

import codecs
import csv
import io
import json
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from domain.money import Money
from domain.order import Channel
from settings import Settings
from starter import intake
from starter.cli import app
from starter.intake import FileFormat, Intake, IntakeError, Layout
from store import catalogue
from tests.starter.test_cli import one_error_line
from tests.starter.test_intake import (
    CATALOGUE,
    SPREADSHEET_HEADER,
    reasons,
    spreadsheet_row,
    write_csv,
    write_xlsx,
)

SAVE_AS_UTF8 = 'save it as UTF-8 ("CSV UTF-8" in spreadsheet programs)'


def take(path: Path, decimal_comma: bool | None = None) -> Intake:
    """Read and check a spreadsheet-layout file as `oms order import` does, against the demo catalogue."""
    table = intake.read_table(path, intake.file_format(path), Layout.SPREADSHEET, decimal_comma=decimal_comma)
    return intake.take_in(table, Layout.SPREADSHEET, Channel.SPREADSHEET, CATALOGUE, "EUR")


def csv_text(rows: list[list[Any]], delimiter: str = ",") -> str:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue()


def write_encoded(path: Path, rows: list[list[Any]], encoding: str, mark: bytes = b"", delimiter: str = ",") -> Path:
    """A CSV file in `encoding`, after the byte-order mark `mark` (none unless given)."""
    path.write_bytes(mark + csv_text(rows, delimiter).encode(encoding))
    return path


def set_xlsx_value(path: Path, cell: str, value: str) -> Path:
    """Put `value` in number cell `cell` as the sheet's XML spells it, past what openpyxl would write."""
    with zipfile.ZipFile(path) as workbook:
        files = {name: workbook.read(name) for name in workbook.namelist()}
    sheet = files["xl/worksheets/sheet1.xml"].decode()
    start = sheet.index(f'<c r="{cell}"')
    end = sheet.index("</c>", start) + len("</c>")
    files["xl/worksheets/sheet1.xml"] = (
        sheet[:start] + f'<c r="{cell}" t="n"><v>{value}</v></c>' + sheet[end:]
    ).encode()
    with zipfile.ZipFile(path, "w") as workbook:
        for name, data in files.items():
            workbook.writestr(name, data)
    return path


def unit_prices(taken: Intake) -> list[Decimal]:
    return [line.unit_price.amount for candidate in taken.candidates for line in candidate.order.lines]


# --- decimal commas -------------------------------------------------------------------------------------------


def test_a_german_semicolon_csv_with_decimal_commas_is_read_as_euros_and_cents(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "bestellungen.csv",
        SPREADSHEET_HEADER,
        [
            spreadsheet_row("1001", "MUG-ENAMEL", qty="2", unit_price="14,90", shipping="4,90"),
            spreadsheet_row("1001", "TOTE-CANVAS", unit_price="12,5"),
        ],
        delimiter=";",
    )

    taken = take(path)

    assert reasons(taken) == {}
    (candidate,) = taken.candidates
    assert unit_prices(taken) == [Decimal("14.90"), Decimal("12.50")]
    assert candidate.order.shipping.amount == Decimal("4.90")
    assert candidate.order.total.amount == Decimal("47.20")


def test_a_semicolon_csv_reads_dots_as_thousands_separators_before_a_decimal_comma(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "bestellungen.csv",
        SPREADSHEET_HEADER,
        [
            spreadsheet_row("1001", "MUG-ENAMEL", unit_price="1.234,50"),
            spreadsheet_row("1002", "TOTE-CANVAS", unit_price="1234,5"),
            spreadsheet_row("1003", "NOTEBOOK-A5", unit_price="12.345,67"),
        ],
        delimiter=";",
    )

    assert unit_prices(take(path)) == [Decimal("1234.50"), Decimal("1234.50"), Decimal("12345.67")]


def test_a_semicolon_csv_with_decimal_points_is_still_read_as_before(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        SPREADSHEET_HEADER,
        [spreadsheet_row("1001", unit_price="14.90"), spreadsheet_row("1002", unit_price="1234.5")],
        delimiter=";",
    )

    assert unit_prices(take(path)) == [Decimal("14.90"), Decimal("1234.50")]


def test_a_semicolon_csv_refuses_an_amount_whose_dot_may_separate_thousands_or_decimals(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "bestellungen.csv",
        SPREADSHEET_HEADER,
        [spreadsheet_row("1001"), spreadsheet_row("1002", unit_price="1.234")],
        delimiter=";",
    )

    taken = take(path)

    assert reasons(taken) == {
        3: "Unit price: '1.234' is ambiguous: a dot before three digits may separate thousands or decimals; "
        "write 1234 or 1.234,00"
    }
    assert [candidate.order_id for candidate in taken.candidates] == ["spreadsheet-1001"]


def test_a_semicolon_csv_refuses_an_amount_whose_comma_may_separate_thousands_or_decimals(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        SPREADSHEET_HEADER,
        [spreadsheet_row("1001"), spreadsheet_row("1002", unit_price="1,234")],
        delimiter=";",
    )

    taken = take(path)

    assert reasons(taken) == {
        3: "Unit price: '1,234' is ambiguous: a comma before three digits may separate thousands or decimals; "
        "write 1234, or import with --decimal-comma to read it as 1.234"
    }
    assert [candidate.order_id for candidate in taken.candidates] == ["spreadsheet-1001"]


def test_a_comma_csv_never_reads_1_234_as_thousands_or_decimals_without_the_option(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        SPREADSHEET_HEADER,
        [spreadsheet_row("1001"), spreadsheet_row("1002", unit_price="1,234")],
    )

    taken = take(path)

    assert reasons(taken) == {
        3: "Unit price: '1,234' is not a decimal number (a comma before three digits may separate thousands "
        "or decimals: write 1234 or 1.234)"
    }
    assert [candidate.order_id for candidate in taken.candidates] == ["spreadsheet-1001"]


@pytest.mark.parametrize(
    ("price", "reason"),
    [
        ("14,90", "Unit price: '14,90' is not a decimal number (use a decimal point: 14.90)"),
        ("1.234,50", "Unit price: '1.234,50' is not a decimal number (use a decimal point: 1234.50)"),
        ("1,234.50", "Unit price: '1,234.50' is not a decimal number (write it without thousands separators: 1234.50)"),
    ],
)
def test_a_comma_csv_refuses_a_decimal_comma_or_thousands_separator_without_the_option(
    tmp_path: Path, price: str, reason: str
) -> None:
    path = write_csv(tmp_path / "orders.csv", SPREADSHEET_HEADER, [spreadsheet_row("1001", unit_price=price)])

    assert reasons(take(path)) == {2: reason}


@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_decimal_comma_reads_quoted_decimal_commas_whatever_the_delimiter(tmp_path: Path, delimiter: str) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        SPREADSHEET_HEADER,
        [
            spreadsheet_row("1001", "MUG-ENAMEL", unit_price="14,90", shipping="4,90"),
            spreadsheet_row("1002", "TOTE-CANVAS", unit_price="1.234,50"),
        ],
        delimiter=delimiter,
    )

    taken = take(path, decimal_comma=True)

    assert reasons(taken) == {}
    assert unit_prices(taken) == [Decimal("14.90"), Decimal("1234.50")]
    assert taken.candidates[0].order.shipping.amount == Decimal("4.90")


def test_decimal_comma_reads_a_comma_before_three_digits_as_decimals(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        SPREADSHEET_HEADER,
        [spreadsheet_row("1001", unit_price="1,234", currency="KWD"), spreadsheet_row("1002", unit_price="1,234")],
    )

    taken = take(path, decimal_comma=True)

    assert unit_prices(taken) == [Decimal("1.234")]
    assert reasons(taken) == {3: "Unit price: 1,234 has more decimals than EUR allows (2)"}


def test_decimal_comma_still_refuses_a_dot_that_may_separate_thousands(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", SPREADSHEET_HEADER, [spreadsheet_row("1001", unit_price="1.234")])

    assert reasons(take(path, decimal_comma=True)) == {
        2: "Unit price: '1.234' is ambiguous: a dot before three digits may separate thousands or decimals; "
        "write 1234 or 1.234,00"
    }


def test_decimal_comma_is_refused_for_a_workbook_whose_number_cells_have_no_decimal_mark(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "orders.xlsx", [SPREADSHEET_HEADER, spreadsheet_row("1001")])

    with pytest.raises(IntakeError) as refused:
        take(path, decimal_comma=True)

    assert str(refused.value) == f"--decimal-comma is for CSV files, and {path} is read as XLSX"


@pytest.fixture
async def shop_env(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """A shop whose catalogue sells the enamel mug, so an import's row is checked right down to its price."""
    await catalogue.add_product(sessions, "MUG-ENAMEL", "Enamel mug", Money.of("14.90", "EUR"), stock=10)
    return {"OMS_VAR_DIR": str(settings.var_dir)}


def test_oms_order_import_decimal_comma_reads_a_comma_csv_amount_as_a_decimal(
    tmp_path: Path, shop_env: dict[str, str]
) -> None:
    # More decimals than euros have: rejected after it is read as a number, before Temporal is needed.
    path = write_csv(tmp_path / "orders.csv", SPREADSHEET_HEADER, [spreadsheet_row("1001", unit_price="14,905")])
    command = ["order", "import", str(path), "--channel", "spreadsheet"]

    with_option = CliRunner().invoke(app, [*command, "--decimal-comma"], env=shop_env)
    without = CliRunner().invoke(app, command, env=shop_env)

    assert with_option.exit_code == 1
    assert with_option.stdout.splitlines()[0] == "row 2: Unit price: 14,905 has more decimals than EUR allows (2)"
    assert without.stdout.splitlines()[0] == (
        "row 2: Unit price: '14,905' is not a decimal number (a comma before three digits may separate thousands "
        "or decimals: write 14905 or 14.905)"
    )


def test_oms_order_import_explains_decimal_comma_in_its_help() -> None:
    result = CliRunner().invoke(app, ["order", "import", "--help"], env={"COLUMNS": "200", "TERM": "dumb"})

    assert result.exit_code == 0
    assert "--decimal-comma" in result.stdout
    assert "14,90" in result.stdout


# --- amounts that are no finite decimal -----------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";"])
@pytest.mark.parametrize(
    ("price", "reason"),
    [
        ("1e309", "Unit price: '1e309' is not a decimal number"),
        ("1E+5000", "Unit price: '1E+5000' is not a decimal number"),
        ("NaN", "Unit price: 'NaN' is not a decimal number"),
        ("Infinity", "Unit price: 'Infinity' is not a decimal number"),
        ("-0", "Unit price: must not be negative, got -0"),
        ("1_000", "Unit price: '1_000' is not a decimal number"),
        ("9" * 16, f"Unit price: {'9' * 16} is too large: an amount has at most 15 digits before its decimals"),
        (
            "9" * 5000,
            f"Unit price: {'9' * 40}… is too large: an amount has at most 15 digits before its decimals",
        ),
    ],
)
def test_an_amount_that_is_no_finite_decimal_of_sensible_size_is_a_rejected_row(
    tmp_path: Path, delimiter: str, price: str, reason: str
) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        SPREADSHEET_HEADER,
        [spreadsheet_row("1001"), spreadsheet_row("1002", unit_price=price)],
        delimiter=delimiter,
    )

    taken = take(path)

    assert reasons(taken) == {3: reason}
    assert [candidate.order_id for candidate in taken.candidates] == ["spreadsheet-1001"]


@pytest.mark.parametrize(
    ("price", "reason"),
    [
        ("9" * 5000, "invalid JSON: a number has more digits than any order needs"),
        ("1e309", "Unit price: '1E+309' is not a decimal number"),
        ("1e999999999", "Unit price: '1E+999999999' is not a decimal number"),
    ],
)
def test_a_json_lines_price_beyond_any_number_is_a_rejected_row(tmp_path: Path, price: str, reason: str) -> None:
    good = dict(zip(SPREADSHEET_HEADER, spreadsheet_row("1001"), strict=True))
    bad = json.dumps(dict(zip(SPREADSHEET_HEADER, spreadsheet_row("1002"), strict=True))).replace(
        '"Unit price": "14.90"', f'"Unit price": {price}'
    )
    path = tmp_path / "orders.jsonl"
    path.write_text(f"{json.dumps(good)}\n{bad}\n", encoding="utf-8")

    taken = take(path)

    assert reasons(taken) == {2: reason}
    assert [candidate.order_id for candidate in taken.candidates] == ["spreadsheet-1001"]


def test_a_web_order_line_with_a_number_of_thousands_of_digits_is_a_rejected_row(tmp_path: Path) -> None:
    path = tmp_path / "web.jsonl"
    path.write_text('{"external_id": "1001", "lines": [{"quantity": ' + "9" * 5000 + "}]}\n", encoding="utf-8")

    table = intake.read_table(path, FileFormat.JSONL, Layout.WEB)
    taken = intake.take_in(table, Layout.WEB, Channel.WEB, CATALOGUE, "EUR")

    assert reasons(taken) == {1: "invalid JSON: a number has more digits than any order needs"}


def test_an_xlsx_price_cell_past_what_a_float_holds_is_a_rejected_row(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "orders.xlsx",
        [SPREADSHEET_HEADER, spreadsheet_row("1001", unit_price=12.5), spreadsheet_row("1002", unit_price=1e100)],
    )
    set_xlsx_value(path, "L2", "1E+309")

    assert reasons(take(path)) == {
        2: "Unit price: 'inf' is not a decimal number",
        3: f"Unit price: 1{'0' * 39}… is too large: an amount has at most 15 digits before its decimals",
    }


def test_an_xlsx_number_cell_openpyxl_cannot_read_refuses_the_file_in_one_line(tmp_path: Path) -> None:
    path = set_xlsx_value(
        write_xlsx(tmp_path / "orders.xlsx", [SPREADSHEET_HEADER, spreadsheet_row("1001", qty=1)]), "K2", "9" * 5000
    )

    with pytest.raises(IntakeError) as refused:
        take(path)

    assert str(refused.value) == (
        f"cannot read {path}: a cell of its first sheet cannot be read "
        "(Exceeds the limit (4300 digits) for integer string conversion)"
    )


# --- encodings ------------------------------------------------------------------------------------------------


def test_excels_unicode_text_export_in_utf16_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    rows = [SPREADSHEET_HEADER, spreadsheet_row("1001", customer="Jürgen Müller", city="Köln", unit_price="14.90")]
    path = write_encoded(tmp_path / "orders.txt", rows, "utf-16-le", codecs.BOM_UTF16_LE, delimiter="\t")

    (candidate,) = take(path).candidates

    assert candidate.order.customer.name == "Jürgen Müller"
    assert candidate.order.shipping_address.city == "Köln"
    assert unit_prices(take(path)) == [Decimal("14.90")]


@pytest.mark.parametrize(
    ("encoding", "mark"),
    [("utf-16-be", codecs.BOM_UTF16_BE), ("utf-32-le", codecs.BOM_UTF32_LE), ("utf-32-be", codecs.BOM_UTF32_BE)],
)
def test_a_csv_in_utf16_or_utf32_with_a_byte_order_mark_is_read(tmp_path: Path, encoding: str, mark: bytes) -> None:
    rows = [SPREADSHEET_HEADER, spreadsheet_row("1001", customer="Jürgen Müller")]
    path = write_encoded(tmp_path / "orders.csv", rows, encoding, mark)

    (candidate,) = take(path).candidates

    assert candidate.order.customer.name == "Jürgen Müller"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_a_utf16_csv_without_a_byte_order_mark_is_read_not_refused_for_lacking_columns(
    tmp_path: Path, encoding: str
) -> None:
    rows = [SPREADSHEET_HEADER, spreadsheet_row("1001", customer="Jürgen Müller", unit_price="14,90")]
    path = write_encoded(tmp_path / "orders.csv", rows, encoding, delimiter=";")

    taken = take(path)

    assert [candidate.order.customer.name for candidate in taken.candidates] == ["Jürgen Müller"]
    assert unit_prices(taken) == [Decimal("14.90")]


def test_a_utf16_csv_without_a_mark_is_told_apart_despite_a_few_characters_beyond_latin1(tmp_path: Path) -> None:
    rows = [
        SPREADSHEET_HEADER,
        spreadsheet_row("1001", customer="Łukasz Wiśniewski", product="Mug \u2013 enamel, €"),
    ]
    path = write_encoded(tmp_path / "orders.csv", rows, "utf-16-le")

    (candidate,) = take(path).candidates

    assert candidate.order.customer.name == "Łukasz Wiśniewski"
    assert candidate.order.lines[0].name == "Mug \u2013 enamel, €"


def test_a_utf16_json_lines_file_is_read(tmp_path: Path) -> None:
    line = json.dumps(dict(zip(SPREADSHEET_HEADER, spreadsheet_row("1001", customer="Jürgen Müller"), strict=True)))
    path = tmp_path / "orders.jsonl"
    path.write_bytes(codecs.BOM_UTF16_LE + f"{line}\n".encode("utf-16-le"))

    assert [candidate.order.customer.name for candidate in take(path).candidates] == ["Jürgen Müller"]


def test_a_latin1_csv_is_refused_in_one_line_naming_the_file_and_how_to_save_it(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    header = ",".join(SPREADSHEET_HEADER).encode()
    path.write_bytes(header + b"\r\n1001,2024-11-28,J\xfcrgen M\xfcller\r\n")

    result = CliRunner().invoke(app, ["order", "import", str(path), "--channel", "spreadsheet"])

    assert result.exit_code == 1
    assert one_error_line(result.stderr) == (
        f"cannot read {path}: not UTF-8 text (byte 0xfc at offset {len(header) + 19}); {SAVE_AS_UTF8}"
    )


def test_a_utf8_file_with_a_byte_order_mark_names_the_bad_byte_at_its_offset_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"Order number\r\nM\xfcller\r\n")

    with pytest.raises(IntakeError) as refused:
        take(path)

    assert str(refused.value) == f"cannot read {path}: not UTF-8 text (byte 0xfc at offset 18); {SAVE_AS_UTF8}"


def test_a_file_with_nul_bytes_that_is_not_utf16_is_refused(tmp_path: Path) -> None:
    # An old Excel workbook (.xls) saved under a .csv name: binary, with NULs here and there.
    path = tmp_path / "orders.csv"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"Order number,SKU\0\0\0\x3e\0\x03\0" + bytes(range(256)))

    with pytest.raises(IntakeError) as refused:
        take(path)

    assert str(refused.value) == (
        f"cannot read {path}: not UTF-8 or UTF-16 text (a NUL byte at offset 24); {SAVE_AS_UTF8}"
    )


def test_a_utf32_csv_without_a_byte_order_mark_is_refused_for_its_nul_bytes(tmp_path: Path) -> None:
    path = write_encoded(tmp_path / "orders.csv", [SPREADSHEET_HEADER, spreadsheet_row("1001")], "utf-32-le")

    with pytest.raises(IntakeError) as refused:
        take(path)

    assert str(refused.value) == (
        f"cannot read {path}: not UTF-8 or UTF-16 text (a NUL byte at offset 1); {SAVE_AS_UTF8}"
    )


def test_a_utf16_csv_cut_off_in_the_middle_of_a_character_is_refused_in_one_line(tmp_path: Path) -> None:
    path = write_encoded(tmp_path / "orders.csv", [SPREADSHEET_HEADER, spreadsheet_row("1001")], "utf-16-le")
    path.write_bytes(path.read_bytes()[:-1])
    size = path.stat().st_size

    with pytest.raises(IntakeError) as refused:
        take(path)

    assert str(refused.value) == (
        f"cannot read {path}: not UTF-16 text (truncated data at offset {size - 1}); {SAVE_AS_UTF8}"
    )
