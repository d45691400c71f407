"""Server-sent events: every open console page hears of new orders and status changes from the read model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse

from starter.web.console import Console, console_of
from starter.web.security import current_session, now
from store import operators, orders
from store.changes import ChangesMissed, FeedEvent, OrderChange
from store.operators import ConsoleSession

router = APIRouter()

Session = Annotated[ConsoleSession, Depends(current_session)]

# Changes arriving this close together go out as one refresh, so a burst of orders is one list reload per page.
GATHER_SECONDS = 0.2
# How often an open stream checks that its session is still live (logout, expiry, a disabled operator).
SESSION_CHECK_SECONDS = 30.0
PING_SECONDS = 15


@router.get("/events")
async def events(request: Request, session: Session) -> EventSourceResponse:
    """The page's live stream: `new-order` (a toast), `order-<hex id>` (that order changed), `orders-changed`,
    `listening` (the stream is open: read everything once), `resync` (changes were missed: read everything again)
    and `logged-out`."""
    console = console_of(request)
    return EventSourceResponse(_stream(request, console, session), ping=PING_SECONDS)


async def _stream(request: Request, console: Console, session: ConsoleSession) -> AsyncIterator[ServerSentEvent]:
    async with console.changes.subscribe() as subscription:
        # The page may have been rendered before this stream opened (or reopened): one refresh of every part of it
        # closes that gap. `listening` is for the order page, `orders-changed` for lists and the home page.
        yield ServerSentEvent(event="listening", data="")
        yield ServerSentEvent(event="orders-changed", data="")
        checked = asyncio.get_running_loop().time()
        changes = aiter(subscription)
        while True:
            try:
                batch = await _gather(changes)
            except StopAsyncIteration:
                # The feed closed: the server is stopping. The browser reconnects to the next one by itself.
                return
            if asyncio.get_running_loop().time() - checked > SESSION_CHECK_SECONDS:
                if not await _still_live(console, session):
                    yield ServerSentEvent(event="logged-out", data="")
                    return
                checked = asyncio.get_running_loop().time()
            if batch is None:
                continue
            if any(isinstance(event, ChangesMissed) for event in batch):
                # Some changes never reached this page: every part of it reads itself again.
                yield ServerSentEvent(event="resync", data="")
            changes_only = [event for event in batch if isinstance(event, OrderChange)]
            for change in changes_only:
                if change.new:
                    toast = await _new_order_toast(request, console, change)
                    if toast is not None:
                        yield toast
            for order_id in dict.fromkeys(change.order_id for change in changes_only):
                yield ServerSentEvent(event=f"order-{order_id.encode().hex()}", data=order_id)
            yield ServerSentEvent(event="orders-changed", data="")


async def _gather(changes: AsyncIterator[FeedEvent]) -> list[FeedEvent] | None:
    """The next changes, waiting briefly for the rest of a burst; None when nothing came for a while."""
    try:
        first = await asyncio.wait_for(anext(changes), SESSION_CHECK_SECONDS)
    except TimeoutError:
        return None
    batch = [first]
    loop = asyncio.get_running_loop()
    until = loop.time() + GATHER_SECONDS
    while (left := until - loop.time()) > 0:
        try:
            batch.append(await asyncio.wait_for(anext(changes), left))
        except (TimeoutError, StopAsyncIteration):
            break
    return batch


async def _still_live(console: Console, session: ConsoleSession) -> bool:
    settings = console.settings
    found = await operators.find_session(
        console.sessions,
        session.token,
        now(),
        idle=timedelta(minutes=settings.web_session_idle_minutes),
        lifetime=timedelta(hours=settings.web_session_max_hours),
        touch=False,
    )
    return found is not None


async def _new_order_toast(request: Request, console: Console, change: OrderChange) -> ServerSentEvent | None:
    """The toast of a new order: its id, total and channel, rendered (and escaped) by the template."""
    record = await orders.get_order(console.sessions, change.order_id)
    if record is None:
        return None
    html = console.templates.get_template("toast.html").render(record=record)
    return ServerSentEvent(event="new-order", data=html.replace("\n", ""))
