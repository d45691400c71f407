"""The `oms` command line: run the stack or a worker, place orders, act on them, receive stock, report, import.

Only what the operator types and what the terminal shows lives here; the work is done by `starter.operations`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer
from pydantic import BaseModel, ValidationError
from rich import box
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from activities.mail_relay import serve_mail_relay
from domain.commands import (
    Command,
    Complete,
    DeliveryEvent,
    Feedback,
    Packed,
    PaymentReceived,
    Picked,
    Shipped,
)
from domain.money import Money
from domain.order import Channel
from domain.refund import Cancel, Refund, RefundItem, RefundPaidOut, RefundView
from domain.report import Report, period_text, sections
from domain.view import OrderView
from settings import Settings
from starter import (
    codec_server,
    db_command,
    intake,
    keys_command,
    operator_command,
    runs,
    schedules,
    stack,
    web_command,
)
from starter.commandline import AsJson, ModeOption, fail, in_shop, moment_option
from starter.commandline import run as run_command
from starter.import_command import ImportOutcome
from starter.intake import FileFormat, Layout
from starter.operations import InvalidInput, OrderPage, Shop, channel_filter, report_csv, report_xlsx, status_filter
from starter.placement import parse_order
from store.catalogue import CatalogueItem, StockCount
from store.orders import OrderFilter
from store.schema import OrderRecord
from worker import (
    configure_logging,
    exit_now,
    run_worker,
)

# `oms order list` keeps at least this much of the customer's name before it drops the channel column.
MIN_NAME_WIDTH = 10

# Below this many orders an import is over before a progress bar would say anything.
LONG_IMPORT = 20

# Who the order's timeline says gave a command sent from the command line.
CLI = "oms cli"

app = typer.Typer(
    name="oms",
    help="Order management on Temporal: run the stack, place orders, act on them, receive stock.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
order_app = typer.Typer(help="Place orders, see where they are and act on them.", no_args_is_help=True)
stock_app = typer.Typer(help="Receive stock and see what is in the warehouse.", no_args_is_help=True)
product_app = typer.Typer(help="Add products and see the catalogue.", no_args_is_help=True)
app.add_typer(order_app, name="order")
app.add_typer(stock_app, name="stock")
app.add_typer(product_app, name="product")

OrderId = Annotated[str, typer.Argument(help="Order id, e.g. web-1001 (or its workflow id, order-web-1001).")]


def main() -> None:
    """Entry point of the `oms` console script."""
    try:
        app()
    except SystemExit as done:
        status = done.code
    else:
        status = 0
    exit_now(status)


# --- running ------------------------------------------------------------------------------------------------


@app.command()
def up() -> None:
    """Run the whole stack in the foreground: Temporal dev server and UI, worker, operator console, SMTP sink,
    OMS database.

    State lives under var/ (OMS_VAR_DIR) across restarts; Ctrl-C stops everything.
    """
    run_command(_logged(stack.run_stack))


@app.command()
def worker(
    warehouse: Annotated[
        bool,
        typer.Option(
            "--warehouse",
            help="Serve only automated picking and packing on OMS_WAREHOUSE_TASK_QUEUE (at the warehouse).",
        ),
    ] = False,
    no_wait: Annotated[
        bool,
        typer.Option(
            "--no-wait",
            help="Exit with an error when Temporal cannot be reached. (default: keep trying, waiting up to 30 s "
            "between attempts, so a worker started before Temporal comes up with it)",
        ),
    ] = False,
) -> None:
    """Run one worker on the order task queue; SIGINT or SIGTERM drains it. Start several to scale out.

    Needs the database at the newest schema: run `oms db upgrade` first, or set OMS_MIGRATE_ON_START=true.
    """
    run_command(_logged(lambda settings: run_worker(settings, warehouse=warehouse, wait=not no_wait)))


@app.command()
def mailer() -> None:
    """Run the mail relay on its own: send the emails the order steps queue in the outbox; SIGINT or SIGTERM stops it.

    Every `oms worker` runs one already; run this to send mail from another machine, or more of them on PostgreSQL.
    """
    run_command(_logged(serve_mail_relay))


app.command("run")(runs.fulfilment_run)
app.command("web")(web_command.web)
app.command("codec-server")(codec_server.codec_server)


# --- orders -------------------------------------------------------------------------------------------------


@order_app.command("place")
def order_place(
    source: Annotated[str, typer.Argument(help="Order JSON file, or - to read it from stdin.", metavar="FILE|-")],
    mode: ModeOption = None,
    as_json: AsJson = False,
) -> None:
    """Validate an order and start its workflow; prints the order id."""
    text = _read(source)

    async def place(shop: Shop) -> str:
        # Validation first: bad input must fail the same whether or not Temporal is up.
        order = parse_order(text)
        return await shop.place(order, mode, by=CLI)

    order_id = in_shop(place)
    typer.echo(json.dumps({"id": order_id}) if as_json else order_id)


@order_app.command("status")
def order_status(order_id: OrderId, as_json: AsJson = False) -> None:
    """Show an order: status, lines, totals, payment, shipment, follow-up and timeline."""

    async def query(shop: Shop) -> tuple[OrderView, ZoneInfo]:
        return await shop.order(order_id), shop.settings.calendar.zone

    view, shop_zone = in_shop(query)
    if as_json:
        typer.echo(view.model_dump_json(indent=2))
    else:
        Console().print(_summary(view, shop_zone))


@order_app.command("list")
def order_list(
    status: Annotated[
        str | None,
        typer.Option(help="A list (pending, completed, cancelled) or one status, e.g. backordered. (default: all)"),
    ] = None,
    channel: Annotated[str | None, typer.Option(help="Only this sales channel, e.g. marketplace.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only orders placed since this shop-local date or time, e.g. 2026-11-01.")
    ] = None,
    search: Annotated[
        str | None, typer.Option(help="Text in the order id, customer name or email, or tracking number.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many orders, newest first.")] = 20,
    as_json: AsJson = False,
) -> None:
    """List orders newest first, with how many are Pending, Completed and Cancelled."""

    # Checked before anything runs, so a bad option is one line naming it.
    try:
        by_status = status_filter(status)
        from_channel = channel_filter(channel)
    except InvalidInput as error:
        _bad_option(error)

    async def read(shop: Shop) -> OrderPage:
        wanted = OrderFilter(
            **by_status,
            channel=from_channel,
            # A time without a zone is the shop's time.
            since=moment_option("--since", since, shop.settings.calendar.zone),
            search=search.strip() if search and search.strip() else None,
        )
        return await shop.orders(wanted, limit=limit)

    page = in_shop(read)
    per_list, matching, shown = page.counts, page.matching, page.orders
    if as_json:
        payload = {
            "counts": per_list,
            "matching": matching,
            "orders": [_listed(record) for record in shown],
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    counts = "  ".join(f"{name.capitalize()} {count}" for name, count in per_list.items())
    rows = [
        (
            record.order_id,
            record.placed_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            record.channel,
            record.status,
            Money.from_minor(record.total_minor, record.currency).format(),
            record.customer_name,
        )
        for record in shown
    ]
    headers = ("order", "placed", "channel", "status", "total", "customer")
    widths = [max(len(row[column]) for row in [headers, *rows]) for column in range(5)]
    console = Console()
    # Ids, times, statuses and amounts are read whole. On a narrow terminal the channel goes first (every order id
    # starts with it), then the customer's name gives way.
    # Ids longer than the terminal allows fold onto a second line rather than push the totals off it.
    shown_columns = [0, 1, 2, 3, 4, 5]
    if sum(widths) + 2 * len(headers) + MIN_NAME_WIDTH > console.width:
        shown_columns.remove(2)
    ids_fold = sum(widths[column] + 2 for column in shown_columns[:-1]) > console.width
    if ids_fold:
        shown_columns.remove(5)
    table = Table(*(headers[column] for column in shown_columns), title=counts, box=box.SIMPLE_HEAD, pad_edge=False)
    for position, column in enumerate(shown_columns):
        if column == 5:
            table.columns[position].overflow = "ellipsis"
        elif column == 0 and ids_fold:
            table.columns[position].overflow = "fold"
            others = sum(widths[other] for other in shown_columns[1:])
            table.columns[position].width = max(console.width - others - 3 * len(shown_columns), 10)
            continue
        else:
            table.columns[position].min_width = widths[column]
        table.columns[position].no_wrap = True
        if column == 4:
            table.columns[position].justify = "right"
    for row in rows:
        table.add_row(*(escape(row[column]) if column == 5 else row[column] for column in shown_columns))
    console.print(table)
    console.print(f"{len(shown)} of {matching} matching orders shown, newest first")


def _listed(record: OrderRecord) -> dict[str, object]:
    """One order of `oms order list --json`."""
    total = Money.from_minor(record.total_minor, record.currency)
    return {
        "order_id": record.order_id,
        "placed_at": record.placed_at.isoformat(),
        "channel": record.channel,
        "customer": record.customer_name,
        "email": record.customer_email,
        "total": total.model_dump(mode="json"),
        "payment_method": record.payment_method,
        "status": record.status,
        "list": record.list,
        "tracking": record.tracking,
    }


@order_app.command("import")
def order_import(
    source: Annotated[
        Path,
        typer.Argument(
            help="Orders file: JSON lines (.jsonl, .ndjson, .json), CSV (.csv, .tsv, .txt) or Excel (.xlsx).",
            metavar="FILE",
        ),
    ],
    channel: Annotated[
        Channel,
        typer.Option(case_sensitive=False, help="Sales channel of every order in the file; ids are CHANNEL-NUMBER."),
    ],
    mapping: Annotated[
        Layout | None,
        typer.Option(
            case_sensitive=False,
            help="How rows map to orders: web (an order's JSON per line, as `oms order place` takes it), "
            "marketplace (an order export, a row per item), spreadsheet (a row per line, grouped by order "
            "number). (default: web for web, marketplace for marketplace, spreadsheet for the others)",
        ),
    ] = None,
    file_format: Annotated[
        FileFormat | None,
        typer.Option("--format", case_sensitive=False, help="jsonl, csv or xlsx. (default: from the extension)"),
    ] = None,
    decimal_comma: Annotated[
        bool,
        typer.Option(
            "--decimal-comma",
            help="Read a CSV file's amounts with a decimal comma (14,90 and 1.234,50), whatever its delimiter. "
            "(default: only for a ';'-separated file; an amount that reads two ways, such as 1.234, is rejected)",
        ),
    ] = False,
    mode: ModeOption = None,
    as_json: AsJson = False,
) -> None:
    """Place every order of a file once: importing it again places nothing new.

    Rejected rows are listed with their row number and reason, and written to orders.rejected.csv beside orders.csv.

    Exit status 1 when a row was rejected or an order could not be placed.
    """

    async def place(shop: Shop) -> ImportOutcome:
        with _placing_bar() as progress:
            return await shop.import_orders(
                source,
                channel,
                mapping=mapping,
                format=file_format,
                mode=mode,
                progress=progress,
                by=CLI,
                decimal_comma=decimal_comma,
            )

    outcome = in_shop(place)
    written, trouble = _rejected_file(outcome)
    summary = outcome.summary
    if written is not None:
        summary += f"; rejected rows written to {written}"
    if trouble is not None:
        summary += f"; {trouble}"
    if as_json:
        typer.echo(json.dumps(_import_json(outcome, written, summary), indent=2))
    else:
        for line in outcome.row_lines():
            typer.echo(line)
        typer.echo(summary)
    if outcome.failed:
        raise typer.Exit(1)


@contextmanager
def _placing_bar() -> Iterator[Callable[[int, int], None]]:
    """A progress bar while a long import places its orders on a terminal; nothing for a short one or a pipe."""
    console = Console(stderr=True)
    with Progress(
        TextColumn("placing orders"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("orders"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("placing", total=None, visible=False)

        def placed(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, visible=total >= LONG_IMPORT)

        yield placed


def _rejected_file(outcome: ImportOutcome) -> tuple[Path | None, str | None]:
    """Write the rejected rows beside the input, or remove an earlier run's file when none are rejected now."""
    path = intake.rejected_path(outcome.file.path)
    try:
        if not outcome.rows.rejected:
            # An earlier run's file would otherwise send the operator fixing rows that are placed by now.
            path.unlink(missing_ok=True)
            return None, None
        outcome.write_rejected(path)
    except OSError as error:
        return None, f"cannot write {path}: {error.strerror or error}"
    return path, None


