"""The payload codec: what goes into Temporal is sealed under the active key and opens with any key of the ring."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from temporalio.api.common.v1 import Payload

from settings import Settings
from starter.codec import (
    ENCRYPTED,
    KEY_FILE,
    KEY_ID,
    KeyRing,
    PayloadCipher,
    PayloadKeysInvalid,
    PayloadUndecodable,
    create_key_file,
    new_key,
)

CUSTOMER = Payload(metadata={"encoding": b"json/plain"}, data=b'{"name": "Anna Schmidt"}')


def test_a_sealed_payload_hides_its_content_and_opens_to_the_same_payload() -> None:
    cipher = PayloadCipher(KeyRing.parse(new_key("k1")))

    sealed = cipher.seal(CUSTOMER)

    assert sealed.metadata["encoding"] == ENCRYPTED
    assert sealed.metadata[KEY_ID] == b"k1"
    assert b"Anna" not in sealed.SerializeToString()
    assert cipher.open(sealed) == CUSTOMER


def test_sealing_the_same_payload_twice_gives_different_ciphertexts() -> None:
    cipher = PayloadCipher(KeyRing.parse(new_key("k1")))

    assert cipher.seal(CUSTOMER).data != cipher.seal(CUSTOMER).data


async def test_the_codec_encodes_and_decodes_lists_of_payloads_as_temporal_calls_it() -> None:
    cipher = PayloadCipher(KeyRing.parse(new_key("k1")))
    other = Payload(metadata={"encoding": b"binary/null"})

    assert await cipher.decode(await cipher.encode([CUSTOMER, other])) == [CUSTOMER, other]


def test_a_payload_written_before_encryption_passes_through_unchanged() -> None:
    cipher = PayloadCipher(KeyRing.parse(new_key("k1")))

    assert cipher.open(CUSTOMER) == CUSTOMER


def test_a_payload_sealed_with_an_unknown_key_id_is_refused_naming_the_key() -> None:
    sealed = PayloadCipher(KeyRing.parse(new_key("k9"))).seal(CUSTOMER)

    with pytest.raises(PayloadUndecodable, match=r"key 'k9', which is not among the configured keys \(k1\)"):
        PayloadCipher(KeyRing.parse(new_key("k1"))).open(sealed)


def test_an_encrypted_payload_without_any_keys_configured_says_how_to_configure_them() -> None:
    sealed = PayloadCipher(KeyRing.parse(new_key("k1"))).seal(CUSTOMER)

    with pytest.raises(PayloadUndecodable, match="no payload keys are configured: set OMS_PAYLOAD_KEYS"):
        PayloadCipher(None).open(sealed)


def test_tampered_ciphertext_is_refused() -> None:
    cipher = PayloadCipher(KeyRing.parse(new_key("k1")))
    sealed = cipher.seal(CUSTOMER)
    flipped = bytearray(sealed.data)
    flipped[-1] ^= 0x01

    with pytest.raises(PayloadUndecodable, match="failed its integrity check"):
        cipher.open(Payload(metadata=sealed.metadata, data=bytes(flipped)))


def test_a_payload_relabelled_with_another_key_id_is_refused() -> None:
    # Both keys the same bytes: only the authenticated key id tells them apart.
    key = base64.b64encode(os.urandom(32)).decode()
    cipher = PayloadCipher(KeyRing.parse(f"k1:{key},k2:{key}", "k1"))
    sealed = cipher.seal(CUSTOMER)

    relabelled = Payload(metadata={"encoding": ENCRYPTED, KEY_ID: b"k2"}, data=sealed.data)

    with pytest.raises(PayloadUndecodable, match="failed its integrity check"):
        cipher.open(relabelled)


def test_after_rotation_new_payloads_use_the_new_key_and_old_ones_still_open() -> None:
    k1, k2 = new_key("k1"), new_key("k2")
    old = PayloadCipher(KeyRing.parse(k1)).seal(CUSTOMER)

    rotated = PayloadCipher(KeyRing.parse(f"{k1},{k2}"))

    assert rotated.seal(CUSTOMER).metadata[KEY_ID] == b"k2"
    assert rotated.open(old) == CUSTOMER


def test_the_active_key_is_the_one_named_else_the_last_listed() -> None:
    keys = f"{new_key('k1')}\n{new_key('k2')}  # the newest"

    assert KeyRing.parse(keys).active == "k2"
    assert KeyRing.parse(keys, "k1").active == "k1"


@pytest.mark.parametrize(
    ("keys", "active", "problem"),
    [
        ("", None, "holds no key"),
        ("k1", None, "entry 1 is not id:base64key"),
        ("k 1:AAAA", None, "entry 1 is not id:base64key"),
        ("k1:not base64!", None, "key 'k1' is not valid base64"),
        ("k1:" + base64.b64encode(b"short").decode(), None, "key 'k1' is 5 bytes; AES-256 needs 32"),
        (new_key("k1") + "," + new_key("k1"), None, "key id 'k1' appears twice"),
        (new_key("k1"), "k2", "OMS_PAYLOAD_KEY_ID: 'k2' is not one of the keys"),
    ],
)
def test_unusable_keys_are_refused_with_the_problem(keys: str, active: str | None, problem: str) -> None:
    with pytest.raises(PayloadKeysInvalid, match=problem):
        KeyRing.parse(keys, active)


def test_a_refused_key_is_never_echoed() -> None:
    material = base64.b64encode(b"sixteen byte key").decode()

    with pytest.raises(PayloadKeysInvalid) as refused:
        KeyRing.parse(f"k1:{material}")

    assert material not in str(refused.value)


def test_bad_payload_keys_stop_the_settings_naming_the_variable_without_the_key() -> None:
    material = base64.b64encode(b"sixteen byte key").decode()

    with pytest.raises(ValidationError) as refused:
        Settings(payload_keys=SecretStr(f"k1:{material}"))

    assert "OMS_PAYLOAD_KEYS: key 'k1' is 16 bytes" in str(refused.value)
    assert material not in str(refused.value)


def test_the_configured_keys_come_from_the_setting_before_the_key_file(tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.mkdir()
    create_key_file(var / KEY_FILE, "from-file")

    assert KeyRing.configured(Settings(var_dir=var)).active == "from-file"  # type: ignore[union-attr]
    from_setting = Settings(var_dir=var, payload_keys=SecretStr(new_key("from-env")))
    assert KeyRing.configured(from_setting).active == "from-env"  # type: ignore[union-attr]
    assert KeyRing.configured(Settings(var_dir=tmp_path / "elsewhere")) is None


def test_a_new_key_file_is_readable_by_its_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE

    assert create_key_file(path) is True
    first = path.read_text()
    assert create_key_file(path) is False

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == first
    assert KeyRing.parse(first).active == "k1"


def test_a_key_file_is_not_written_through_a_planted_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    (tmp_path / KEY_FILE).symlink_to(victim)

    assert create_key_file(tmp_path / KEY_FILE) is False
    assert victim.read_text() == "untouched"
