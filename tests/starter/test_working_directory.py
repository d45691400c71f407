"""The suite runs in an empty working directory: a developer's `.env` or `var/` in the checkout never configures it."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import WORKDIR_PREFIX

CHECKOUT = Path(__file__).resolve().parents[2]


def test_the_suite_runs_outside_the_checkout_with_no_env_file_or_state_around() -> None:
    assert Path.cwd() != CHECKOUT
    assert Path.cwd().name.startswith(WORKDIR_PREFIX)
    # Tests that keep the default OMS_VAR_DIR make their var/ here, never in the checkout.
    assert not Path(".env").exists()
