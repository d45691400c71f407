"""The console's shop pages: the shop at a glance, stock and products, reports with downloads, and file imports."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from domain.order import Channel, FulfilmentMode
from domain.report import Period, Report, sections
from starter import report as report_files
from starter.import_command import ImportOutcome
from starter.operations import OperationFailed
from starter.web.console import console_of, render
from starter.web.security import checked_form, current_session, now
from store.glance import Glance, glance
from store.operators import ConsoleSession

router = APIRouter()

Session = Annotated[ConsoleSession, Depends(current_session)]

# An upload bigger than this is not an order export a shop makes by hand; refused before it is read.
MAX_IMPORT_BYTES = 20 * 1024 * 1024
# The extensions `oms order import` reads (examples/imports/README.md).
IMPORT_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".txt", ".xlsx")
# Rejected rows of recent imports, per session, for their CSV download; a small bounded memory.
REJECTED_KEPT = 20


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, session: Session) -> Response:
    """The shop at a glance: the three lists, sales today and lately, what waits for a person, stock to watch."""
    return render(request, "home.html", session, glance=await _glance(request))


@router.get("/glance", response_class=HTMLResponse)
async def glance_fragment(request: Request, session: Session) -> Response:
    """The home page's figures alone, for live refreshes."""
    return render(request, "glance.html", session, glance=await _glance(request))


async def _glance(request: Request) -> Glance:
    """The home page's figures, read once for every page that asks after the same change."""
    console = console_of(request)
    settings = console.settings

    async def read() -> Glance:
        return await glance(
            console.sessions,
            now=now(),
            zone=settings.calendar.zone,
            rates=settings.exchange_rates,
            low_units=settings.low_stock_units,
            overstock_units=settings.overstock_units,
        )

    return await console.reads.read("glance", read)


# --- stock and products -------------------------------------------------------------------------------------


@router.get("/stock", response_class=HTMLResponse)
async def stock(request: Request, session: Session) -> Response:
    """Stock levels with sold-out, low and overstocked marks; forms to receive stock and add a product."""
    return await _stock(request, session)


async def _stock(
    request: Request, session: ConsoleSession, *, message: str | None = None, problem: str | None = None
) -> Response:
    console = console_of(request)
    levels = await console.shop.stock()
    products = await console.shop.products()
    return render(
        request,
        "stock.html",
        session,
        levels=levels,
        products=products,
        low_units=console.settings.low_stock_units,
        overstock_units=console.settings.overstock_units,
        base_currency=console.settings.base_currency,
        message=message,
        problem=problem,
        status_code=422 if problem else 200,
    )


@router.post("/stock/receive", response_class=HTMLResponse)
async def receive_stock(request: Request, session: Session) -> Response:
    """Book a receipt; backordered orders are told to try again, as `oms stock receive` does."""
    console = console_of(request)
    form = await checked_form(request, session)
    sku = str(form.get("sku") or "").strip().upper()
    quantity_text = str(form.get("quantity") or "").strip()
    if not sku:
        return await _stock(request, session, problem="sku: choose the SKU that arrived")
    if not _whole(quantity_text) or not 1 <= int(quantity_text) <= 1_000_000:
        return await _stock(
            request, session, problem=f"quantity {quantity_text[:20]!r}: a whole number from 1 to 1000000"
        )
    receipt = str(form.get("receipt") or "").strip() or None
    try:
        booked = await console.shop.receive_stock(
            sku, int(quantity_text), warehouse=None, receipt=receipt, by=session.operator.email
        )
    except OperationFailed as error:
        return await _stock(request, session, problem=str(error))
    console.reads.changed()
    return await _stock(
        request,
        session,
        message=f"received {quantity_text} x {sku}: {booked.level.available} available; "
        f"{booked.woken} backordered order(s) told to try again",
    )


@router.post("/products", response_class=HTMLResponse)
async def add_product(request: Request, session: Session) -> Response:
    """Add a product with its opening stock."""
    console = console_of(request)
    form = await checked_form(request, session)
    stock_text = str(form.get("stock") or "0").strip() or "0"
    if not _whole(stock_text) or int(stock_text) > 1_000_000:
        return await _stock(request, session, problem=f"stock {stock_text[:20]!r}: a whole number from 0 to 1000000")
    try:
        item = await console.shop.add_product(
            str(form.get("sku") or ""),
            str(form.get("name") or ""),
            str(form.get("price") or ""),
            currency=str(form.get("currency") or "").strip() or None,
            stock=int(stock_text),
            warehouse=None,
        )
    except OperationFailed as error:
        return await _stock(request, session, problem=str(error))
    console.reads.changed()
    return await _stock(request, session, message=f"added {item.sku}: {item.name}, {item.price.format()}")


def _whole(text: str) -> bool:
    """Digits 0-9 only, few enough to be a count of units (int() of thousands of digits is refused or slow)."""
    return 0 < len(text) <= 9 and text.isascii() and text.isdigit()


# --- reports ------------------------------------------------------------------------------------------------


@router.get("/reports", response_class=HTMLResponse)
async def report_page(request: Request, session: Session) -> Response:
    """The figures of `oms report` for a chosen period."""
    period, problem = _period(request)
    report = await console_of(request).shop.report(period.since, period.until) if problem is None else None
    return render(
        request,
        "reports.html",
        session,
        report=report,
        sections=sections(report) if report is not None else [],
        since=request.query_params.get("since", ""),
        until=request.query_params.get("until", ""),
        query=request.url.query,
        problem=problem,
        status_code=200 if problem is None else 422,
    )


