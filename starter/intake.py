"""Channel intake: read an order file (JSON lines, CSV, XLSX) and turn its rows into orders and rejected rows.

Pure apart from reading the file: the catalogue comes in as a snapshot, so every rule here runs without Temporal
or a database. Each order is checked the way `oms order place` checks it (`starter.placement.parse_order`), and
each problem is told in the file's own terms: its row number as a spreadsheet shows it and the column as the
header spells it.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from pydantic import ValidationError

from domain.cards import card_numbers, card_numbers_in_payment
from domain.money import MINOR_UNITS, Money, quantize
from domain.order import Channel, Order, PaymentMethod, normal_sku
from starter import spreadsheets
from starter.placement import OrderInputError, parse_order
from store.catalogue import CatalogueItem

# Excel keeps 15 significant digits; anything past them in a float cell is binary noise (0.30000000000000004).
EXCEL_DIGITS = 15

# How far down a sheet its header may start, below a title and notes.
HEADER_SEARCH_ROWS = 10
# Rows (not blank) one file may hold: far more than a day's orders of any shop that imports files, and few enough
# that a file is read whole, as it must be before anything is placed.
MAX_IMPORT_ROWS = 100_000
# Columns of a workbook that are read: column IV, as far as spreadsheets once went, and far past any layout's header.
MAX_IMPORT_COLUMNS = 256

# Digits an amount may have before its decimal mark: more than any price or fee, and few enough that rounding it to
# the currency's minor unit stays exact within Decimal's 28 digits (`1e309` would make the rounding itself fail).
AMOUNT_DIGITS = 15
# The most of a cell a message repeats: a runaway cell (a million digits) still makes a one-line reason.
SHOWN_CHARACTERS = 40
# A JSON number with more digits than this is kept as written (`1E+400`) rather than written out.
WRITTEN_OUT_DIGITS = 100
# Bytes of a file looked at to tell UTF-16 without a byte-order mark: its header and first rows.
ENCODING_SAMPLE = 512
SAVE_AS_UTF8 = 'save it as UTF-8 ("CSV UTF-8" in spreadsheet programs)'

# Columns the rejected-rows file adds; an older rejected file being re-imported has them already.
ROW_COLUMN = "row"
REASON_COLUMN = "reason"
# The one column of a JSON lines file read for the web layout: the order's JSON as written.
JSON_COLUMN = "json"


class IntakeError(Exception):
    """The file as a whole cannot be imported; the message is the one line the operator sees."""


class FileFormat(StrEnum):
    """How the file is written (`--format`)."""

    JSONL = "jsonl"
    CSV = "csv"
    XLSX = "xlsx"


class Layout(StrEnum):
    """How a file's rows map to orders (`--mapping`)."""

    WEB = "web"
    MARKETPLACE = "marketplace"
    SPREADSHEET = "spreadsheet"


class DecimalMark(StrEnum):
    """How a file writes the decimals of its amounts."""

    # 14.90, as programs and JSON write it; every comma is refused.
    POINT = "point"
    # `--decimal-comma`: 14,90 and 1.234,50; a comma is the decimal mark even before three digits (1,234 = 1.234).
    COMMA = "comma"
    # A ';' file, written by a spreadsheet program of a decimal-comma locale mostly, but not always: read as COMMA,
    # except that 1,234 is refused, as a decimal-point program means 1234 by it.
    GUESSED_COMMA = "guessed comma"


EXTENSIONS: dict[str, FileFormat] = {
    ".jsonl": FileFormat.JSONL,
    ".ndjson": FileFormat.JSONL,
    ".json": FileFormat.JSONL,
    ".csv": FileFormat.CSV,
    ".tsv": FileFormat.CSV,
    ".txt": FileFormat.CSV,
    ".xlsx": FileFormat.XLSX,
}

# Point of sale and phone orders were kept by hand, like the old spreadsheet.
DEFAULT_LAYOUT: dict[Channel, Layout] = {
    Channel.WEB: Layout.WEB,
    Channel.MARKETPLACE: Layout.MARKETPLACE,
    Channel.SPREADSHEET: Layout.SPREADSHEET,
    Channel.POS: Layout.SPREADSHEET,
    Channel.PHONE: Layout.SPREADSHEET,
}


def file_format(path: Path, wanted: FileFormat | None = None) -> FileFormat:
    """The file's format: `wanted`, or what its extension says."""
    if wanted is not None:
        return wanted
    found = EXTENSIONS.get(path.suffix.lower())
    if found is None:
        suffix = f"extension {path.suffix!r}" if path.suffix else "no extension"
        raise IntakeError(f"cannot tell the format of {path} from its {suffix}: use .jsonl, .csv or .xlsx, or --format")
    return found


def rejected_path(path: Path) -> Path:
    """Where the rejected rows of `path` go: beside it, `orders.csv` -> `orders.rejected.csv`."""
    return path.with_name(f"{path.stem}.rejected.csv")


# --- reading ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceRow:
    """One row as read: its number as the operator sees it and its cells as text, in column order."""

    number: int
    cells: tuple[str, ...]
    # Set when the row cannot be read as a row at all (bad JSON, more values than columns).
    problem: str | None = None

    def cell(self, index: int) -> str:
        """The cell in column `index`, stripped; blank when the row is short."""
        return self.cells[index].strip() if index < len(self.cells) else ""

    @property
    def key(self) -> tuple[str, ...]:
        """What makes two rows the same row: every cell, ignoring surrounding spaces and trailing blanks."""
        if self.problem and not any(cell.strip() for cell in self.cells):
            return (f"\0unreadable row {self.number}",)  # nothing was read: not the same as any other row
        cells = [cell.strip() for cell in self.cells]
        while cells and not cells[-1]:
            cells.pop()
        return tuple(cells)


@dataclass(frozen=True)
class SourceTable:
    """A file's header and its non-blank rows."""

    path: Path
    file_format: FileFormat
    columns: tuple[str, ...]
    rows: tuple[SourceRow, ...]
    decimal_mark: DecimalMark = DecimalMark.POINT


