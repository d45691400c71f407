"""Every operator command says who gave it: an email or a name of at most 254 printable characters."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from domain.commands import (
    CommandPayload,
    Complete,
    DeliveryEvent,
    Feedback,
    Packed,
    PaymentReceived,
    Picked,
    Shipped,
    StockArrived,
)
from domain.refund import Cancel, Refund, RefundPaidOut

# Each command with the least it needs besides `by`.
COMMANDS: list[tuple[type[CommandPayload], dict[str, Any]]] = [
    (PaymentReceived, {}),
    (Picked, {}),
    (Packed, {}),
    (Shipped, {"carrier": "DHL", "tracking": "JJD0001"}),
    (Complete, {}),
    (Feedback, {"rating": 5}),
    (DeliveryEvent, {"event": "delivered"}),
    (StockArrived, {"sku": "MUG-ENAMEL"}),
    (Refund, {"reason": "arrived broken"}),
    (Cancel, {"reason": "customer asked"}),
    (RefundPaidOut, {"reference": "SEPA-BACK-1"}),
]
IDS = [command.__name__ for command, _ in COMMANDS]
LONGEST_EMAIL = "a" * 64 + "@" + "b" * 184 + ".shop"


def refusal(command: type[CommandPayload], fields: dict[str, Any], by: str) -> tuple[tuple[int | str, ...], str]:
    """Where and why the command is refused with this `by`."""
    with pytest.raises(ValidationError) as refused:
        command.model_validate({**fields, "by": by})
    [error] = refused.value.errors()
    return error["loc"], error["msg"]


@pytest.mark.parametrize(("command", "fields"), COMMANDS, ids=IDS)
def test_a_command_carries_the_operators_email(command: type[CommandPayload], fields: dict[str, Any]) -> None:
    given = command.model_validate({**fields, "by": "anna@shop.example"})

    assert given.by == "anna@shop.example"


@pytest.mark.parametrize(("command", "fields"), COMMANDS, ids=IDS)
def test_a_command_without_by_is_still_taken(command: type[CommandPayload], fields: dict[str, Any]) -> None:
    given = command.model_validate(fields)

    assert given.by is None


@pytest.mark.parametrize(("command", "fields"), COMMANDS, ids=IDS)
def test_a_control_character_in_by_is_refused_naming_the_field(
    command: type[CommandPayload], fields: dict[str, Any]
) -> None:
    where, why = refusal(command, fields, "anna\n@shop.example")

    assert where == ("by",)
    assert "must not contain control characters (U+000A at position 5)" in why


@pytest.mark.parametrize("character", ["\x00", "\t", "\x1b", "\x7f", "\x85", "\u2028", "\u202e", "\u2066"])
def test_every_kind_of_control_character_is_refused(character: str) -> None:
    where, why = refusal(Picked, {}, f"anna{character}@shop.example")

    assert where == ("by",)
    assert f"U+{ord(character):04X}" in why


@pytest.mark.parametrize(("command", "fields"), COMMANDS, ids=IDS)
def test_the_longest_email_address_fits_and_one_character_more_is_refused(
    command: type[CommandPayload], fields: dict[str, Any]
) -> None:
    assert len(LONGEST_EMAIL) == 254
    assert command.model_validate({**fields, "by": LONGEST_EMAIL}).by == LONGEST_EMAIL

    where, why = refusal(command, fields, LONGEST_EMAIL + "x")

    assert where == ("by",)
    assert "at most 254 characters" in why


def test_a_payload_from_before_the_console_still_decodes() -> None:
    picked = Picked.model_validate_json('{"by": "oms cli"}')
    paid_out = RefundPaidOut.model_validate_json('{"reference": "SEPA-1", "by": "' + "g" * 100 + '"}')
    shipped = Shipped.model_validate_json('{"carrier": "DHL", "tracking": "JJD0001"}')

    assert picked.by == "oms cli"
    assert paid_out.by == "g" * 100
    assert shipped.by is None


def test_spaces_around_a_name_are_trimmed_and_names_in_any_script_are_kept() -> None:
    assert Packed(by="  anna@shop.example ").by == "anna@shop.example"
    assert Packed(by="Zoë Łukasiewicz").by == "Zoë Łukasiewicz"
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # a zero-width non-joiner is part of the spelling
    assert Packed(by=persian).by == persian
