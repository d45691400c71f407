"""Guards that the stored histories keep up with the code: every patch has a history with its marker, and every
story the recorder knows has its history stored, so a new path or a new story cannot be left unrecorded."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.replay import record
from tests.replay.patches import UnreadablePatchId, patch_calls, unrecorded_patches

ROOT = Path(__file__).parent.parent.parent
WORKFLOWS = sorted((ROOT / "workflows").glob("*.py"))
STORED = Path(__file__).parent.parent / "histories"
EVERY_HISTORY = sorted(STORED.rglob("*.json"))


def test_every_patch_is_in_a_stored_history() -> None:
    # Without a history that took the patched path, replay cannot tell when a change to that path breaks the
    # orders already running on it: record one (a story in tests/replay/record.py) with the patch's marker.
    missing = unrecorded_patches(WORKFLOWS, EVERY_HISTORY)

    assert not missing, [f"{call.where}: {call.patch_id!r} has no stored history with its marker" for call in missing]


def test_the_patch_guard_reads_the_patches_the_workflows_have() -> None:
    # An empty list would make the guard above pass by finding nothing to check.
    found = {call.patch_id for call in patch_calls(WORKFLOWS)}

    assert {"stop-at-next-activity", "tracking-backoff"} <= found


def test_the_patch_guard_fails_for_a_patch_id_no_history_carries(tmp_path: Path) -> None:
    # The first workflow with one patch id renamed, as a change that adds a patch without recording it would be.
    source = (ROOT / "workflows" / "order_v1.py").read_text()
    renamed = tmp_path / "order_v1.py"
    renamed.write_text(source.replace('"tracking-backoff"', '"tracking-backoff-2"'))
    constant = tmp_path / "literal.py"
    constant.write_text('from temporalio import workflow\n\nif workflow.patched("never-recorded"):\n    pass\n')

    missing = unrecorded_patches([renamed, constant], EVERY_HISTORY)

    where = {call.patch_id: call.where for call in missing}
    assert set(where) == {"tracking-backoff-2", "never-recorded"}
    assert where["never-recorded"] == "literal.py:3"


def test_the_patch_guard_refuses_a_patch_id_it_cannot_read(tmp_path: Path) -> None:
    source = tmp_path / "computed.py"
    source.write_text('from temporalio import workflow\n\nif workflow.patched("-".join(["a", "b"])):\n    pass\n')

    with pytest.raises(UnreadablePatchId, match=r"computed.py:3: patch id '-'.join"):
        patch_calls([source])


def test_every_story_of_the_recorder_has_its_history_stored() -> None:
    missing = {
        name: [str(path.relative_to(STORED)) for path in paths if not path.exists()]
        for name, paths in record.recorded_histories().items()
    }
    missing = {name: paths for name, paths in missing.items() if paths}

    assert not missing, f"record them: make histories STORIES={' '.join(missing)!r}; missing {missing}"


def test_every_history_at_the_top_is_one_the_recorder_can_record_again() -> None:
    # `v1/` and `send_email/` keep histories of code that no longer starts new runs; the top level is today's.
    known = set(record.recorded_histories())
    strays = [path.name for path in STORED.glob("*.json") if re.sub(r"\.refund(-\d+)?$", "", path.stem) not in known]

    assert not strays, f"no story in tests/replay/record.py records {strays}"
