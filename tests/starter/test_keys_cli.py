"""`oms keys`: an operator makes, rotates and lists payload keys without ever seeing one printed by accident."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from starter.codec import KEY_FILE, KeyRing, new_key
from tests.starter.test_cli import env, oms, one_error_line

__all__ = ["env"]


def test_keys_new_prints_a_usable_key_and_stores_it_nowhere(env: dict[str, str], tmp_path: Path) -> None:
    made = oms("keys", "new", "--id", "k7", env=env)

    assert made.returncode == 0, made.stderr
    assert KeyRing.parse(made.stdout).active == "k7"
    assert not (tmp_path / "var").exists()


def test_rotating_adds_a_key_that_encrypts_and_keeps_the_old_ones(env: dict[str, str], tmp_path: Path) -> None:
    assert oms("keys", "rotate", "--id", "k1", env=env).returncode == 0
    rotated = oms("keys", "rotate", "--id", "k2", env=env)

    assert rotated.returncode == 0, rotated.stderr
    assert "added key 'k2'" in rotated.stdout
    path = tmp_path / "var" / KEY_FILE
    ring = KeyRing.parse(path.read_text())
    assert (list(ring.keys), ring.active) == (["k1", "k2"], "k2")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_rotating_to_an_id_already_there_is_refused(env: dict[str, str]) -> None:
    oms("keys", "rotate", "--id", "k1", env=env)

    again = oms("keys", "rotate", "--id", "k1", env=env)

    assert again.returncode == 1
    assert "already holds a key 'k1'" in one_error_line(again.stderr)


def test_with_keys_in_the_environment_rotate_says_to_rotate_there(env: dict[str, str]) -> None:
    refused = oms("keys", "rotate", env=env | {"OMS_PAYLOAD_KEYS": new_key("k1")})

    assert refused.returncode == 1
    assert "OMS_PAYLOAD_KEYS is set" in one_error_line(refused.stderr)


def test_keys_list_names_the_keys_and_the_one_that_encrypts_but_never_the_key(env: dict[str, str]) -> None:
    keys = f"{new_key('old')},{new_key('new')}"

    listed = oms("keys", "list", env=env | {"OMS_PAYLOAD_KEYS": keys, "OMS_PAYLOAD_KEY_ID": "old"})

    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == ["old  (encrypts)", "new", "from OMS_PAYLOAD_KEYS"]
    assert all(entry.split(":", 1)[1] not in listed.stdout for entry in keys.split(","))


def test_keys_list_without_any_key_says_where_it_looked(env: dict[str, str]) -> None:
    listed = oms("keys", "list", env=env)

    assert listed.returncode == 1
    assert "OMS_PAYLOAD_KEYS is not set and" in one_error_line(listed.stderr)


@pytest.mark.parametrize("keys", ["k1:short", "nonsense"])
def test_any_command_refuses_unusable_keys_naming_the_variable(env: dict[str, str], keys: str) -> None:
    refused = oms("order", "list", env=env | {"OMS_PAYLOAD_KEYS": keys})

    assert refused.returncode == 1
    line = one_error_line(refused.stderr)
    assert line.startswith("configuration: OMS_PAYLOAD_KEYS: ")
    assert "short" not in line
