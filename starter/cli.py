"""The `oms` command line: run the stack or a worker, place orders, act on them and receive stock."""

from __future__ import annotations

import dataclasses
import json
import sys
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import typer
from pydantic import BaseModel, ValidationError
from rich import box
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError, TemporalError
from temporalio.service import RPCError, RPCStatusCode

from domain.commands import (
    Command,
    CommandAccepted,
    Complete,
    DeliveryEvent,
    Feedback,
    Packed,
    PaymentReceived,
    Picked,
    Shipped,
    StockArrived,
)
from domain.money import MINOR_UNITS, SUPPORTED_CURRENCIES, Money
from domain.order import Channel, normal_sku
from domain.refund import Cancel, Refund, RefundItem, RefundPaidOut, RefundView
from domain.status import OperatorList, OrderStatus
from domain.view import OrderView
from settings import Settings
from starter import db_command, import_command, report, runs, schedules, stack
from starter.commandline import AsJson, CommandFailed, ModeOption, database, fail, moment_option, with_database
from starter.commandline import run as run_command
from starter.placement import parse_order, place_order
from store import catalogue, orders
from store.schema import OrderRecord
from worker import (
    configure_logging,
    connect,
    exit_now,
    run_worker,
)
from workflows.order import STATUS_QUERY, workflow_id

T = TypeVar("T")

# How long a query or an Update waits for a worker to answer before the operator is told none is running.
ANSWER_TIMEOUT = timedelta(seconds=30)

# `oms order list` keeps at least this much of the customer's name before it drops the channel column.
MIN_NAME_WIDTH = 10

