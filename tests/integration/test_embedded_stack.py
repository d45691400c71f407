"""`oms up` as an operator runs it: one command starts everything, the CLI drives an order, Ctrl-C stops it all."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from settings import Settings
from starter.stack import DevServer, StackPaths
from tests.conftest import TEMPORAL_CLI, free_port
from worker import TemporalUnreachable, connect
from workflows import search

OMS = str(Path(sys.executable).parent / "oms")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "web-card.json"


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    """Environment of an embedded stack on free ports under a temporary var dir, simulations at zero."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OMS_")}
    env.update(
        OMS_VAR_DIR=str(tmp_path / "var"),
        OMS_TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
        OMS_TEMPORAL_UI_PORT=str(free_port()),
        OMS_SMTP_PORT=str(free_port()),
        OMS_WEB_PORT=str(free_port()),
        OMS_CODEC_PORT=str(free_port()),
        OMS_PICK_SECONDS="0",
        OMS_PACK_SECONDS="0",
        OMS_CARRIER_TRANSIT_SECONDS="0",
        OMS_TRACKING_POLL_SECONDS="1",
    )
    return env


@pytest.fixture
def stack(stack_env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """`oms up` running in the foreground of its own session, ready to take commands."""
    log = tmp_path / "oms-up.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [OMS, "up"], env=stack_env, stdout=output, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 90
            while "oms is up" not in log.read_text():
                assert process.poll() is None, f"oms up exited early:\n{log.read_text()}"
                assert time.monotonic() < deadline, f"oms up not ready:\n{log.read_text()}"
                time.sleep(0.2)
            yield process
        finally:
            stop_stack(process)


def stop_stack(process: subprocess.Popen[str]) -> None:
    """Stop `oms up` as Ctrl-C does, so it stops its dev server too (which runs in a session of its own); kill
    whatever is left if it does not."""
    if process.poll() is not None:
        return
    children = descendants(process.pid)
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def oms(env: dict[str, str], *arguments: str) -> str:
    """Run an `oms` command against the stack and return its output; fail the test on a non-zero exit."""
    result = subprocess.run([OMS, *arguments], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
def test_oms_up_runs_an_example_order_to_completed_and_sigint_stops_everything(
    stack: subprocess.Popen[str], stack_env: dict[str, str], tmp_path: Path
) -> None:
    placed_at = time.monotonic()
    order_id = json.loads(oms(stack_env, "order", "place", str(EXAMPLE), "--json"))["id"]

    status = ""
    deadline = time.monotonic() + 60
    while status != "completed":
        assert time.monotonic() < deadline, f"order {order_id} stuck in {status}"
        status = json.loads(oms(stack_env, "order", "status", order_id, "--json"))["status"]
        time.sleep(0.2)
    print(
        f"\none auto-mode order from placement to completed on the embedded stack: {time.monotonic() - placed_at:.2f} s"
    )

    # The console is served too, and a fresh state printed its demo operator's password once.
    banner = (tmp_path / "oms-up.log").read_text()
    # OMS_NEW_ORDER_EMAIL=each (the default): no hourly digest Schedule, one email per order.
    assert "new-order emails: one per order to operator@demo-shop.example" in banner
    assert f"Console         http://127.0.0.1:{stack_env['OMS_WEB_PORT']}" in banner
    assert re.search(r"Console login   operator@demo-shop\.example  password \S{12,}", banner)
    with urllib.request.urlopen(f"http://127.0.0.1:{stack_env['OMS_WEB_PORT']}/login") as login_page:
        assert login_page.status == 200

    children = descendants(stack.pid)
    assert children, "oms up should run the Temporal dev server as a child process"
    stack.send_signal(signal.SIGINT)
    assert stack.wait(timeout=30) == 0, (tmp_path / "oms-up.log").read_text()
    # The stack waits for its children before it exits; a moment more for the kernel to reap any it left.
    for _ in range(100):
        if not any(alive(pid) for pid in children):
            break
        time.sleep(0.1)
    assert [pid for pid in children if alive(pid)] == []
    assert (Path(stack_env["OMS_VAR_DIR"]) / "temporal.db").exists()
    assert (Path(stack_env["OMS_VAR_DIR"]) / "oms.db").exists()


async def test_a_var_dir_from_an_earlier_version_gets_the_new_search_attributes(tmp_path: Path) -> None:
    settings = Settings(
        var_dir=tmp_path / "var",
        temporal_address=f"127.0.0.1:{free_port()}",
        temporal_ui_port=free_port(),
    )
    paths = StackPaths(settings.var_dir)
    paths.var.mkdir(parents=True)
    # The dev server as an earlier `oms up` left it: a database that knows only the first two search attributes.
    earlier = subprocess.Popen(
        [
            *(str(TEMPORAL_CLI), "server", "start-dev", "--db-filename", str(paths.temporal_db), "--headless"),
            *("--ip", settings.temporal_host, "--port", str(settings.temporal_port)),
            *("--ui-port", str(settings.temporal_ui_port), "--log-level", "error"),
            *("--search-attribute", "OrderStatus=Keyword", "--search-attribute", "Channel=Keyword"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_for_search_attributes(settings, {"OrderStatus", "Channel"})
    finally:
        earlier.terminate()
        earlier.wait(timeout=30)

    server = DevServer(settings, paths)
    await server.start()
    try:
        client = await server.wait_ready(asyncio.Event())
        assert client is not None
        registered = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=settings.temporal_namespace)
        )
        assert {key.name for key in search.ALL} <= set(registered.custom_attributes)
    finally:
        await server.stop()


async def wait_for_search_attributes(settings: Settings, names: set[str]) -> None:
    """Until the dev server at `settings` serves these search attributes."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            client = await connect(settings)
            registered = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=settings.temporal_namespace)
            )
            if names <= set(registered.custom_attributes):
                return
        except (TemporalUnreachable, RuntimeError):
            pass
        await asyncio.sleep(0.25)
    raise AssertionError(f"the dev server never served {names}")


async def test_a_worker_refuses_a_namespace_without_the_search_attributes_and_says_how_to_add_them(
    tmp_path: Path,
) -> None:
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_CLI), dev_server_log_level="error"
    ) as bare:
        env = {key: value for key, value in os.environ.items() if not key.startswith("OMS_")}
        env.update(
            OMS_TEMPORAL_ADDRESS=bare.client.service_client.config.target_host,
            OMS_VAR_DIR=str(tmp_path / "var"),
        )
        worker = await asyncio.create_subprocess_exec(
            OMS, "worker", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        _, err = await asyncio.wait_for(worker.communicate(), timeout=60)

    assert worker.returncode == 1
    lines = err.decode().strip().splitlines()
    # Without keys anywhere it would have run unencrypted, and said so first.
    assert "workflow payloads are NOT encrypted: set OMS_PAYLOAD_KEYS" in lines[0]
    assert lines[-1].startswith("error: namespace 'default' lacks the search attributes OrderStatus, Channel,")
    assert (
        "temporal operator search-attribute create --namespace default --name OrderStatus --type Keyword" in lines[-1]
    )


async def test_a_worker_started_before_temporal_comes_up_with_it_and_polls(tmp_path: Path) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("OMS_")}
    env.update(
        OMS_TEMPORAL_ADDRESS=f"127.0.0.1:{port}",
        OMS_VAR_DIR=str(tmp_path / "var"),
        OMS_MIGRATE_ON_START="true",
        OMS_SMTP_PORT=str(free_port()),
    )
    worker = await asyncio.create_subprocess_exec(
        OMS, "worker", env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    assert worker.stderr is not None
    seen: list[str] = []

    async def until_logged(text: str) -> None:
        assert worker.stderr is not None
        while not any(text in line for line in seen):
            line = (await worker.stderr.readline()).decode()
            assert line, f"the worker ended before logging {text!r}: {seen}"
            seen.append(line)

    try:
        await until_logged("trying again in")
        async with await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(TEMPORAL_CLI),
            dev_server_log_level="error",
            port=port,
            search_attributes=search.ALL,
        ):
            await until_logged("worker polling task queue")
            worker.send_signal(signal.SIGTERM)
            await until_logged("worker stopped")
            assert await worker.wait() == 0
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()

    assert not any("Traceback" in line for line in seen)