# Each report download: how `oms report` writes it, its media type and its file name.
REPORT_FILES: dict[str, tuple[Callable[[Report], bytes], str]] = {
    "csv": (report_files.report_csv, "text/csv; charset=utf-8"),
    "xlsx": (report_files.report_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}


@router.get("/reports.{kind}")
async def report_download(request: Request, kind: str, session: Session) -> Response:
    """The report as CSV rows or an Excel workbook, as `oms report --csv` and `--xlsx` write them."""
    if kind not in REPORT_FILES:
        return Response(f"no report as .{kind[:10]}: csv or xlsx", status_code=404, media_type="text/plain")
    period, problem = _period(request)
    if problem is not None:
        return Response(problem, status_code=422, media_type="text/plain")
    report = await console_of(request).shop.report(period.since, period.until)
    write, media_type = REPORT_FILES[kind]
    return Response(
        write(report),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="oms-report.{kind}"'},
    )


def _period(request: Request) -> tuple[Period, str | None]:
    """The period from the page's since/until fields (shop-local dates or times), or the problem with them."""
    settings = console_of(request).settings
    zone = settings.calendar.zone
    moments: dict[str, datetime | None] = {}
    for field in ("since", "until"):
        text = request.query_params.get(field, "").strip()[:40]
        if not text:
            moments[field] = None
            continue
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return Period(timezone=settings.timezone), f"{field} {text!r}: not a date or time; use YYYY-MM-DD"
        moments[field] = moment if moment.tzinfo else moment.replace(tzinfo=zone)
    since, until = moments["since"], moments["until"]
    if since is not None and until is not None and since >= until:
        return Period(timezone=settings.timezone), "until: must be after since"
    return Period(since=since, until=until, timezone=settings.timezone), None


# --- imports ------------------------------------------------------------------------------------------------


@router.get("/import", response_class=HTMLResponse)
async def import_page(request: Request, session: Session) -> Response:
    """Upload a JSONL, CSV or XLSX file of orders for a channel."""
    return render(request, "import.html", session, channels=[channel.value for channel in Channel], outcome=None)


@router.post("/import", response_class=HTMLResponse)
async def import_file(request: Request, session: Session) -> Response:
    """Place every order of the file; the result shows placed, duplicate and rejected rows."""
    console = console_of(request)
    form = await checked_form(request, session, max_files=1, max_fields=20)
    channels = [channel.value for channel in Channel]

    def refused(problem: str) -> Response:
        return render(
            request, "import.html", session, channels=channels, outcome=None, problem=problem, status_code=422
        )

    upload = form.get("file")
    channel_text = str(form.get("channel") or "")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return refused("file: choose a .jsonl, .csv or .xlsx file")
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in IMPORT_SUFFIXES:
        return refused(f"file {upload.filename!r}: not a {', '.join(IMPORT_SUFFIXES)} file")
    if channel_text not in channels:
        return refused(f"channel {channel_text!r}: not a channel ({', '.join(channels)})")
    mode_text = str(form.get("mode") or "")
    mode = FulfilmentMode(mode_text) if mode_text in {mode.value for mode in FulfilmentMode} else None
    content = await upload.read(MAX_IMPORT_BYTES + 1)
    if len(content) > MAX_IMPORT_BYTES:
        return refused(f"file {upload.filename!r}: larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    with tempfile.TemporaryDirectory(prefix="oms-import-") as folder:
        # The operator's file name is not trusted as a path; only its extension is kept.
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(content)
        try:
            outcome = await console.shop.import_orders(
                path, Channel(channel_text), mode=mode, by=session.operator.email
            )
        except OperationFailed as error:
            return refused(str(error).replace(str(path), upload.filename))
    token = None
    rejected = outcome.rejected_csv()
    if rejected is not None:
        token = secrets.token_urlsafe(16)
        kept: dict[str, tuple[str, bytes]] = request.app.state.rejected_rows
        kept[token] = (session.operator.email, rejected)
        while len(kept) > REJECTED_KEPT:
            kept.pop(next(iter(kept)))
    return render(
        request,
        "import.html",
        session,
        channels=channels,
        outcome=outcome,
        rows=import_rows(outcome),
        file_name=upload.filename,
        rejected_token=token,
    )


@dataclass(frozen=True)
class ImportRow:
    """One row of an imported file as the result table shows it."""

    row: int
    order_id: str
    result: str
    reason: str = ""


def import_rows(outcome: ImportOutcome) -> list[ImportRow]:
    """Every row of the file and what became of it, in file order."""
    rows = outcome.rows
    found = [ImportRow(row, item.order_id, "placed") for item in rows.placed for row in item.rows]
    found += [
        ImportRow(row, item.order_id, "duplicate", "order already placed")
        for item in rows.already_placed
        for row in item.rows
    ]
    found += [
        ImportRow(item.row, "", "duplicate", f"repeats row {item.duplicate_of}, skipped") for item in rows.repeated
    ]
    found += [ImportRow(item.row, item.order or "", "rejected", item.reason) for item in rows.rejected]
    found += [
        ImportRow(row, item.order_id, "not placed", f"{why}; import the file again to place it")
        for item, why in rows.not_placed
        for row in item.rows
    ]
    return sorted(found, key=lambda found_row: found_row.row)


@router.get("/import/{token}/rejected.csv")
async def rejected_rows(request: Request, token: str, session: Session) -> Response:
    """The rejected rows of an import, with their row numbers and reasons, to fix and import again."""
    kept: dict[str, tuple[str, bytes]] = request.app.state.rejected_rows
    found = kept.get(token)
    if found is None or found[0] != session.operator.email:
        return Response("no such import", status_code=404, media_type="text/plain")
    return Response(
        found[1],
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="rejected.csv"'},
    )
