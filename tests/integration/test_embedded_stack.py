"""`oms up` as an operator runs it: one command starts everything, the CLI drives an order, Ctrl-C stops it all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port

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
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


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

    children = descendants(stack.pid)
    assert children, "oms up should run the Temporal dev server as a child process"
    stack.send_signal(signal.SIGINT)
    assert stack.wait(timeout=30) == 0, (tmp_path / "oms-up.log").read_text()
    time.sleep(0.5)
    assert [pid for pid in children if alive(pid)] == []
    assert (Path(stack_env["OMS_VAR_DIR"]) / "temporal.db").exists()
    assert (Path(stack_env["OMS_VAR_DIR"]) / "oms.db").exists()
