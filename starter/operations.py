"""The one place where operator work is done: placing, commands, lists, the report, stock and imports.

The `oms` CLI and the web console both call `Shop`; they parse what the operator typed or clicked and show the
answer, nothing more. Every failure the operator should read is an `OperationFailed` whose message is one line.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError, TemporalError
from temporalio.service import RPCError, RPCStatusCode

from domain.commands import Command, CommandAccepted, StockArrived
from domain.money import MINOR_UNITS, SUPPORTED_CURRENCIES, Money
from domain.order import Channel, FulfilmentMode, Order, normal_sku
from domain.report import Period, Report
from domain.status import OperatorList, OrderStatus
from domain.view import OrderView
from settings import Settings
from starter import import_command, intake
from starter.import_command import ImportOutcome, Progress
from starter.intake import FileFormat, Layout
from starter.placement import place_order

# The report's files are made beside the layer; the CLI and the console take them from here.
from starter.report import report_csv as report_csv
from starter.report import report_xlsx as report_xlsx
from store import catalogue
from store import orders as read_model
from store.catalogue import CatalogueItem, StockCount
from store.db import create_engine, session_factory
from store.orders import OrderFilter
from store.reports import build_report
from store.schema import OrderRecord
from worker import TemporalUnreachable, connect
from workflows.order import STATUS_QUERY, workflow_id

# How long a query or an Update waits for a worker to answer before the operator is told none is running.
ANSWER_TIMEOUT = timedelta(seconds=30)

# `store.orders.list_orders` pages newest first; a stock receipt must reach every backordered order.
ALL_BACKORDERED = 100_000


class OperationFailed(Exception):
    """One line the operator reads: what could not be done and why."""


class OrderNotFound(OperationFailed):
    """No order has this id."""

    def __init__(self, order_id: str) -> None:
        self.order_id = order_id
        super().__init__(f"order {order_id} not found")


class CommandRefused(OperationFailed):
    """The order refused the command; the message is the workflow's reason and names the order and command."""

    def __init__(self, order_id: str, command: Command, reason: str) -> None:
        self.order_id = order_id
        self.command = command
        super().__init__(reason)


class NoAnswer(OperationFailed):
    """No worker answered for the order within `ANSWER_TIMEOUT`."""

    def __init__(self, order_id: str) -> None:
        self.order_id = order_id
        super().__init__(
            f"order {order_id} did not answer within {ANSWER_TIMEOUT.seconds}s: "
            "is a worker running (`oms up` or `oms worker`)?"
        )


class InvalidInput(OperationFailed, ValueError):
    """A value the operator gave is wrong: names the field, the value where it helps, and the problem."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"{field} {value!r}: {problem}" if value is not None else f"{field}: {problem}")


class ImportRefused(OperationFailed):
    """The file as a whole cannot be imported (unreadable, empty, a required column missing); nothing was placed."""


@dataclass(frozen=True)
class OrderPage:
    """One page of an order list, newest first, with how many orders match in each list and in all."""

    counts: dict[str, int]
    matching: int
    orders: list[OrderRecord]


@dataclass(frozen=True)
class StockReceipt:
    """A booked stock receipt: the SKU's stock now, and how many backordered orders were told to try again."""

    level: StockCount
    woken: int


