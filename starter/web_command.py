"""`oms web`: serve the operator console on its own (`oms up` serves it too)."""

from __future__ import annotations

import asyncio
import logging

from settings import Settings
from starter.commandline import run
from store import migrate
from store.db import create_engine
from worker import configure_logging, stop_on_signals

log = logging.getLogger("oms.web")


def web() -> None:
    """Serve the operator console at http://OMS_WEB_HOST:OMS_WEB_PORT until Ctrl-C.

    It needs the OMS database at the newest schema (`oms db upgrade`, or OMS_MIGRATE_ON_START=true) and reaches
    Temporal for order pages and commands. Add operators with `oms operator add EMAIL`.
    """
    run(serve)


async def serve(settings: Settings) -> None:
    """Check the schema, then serve until SIGINT or SIGTERM."""
    configure_logging(settings)
    engine = create_engine(settings.oms_database_url)
    try:
        if settings.migrate_on_start:
            migrated = await migrate.upgrade(engine)
            log.info("OMS database at revision %s", migrated.after)
        else:
            await migrate.require_head(engine)
    finally:
        await engine.dispose()
    stop = asyncio.Event()
    # Imported here: the web framework takes half a second to import, which every other `oms` command would pay.
    from starter.web import app as console

    log.info("operator console at http://%s:%d", settings.web_host, settings.web_port)
    with stop_on_signals(stop):
        await console.serve(settings, stop)
    log.info("console stopped")
