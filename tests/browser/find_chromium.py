"""Find the Chromium the console's browser tests drive, installing one when none is here; one line says which.

Looked for in this order: `OMS_CHROMIUM`, then `chromium`, `chromium-browser`, `google-chrome` on PATH, then the
browser Playwright downloads for itself. `python -m tests.browser.find_chromium` (the Makefile's `browser` target)
installs Debian's `chromium` package when it can (root on Debian or Ubuntu) or Playwright's browser otherwise, and
exits 1 with a line naming what to install when neither works. The tests themselves only look and fail the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Names a Chromium goes by on PATH, in the order they are preferred.
ON_PATH = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
VARIABLE = "OMS_CHROMIUM"
APT_PACKAGE = "chromium"
WHAT_TO_INSTALL = (
    f"no Chromium for the browser tests: install one (as root on Debian/Ubuntu: apt-get install {APT_PACKAGE}; "
    f"elsewhere: {Path(sys.executable).parent / 'playwright'} install chromium) or set {VARIABLE} to its path"
)
# apt-get and Playwright's download can take a while on a slow mirror; a stuck one should not hang `make test`.
INSTALL_TIMEOUT_SECONDS = 900


class ChromiumMissing(Exception):
    """No usable Chromium; the message says what to install."""


@dataclass(frozen=True)
class Chromium:
    """A Chromium executable and where it was found."""

    path: Path
    source: str

    def describe(self) -> str:
        """One line for the log: the version, the path and how it was found."""
        return f"browser tests use {version_of(self.path)} at {self.path} ({self.source})"


def find_chromium() -> Chromium:
    """The Chromium to use, without installing anything; ChromiumMissing says what to install."""
    configured = os.environ.get(VARIABLE, "").strip()
    if configured:
        path = Path(configured).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ChromiumMissing(f"{VARIABLE}={configured}: not an executable file; point it at a Chromium binary")
        return Chromium(path, VARIABLE)
    for name in ON_PATH:
        found = shutil.which(name)
        if found is not None:
            return Chromium(Path(found), f"{name} on PATH")
    bundled = playwright_chromium()
    if bundled is not None:
        return Chromium(bundled, "Playwright's own")
    raise ChromiumMissing(WHAT_TO_INSTALL)


def playwright_chromium() -> Path | None:
    """The browser `playwright install chromium` put in place, if it did."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    with sync_playwright() as playwright:
        path = Path(playwright.chromium.executable_path)
    return path if path.is_file() else None


def ensure_chromium() -> Chromium:
    """The Chromium to use, installing Debian's package (as root) or Playwright's browser when none is found."""
    try:
        return find_chromium()
    except ChromiumMissing:
        if os.environ.get(VARIABLE, "").strip():
            raise
    if can_use_apt():
        print(f"no Chromium found: installing Debian's {APT_PACKAGE} package with apt-get", file=sys.stderr)
        if run_quietly(["apt-get", "update"]) and run_quietly(["apt-get", "install", "-y", APT_PACKAGE]):
            return find_chromium()
    print("no Chromium found: installing Playwright's browser", file=sys.stderr)
    run_quietly([sys.executable, "-m", "playwright", "install", "chromium"])
    return find_chromium()


def can_use_apt() -> bool:
    """Root on Debian or Ubuntu with apt-get at hand."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None and debian_like()


def debian_like() -> bool:
    """The system says it is Debian or derived from it (Ubuntu is)."""
    try:
        release = Path("/etc/os-release").read_text()
    except OSError:
        return False
    fields = dict(line.split("=", 1) for line in release.splitlines() if "=" in line)
    family = f"{fields.get('ID', '')} {fields.get('ID_LIKE', '')}".replace('"', "").split()
    return "debian" in family or "ubuntu" in family


def run_quietly(command: list[str]) -> bool:
    """Run an installer, its output going to stderr; True when it succeeded."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        result = subprocess.run(command, stdout=sys.stderr, env=env, timeout=INSTALL_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        print(f"{command[0]} failed: {error}", file=sys.stderr)
        return False
    return result.returncode == 0


def version_of(path: Path) -> str:
    """What the browser says it is (`Chromium 131.0.6778.204 built on Debian`), or its file name."""
    try:
        result = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return path.name
    return result.stdout.strip() or path.name


def main() -> int:
    """Find or install a Chromium and say which, in one line; exit 1 naming what to install when there is none."""
    try:
        chromium = ensure_chromium()
    except ChromiumMissing as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 1
    print(chromium.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
