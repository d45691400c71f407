"""Workflow payloads encrypted with AES-256-GCM under a ring of named keys, so histories hold no customer data in clear.

Every client and worker encodes with the active key and decodes with any key of the ring, so a rotated-out key keeps
old histories readable. A payload records the id of its key; one encoded with a key the ring lacks, or altered after
encoding, is refused with an error that says which. Payloads written before encryption was switched on carry no key
id and pass through as they are, so histories recorded before it still replay.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

if TYPE_CHECKING:
    from settings import Settings

# The payload's `encoding` once encrypted, and the metadata entry naming its key.
ENCRYPTED = b"binary/encrypted"
KEY_ID = "encryption-key-id"

# Where `oms up` keeps the embedded stack's keys when OMS_PAYLOAD_KEYS is not set.
KEY_FILE = "payload.keys"

KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class PayloadKeysInvalid(ValueError):
    """The configured keys cannot be used; the message names the setting or file and the entry, never key material."""


class PayloadUndecodable(ValueError):
    """An encrypted payload this ring cannot open: its key is unknown, or it was altered."""


@dataclass(frozen=True)
class KeyRing:
    """Named 256-bit keys and the id of the one new payloads are encrypted with."""

    keys: Mapping[str, bytes]
    active: str

    @classmethod
    def parse(cls, text: str, active: str | None = None, *, source: str = "OMS_PAYLOAD_KEYS") -> Self:
        """Read `id:base64key,...` (commas or newlines; `#` starts a comment); the active key defaults to the last."""
        keys: dict[str, bytes] = {}
        entries = [entry.strip() for line in text.splitlines() for entry in line.split("#", 1)[0].split(",")]
        for number, entry in enumerate((entry for entry in entries if entry), start=1):
            key_id, colon, encoded = entry.partition(":")
            key_id = key_id.strip()
            if not colon or not _KEY_ID_PATTERN.fullmatch(key_id):
                raise PayloadKeysInvalid(
                    f"{source}: entry {number} is not id:base64key (an id of letters, digits, '.', '_', '-')"
                )
            if key_id in keys:
                raise PayloadKeysInvalid(f"{source}: key id {key_id!r} appears twice")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except binascii.Error:
                raise PayloadKeysInvalid(f"{source}: key {key_id!r} is not valid base64") from None
            if len(key) != KEY_BYTES:
                raise PayloadKeysInvalid(
                    f"{source}: key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES} "
                    "(make one with `oms keys new`)"
                )
            keys[key_id] = key
        if not keys:
            raise PayloadKeysInvalid(f"{source}: holds no key")
        if active is None:
            active = list(keys)[-1]
        elif active not in keys:
            raise PayloadKeysInvalid(
                f"OMS_PAYLOAD_KEY_ID: {active!r} is not one of the keys in {source} ({_ids(keys)})"
            )
        return cls(keys=keys, active=active)

    @classmethod
    def configured(cls, settings: Settings) -> Self | None:
        """The ring in force: OMS_PAYLOAD_KEYS, else the key file under the var directory, else none."""
        if settings.payload_keys is not None:
            return cls.parse(settings.payload_keys.get_secret_value(), settings.payload_key_id)
        path = key_file(settings)
        try:
            text = path.read_text(encoding="ascii")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            raise PayloadKeysInvalid(f"{path}: cannot read the payload keys: {error}") from None
        return cls.parse(text, settings.payload_key_id, source=str(path))


def key_file(settings: Settings) -> Path:
    """Where the embedded stack's payload keys live."""
    return settings.var_dir / KEY_FILE


def new_key(key_id: str) -> str:
    """A fresh random key as a key-ring entry, `id:base64key`."""
    if not _KEY_ID_PATTERN.fullmatch(key_id):
        raise PayloadKeysInvalid(f"key id {key_id!r}: use letters, digits, '.', '_', '-' (at most 64)")
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode('ascii')}"


def create_key_file(path: Path, key_id: str = "k1") -> bool:
    """Write a key file holding one new key, readable by its owner only; False when one is there already."""
    try:
        # O_EXCL: never overwrite keys that encrypted existing histories; O_NOFOLLOW: never write through a link.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write("# Payload encryption keys of this stack: id:base64key, one a line; the last one encrypts.\n")
        file.write("# Keep every key that ever encrypted a history you still need to read.\n")
        file.write(new_key(key_id) + "\n")
    return True


class PayloadCipher(PayloadCodec):
    """Encrypts every payload with the ring's active key and decrypts with whichever key a payload names."""

    def __init__(self, ring: KeyRing | None) -> None:
        self.ring = ring
        self._ciphers = {key_id: AESGCM(key) for key_id, key in ring.keys.items()} if ring else {}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Each payload sealed whole (metadata included) under the active key; as it is without a ring."""
        return [self.seal(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Each sealed payload opened; payloads that were never sealed pass through."""
        return [self.open(payload) for payload in payloads]

    def seal(self, payload: Payload) -> Payload:
        """`payload` encrypted under the active key."""
        if self.ring is None:
            return payload
        key_id = self.ring.active
        nonce = os.urandom(NONCE_BYTES)
        # The key id is authenticated too, so a payload relabelled with another id is refused, not misread.
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(metadata={"encoding": ENCRYPTED, KEY_ID: key_id.encode()}, data=nonce + sealed)

    def open(self, payload: Payload) -> Payload:
        """`payload` decrypted, if it is encrypted."""
        if payload.metadata.get("encoding") != ENCRYPTED:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode("ascii", "replace")
        if self.ring is None:
            raise PayloadUndecodable(
                f"payload is encrypted with key {key_id!r} but no payload keys are configured: "
                "set OMS_PAYLOAD_KEYS (or run where the stack's var/payload.keys is)"
            )
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadUndecodable(
                f"payload is encrypted with key {key_id!r}, which is not among the configured keys "
                f"({_ids(self.ring.keys)}): add it to OMS_PAYLOAD_KEYS"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, key_id.encode())
        except InvalidTag:
            raise PayloadUndecodable(
                f"payload encrypted with key {key_id!r} failed its integrity check: it was altered, "
                f"or the key configured as {key_id!r} is not the one it was encrypted with"
            ) from None
        return Payload.FromString(plain)


def data_converter(ring: KeyRing | None) -> DataConverter:
    """Pydantic payloads, encrypted with `ring`; failure messages and stack traces encrypted too when there is one."""
    if ring is None:
        return dataclasses.replace(pydantic_data_converter, payload_codec=PayloadCipher(None))
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=PayloadCipher(ring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def _ids(keys: Mapping[str, bytes]) -> str:
    return ", ".join(keys)
