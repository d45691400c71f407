"""A worker's build id in Temporal names the workflow code it runs: the same code, the same id."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from worker import WORKFLOW_CODE, build_id


def copy_of_the_workflow_code(into: Path) -> tuple[Path, ...]:
    for folder in WORKFLOW_CODE:
        shutil.copytree(folder, into / folder.name, ignore=shutil.ignore_patterns("__pycache__"))
    return tuple(into / folder.name for folder in WORKFLOW_CODE)


def test_two_workers_of_the_same_code_share_a_build_id() -> None:
    other = subprocess.run(
        [sys.executable, "-c", "import worker; print(worker.build_id())"], capture_output=True, text=True, check=True
    )
    assert other.stdout.strip() == build_id()
    assert build_id().startswith("oms-")


def test_a_copy_of_the_code_elsewhere_has_the_same_build_id(tmp_path: Path) -> None:
    assert build_id(copy_of_the_workflow_code(tmp_path)) == build_id()


def test_a_change_to_a_workflow_changes_the_build_id(tmp_path: Path) -> None:
    folders = copy_of_the_workflow_code(tmp_path)
    order = tmp_path / "workflows" / "order.py"
    order.write_text(order.read_text() + "\n# a change\n")
    assert build_id(folders) != build_id()


def test_a_change_to_the_domain_changes_the_build_id(tmp_path: Path) -> None:
    folders = copy_of_the_workflow_code(tmp_path)
    (tmp_path / "domain" / "new_rule.py").write_text('"""A new rule."""\n')
    assert build_id(folders) != build_id()