def _import_json(outcome: ImportOutcome, written: Path | None, summary: str) -> dict[str, object]:
    """`oms order import --json`: the same account of every row, for scripts."""
    rows = outcome.rows
    return {
        "file": str(outcome.file.path),
        "format": outcome.file.file_format.value,
        "channel": outcome.channel.value,
        "mapping": outcome.layout.value,
        "placed": [{"order_id": item.order_id, "rows": list(item.rows)} for item in rows.placed],
        "already_placed": [{"order_id": item.order_id, "rows": list(item.rows)} for item in rows.already_placed],
        "repeated_rows": [{"row": item.row, "duplicate_of": item.duplicate_of} for item in rows.repeated],
        "rejected": [{"row": item.row, "order": item.order, "reason": item.reason} for item in rows.rejected],
        "not_placed": [
            {"order_id": item.order_id, "rows": list(item.rows), "reason": reason} for item, reason in rows.not_placed
        ],
        "rejected_file": str(written) if written is not None else None,
        "summary": summary,
    }


@order_app.command("pay")
def order_pay(
    order_id: OrderId,
    reference: Annotated[str | None, typer.Option(help="Bank or invoice payment reference.")] = None,
) -> None:
    """Confirm that a bank-transfer or invoice payment has arrived."""
    _send(order_id, Command.PAYMENT_RECEIVED, PaymentReceived(reference=reference, by=CLI))


