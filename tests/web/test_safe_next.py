"""After logging in, the console goes back only to one of its own pages, never to another site."""

from __future__ import annotations

import pytest

from starter.web.security import safe_next


@pytest.mark.parametrize(
    ("asked", "went"),
    [
        ("/orders?list=pending", "/orders?list=pending"),
        ("/orders/web-1001", "/orders/web-1001"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("/\n/evil.example", "/"),
        ("/ /evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_the_page_after_login_is_one_of_the_consoles_own(asked: str | None, went: str) -> None:
    assert safe_next(asked) == went
