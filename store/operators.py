"""Who may use the operator console: operators and their Argon2id password hashes, console sessions, login throttling.

Passwords and session tokens never reach the database in clear: a password is kept as its Argon2id hash, a session
token as its SHA-256 (a token is 256 random bits, so a fast hash is enough and a lookup stays one indexed read).
Failed logins are counted per email, whether an operator has it or not, so throttling says nothing about which
accounts exist. Every moment is passed in (`now`, zone-aware), so expiry and throttling are tested without sleeping.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, ClassVar, NoReturn, cast

from argon2 import Parameters, PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.schema import ConsoleSessionRecord, LoginFailureRecord, OperatorRecord

log = logging.getLogger("oms.auth")

# Argon2id with OWASP's recommended parameters (Password Storage Cheat Sheet, first option): 19 MiB of memory,
# 2 passes, 1 lane, 16-byte salt, 32-byte hash. About 0.1 s a hash on a small server core, so a burst of login
# attempts cannot take a 2-core shop server down the way RFC 9106's 64 MiB / 4-lane profile (0.5 s here) could.
# A hash keeps its own parameters: raising these later still verifies old hashes, and each is rehashed at its
# operator's next login.
PASSWORD_HASHING = Parameters(
    type=Type.ID, version=19, salt_len=16, hash_len=32, time_cost=2, memory_cost=19 * 1024, parallelism=1
)
_hasher = PasswordHasher.from_parameters(PASSWORD_HASHING)

MIN_PASSWORD = 12
# Long enough for any passphrase or password manager, short enough that nobody posts megabytes to be hashed.
MAX_PASSWORD = 1024
MAX_EMAIL = 254

# Failed logins allowed in a row before each further attempt has to wait.
FREE_ATTEMPTS = 5
# The longest wait, so an attacker guessing at an operator's email can hold them off a minute at most.
MAX_LOGIN_DELAY = timedelta(seconds=60)


class Role(StrEnum):
    """What an operator may do in the console."""

    OPERATOR = "operator"
    VIEWER = "viewer"

    @property
    def may_act(self) -> bool:
        """Operators act on orders, stock and imports; viewers only read."""
        return self is Role.OPERATOR


class Refusal(StrEnum):
    """Why a login was refused, for the log only: the person logging in is told the same thing every time."""

    NOT_AN_EMAIL = "not an email address"
    UNKNOWN_EMAIL = "unknown email"
    MISMATCH = "wrong password"
    DISABLED = "operator disabled"
    CHANGED = "operator disabled or password changed while it was checked"
    THROTTLED = "too many failures, still waiting"


@dataclass(frozen=True)
class Operator:
    """A person who may log in to the console, as the console and `oms operator list` show them."""

    email: str
    role: Role
    created_at: datetime
    last_login_at: datetime | None
    disabled_at: datetime | None

    @property
    def active(self) -> bool:
        """Not disabled: may log in."""
        return self.disabled_at is None


@dataclass(frozen=True)
class ConsoleSession:
    """A live console login: the token the browser holds, the CSRF token its forms carry, and who logged in."""

    token: str
    csrf_token: str
    operator: Operator
    started_at: datetime
    last_seen_at: datetime


class BadEmail(ValueError):
    """The text is not an email address an operator can log in with."""


class BadPassword(ValueError):
    """The password does not meet the policy; the message never contains the password."""


class OperatorExists(ValueError):
    """An operator with this email is already there."""

    def __init__(self, email: str) -> None:
        self.email = email
        super().__init__(f"operator {email} already exists")


class UnknownOperator(ValueError):
    """No operator has this email."""

    def __init__(self, email: str) -> None:
        self.email = email
        super().__init__(f"unknown operator {email}")


class LoginRefused(Exception):
    """A login failed; the same words whether the email is unknown, the password wrong or the operator disabled."""

    MESSAGE: ClassVar[str] = "wrong email or password"

    def __init__(self, message: str = MESSAGE) -> None:
        super().__init__(message)


class LoginThrottled(LoginRefused):
    """Too many failed logins for this email in a row: refused unchecked until the wait is over."""

    def __init__(self, retry_after_seconds: int) -> None:
        self.retry_after_seconds = retry_after_seconds
        # Without the wait, which callers word themselves from `retry_after_seconds`.
        super().__init__("too many failed logins")


def normal_email(text: str) -> str:
    """The email stripped and lower-cased, or BadEmail naming what is wrong with it."""
    email = text.strip().lower()
    if not email:
        raise BadEmail("email: must not be empty")
    if len(email) > MAX_EMAIL:
        raise BadEmail(f"email: must be at most {MAX_EMAIL} characters, got {len(email)}")
    if "," in email or any(char.isspace() or unicodedata.category(char).startswith("C") for char in email):
        raise BadEmail(f"email {email!r}: must not contain spaces, commas or control characters")
    name, _, domain = email.partition("@")
    if email.count("@") != 1 or not name or not domain:
        raise BadEmail(f"email {email!r}: needs exactly one @ with a name before it and a domain after it")
    return email


def check_password(text: str) -> str:
    """The password if the policy allows it: 12 to 1,024 characters, no control characters; else BadPassword."""
    if len(text) < MIN_PASSWORD:
        raise BadPassword(f"password: too short; use at least {MIN_PASSWORD} characters")
    if len(text) > MAX_PASSWORD:
        raise BadPassword(f"password: too long; use at most {MAX_PASSWORD:,} characters")
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise BadPassword("password: must not contain control characters (tabs, line breaks and the like)")
    return text


def login_delay(failures: int) -> timedelta:
    """How long an email must wait after its last failed login: nothing for the first five, then 1, 2, 4 … 60 s."""
    if failures < FREE_ATTEMPTS:
        return timedelta(0)
    # The exponent is capped too, so a count grown over months never makes a huge number.
    return min(timedelta(seconds=2 ** min(failures - FREE_ATTEMPTS, 6)), MAX_LOGIN_DELAY)


# --- operators ---------------------------------------------------------------------------------------------


async def add_operator(
    sessions: async_sessionmaker[AsyncSession],
    email: str,
    password: str,
    role: Role,
    *,
    now: datetime | None = None,
) -> Operator:
    """Add an operator who logs in with `email` and `password`; OperatorExists if the email is taken."""
    email = normal_email(email)
    hashed = await _hash(check_password(password))
    record = OperatorRecord(
        email=email, password_hash=hashed, role=Role(role).value, created_at=_moment(now), disabled_at=None
    )
    try:
        async with sessions.begin() as session:
            session.add(record)
    except IntegrityError as error:
        raise OperatorExists(email) from error
    return _operator(record)


async def find_operator(sessions: async_sessionmaker[AsyncSession], email: str) -> Operator | None:
    """The operator with this email, None if there is none."""
    email = normal_email(email)
    async with sessions() as session:
        record = await session.scalar(select(OperatorRecord).where(OperatorRecord.email == email))
    return _operator(record) if record else None


async def list_operators(sessions: async_sessionmaker[AsyncSession]) -> list[Operator]:
    """Every operator, disabled ones too, by email."""
    async with sessions() as session:
        records = await session.scalars(select(OperatorRecord).order_by(OperatorRecord.email))
        return [_operator(record) for record in records]


async def disable_operator(
    sessions: async_sessionmaker[AsyncSession], email: str, *, now: datetime | None = None
) -> Operator:
    """Stop an operator logging in and end their console sessions; disabling twice keeps the first moment."""
    email = normal_email(email)
    moment = _moment(now)
    async with sessions.begin() as session:
        record = await _operator_record(session, email)
        if record.disabled_at is None:
            record.disabled_at = moment
        await _end_sessions_of(session, record.id, moment)
    return _operator(record)


async def change_password(
    sessions: async_sessionmaker[AsyncSession], email: str, password: str, *, now: datetime | None = None
) -> Operator:
    """Give an operator a new password and end their console sessions, so an old login cannot carry on."""
    email = normal_email(email)
    hashed = await _hash(check_password(password))
    async with sessions.begin() as session:
        record = await _operator_record(session, email)
        record.password_hash = hashed
        await _end_sessions_of(session, record.id, _moment(now))
    return _operator(record)


async def ensure_demo_operator(
    sessions: async_sessionmaker[AsyncSession], email: str, *, now: datetime | None = None
) -> str | None:
    """Add `email` as an operator with a random password if there is no operator at all; that password, else None."""
    email = normal_email(email)
    if await _any_operator(sessions):
        return None
    # 12 random bytes are 16 URL-safe characters: above the policy's minimum, short enough to type once.
    password = secrets.token_urlsafe(12)
    hashed = await _hash(password)
    try:
        async with sessions.begin() as session:
            if await session.scalar(select(OperatorRecord.id).limit(1)) is not None:
                return None
            session.add(
                OperatorRecord(email=email, password_hash=hashed, role=Role.OPERATOR.value, created_at=_moment(now))
            )
    except IntegrityError:
        # Another process starting at the same moment added the same operator; its password is the one shown.
        return None
    return password


# --- logging in ---------------------------------------------------------------------------------------------


async def log_in(sessions: async_sessionmaker[AsyncSession], email: str, password: str, now: datetime) -> Operator:
    """The operator if the email and password are right; LoginRefused (or LoginThrottled) otherwise."""
    now = _aware(now)
    try:
        email = normal_email(email)
    except BadEmail:
        # Not the text itself: a password typed into the email field must not end up in the log.
        log.warning("login refused: %s (%d characters)", Refusal.NOT_AN_EMAIL, len(email))
        raise LoginRefused() from None
    try:
        await _count_attempt(sessions, email, now)
    except LoginThrottled as throttled:
        log.warning("login refused for %s: %s (%d s)", email, Refusal.THROTTLED, throttled.retry_after_seconds)
        raise
    async with sessions() as session:
        record = await session.scalar(select(OperatorRecord).where(OperatorRecord.email == email))
    # An unknown email costs a verification too, so the answer's timing does not tell which emails exist.
    right = len(password) <= MAX_PASSWORD and await asyncio.to_thread(
        _verify, record.password_hash if record else None, password
    )
    if record is None:
        _refuse(email, Refusal.UNKNOWN_EMAIL)
    if record.disabled_at is not None:
        _refuse(email, Refusal.DISABLED)
    if not right:
        _refuse(email, Refusal.MISMATCH)
    rehashed = await _hash(password) if _hasher.check_needs_rehash(record.password_hash) else None
    async with sessions.begin() as session:
        # Only if nothing changed while the password was being checked: not disabled, still the hash verified.
        logged_in = await session.execute(
            update(OperatorRecord)
            .where(
                OperatorRecord.id == record.id,
                OperatorRecord.disabled_at.is_(None),
                OperatorRecord.password_hash == record.password_hash,
            )
            .values(last_login_at=now, password_hash=rehashed or record.password_hash)
        )
        if cast(CursorResult[Any], logged_in).rowcount == 0:
            # The counted attempt stays, as for any refusal.
            _refuse(email, Refusal.CHANGED)
        await session.execute(delete(LoginFailureRecord).where(LoginFailureRecord.email == email))
    record.last_login_at = now
    return _operator(record)


async def start_session(
    sessions: async_sessionmaker[AsyncSession], operator_email: str, now: datetime
) -> ConsoleSession:
    """A new console session for a logged-in operator, with a fresh token and CSRF token; LoginRefused if disabled."""
    now = _aware(now)
    email = normal_email(operator_email)
    token = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    async with sessions.begin() as session:
        record = await session.scalar(select(OperatorRecord).where(OperatorRecord.email == email))
        if record is None or record.disabled_at is not None:
            raise LoginRefused()
        session.add(
            ConsoleSessionRecord(
                token_hash=_token_hash(token),
                operator_id=record.id,
                csrf_token=csrf_token,
                started_at=now,
                last_seen_at=now,
            )
        )
    return ConsoleSession(token, csrf_token, _operator(record), started_at=now, last_seen_at=now)


async def find_session(
    sessions: async_sessionmaker[AsyncSession],
    token: str,
    now: datetime,
    idle: timedelta,
    lifetime: timedelta,
    *,
    touch: bool = True,
) -> ConsoleSession | None:
    """The live session holding `token`, None (and the session ended) once idle or lifetime ran out.

    A lookup with `touch` counts as the operator's activity and restarts the idle time; a background refresh
    passes touch=False so a console left open in a tab still times out.
    """
    now = _aware(now)
    async with sessions.begin() as session:
        found = (
            await session.execute(
                select(ConsoleSessionRecord, OperatorRecord)
                .join(OperatorRecord, OperatorRecord.id == ConsoleSessionRecord.operator_id)
                .where(ConsoleSessionRecord.token_hash == _token_hash(token))
            )
        ).one_or_none()
        if found is None:
            return None
        kept, operator = found
        if kept.ended_at is not None:
            return None
        expires_at = min(kept.last_seen_at + idle, kept.started_at + lifetime)
        if operator.disabled_at is not None or now >= expires_at:
            # Recorded as ending when it ran out, not when someone next came by with the token.
            kept.ended_at = min(expires_at, now)
            return None
        if touch:
            kept.last_seen_at = max(kept.last_seen_at, now)
        return ConsoleSession(token, kept.csrf_token, _operator(operator), kept.started_at, kept.last_seen_at)


async def end_session(sessions: async_sessionmaker[AsyncSession], token: str, now: datetime) -> None:
    """Log out: the session holding `token` ends on the server; an unknown or ended token changes nothing."""
    now = _aware(now)
    async with sessions.begin() as session:
        await session.execute(
            update(ConsoleSessionRecord)
            .where(ConsoleSessionRecord.token_hash == _token_hash(token), ConsoleSessionRecord.ended_at.is_(None))
            .values(ended_at=now)
        )


# --- inside -------------------------------------------------------------------------------------------------


def _operator(record: OperatorRecord) -> Operator:
    return Operator(
        email=record.email,
        role=Role(record.role),
        created_at=record.created_at,
        last_login_at=record.last_login_at,
        disabled_at=record.disabled_at,
    )


async def _operator_record(session: AsyncSession, email: str) -> OperatorRecord:
    record = await session.scalar(select(OperatorRecord).where(OperatorRecord.email == email))
    if record is None:
        raise UnknownOperator(email)
    return record


async def _any_operator(sessions: async_sessionmaker[AsyncSession]) -> bool:
    async with sessions() as session:
        return await session.scalar(select(OperatorRecord.id).limit(1)) is not None


async def _end_sessions_of(session: AsyncSession, operator_id: int, now: datetime) -> None:
    await session.execute(
        update(ConsoleSessionRecord)
        .where(ConsoleSessionRecord.operator_id == operator_id, ConsoleSessionRecord.ended_at.is_(None))
        .values(ended_at=now)
    )


async def _count_attempt(sessions: async_sessionmaker[AsyncSession], email: str, now: datetime) -> None:
    """Count a login attempt as failed before its password is checked (success takes it back), or refuse it.

    Counting first means guesses sent in parallel cannot all be checked before the first is counted.
    """
    try:
        await _count_attempt_once(sessions, email, now)
    except IntegrityError:
        # A parallel attempt made this email's row first; count on that row instead.
        await _count_attempt_once(sessions, email, now)


async def _count_attempt_once(sessions: async_sessionmaker[AsyncSession], email: str, now: datetime) -> None:
    async with sessions.begin() as session:
        failed = await session.get(LoginFailureRecord, email, with_for_update=True)
        if failed is None:
            session.add(LoginFailureRecord(email=email, failures=1, last_failure_at=now))
            return
        delay = login_delay(failed.failures)
        # Never more than the delay itself, even if the clock went back since the last failure.
        wait = min(failed.last_failure_at + delay - now, delay)
        if wait > timedelta(0):
            # Not counted: attempts made while waiting must not push the wait further out.
            raise LoginThrottled(math.ceil(wait.total_seconds()))
        failed.failures += 1
        failed.last_failure_at = now


def _refuse(email: str, why: Refusal) -> NoReturn:
    log.warning("login refused for %s: %s", email, why)
    raise LoginRefused()


async def _hash(password: str) -> str:
    # Argon2 spends tens of milliseconds of CPU on purpose; in a thread, the console keeps serving meanwhile.
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _stand_in_hash(), password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _stand_in_hash() -> str:
    """A hash of a random password, verified against when the email is unknown so that takes as long as a known one."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _token_hash(token: str) -> str:
    # surrogatepass: whatever a cookie holds hashes without an error, and distinct texts stay distinct.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _moment(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else _aware(now)


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError(f"now: {now.isoformat()} has no time zone; pass an aware UTC moment")
    return now