def read_table(path: Path, wanted: FileFormat, layout: Layout, *, decimal_comma: bool = False) -> SourceTable:
    """Read the whole file before anything is placed; `IntakeError` for a file that cannot be read or is empty.

    `decimal_comma` reads a CSV file's amounts with a decimal comma whatever its delimiter (else only a ';' file
    is, and an amount that reads two ways there is refused).
    """
    forced = decimal_comma
    if forced and wanted is not FileFormat.CSV:
        # Number cells and JSON numbers carry no decimal mark to read; ignoring the option would hide the mistake.
        raise IntakeError(f"--decimal-comma is for CSV files, and {path} is read as {wanted.value.upper()}")
    decimal_mark = DecimalMark.POINT
    if wanted is FileFormat.XLSX:
        columns, rows = _read_xlsx(path, layout)
    elif wanted is FileFormat.CSV:
        columns, rows, delimiter = _read_csv(path, layout)
        if forced:
            decimal_mark = DecimalMark.COMMA
        elif delimiter == ";":
            decimal_mark = DecimalMark.GUESSED_COMMA
    elif layout is Layout.WEB:
        columns, rows = _read_order_lines(path)
    else:
        columns, rows = _read_record_lines(path)
    if not rows:
        raise IntakeError(f"{path} has no orders: it is empty" if not columns else f"{path} has a header but no rows")
    return SourceTable(path=path, file_format=wanted, columns=columns, rows=tuple(rows), decimal_mark=decimal_mark)


# Byte-order marks and the codec that reads what follows; UTF-32's first, as UTF-16's mark begins UTF-32 LE's.
_BYTE_ORDER_MARKS: tuple[tuple[bytes, str, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    # Spreadsheet programs start their "CSV UTF-8" with a byte-order mark.
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    # Excel's "Unicode text" is UTF-16 LE with a byte-order mark.
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)


def _text(path: Path) -> str:
    """The file as text: UTF-8, or UTF-16 or UTF-32 when its start says so; `IntakeError` naming what it is not."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise IntakeError(f"cannot read {path}: {error.strerror or error}") from None
    start, codec, name = next(
        ((len(mark), codec, name) for mark, codec, name in _BYTE_ORDER_MARKS if data.startswith(mark)),
        (0, "utf-8", "UTF-8"),
    )
    if not start:
        without_mark = _utf16_without_mark(data[:ENCODING_SAMPLE])
        if without_mark is not None:
            codec, name = without_mark, "UTF-16"
        elif b"\0" in data:
            # Valid UTF-8 all the same, but no order file holds one: a binary file, or UTF-16 past telling.
            raise IntakeError(
                f"cannot read {path}: not UTF-8 or UTF-16 text (a NUL byte at offset {data.index(0)}); {SAVE_AS_UTF8}"
            )
    try:
        text = data[start:].decode(codec)
    except UnicodeDecodeError as error:
        offset = start + error.start
        found = f"byte 0x{data[offset]:02x}" if name == "UTF-8" else error.reason
        raise IntakeError(f"cannot read {path}: not {name} text ({found} at offset {offset}); {SAVE_AS_UTF8}") from None
    if "\0" in text:
        raise IntakeError(f"cannot read {path}: not {name} text (it holds NUL characters); {SAVE_AS_UTF8}")
    return text


def _utf16_without_mark(sample: bytes) -> str | None:
    """The UTF-16 codec of a file without a byte-order mark, told by its NUL bytes; None when it is not UTF-16.

    Latin letters, digits and punctuation in UTF-16 are a NUL and a byte, LE with the NUL second. Most pairs being
    so is enough: a few characters beyond Latin-1 (a euro sign, a Polish name) have no NUL.
    """
    pairs = len(sample) // 2
    if not pairs:
        return None
    even, odd = sample[0 : pairs * 2 : 2].count(0), sample[1 : pairs * 2 : 2].count(0)
    if odd * 4 >= pairs * 3 and even * 8 < pairs:
        return "utf-16-le"
    if even * 4 >= pairs * 3 and odd * 8 < pairs:
        return "utf-16-be"
    return None


def _read_csv(path: Path, layout: Layout) -> tuple[tuple[str, ...], list[SourceRow], str]:
    """The header, the rows and the delimiter, which tells how the file's amounts are likely written."""
    text = _text(path)
    first = next((line for line in text.splitlines() if line.strip()), "")
    # Exports use commas, spreadsheets in many locales semicolons, marketplace reports often tabs.
    delimiter = max(",;\t", key=first.count) if first else ","
    try:
        # The row number is the record's: what a spreadsheet program shows, with the header as row 1.
        records = _kept(path, enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1))
    except csv.Error as error:
        raise IntakeError(f"cannot read {path}: {error}") from None
    columns, rows = _tabular(records, layout, delimiter)
    return columns, rows, delimiter


def _kept(path: Path, records: Iterable[tuple[int, Sequence[str]]]) -> list[tuple[int, Sequence[str]]]:
    """The rows that hold anything, each without its empty cells at the end, read one at a time.

    A workbook reads every row as wide as its widest: one cell in column XFD makes each row 16,384 cells, which kept
    as read took gigabytes. Refuses a file of more than `MAX_IMPORT_ROWS` rows.
    """
    kept: list[tuple[int, Sequence[str]]] = []
    for number, cells in records:
        end = len(cells)
        while end and not cells[end - 1].strip():
            end -= 1
        if not end:
            continue
        if len(kept) == MAX_IMPORT_ROWS:
            raise IntakeError(
                f"cannot import {path}: it has more than {MAX_IMPORT_ROWS:,} rows; split it into smaller files"
            )
        kept.append((number, tuple(cells[:end])))
    return kept


def _read_xlsx(path: Path, layout: Layout) -> tuple[tuple[str, ...], list[SourceRow]]:
    if not path.is_file():
        raise IntakeError(f"cannot read {path}: {'is a directory' if path.is_dir() else 'no such file'}")
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise IntakeError(f"cannot read {path}: not an XLSX workbook ({error})") from None
    except OSError as error:
        raise IntakeError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        sheet = workbook.worksheets[0]
        # Stored dimensions are often wrong; without them every row is read, numbered as the sheet numbers it.
        sheet.reset_dimensions()
        records = _kept(
            path,
            (
                # Cut to the columns a file can use before converting them; the rest are past any header.
                (number, [_cell_text(value) for value in values[:MAX_IMPORT_COLUMNS]])
                for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
            ),
        )
    except ValueError as error:
        # openpyxl converts each number cell as it reads it: `nan`, or an integer of thousands of digits, stops it.
        # What it says up to a colon names the problem; after it may come the cell's whole value.
        reason = _shown(str(error).split(":")[0], 2 * SHOWN_CHARACTERS)
        raise IntakeError(f"cannot read {path}: a cell of its first sheet cannot be read ({reason})") from None
    finally:
        workbook.close()
    return _tabular(records, layout, None)


