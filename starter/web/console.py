"""What every console page shares: the operations layer, the live feed, templates and how a page is rendered."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.money import Money
from settings import Settings
from starter.operations import Shop
from starter.web.security import BACKGROUND_HEADER, CSRF_FIELD, CSRF_HEADER, Cookies
from starter.web.shared_reads import SharedReads
from store.changes import OrderChanges
from store.operators import ConsoleSession, Role

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


@dataclass
class Console:
    """The running console: one operations layer and one live feed shared by every request."""

    settings: Settings
    shop: Shop
    changes: OrderChanges
    templates: Jinja2Templates
    cookies: Cookies
    reads: SharedReads = field(default_factory=SharedReads)

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """The OMS database."""
        return self.shop.sessions

    def workflow_url(self, workflow_id: str) -> str:
        """The order's workflow in Temporal UI."""
        namespace = self.settings.temporal_namespace
        return f"{self.settings.temporal_ui}/namespaces/{namespace}/workflows/{workflow_id}"


def templates_for(settings: Settings) -> Jinja2Templates:
    """Jinja2 templates with autoescaping and the filters pages use to show money and shop time."""
    templates = Jinja2Templates(directory=str(TEMPLATES))
    environment = templates.env
    environment.autoescape = True
    zone = settings.calendar.zone

    def when(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "-"

    def to_the_second(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"

    def deadline(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%a %d %b %Y %H:%M %Z") if moment else "-"

    def minor(amount: int, currency: str) -> str:
        return Money.from_minor(amount, currency).format()

    environment.filters["when"] = when
    environment.filters["to_the_second"] = to_the_second
    environment.filters["deadline"] = deadline
    environment.filters["minor"] = minor
    environment.filters["money"] = lambda money: money.format() if money is not None else "-"
    environment.globals["csrf_field"] = CSRF_FIELD
    environment.globals["csrf_header"] = CSRF_HEADER
    environment.globals["background_header"] = BACKGROUND_HEADER
    environment.globals["shop_name"] = settings.shop_name
    environment.globals["timezone"] = settings.timezone
    return templates


def console_of(request: Request) -> Console:
    """The console this request reached."""
    console: Console = request.app.state.console
    return console


def is_htmx(request: Request) -> bool:
    """The request came from htmx, which wants a fragment rather than a whole page."""
    return request.headers.get("HX-Request") == "true"


def render(
    request: Request,
    template: str,
    session: ConsoleSession | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page (or fragment) with what every template needs: who is logged in, their CSRF token, their role."""
    console = console_of(request)
    context.update(
        request=request,
        session=session,
        operator=session.operator if session else None,
        can_act=session is not None and session.operator.role is Role.OPERATOR,
        csrf_token=session.csrf_token if session else context.get("csrf_token", ""),
        path=request.url.path,
    )
    return console.templates.TemplateResponse(request, template, context, status_code=status_code)
