"""The worker: wires the Temporal client, the order workflow and every activity, and drains on SIGTERM."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import RPCError, TLSConfig
from temporalio.worker import Worker

from activities.inventory import InventoryActivities
from activities.mail_relay import run_mail_relay
from activities.new_orders import NewOrderActivities
from activities.notifications import NotificationActivities
from activities.orders import OrderActivities
from activities.payments import PaymentActivities
from activities.reports import ReportActivities
from activities.shipping import ShippingActivities
from activities.warehouse import WarehouseActivities
from domain.calendar import prepare_holidays_in_background
from settings import Settings
from starter.codec import KeyRing, data_converter
from starter.digest_schedule import apply_new_order_email
from store import migrate
from store.db import create_engine, session_factory
from workflows import sandbox, search
from workflows.daily_report import DailyReportWorkflow
from workflows.new_order_digest import NewOrderDigestWorkflow
from workflows.order import OrderWorkflow
from workflows.order_v1 import OrderWorkflowV1
from workflows.refund import RefundWorkflow

# Activities spend their time waiting on the database, SMTP and the sandbox systems, not on the CPU; beyond
# this, SQLite writers mostly queue behind each other's locks.
MAX_CONCURRENT_ACTIVITIES = 50

# Running activities get this long to finish before they are cancelled; below Docker's default 10 s stop
# grace period, so a `docker compose stop` drains instead of killing.
GRACEFUL_SHUTDOWN = timedelta(seconds=8)

log = logging.getLogger("oms.worker")


class TemporalUnreachable(ConnectionError):
    """Nothing answers at the configured Temporal address."""

    def __init__(self, address: str, why: str | None = None) -> None:
        self.address = address
        super().__init__(f"cannot reach Temporal at {address}: {why or 'is `oms up` running?'}")


async def connect(settings: Settings, *, serve_metrics: bool = False) -> Client:
    """A client for the configured Temporal: namespace, TLS or API key, pydantic payloads.

    `serve_metrics` (the worker only: a CLI command must not take its port) serves SDK metrics on OMS_METRICS_PORT.
    """
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
            tls=tls_config(settings),
            data_converter=data_converter(KeyRing.configured(settings)),
            runtime=runtime(settings, serve_metrics=serve_metrics),
        )
    except RuntimeError as error:
        # The SDK reports every connection failure as a bare RuntimeError with this prefix.
        if str(error).startswith("Failed client connect"):
            raise TemporalUnreachable(settings.temporal_address) from error
        raise


# Waits between attempts to reach Temporal double from the first up to the longest: a worker started before its
# Temporal (compose, Kubernetes, a reboot) comes up with it and logs a line every half minute at most meanwhile.
FIRST_WAIT_SECONDS = 1.0
LONGEST_WAIT_SECONDS = 30.0


async def connect_when_up(
    settings: Settings,
    stop: asyncio.Event,
    *,
    wait: bool = True,
    first_wait: float = FIRST_WAIT_SECONDS,
    longest_wait: float = LONGEST_WAIT_SECONDS,
    serve_metrics: bool = False,
) -> Client | None:
    """`connect`, trying again with growing waits while Temporal cannot be reached; None if `stop` is set meanwhile.

    `wait=False` (`oms worker --no-wait`) raises `TemporalUnreachable` at the first failure instead.
    """
    delay = first_wait
    while True:
        try:
            return await connect(settings, serve_metrics=serve_metrics)
        except TemporalUnreachable as error:
            if not wait:
                raise
            log.warning("%s; trying again in %.0f s (--no-wait exits instead)", error, delay)
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
        except TimeoutError:
            delay = min(delay * 2, longest_wait)
            continue
        return None


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS as configured: certificate files for mTLS, plain TLS, or none.

    An API key is only ever sent over TLS (Temporal Cloud), so a key switches TLS on by itself, as a certificate does.
    """
    files = (settings.temporal_tls_cert, settings.temporal_tls_key, settings.temporal_tls_ca)
    if any(files) or settings.temporal_tls_server_name:
        try:
            cert, key, ca = (path.read_bytes() if path else None for path in files)
        except OSError as error:
            raise TemporalUnreachable(
                settings.temporal_address, f"cannot read a TLS file: {error.filename}: {error.strerror}"
            ) from None
        return TLSConfig(
            client_cert=cert,
            client_private_key=key,
            server_root_ca_cert=ca,
            domain=settings.temporal_tls_server_name,
        )
    return settings.temporal_tls or settings.temporal_api_key is not None


_RUNTIMES: dict[str | None, Runtime] = {}


def metrics_address(settings: Settings) -> str | None:
    """Where the worker serves SDK metrics, host:port (OMS_METRICS_HOST, OMS_METRICS_PORT); None when it does not."""
    if settings.metrics_port is None:
        return None
    host = settings.metrics_host
    # An IPv6 address needs brackets before its port.
    return f"[{host}]:{settings.metrics_port}" if ":" in host else f"{host}:{settings.metrics_port}"


