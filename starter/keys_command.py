"""`oms keys`: the keys that encrypt workflow payloads: make one, rotate the embedded stack's, list them."""

from __future__ import annotations

import os
from datetime import date
from typing import Annotated

import typer

from starter.codec import KeyRing, PayloadKeysInvalid, create_key_file, key_file, new_key
from starter.commandline import fail, load_settings

keys_app = typer.Typer(
    help="Keys that encrypt workflow payloads (OMS_PAYLOAD_KEYS, or the stack's var/payload.keys).",
    no_args_is_help=True,
)

KeyId = Annotated[
    str | None,
    typer.Option("--id", help="The new key's id (letters, digits, '.', '_', '-'); default: k<today>, e.g. k20261130."),
]


@keys_app.command("new")
def new(key_id: KeyId = None) -> None:
    """Print a new random key as `id:base64key`, to add to OMS_PAYLOAD_KEYS; it is stored nowhere."""
    try:
        typer.echo(new_key(key_id or _dated_id()))
    except PayloadKeysInvalid as error:
        fail(str(error))


@keys_app.command("rotate")
def rotate(key_id: KeyId = None) -> None:
    """Add a new key to the stack's var/payload.keys and make it the one new payloads are encrypted with.

    Old keys stay, so every history stays readable. Restart `oms up` (or every worker, console and codec server
    that reads the file) for it to take effect. With OMS_PAYLOAD_KEYS set, rotate there instead (README: Privacy and
    security).
    """
    settings = load_settings()
    if settings.payload_keys is not None:
        fail(
            "OMS_PAYLOAD_KEYS is set, so var/payload.keys is not used: add a key made by `oms keys new` to "
            "OMS_PAYLOAD_KEYS everywhere first, then point OMS_PAYLOAD_KEY_ID at it"
        )
    path = key_file(settings)
    try:
        ring = KeyRing.configured(settings)
        chosen = key_id or _dated_id()
        if ring is not None and chosen in ring.keys:
            fail(f"{path} already holds a key {chosen!r}; choose another --id")
        if ring is None:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            create_key_file(path, chosen)
        else:
            # O_NOFOLLOW: a link planted at the key file's place must not receive the key.
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
            with os.fdopen(descriptor, "a", encoding="ascii") as file:
                file.write(new_key(chosen) + "\n")
    except (PayloadKeysInvalid, OSError) as error:
        fail(str(error))
    if settings.payload_key_id is not None:
        typer.echo(f"added key {chosen!r} to {path}; OMS_PAYLOAD_KEY_ID={settings.payload_key_id} still chooses")
    else:
        typer.echo(f"added key {chosen!r} to {path}; new payloads are encrypted with it after a restart")


@keys_app.command("list")
def list_keys() -> None:
    """List the key ids in force and which one encrypts; never the keys themselves."""
    settings = load_settings()
    try:
        ring = KeyRing.configured(settings)
    except PayloadKeysInvalid as error:
        fail(str(error))
    if ring is None:
        fail(f"no payload keys: OMS_PAYLOAD_KEYS is not set and {key_file(settings)} does not exist")
    source = "OMS_PAYLOAD_KEYS" if settings.payload_keys is not None else str(key_file(settings))
    for key_id in ring.keys:
        typer.echo(f"{key_id}{'  (encrypts)' if key_id == ring.active else ''}")
    typer.echo(f"from {source}")


def _dated_id() -> str:
    return f"k{date.today():%Y%m%d}"
