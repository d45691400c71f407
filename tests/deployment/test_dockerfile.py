"""The worker image's Dockerfile: a pinned slim base, a non-root user, the whole package, an honest health check.

No Docker engine runs where the tests run, so the image is never built here: these tests read the files.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from pathlib import PurePosixPath
from typing import Any

from tests.deployment.conftest import (
    DOCKERIGNORE,
    ROOT,
    Dockerfile,
    environment,
    image_tag,
)

PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS: dict[str, Any] = PYPROJECT["tool"]["setuptools"]

# An exact release of the slim Python image, e.g. 3.11.13-slim-bookworm.
EXACT_PYTHON = re.compile(r"3\.\d+\.\d+-slim(-\w+)?")


def installed_paths() -> list[str]:
    """What `pip install .` needs from the build context: pyproject.toml, the readme, every package and module."""
    packages = sorted({name.split(".")[0] for name in SETUPTOOLS.get("packages", [])})
    modules = [f"{name}.py" for name in SETUPTOOLS.get("py-modules", [])]
    return ["pyproject.toml", PYPROJECT["project"]["readme"], *packages, *modules]


def copied_sources(dockerfile: Dockerfile) -> set[str]:
    """The build-context paths the Dockerfile's COPY instructions take (not those copied from another stage)."""
    sources: set[str] = set()
    for arguments in dockerfile.all("COPY"):
        words = json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)
        if any(word.startswith("--from") for word in words):
            continue
        files = [word for word in words if not word.startswith("--")][:-1]
        sources |= {str(PurePosixPath(word)) for word in files}
    return sources


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (or a directory above it) out of the build context."""
    lines = [line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    candidates = [path, *(str(parent) for parent in PurePosixPath(path).parents if str(parent) != ".")]
    ignored = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/").replace("**/", "")
        if any(fnmatch.fnmatch(candidate, glob) for candidate in candidates):
            ignored = not keep
    return ignored


def test_the_image_is_built_on_a_pinned_slim_python(dockerfile: Dockerfile) -> None:
    stages: set[str] = set()
    bases = []
    for arguments in dockerfile.all("FROM"):
        words = [word for word in arguments.split() if not word.startswith("--platform")]
        if len(words) == 3 and words[1].upper() == "AS":
            stages.add(words[2])
        if words[0] not in stages:
            bases.append(words[0])
    # Python's tags are MAJOR.MINOR.PATCH; `3.11-slim` would move with every patch release.
    unpinned = [image for image in bases if not EXACT_PYTHON.fullmatch(image_tag(image) or "")]

    assert bases, "the Dockerfile has no FROM"
    assert not unpinned, f"base images not pinned to an exact Python release: {unpinned}"
    assert all(image.startswith("python:") for image in bases), bases


def test_the_image_runs_as_a_non_root_user(dockerfile: Dockerfile) -> None:
    users = dockerfile.all("USER", final=True)

    assert users, "the image runs as root: its final stage has no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}, f"the image runs as {users[-1]}"


def test_the_image_gets_every_package_and_module_that_pyproject_installs(dockerfile: Dockerfile) -> None:
    copied = copied_sources(dockerfile)

    missing = [path for path in installed_paths() if path not in copied]
    hidden = [path for path in installed_paths() if dockerignored(path)]
    absent = [path for path in copied if not (ROOT / path).exists()]

    assert not missing, f"pyproject.toml installs these but the Dockerfile does not COPY them: {missing}"
    assert not hidden, f".dockerignore keeps these out of the build context: {hidden}"
    assert not absent, f"the Dockerfile copies paths the repository lacks: {absent}"


def test_the_installed_package_carries_every_subpackage_such_as_the_migrations() -> None:
    # The image installs a wheel, not the source tree: setuptools puts in it only the packages listed by name,
    # so a subpackage (the Alembic migrations under store/) left off the list is missing from the image.
    listed = SETUPTOOLS.get("packages", [])
    if isinstance(listed, dict):
        return  # `packages.find` discovers subpackages by itself
    top_level = {name.split(".")[0] for name in listed}
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for package in top_level
        for init in (ROOT / package).rglob("__init__.py")
    }

    unlisted = sorted(found - set(listed))
    assert not unlisted, f"pyproject.toml [tool.setuptools] packages leaves out, so the image lacks: {unlisted}"


def test_the_health_check_asks_the_metrics_port_the_image_exposes_and_the_worker_serves(
    dockerfile: Dockerfile, services: dict[str, dict[str, Any]]
) -> None:
    [check] = dockerfile.all("HEALTHCHECK", final=True)
    image_port = dockerfile.env().get("OMS_METRICS_PORT")

    assert image_port is not None, "the image sets no OMS_METRICS_PORT, so its worker serves nothing to check"
    assert dockerfile.all("EXPOSE", final=True) == [image_port]
    assert environment(services["worker"]).get("OMS_METRICS_PORT", image_port) == image_port
    # The check follows the variable, so a worker configured onto another port is still checked where it serves.
    assert "OMS_METRICS_PORT" in check
    assert "/metrics" in check