@order_app.command("pick")
def order_pick(order_id: OrderId) -> None:
    """Confirm that every line has been picked (manual mode)."""
    _send(order_id, Command.PICKED, Picked(by=CLI))


@order_app.command("pack")
def order_pack(order_id: OrderId) -> None:
    """Confirm that the parcel is packed (manual mode)."""
    _send(order_id, Command.PACKED, Packed(by=CLI))


@order_app.command("ship")
def order_ship(
    order_id: OrderId,
    carrier: Annotated[str, typer.Option(help="Carrier the parcel went out with, e.g. DHL.")],
    tracking: Annotated[str, typer.Option(help="The carrier's tracking number.")],
) -> None:
    """Record that the parcel went out with your own carrier under a tracking number."""
    _send(order_id, Command.SHIPPED, _valid(Shipped, carrier=carrier, tracking=tracking, by=CLI))


@order_app.command("deliver")
def order_deliver(order_id: OrderId) -> None:
    """Record delivery of a parcel you shipped with your own carrier (`oms order ship`)."""
    _send(
        order_id,
        Command.DELIVERY_EVENT,
        DeliveryEvent(event="delivered", detail="confirmed by the operator", by=CLI),
    )


@order_app.command("complete")
def order_complete(
    order_id: OrderId,
    note: Annotated[str | None, typer.Option(help="Why, e.g. 'handed over in the shop'.")] = None,
) -> None:
    """Complete an order you fulfilled outside the system."""
    _send(order_id, Command.COMPLETE, _valid(Complete, note=note, by=CLI))


