"""The console's orders: the three lists with filters and paging, the order page, and every operator command."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from domain.actions import Action, offers, refundable
from domain.commands import Complete, DeliveryEvent, Feedback, Packed, PaymentReceived, Picked, Shipped
from domain.order import Channel
from domain.refund import Cancel, Refund, RefundItem, RefundPaidOut
from domain.status import OperatorList, OrderStatus
from starter import operations
from starter.operations import OperationFailed, OrderNotFound
from starter.web.console import console_of, is_htmx, render
from starter.web.security import checked_form, current_session, now
from store.operators import ConsoleSession
from store.orders import OrderFilter

router = APIRouter()

PAGE_SIZE = 25
Session = Annotated[ConsoleSession, Depends(current_session)]


class ListQuery(BaseModel):
    """What the operator asked the list for, as typed (each checked before it reaches the database)."""

    list: str = ""
    status: str = ""
    channel: str = ""
    since: str = ""
    search: str = ""
    page: int = 1


@router.get("/orders", response_class=HTMLResponse)
async def order_list(request: Request, session: Session) -> Response:
    """Pending, Completed or Cancelled (or all) orders, newest first, with the CLI's filters and paging."""
    return await _list(request, session, "orders.html")


@router.get("/orders/table", response_class=HTMLResponse)
async def order_table(request: Request, session: Session) -> Response:
    """The list's table alone, for live refreshes and filter changes."""
    return await _list(request, session, "orders_table.html")


async def _list(request: Request, session: ConsoleSession, template: str) -> Response:
    console = console_of(request)
    query = _list_query(request)
    problems: list[str] = []
    wanted = OrderFilter()
    try:
        wanted = _filter(query, console.settings.calendar.zone)
    except ValueError as error:
        problems.append(str(error))
    page = max(query.page, 1)
    result = await console.reads.read(
        ("orders", wanted, page),
        lambda: console.shop.orders(wanted, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE),
    )
    pages = max(1, math.ceil(result.matching / PAGE_SIZE))
    return render(
        request,
        template,
        session,
        query=query,
        result=result,
        page=page,
        pages=pages,
        problems=problems,
        lists=[operator_list.value for operator_list in OperatorList],
        statuses=[status.value for status in OrderStatus],
        channels=[channel.value for channel in Channel],
        query_string=_query_string(query),
    )


def _list_query(request: Request) -> ListQuery:
    params = request.query_params
    try:
        page = int(params.get("page", "1") or "1")
    except ValueError:
        page = 1
    return ListQuery(
        list=params.get("list", "")[:20],
        status=params.get("status", "")[:30],
        channel=params.get("channel", "")[:20],
        since=params.get("since", "")[:30],
        search=params.get("search", "")[:200],
        page=min(max(page, 1), 1_000_000),
    )


def _filter(query: ListQuery, zone: ZoneInfo) -> OrderFilter:
    """The list's filter; a bad value raises ValueError naming the field."""
    if query.list and query.list not in {operator_list.value for operator_list in OperatorList}:
        raise ValueError(f"list {query.list!r}: not pending, completed or cancelled")
    if query.status and query.status not in {status.value for status in OrderStatus}:
        raise ValueError(f"status {query.status!r}: not an order status")
    since = None
    if query.since:
        try:
            since = datetime.fromisoformat(query.since.strip())
        except ValueError:
            raise ValueError(f"since {query.since!r}: not a date; use YYYY-MM-DD") from None
    return OrderFilter(
        operator_list=query.list or None,
        status=query.status or None,
        channel=operations.channel_filter(query.channel) if query.channel else None,
        # A date without a zone is the shop's.
        since=since if since is None or since.tzinfo else since.replace(tzinfo=zone),
        search=query.search.strip() or None,
    )


def _query_string(query: ListQuery) -> str:
    kept = {key: value for key, value in query.model_dump().items() if value and key != "page"}
    return urlencode(kept)


# --- one order ----------------------------------------------------------------------------------------------


@router.get("/orders/{order_id}", response_class=HTMLResponse)
async def order_page(request: Request, order_id: str, session: Session) -> Response:
    """Lines, totals, payment, shipment, refunds, timeline and the buttons for what can be done now."""
    return await _order(request, session, order_id, "order.html")


@router.get("/orders/{order_id}/panel", response_class=HTMLResponse)
async def order_panel(request: Request, order_id: str, session: Session) -> Response:
    """The order page's body alone, for live refreshes."""
    return await _order(request, session, order_id, "order_panel.html")


