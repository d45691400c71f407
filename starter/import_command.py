"""`oms order import`: place every order of a channel's file once, and account for every row of it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError

from domain.order import Channel, FulfilmentMode
from domain.report import count_of
from settings import Settings
from starter import intake
from starter.commandline import AsJson, ModeOption, database, fail, run
from starter.intake import Candidate, FileFormat, Layout, Rejected, RepeatedRow
from starter.placement import OrderAlreadyExists, OrderInputError, place_order
from store import catalogue
from worker import connect

# Enough starts in flight to hide each round trip, few enough not to crowd the server or a SQLite catalogue.
PLACING_AT_ONCE = 8
# Below this many orders the import is over before a progress bar would say anything.
LONG_IMPORT = 20


@dataclass
class Outcome:
    """What became of every row: placed, already placed, repeated in the file, rejected, or not placed yet."""

    placed: list[Candidate] = field(default_factory=list)
    already_placed: list[Candidate] = field(default_factory=list)
    not_placed: list[tuple[Candidate, str]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    repeated: list[RepeatedRow] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Some row still needs the operator: rejected, or waiting for a run that can reach Temporal."""
        return bool(self.rejected or self.not_placed)


def order_import(
    source: Annotated[
        Path,
        typer.Argument(
            help="Orders file: JSON lines (.jsonl, .ndjson, .json), CSV (.csv, .tsv, .txt) or Excel (.xlsx).",
            metavar="FILE",
        ),
    ],
    channel: Annotated[
        Channel,
        typer.Option(case_sensitive=False, help="Sales channel of every order in the file; ids are CHANNEL-NUMBER."),
    ],
    mapping: Annotated[
        Layout | None,
        typer.Option(
            case_sensitive=False,
            help="How rows map to orders: web (an order's JSON per line, as `oms order place` takes it), "
            "marketplace (an order export, a row per item), spreadsheet (a row per line, grouped by order "
            "number). (default: web for web, marketplace for marketplace, spreadsheet for the others)",
        ),
    ] = None,
    file_format: Annotated[
        FileFormat | None,
        typer.Option("--format", case_sensitive=False, help="jsonl, csv or xlsx. (default: from the extension)"),
    ] = None,
    mode: ModeOption = None,
    as_json: AsJson = False,
) -> None:
    """Place every order of a file once: importing it again places nothing new.

    Rejected rows are listed with their row number and reason, and written to orders.rejected.csv beside orders.csv.

    Exit status 1 when a row was rejected or an order could not be placed.
    """
    layout = mapping or intake.DEFAULT_LAYOUT[channel]
    # The whole file is read and its columns matched before anything else: a bad file places nothing.
    try:
        table = intake.read_table(source, intake.file_format(source, file_format), layout)
        intake.find_columns(table, layout)
    except intake.IntakeError as error:
        fail(str(error))

    async def import_orders(settings: Settings) -> Outcome:
        async with database(settings) as sessions:
            products = {item.sku: item for item in await catalogue.list_products(sessions)}
            taken = intake.take_in(table, layout, channel, products, settings.base_currency)
            outcome = Outcome(rejected=list(taken.rejected), repeated=list(taken.repeated))
            if taken.candidates:
                client = await connect(settings)
                await _place_all(client, settings, sessions, taken.candidates, mode, outcome)
        return outcome

    outcome = run(import_orders)
    outcome.rejected.sort(key=lambda item: item.row)
    written, trouble = _rejected_file(table, outcome.rejected)
    summary = _summary(outcome, written, trouble)
    if as_json:
        typer.echo(json.dumps(_as_json(table, channel, layout, outcome, written, summary), indent=2))
    else:
        for line in _row_lines(outcome):
            typer.echo(line)
        typer.echo(summary)
    if outcome.failed:
        raise typer.Exit(1)