# `store.orders.list_orders` pages newest first; a stock receipt must reach every backordered order.
ALL_BACKORDERED = 100_000

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
    """Run the whole stack in the foreground: Temporal dev server and UI, worker, SMTP sink, OMS database.

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
) -> None:
    """Run one worker on the order task queue; SIGINT or SIGTERM drains it. Start several to scale out.

    Needs the database at the newest schema: run `oms db upgrade` first, or set OMS_MIGRATE_ON_START=true.
    """
    run_command(_logged(lambda settings: run_worker(settings, warehouse=warehouse)))


app.command("run")(runs.fulfilment_run)


# --- orders -------------------------------------------------------------------------------------------------


@order_app.command("place")
def order_place(
    source: Annotated[str, typer.Argument(help="Order JSON file, or - to read it from stdin.", metavar="FILE|-")],
    mode: ModeOption = None,
    as_json: AsJson = False,
) -> None:
    """Validate an order and start its workflow; prints the order id."""
    text = _read(source)

    async def place(settings: Settings) -> str:
        # Validation first: bad input must fail the same whether or not Temporal is up.
        order = parse_order(text)
        client = await connect(settings)
        async with database(settings) as sessions:
            return await place_order(client, settings, sessions, order, mode)

    order_id = run_command(place)
    typer.echo(json.dumps({"id": order_id}) if as_json else order_id)


@order_app.command("status")
def order_status(order_id: OrderId, as_json: AsJson = False) -> None:
    """Show an order: status, lines, totals, payment, shipment, follow-up and timeline."""
    wanted = _order_id(order_id)

    async def query(settings: Settings) -> tuple[OrderView, ZoneInfo]:
        handle = _handle(await connect(settings), wanted)
        try:
            view: OrderView = await handle.query(STATUS_QUERY, result_type=OrderView, rpc_timeout=ANSWER_TIMEOUT)
        except RPCError as error:
            raise _rpc_failure(wanted, error) from None
        except WorkflowQueryFailedError as error:
            raise CommandFailed(f"order {wanted} could not answer: {error.message}") from None
        return view, settings.calendar.zone

    view, shop_zone = run_command(query)
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
    by_status = _status_filter(status)
    from_channel = _channel(channel)

    async def read(settings: Settings) -> tuple[dict[str, int], int, list[OrderRecord]]:
        wanted = orders.OrderFilter(
            **by_status,
            channel=from_channel,
            # A time without a zone is the shop's time.
            since=moment_option("--since", since, settings.calendar.zone),
            search=search.strip() if search and search.strip() else None,
        )
        async with database(settings) as sessions:
            per_list = await orders.count_by_list(sessions, wanted)
            matching = await orders.count_orders(sessions, wanted, per_list)
            shown = await orders.list_orders(sessions, where=wanted, limit=limit)
        return per_list, matching, shown

    per_list, matching, shown = run_command(read)
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


def _status_filter(value: str | None) -> dict[str, str | None]:
    """`--status` as a list or a status filter."""
    if value is None:
        return {}
    wanted = value.strip().lower()
    if wanted in {operator_list.value for operator_list in OperatorList}:
        return {"operator_list": wanted}
    if wanted not in {status.value for status in OrderStatus}:
        lists = ", ".join(operator_list.value for operator_list in OperatorList)
        statuses = ", ".join(status.value for status in OrderStatus)
        fail(f"--status {value!r}: not a list ({lists}) or a status ({statuses})")
    return {"status": wanted}


def _channel(value: str | None) -> str | None:
    """`--channel` checked against the channels orders come from."""
    if value is None:
        return None
    wanted = value.strip().lower()
    if wanted not in {channel.value for channel in Channel}:
        fail(f"--channel {value!r}: not a channel ({', '.join(channel.value for channel in Channel)})")
    return wanted


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


order_app.command("import")(import_command.order_import)


@order_app.command("pay")
def order_pay(
    order_id: OrderId,
    reference: Annotated[str | None, typer.Option(help="Bank or invoice payment reference.")] = None,
) -> None:
    """Confirm that a bank-transfer or invoice payment has arrived."""
    _send(order_id, Command.PAYMENT_RECEIVED, PaymentReceived(reference=reference))


@order_app.command("pick")
def order_pick(order_id: OrderId) -> None:
    """Confirm that every line has been picked (manual mode)."""
    _send(order_id, Command.PICKED, Picked(by="oms cli"))


@order_app.command("pack")
def order_pack(order_id: OrderId) -> None:
    """Confirm that the parcel is packed (manual mode)."""
    _send(order_id, Command.PACKED, Packed(by="oms cli"))


@order_app.command("ship")
def order_ship(
    order_id: OrderId,
    carrier: Annotated[str, typer.Option(help="Carrier the parcel went out with, e.g. DHL.")],
    tracking: Annotated[str, typer.Option(help="The carrier's tracking number.")],
) -> None:
    """Record that the parcel went out with your own carrier under a tracking number."""
    _send(order_id, Command.SHIPPED, _valid(Shipped, carrier=carrier, tracking=tracking))


@order_app.command("deliver")
def order_deliver(order_id: OrderId) -> None:
    """Record delivery of a parcel you shipped with your own carrier (`oms order ship`)."""
    _send(order_id, Command.DELIVERY_EVENT, DeliveryEvent(event="delivered", detail="confirmed by the operator"))


@order_app.command("complete")
def order_complete(
    order_id: OrderId,
    note: Annotated[str | None, typer.Option(help="Why, e.g. 'handed over in the shop'.")] = None,
) -> None:
    """Complete an order you fulfilled outside the system."""
    _send(order_id, Command.COMPLETE, _valid(Complete, note=note))


@order_app.command("feedback")
def order_feedback(
    order_id: OrderId,
    rating: Annotated[int, typer.Option(min=1, max=5, help="The customer's rating, 1 (bad) to 5 (great).")],
    comment: Annotated[str | None, typer.Option(help="What the customer said.")] = None,
) -> None:
    """Record the customer's answer to the satisfaction survey."""
    _send(order_id, Command.FEEDBACK, _valid(Feedback, rating=rating, comment=comment))


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
    _send(order_id, Command.REFUND, _valid(Refund, reason=reason, lines=items, no_restock=no_restock or []))


@order_app.command("cancel")
def order_cancel(
    order_id: OrderId,
    reason: Annotated[str, typer.Option(help="Why, as the customer will read it.")],
) -> None:
    """Cancel an order that has not shipped: its stock is released and any payment taken is refunded."""
    _send(order_id, Command.CANCEL, _valid(Cancel, reason=reason))


