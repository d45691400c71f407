"""Behind a TLS proxy (OMS_WEB_HTTPS=true) the session cookie is Secure and bound to the console's own origin."""

from __future__ import annotations

import pytest

from settings import Settings
from tests.conftest import free_port
from tests.web.console import OPERATOR, PASSWORD, ConsoleClient, field_token

# What a TLS-terminating proxy on the same machine adds to every request it passes on.
FROM_THE_PROXY = {"X-Forwarded-Proto": "https"}


@pytest.fixture
async def web_settings(settings: Settings) -> Settings:
    """The console as it runs behind a TLS proxy."""
    return settings.model_copy(update={"web_port": free_port(), "web_https": True})


async def test_behind_https_the_session_cookie_is_secure_and_host_only(anonymous: ConsoleClient) -> None:
    page = await anonymous.http.get("/login", headers=FROM_THE_PROXY)
    # A browser sends a Secure cookie back over HTTPS; this client talks plain HTTP to the console, as the proxy does.
    anonymous.http.cookies.set("oms_login_csrf", page.cookies["oms_login_csrf"])
    assert "Secure" in page.headers["set-cookie"]
    response = await anonymous.http.post(
        "/login",
        data={"csrf_token": field_token(page.text), "email": OPERATOR, "password": PASSWORD},
        headers={**FROM_THE_PROXY, "Origin": f"https://{anonymous.http.base_url.netloc.decode()}"},
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-oms_session=")
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "Path=/" in cookie
    assert "Domain" not in cookie


async def test_behind_https_a_form_posted_from_the_plain_http_origin_is_refused(anonymous: ConsoleClient) -> None:
    page = await anonymous.http.get("/login", headers=FROM_THE_PROXY)
    # A browser sends a Secure cookie back over HTTPS; this client talks plain HTTP to the console, as the proxy does.
    anonymous.http.cookies.set("oms_login_csrf", page.cookies["oms_login_csrf"])
    response = await anonymous.http.post(
        "/login",
        data={"csrf_token": field_token(page.text), "email": OPERATOR, "password": PASSWORD},
        headers={**FROM_THE_PROXY, "Origin": f"http://{anonymous.http.base_url.netloc.decode()}"},
    )
    assert response.status_code == 403
