"""Logging in and out of the console: one generic refusal, throttling, sessions kept and ended on the server."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.schema import ConsoleSessionRecord
from tests.web.console import OPERATOR, PASSWORD, ConsoleClient, field_token


async def test_a_page_without_a_session_sends_the_operator_to_the_login_form(anonymous: ConsoleClient) -> None:
    response = await anonymous.http.get("/orders?list=pending")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Forders%3Flist%3Dpending"


async def test_the_login_form_carries_a_csrf_token_and_a_cookie_for_it(anonymous: ConsoleClient) -> None:
    page = await anonymous.http.get("/login")
    assert page.status_code == 200
    assert field_token(page.text) == page.cookies["oms_login_csrf"]


async def test_logging_in_starts_a_session_in_an_httponly_samesite_cookie(anonymous: ConsoleClient) -> None:
    response = await anonymous.log_in(OPERATOR)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("oms_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # served over plain HTTP here; OMS_WEB_HTTPS=true adds it
    home = await anonymous.http.get("/")
    assert home.status_code == 200
    assert OPERATOR in home.text


async def test_logging_in_goes_back_to_the_page_that_asked_for_it(anonymous: ConsoleClient) -> None:
    page = await anonymous.http.get("/login?next=/stock")
    response = await anonymous.http.post(
        "/login", data={"csrf_token": field_token(page.text), "email": OPERATOR, "password": PASSWORD, "next": "/stock"}
    )
    assert response.headers["location"] == "/stock"


async def test_a_next_page_on_another_site_is_ignored(anonymous: ConsoleClient) -> None:
    page = await anonymous.http.get("/login")
    response = await anonymous.http.post(
        "/login",
        data={"csrf_token": field_token(page.text), "email": OPERATOR, "password": PASSWORD, "next": "//evil.example/"},
    )
    assert response.headers["location"] == "/"


async def test_each_login_gets_a_new_session_id(console_url: str) -> None:
    ids = []
    for _ in range(2):
        async with httpx.AsyncClient(base_url=console_url) as http:
            response = await ConsoleClient(http).log_in(OPERATOR)
            ids.append(response.cookies["oms_session"])
    assert ids[0] != ids[1]


@pytest.mark.parametrize(
    ("email", "password"),
    [(OPERATOR, "not the password at all"), ("nobody@shop.example", PASSWORD), ("victor@shop.example", "wrong one!!")],
    ids=["wrong password", "unknown email", "viewer with a wrong password"],
)
async def test_a_failed_login_says_only_wrong_email_or_password(
    anonymous: ConsoleClient, email: str, password: str
) -> None:
    response = await anonymous.log_in(email, password)
    assert response.status_code == 401
    assert "wrong email or password" in response.text
    assert "oms_session" not in response.cookies
    assert password not in response.text


async def test_a_failed_login_is_logged_without_the_password(
    anonymous: ConsoleClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        await anonymous.log_in(OPERATOR, "hunter2-but-longer")
    assert any(OPERATOR in record.getMessage() for record in caplog.records)
    assert all("hunter2" not in record.getMessage() for record in caplog.records)


async def test_after_five_failures_an_account_must_wait_before_the_next_try(anonymous: ConsoleClient) -> None:
    for _ in range(5):
        assert "wrong email or password" in (await anonymous.log_in(OPERATOR, "wrong password!")).text
    # Even the right password is not checked while the account waits.
    throttled = await anonymous.log_in(OPERATOR, PASSWORD)
    assert throttled.status_code == 401
    assert "too many failed logins; try again in 1 s" in throttled.text


async def test_a_login_post_without_its_token_is_refused(anonymous: ConsoleClient) -> None:
    await anonymous.http.get("/login")
    response = await anonymous.http.post("/login", data={"email": OPERATOR, "password": PASSWORD})
    assert response.status_code == 403
    assert "oms_session" not in response.cookies


async def test_a_login_posted_from_another_site_is_refused(anonymous: ConsoleClient) -> None:
    page = await anonymous.http.get("/login")
    response = await anonymous.http.post(
        "/login",
        data={"csrf_token": field_token(page.text), "email": OPERATOR, "password": PASSWORD},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403


async def test_logging_out_ends_the_session_on_the_server(operator: ConsoleClient) -> None:
    session_id = operator.http.cookies["oms_session"]
    response = await operator.post("/logout")
    assert response.status_code == 303
    # The old id, replayed by someone who kept it, no longer opens anything.
    operator.http.cookies.set("oms_session", session_id)
    replayed = await operator.http.get("/")
    assert replayed.status_code == 303
    assert replayed.headers["location"].startswith("/login")


async def test_logging_out_needs_the_csrf_token(operator: ConsoleClient) -> None:
    response = await operator.http.post("/logout")
    assert response.status_code == 403
    assert (await operator.http.get("/")).status_code == 200


async def test_a_session_idle_for_longer_than_the_timeout_has_ended(
    operator: ConsoleClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _age_sessions(sessions, last_seen=datetime.now(UTC) - timedelta(minutes=31))
    response = await operator.http.get("/")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


async def test_a_session_ends_eight_hours_after_login_however_busy(
    operator: ConsoleClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _age_sessions(sessions, started=datetime.now(UTC) - timedelta(hours=8, minutes=1))
    assert (await operator.http.get("/")).status_code == 303


async def test_a_live_refresh_does_not_keep_an_idle_session_alive(
    operator: ConsoleClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    idle_since = datetime.now(UTC) - timedelta(minutes=29)
    await _age_sessions(sessions, last_seen=idle_since)
    assert (await operator.http.get("/glance", headers={"X-OMS-Background": "1"})).status_code == 200
    async with sessions() as session:
        kept = (await session.execute(ConsoleSessionRecord.__table__.select())).mappings().one()
    assert abs(kept["last_seen_at"].replace(tzinfo=UTC) - idle_since) < timedelta(seconds=1)


async def test_an_htmx_request_without_a_session_is_told_to_load_the_login_page(anonymous: ConsoleClient) -> None:
    response = await anonymous.http.get("/orders/table", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login?next=")


async def _age_sessions(
    sessions: async_sessionmaker[AsyncSession], *, started: datetime | None = None, last_seen: datetime | None = None
) -> None:
    values: dict[str, datetime] = {}
    if started is not None:
        values["started_at"] = started
    if last_seen is not None:
        values["last_seen_at"] = last_seen
    async with sessions.begin() as session:
        await session.execute(update(ConsoleSessionRecord).values(**values))
