"""Telling a card number (PAN) in a shop's input apart from other digits, so it is refused and never kept."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# Card numbers (ISO/IEC 7812) have 12 to 19 digits; shops and customers write them in groups.
SHORTEST_CARD_NUMBER = 12
LONGEST_CARD_NUMBER = 19

CARD_NUMBERS_REFUSED = (
    "card numbers are not accepted; send the payment provider's token (e.g. tok_visa) with brand and last4"
)

# Digit groups joined by single spaces or dashes: "4242 4242 4242 4242", "4242-4242-4242-4242", "4242424242424242".
_DIGIT_GROUPS = re.compile(r"[0-9]+(?:[ -][0-9]+)*")
_GROUP = re.compile(r"[0-9]+")


def luhn_valid(digits: str) -> bool:
    """The Luhn check every card number passes: from the right, every second digit doubled, the sum ends in 0."""
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_numbers(text: str) -> list[str]:
    """Each card number in `text` as written there: a Luhn-valid run of 12-19 digits, spaces or dashes allowed.

    A run is made of whole digit groups, so a date or a reference written next to a card number
    ("2024-05-01 4242 4242 4242 4242") does not hide it; the longest run from each group is taken.
    """
    found: list[str] = []
    for joined in _DIGIT_GROUPS.finditer(text):
        groups = list(_GROUP.finditer(joined.group()))
        start = 0
        while start < len(groups):
            end = _longest_card_number(groups, start)
            if end is None:
                start += 1
                continue
            found.append(joined.group()[groups[start].start() : groups[end].end()])
            start = end + 1
    return found


def _longest_card_number(groups: list[re.Match[str]], start: int) -> int | None:
    """The last group of the longest card number that starts at group `start`, if one does."""
    for end in range(len(groups) - 1, start - 1, -1):
        digits = "".join(group.group() for group in groups[start : end + 1])
        if SHORTEST_CARD_NUMBER <= len(digits) <= LONGEST_CARD_NUMBER and luhn_valid(digits):
            return end
    return None


def holds_card_number(text: str) -> bool:
    """`text` contains a card number somewhere."""
    return bool(card_numbers(text))


@dataclass(frozen=True)
class CardNumberFound:
    """A field of an incoming payment that carries a card number, and the text in it never to show or keep."""

    field: str
    texts: tuple[str, ...]
    # The legacy `card_number` field: refused whatever it holds, since it is meant to hold a card number.
    card_number_field: bool = False

    @property
    def problem(self) -> str:
        """One line naming the field, without the number."""
        if self.card_number_field:
            return f"{self.field}: {CARD_NUMBERS_REFUSED}"
        return f"{self.field}: holds a card number; {CARD_NUMBERS_REFUSED}"


def card_numbers_in_payment(payment: object, path: str = "payment") -> list[CardNumberFound]:
    """Every field of a payment as a channel sent it (parsed JSON) that carries a card number.

    `card_number` is refused whenever it holds anything; every other value, however deeply nested, is refused
    when it contains a card number. Numbers count as their digits: a card number sent as a JSON number is one.
    """
    found: list[CardNumberFound] = []
    if isinstance(payment, Mapping):
        for key, value in payment.items():
            field = f"{path}.{key}"
            if key == "card_number":
                texts = tuple(_texts(value))
                if texts:
                    found.append(CardNumberFound(field, texts, card_number_field=True))
            else:
                found.extend(card_numbers_in_payment(value, field))
    elif isinstance(payment, list | tuple):
        for index, value in enumerate(payment):
            found.extend(card_numbers_in_payment(value, f"{path}[{index}]"))
    elif payment is not None and not isinstance(payment, bool):
        # Strings, and numbers by their digits (a Decimal from JSON parsed with parse_float=Decimal too).
        numbers = card_numbers(str(payment))
        if numbers:
            found.append(CardNumberFound(path, tuple(numbers)))
    return found


def _texts(value: object) -> list[str]:
    """Every non-blank scalar inside `value`, as text."""
    if value is None or isinstance(value, bool):
        return []
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _texts(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in _texts(item)]
    text = str(value).strip()
    return [text] if text else []