@order_app.command("refund-paid-out")
def order_refund_paid_out(
    order_id: OrderId,
    reference: Annotated[str | None, typer.Option(help="Reference of your bank transfer back to the customer.")] = None,
    by: Annotated[str | None, typer.Option(help="Who paid it out.")] = None,
) -> None:
    """Confirm you paid a bank-transfer, invoice or cash refund back by hand; the refund then finishes."""
    _send(order_id, Command.REFUND_PAID_OUT, _valid(RefundPaidOut, reference=reference, by=by))


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
    sku = sku.strip().upper()

    async def receive(settings: Settings) -> tuple[catalogue.StockCount, int]:
        client = await connect(settings)
        into = warehouse or settings.warehouse
        async with database(settings) as sessions:
            try:
                level = await catalogue.receive_stock(
                    sessions, sku, quantity, into, receipt or f"cli-{uuid.uuid4().hex}"
                )
            except catalogue.UnknownSku as error:
                raise CommandFailed(str(error)) from None
            waiting = await orders.list_orders(sessions, status=OrderStatus.BACKORDERED.value, limit=ALL_BACKORDERED)
        for record in waiting:
            # A backordered order that closed since the read model was written has nothing left to resume.
            try:
                await _handle(client, record.order_id).signal(Command.STOCK_ARRIVED.value, StockArrived(sku=sku))
            except RPCError as error:
                if error.status is not RPCStatusCode.NOT_FOUND:
                    raise
        return level, len(waiting)

    level, woken = run_command(receive)
    typer.echo(
        f"received {quantity} x {sku} into {level.warehouse}: {level.available} available; "
        f"{woken} backordered order(s) told to try again"
    )


