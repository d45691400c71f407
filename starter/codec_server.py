"""`oms codec-server`: decrypts and encrypts payloads over HTTP for Temporal UI and the `temporal` CLI.

It speaks Temporal's remote codec protocol: POST `/decode` and `/encode` with `{"payloads": [...]}` in protobuf JSON.
Only the configured Temporal UI's origin may call it from a browser, and with OMS_CODEC_TOKEN set every request must
carry `Authorization: Bearer <token>`. It holds the keys, so it listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlsplit

import typer
from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payload, Payloads

from settings import Settings
from starter.codec import KeyRing, PayloadCipher, PayloadKeysInvalid, PayloadUndecodable
from starter.serving import serve_until
from worker import configure_logging, stop_on_signals

log = logging.getLogger("oms.codec")

# A history page the UI decodes at once stays far below this; anything larger is refused before it is read whole.
MAX_BODY_BYTES = 64 * 1024 * 1024


def codec_server(
    host: Annotated[str | None, typer.Option(help="Address to listen on. (default: OMS_CODEC_HOST, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on. (default: OMS_CODEC_PORT, 8234)")] = None,
) -> None:
    """Serve Temporal's remote codec (POST /decode, /encode) until Ctrl-C, for Temporal UI and the temporal CLI.

    Point the UI at it (the dev server's --ui-codec-endpoint, or the UI's codec setting) and the CLI with
    --codec-endpoint. It needs the payload keys (OMS_PAYLOAD_KEYS, or the stack's var/payload.keys); `oms up` runs
    one for you. Only the Temporal UI origin may call it from a browser; set OMS_CODEC_TOKEN to require a token.
    """
    # Imported here: the command plumbing imports the stack launcher, which imports this module.
    from starter.commandline import run

    async def serve_here(settings: Settings) -> None:
        overrides = {"codec_host": host, "codec_port": port}
        await serve_until_stopped(
            settings.model_copy(update={key: value for key, value in overrides.items() if value is not None})
        )

    run(serve_here)


async def serve_until_stopped(settings: Settings) -> None:
    """Serve until SIGINT or SIGTERM."""
    configure_logging(settings)
    stop = asyncio.Event()
    with stop_on_signals(stop):
        await serve(settings, stop)


def create_app(settings: Settings, ring: KeyRing | None = None) -> Starlette:
    """The codec's HTTP app: `ring` or the configured keys, CORS for the Temporal UI origin, the bearer token."""
    ring = ring or KeyRing.configured(settings)
    if ring is None:
        raise PayloadKeysInvalid(
            "the codec server needs the payload keys: set OMS_PAYLOAD_KEYS, or run where the stack's "
            "var/payload.keys is (`oms up` creates it)"
        )
    cipher = PayloadCipher(ring)
    token = settings.codec_token.get_secret_value() if settings.codec_token else None

    async def encode(request: Request) -> Response:
        return await _transform(request, token, cipher.seal)

    async def decode(request: Request) -> Response:
        return await _transform(request, token, cipher.open)

    return Starlette(
        routes=[Route("/encode", encode, methods=["POST"]), Route("/decode", decode, methods=["POST"])],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=[ui_origin(settings)],
                allow_methods=["POST"],
                allow_headers=["Content-Type", "Authorization", "X-Namespace"],
                # The UI may send its own credentials along (its "include cross-origin credentials" switch).
                allow_credentials=True,
                max_age=600,
            )
        ],
    )


def codec_endpoint(settings: Settings) -> str:
    """The codec server's URL as clients on this machine reach it."""
    # A server listening on every address is reached through loopback here.
    host = "127.0.0.1" if settings.codec_host in ("0.0.0.0", "", "::") else settings.codec_host  # noqa: S104
    return f"http://{host}:{settings.codec_port}"


def ui_origin(settings: Settings) -> str:
    """The scheme, host and port of Temporal UI as browsers see it: the one origin allowed to call the codec."""
    parts = urlsplit(settings.temporal_ui)
    return f"{parts.scheme}://{parts.netloc}"


async def _transform(request: Request, token: str | None, each: Callable[[Payload], Payload]) -> Response:
    if token is not None and not _authorised(request, token):
        return _error(401, "missing or wrong bearer token (Authorization: Bearer <OMS_CODEC_TOKEN>)")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
    payloads = Payloads()
    try:
        json_format.Parse(bytes(body), payloads)
    except json_format.ParseError as error:
        return _error(400, f'body is not {{"payloads": [...]}} in protobuf JSON: {error}')
    try:
        result = Payloads(payloads=[each(payload) for payload in payloads.payloads])
    except PayloadUndecodable as error:
        log.warning("codec request refused: %s", error)
        return _error(400, str(error))
    return Response(json_format.MessageToJson(result), media_type="application/json")


def _authorised(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Serve the codec on OMS_CODEC_HOST:OMS_CODEC_PORT until `stop` is set."""
    app = create_app(settings)
    log.info(
        "codec server at http://%s:%d for %s%s",
        settings.codec_host,
        settings.codec_port,
        ui_origin(settings),
        ", bearer token required" if settings.codec_token else "",
    )
    await serve_until(app, stop, host=settings.codec_host, port=settings.codec_port)
