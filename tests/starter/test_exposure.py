"""Nothing exposed by default: no password in a message, no secret in a dump of the settings, metrics on loopback,
the embedded stack's state readable by its owner only."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from settings import Settings
from starter.cli import app
from starter.mail_sink import MailSink
from starter.stack import StackPaths, banner, keep_state_private
from store.db import create_engine, displayed_url
from tests.conftest import free_port
from worker import runtime

OMS = str(Path(sys.executable).parent / "oms")
PASSWORD = "s3cretPW"

# Databases that cannot be opened, each for another reason; every URL carries the password.
UNREACHABLE = {
    "closed port": f"postgresql+asyncpg://oms:{PASSWORD}@127.0.0.1:1/test",
    "unknown user": f"postgresql+asyncpg://nosuchuser:{PASSWORD}@127.0.0.1:5432/test",
    "unknown database": f"postgresql+asyncpg://postgres:{PASSWORD}@127.0.0.1:5432/nosuchdb",
    "unescaped @ in the password": f"postgresql+asyncpg://oms:{PASSWORD}@x@127.0.0.1:5432/test",
    "not a URL": f"oms:{PASSWORD}@127.0.0.1",
}


def cli_environment(**variables: str) -> dict[str, str]:
    """The environment of an `oms` command: this one without OMS_ settings, plus `variables`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OMS_")}
    return {**env, **variables}


# --- the database password -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["order", "list"], ["db", "current"]])
@pytest.mark.parametrize("url", UNREACHABLE.values(), ids=UNREACHABLE.keys())
def test_a_database_that_cannot_be_opened_is_named_without_its_password(url: str, command: list[str]) -> None:
    result = CliRunner().invoke(app, command, env={"OMS_DATABASE_URL": url})

    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert PASSWORD not in result.output + result.stderr


def test_the_database_named_in_an_error_has_its_password_masked() -> None:
    url = UNREACHABLE["unknown user"]

    result = CliRunner().invoke(app, ["order", "list"], env={"OMS_DATABASE_URL": url})

    assert "postgresql+asyncpg://nosuchuser:***@127.0.0.1:5432/test" in result.stderr


