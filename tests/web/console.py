"""The operator console served by uvicorn on a free port, against a real database, and a client that logs in.

The fixtures live here so the integration tests (which add the dev server) can use them too.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from settings import Settings
from starter.web.app import serve
from store import operators
from store.operators import Role
from tests.conftest import free_port

PASSWORD = "correct horse battery staple"
OPERATOR = "anna@shop.example"
VIEWER = "victor@shop.example"
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class ConsoleClient:
    """An httpx client of the console that keeps its cookies, as a browser would."""

    http: httpx.AsyncClient

    async def log_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        """Open the login page, then send the form with its token."""
        page = await self.http.get("/login")
        return await self.http.post(
            "/login",
            data={"csrf_token": field_token(page.text), "email": email, "password": password, "next": "/"},
        )

    async def token(self, path: str = "/") -> str:
        """The session's CSRF token, as every page carries it."""
        page = await self.http.get(path)
        found = _CSRF_META.search(page.text)
        assert found is not None, f"no CSRF token on {path}: {page.status_code} {page.text[:300]}"
        return found.group(1)

    async def post(self, path: str, data: dict[str, str] | None = None, *, token: str | None = None) -> httpx.Response:
        """A form POST with the session's token, as the console's own forms send it."""
        fields = dict(data or {})
        fields["csrf_token"] = token if token is not None else await self.token()
        return await self.http.post(path, data=fields)


def field_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF_FIELD.search(html)
    assert found is not None, "the page has no form token"
    return found.group(1)


@pytest.fixture
async def web_settings(settings: Settings) -> Settings:
    """The test's settings with the console on a free port, and the hand-worked week's exchange rates (no GBP)."""
    return settings.model_copy(update={"web_port": free_port(), "fx_rates": "USD=0.92,JPY=0.0061,KWD=2.98"})


@pytest.fixture
async def staff(sessions: async_sessionmaker[AsyncSession]) -> None:
    """An operator who acts and a viewer who only reads."""
    await operators.add_operator(sessions, OPERATOR, PASSWORD, Role.OPERATOR)
    await operators.add_operator(sessions, VIEWER, PASSWORD, Role.VIEWER)


@pytest.fixture
async def console_url(
    web_settings: Settings, sessions: async_sessionmaker[AsyncSession], staff: None
) -> AsyncIterator[str]:
    """The console served by uvicorn until the test ends."""
    stop = asyncio.Event()
    serving = asyncio.create_task(serve(web_settings, stop))
    url = f"http://{web_settings.web_host}:{web_settings.web_port}"
    async with httpx.AsyncClient(base_url=url) as probe:
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            if serving.done():
                serving.result()
            try:
                if (await probe.get("/login")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert asyncio.get_running_loop().time() < deadline, "the console did not start"
            await asyncio.sleep(0.05)
    try:
        yield url
    finally:
        stop.set()
        await serving


@pytest.fixture
async def anonymous(console_url: str) -> AsyncIterator[ConsoleClient]:
    """Someone who has not logged in."""
    async with httpx.AsyncClient(base_url=console_url) as http:
        yield ConsoleClient(http)


@pytest.fixture
async def operator(console_url: str) -> AsyncIterator[ConsoleClient]:
    """Anna, logged in as an operator."""
    async with httpx.AsyncClient(base_url=console_url) as http:
        client = ConsoleClient(http)
        assert (await client.log_in(OPERATOR)).status_code == 303
        yield client


@pytest.fixture
async def viewer(console_url: str) -> AsyncIterator[ConsoleClient]:
    """Victor, logged in as a viewer."""
    async with httpx.AsyncClient(base_url=console_url) as http:
        client = ConsoleClient(http)
        assert (await client.log_in(VIEWER)).status_code == 303
        yield client
