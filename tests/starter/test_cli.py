"""The `oms` CLI without Temporal: every failure is one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from starter.cli import app
from tests.conftest import free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
OMS = Path(sys.executable).parent / "oms"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Settings for one CLI run: its own var dir, and a Temporal address where nothing listens."""
    return {
        "OMS_VAR_DIR": str(tmp_path / "var"),
        "OMS_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "OMS_TEMPORAL_UI_PORT": str(free_port()),
        "OMS_SMTP_PORT": str(free_port()),
    }


@pytest.fixture
def bad_order(tmp_path: Path) -> Path:
    """An order file whose first line orders nothing."""
    data = json.loads((EXAMPLES / "web-card.json").read_text())
    data["lines"][0]["quantity"] = 0
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    return path


def oms(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed `oms` console script as an operator would."""
    return subprocess.run(
        [str(OMS), *args], input=stdin, capture_output=True, text=True, env=os.environ | env, timeout=60, check=False
    )


def one_error_line(stderr: str) -> str:
    """The single line a failing command printed, checked to be exactly one and no traceback."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("error: ")
    return lines[0].removeprefix("error: ")


def test_bad_order_file_exits_1_naming_the_field(bad_order: Path, env: dict[str, str]) -> None:
    result = oms("order", "place", str(bad_order), env=env)
    assert result.returncode == 1
    assert one_error_line(result.stderr) == "lines[0].quantity: must be at least 1, got 0"
    assert result.stdout == ""


def test_bad_order_on_stdin_is_refused_the_same_way(bad_order: Path, env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["order", "place", "-"], input=bad_order.read_text(), env=env)
    assert result.exit_code == 1
    assert one_error_line(result.stderr) == "lines[0].quantity: must be at least 1, got 0"


def test_garbage_json_names_line_and_column(tmp_path: Path, env: dict[str, str]) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"channel": "web",\n "lines": [}\n')
    result = CliRunner().invoke(app, ["order", "place", str(garbage)], env=env)
    assert result.exit_code == 1
    assert one_error_line(result.stderr).startswith("invalid JSON at line 2 column 12: ")


def test_missing_file_is_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["order", "place", str(tmp_path / "nope.json")], env=env)
    assert result.exit_code == 1
    assert one_error_line(result.stderr) == f"cannot read {tmp_path / 'nope.json'}: No such file or directory"


def test_valid_order_without_temporal_says_where_it_looked(env: dict[str, str]) -> None:
    result = oms("order", "place", str(EXAMPLES / "web-card.json"), env=env)
    assert result.returncode == 1
    address = env["OMS_TEMPORAL_ADDRESS"]
    assert one_error_line(result.stderr) == f"cannot reach Temporal at {address}: is `oms up` running?"