@pytest.mark.parametrize("url", UNREACHABLE.values(), ids=UNREACHABLE.keys())
def test_a_traceback_asked_for_with_debug_logging_holds_no_password(url: str) -> None:
    result = subprocess.run(
        [OMS, "order", "list"],
        env=cli_environment(OMS_DATABASE_URL=url, OMS_LOG_LEVEL="debug"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert PASSWORD not in result.stdout + result.stderr


def test_the_banner_of_oms_up_shows_the_database_without_its_password() -> None:
    settings = Settings(database_url=f"postgresql+asyncpg://oms:{PASSWORD}@db.example:5432/oms")

    shown = banner(settings, StackPaths(Path("var")), 0)

    assert PASSWORD not in shown
    assert "OMS database    postgresql+asyncpg://oms:***@db.example:5432/oms" in shown


@pytest.mark.parametrize("url", UNREACHABLE.values(), ids=UNREACHABLE.keys())
def test_a_displayed_database_url_never_holds_the_password(url: str) -> None:
    assert PASSWORD not in displayed_url(url)
    assert "x@" not in displayed_url(url)


def test_a_displayed_sqlite_url_is_the_url() -> None:
    assert displayed_url("sqlite+aiosqlite:///var/oms.db") == "sqlite+aiosqlite:///var/oms.db"


# --- secrets among the settings ------------------------------------------------------------------------------


@pytest.fixture
def secret_settings() -> Settings:
    return Settings(
        _env_file=None,
        database_url=f"postgresql+asyncpg://oms:{PASSWORD}@db.example:5432/oms",
        temporal_api_key="tk-API-KEY-VALUE",
    )


def test_the_settings_keep_their_secrets_out_of_repr_str_and_json(secret_settings: Settings) -> None:
    shown = [
        repr(secret_settings),
        str(secret_settings),
        secret_settings.model_dump_json(),
        str(secret_settings.model_dump()),
    ]

    assert not [view for view in shown if PASSWORD in view or "tk-API-KEY-VALUE" in view]


def test_the_engines_still_get_the_whole_database_url(secret_settings: Settings) -> None:
    assert secret_settings.oms_database_url == f"postgresql+asyncpg://oms:{PASSWORD}@db.example:5432/oms"
    assert secret_settings.oms_database_display == "postgresql+asyncpg://oms:***@db.example:5432/oms"


def test_secret_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_DATABASE_URL", f"postgresql+asyncpg://oms:{PASSWORD}@db.example/oms")
    monkeypatch.setenv("OMS_TEMPORAL_API_KEY", "tk-API-KEY-VALUE")

    settings = Settings(_env_file=None)

    assert settings.temporal_api_key is not None
    assert settings.temporal_api_key.get_secret_value() == "tk-API-KEY-VALUE"
    assert settings.oms_database_url.endswith(f":{PASSWORD}@db.example/oms")


# --- worker metrics -------------------------------------------------------------------------------------------


def scrape(host: str, port: int) -> int:
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as response:
        return int(response.status)


def reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except ConnectionRefusedError:
        return False
    return True


def test_worker_metrics_listen_on_loopback_only_by_default() -> None:
    port = free_port()

    runtime(Settings(_env_file=None, metrics_port=port), serve_metrics=True)

    assert scrape("127.0.0.1", port) == 200
    # Another address of this host: refused, where a server on every address would answer.
    assert not reachable("127.0.0.2", port)


def test_worker_metrics_listen_where_oms_metrics_host_says() -> None:
    port = free_port()

    runtime(Settings(_env_file=None, metrics_port=port, metrics_host="0.0.0.0"), serve_metrics=True)

    assert reachable("127.0.0.2", port)


# --- the embedded stack's state -------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.usefixtures("umask")
def test_a_fresh_var_directory_is_its_owners_only(tmp_path: Path) -> None:
    paths = StackPaths(tmp_path / "var")

    keep_state_private(paths)

    assert mode(paths.var) == 0o700


@pytest.mark.usefixtures("umask")
async def test_the_oms_database_and_its_journal_files_are_its_owners_only(tmp_path: Path) -> None:
    paths = StackPaths(tmp_path / "var")
    keep_state_private(paths)
    engine = create_engine(f"sqlite+aiosqlite:///{paths.var / 'oms.db'}")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE orders (id TEXT)"))
        async with engine.connect() as connection:
            await connection.execute(text("SELECT * FROM orders"))
            files = sorted(path.name for path in paths.var.iterdir())
            modes = {path.name: mode(path) for path in paths.var.iterdir()}
    finally:
        await engine.dispose()

    assert files == ["oms.db", "oms.db-shm", "oms.db-wal"]
    assert modes == dict.fromkeys(files, 0o600)


@pytest.mark.usefixtures("umask")
async def test_a_new_sqlite_database_is_created_for_its_owner_only_wherever_it_is(tmp_path: Path) -> None:
    # `oms worker` or `oms web` on the default SQLite database, with no `oms up` before them.
    database = tmp_path / "new" / "oms.db"
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE orders (id TEXT)"))
        wal = mode(database.with_name("oms.db-wal"))
    finally:
        await engine.dispose()

    assert mode(database.parent) == 0o700
    assert mode(database) == 0o600
    assert wal == 0o600


@pytest.mark.usefixtures("umask")
def test_the_dev_server_and_every_other_child_creates_its_files_for_the_owner_only(tmp_path: Path) -> None:
    paths = StackPaths(tmp_path / "var")
    keep_state_private(paths)

    subprocess.run([sys.executable, "-c", f"open({str(paths.temporal_db)!r}, 'w').close()"], check=True)

    assert mode(paths.temporal_db) == 0o600


@pytest.mark.usefixtures("umask")
async def test_caught_emails_are_their_owners_only(tmp_path: Path) -> None:
    paths = StackPaths(tmp_path / "var")
    keep_state_private(paths)
    sink = MailSink(paths.mail, "127.0.0.1", free_port())
    sink.start()
    try:
        await asyncio.to_thread(send_one_email, sink.port)
    finally:
        sink.stop()

    [message] = (paths.mail / "new").iterdir()
    assert mode(message) == 0o600
    assert mode(paths.mail) == 0o700


def send_one_email(port: int) -> None:
    import smtplib

    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.sendmail("shop@example.com", ["customer@example.com"], "Subject: hello\r\n\r\nyour order")


@pytest.mark.usefixtures("umask")
def test_a_var_directory_others_could_read_is_tightened_and_the_operator_told(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    paths = StackPaths(tmp_path / "var")
    (paths.mail / "new").mkdir(parents=True)
    earlier = [paths.temporal_db, paths.var / "oms.db-wal", paths.temporal_log, paths.mail / "new" / "1.eml"]
    for path in earlier:
        path.write_text("customer data")
        path.chmod(0o644)
    paths.var.chmod(0o755)
    # Not the stack's: left as it is, and a link's target is never touched.
    notes = paths.var / "notes.txt"
    notes.write_text("mine")
    outside = tmp_path / "outside.txt"
    outside.write_text("someone else's")
    (paths.var / "oms.db").symlink_to(outside)

    with caplog.at_level(logging.WARNING, logger="oms.stack"):
        keep_state_private(paths)

    assert mode(paths.var) == 0o700
    assert {path.name: mode(path) for path in earlier} == {path.name: 0o600 for path in earlier}
    assert mode(paths.mail) == 0o700
    assert mode(notes) == 0o644
    assert mode(outside) == 0o644
    assert f"{paths.var} was readable by other users" in caplog.text
