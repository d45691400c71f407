"""Importing a channel's orders file: place every order of it once, and account for every row.

The work behind `oms order import` and the console's import, reached through `starter.operations.Shop`.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError

from domain.order import Channel, FulfilmentMode
from domain.report import count_of
from settings import Settings
from starter import intake
from starter.intake import Candidate, FileFormat, Layout, Rejected, RepeatedRow, SourceTable
from starter.placement import OrderAlreadyExists, OrderInputError, place_order
from store import catalogue

# Enough starts in flight to hide each round trip, few enough not to crowd the server or a SQLite catalogue.
PLACING_AT_ONCE = 8

# Told how many orders of the file are placed so far, and how many there are to place.
Progress = Callable[[int, int], None]


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


@dataclass(frozen=True)
class ImportOutcome:
    """A whole import's answer: the file as read, how its rows were mapped, and what became of every row."""

    file: SourceTable
    channel: Channel
    layout: Layout
    rows: Outcome

    @property
    def failed(self) -> bool:
        """Some row still needs the operator: rejected, or waiting for a run that can reach Temporal."""
        return self.rows.failed

    @property
    def summary(self) -> str:
        """One line: placed orders (and their rows), duplicates, rejected rows, orders not placed yet."""
        rows = self.rows
        placed_rows = sum(len(candidate.rows) for candidate in rows.placed)
        kinds = []
        if rows.already_placed:
            kinds.append(f"{count_of(len(rows.already_placed), 'order')} already placed")
        if rows.repeated:
            kinds.append(f"{count_of(len(rows.repeated), 'repeated row')}")
        duplicates = len(rows.already_placed) + len(rows.repeated)
        which = f" ({', '.join(kinds)})" if kinds else ""
        text = (
            f"placed {count_of(len(rows.placed), 'order')} ({count_of(placed_rows, 'row')}), "
            f"{count_of(duplicates, 'duplicate')}{which}, {count_of(len(rows.rejected), 'rejected row')}"
        )
        if rows.not_placed:
            text += (
                f", {count_of(len(rows.not_placed), 'order')} not placed ({rows.not_placed[0][1]}): "
                "run the import again to place them"
            )
        return text

    def row_lines(self) -> list[str]:
        """Each rejected or repeated row, in file order, as `row 7: Qty: must be a whole number, got 'two'`."""
        lines = [(item.row, f"row {item.row}: {item.reason}") for item in self.rows.rejected]
        lines += [
            (item.row, f"row {item.row}: duplicate of row {item.duplicate_of}, skipped") for item in self.rows.repeated
        ]
        return [text for _, text in sorted(lines, key=lambda line: line[0])]

    def write_rejected(self, path: Path) -> None:
        """Write the rejected rows as the file had them, plus `row` and `reason`, whole or not at all.

        A fixed copy of that file imports again.
        """
        intake.write_rejected(self.file, self.rows.rejected, path)

    def rejected_csv(self) -> bytes | None:
        """The rejected rows as `write_rejected` writes them, for a download; None when no row was rejected."""
        if not self.rows.rejected:
            return None
        # intake writes the rows only to a path; a download needs the same bytes.
        with tempfile.TemporaryDirectory(prefix="oms-rejected-") as folder:
            path = Path(folder) / "rejected.csv"
            self.write_rejected(path)
            return path.read_bytes()


def read_orders_file(
    path: Path,
    channel: Channel,
    layout: Layout | None,
    file_format: FileFormat | None,
    *,
    decimal_comma: bool = False,
) -> tuple[SourceTable, Layout]:
    """Read the whole file and match its columns before anything else, so a bad file places nothing.

    Raises `intake.IntakeError` naming what is wrong with the file.
    """
    layout = layout or intake.DEFAULT_LAYOUT[channel]
    table = intake.read_table(path, intake.file_format(path, file_format), layout, decimal_comma=decimal_comma)
    intake.find_columns(table, layout)
    return table, layout


async def place_file(
    client: Callable[[], Awaitable[Client]],
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    table: SourceTable,
    layout: Layout,
    channel: Channel,
    mode: FulfilmentMode | None,
    progress: Progress | None = None,
    placed_by: str | None = None,
) -> ImportOutcome:
    """Check every row against the catalogue and place every good order once; Temporal is reached only if needed."""
    products = {item.sku: item for item in await catalogue.list_products(sessions)}
    taken = intake.take_in(table, layout, channel, products, settings.base_currency)
    rows = Outcome(rejected=list(taken.rejected), repeated=list(taken.repeated))
    if taken.candidates:
        await _place_all(await client(), settings, sessions, taken.candidates, mode, rows, progress, placed_by)
    rows.rejected.sort(key=lambda item: item.row)
    return ImportOutcome(file=table, channel=channel, layout=layout, rows=rows)


async def _place_all(
    client: Client,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    candidates: Sequence[Candidate],
    mode: FulfilmentMode | None,
    outcome: Outcome,
    progress: Progress | None = None,
    placed_by: str | None = None,
) -> None:
    """Start each order's workflow, a few at once; after a failure that is not the order's own, start no more."""
    pending: Iterator[Candidate] = iter(candidates)
    outage: list[str] = []
    done = 0

    async def place_next() -> None:
        nonlocal done
        # Every placer draws from one iterator: asyncio switches only at awaits, so no order is taken twice.
        for candidate in pending:
            if outage:
                outcome.not_placed.append((candidate, outage[0]))
            else:
                await _place(client, settings, sessions, candidate, mode, outcome, outage, placed_by)
            done += 1
            if progress is not None:
                progress(done, len(candidates))

    await asyncio.gather(*(place_next() for _ in range(min(PLACING_AT_ONCE, len(candidates)))))
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
    placed_by: str | None,
) -> None:
    try:
        await place_order(client, settings, sessions, candidate.order, mode, placed_by)
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
