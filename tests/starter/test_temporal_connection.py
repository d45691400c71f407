"""How `oms` connects to Temporal: plain, TLS, mTLS with certificate files, or an API key (Temporal Cloud)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.service import TLSConfig

from settings import Settings
from tests.conftest import TEMPORAL_TEST_SERVER
from worker import TemporalUnreachable, tls_config


def test_a_local_server_is_reached_without_tls() -> None:
    assert tls_config(Settings()) is False


def test_an_api_key_switches_tls_on_by_itself() -> None:
    assert tls_config(Settings(temporal_api_key="key")) is True


def test_client_certificate_files_are_read_for_mtls(tmp_path: Path) -> None:
    cert, key, ca = tmp_path / "client.pem", tmp_path / "client.key", tmp_path / "ca.pem"
    cert.write_bytes(b"CERT")
    key.write_bytes(b"KEY")
    ca.write_bytes(b"CA")

    tls = tls_config(
        Settings(
            temporal_tls_cert=cert, temporal_tls_key=key, temporal_tls_ca=ca, temporal_tls_server_name="temporal.shop"
        )
    )

    assert tls == TLSConfig(
        client_cert=b"CERT", client_private_key=b"KEY", server_root_ca_cert=b"CA", domain="temporal.shop"
    )


def test_a_certificate_without_its_key_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="OMS_TEMPORAL_TLS_CERT and OMS_TEMPORAL_TLS_KEY go together"):
        Settings(temporal_tls_cert=tmp_path / "client.pem")


def test_a_missing_certificate_file_is_named(tmp_path: Path) -> None:
    settings = Settings(temporal_tls_cert=tmp_path / "gone.pem", temporal_tls_key=tmp_path / "gone.key")

    with pytest.raises(TemporalUnreachable, match=r"cannot read a TLS file: .*gone\.pem: No such file"):
        tls_config(settings)


# What an SDK warning looks like from inside a process of ours: a worker against the time-skipping server makes the
# SDK's core warn that the server is too old to keep heartbeat details.
CORE_WARNS = """
import asyncio, logging, sys, threading, uuid
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from settings import Settings
from worker import exit_now, runtime

@activity.defn
async def nothing() -> None: ...

class Heard(logging.Handler):
    # The SDK forwards its log lines a few milliseconds late: the script waits until one has come through.
    def __init__(self) -> None:
        super().__init__()
        self.one = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.one.set()

logging.basicConfig(level="INFO", format="%(name)s: %(message)s")
heard = Heard()
logging.getLogger("temporalio.core").addHandler(heard)

async def main() -> None:
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=sys.argv[1], runtime=runtime(Settings(_env_file=None))
    ) as env:
        async with Worker(env.client, task_queue=str(uuid.uuid4()), activities=[nothing]):
            await asyncio.to_thread(heard.one.wait)
    print('{"done": true}')

asyncio.run(main())
exit_now(0)
"""


def test_the_sdks_warnings_go_to_stderr_so_json_on_stdout_stays_json_alone() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CORE_WARNS, str(TEMPORAL_TEST_SERVER)],
        capture_output=True,
        text=True,
        check=False,
        # Not a measure, a way out: with the SDK's own logging the script would wait for ever for a forwarded line.
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"done": True}
    assert "temporalio_sdk_core" in result.stderr
