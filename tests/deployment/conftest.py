"""The deployment files as the tests read them: docker-compose.yml parsed, the Dockerfile split into instructions."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
README = ROOT / "README.md"

# The README section that lists the stack's services, one table row per service.
STACK_SECTION = "Running it as a production-like stack"

# A tag that names at least major.minor, e.g. 16.9-alpine, v1.27.8, 3.11.13-slim-bookworm.
PINNED_TAG = re.compile(r"v?\d+\.\d+(\.\d+)*([-.+][\w.-]+)?")

# The conditions Compose accepts under `depends_on`.
CONDITIONS = frozenset({"service_started", "service_healthy", "service_completed_successfully"})


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    keyword: str
    arguments: str


@dataclass(frozen=True)
class Dockerfile:
    """The Dockerfile's instructions, and those of its last stage: the image that runs."""

    instructions: list[Instruction]

    @property
    def final_stage(self) -> list[Instruction]:
        """The instructions from the last FROM on."""
        starts = [n for n, instruction in enumerate(self.instructions) if instruction.keyword == "FROM"]
        return self.instructions[starts[-1] :]

    def all(self, keyword: str, *, final: bool = False) -> list[str]:
        """The arguments of every `keyword` instruction, of the final stage only if `final`."""
        instructions = self.final_stage if final else self.instructions
        return [instruction.arguments for instruction in instructions if instruction.keyword == keyword]

    def env(self) -> dict[str, str]:
        """The variables the final stage's ENV instructions set (KEY=VALUE form)."""
        variables: dict[str, str] = {}
        for arguments in self.all("ENV", final=True):
            for word in shlex.split(arguments):
                name, _, value = word.partition("=")
                variables[name] = value
        return variables


def read_dockerfile(path: Path = DOCKERFILE) -> Dockerfile:
    """Split a Dockerfile into instructions, skipping comments and joining `\\` continuations."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    return Dockerfile(instructions)


def markdown_section(text: str, title: str) -> str:
    """The body of the Markdown section whose heading starts with `title`, up to the next heading of its level."""
    match = re.search(rf"^(#+) {re.escape(title)}.*$", text, flags=re.MULTILINE)
    if match is None:
        raise LookupError(f"README.md has no section starting {title!r}")
    level = len(match.group(1))
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, flags=re.MULTILINE)
    return rest[: end.start()] if end else rest


def table_column(section: str, column: int) -> list[str]:
    """The backticked names in one column of the section's Markdown table rows (header and rule excluded)."""
    names = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or len(cells) <= column:
            continue
        found = re.fullmatch(r"`([^`]+)`", cells[column])
        if found:
            names.append(found.group(1))
    return names


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """docker-compose.yml as Compose reads it (YAML anchors and merge keys resolved)."""
    parsed = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(parsed, dict), "docker-compose.yml is not a YAML mapping"
    return parsed


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The compose file's services by name."""
    found = compose.get("services")
    assert isinstance(found, dict), "docker-compose.yml has no `services` mapping"
    assert found, "docker-compose.yml defines no services"
    return found


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    """The Dockerfile that `build: .` builds."""
    return read_dockerfile()


@pytest.fixture(scope="module")
def readme() -> str:
    """README.md's text."""
    return README.read_text(encoding="utf-8")


def image_tag(image: str) -> str | None:
    """The tag of an image reference (`registry:5000/name:tag@digest`), None if it has none."""
    reference = image.split("@", 1)[0]
    _, colon, tag = reference.rpartition(":")
    return tag if colon and "/" not in tag else None


def environment(service: dict[str, Any]) -> dict[str, Any]:
    """A service's environment as a mapping, whichever of Compose's two forms it is written in."""
    declared = service.get("environment") or {}
    if isinstance(declared, list):
        return dict(item.partition("=")[::2] for item in declared)
    return dict(declared)


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """The services a service waits for, each with its condition (the short list form means started)."""
    declared = service.get("depends_on") or {}
    if isinstance(declared, list):
        return dict.fromkeys(declared, "service_started")
    return {name: (options or {}).get("condition", "service_started") for name, options in declared.items()}


def command_text(service: dict[str, Any]) -> str:
    """A service's command as one string, whether written as a list or a string."""
    command = service.get("command") or ""
    return " ".join(command) if isinstance(command, list) else str(command)