async def _order(
    request: Request,
    session: ConsoleSession,
    order_id: str,
    template: str,
    *,
    message: str | None = None,
    refusal: str | None = None,
    status_code: int = 200,
) -> Response:
    console = console_of(request)
    try:
        view = await console.shop.order(order_id)
    except OrderNotFound as error:
        return render(request, "not_found.html", session, status_code=404, reason=str(error))
    except OperationFailed as error:
        return render(request, "not_found.html", session, status_code=503, reason=str(error))
    return render(
        request,
        template,
        session,
        status_code=status_code,
        view=view,
        offers=offers(view, now()),
        refundable=refundable(view),
        workflow_url=console.workflow_url(view.workflow_id),
        message=message,
        refusal=refusal,
        live_key=view.order_id.encode().hex(),
        sla_days=console.settings.refund_sla_business_days,
    )


@router.post("/orders/{order_id}/{action}", response_class=HTMLResponse)
async def order_action(request: Request, order_id: str, action: str, session: Session) -> Response:
    """Send the button's command as the same Update the CLI sends; the answer, or the refusal, shows in the page."""
    console = console_of(request)
    form = await checked_form(request, session)
    template = "order_panel.html" if is_htmx(request) else "order.html"
    try:
        chosen = Action(action)
    except ValueError:
        return await _order(request, session, order_id, template, refusal=f"unknown action {action!r}", status_code=404)
    try:
        payload = _payload(chosen, form, session.operator.email)
    except ValidationError as error:
        return await _order(request, session, order_id, template, refusal=_first_problem(error), status_code=422)
    except ValueError as error:
        return await _order(request, session, order_id, template, refusal=str(error), status_code=422)
    try:
        accepted = await console.shop.send(order_id, chosen.command, payload)
    except OrderNotFound as error:
        return render(request, "not_found.html", session, status_code=404, reason=str(error))
    except OperationFailed as error:
        return await _order(request, session, order_id, template, refusal=str(error), status_code=409)
    return await _order(request, session, order_id, template, message=accepted.message)


def _text(form: FormData, field: str) -> str | None:
    value = form.get(field)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _payload(action: Action, form: FormData, by: str) -> BaseModel:
    """The command's payload from the button's form, signed with the operator's email."""
    match action:
        case Action.PAY:
            return PaymentReceived(reference=_text(form, "reference"), by=by)
        case Action.PICK:
            return Picked(by=by)
        case Action.PACK:
            return Packed(by=by)
        case Action.SHIP:
            return Shipped(carrier=_text(form, "carrier") or "", tracking=_text(form, "tracking") or "", by=by)
        case Action.DELIVER:
            return DeliveryEvent(event="delivered", detail="confirmed by the operator", by=by)
        case Action.COMPLETE:
            return Complete(note=_text(form, "note"), by=by)
        case Action.FEEDBACK:
            return Feedback(rating=_text(form, "rating") or 0, comment=_text(form, "comment"), by=by)
        case Action.CANCEL:
            return Cancel(reason=_text(form, "reason") or "", by=by)
        case Action.REFUND:
            return _refund(form, by)
        case Action.REFUND_PAID_OUT:
            return RefundPaidOut(reference=_text(form, "reference"), by=by)


def _refund(form: FormData, by: str) -> Refund:
    """The refund dialog: a quantity per line (all of them: everything left), SKUs not to restock, a reason."""
    if form.get("confirm") != "yes":
        raise ValueError("confirm: tick 'a refund cannot be undone' to send it")
    lines: list[RefundItem] = []
    everything = True
    for key in form:
        if not key.startswith("quantity:"):
            continue
        sku = key.removeprefix("quantity:")
        raw = _text(form, key) or "0"
        left = _text(form, f"left:{sku}") or "0"
        if not all(0 < len(text) <= 6 and text.isascii() and text.isdigit() for text in (raw, left)):
            raise ValueError(f"quantity of {sku}: must be a whole number of units, got {raw!r}")
        quantity = int(raw)
        if quantity != int(left):
            everything = False
        if quantity:
            lines.append(RefundItem(sku=sku, quantity=quantity))
    if not lines:
        raise ValueError("quantity: choose at least one unit to refund")
    no_restock = [value for value in form.getlist("no_restock") if isinstance(value, str)]
    # Everything that is left, sent as "everything", is what the CLI sends without --line.
    return Refund(reason=_text(form, "reason") or "", lines=[] if everything else lines, no_restock=no_restock, by=by)


def _first_problem(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or "input"
    return f"{field}: {str(first['msg']).removeprefix('Value error, ')}"
