"""`bench.throughput` at a tiny size, so it cannot rot: the bare workflow runs and is timed, the summary adds up."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from bench.bare_worker import STEPS, WaitingBareWorkflow
from bench.fulfilment_run import wait_for_worker
from bench.throughput import (
    CpuShare,
    Memory,
    Rate,
    Results,
    Round,
    bare_worker,
    children_cpu,
    run_bare,
    start_waiting,
    summary,
)
from settings import Settings

# The integration suite's dev server, shared by this module's tests.
from tests.integration.conftest import dev_server  # noqa: F401

WORKFLOWS = 3


async def test_every_bare_workflow_completes_on_the_bare_worker_and_is_timed(
    dev_server: WorkflowEnvironment,  # noqa: F811
    tmp_path: Path,
) -> None:
    settings = Settings(
        var_dir=tmp_path,
        temporal_address=dev_server.client.service_client.config.target_host,
        task_queue=f"bare-{uuid.uuid4()}",
    )
    seen: list[tuple[int, int]] = []
    async with bare_worker(settings) as worker:
        await wait_for_worker(dev_server.client, settings, worker)
        rate = await run_bare(settings, WORKFLOWS, report=lambda started, closed, _: seen.append((started, closed)))
    assert (rate.requested, rate.completed) == (WORKFLOWS, WORKFLOWS)
    assert rate.seconds > 0
    assert seen[-1] == (WORKFLOWS, WORKFLOWS)


async def test_waiting_bare_workflows_are_counted_once_they_wait_and_finish_when_released(
    dev_server: WorkflowEnvironment,  # noqa: F811
    tmp_path: Path,
) -> None:
    settings = Settings(
        var_dir=tmp_path,
        temporal_address=dev_server.client.service_client.config.target_host,
        task_queue=f"waiting-{uuid.uuid4()}",
    )
    async with bare_worker(settings) as worker:
        await wait_for_worker(dev_server.client, settings, worker)
        await start_waiting(settings, WORKFLOWS, settings.task_queue)
        for number in range(WORKFLOWS):
            handle = dev_server.client.get_workflow_handle(f"waiting-{settings.task_queue}-{number}")
            described = await handle.describe()
            assert described.status is not None
            assert described.status.name == "RUNNING"
            await handle.signal(WaitingBareWorkflow.release)
            assert await handle.result() == STEPS // 2


def test_the_summary_gives_both_rates_the_ratio_of_the_medians_and_the_targets() -> None:
    rounds = [
        Round(Rate(400, 400, 25.0), Rate(200, 200, 50.0), "", CpuShare(12.0, 20.0, 4.0), CpuShare(20.0, 16.0, 2.0)),
        Round(Rate(400, 400, 20.0), Rate(200, 200, 100.0), "", CpuShare(16.0, 24.0, 4.0), CpuShare(16.0, 12.0, 2.0)),
    ]
    memory = Memory(idle_kib=100_000, warm_kib=101_000, cached_kib=121_000, warm_up=20, cached=200)
    bare_memory = Memory(idle_kib=70_000, warm_kib=72_000, cached_kib=90_000, warm_up=20, cached=200)
    printed = summary(Results(rounds, [2.0, 3.0, 4.0], [0.5, 0.4, 0.6], memory, bare_memory), "a machine")
    assert "16.0, 20.0 workflows/s (median 18.0)" in printed
    assert "4.0, 2.0 orders/s (median 3.0)" in printed
    assert "0.25x, 0.10x per round; 0.17x of the medians (goal >= 1.0x)" in printed
    assert "oms worker 3.00 s, bare worker 0.50 s" in printed
    assert "100 KiB for the 200 after a warm-up of 20 (target <= 60 KiB)" in printed
    assert "bare RSS per cached workflow 91 KiB from idle; 90 KiB marginal" in printed
    assert "worker 35 ms, dev server 55 ms, starter 10 ms; 100 ms of CPU per workflow" in printed
    assert "worker 90 ms, dev server 70 ms, starter 10 ms; 170 ms of CPU per workflow" in printed


BUSY = """
import sys, time
started = time.process_time()
while time.process_time() - started < 0.3:
    pass
print("busy", flush=True)
sys.stdin.read()
"""


def test_the_cpu_of_a_running_worker_child_is_counted_as_the_workers() -> None:
    before = children_cpu()["worker"]
    child = subprocess.Popen(
        [sys.executable, "-c", BUSY, "worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "busy\n"
        assert children_cpu()["worker"] - before >= 0.25
    finally:
        child.communicate("")
