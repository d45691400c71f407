"""Files operators open in spreadsheet programs: no cell of ours runs as a formula, and none is written through a link.

A customer name, product name or reason comes from outside; in a spreadsheet, `=HYPERLINK(...)` or `@SUM(...)` in
such a cell would run as soon as the operator opens the file (CSV or formula injection). OWASP's advice for CSV:
prefix such a text with a single quote, which spreadsheets take as "this is text"; XLSX has string cells for that.
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path

from openpyxl.cell.cell import Cell
from openpyxl.worksheet.worksheet import Worksheet

# What a spreadsheet program reads as the start of a formula, or may strip before reading one (OWASP's list: tab
# and CR; LF too, as a CR read from a file in text mode arrives as one).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")

# A plain number, such as the negative amount `-12.50`: data, not a formula, so it stays as it is.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")

# Attempts at a fresh temporary name before giving up; a clash means someone plants files beside ours.
_TEMPORARY_NAME_ATTEMPTS = 5


def text_cell(value: str) -> str:
    """`value` as a CSV cell that a spreadsheet shows as text: prefixed with `'` if it would start a formula."""
    if value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_text(rows: Iterable[Sequence[object]], *, lineterminator: str = "\r\n") -> str:
    """`rows` as CSV text, every text cell passed through `text_cell`; numbers stay numbers."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=lineterminator)
    writer.writerows([text_cell(cell) if isinstance(cell, str) else cell for cell in row] for row in rows)
    return buffer.getvalue()


def keep_text_as_text(sheet: Worksheet) -> None:
    """Make every text cell of `sheet` a string cell: openpyxl takes a text starting with `=` for a formula."""
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell, Cell) and isinstance(cell.value, str):
                cell.data_type = "s"


def write_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` whole or not at all (readable by its owner only), never through a symbolic link.

    The bytes go to a new file under an unpredictable name beside `path`, then replace `path`: a link planted at
    `path` is replaced itself, not written through, and one planted at the temporary name makes the open fail.
    """
    temporary, descriptor = _new_file(path)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _new_file(beside: Path) -> tuple[Path, int]:
    """A new file in `beside`'s folder, open for writing, created by us alone: never an existing file or a link."""
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(_TEMPORARY_NAME_ATTEMPTS):
        candidate = beside.with_name(temporary_name(beside))
        try:
            return candidate, os.open(candidate, flags, 0o600)
        except FileExistsError:
            continue
    raise FileExistsError(f"{beside.parent}: every temporary name tried was taken")


def temporary_name(beside: Path) -> str:
    """A hidden name for the file that will replace `beside`, unguessable so nobody can plant a link there first."""
    return f".{beside.name}.{secrets.token_hex(8)}.tmp"