@order_app.command("feedback")
def order_feedback(
    order_id: OrderId,
    rating: Annotated[int, typer.Option(min=1, max=5, help="The customer's rating, 1 (bad) to 5 (great).")],
    comment: Annotated[str | None, typer.Option(help="What the customer said.")] = None,
) -> None:
    """Record the customer's answer to the satisfaction survey."""
    _send(order_id, Command.FEEDBACK, _valid(Feedback, rating=rating, comment=comment, by=CLI))


@order_app.command("refund")
def order_refund(
    order_id: OrderId,
    reason: Annotated[str, typer.Option(help="Why, as the customer will read it, e.g. 'arrived broken'.")],
    line: Annotated[
        list[str] | None,
        typer.Option(help="Refund only SKU:QTY (repeatable); without it, everything not yet refunded."),
    ] = None,
    no_restock: Annotated[
        list[str] | None, typer.Option(help="SKU not to put back on sale, e.g. damaged (repeatable).")
    ] = None,
) -> None:
    """Refund an order, whole or some lines: money back, goods restocked, customer emailed, within the SLA."""
    items = [_refund_item(text) for text in line or []]
    _send(order_id, Command.REFUND, _valid(Refund, reason=reason, lines=items, no_restock=no_restock or [], by=CLI))


@order_app.command("cancel")
def order_cancel(
    order_id: OrderId,
    reason: Annotated[str, typer.Option(help="Why, as the customer will read it.")],
) -> None:
    """Cancel an order that has not shipped: its stock is released and any payment taken is refunded."""
    _send(order_id, Command.CANCEL, _valid(Cancel, reason=reason, by=CLI))


@order_app.command("refund-paid-out")
def order_refund_paid_out(
    order_id: OrderId,
    reference: Annotated[str | None, typer.Option(help="Reference of your bank transfer back to the customer.")] = None,
    by: Annotated[str | None, typer.Option(help="Who paid it out.")] = None,
) -> None:
    """Confirm you paid a bank-transfer, invoice or cash refund back by hand; the refund then finishes."""
    _send(order_id, Command.REFUND_PAID_OUT, _valid(RefundPaidOut, reference=reference, by=by or CLI))


