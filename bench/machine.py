"""The facts about the machine a benchmark ran on, so a reader can compare figures between machines."""

from __future__ import annotations

import os
import platform
import subprocess


def cpu_model() -> str:
    """The processor's model name, or its architecture where /proc/cpuinfo does not say."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return model


def memory() -> str:
    """The machine's RAM in GiB, from /proc/meminfo; 'RAM unknown' where it cannot be read."""
    try:
        with open("/proc/meminfo") as meminfo:
            kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return "RAM unknown"
    return f"{kib / 1024**2:.1f} GiB RAM"


def load_average() -> str:
    """The 1, 5 and 15 minute load: other work on the machine slows every figure."""
    return ", ".join(f"{figure:.1f}" for figure in os.getloadavg())


def temporal_version(cli: str) -> str:
    """What `cli --version` prints (CLI, server and UI versions), or 'Temporal CLI' if it prints nothing."""
    version = subprocess.run([cli, "--version"], capture_output=True, text=True, check=False).stdout
    return version.strip() or "Temporal CLI"