def runtime(settings: Settings, *, serve_metrics: bool = False) -> Runtime:
    """The SDK runtime: its log lines forwarded to Python's logging (so to stderr, never into a command's `--json`
    on stdout, where the SDK's own default writes them), and, with `serve_metrics`, a Prometheus endpoint at
    OMS_METRICS_HOST:OMS_METRICS_PORT when a port is set.

    A runtime binds its address once, so one is made per address and shared by every client of the process.
    """
    address = metrics_address(settings) if serve_metrics else None
    if address not in _RUNTIMES:
        logging_config = LoggingConfig(
            filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
            forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
        )
        metrics = PrometheusConfig(bind_address=address) if address is not None else None
        _RUNTIMES[address] = Runtime(telemetry=TelemetryConfig(logging=logging_config, metrics=metrics))
    return _RUNTIMES[address]


class WarehouseQueueMissing(Exception):
    """`oms worker --warehouse` without a warehouse task queue to serve."""

    def __init__(self) -> None:
        super().__init__("--warehouse: set OMS_WAREHOUSE_TASK_QUEUE to the warehouse's task queue first")


class SearchAttributesMissing(Exception):
    """The namespace lacks search attributes the order workflow sets; every order would stall on its first step."""

    def __init__(self, namespace: str, missing: list[SearchAttributeKey[Any]]) -> None:
        self.missing = missing
        names = " ".join(f"--name {key.name} --type {search.type_name(key)}" for key in missing)
        super().__init__(
            f"namespace {namespace!r} lacks the search attributes {', '.join(key.name for key in missing)}; "
            f"register them once with: temporal operator search-attribute create --namespace {namespace} {names}"
        )


async def missing_search_attributes(client: Client, namespace: str) -> list[SearchAttributeKey[Any]]:
    """Those of our search attributes the namespace does not have."""
    registered = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    return [key for key in search.ALL if key.name not in registered.custom_attributes]


async def check_search_attributes(client: Client, settings: Settings) -> None:
    """Refuse to start on a namespace without our search attributes, rather than fail every order's first step."""
    try:
        missing = await missing_search_attributes(client, settings.temporal_namespace)
    except RPCError as error:
        # Temporal Cloud manages search attributes outside the operator API; there a worker cannot check them.
        names = ", ".join(key.name for key in search.ALL)
        log.warning("search attributes not checked (%s); make sure %s are registered", error.message, names)
        return
    if missing:
        raise SearchAttributesMissing(settings.temporal_namespace, missing)