@stock_app.command("list")
def stock_list(
    low: Annotated[
        bool, typer.Option("--low", help="Only SKUs with OMS_LOW_STOCK_UNITS or fewer units available.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Show every product with its stock: available, reserved for orders, shipped."""

    async def read(settings: Settings) -> tuple[list[catalogue.StockCount], int]:
        levels = await with_database(settings, catalogue.stock_levels)
        return levels, settings.low_stock_units

    levels, low_units = run_command(read)
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
    try:
        wanted_sku = normal_sku(sku)
    except ValueError as error:
        fail(f"SKU: {error}")
    if not name.strip():
        fail("--name: must not be empty")

    async def add(settings: Settings) -> catalogue.CatalogueItem:
        code = (currency or settings.base_currency).strip().upper()
        if code not in SUPPORTED_CURRENCIES:
            raise CommandFailed(f"--currency {code!r}: not a supported ISO 4217 currency")
        try:
            amount = Decimal(price.strip())
            unit_price = Money.of(amount, code)
        except (ValidationError, ArithmeticError) as error:
            raise CommandFailed(f"--price {price!r}: {_first_problem(error)}") from None
        if unit_price.amount != amount or amount <= 0:
            raise CommandFailed(
                f"--price {price!r}: must be more than 0 with at most {MINOR_UNITS[code]} decimals for {code}"
            )
        async with database(settings) as sessions:
            try:
                return await catalogue.add_product(
                    sessions,
                    wanted_sku,
                    name.strip(),
                    unit_price,
                    warehouse=warehouse or settings.warehouse,
                    stock=stock,
                )
            except catalogue.ProductExists as error:
                raise CommandFailed(str(error)) from None

    item = run_command(add)
    typer.echo(f"{item.sku}: {item.name}, {item.price.format()}, {stock} units in stock")


@product_app.command("list")
def product_list(as_json: AsJson = False) -> None:
    """Show the catalogue: SKU, name and price."""
    items = run_command(lambda settings: with_database(settings, catalogue.list_products))
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


def _first_problem(error: Exception) -> str:
    """The first thing wrong, in words: a pydantic error's message or the exception's own."""
    if isinstance(error, ValidationError):
        return str(error.errors(include_url=False)[0]["msg"]).removeprefix("Value error, ")
    return "not a number" if isinstance(error, ArithmeticError) else str(error)


# --- reports ------------------------------------------------------------------------------------------------

app.command("report")(report.report)
app.add_typer(schedules.schedule_app, name="schedule")
app.add_typer(db_command.db_app, name="db")


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


def _order_id(value: str) -> str:
    """The order id from what the operator typed: `web-1001` or the workflow id `order-web-1001`."""
    value = value.strip()
    return value.removeprefix("order-")


def _handle(client: Client, order_id: str) -> WorkflowHandle[object, object]:
    """The handle of an order's workflow."""
    return client.get_workflow_handle(workflow_id(order_id))


def _send(raw_order_id: str, command: Command, arg: BaseModel) -> None:
    """Send an operator command as an Update and print the answer; a refusal exits 1 with the reason."""
    order_id = _order_id(raw_order_id)

    async def update(settings: Settings) -> CommandAccepted:
        client = await connect(settings)
        handle = _handle(client, order_id)
        try:
            accepted: CommandAccepted = await handle.execute_update(
                command.value, arg, result_type=CommandAccepted, rpc_timeout=ANSWER_TIMEOUT
            )
        except WorkflowUpdateFailedError as error:
            # The workflow's reason names the order and the command already.
            raise CommandFailed(
                error.cause.message if isinstance(error.cause, ApplicationError) else str(error.cause)
            ) from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise CommandFailed(_no_answer(order_id)) from None
        except RPCError as error:
            if _closed(error):
                raise CommandFailed(await _why_closed(client, order_id, command)) from None
            raise _rpc_failure(order_id, error) from None
        return accepted

    accepted = run_command(update)
    typer.echo(f"{accepted.order_id}: {accepted.message}")


def _closed(error: RPCError) -> bool:
    return error.status is RPCStatusCode.NOT_FOUND and "completed" in error.message.lower()


async def _why_closed(client: Client, order_id: str, command: Command) -> str:
    """Why a closed order refuses a command, from its final view."""
    handle = client.get_workflow_handle(workflow_id(order_id), result_type=OrderView)
    try:
        final = await handle.result(rpc_timeout=ANSWER_TIMEOUT)
    except TemporalError:  # the generic answer is still right; the detail is a courtesy
        return f"{command.value} refused for order {order_id}: the order is closed"
    if final.status.is_final:
        return f"{command.value} refused for order {order_id}: the order is {final.status.value} and closed"
    closes = final.follow_up.closes_at
    window = f" on {_when(closes)}" if closes else ""
    if command is Command.REFUND:
        return f"refund refused for order {order_id}: the refund window closed{window}; the order is closed"
    return f"{command.value} refused for order {order_id}: its follow-up and refund window ended{window}"


def _rpc_failure(order_id: str, error: RPCError) -> CommandFailed:
    """What a failed call to Temporal means for the operator."""
    if error.status is RPCStatusCode.NOT_FOUND:
        if "completed" in error.message.lower():
            return CommandFailed(f"order {order_id} is closed: its follow-up and refund window are over")
        return CommandFailed(f"order {order_id} not found")
    if error.status is RPCStatusCode.DEADLINE_EXCEEDED:
        return CommandFailed(_no_answer(order_id))
    return CommandFailed(f"Temporal refused the request for order {order_id}: {error.message}")


def _no_answer(order_id: str) -> str:
    """The message when no worker answers for an order."""
    return (
        f"order {order_id} did not answer within {ANSWER_TIMEOUT.seconds}s: "
        "is a worker running (`oms up` or `oms worker`)?"
    )


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
    table = Table("at", "event", "status", "detail", title="Timeline", title_justify="left")
    table.columns[3].overflow = "fold"
    for entry in view.timeline:
        event = Text(entry.event, style="red" if entry.rejected else "")
        table.add_row(_when(entry.at), event, entry.status.value if entry.status else "", Text(entry.detail or ""))
    return table


def _shop_time(moment: datetime, shop_zone: ZoneInfo) -> str:
    """A deadline as the shop counts it: its own time zone, named."""
    return moment.astimezone(shop_zone).strftime("%a %d %b %Y %H:%M %Z")


def _when(moment: datetime | None) -> str:
    """A moment in the operator's local time."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"