def _refund_item(text: str) -> RefundItem:
    """`SKU:QTY` from a `--line` option."""
    sku, colon, quantity = text.strip().rpartition(":")
    if not colon or not sku or not quantity.strip().isdigit():
        fail(f"--line {text!r}: expected SKU:QTY, e.g. MUG-ENAMEL:1")
    try:
        return RefundItem(sku=sku, quantity=int(quantity))
    except ValidationError as error:
        fail(f"--line {text!r}: {error.errors(include_url=False)[0]['msg']}")


# --- stock --------------------------------------------------------------------------------------------------


@stock_app.command("receive")
def stock_receive(
    sku: Annotated[str, typer.Argument(help="The SKU that arrived, e.g. COFFEE-1KG.", metavar="SKU")],
    quantity: Annotated[int, typer.Argument(min=1, help="How many units arrived.", metavar="QTY")],
    warehouse: Annotated[str | None, typer.Option(help="Warehouse that received it. (default: OMS_WAREHOUSE)")] = None,
    receipt: Annotated[
        str | None,
        typer.Option(
            help="Delivery note or receipt id; the same receipt is only ever counted once. (default: a new one)"
        ),
    ] = None,
) -> None:
    """Book a stock receipt and tell every backordered order to try again."""
    booked = in_shop(lambda shop: shop.receive_stock(sku, quantity, warehouse=warehouse, receipt=receipt, by=CLI))
    level = booked.level
    typer.echo(
        f"received {quantity} x {level.sku} into {level.warehouse}: {level.available} available; "
        f"{booked.woken} backordered order(s) told to try again"
    )


@stock_app.command("list")
def stock_list(
    low: Annotated[
        bool, typer.Option("--low", help="Only SKUs with OMS_LOW_STOCK_UNITS or fewer units available.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Show every product with its stock: available, reserved for orders, shipped."""

    async def read(shop: Shop) -> tuple[list[StockCount], int]:
        return await shop.stock(), shop.settings.low_stock_units

    levels, low_units = in_shop(read)
    if low:
        levels = [level for level in levels if level.available <= low_units]
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(level) for level in levels], indent=2))
        return
    table = Table("SKU", "product", "warehouse", "available", "reserved", "shipped")
    for column in (3, 4, 5):
        table.columns[column].justify = "right"
    for level in levels:
        available = str(level.available)
        if level.available <= low_units:
            available = f"[red]{available}[/red]" if level.sold_out else f"[yellow]{available}[/yellow]"
        table.add_row(
            level.sku, escape(level.name), level.warehouse, available, str(level.reserved), str(level.shipped)
        )
    console = Console()
    console.print(table)
    if low:
        console.print(f"{len(levels)} SKUs with {low_units} or fewer units available (OMS_LOW_STOCK_UNITS)")


# --- products -----------------------------------------------------------------------------------------------


@product_app.command("add")
def product_add(
    sku: Annotated[str, typer.Argument(help="The new product's SKU, e.g. MUG-RED.", metavar="SKU")],
    name: Annotated[str, typer.Option(help="What customers and emails call it.")],
    price: Annotated[str, typer.Option(help="Unit price, e.g. 12.50 (a decimal point, no thousands separator).")],
    currency: Annotated[str | None, typer.Option(help="ISO 4217 code. (default: OMS_BASE_CURRENCY)")] = None,
    stock: Annotated[int, typer.Option(min=0, help="Units on hand now (booked as opening stock).")] = 0,
    warehouse: Annotated[str | None, typer.Option(help="Where the stock is. (default: OMS_WAREHOUSE)")] = None,
) -> None:
    """Add a product to the catalogue with its opening stock."""

    async def add(shop: Shop) -> CatalogueItem:
        try:
            return await shop.add_product(sku, name, price, currency=currency, stock=stock, warehouse=warehouse)
        except InvalidInput as error:
            _bad_option(error)

    item = in_shop(add)
    typer.echo(f"{item.sku}: {item.name}, {item.price.format()}, {stock} units in stock")


