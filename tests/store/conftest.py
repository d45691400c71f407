"""The operator's lists and reports are read on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import pytest

from tests.conftest import POSTGRESQL, SQLITE

ON_BOTH_DATABASES = frozenset({"test_report", "test_order_list", "test_operators", "test_changes", "test_glance"})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the named modules on both databases, each test on a fresh one; `@pytest.mark.database(name)` picks one
    for a test about that database's own mechanism."""
    module = metafunc.module.__name__.rpartition(".")[2]
    if module in ON_BOTH_DATABASES and "backend" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("database")
        metafunc.parametrize("backend", [only.args[0]] if only else [SQLITE, POSTGRESQL], indirect=True)
