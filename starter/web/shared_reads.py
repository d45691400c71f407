"""Reads that every open page asks for at once after a change, computed once and shared until the next change.

Fifty open home pages all reload their figures when an order moves; without this each reload would run the same
queries. A result is shared by requests that ask for the same thing at the same generation: the generation moves
on with every order change the live feed hears (and every change the console makes itself), so a page never gets
figures from before the change that told it to reload. A result is also dropped after `max_age`, for what changes
without an order changing (stock received with the CLI).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

# Results kept at once: a handful of pages and list filters are what many people have open.
MOST_KEPT = 128
MAX_AGE_SECONDS = 5.0


@dataclass
class _Result:
    generation: int
    started: float
    work: asyncio.Future[Any]


class SharedReads:
    """Computes each read once per generation for all who ask meanwhile."""

    def __init__(self, max_age: float = MAX_AGE_SECONDS, most_kept: int = MOST_KEPT) -> None:
        self.generation = 0
        self._max_age = max_age
        self._most_kept = most_kept
        self._results: OrderedDict[Hashable, _Result] = OrderedDict()

    def changed(self) -> None:
        """Something the reads show has changed: every later request reads afresh."""
        self.generation += 1
        self._results.clear()

    async def read(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        """The result of `compute` for `key`, shared with the requests of the same generation."""
        now = asyncio.get_running_loop().time()
        kept = self._results.get(key)
        if kept is None or kept.generation != self.generation or now - kept.started > self._max_age:
            kept = _Result(self.generation, now, asyncio.ensure_future(compute()))
            self._results[key] = kept
            while len(self._results) > self._most_kept:
                self._results.popitem(last=False)
        else:
            self._results.move_to_end(key)
        try:
            # Shielded: one request going away must not cancel the read the others wait for.
            result: T = await asyncio.shield(kept.work)
        except Exception:
            if self._results.get(key) is kept:
                del self._results[key]
            raise
        return result