@product_app.command("list")
def product_list(as_json: AsJson = False) -> None:
    """Show the catalogue: SKU, name and price."""
    items = in_shop(lambda shop: shop.products())
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "sku": item.sku,
                        "name": item.name,
                        "price": item.price.model_dump(mode="json"),
                    }
                    for item in items
                ],
                indent=2,
            )
        )
        return
    table = Table("SKU", "product", "price")
    table.columns[2].justify = "right"
    for item in items:
        table.add_row(item.sku, escape(item.name), item.price.format())
    Console().print(table)


# --- reports ------------------------------------------------------------------------------------------------


@app.command("report")
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

    async def read(shop: Shop) -> Report:
        zone = shop.settings.calendar.zone
        try:
            return await shop.report(moment_option("--since", since, zone), moment_option("--until", until, zone))
        except InvalidInput:
            fail(f"--until {until!r}: must be after --since {since!r}")

    result = in_shop(read)
    if csv_file is not None:
        _write("--csv", csv_file, report_csv(result))
    if xlsx_file is not None:
        _write("--xlsx", xlsx_file, report_xlsx(result))
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    _show_report(result)
    for path in (csv_file, xlsx_file):
        if path is not None:
            typer.echo(f"written to {path}", err=True)


def _show_report(result: Report) -> None:
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


def _write(option: str, path: Path, content: bytes) -> None:
    """A report file written where the operator asked, or one line saying why it could not be."""
    try:
        path.write_bytes(content)
    except OSError as error:
        fail(f"{option} {path}: {error.strerror or error}")


app.add_typer(schedules.schedule_app, name="schedule")
app.add_typer(db_command.db_app, name="db")
app.add_typer(operator_command.operator_app, name="operator")
app.add_typer(keys_command.keys_app, name="keys")


# --- plumbing -----------------------------------------------------------------------------------------------


def _logged(serve: Callable[[Settings], Coroutine[Any, Any, None]]) -> Callable[[Settings], Coroutine[Any, Any, None]]:
    """A long-running command that logs at the configured level first."""

    async def logged(settings: Settings) -> None:
        configure_logging(settings)
        await serve(settings)

    return logged


def _read(source: str) -> str:
    """The text of an order file, or of stdin for `-`."""
    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"cannot read {source}: {getattr(error, 'strerror', None) or error}")


def _valid(model: type[BaseModel], **fields: object) -> BaseModel:
    """A command model built from options, or the first problem in the option's own name."""
    try:
        return model(**fields)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        option = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "input"
        fail(f"{option}: {first['msg']}")


def _send(order_id: str, command: Command, payload: BaseModel) -> None:
    """Send an operator command and print the answer; a refusal exits 1 with the reason."""
    accepted = in_shop(lambda shop: shop.send(order_id, command, payload))
    typer.echo(f"{accepted.order_id}: {accepted.message}")


def _bad_option(error: InvalidInput) -> NoReturn:
    """A bad value told in the option's own name, e.g. `--status 'x': not a list ...` or `SKU: ...`."""
    option = "SKU" if error.field == "sku" else "--" + error.field.replace("_", "-")
    fail(f"{option} {error.value!r}: {error.problem}" if error.value is not None else f"{option}: {error.problem}")


# --- the order summary --------------------------------------------------------------------------------------


def _summary(view: OrderView, shop_zone: ZoneInfo) -> Group:
    """The order as an operator reads it: headline, lines, payment, shipment, follow-up, timeline."""
    headline = (
        f"[bold]Order {view.order_id}[/bold]  [bold cyan]{view.status.value}[/bold cyan] "
        f"({view.status.operator_list.value} list)  {view.mode.value} mode  placed {_when(view.placed_at)}\n"
        f"{escape(view.customer.name)} <{escape(view.customer.email)}>, {escape(_address(view))}"
    )
    parts: list[RenderableType] = [headline, _lines(view), _payment(view)]
    if view.backordered_skus:
        parts.append(f"[yellow]Backordered:[/yellow] {', '.join(view.backordered_skus)}")
    if view.shipment is not None:
        shipment = view.shipment
        delivered = f", delivered {_when(shipment.delivered_at)}" if shipment.delivered_at else ""
        parts.append(
            f"[bold]Shipment:[/bold] {escape(shipment.carrier)} {escape(shipment.tracking)}, "
            f"shipped {_when(shipment.shipped_at)}, last event {escape(shipment.last_event or '-')}{delivered}"
        )
    parts.extend(_refund(refund, shop_zone) for refund in view.refunds)
    parts.append(_follow_up(view))
    parts.append(_timeline(view))
    return Group(*parts)


