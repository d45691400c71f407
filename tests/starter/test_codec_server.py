"""`oms codec-server` as Temporal UI and the `temporal` CLI call it: decode and encode, only for the UI's origin, behind
a bearer token when one is set."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, Payloads

from settings import Settings
from starter.codec import KeyRing, PayloadCipher, PayloadKeysInvalid, new_key
from starter.codec_server import create_app

UI = "http://127.0.0.1:8233"
RING = KeyRing.parse(new_key("k1"))
PLAIN = {
    "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
    "data": base64.b64encode(b'"Anna"').decode(),
}


def codec(token: str | None = None) -> httpx.AsyncClient:
    """A client of the codec app for a shop whose UI is at `UI`."""
    settings = Settings(temporal_ui_url=UI, codec_token=SecretStr(token) if token else None)
    app = create_app(settings, RING)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec")


async def sealed() -> dict[str, Any]:
    """A payload as a worker with RING stored it."""
    async with codec() as client:
        answer = await client.post("/encode", json={"payloads": [PLAIN]})
    assert answer.status_code == 200
    return dict(answer.json())


async def test_the_ui_decodes_a_sealed_payload() -> None:
    async with codec() as client:
        answer = await client.post("/decode", json=await sealed(), headers={"Origin": UI, "X-Namespace": "default"})

    assert answer.status_code == 200
    assert answer.json() == {"payloads": [PLAIN]}
    assert answer.headers["access-control-allow-origin"] == UI


async def test_encode_seals_under_the_active_key() -> None:
    payloads = (await sealed())["payloads"]

    assert base64.b64decode(payloads[0]["metadata"]["encryption-key-id"]) == b"k1"
    assert b"Anna" not in base64.b64decode(payloads[0]["data"])


async def test_the_browsers_preflight_from_the_ui_origin_is_allowed() -> None:
    async with codec() as client:
        answer = await client.options(
            "/decode",
            headers={
                "Origin": UI,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
            },
        )

    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == UI
    assert "POST" in answer.headers["access-control-allow-methods"]


async def test_a_preflight_from_another_origin_is_refused() -> None:
    async with codec() as client:
        answer = await client.options(
            "/decode", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
        )

    assert answer.status_code == 400
    assert "access-control-allow-origin" not in answer.headers


async def test_with_a_token_set_a_request_without_it_is_refused() -> None:
    payloads = await sealed()
    async with codec(token="s3cret-token") as client:
        missing = await client.post("/decode", json=payloads)
        wrong = await client.post("/decode", json=payloads, headers={"Authorization": "Bearer guess"})
        right = await client.post("/decode", json=payloads, headers={"Authorization": "Bearer s3cret-token"})

    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert "bearer token" in missing.json()["error"]
    assert right.json() == {"payloads": [PLAIN]}


async def test_a_preflight_needs_no_token_as_browsers_send_none() -> None:
    async with codec(token="s3cret-token") as client:
        answer = await client.options(
            "/decode",
            headers={
                "Origin": UI,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )

    assert answer.status_code == 200


@pytest.mark.parametrize("body", [b"not json", b'{"payloads": "x"}', b'{"unknown": []}'])
async def test_a_malformed_body_gets_a_clear_400(body: bytes) -> None:
    async with codec() as client:
        answer = await client.post("/decode", content=body, headers={"Content-Type": "application/json"})

    assert answer.status_code == 400
    assert "protobuf JSON" in answer.json()["error"]


async def test_a_payload_under_an_unknown_key_gets_a_400_naming_the_key() -> None:
    foreign = PayloadCipher(KeyRing.parse(new_key("k7"))).seal(Payload(metadata={"encoding": b"json/plain"}))

    async with codec() as client:
        answer = await client.post("/decode", content=json_format.MessageToJson(Payloads(payloads=[foreign])))

    assert answer.status_code == 400
    assert "key 'k7'" in answer.json()["error"]


def test_the_server_refuses_to_start_without_keys(tmp_path: Path) -> None:
    with pytest.raises(PayloadKeysInvalid, match="needs the payload keys"):
        create_app(Settings(var_dir=tmp_path / "var"))


def test_by_default_the_codec_server_console_temporal_and_metrics_listen_on_this_machine_only() -> None:
    settings = Settings(_env_file=None)

    hosts = (settings.codec_host, settings.web_host, settings.temporal_host, settings.metrics_host)
    assert hosts == ("127.0.0.1",) * 4