def _cell_text(value: object) -> str:
    """A spreadsheet cell as the text it shows; numbers exactly, never through a float's noise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)  # `inf`: refused as the amount or quantity it stands in for
        if value.is_integer() and abs(value) < 10**EXCEL_DIGITS:
            return str(int(value))
        # repr is the shortest text that reads back as the same float; Excel's 15 digits drop the noise after.
        exact = Decimal(repr(value))
        rounded = exact.quantize(Decimal(1).scaleb(exact.adjusted() - EXCEL_DIGITS + 1)) if exact else exact
        return format(rounded.normalize(), "f")
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _tabular(
    records: Sequence[tuple[int, Sequence[str]]], layout: Layout, delimiter: str | None
) -> tuple[tuple[str, ...], list[SourceRow]]:
    """The header and the non-blank rows after it.

    The header is the first row naming the layout's order number column, so a title row above it ("Orders
    2024") is passed over; without such a row it is the first non-blank row, and the missing columns are named.
    """
    filled = [(number, cells) for number, cells in records if any(cell.strip() for cell in cells)]
    if not filled:
        return (), []
    order_column = {
        header_name(name) for column in COLUMNS.get(layout, ()) if column.field == "order" for name in column.names
    }
    start = next(
        (
            position
            for position, (_, cells) in enumerate(filled[:HEADER_SEARCH_ROWS])
            if order_column & {header_name(cell) for cell in cells}
        ),
        0,
    )
    filled = filled[start:]
    _, header = filled[0]
    columns = list(header)
    while columns and not columns[-1].strip():
        columns.pop()
    rows = []
    for number, cells in filled[1:]:
        values = len([cell for cell in cells[len(columns) :] if cell.strip()])
        problem = None
        if values:
            quote = f"; quote values that contain {delimiter!r}" if delimiter else ""
            problem = f"has {values} more value{'s' if values > 1 else ''} than the header has columns{quote}"
        rows.append(SourceRow(number=number, cells=tuple(cells), problem=problem))
    return tuple(column.strip() for column in columns), rows


def _json_lines(path: Path) -> list[tuple[int, str]]:
    # Split on newlines only: str.splitlines would also split inside strings holding U+2028.
    lines = [(number, line.strip()) for number, line in enumerate(_text(path).split("\n"), start=1)]
    filled = [(number, line) for number, line in lines if line]
    if filled:
        try:
            json.loads(filled[0][1])
        except (ValueError, RecursionError):
            _refuse_one_document(path, "\n".join(line for _, line in lines))
    return filled


def _refuse_one_document(path: Path, text: str) -> None:
    """A pretty-printed JSON file is not JSON lines; say so instead of rejecting every line of it."""
    try:
        whole = json.loads(text)
    except (ValueError, RecursionError):
        return
    kind = "array" if isinstance(whole, list) else "document"
    raise IntakeError(
        f"{path} is one JSON {kind}, not JSON lines: write one order per line "
        "(or place a single order with `oms order place`)"
    )


def _read_order_lines(path: Path) -> tuple[tuple[str, ...], list[SourceRow]]:
    lines = _json_lines(path)
    return ((JSON_COLUMN,) if lines else ()), [SourceRow(number, (line,)) for number, line in lines]


def _read_record_lines(path: Path) -> tuple[tuple[str, ...], list[SourceRow]]:
    """JSON lines of flat objects keyed by column names, read like a CSV file with those columns."""
    records: list[tuple[int, dict[str, Any] | None, str | None]] = []
    columns: dict[str, None] = {}
    for number, line in _json_lines(path):
        try:
            data = json.loads(line, parse_float=Decimal)
        except (ValueError, RecursionError) as error:
            records.append((number, None, _json_problem(error)))
            continue
        if not isinstance(data, dict):
            records.append((number, None, f"must be a JSON object, got {_json_type(data)}"))
            continue
        columns.update(dict.fromkeys(str(key).strip() for key in data))
        records.append((number, data, None))
    header = tuple(columns)
    rows = []
    for number, data, problem in records:
        values = {str(key).strip(): value for key, value in (data or {}).items()}
        cells = tuple(_json_text(values.get(column)) for column in header)
        rows.append(SourceRow(number=number, cells=cells, problem=problem))
    return header, rows


def _json_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        # Written out, `1e999999999` would be a billion digits: as written, it is refused as no decimal number.
        return format(value, "f") if abs(value.adjusted()) <= WRITTEN_OUT_DIGITS else str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, default=str)


def _json_problem(error: ValueError | RecursionError) -> str:
    """Why a line is not JSON, as its row's reason."""
    if isinstance(error, json.JSONDecodeError):
        return f"invalid JSON at column {error.colno}: {error.msg}"
    if isinstance(error, RecursionError):
        return "invalid JSON: nested deeper than any order needs"
    # Python refuses to read an integer of thousands of digits (a guard against denial of service).
    return "invalid JSON: a number has more digits than any order needs"


def _json_type(value: object) -> str:
    return {list: "an array", str: "a string", bool: "true or false", type(None): "null"}.get(type(value), "a number")


# --- layouts ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column a layout reads: its field, the header names it goes by (the first is the documented one)."""

    field: str
    names: tuple[str, ...]
    required: bool = False


MARKETPLACE_COLUMNS: tuple[Column, ...] = (
    Column("order", ("order-id",), required=True),
    Column("date", ("purchase-date",)),
    Column("email", ("buyer-email",), required=True),
    Column("customer", ("buyer-name",)),
    Column("recipient", ("recipient-name",), required=True),
    Column("line1", ("ship-address-1",), required=True),
    Column("line2", ("ship-address-2",)),
    Column("postcode", ("ship-postal-code",), required=True),
    Column("city", ("ship-city",), required=True),
    Column("country", ("ship-country",), required=True),
    Column("sku", ("sku",), required=True),
    Column("product", ("product-name",)),
    Column("quantity", ("quantity-purchased",), required=True),
    Column("currency", ("currency",), required=True),
    Column("price", ("item-price",), required=True),
    Column("shipping", ("shipping-price",)),
    Column("payment", ("payment-method",)),
)

SPREADSHEET_COLUMNS: tuple[Column, ...] = (
    Column("order", ("Order number", "Order no"), required=True),
    Column("date", ("Date", "Order date")),
    Column("customer", ("Customer",), required=True),
    Column("email", ("Email", "E-mail"), required=True),
    Column("line1", ("Address",), required=True),
    Column("line2", ("Address 2",)),
    Column("postcode", ("Postcode", "Postal code", "ZIP"), required=True),
    Column("city", ("City",), required=True),
    Column("country", ("Country",), required=True),
    Column("sku", ("SKU",), required=True),
    Column("product", ("Product",)),
    Column("quantity", ("Qty", "Quantity"), required=True),
    Column("price", ("Unit price", "Price")),
    Column("currency", ("Currency",)),
    Column("shipping", ("Shipping",)),
    Column("payment", ("Payment",), required=True),
)

