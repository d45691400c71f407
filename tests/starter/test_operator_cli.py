"""`oms operator add|list|disable|password` against a real OMS database: who may log in to the console."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner, Result

from settings import Settings
from starter.cli import app
from starter.commandline import database
from store import operators
from store.operators import LoginRefused, Role
from tests.starter.test_cli import one_error_line

PASSWORD = "correct horse battery"


@pytest.fixture
async def env(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """A migrated OMS database with one operator, Grace (viewer), and the variables that point `oms` at it."""
    await operators.add_operator(sessions, "grace@example.com", PASSWORD, Role.VIEWER)
    return {"OMS_VAR_DIR": str(settings.var_dir)}


def oms(env: dict[str, str], *args: str, typed: str | None = None) -> Result:
    return CliRunner().invoke(app, ["operator", *args], input=typed, env=env)


def listed(env: dict[str, str]) -> dict[str, dict[str, object]]:
    result = oms(env, "list", "--json")
    assert result.exit_code == 0, result.output
    return {operator["email"]: operator for operator in json.loads(result.stdout)}


def logs_in(settings: Settings, email: str, password: str) -> bool:
    """Whether the console would let `email` in with `password` now."""

    async def attempt() -> bool:
        async with database(settings) as sessions:
            try:
                await operators.log_in(sessions, email, password, datetime.now(UTC))
            except LoginRefused:
                return False
            return True

    return asyncio.run(attempt())


def test_an_operator_added_with_the_password_on_stdin_is_listed_and_can_log_in(
    env: dict[str, str], settings: Settings
) -> None:
    result = oms(env, "add", "Ada@Example.com", "--role", "operator", "--password-stdin", typed=f"{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "ada@example.com: added as operator; they can log in to the console now"
    ada = listed(env)["ada@example.com"]
    assert (ada["role"], ada["active"], ada["last_login_at"], ada["disabled_at"]) == ("operator", True, None, None)
    assert datetime.fromisoformat(str(ada["created_at"])).tzinfo is not None
    assert logs_in(settings, "ada@example.com", PASSWORD)


def test_a_password_typed_twice_at_hidden_prompts_adds_the_operator_without_showing_it(
    env: dict[str, str], settings: Settings
) -> None:
    result = oms(env, "add", "ada@example.com", "--role", "viewer", typed=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert listed(env)["ada@example.com"]["role"] == "viewer"
    assert logs_in(settings, "ada@example.com", PASSWORD)


def test_passwords_that_differ_at_the_prompts_are_refused_and_nobody_is_added(env: dict[str, str]) -> None:
    result = oms(env, "add", "ada@example.com", "--role", "operator", typed=f"{PASSWORD}\n{PASSWORD}!\n")

    assert result.exit_code == 1
    assert one_error_line(result.stderr) == "the two passwords differ; nothing was changed"
    assert "ada@example.com" not in listed(env)


def test_adding_an_operator_twice_is_refused_before_a_password_is_asked_for(env: dict[str, str]) -> None:
    result = oms(env, "add", " GRACE@example.com", "--role", "operator")

    assert result.exit_code == 1
    assert one_error_line(result.stderr) == "operator grace@example.com already exists"
    assert "Password" not in result.output
    assert listed(env)["grace@example.com"]["role"] == "viewer"


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("ada.example.com", PASSWORD, "email 'ada.example.com': needs exactly one @"),
        ("ada@example.com, eve@example.com", PASSWORD, "email 'ada@example.com, eve@example.com': must not contain"),
        ("ada@example.com", "hunter2", "password: too short; use at least 12 characters"),
        ("ada@example.com", "tab\tinside password", "password: must not contain control characters"),
    ],
)
def test_a_bad_email_or_password_is_refused_in_one_line_naming_the_problem(
    env: dict[str, str], email: str, password: str, message: str
) -> None:
    result = oms(env, "add", email, "--role", "operator", "--password-stdin", typed=f"{password}\n")

    assert result.exit_code == 1
    assert one_error_line(result.stderr).startswith(message)
    assert password not in result.output
    assert list(listed(env)) == ["grace@example.com"]


def test_a_disabled_operator_is_listed_as_disabled_and_cannot_log_in(env: dict[str, str], settings: Settings) -> None:
    result = oms(env, "disable", "grace@example.com")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "grace@example.com: disabled and logged out of the console"
    grace = listed(env)["grace@example.com"]
    assert (grace["active"], grace["disabled_at"] is not None) == (False, True)
    assert not logs_in(settings, "grace@example.com", PASSWORD)
    table = CliRunner().invoke(app, ["operator", "list"], env={**env, "COLUMNS": "80"})
    assert table.exit_code == 0, table.output
    [row] = [line for line in table.stdout.splitlines() if "grace@example.com" in line]
    assert row.split("│")[1:4] == [" grace@example.com ", " viewer ", " disabled "]


def test_disabling_an_unknown_operator_is_refused(env: dict[str, str]) -> None:
    result = oms(env, "disable", "eve@example.com")

    assert result.exit_code == 1
    assert one_error_line(result.stderr) == "unknown operator eve@example.com"


def test_a_changed_password_replaces_the_old_one(env: dict[str, str], settings: Settings) -> None:
    result = oms(env, "password", "grace@example.com", "--password-stdin", typed="a brand new passphrase\n")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "grace@example.com: password changed; logged out of the console"
    assert logs_in(settings, "grace@example.com", "a brand new passphrase")
    assert not logs_in(settings, "grace@example.com", PASSWORD)


def test_a_new_password_typed_differently_twice_changes_nothing(env: dict[str, str], settings: Settings) -> None:
    result = oms(env, "password", "grace@example.com", typed="a brand new passphrase\na brand new passphrase?\n")

    assert result.exit_code == 1
    assert one_error_line(result.stderr) == "the two passwords differ; nothing was changed"
    assert logs_in(settings, "grace@example.com", PASSWORD)


def test_the_password_of_an_unknown_operator_is_refused_before_one_is_asked_for(env: dict[str, str]) -> None:
    result = oms(env, "password", "eve@example.com")

    assert result.exit_code == 1
    assert one_error_line(result.stderr) == "unknown operator eve@example.com"
    assert "Password" not in result.output
