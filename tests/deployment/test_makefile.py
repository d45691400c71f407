"""`make` compiles the modules a worker imports ahead, as pip compiles what it installs, before running anything."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def prerequisites(target: str) -> list[str]:
    """What `target` depends on in the Makefile."""
    found = re.search(rf"^{target}:(.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found is not None, f"no {target} target"
    return found.group(1).split()


def test_running_testing_and_benchmarking_compile_the_bytecode_first() -> None:
    for target in ("run", "worker", "test", "bench"):
        assert "bytecode" in prerequisites(target), target


def test_make_bytecode_compiles_the_workflow_modules_even_where_python_writes_no_bytecode() -> None:
    compiled = Path(importlib.util.cache_from_source(str(ROOT / "workflows" / "order.py")))
    compiled.unlink(missing_ok=True)

    subprocess.run(["make", "-s", "bytecode"], cwd=ROOT, env=os.environ | {"PYTHONDONTWRITEBYTECODE": "1"}, check=True)

    assert compiled.is_file()
    assert compiled.stat().st_mtime >= (ROOT / "workflows" / "order.py").stat().st_mtime
