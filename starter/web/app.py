"""`oms web`: the operator console as an ASGI app, its login and logout, and the server that runs it."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from settings import Settings
from starter.operations import Shop
from starter.serving import serve_until
from starter.web import live, orders, shop_pages
from starter.web.console import STATIC, Console, console_of, is_htmx, render, templates_for
from starter.web.security import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    Cookies,
    Forbidden,
    LoginNeeded,
    check_origin,
    checked_form,
    current_session,
    login_url,
    new_login_token,
    now,
    safe_next,
    security_headers,
)
from store import operators
from store.changes import OrderChanges

log = logging.getLogger("oms.web")

# Form fields longer than this are not an email or a password anyone types; refused before hashing.
MAX_LOGIN_FIELD = 1_024


def create_app(settings: Settings) -> FastAPI:
    """The console for these settings; it opens the database, Temporal and the live feed when it starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Shop.open(settings) as shop, OrderChanges.watch(settings.oms_database_url) as changes:
            console = Console(
                settings=settings,
                shop=shop,
                changes=changes,
                templates=templates_for(settings),
                cookies=Cookies(secure=settings.web_https),
            )
            app.state.console = console
            following = asyncio.create_task(_follow(console), name="shared reads follow order changes")
            try:
                yield
            finally:
                following.cancel()
                await asyncio.wait([following])

    app = FastAPI(title="oms console", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    # Rejected rows of recent imports, kept for their download link (a few, newest last).
    app.state.rejected_rows = {}
    app.middleware("http")(security_headers)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.add_api_route("/login", login_page, methods=["GET"], response_class=HTMLResponse)
    app.add_api_route("/login", log_in, methods=["POST"])
    app.add_api_route("/logout", log_out, methods=["POST"])
    app.include_router(shop_pages.router)
    app.include_router(orders.router)
    app.include_router(live.router)
    app.add_exception_handler(LoginNeeded, _to_login)
    app.add_exception_handler(Forbidden, _forbidden)
    return app


async def _follow(console: Console) -> None:
    """Every change the live feed hears makes the shared reads read afresh."""
    async with console.changes.subscribe() as subscription:
        async for _ in subscription:
            console.reads.changed()


async def login_page(request: Request, next: str | None = None) -> Response:
    """The login form; it carries a token of its own so a login cannot be forged from another site."""
    token = new_login_token()
    response = render(request, "login.html", None, csrf_token=token, next=safe_next(next), error=None)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=console_of(request).cookies.secure,
        path="/login",
    )
    return response


async def log_in(request: Request) -> Response:
    """Check the email and password; on success a new session and its cookie, on failure one generic message."""
    console = console_of(request)
    check_origin(request)
    form = await request.form()
    given = form.get(CSRF_FIELD)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not isinstance(given, str) or not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden("the login form has expired or did not come from this console; reload the page")
    email = form.get("email")
    password = form.get("password")
    target = safe_next(str(form.get("next") or "/"))
    error = None
    if not isinstance(email, str) or not isinstance(password, str) or not email.strip() or not password:
        error = "enter your email and your password"
    elif len(email) > MAX_LOGIN_FIELD or len(password) > MAX_LOGIN_FIELD:
        error = operators.LoginRefused.MESSAGE
    else:
        try:
            operator = await operators.log_in(console.sessions, email, password, now())
        except operators.LoginThrottled as throttled:
            error = f"{throttled}; try again in {throttled.retry_after_seconds} s"
        except operators.LoginRefused as refused:
            error = str(refused)
        else:
            session = await operators.start_session(console.sessions, operator.email, now())
            response = RedirectResponse(target, status_code=303)
            console.cookies.set_session(response, session.token)
            response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
            log.info("console login by %s", operator.email)
            return response
    # The same form again with the same token; the password is never sent back.
    return render(
        request,
        "login.html",
        None,
        status_code=401,
        csrf_token=expected,
        next=target,
        error=error,
        email=email[:MAX_LOGIN_FIELD] if isinstance(email, str) else "",
    )


async def log_out(request: Request) -> Response:
    """End the session on the server and take the cookie back."""
    console = console_of(request)
    session = await current_session(request)
    await checked_form(request, session, to_act=False)
    await operators.end_session(console.sessions, session.token, now())
    response = RedirectResponse("/login", status_code=303)
    console.cookies.clear_session(response)
    return response


async def _to_login(request: Request, _: Exception) -> Response:
    target = login_url(request)
    if is_htmx(request):
        # htmx follows HX-Redirect with a full page load instead of swapping a login form into a fragment.
        return Response(status_code=401, headers={"HX-Redirect": target})
    if request.method != "GET" or request.url.path == "/events":
        return Response("log in first", status_code=401, media_type="text/plain")
    return RedirectResponse(target, status_code=303)


async def _forbidden(request: Request, error: Exception) -> Response:
    log.warning("refused %s %s: %s", request.method, request.url.path, error)
    return render(request, "forbidden.html", None, status_code=403, reason=str(error))


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Serve the console on OMS_WEB_HOST:OMS_WEB_PORT until `stop` is set."""
    await serve_until(
        create_app(settings),
        stop,
        host=settings.web_host,
        port=settings.web_port,
        lifespan="on",
        proxy_headers=settings.web_https,
    )
