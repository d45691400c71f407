"""`oms operator`: who may log in to the console: add operators, list them, disable them, set their passwords."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from settings import Settings
from starter.commandline import AsJson, CommandFailed, database, fail, run
from store import operators
from store.operators import BadEmail, BadPassword, Operator, OperatorExists, Role, UnknownOperator

operator_app = typer.Typer(
    help="Who may log in to the console: add operators, list them, disable them, set passwords.",
    no_args_is_help=True,
)

Email = Annotated[str, typer.Argument(help="The operator's email address, which they log in with.", metavar="EMAIL")]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of standard input instead of asking twice."
    ),
]


@operator_app.command("add")
def add(
    email: Email,
    role: Annotated[Role, typer.Option(help="operator: acts on orders; viewer: only reads.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Add an operator who may log in to the console; asks for their password twice (hidden)."""
    address = _email(email)

    async def refuse_existing(settings: Settings) -> None:
        async with database(settings) as sessions:
            if await operators.find_operator(sessions, address):
                raise CommandFailed(str(OperatorExists(address)))

    run(refuse_existing)
    password = _new_password(password_stdin)

    async def add_now(settings: Settings) -> Operator:
        async with database(settings) as sessions:
            try:
                return await operators.add_operator(sessions, address, password, role)
            except OperatorExists as error:
                raise CommandFailed(str(error)) from None

    added = run(add_now)
    typer.echo(f"{added.email}: added as {added.role}; they can log in to the console now")


@operator_app.command("list")
def list_operators(as_json: AsJson = False) -> None:
    """Show every operator: role, active or disabled, when added, last login."""

    async def read(settings: Settings) -> list[Operator]:
        async with database(settings) as sessions:
            return await operators.list_operators(sessions)

    found = run(read)
    if as_json:
        typer.echo(json.dumps([_listed(operator) for operator in found], indent=2))
        return
    table = Table("email", "role", "state", "added", "last login")
    # An email broken over two lines is easy to misread; the dates give way first.
    table.columns[0].no_wrap = True
    for operator in found:
        table.add_row(
            escape(operator.email),
            operator.role.value,
            "active" if operator.active else "disabled",
            _local(operator.created_at),
            _local(operator.last_login_at),
        )
    Console().print(table)


@operator_app.command("disable")
def disable(email: Email) -> None:
    """Stop an operator logging in, and log them out of every console session."""
    address = _email(email)

    async def disable_now(settings: Settings) -> Operator:
        async with database(settings) as sessions:
            try:
                return await operators.disable_operator(sessions, address)
            except UnknownOperator as error:
                raise CommandFailed(str(error)) from None

    disabled = run(disable_now)
    typer.echo(f"{disabled.email}: disabled and logged out of the console")


@operator_app.command("password")
def password(email: Email, password_stdin: PasswordStdin = False) -> None:
    """Set an operator's password (asked twice, hidden) and log them out of every console session."""
    address = _email(email)

    async def refuse_unknown(settings: Settings) -> None:
        async with database(settings) as sessions:
            if await operators.find_operator(sessions, address) is None:
                raise CommandFailed(str(UnknownOperator(address)))

    run(refuse_unknown)
    new_password = _new_password(password_stdin)

    async def change_now(settings: Settings) -> Operator:
        async with database(settings) as sessions:
            try:
                return await operators.change_password(sessions, address, new_password)
            except UnknownOperator as error:
                raise CommandFailed(str(error)) from None

    changed = run(change_now)
    typer.echo(f"{changed.email}: password changed; logged out of the console")


def _email(text: str) -> str:
    try:
        return operators.normal_email(text)
    except BadEmail as error:
        fail(str(error))


def _new_password(from_stdin: bool) -> str:
    """The new password from standard input's first line, or typed twice at hidden prompts."""
    if from_stdin:
        line = sys.stdin.readline()
        return _allowed(line.removesuffix("\n").removesuffix("\r"))
    first = _allowed(typer.prompt("Password", hide_input=True))
    if typer.prompt("Password again", hide_input=True) != first:
        fail("the two passwords differ; nothing was changed")
    return first


def _allowed(text: str) -> str:
    try:
        return operators.check_password(text)
    except BadPassword as error:
        fail(str(error))


def _listed(operator: Operator) -> dict[str, object]:
    return {
        "email": operator.email,
        "role": operator.role.value,
        "active": operator.active,
        "created_at": operator.created_at.isoformat(),
        "last_login_at": operator.last_login_at.isoformat() if operator.last_login_at else None,
        "disabled_at": operator.disabled_at.isoformat() if operator.disabled_at else None,
    }


def _local(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else "-"