class Shop:
    """The operations layer: one Temporal client and one OMS database for the length of a command or a server."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        client: Client | None = None,
        readers: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        # Lists, counts, stock and reports read through these: they never take the write lock, so a page or a
        # report never queues behind the worker's writes (on SQLite every writer transaction begins IMMEDIATE).
        self.readers = readers or sessions
        self._client = client
        self._connecting = asyncio.Lock()

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator[Shop]:
        """The shop on the configured database; Temporal is connected when a call first needs it."""
        engine = create_engine(settings.oms_database_url)
        reader = create_engine(settings.oms_database_url, read_only=True)
        try:
            yield cls(settings, session_factory(engine), readers=session_factory(reader))
        finally:
            await reader.dispose()
            await engine.dispose()

    async def client(self) -> Client:
        """The Temporal client, connected on first use and shared by every call after."""
        async with self._connecting:
            if self._client is None:
                try:
                    self._client = await connect(self.settings)
                except TemporalUnreachable as error:
                    raise OperationFailed(str(error)) from None
            return self._client

    # --- orders ---------------------------------------------------------------------------------------------

    async def place(self, order: Order, mode: FulfilmentMode | None = None, *, by: str | None = None) -> str:
        """Start a validated order's workflow in the name of `by`; the order id.

        Raises `OrderInputError` for a SKU the catalogue lacks and `OrderAlreadyExists` for an order placed before.
        """
        return await place_order(await self.client(), self.settings, self.readers, order, mode, by)

    async def order(self, order_id: str) -> OrderView:
        """The order's whole view from its `status` query; `web-1001` and `order-web-1001` both name it."""
        wanted = order_id_of(order_id)
        handle = (await self.client()).get_workflow_handle(workflow_id(wanted))
        try:
            view: OrderView = await handle.query(STATUS_QUERY, result_type=OrderView, rpc_timeout=ANSWER_TIMEOUT)
        except RPCError as error:
            raise _rpc_failure(wanted, error) from None
        except WorkflowQueryFailedError as error:
            raise OperationFailed(f"order {wanted} could not answer: {error.message}") from None
        return view

    async def send(self, order_id: str, command: Command, payload: BaseModel) -> CommandAccepted:
        """Send an operator command as an Update; the order's answer, or `CommandRefused` with its reason."""
        wanted = order_id_of(order_id)
        client = await self.client()
        handle = client.get_workflow_handle(workflow_id(wanted))
        try:
            accepted: CommandAccepted = await handle.execute_update(
                command.value, payload, result_type=CommandAccepted, rpc_timeout=ANSWER_TIMEOUT
            )
        except WorkflowUpdateFailedError as error:
            # The workflow's reason names the order and the command already.
            cause = error.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(cause)
            raise CommandRefused(wanted, command, reason) from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise NoAnswer(wanted) from None
        except RPCError as error:
            if _closed(error):
                raise CommandRefused(wanted, command, await _why_closed(client, wanted, command)) from None
            raise _rpc_failure(wanted, error) from None
        return accepted

    async def orders(self, where: OrderFilter, *, limit: int, offset: int = 0) -> OrderPage:
        """A page of the orders matching `where`, newest first, with the counts per list and in all."""
        if limit < 1:
            raise InvalidInput("limit", limit, "must be at least 1")
        if offset < 0:
            raise InvalidInput("offset", offset, "must be 0 or more")
        per_list = await read_model.count_by_list(self.readers, where)
        matching = await read_model.count_orders(self.readers, where, per_list)
        shown = await read_model.list_orders(self.readers, where=where, limit=limit, offset=offset)
        return OrderPage(counts=per_list, matching=matching, orders=shown)

    # --- stock and catalogue --------------------------------------------------------------------------------

    async def stock(self) -> list[StockCount]:
        """Every product's stock in every warehouse: available, reserved for orders, shipped."""
        return await catalogue.stock_levels(self.readers)

    async def receive_stock(
        self,
        sku: str,
        quantity: int,
        *,
        warehouse: str | None = None,
        receipt: str | None = None,
        by: str | None = None,
    ) -> StockReceipt:
        """Book a stock receipt (a receipt id counts once) and tell every backordered order to try again, in the
        name of `by`."""
        sku = sku.strip().upper()
        if quantity < 1:
            raise InvalidInput("quantity", quantity, "must be at least 1")
        client = await self.client()
        try:
            level = await catalogue.receive_stock(
                self.sessions,
                sku,
                quantity,
                warehouse or self.settings.warehouse,
                receipt or f"receipt-{uuid.uuid4().hex}",
            )
        except catalogue.UnknownSku as error:
            raise OperationFailed(str(error)) from None
        waiting = await read_model.list_orders(
            self.readers, status=OrderStatus.BACKORDERED.value, limit=ALL_BACKORDERED
        )
        for record in waiting:
            # A backordered order that closed since the read model was written has nothing left to resume.
            try:
                await client.get_workflow_handle(workflow_id(record.order_id)).signal(
                    Command.STOCK_ARRIVED.value, StockArrived(sku=sku, by=by)
                )
            except RPCError as error:
                if error.status is not RPCStatusCode.NOT_FOUND:
                    raise
        return StockReceipt(level=level, woken=len(waiting))

    async def products(self) -> list[CatalogueItem]:
        """The whole catalogue, by SKU."""
        return await catalogue.list_products(self.readers)

    async def add_product(
        self,
        sku: str,
        name: str,
        price: str,
        *,
        currency: str | None = None,
        stock: int = 0,
        warehouse: str | None = None,
    ) -> CatalogueItem:
        """Add a product with its opening stock; `InvalidInput` naming the first bad field, nothing written."""
        try:
            wanted_sku = normal_sku(sku)
        except ValueError as error:
            raise InvalidInput("sku", None, str(error)) from None
        if not name.strip():
            raise InvalidInput("name", None, "must not be empty")
        unit_price = price_of(price, currency or self.settings.base_currency)
        if stock < 0:
            raise InvalidInput("stock", stock, "must be 0 or more")
        try:
            return await catalogue.add_product(
                self.sessions,
                wanted_sku,
                name.strip(),
                unit_price,
                warehouse=warehouse or self.settings.warehouse,
                stock=stock,
            )
        except catalogue.ProductExists as error:
            raise OperationFailed(str(error)) from None

    # --- report and import ----------------------------------------------------------------------------------

    async def report(self, since: datetime | None = None, until: datetime | None = None) -> Report:
        """The report of orders placed (and refunds, feedback and steps) from `since` until `until`, as of now."""
        if since and until and since >= until:
            raise InvalidInput("until", until.isoformat(), f"must be after since {since.isoformat()!r}")
        settings = self.settings
        return await build_report(
            self.readers,
            period=Period(since=since, until=until, timezone=settings.timezone),
            rates=settings.exchange_rates,
            low_units=settings.low_stock_units,
            overstock_units=settings.overstock_units,
            now=datetime.now(UTC),
        )

    async def import_orders(
        self,
        path: Path,
        channel: Channel,
        *,
        mapping: Layout | None = None,
        format: FileFormat | None = None,
        mode: FulfilmentMode | None = None,
        progress: Progress | None = None,
        by: str | None = None,
        decimal_comma: bool = False,
    ) -> ImportOutcome:
        """Place every order of a channel's file once, in the name of `by`; what became of every row.

        `decimal_comma`: the CSV file's amounts are written with a decimal comma (`14,90`), whatever its delimiter.

        The whole file is read and its columns matched first: a file that cannot be imported raises
        `ImportRefused` and places nothing. Temporal is reached only when there is an order to place.
        """
        try:
            table, layout = import_command.read_orders_file(path, channel, mapping, format, decimal_comma=decimal_comma)
        except intake.IntakeError as error:
            raise ImportRefused(str(error)) from None
        return await import_command.place_file(
            self.client, self.settings, self.sessions, table, layout, channel, mode, progress, by
        )