def activity_handlers(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> list[Callable[..., Any]]:
    """Every activity implementation, bound to the OMS database and the settings."""
    systems = (
        PaymentActivities,
        InventoryActivities,
        WarehouseActivities,
        ShippingActivities,
        NotificationActivities,
        OrderActivities,
        ReportActivities,
        NewOrderActivities,
    )
    return [handler for system in systems for handler in system(sessions, settings).handlers()]


def build_id(folders: tuple[Path, ...] | None = None) -> str:
    """The worker's build id in Temporal: a digest of the code workflows run (`domain/`, `workflows/`), so that two
    workers share one exactly when their workflows behave alike.

    The SDK's default digests every loaded module, a tenth of a second before the first poll.
    """
    digest = hashlib.sha256()
    for folder in folders or WORKFLOW_CODE:
        for path in sorted(folder.rglob("*.py")):
            digest.update(path.relative_to(folder.parent).as_posix().encode())
            digest.update(path.read_bytes())
    return f"oms-{digest.hexdigest()[:16]}"


WORKFLOW_CODE = (Path(__file__).parent / "domain", Path(__file__).parent / "workflows")


def build_worker(client: Client, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Worker:
    """A worker for the order task queue running the order workflow and all its activities."""
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[OrderWorkflow, OrderWorkflowV1, RefundWorkflow, DailyReportWorkflow, NewOrderDigestWorkflow],
        activities=activity_handlers(sessions, settings),
        build_id=build_id(),
        max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        workflow_runner=sandbox.RUNNER,
    )
    # Workflows cannot build holiday tables; they wait for this, which runs while the worker starts polling.
    prepare_holidays_in_background((settings.country, settings.subdivision))
    return worker


@contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM set `stop` instead of killing the process."""
    loop = asyncio.get_running_loop()
    handled = (signal.SIGINT, signal.SIGTERM)
    for number in handled:
        loop.add_signal_handler(number, stop.set)
    try:
        yield
    finally:
        for number in handled:
            loop.remove_signal_handler(number)


def build_warehouse_worker(
    client: Client, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> Worker | None:
    """A worker for the warehouse task queue (OMS_WAREHOUSE_TASK_QUEUE): automated picking and packing only."""
    if settings.warehouse_task_queue is None:
        return None
    return Worker(
        client,
        task_queue=settings.warehouse_task_queue,
        activities=WarehouseActivities(sessions, settings).handlers(),
        build_id=build_id(),
        max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )


async def run_until(worker: Worker, stop: asyncio.Event) -> None:
    """Run `worker` until `stop` is set, then let running activities finish and return."""
    running = asyncio.create_task(worker.run())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if running.done():
        # The worker gave up on its own (a fatal poll error): report that, not a clean stop.
        stopping.cancel()
        running.result()
        return
    log.info("draining: waiting up to %s for running activities", GRACEFUL_SHUTDOWN)
    await worker.shutdown()
    await running


async def run_worker(
    settings: Settings, stop: asyncio.Event | None = None, *, warehouse: bool = False, wait: bool = True
) -> None:
    """Open the OMS database, connect to Temporal and process orders until SIGINT, SIGTERM or `stop`.

    `warehouse`: serve only the warehouse task queue, as a worker at the warehouse does. `wait`: while Temporal
    cannot be reached, keep trying (False: raise `TemporalUnreachable` at once).
    """
    stop = stop or asyncio.Event()
    ring = KeyRing.configured(settings)
    if ring is None:
        log.warning("workflow payloads are NOT encrypted: set OMS_PAYLOAD_KEYS (README: Privacy and security)")
    else:
        log.info("workflow payloads encrypted with key %r; %d key(s) can decode", ring.active, len(ring.keys))
    engine = create_engine(settings.oms_database_url)
    try:
        # From the first moment: SIGTERM while the worker waits for Temporal or starts up stops it as cleanly.
        with stop_on_signals(stop):
            await _serve(settings, engine, stop, warehouse=warehouse, wait=wait)
    finally:
        await engine.dispose()


async def _serve(settings: Settings, engine: AsyncEngine, stop: asyncio.Event, *, warehouse: bool, wait: bool) -> None:
    reached = await connect_when_up(settings, stop, wait=wait, serve_metrics=True)
    if reached is None:
        log.info("worker stopped before Temporal could be reached")
        return
    client = reached
    await check_search_attributes(client, settings)
    if settings.migrate_on_start:
        migrated = await migrate.upgrade(engine)
        log.info("OMS database at revision %s", migrated.after)
    else:
        await migrate.require_head(engine)
    sessions = session_factory(engine)
    if warehouse:
        found = build_warehouse_worker(client, settings, sessions)
        if found is None:
            raise WarehouseQueueMissing()
        worker = found
    else:
        worker = build_worker(client, settings, sessions)
    log.info("worker polling task queue %r at %s", worker.task_queue, settings.temporal_address)
    if (metrics := metrics_address(settings)) is not None:
        log.info("SDK metrics for Prometheus at http://%s/metrics", metrics)
    # The warehouse's worker sends no email; the order worker relays what the outbox holds for nobody else.
    relay_stop = asyncio.Event()
    relay = None if warehouse else asyncio.create_task(run_mail_relay(sessions, settings, relay_stop))
    # The digest Schedule is brought in line while the worker already polls: a restarting worker leaves no
    # workflow task waiting on a round trip that concerns none of them.
    digest = None if warehouse else asyncio.create_task(apply_new_order_email_setting(client, settings))
    try:
        await run_until(worker, stop)
    finally:
        relay_stop.set()
        if relay is not None:
            await relay
        if digest is not None:
            await digest
    log.info("worker stopped")


async def apply_new_order_email_setting(client: Client, settings: Settings) -> None:
    """Create, update or remove the hourly new-order digest Schedule as OMS_NEW_ORDER_EMAIL says, and log how."""
    try:
        log.info("%s", await apply_new_order_email(client, settings))
    except RPCError as error:
        # Orders matter more than the digest: the worker runs on and the next start tries again.
        log.warning("new-order digest Schedule not updated: %s", error.message)


def configure_logging(settings: Settings) -> None:
    """Log to stderr at the configured level, for the long-running processes (`oms up`, `oms worker`)."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.log_level != "debug":
        # aiosmtpd (the embedded mail sink) logs every SMTP command at INFO.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        # Alembic narrates every step of a migration; `oms up` and the worker say the outcome in one line.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        # Activity messages already name their order; the SDK's info dict stays in the record's extras.
        activity.logger.activity_info_on_message = False


def exit_now(status: int | str | None) -> NoReturn:
    """Exit without interpreter teardown, once output is flushed and every resource is closed.

    The Temporal SDK's Rust runtime threads can abort a finalizing interpreter ("PyGILState_Release: thread
    state must be current", temporalio/sdk-python#300), turning a clean exit into status 134.
    """
    if isinstance(status, str):
        print(status, file=sys.stderr)
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status or 0)


def main() -> None:
    """Entry point of `python -m worker`: run one worker with the settings from the environment."""
    settings = Settings()
    configure_logging(settings)
    try:
        asyncio.run(run_worker(settings))
    except (TemporalUnreachable, SearchAttributesMissing) as error:
        exit_now(f"error: {error}")
    exit_now(0)


if __name__ == "__main__":
    main()
