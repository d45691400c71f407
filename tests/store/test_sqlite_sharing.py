"""Several engines of one process on one SQLite file, as `oms up` has (worker, console, relay), beside other
processes (the `oms` CLI): nothing one of them does may make another lose its writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from store.db import create_engine

COUNT_ROWS = "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from t').fetchone()[0])"


async def test_a_new_engine_on_a_database_in_use_keeps_the_other_engines_writes(tmp_path: Path) -> None:
    database = tmp_path / "oms.db"
    url = f"sqlite+aiosqlite:///{database}"
    worker = create_engine(url)
    try:
        async with worker.begin() as connection:
            await connection.execute(text("create table t (n integer)"))
            await connection.execute(text("insert into t values (1)"))
        # The console opens its own engine on the file the worker's engine keeps open...
        console = create_engine(url)
        await console.dispose()
        # ...and a CLI command opens and closes the file from another process.
        subprocess.run([sys.executable, "-c", COUNT_ROWS, str(database)], check=True, capture_output=True)
        async with worker.begin() as connection:
            await connection.execute(text("insert into t values (2)"))

        counted = subprocess.run(
            [sys.executable, "-c", COUNT_ROWS, str(database)], check=True, capture_output=True, text=True
        )
    finally:
        await worker.dispose()

    assert counted.stdout.strip() == "2"