COLUMNS: dict[Layout, tuple[Column, ...]] = {
    Layout.MARKETPLACE: MARKETPLACE_COLUMNS,
    Layout.SPREADSHEET: SPREADSHEET_COLUMNS,
}

# The cells of a tabular row that feed the order's payment: the method, and the email as the PayPal account.
PAYMENT_CELLS = ("payment", "email")

# Order-level fields: every row of an order may repeat them, and rows that fill them must agree.
ORDER_FIELDS = ("date", "customer", "email", "recipient", "line1", "line2", "postcode", "city", "country", "payment")

# What a field of the order (a path of `parse_order`'s problems) is called in a tabular file.
PATH_FIELDS: dict[str, str] = {
    "external_id": "order",
    "customer.name": "customer",
    "customer.email": "email",
    "shipping_address.name": "recipient",
    "shipping_address.line1": "line1",
    "shipping_address.line2": "line2",
    "shipping_address.postal_code": "postcode",
    "shipping_address.city": "city",
    "shipping_address.country": "country",
    "currency": "currency",
    "shipping_fee": "shipping",
    "payment": "payment",
    "sku": "sku",
    "quantity": "quantity",
    "unit_price": "price",
    "unit_price.amount": "price",
    "unit_price.currency": "currency",
    "name": "product",
}

_PROBLEM = re.compile(r"^(?P<path>[a-z_]+(?:\[\d+\])?(?:\.[a-z_]+)*): (?P<message>.*)$", re.DOTALL)
_LINE_PATH = re.compile(r"^lines\[(?P<index>\d+)\]\.(?P<rest>.+)$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")

CARD_REFUSED = "card payments need the payment provider's token, which {layout} files do not carry; use {methods}"
# A card number in a cell of a tabular file; its payment column names a method, its email a PayPal account.
CARD_NUMBER_IN_CELL = "holds a card number; card numbers are not accepted, remove it"
# What the rejected rows file shows instead of a card number.
CARD_NUMBER_REMOVED = "[card number removed]"
SPREADSHEET_METHODS = "bank transfer, invoice, cash on delivery or paypal"

_SPREADSHEET_PAYMENT: dict[str, PaymentMethod] = {
    "bank transfer": PaymentMethod.BANK_TRANSFER,
    "transfer": PaymentMethod.BANK_TRANSFER,
    "bank": PaymentMethod.BANK_TRANSFER,
    "sepa": PaymentMethod.BANK_TRANSFER,
    "invoice": PaymentMethod.INVOICE,
    "cash on delivery": PaymentMethod.CASH_ON_DELIVERY,
    "cod": PaymentMethod.CASH_ON_DELIVERY,
    "cash": PaymentMethod.CASH_ON_DELIVERY,
    "paypal": PaymentMethod.PAYPAL,
}
_MARKETPLACE_PAYMENT: dict[str, PaymentMethod] = {
    "cod": PaymentMethod.CASH_ON_DELIVERY,
    "cash on delivery": PaymentMethod.CASH_ON_DELIVERY,
    "invoice": PaymentMethod.INVOICE,
    "pay by invoice": PaymentMethod.INVOICE,
}
_CARD_WORDS = frozenset({"card", "credit card", "debit card", "creditcard", "visa", "mastercard", "amex"})


def header_name(text: str) -> str:
    """A header as compared: case, spaces, '-', '_' and punctuation do not count (`Order-ID` = `order id`)."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


@dataclass(frozen=True)
class Columns:
    """Where a tabular layout's fields are in one file: field -> column index, and the header as written."""

    index: dict[str, int]
    label: dict[str, str]

    def value(self, row: SourceRow, field_name: str) -> str:
        """The field's cell in `row`, stripped; blank when the file has no such column."""
        position = self.index.get(field_name)
        return row.cell(position) if position is not None else ""


def find_columns(table: SourceTable, layout: Layout) -> Columns:
    """Match the header to the layout; `IntakeError` naming every required column that is missing."""
    if layout is Layout.WEB:
        if table.file_format is not FileFormat.JSONL:
            raise IntakeError(
                f"the web mapping reads JSON lines (one order per line, as `oms order place` takes it); "
                f"{table.path} is {table.file_format.value.upper()}: use --mapping marketplace or spreadsheet"
            )
        return Columns(index={}, label={})
    positions: dict[str, list[int]] = {}
    for position, header in enumerate(table.columns):
        positions.setdefault(header_name(header), []).append(position)
    index: dict[str, int] = {}
    label: dict[str, str] = {}
    missing: list[str] = []
    for column in COLUMNS[layout]:
        found = next((positions[header_name(name)] for name in column.names if header_name(name) in positions), None)
        if found is None:
            if column.required:
                missing.append(column.names[0])
            continue
        if len(found) > 1:
            raise IntakeError(f"{table.path}: column {table.columns[found[0]]!r} appears {len(found)} times")
        index[column.field] = found[0]
        label[column.field] = table.columns[found[0]]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        raise IntakeError(
            f"{table.path} lacks the {noun} {', '.join(missing)} of the {layout.value} mapping "
            "(headers match ignoring case, spaces, '-' and '_')"
        )
    if layout is Layout.SPREADSHEET:
        # The spreadsheet names one person: who ordered is who receives it.
        index["recipient"] = index["customer"]
        label["recipient"] = label["customer"]
    elif "customer" not in index:
        label["customer"] = label["recipient"]
    return Columns(index=index, label=label)


# --- from rows to orders ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rejected:
    """A row that is not placed, and why, in the file's terms; `order` is its order number when known.

    `concealed` are card numbers in the row, as written, that the rejected rows file leaves out.
    """

    row: int
    reason: str
    order: str | None = None
    concealed: tuple[str, ...] = ()


@dataclass(frozen=True)
class RepeatedRow:
    """A row identical to an earlier one of the same file; it is skipped, not placed twice."""

    row: int
    duplicate_of: int


