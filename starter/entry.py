"""The `oms` console script: `oms worker` starts the worker straight away, every other command goes through the
whole command line (`starter.cli`), whose commands take a fifth of a second to load that a worker does not need."""

from __future__ import annotations

import sys

# The only arguments the fast path takes; anything else (`--help`, a typo) gets the command line's own answer.
WORKER = "worker"
WORKER_OPTIONS = {"--warehouse", "--no-wait"}


def main() -> None:
    """Entry point of the `oms` console script."""
    arguments = sys.argv[1:]
    if arguments[:1] == [WORKER] and set(arguments[1:]) <= WORKER_OPTIONS:
        serve_worker(warehouse="--warehouse" in arguments, wait="--no-wait" not in arguments)
    from starter.cli import main as command_line

    command_line()


def serve_worker(*, warehouse: bool, wait: bool = True) -> None:
    """`oms worker [--warehouse]`: what `starter.cli`'s worker command does, failures in the same one line."""
    import asyncio

    from starter.failures import SettingsInvalid, failure_line, load_settings
    from worker import configure_logging, exit_now, run_worker

    try:
        settings = load_settings()
    except SettingsInvalid as error:
        exit_now(f"error: {error}")
    configure_logging(settings)
    try:
        asyncio.run(run_worker(settings, warehouse=warehouse, wait=wait))
    except KeyboardInterrupt:
        exit_now("error: interrupted")
    except Exception as error:
        line = failure_line(error, settings)
        if line is None:
            raise
        exit_now(f"error: {line}")
    exit_now(0)
