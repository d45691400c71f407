"""Who is asking and may they: console sessions from the cookie, CSRF and origin checks, roles, security headers."""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

from fastapi import Request, Response
from starlette.datastructures import FormData

from settings import Settings
from store import operators
from store.operators import ConsoleSession, Role

log = logging.getLogger("oms.web")

# Every page's Content-Security-Policy: our own scripts and styles only, never inline, never framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# Requests the page makes by itself (live refreshes) say so, so they do not keep an idle session alive.
BACKGROUND_HEADER = "X-OMS-Background"
LOGIN_CSRF_COOKIE = "oms_login_csrf"
# Sec-Fetch-Site values of a request the console's own pages made (or the operator typed).
OWN_SITE = frozenset({"same-origin", "none"})


class LoginNeeded(Exception):
    """No live console session: the operator must log in (again)."""


class Forbidden(Exception):
    """The request may not do this; the message says why (shown on a 403 page)."""


@dataclass(frozen=True)
class Cookies:
    """The names and flags of the console's cookies, from the settings."""

    secure: bool

    @property
    def session(self) -> str:
        """The session cookie; over HTTPS with the __Host- prefix, which browsers bind to this exact origin."""
        return "__Host-oms_session" if self.secure else "oms_session"

    def set_session(self, response: Response, token: str) -> None:
        """Give the browser its session id: HttpOnly, SameSite=Lax, Secure over HTTPS, for the whole console."""
        response.set_cookie(
            self.session, token, httponly=True, samesite="lax", secure=self.secure, path="/", max_age=None
        )

    def clear_session(self, response: Response) -> None:
        """Take the session id back from the browser."""
        response.delete_cookie(self.session, path="/", secure=self.secure, httponly=True, samesite="lax")


def now() -> datetime:
    """The server's clock, in UTC."""
    return datetime.now(UTC)


async def current_session(request: Request) -> ConsoleSession:
    """The operator's live session, or LoginNeeded; a live refresh does not count as activity."""
    console = request.app.state.console
    settings: Settings = console.settings
    token = request.cookies.get(console.cookies.session)
    if not token:
        raise LoginNeeded
    found = await operators.find_session(
        console.sessions,
        token,
        now(),
        idle=timedelta(minutes=settings.web_session_idle_minutes),
        lifetime=timedelta(hours=settings.web_session_max_hours),
        # The live stream (and its reconnects) is the page's own doing, not the operator's.
        touch=request.headers.get(BACKGROUND_HEADER) != "1" and request.url.path != "/events",
    )
    if found is None:
        raise LoginNeeded
    return found


def check_origin(request: Request) -> None:
    """Refuse a state-changing request that a browser says came from another site."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in OWN_SITE:
        raise Forbidden(f"request from another site refused (Sec-Fetch-Site: {fetch_site})")
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        ours = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
        if _origin_of(origin) != _origin_of(ours):
            raise Forbidden("request from another origin refused")
    elif origin == "null":
        raise Forbidden("request from an opaque origin refused")


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_csrf(request: Request, form: FormData | None, expected: str) -> None:
    """The synchronizer token of the session must come back in the form or the htmx header."""
    given = request.headers.get(CSRF_HEADER)
    if given is None and form is not None:
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden("the form has expired or did not come from this console; reload the page and try again")


async def checked_form(
    request: Request, session: ConsoleSession, *, to_act: bool = True, max_files: int = 1000, max_fields: int = 1000
) -> FormData:
    """A POSTed form, once it is known to come from this console's own page with the session's token and, when it
    changes the shop (`to_act`), from an operator; Forbidden otherwise."""
    check_origin(request)
    form = await request.form(max_files=max_files, max_fields=max_fields)
    check_csrf(request, form, session.csrf_token)
    if to_act:
        require_operator(session)
    return form


def require_operator(session: ConsoleSession) -> None:
    """Only operators act; viewers read."""
    if session.operator.role is not Role.OPERATOR:
        raise Forbidden(f"{session.operator.email} is a viewer: viewers can see everything but change nothing")


def new_login_token() -> str:
    """The CSRF token of the login form, before anyone is logged in (kept in a cookie of its own)."""
    return secrets.token_urlsafe(32)


def login_url(request: Request) -> str:
    """Where to send someone who must log in, coming back to this page afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(here, safe="")


def safe_next(target: str | None) -> str:
    """A path inside the console to go to after login; anything else (another site) goes home."""
    # Browsers drop tabs and newlines from URLs, so "/\t/evil.example" would become "//evil.example".
    if any(character <= " " or character == "\x7f" for character in target or ""):
        return "/"
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Headers every response carries, and one access-log line without query strings or personal data."""
    started = time.perf_counter()
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.url.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    # The path only: search terms in a query string may be a customer's name or email. Live refreshes go to the
    # debug log, so an open console does not flood `oms up`'s output.
    level = logging.DEBUG if request.headers.get(BACKGROUND_HEADER) == "1" else logging.INFO
    elapsed = 1000 * (time.perf_counter() - started)
    log.log(level, "%s %s %d %.0fms", request.method, request.url.path, response.status_code, elapsed)
    return response
