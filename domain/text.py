"""Text the system accepts from outside: bounded in length, free of control characters, one email address each."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, StringConstraints

# The longest email address there can be (RFC 5321).
EMAIL_LENGTH = 254
# Format characters that reorder how a line reads (bidirectional overrides and isolates): a name containing one can
# display as someone else's in a timeline or an email.
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Line breaks and tabs a paragraph of free text may hold; nothing else of the control characters.
_PARAGRAPH_BREAKS = frozenset("\n\t")


def _refuse(character: str, position: int, hint: str) -> ValueError:
    return ValueError(f"must not contain control characters (U+{ord(character):04X} at position {position}); {hint}")


def one_line(text: str, hint: str = "give it on one line of plain text") -> str:
    """`text` if it holds no control character (CR, LF, NUL, tab ...), line or paragraph separator or bidirectional
    override; ValueError naming the first one and where it is otherwise. For what reaches a header, a file name or
    a table cell."""
    for position, character in enumerate(text, start=1):
        if unicodedata.category(character) in ("Cc", "Zl", "Zp") or character in _BIDI_CONTROLS:
            raise _refuse(character, position, hint)
    return text


def paragraphs(text: str) -> str:
    """`text` with Windows line ends made `\\n`, if it holds no control character but line breaks and tabs."""
    text = text.replace("\r\n", "\n")
    for position, character in enumerate(text, start=1):
        if character in _PARAGRAPH_BREAKS:
            continue
        if unicodedata.category(character) in ("Cc", "Zl", "Zp") or character in _BIDI_CONTROLS:
            raise _refuse(character, position, "only line breaks and tabs may separate the text")
    return text


def email_address(text: str) -> str:
    """Exactly one email address, lower-cased, its domain in ASCII (IDNA) so every mail server and header takes it;
    ValueError saying what is wrong otherwise. Deliverability is the mail server's business, not ours."""
    one_line(text, "give one email address")
    try:
        checked = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise ValueError(f"{text!r} is not a valid email address: {error}") from None
    address = checked.ascii_email or checked.normalized
    return address.lower()


# The checks of a field's text, after its `StringConstraints`: the length is checked first, so a huge value is
# refused without being read through.
ONE_LINE = AfterValidator(one_line)
PARAGRAPHS = AfterValidator(paragraphs)
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=EMAIL_LENGTH), AfterValidator(email_address)]