@pytest.mark.parametrize(
    "args",
    [
        ["order", "status", "order-web-1001"],
        ["order", "pick", "web-1001"],
        ["order", "ship", "web-1001", "--carrier", "DHL", "--tracking", "123"],
        ["stock", "receive", "COFFEE-1KG", "5"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_commands_without_temporal_fail_in_one_line(args: list[str], env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 1
    assert one_error_line(result.stderr).startswith("cannot reach Temporal at ")


def test_invalid_command_option_names_the_option(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["order", "ship", "web-1001", "--carrier", " ", "--tracking", "1"], env=env)
    assert result.exit_code == 1
    assert one_error_line(result.stderr).startswith("--carrier: ")


def test_bad_configuration_names_the_variable(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["order", "status", "web-1001"], env=env | {"OMS_SMTP_PORT": "lots"})
    assert result.exit_code == 1
    assert one_error_line(result.stderr).startswith("configuration: OMS_SMTP_PORT: ")


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port somebody is listening on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_up_refuses_a_taken_port_before_starting_anything(taken_port: int, env: dict[str, str]) -> None:
    result = oms("up", env=env | {"OMS_TEMPORAL_ADDRESS": f"127.0.0.1:{taken_port}"})
    assert result.returncode == 1
    message = one_error_line(result.stderr)
    assert message.startswith(f"port {taken_port} on 127.0.0.1 (Temporal gRPC) is taken")
    assert "OMS_TEMPORAL_ADDRESS" in message
    assert not Path(env["OMS_VAR_DIR"]).exists()


def commands(group: Any, prefix: str = "oms") -> Iterator[tuple[str, Any]]:
    """Every command under a click group (typer's vendored click), with its full name."""
    for name, command in group.commands.items():
        yield f"{prefix} {name}", command
        if hasattr(command, "commands"):
            yield from commands(command, f"{prefix} {name}")


def test_every_command_and_option_has_help() -> None:
    missing = [
        f"{name} {param.name}"
        for name, command in commands(get_command(app))
        for param in [None, *command.params]
        if not (command.help if param is None else getattr(param, "help", None))
    ]
    assert missing == []


def test_what_oms_worker_runs_loads_neither_the_command_line_nor_alembic() -> None:
    # A fifth of a second each that a worker would spend before its first poll (`make bench` prints that figure).
    script = (
        "import sys, starter.entry, worker; "
        "print(sorted(name for name in ('starter.cli', 'typer', 'alembic', 'rich', 'openpyxl') if name in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_oms_worker_no_wait_without_temporal_says_where_it_looked(env: dict[str, str]) -> None:
    result = oms("worker", "--no-wait", env=env)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"error: cannot reach Temporal at {env['OMS_TEMPORAL_ADDRESS']}: is `oms up` running?"
    )
    assert "Traceback" not in result.stderr


def test_oms_worker_without_temporal_keeps_trying_one_line_an_attempt_until_sigterm(env: dict[str, str]) -> None:
    worker = subprocess.Popen(
        [str(OMS), "worker"], env=os.environ | env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert worker.stderr is not None
    tries = []
    for line in worker.stderr:
        if "trying again" in line:
            tries.append(line)
        if len(tries) == 2:
            break
    worker.send_signal(signal.SIGTERM)
    _, rest = worker.communicate(timeout=60)

    address = env["OMS_TEMPORAL_ADDRESS"]
    assert f"cannot reach Temporal at {address}: is `oms up` running?; trying again in 1 s (--no-wait exits" in tries[0]
    assert "trying again in 2 s" in tries[1]
    assert worker.returncode == 0
    assert "worker stopped before Temporal could be reached" in rest
    assert "Traceback" not in rest


def test_oms_worker_with_a_bad_setting_says_which_in_one_line(env: dict[str, str]) -> None:
    result = oms("worker", env=env | {"OMS_FULFILMENT_MODE": "sometimes"})
    assert result.returncode == 1
    assert one_error_line(result.stderr) == "configuration: OMS_FULFILMENT_MODE: Input should be 'auto' or 'manual'"


@pytest.mark.parametrize("args", [["worker", "--help"], ["worker", "--warehouse", "--help"]])
def test_oms_worker_help_comes_from_the_command_line(args: list[str], env: dict[str, str]) -> None:
    result = oms(*args, env=env)
    assert result.returncode == 0
    assert "Run one worker on the order task queue" in result.stdout
    assert "--warehouse" in result.stdout


def test_oms_worker_with_an_unknown_option_is_refused_by_the_command_line(env: dict[str, str]) -> None:
    result = oms("worker", "--warehose", env=env)
    assert result.returncode == 2
    assert "No such option: --warehose" in result.stderr


@pytest.mark.parametrize("args", [["order", "list"], ["stock", "list"]])
def test_a_database_nobody_answers_at_is_one_line_naming_it_with_the_password_masked(
    args: list[str], env: dict[str, str]
) -> None:
    port = free_port()
    result = oms(*args, env=env | {"OMS_DATABASE_URL": f"postgresql+asyncpg://shop:s3cret@127.0.0.1:{port}/shop"})

    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert line.startswith(f"cannot reach the OMS database postgresql+asyncpg://shop:***@127.0.0.1:{port}/shop: ")
    assert line.endswith("is the database server running there, and OMS_DATABASE_URL right?")
    assert "s3cret" not in result.stderr