def _address(view: OrderView) -> str:
    address = view.shipping_address
    street = ", ".join(part for part in (address.line1, address.line2) if part)
    return f"{street}, {address.postal_code} {address.city}, {address.country}"


def _lines(view: OrderView) -> Table:
    table = Table("SKU", "product", "qty", "unit price", "total", title="Lines", title_justify="left")
    for column in (2, 3, 4):
        table.columns[column].justify = "right"
    for line in view.lines:
        table.add_row(
            line.sku, escape(line.name or ""), str(line.quantity), line.unit_price.format(), line.total.format()
        )
    table.add_section()
    table.add_row("", "subtotal", "", "", view.totals.subtotal.format())
    table.add_row("", "shipping", "", "", view.totals.shipping.format())
    table.add_row("", "[bold]total[/bold]", "", "", f"[bold]{view.totals.total.format()}[/bold]")
    return table


def _payment(view: OrderView) -> str:
    payment = view.payment
    text = f"[bold]Payment:[/bold] {escape(payment.reference)}, {escape(payment.state)}"
    if payment.captured is not None:
        text += f", {payment.captured.format()} captured {_when(payment.captured_at)}"
    if payment.gateway_reference:
        text += f" ({escape(payment.gateway_reference)})"
    if payment.failure:
        text += f", [red]{escape(payment.failure)}[/red]"
    return text


def _refund(refund: RefundView, shop_zone: ZoneInfo) -> str:
    """One refund or cancellation: what goes back, by when, and how it went."""
    lines = ", ".join(
        f"{line.quantity} x {line.sku}" + ("" if line.restock else " (no restock)") for line in refund.lines
    )
    text = (
        f"[bold]{refund.kind.value.capitalize()} {refund.refund_id}:[/bold] {refund.amount.format()}"
        f" ({escape(lines)}), '{escape(refund.reason)}'; due {_shop_time(refund.deadline, shop_zone)};"
        f" {refund.state.value}"
    )
    if refund.paid_at:
        reference = refund.payout_reference or refund.gateway_reference or ""
        text += f"; paid back {_when(refund.paid_at)} {escape(reference)}"
    if refund.needs_payout and not refund.paid_at:
        text += "; [yellow]waiting for you to pay it out (`oms order refund-paid-out`)[/yellow]"
    if refund.escalated_at:
        text += f"; [red]escalated {_when(refund.escalated_at)}[/red]"
    stock = [
        f"{refund.restocked_units} restocked" if refund.restocked_units else "",
        f"{refund.released_units} released" if refund.released_units else "",
        f"{refund.written_off_units} written off" if refund.written_off_units else "",
    ]
    if any(stock):
        text += "; " + ", ".join(part for part in stock if part)
    if refund.finished_at:
        sla = "[green]within SLA[/green]" if refund.within_sla else "[red]outside SLA[/red]"
        text += f"; finished {_when(refund.finished_at)}, {sla}"
    return text


def _follow_up(view: OrderView) -> str:
    follow_up = view.follow_up
    facts = [
        f"survey due {_when(follow_up.survey_due_at)}" if follow_up.survey_due_at else None,
        f"survey sent {_when(follow_up.survey_sent_at)}" if follow_up.survey_sent_at else None,
        f"rated {follow_up.feedback_rating}/5" if follow_up.feedback_rating else None,
        f"'{escape(follow_up.feedback_comment)}'" if follow_up.feedback_comment else None,
        f"closes {_when(follow_up.closes_at)}" if follow_up.closes_at else None,
    ]
    return "[bold]Follow-up:[/bold] " + (", ".join(fact for fact in facts if fact) or "not started")


def _timeline(view: OrderView) -> Table:
    table = Table("at", "event", "status", "detail", "by", title="Timeline", title_justify="left")
    table.columns[3].overflow = "fold"
    table.columns[4].overflow = "fold"
    for entry in view.timeline:
        event = Text(entry.event, style="red" if entry.rejected else "")
        table.add_row(
            _when(entry.at),
            event,
            entry.status.value if entry.status else "",
            Text(entry.detail or ""),
            Text(entry.by or ""),
        )
    return table


def _shop_time(moment: datetime, shop_zone: ZoneInfo) -> str:
    """A deadline as the shop counts it: its own time zone, named."""
    return moment.astimezone(shop_zone).strftime("%a %d %b %Y %H:%M %Z")


def _when(moment: datetime | None) -> str:
    """A moment in the operator's local time."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"