# --- what the operator typed ------------------------------------------------------------------------------


def order_id_of(text: str) -> str:
    """The order id from what the operator typed: `web-1001` or the workflow id `order-web-1001`."""
    return text.strip().removeprefix("order-")


def status_filter(text: str | None) -> dict[str, str]:
    """A list (pending, completed, cancelled) or one status as `OrderFilter` fields; `InvalidInput` otherwise."""
    if text is None:
        return {}
    wanted = text.strip().lower()
    if wanted in {operator_list.value for operator_list in OperatorList}:
        return {"operator_list": wanted}
    if wanted not in {status.value for status in OrderStatus}:
        lists = ", ".join(operator_list.value for operator_list in OperatorList)
        statuses = ", ".join(status.value for status in OrderStatus)
        raise InvalidInput("status", text, f"not a list ({lists}) or a status ({statuses})")
    return {"status": wanted}


def channel_filter(text: str | None) -> str | None:
    """A sales channel checked against the channels orders come from; `InvalidInput` otherwise."""
    if text is None:
        return None
    wanted = text.strip().lower()
    if wanted not in {channel.value for channel in Channel}:
        raise InvalidInput("channel", text, f"not a channel ({', '.join(channel.value for channel in Channel)})")
    return wanted


def price_of(text: str, currency: str) -> Money:
    """A unit price as typed (`12.50`: a decimal point, no thousands separator) in a supported currency."""
    code = currency.strip().upper()
    if code not in SUPPORTED_CURRENCIES:
        raise InvalidInput("currency", code, "not a supported ISO 4217 currency")
    try:
        amount = Decimal(text.strip())
        price = Money.of(amount, code)
    except (ValidationError, ArithmeticError) as error:
        raise InvalidInput("price", text, _first_problem(error)) from None
    if price.amount != amount or amount <= 0:
        raise InvalidInput("price", text, f"must be more than 0 with at most {MINOR_UNITS[code]} decimals for {code}")
    return price


def _first_problem(error: Exception) -> str:
    """The first thing wrong, in words: a pydantic error's message or the exception's own."""
    if isinstance(error, ValidationError):
        return str(error.errors(include_url=False)[0]["msg"]).removeprefix("Value error, ")
    return "not a number" if isinstance(error, ArithmeticError) else str(error)


# --- what Temporal's answers mean for the operator ------------------------------------------------------------


def _closed(error: RPCError) -> bool:
    """Temporal refused because the order's workflow has closed."""
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


def _rpc_failure(order_id: str, error: RPCError) -> OperationFailed:
    """What a failed call to Temporal means for the operator."""
    if error.status is RPCStatusCode.NOT_FOUND:
        if "completed" in error.message.lower():
            return OperationFailed(f"order {order_id} is closed: its follow-up and refund window are over")
        return OrderNotFound(order_id)
    if error.status is RPCStatusCode.DEADLINE_EXCEEDED:
        return NoAnswer(order_id)
    return OperationFailed(f"Temporal refused the request for order {order_id}: {error.message}")


def _when(moment: datetime) -> str:
    """A moment in local time, as the CLI shows it."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")