@dataclass(frozen=True)
class Candidate:
    """A valid order and the rows it came from, ready to place."""

    order: Order
    rows: tuple[int, ...]
    # Row of each line, and what the file calls each field and where its value came from, so a problem found
    # at placement (a SKU removed from the catalogue meanwhile) is told in the file's terms too.
    line_rows: tuple[int, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    sources: Mapping[str, int] = field(default_factory=dict)

    @property
    def order_id(self) -> str:
        """The business key the order is placed under."""
        return self.order.order_id

    def rejections(self, problems: Iterable[str]) -> list[Rejected]:
        """Every row of the order rejected because of `problems` (as `OrderInputError` lists them)."""
        located = _locate_all(problems, self.rows, self.line_rows, self.labels, self.sources)
        return _reject_order(self.order.external_id, self.rows, located)


@dataclass(frozen=True)
class Intake:
    """What a file holds: orders to place, rejected rows and rows repeated in the file."""

    candidates: list[Candidate]
    rejected: list[Rejected]
    repeated: list[RepeatedRow]


def take_in(
    table: SourceTable,
    layout: Layout,
    channel: Channel,
    catalogue: Mapping[str, CatalogueItem],
    base_currency: str,
) -> Intake:
    """Check every row; an order is a candidate only if all of its rows are good (all or nothing)."""
    columns = find_columns(table, layout)
    repeated, rows = _without_repeats(table.rows)
    if layout is Layout.WEB:
        candidates, rejected, same_orders = _web_orders(rows, channel, catalogue)
        repeated = sorted([*repeated, *same_orders], key=lambda item: item.row)
    else:
        candidates, rejected = _tabular_orders(table, rows, columns, layout, channel, catalogue, base_currency)
    return Intake(candidates=candidates, rejected=sorted(rejected, key=lambda item: item.row), repeated=repeated)


def _without_repeats(rows: Iterable[SourceRow]) -> tuple[list[RepeatedRow], list[SourceRow]]:
    first: dict[tuple[str, ...], int] = {}
    repeated: list[RepeatedRow] = []
    kept: list[SourceRow] = []
    for row in rows:
        earlier = first.setdefault(row.key, row.number)
        if earlier != row.number:
            repeated.append(RepeatedRow(row=row.number, duplicate_of=earlier))
        else:
            kept.append(row)
    return repeated, kept


def _web_orders(
    rows: Iterable[SourceRow], channel: Channel, catalogue: Mapping[str, CatalogueItem]
) -> tuple[list[Candidate], list[Rejected], list[RepeatedRow]]:
    """Each line its own order; a line with an order of an earlier line is the same order again or a conflict."""
    candidates: list[Candidate] = []
    rejected: list[Rejected] = []
    repeated: list[RepeatedRow] = []
    seen: dict[str, Candidate] = {}
    for row in rows:
        order, problems, concealed = _web_order(row.cell(0), channel, catalogue)
        earlier = seen.get(order.external_id) if order is not None else None
        if earlier is not None and earlier.order == order:
            # Written differently (key order, 12.5 for 12.50), the same order all the same.
            repeated.append(RepeatedRow(row=row.number, duplicate_of=earlier.rows[0]))
            continue
        if earlier is not None and order is not None:
            problems = [f"order {order.order_id} is also on row {earlier.rows[0]}, with different content"]
        if problems or order is None:
            name = order.external_id if order is not None else None
            rejected.append(Rejected(row=row.number, reason="; ".join(problems), order=name, concealed=concealed))
            continue
        candidate = Candidate(order=order, rows=(row.number,), line_rows=(row.number,) * len(order.lines))
        seen[order.external_id] = candidate
        candidates.append(candidate)
    return candidates, rejected, repeated


def _web_order(
    text: str, channel: Channel, catalogue: Mapping[str, CatalogueItem]
) -> tuple[Order | None, list[str], tuple[str, ...]]:
    """One line of the web shop's JSON lines: an order as `oms order place` takes it, of `channel`.

    Also the card numbers its payment carries, as written, to keep out of the rejected rows file; of a line
    that is no order at all, any card number in it.
    """
    try:
        data = json.loads(text, parse_float=Decimal)
    except (ValueError, RecursionError) as error:
        return None, [_json_problem(error)], tuple(card_numbers(text))
    if not isinstance(data, dict):
        problem = f"must be a JSON object (one order per line), got {_json_type(data)}"
        return None, [problem], tuple(card_numbers(text))
    concealed = tuple(number for found in card_numbers_in_payment(data.get("payment")) for number in found.texts)
    given = data.setdefault("channel", channel.value)
    if not isinstance(given, str) or given.strip().lower() != channel.value:
        return None, [f"channel: {given!r} differs from --channel {channel.value}"], concealed
    try:
        # Through the same parser as `oms order place`, so the rules and the words are the same.
        order = parse_order(json.dumps(data, default=str))
    except OrderInputError as error:
        return None, error.problems, concealed
    unknown = [
        f"lines[{index}].sku: unknown SKU {line.sku!r}"
        for index, line in enumerate(order.lines)
        if line.sku not in catalogue
    ]
    return order, unknown, concealed


@dataclass
class _Problems:
    """Problems of one order's rows, one per row and column, in the order found."""

    by_row: dict[int, dict[str, str]] = field(default_factory=dict)

    def add(self, row: int, label: str | None, message: str) -> None:
        # A column's first problem on a row is the one to fix; later ones are mostly its echo.
        self.by_row.setdefault(row, {}).setdefault(label or message, f"{label}: {message}" if label else message)

    def __bool__(self) -> bool:
        return bool(self.by_row)


def _tabular_orders(
    table: SourceTable,
    rows: Sequence[SourceRow],
    columns: Columns,
    layout: Layout,
    channel: Channel,
    catalogue: Mapping[str, CatalogueItem],
    base_currency: str,
) -> tuple[list[Candidate], list[Rejected]]:
    rejected: list[Rejected] = []
    groups: dict[str, list[SourceRow]] = {}
    for row in rows:
        number = columns.value(row, "order")
        if not number:
            reason = row.problem or f"{columns.label['order']}: is required"
            rejected.append(Rejected(row=row.number, reason=reason, concealed=_card_numbers_of_row(row, columns)))
            continue
        # Rows of one order need not be next to each other: a sorted or filtered sheet splits them up.
        groups.setdefault(number, []).append(row)
    candidates: list[Candidate] = []
    for number, group in groups.items():
        builder = _OrderBuilder(table, number, group, columns, layout, channel, catalogue, base_currency)
        candidate = builder.build()
        if candidate is None:
            rejected.extend(_reject_order(number, builder.rows, builder.problems, builder.concealed))
        else:
            candidates.append(candidate)
    return candidates, rejected


def _reject_order(
    number: str, rows: Sequence[int], problems: _Problems, concealed: Mapping[int, tuple[str, ...]] | None = None
) -> list[Rejected]:
    """The bad rows with their reasons, and every other row of the order because of them."""
    bad = sorted(problems.by_row)
    if len(bad) == 1:
        because = f"row {bad[0]} ({'; '.join(problems.by_row[bad[0]].values())})"
    else:
        because = f"rows {', '.join(str(row) for row in bad[:-1])} and {bad[-1]}"
    return [
        Rejected(
            row=row,
            reason="; ".join(problems.by_row[row].values())
            if row in problems.by_row
            else f"order {number} rejected because of {because}",
            order=number,
            concealed=(concealed or {}).get(row, ()),
        )
        for row in rows
    ]


def _card_numbers_of_row(row: SourceRow, columns: Columns) -> tuple[str, ...]:
    """Card numbers in a tabular row's payment or email cell (the PayPal account), as written.

    A row read with more values than columns has its cells shifted: any cell of it may hold the payment's.
    """
    if row.problem:
        return tuple(number for cell in row.cells for number in card_numbers(cell))
    return tuple(number for name in PAYMENT_CELLS for number in card_numbers(columns.value(row, name)))


def _locate_all(
    problems: Iterable[str],
    rows: Sequence[int],
    line_rows: Sequence[int],
    labels: Mapping[str, str],
    sources: Mapping[str, int],
) -> _Problems:
    """`parse_order`'s problems (`lines[2].quantity: ...`) as rows and columns of the file."""
    found = _Problems()
    for problem in problems:
        match = _PROBLEM.match(problem)
        if not match or not labels:
            found.add(rows[0], None, problem)
            continue
        path, message = match["path"], match["message"]
        row = rows[0]
        line = _LINE_PATH.match(path)
        if line and int(line["index"]) < len(line_rows):
            row, path = line_rows[int(line["index"])], line["rest"]
        field_name = PATH_FIELDS.get(path) or PATH_FIELDS.get(path.split(".")[0])
        if field_name is None or field_name not in labels:
            found.add(row, None, problem)
            continue
        if not line:
            row = sources.get(field_name, rows[0])
        found.add(row, labels[field_name], message)
    return found


class _OrderBuilder:
    """One order of a tabular file from its rows: order fields merged, lines checked, then the domain's checks."""

    def __init__(
        self,
        table: SourceTable,
        number: str,
        group: Sequence[SourceRow],
        columns: Columns,
        layout: Layout,
        channel: Channel,
        catalogue: Mapping[str, CatalogueItem],
        base_currency: str,
    ) -> None:
        self.table = table
        self.number = number
        self.group = group
        self.rows = [row.number for row in group]
        self.columns = columns
        self.layout = layout
        self.channel = channel
        self.catalogue = catalogue
        self.base_currency = base_currency
        self.problems = _Problems()
        self.values: dict[str, str] = {}
        self.sources: dict[str, int] = {}
        # Card numbers found in the rows, by row, as written: never read, never repeated, kept out of every file.
        self.concealed: dict[int, tuple[str, ...]] = {}
        for row in group:
            found = _card_numbers_of_row(row, columns)
            if found:
                self.concealed[row.number] = found
        # Rows that could not be read as rows (values shifted past the header) take no part in the order's fields.
        self.readable = [self._without_card_numbers(row) for row in group if not row.problem]
        self.bad_currency = False

    def _without_card_numbers(self, row: SourceRow) -> SourceRow:
        """The row with each payment cell that holds a card number refused and read as blank."""
        cells = list(row.cells)
        for name in PAYMENT_CELLS:
            position = self.columns.index.get(name)
            if position is not None and position < len(cells) and card_numbers(cells[position]):
                self.problems.add(row.number, self.label(name), CARD_NUMBER_IN_CELL)
                cells[position] = ""
        return SourceRow(number=row.number, cells=tuple(cells), problem=row.problem)

    def label(self, field_name: str) -> str:
        """The column as the file spells it, or as the layout documents it when the file has none."""
        # A field the layout has no column of (the spreadsheet's recipient is its customer) is named as the field.
        documented = next((column.names[0] for column in COLUMNS[self.layout] if column.field == field_name), None)
        return self.columns.label.get(field_name, documented or field_name)

    def build(self) -> Candidate | None:
        currency = self._currency()
        for field_name in ORDER_FIELDS:
            self._merge(field_name)
        lines = [self._line(row, index, currency) for index, row in enumerate(self.group)]
        data: dict[str, Any] = {
            "channel": self.channel.value,
            "external_id": self.number,
            "customer": _filled(name=self._customer_name(), email=self.values.get("email")),
            "shipping_address": _filled(
                name=self.values.get("recipient"),
                line1=self.values.get("line1"),
                line2=self.values.get("line2"),
                postal_code=self.values.get("postcode"),
                city=self.values.get("city"),
                country=self._country(),
            ),
            "lines": lines,
            "currency": currency or "",
            "note": self._note(),
        }
        payment = self._payment()
        if payment is not None:
            data["payment"] = payment
        shipping = self._shipping(currency)
        if shipping is not None and currency:
            data["shipping_fee"] = {"amount": str(shipping), "currency": currency}
        if currency is None:
            if self.bad_currency:
                data["currency"] = "EUR"  # a stand-in: the bad code is reported on its row
            else:
                del data["currency"]  # no row names one: the domain says it is required
        order: Order | None = None
        try:
            order = parse_order(json.dumps(data, default=str))
        except OrderInputError as error:
            located = _locate_all(error.problems, self.rows, self.rows, self.columns.label, self.sources)
            for number, reasons in located.by_row.items():
                for label_or_message, reason in reasons.items():
                    self.problems.by_row.setdefault(number, {}).setdefault(label_or_message, reason)
        for row in self.group:
            if row.problem:
                # Its cells are shifted: what they would say about each column is noise.
                self.problems.by_row[row.number] = {row.problem: row.problem}
        if self.problems or order is None:
            return None
        return Candidate(
            order=order,
            rows=tuple(self.rows),
            line_rows=tuple(self.rows),
            labels=dict(self.columns.label),
            sources=dict(self.sources),
        )

    # --- order-level fields ---

    def _currency(self) -> str | None:
        """The order's currency: every row that names one must name the same; bad codes reported on their row."""
        if "currency" not in self.columns.index:
            return self.base_currency
        chosen: tuple[str, int] | None = None
        for row in self.readable:
            text = self.columns.value(row, "currency")
            if not text:
                continue
            try:
                code = Money(amount=Decimal(0), currency=text).currency
            except ValidationError as error:
                self.problems.add(row.number, self.label("currency"), _first_message(error))
                self.bad_currency = True
                continue
            if chosen is None:
                chosen = (code, row.number)
            elif code != chosen[0]:
                self.problems.add(
                    row.number,
                    self.label("currency"),
                    f"{code} differs from {chosen[0]} on row {chosen[1]} of the same order; "
                    "an order is in one currency",
                )
        if chosen is not None:
            self.sources["currency"] = chosen[1]
            return chosen[0]
        if self.bad_currency:
            return None
        # The spreadsheet may leave the currency out: the shop's own; a marketplace export always names it.
        return self.base_currency if self.layout is Layout.SPREADSHEET else None

    def _merge(self, field_name: str) -> None:
        if field_name not in self.columns.index:
            return
        for row in self.readable:
            text = self.columns.value(row, field_name)
            if not text:
                continue
            if field_name not in self.values:
                self.values[field_name] = text
                self.sources[field_name] = row.number
            elif _same(field_name, text) != _same(field_name, self.values[field_name]):
                self.problems.add(
                    row.number,
                    self.label(field_name),
                    f"{text!r} differs from {self.values[field_name]!r} on row {self.sources[field_name]} "
                    "of the same order",
                )

    def _customer_name(self) -> str | None:
        if "customer" in self.values:
            return self.values["customer"]
        # A marketplace export may leave the buyer's name out; the recipient is the next best name.
        if self.layout is Layout.MARKETPLACE:
            if "recipient" not in self.values:
                return "?"  # a stand-in: the missing recipient is the one problem to report
            self.sources["customer"] = self.sources["recipient"]
            return self.values["recipient"]
        return None

    def _country(self) -> str | None:
        text = self.values.get("country")
        if text is None:
            return None
        code = text.upper()
        if not _COUNTRY.match(code):
            self.problems.add(
                self.sources["country"],
                self.label("country"),
                f"must be a two-letter ISO 3166-1 code such as DE, got {text!r}",
            )
            return "XX"  # reported; keeps the domain's checks on the other fields going
        return code

    def _payment(self) -> dict[str, str] | None:
        text = self.values.get("payment", "")
        email = self.values.get("email")
        if self.layout is Layout.MARKETPLACE:
            method = _MARKETPLACE_PAYMENT.get(header_name(text))
            if method is None:
                # The buyer paid the marketplace at checkout: a prepaid wallet capture, the one method that takes
                # the money at once without card details (which exports never carry).
                return _filled(method=PaymentMethod.PAYPAL.value, paypal_email=email)
            return {"method": method.value}
        if not text:
            return None
        wanted = header_name(text)
        method = _SPREADSHEET_PAYMENT.get(wanted) or _known_method(wanted)
        if method is PaymentMethod.CARD or wanted in _CARD_WORDS:
            reason = CARD_REFUSED.format(layout=self.layout.value, methods=SPREADSHEET_METHODS)
            self.problems.add(self.sources["payment"], self.label("payment"), reason)
            return {"method": PaymentMethod.INVOICE.value}
        if method is None:
            self.problems.add(
                self.sources["payment"],
                self.label("payment"),
                f"{text!r} is not a payment method; use {SPREADSHEET_METHODS}",
            )
            return {"method": PaymentMethod.INVOICE.value}
        if method is PaymentMethod.PAYPAL:
            return _filled(method=method.value, paypal_email=email)
        return {"method": method.value}

    def _shipping(self, currency: str | None) -> Decimal | None:
        """Marketplace exports charge shipping per item row (summed); the spreadsheet names the order's fee."""
        if "shipping" not in self.columns.index or currency is None:
            return None
        if self.layout is Layout.MARKETPLACE:
            total = Decimal(0)
            for row in self.group:
                amount = self._amount(row, "shipping", currency)
                total += amount or 0
            return total
        for row in self.readable:
            text = self.columns.value(row, "shipping")
            if text and "shipping" not in self.sources:
                self.sources["shipping"] = row.number
        amounts = [(row, self._amount(row, "shipping", currency)) for row in self.readable]
        given = [(row, amount) for row, amount in amounts if amount is not None]
        for row, amount in given[1:]:
            if amount != given[0][1]:
                self.problems.add(
                    row.number,
                    self.label("shipping"),
                    f"{amount} differs from {given[0][1]} on row {given[0][0].number} of the same order; "
                    "give the order's shipping fee once",
                )
        return given[0][1] if given else None

    def _amount(self, row: SourceRow, field_name: str, currency: str) -> Decimal | None:
        """A money cell in `currency`, or None when blank or bad (then reported)."""
        text = self.columns.value(row, field_name)
        if not text:
            return None
        try:
            return exact_amount(text, currency, self.table.decimal_mark)
        except ValueError as error:
            self.problems.add(row.number, self.label(field_name), str(error))
            return None

    def _note(self) -> str:
        rows = ("row " if len(self.rows) == 1 else "rows ") + ", ".join(str(row) for row in self.rows)
        when = self.values.get("date")
        ordered = f", ordered {when}" if when else ""
        return f"Imported from {self.table.path.name} ({self.layout.value} mapping) {rows}{ordered}."

    # --- lines ---

    def _line(self, row: SourceRow, index: int, currency: str | None) -> dict[str, Any]:
        """One row's line; a reported problem leaves a placeholder so the domain checks the rest of the order."""
        sku = self._sku(row, index)
        line: dict[str, Any] = {"sku": sku}
        quantity = self.columns.value(row, "quantity")
        if quantity:
            line["quantity"] = quantity
        product = self.columns.value(row, "product") or (self.catalogue[sku].name if sku in self.catalogue else "")
        if product:
            line["name"] = product
        price = self._price(row, sku, currency)
        # A placeholder currency for an order whose currency was reported bad keeps its other checks going.
        line["unit_price"] = {"amount": str(price if price is not None else 0), "currency": currency or "EUR"}
        return line

    def _sku(self, row: SourceRow, index: int) -> str:
        text = self.columns.value(row, "sku")
        label = self.label("sku")
        if not text:
            self.problems.add(row.number, label, "is required")
            return f"MISSING-{index}"
        try:
            sku = normal_sku(text)
        except ValueError as error:
            self.problems.add(row.number, label, str(error))
            return f"INVALID-{index}"
        if sku not in self.catalogue:
            self.problems.add(row.number, label, f"unknown SKU {sku!r}")
            return sku
        earlier = next(
            (other.number for other in self.group[:index] if _normal(self.columns.value(other, "sku")) == sku), None
        )
        if earlier is not None:
            self.problems.add(
                row.number,
                label,
                f"{sku} is already on row {earlier} of the same order; give its whole quantity on one row",
            )
            return f"REPEATED-{index}"
        return sku

    def _price(self, row: SourceRow, sku: str, currency: str | None) -> Decimal | None:
        if currency is None:
            return None  # the currency's problem is reported; its decimals are unknown
        text = self.columns.value(row, "price")
        if text:
            return self._amount(row, "price", currency)
        listed = self.catalogue.get(sku)
        label = self.label("price")
        if self.layout is Layout.MARKETPLACE:
            self.problems.add(row.number, label, "is required")
            return None
        if listed is None:
            return None  # the SKU's problem is reported; there is no catalogue price to fall back on
        # The spreadsheet may leave the price out: the catalogue's, when it is in the order's currency.
        if listed.price.currency != currency:
            self.problems.add(
                row.number,
                label,
                f"is required: the catalogue price of {sku} is in {listed.price.currency}, the order in {currency}",
            )
            return None
        return listed.price.amount


# Amounts as written, ASCII digits only: Decimal would also read `1_000`, `1e5`, `NaN` and digits of other scripts.
_POINT_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_COMMA_AMOUNT = re.compile(r"(?P<whole>[0-9]+|[0-9]{1,3}(?:\.[0-9]{3})+),(?P<decimals>[0-9]+)")
# A separator before exactly three digits: thousands to one program, decimals to another.
_DOT_GROUP = re.compile(r"[0-9]{1,3}\.[0-9]{3}")
_COMMA_GROUP = re.compile(r"[0-9]{1,3},[0-9]{3}")
# Commas that can only separate thousands: 1,234,567 and 1,234.50.
_COMMA_THOUSANDS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")


def exact_amount(text: str, currency: str, decimal_mark: DecimalMark = DecimalMark.POINT) -> Decimal:
    """A decimal amount of `currency` as written; ValueError when it is not a number, negative or too precise.

    Only what reads one way is read: a separator that may mark thousands or decimals (`1,234`) is refused.
    """
    written = text.strip()
    amount = Decimal(_decimal_text(written, decimal_mark))
    shown = _shown(written)
    # -0 too: a minus sign on an amount is a mistake somewhere, not a zero to take as it is.
    if amount.is_signed():
        raise ValueError(f"must not be negative, got {shown}")
    if amount.adjusted() >= AMOUNT_DIGITS:
        raise ValueError(f"{shown} is too large: an amount has at most {AMOUNT_DIGITS} digits before its decimals")
    if quantize(amount, currency) != amount:
        places = MINOR_UNITS[currency]
        raise ValueError(f"{shown} has more decimals than {currency} allows ({places})")
    return amount


def _decimal_text(written: str, decimal_mark: DecimalMark) -> str:
    """An amount as Decimal reads it, with a decimal point; ValueError when it is no number or ambiguous."""
    sign = written[:1] if written[:1] in ("+", "-") else ""
    digits = written[len(sign) :]
    shown = _shown(written)
    if decimal_mark is not DecimalMark.POINT:
        if _DOT_GROUP.fullmatch(digits):
            raise ValueError(
                f"{shown!r} is ambiguous: a dot before three digits may separate thousands or decimals; "
                f"write {digits.replace('.', '')} or {digits},00"
            )
        if decimal_mark is DecimalMark.GUESSED_COMMA and _COMMA_GROUP.fullmatch(digits):
            raise ValueError(
                f"{shown!r} is ambiguous: a comma before three digits may separate thousands or decimals; "
                f"write {digits.replace(',', '')}, or import with --decimal-comma to read it as "
                f"{digits.replace(',', '.')}"
            )
        comma = _COMMA_AMOUNT.fullmatch(digits)
        if comma:
            return f"{sign}{comma['whole'].replace('.', '')}.{comma['decimals']}"
    if _POINT_AMOUNT.fullmatch(digits):
        return written
    raise ValueError(f"{shown!r} is not a decimal number{_hint(sign, digits, decimal_mark)}")


def _hint(sign: str, digits: str, decimal_mark: DecimalMark) -> str:
    """How to write an amount that is no number, when the way is clear."""
    if len(digits) > SHOWN_CHARACTERS:
        return ""
    if decimal_mark is DecimalMark.POINT and _COMMA_GROUP.fullmatch(digits):
        return (
            " (a comma before three digits may separate thousands or decimals: "
            f"write {sign}{digits.replace(',', '')} or {sign}{digits.replace(',', '.')})"
        )
    if _COMMA_THOUSANDS.fullmatch(digits):
        return f" (write it without thousands separators: {sign}{digits.replace(',', '')})"
    comma = _COMMA_AMOUNT.fullmatch(digits) if decimal_mark is DecimalMark.POINT else None
    if comma:
        return f" (use a decimal point: {sign}{comma['whole'].replace('.', '')}.{comma['decimals']})"
    return ""


def _shown(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…"


def _filled(**values: str | None) -> dict[str, str]:
    """The given values only: a blank one is left out, so the domain reports it as required."""
    return {key: value for key, value in values.items() if value}


def _normal(text: str) -> str:
    try:
        return normal_sku(text)
    except ValueError:
        return text


def _same(field_name: str, text: str) -> str:
    """What two cells of an order field must agree on: emails and codes ignore case, text runs of spaces."""
    if field_name in ("email", "country"):
        return text.strip().lower()
    if field_name == "payment":
        return header_name(text)
    return " ".join(text.split())


def _known_method(wanted: str) -> PaymentMethod | None:
    try:
        return PaymentMethod(wanted.replace(" ", "_"))
    except ValueError:
        return None


def _first_message(error: ValidationError) -> str:
    return str(error.errors(include_url=False)[0]["msg"]).removeprefix("Value error, ")


# --- the rejected rows file ---------------------------------------------------------------------------------


def write_rejected(table: SourceTable, rejected: Sequence[Rejected], path: Path) -> None:
    """The rejected rows as the file had them, plus `row` and `reason`; written whole or not at all.

    Card numbers are the exception: each one a row was rejected for reads `[card number removed]`.

    UTF-8 with a byte-order mark, so spreadsheet programs show every character; a fixed file imports again.
    """
    keep = [
        position
        for position, column in enumerate(table.columns)
        if header_name(column) not in (ROW_COLUMN, REASON_COLUMN)
    ]
    by_number = {row.number: row for row in table.rows}
    rows: list[list[str | int]] = [[*(table.columns[position] for position in keep), ROW_COLUMN, REASON_COLUMN]]
    for item in sorted(rejected, key=lambda entry: entry.row):
        source = by_number.get(item.row)
        cells = [source.cells[position] if source and position < len(source.cells) else "" for position in keep]
        concealed = [_conceal(cell, item.concealed) for cell in cells]
        rows.append([*concealed, item.row, _conceal(item.reason, item.concealed)])
    # Text that would start a formula is kept as text, and a link planted at `path` is replaced, not written through.
    spreadsheets.write_file(path, spreadsheets.csv_text(rows).encode("utf-8-sig"))


def _conceal(text: str, numbers: Sequence[str]) -> str:
    # Longest first: a number that also appears inside a longer run is removed whole.
    for number in sorted(numbers, key=len, reverse=True):
        text = text.replace(number, CARD_NUMBER_REMOVED)
    return text
