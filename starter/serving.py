"""Serving an ASGI app with uvicorn inside a process that owns its signals: `oms up`, `oms web`, `oms codec-server`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the caller stops it through its `stop` event, in its own order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_until(app: Any, stop: asyncio.Event, *, host: str, port: int, **options: Any) -> None:
    """Serve `app` on host:port until `stop` is set (or the server ends by itself, e.g. its port is taken)."""
    # Our apps log what they need; uvicorn's access log would print query strings (search terms, tokens).
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, server_header=False, **options
    )
    server = _QuietServer(config)
    serving = asyncio.create_task(server.serve())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        stopping.cancel()
        await serving
