"""Which patch ids the workflow code asks `workflow.patched` about, and which a stored history carries as markers."""

from __future__ import annotations

import ast
import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The SDK functions that take a patch id; a deprecated patch still writes its marker into new histories.
PATCH_FUNCTIONS = frozenset({"patched", "deprecate_patch"})
# The marker Temporal's Core SDK records the first time a new execution takes a patched path, and the detail that
# holds its JSON `{"id": ..., "deprecated": ...}`.
PATCH_MARKER = "core_patch"
PATCH_DATA = "patch-data"


class UnreadablePatchId(ValueError):
    """A patch call whose id is neither a string nor a module-level string constant: the guard cannot check it."""


@dataclass(frozen=True)
class PatchCall:
    """One `workflow.patched(...)` call in the source and the id it asks about."""

    patch_id: str
    where: str


def patch_calls(sources: Iterable[Path]) -> list[PatchCall]:
    """Every patch call in `sources`, its id resolved through the modules' string constants.

    Constants are looked up in the calling module first and then in every other one, so an id imported from a
    sibling module (`from workflows.order_v1 import TRACKING_BACKOFF`) still resolves.
    """
    modules = [(path, ast.parse(path.read_text(), filename=str(path))) for path in sorted(sources)]
    everywhere: dict[str, str] = {}
    local: dict[Path, dict[str, str]] = {}
    for path, tree in modules:
        local[path] = _string_constants(tree)
        everywhere.update(local[path])
    calls: list[PatchCall] = []
    for path, tree in modules:
        modules_named, functions_named = _sdk_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _is_patch_call(node.func, modules_named, functions_named):
                where = f"{path.name}:{node.lineno}"
                calls.append(PatchCall(_patch_id(node, local[path], everywhere, where), where))
    return calls


def patch_markers(history: Mapping[str, Any]) -> set[str]:
    """The patch ids whose markers a history (as `WorkflowHistory.to_json` writes it) holds."""
    found: set[str] = set()
    for event in history["events"]:
        marker = event.get("markerRecordedEventAttributes")
        if marker is None or marker.get("markerName") != PATCH_MARKER:
            continue
        for payload in marker["details"][PATCH_DATA]["payloads"]:
            found.add(json.loads(base64.b64decode(payload["data"]))["id"])
    return found


def unrecorded_patches(sources: Iterable[Path], histories: Iterable[Path]) -> list[PatchCall]:
    """The patch calls in `sources` whose id no history in `histories` carries as a marker."""
    recorded: set[str] = set()
    for path in histories:
        recorded |= patch_markers(json.loads(path.read_text()))
    return [call for call in patch_calls(sources) if call.patch_id not in recorded]


def _string_constants(tree: ast.Module) -> dict[str, str]:
    constants: dict[str, str] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            target, value = statement.target, statement.value
        else:
            continue
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant) and isinstance(value.value, str):
            constants[target.id] = value.value
    return constants


def _sdk_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """What the module calls `temporalio.workflow` and its patch functions, however it imported them."""
    modules = {"workflow"}
    functions: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "temporalio":
            modules |= {alias.asname or alias.name for alias in node.names if alias.name == "workflow"}
        elif isinstance(node, ast.ImportFrom) and node.module == "temporalio.workflow":
            functions |= {alias.asname or alias.name for alias in node.names if alias.name in PATCH_FUNCTIONS}
    return modules, functions


def _is_patch_call(func: ast.expr, modules: set[str], functions: set[str]) -> bool:
    if isinstance(func, ast.Name):
        return func.id in functions
    if not isinstance(func, ast.Attribute) or func.attr not in PATCH_FUNCTIONS:
        return False
    owner = func.value
    if isinstance(owner, ast.Name):
        return owner.id in modules
    # `temporalio.workflow.patched(...)`
    return isinstance(owner, ast.Attribute) and owner.attr == "workflow"


def _patch_id(call: ast.Call, local: dict[str, str], everywhere: dict[str, str], where: str) -> str:
    given = call.args[0] if call.args else next((kw.value for kw in call.keywords if kw.arg == "id"), None)
    if isinstance(given, ast.Constant) and isinstance(given.value, str):
        return given.value
    name = given.id if isinstance(given, ast.Name) else given.attr if isinstance(given, ast.Attribute) else None
    if name is not None and (found := local.get(name, everywhere.get(name))) is not None:
        return found
    shown = ast.unparse(given) if given is not None else "nothing"
    raise UnreadablePatchId(f"{where}: patch id {shown} is not a string constant of the workflow modules")
