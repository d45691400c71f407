"""The dev server that `oms up` starts keeps every workflow's history in files only their owner can read."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from settings import Settings
from starter.stack import DevServer, StackPaths, keep_state_private
from tests.conftest import free_port


@pytest.mark.usefixtures("umask")
async def test_the_dev_servers_database_and_log_are_their_owners_only(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        var_dir=tmp_path / "var",
        temporal_address=f"127.0.0.1:{free_port()}",
        temporal_ui_port=free_port(),
    )
    paths = StackPaths(settings.var_dir)
    keep_state_private(paths)
    server = DevServer(settings, paths)
    await server.start()
    try:
        assert await server.wait_ready(asyncio.Event()) is not None
        files = [path for path in paths.var.iterdir() if path.name.startswith("temporal.")]
        modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in files}
    finally:
        await server.stop()

    assert {"temporal.db", "temporal.log"} <= set(modes)
    assert modes == dict.fromkeys(modes, 0o600)