async def _place_all(
    client: Client,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    candidates: Sequence[Candidate],
    mode: FulfilmentMode | None,
    outcome: Outcome,
) -> None:
    """Start each order's workflow, a few at once; after a failure that is not the order's own, start no more."""
    console = Console(stderr=True)
    shown = console.is_terminal and len(candidates) >= LONG_IMPORT
    pending: Iterator[Candidate] = iter(candidates)
    outage: list[str] = []
    rows_done = 0

    async def place_next(progress: Progress, task: TaskID) -> None:
        nonlocal rows_done
        # Every placer draws from one iterator: asyncio switches only at awaits, so no order is taken twice.
        for candidate in pending:
            if outage:
                outcome.not_placed.append((candidate, outage[0]))
            else:
                await _place(client, settings, sessions, candidate, mode, outcome, outage)
            rows_done += len(candidate.rows)
            progress.update(task, advance=1, rows=rows_done)

    with Progress(
        TextColumn("placing orders"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("orders ({task.fields[rows]} rows)"),
        TimeElapsedColumn(),
        console=console,
        disable=not shown,
    ) as progress:
        task = progress.add_task("placing", total=len(candidates), rows=0)
        placers = [place_next(progress, task) for _ in range(min(PLACING_AT_ONCE, len(candidates)))]
        await asyncio.gather(*placers)
    outcome.placed.sort(key=lambda candidate: candidate.rows[0])
    outcome.already_placed.sort(key=lambda candidate: candidate.rows[0])
    outcome.not_placed.sort(key=lambda item: item[0].rows[0])


async def _place(
    client: Client,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    candidate: Candidate,
    mode: FulfilmentMode | None,
    outcome: Outcome,
    outage: list[str],
) -> None:
    try:
        await place_order(client, settings, sessions, candidate.order, mode)
    except OrderAlreadyExists:
        outcome.already_placed.append(candidate)
    except OrderInputError as error:
        # The catalogue changed since the file was checked (a product removed): the order's own problem.
        outcome.rejected.extend(candidate.rejections(error.problems))
    except Exception as error:
        # Temporal or the database failed, not the order: the rest would fail the same way. Each order is
        # started at most once by its workflow id, so a later run places exactly what is missing.
        reason = _why_not_placed(error)
        if not outage:
            outage.append(reason)
        outcome.not_placed.append((candidate, reason))
    else:
        outcome.placed.append(candidate)


def _why_not_placed(error: Exception) -> str:
    if isinstance(error, RPCError):
        return f"Temporal did not take the order: {error.message}"
    if isinstance(error, SQLAlchemyError):
        return f"OMS database: {getattr(error, 'orig', None) or error}"
    return f"{type(error).__name__}: {error}"


def _rejected_file(table: intake.SourceTable, rejected: Sequence[Rejected]) -> tuple[Path | None, str | None]:
    """Write the rejected rows beside the input, or remove an earlier run's file when none are rejected now."""
    path = intake.rejected_path(table.path)
    try:
        if not rejected:
            # An earlier run's file would otherwise send the operator fixing rows that are placed by now.
            path.unlink(missing_ok=True)
            return None, None
        intake.write_rejected(table, rejected, path)
    except OSError as error:
        return None, f"cannot write {path}: {error.strerror or error}"
    return path, None


def _summary(outcome: Outcome, written: Path | None, trouble: str | None) -> str:
    """One line: placed orders (and their rows), duplicates, rejected rows, and where the rejected rows went."""
    placed_rows = sum(len(candidate.rows) for candidate in outcome.placed)
    kinds = []
    if outcome.already_placed:
        kinds.append(f"{count_of(len(outcome.already_placed), 'order')} already placed")
    if outcome.repeated:
        kinds.append(f"{count_of(len(outcome.repeated), 'repeated row')}")
    duplicates = len(outcome.already_placed) + len(outcome.repeated)
    which = f" ({', '.join(kinds)})" if kinds else ""
    text = (
        f"placed {count_of(len(outcome.placed), 'order')} ({count_of(placed_rows, 'row')}), "
        f"{duplicates} duplicate{which}, {count_of(len(outcome.rejected), 'rejected row')}"
    )
    if outcome.not_placed:
        text += (
            f", {count_of(len(outcome.not_placed), 'order')} not placed ({outcome.not_placed[0][1]}): "
            "run the import again to place them"
        )
    if written is not None:
        text += f"; rejected rows written to {written}"
    if trouble is not None:
        text += f"; {trouble}"
    return text


def _row_lines(outcome: Outcome) -> list[str]:
    """Each rejected or repeated row, in file order, as `row 7: Qty: must be a whole number, got 'two'`."""
    lines = [(item.row, f"row {item.row}: {item.reason}") for item in outcome.rejected]
    lines += [(item.row, f"row {item.row}: duplicate of row {item.duplicate_of}, skipped") for item in outcome.repeated]
    return [text for _, text in sorted(lines, key=lambda line: line[0])]


def _as_json(
    table: intake.SourceTable,
    channel: Channel,
    layout: Layout,
    outcome: Outcome,
    written: Path | None,
    summary: str,
) -> dict[str, object]:
    """`--json`: the same account of every row, for scripts."""
    return {
        "file": str(table.path),
        "format": table.file_format.value,
        "channel": channel.value,
        "mapping": layout.value,
        "placed": [{"order_id": item.order_id, "rows": list(item.rows)} for item in outcome.placed],
        "already_placed": [{"order_id": item.order_id, "rows": list(item.rows)} for item in outcome.already_placed],
        "repeated_rows": [{"row": item.row, "duplicate_of": item.duplicate_of} for item in outcome.repeated],
        "rejected": [{"row": item.row, "order": item.order, "reason": item.reason} for item in outcome.rejected],
        "not_placed": [
            {"order_id": item.order_id, "rows": list(item.rows), "reason": reason}
            for item, reason in outcome.not_placed
        ],
        "rejected_file": str(written) if written is not None else None,
        "summary": summary,
    }
