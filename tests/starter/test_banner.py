"""`oms up`'s banner says where the console is and how to log in to it."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from settings import Settings
from starter.stack import DEMO_OPERATOR, StackPaths, banner


def settings() -> Settings:
    return Settings(web_port=8123, temporal_ui_port=8234, codec_port=8345)


def test_the_banner_puts_the_console_next_to_temporal_ui() -> None:
    lines = banner(settings(), StackPaths(Path("var")), 0).splitlines()
    console = next(index for index, line in enumerate(lines) if line.strip().startswith("Console "))
    assert lines[console].split() == ["Console", "http://127.0.0.1:8123"]
    assert lines[console + 1].split()[:3] == ["Temporal", "UI", "http://127.0.0.1:8234"]


def test_the_banner_names_the_codec_server_that_decrypts_histories_for_the_ui_and_the_cli() -> None:
    text = banner(settings(), StackPaths(Path("var")), 0)
    assert "Codec server    http://127.0.0.1:8345" in text
    assert "temporal workflow show --codec-endpoint http://127.0.0.1:8345" in text


def test_a_fresh_state_prints_the_demo_operators_password_once() -> None:
    text = banner(settings(), StackPaths(Path("var")), 9, "S2JI8WTT_KSH5jwj")
    assert f"Console login   {DEMO_OPERATOR}  password S2JI8WTT_KSH5jwj" in text
    assert "oms operator add EMAIL" in text
    assert "password" not in banner(settings(), StackPaths(Path("var")), 0)


def test_without_any_operator_the_banner_says_how_to_add_one() -> None:
    text = banner(settings(), StackPaths(Path("var")), 0, no_operator=True)
    assert "nobody can log in yet: `oms operator add EMAIL --role operator`" in text


def test_with_a_codec_token_the_banner_says_the_embedded_ui_shows_payloads_encrypted() -> None:
    guarded = settings().model_copy(update={"codec_token": SecretStr("s3cret")})
    assert "(decrypts through the codec server)" in banner(settings(), StackPaths(Path("var")), 0)
    text = banner(guarded, StackPaths(Path("var")), 0)
    assert "shows payloads encrypted: the codec server wants OMS_CODEC_TOKEN" in text
    assert "s3cret" not in text
