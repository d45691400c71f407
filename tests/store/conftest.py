"""The operator's lists and reports are read on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import pytest

from tests.conftest import POSTGRESQL, SQLITE

ON_BOTH_DATABASES = frozenset({"test_report", "test_order_list", "test_operators", "test_changes"})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the list and report figures on both databases, each test on a fresh one."""
    module = metafunc.module.__name__.rpartition(".")[2]
    if module in ON_BOTH_DATABASES and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", [SQLITE, POSTGRESQL], indirect=True)
