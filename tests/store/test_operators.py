"""Operators log in to the console with email and password; sessions expire; guessing is slowed down, never helped."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher, extract_parameters
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store import operators
from store.operators import (
    PASSWORD_HASHING,
    BadEmail,
    BadPassword,
    LoginRefused,
    LoginThrottled,
    OperatorExists,
    Role,
    UnknownOperator,
)
from store.schema import ConsoleSessionRecord, LoginFailureRecord, OperatorRecord

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ADA = "ada@example.com"
PASSWORD = "correct horse battery"
IDLE = timedelta(minutes=30)
LIFETIME = timedelta(hours=8)

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def ada(sessions: Sessions) -> Sessions:
    """A shop whose one operator is Ada, role operator, added at NOW."""
    await operators.add_operator(sessions, ADA, PASSWORD, Role.OPERATOR, now=NOW)
    return sessions


async def stored(sessions: Sessions, email: str = ADA) -> OperatorRecord:
    async with sessions() as session:
        record = await session.scalar(select(OperatorRecord).where(OperatorRecord.email == email))
    assert record is not None
    return record


async def kept_session(sessions: Sessions) -> list[ConsoleSessionRecord]:
    async with sessions() as session:
        return list(await session.scalars(select(ConsoleSessionRecord).order_by(ConsoleSessionRecord.started_at)))


async def fail_logins(sessions: Sessions, email: str, count: int, at: datetime) -> None:
    """`count` wrong passwords for `email`, all at the moment `at`."""
    for _ in range(count):
        with pytest.raises(LoginRefused):
            await operators.log_in(sessions, email, "not the password", at)


# --- operators ---------------------------------------------------------------------------------------------


async def test_an_added_operator_is_listed_with_their_role_and_no_login_yet(sessions: Sessions) -> None:
    await operators.add_operator(sessions, "Grace@Example.com ", PASSWORD, Role.VIEWER, now=NOW)
    await operators.add_operator(sessions, ADA, PASSWORD, Role.OPERATOR, now=NOW)

    listed = await operators.list_operators(sessions)

    assert [(one.email, one.role, one.active, one.created_at, one.last_login_at) for one in listed] == [
        (ADA, Role.OPERATOR, True, NOW, None),
        ("grace@example.com", Role.VIEWER, True, NOW, None),
    ]
    assert [one.role.may_act for one in listed] == [True, False]


async def test_the_same_email_in_another_spelling_is_refused_as_existing(ada: Sessions) -> None:
    with pytest.raises(OperatorExists) as refused:
        await operators.add_operator(ada, "  ADA@example.COM", "another long password", Role.VIEWER)

    assert str(refused.value) == "operator ada@example.com already exists"
    assert len(await operators.list_operators(ada)) == 1


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("", "email: must not be empty"),
        ("ada.example.com", "email 'ada.example.com': needs exactly one @"),
        ("ada@home@example.com", "email 'ada@home@example.com': needs exactly one @"),
        ("@example.com", "email '@example.com': needs exactly one @ with a name before it"),
        ("ada lovelace@example.com", "email 'ada lovelace@example.com': must not contain spaces, commas"),
        ("ada@example.com,eve@example.com", "email 'ada@example.com,eve@example.com': must not contain spaces"),
        ("ada\x00@example.com", "email 'ada\\x00@example.com': must not contain spaces, commas or control"),
        ("a" * 243 + "@example.com", "email: must be at most 254 characters, got 255"),
    ],
)
async def test_a_bad_email_is_refused_naming_the_problem(sessions: Sessions, email: str, message: str) -> None:
    with pytest.raises(BadEmail) as refused:
        await operators.add_operator(sessions, email, PASSWORD, Role.OPERATOR)

    assert str(refused.value).startswith(message)
    assert await operators.list_operators(sessions) == []


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("eleven char", "password: too short; use at least 12 characters"),
        ("x" * 1025, "password: too long; use at most 1,024 characters"),
        ("twelve chars\n", "password: must not contain control characters"),
    ],
)
async def test_a_password_outside_the_policy_is_refused_without_repeating_it(
    sessions: Sessions, password: str, message: str
) -> None:
    with pytest.raises(BadPassword) as refused:
        await operators.add_operator(sessions, ADA, password, Role.OPERATOR)

    assert str(refused.value).startswith(message)
    assert password.strip() not in str(refused.value)
    assert await operators.list_operators(sessions) == []


async def test_the_longest_allowed_password_is_accepted(sessions: Sessions) -> None:
    await operators.add_operator(sessions, ADA, "é" * 1024, Role.OPERATOR)

    assert (await operators.log_in(sessions, ADA, "é" * 1024, NOW)).email == ADA


async def test_the_password_is_kept_only_as_an_argon2id_hash_at_least_as_strong_as_owasp_asks(ada: Sessions) -> None:
    record = await stored(ada)

    assert PASSWORD not in record.password_hash
    assert record.password_hash.startswith("$argon2id$")
    parameters = extract_parameters(record.password_hash)
    assert parameters == PASSWORD_HASHING
    # OWASP's minimum for Argon2id: 19 MiB of memory, 2 passes, 1 lane.
    assert parameters.memory_cost >= 19 * 1024
    assert parameters.time_cost >= 2


async def test_disabling_or_changing_the_password_of_an_unknown_operator_is_refused(sessions: Sessions) -> None:
    with pytest.raises(UnknownOperator) as disabling:
        await operators.disable_operator(sessions, "nobody@example.com")
    with pytest.raises(UnknownOperator) as changing:
        await operators.change_password(sessions, "nobody@example.com", PASSWORD)

    assert str(disabling.value) == str(changing.value) == "unknown operator nobody@example.com"


# --- logging in ---------------------------------------------------------------------------------------------


async def test_an_operator_logs_in_with_their_password_and_the_login_is_recorded(ada: Sessions) -> None:
    operator = await operators.log_in(ada, " Ada@Example.com", PASSWORD, NOW)

    assert (operator.email, operator.role, operator.last_login_at) == (ADA, Role.OPERATOR, NOW)
    assert (await operators.list_operators(ada))[0].last_login_at == NOW


async def test_wrong_password_unknown_email_and_disabled_operator_are_refused_in_the_same_words(
    ada: Sessions,
) -> None:
    await operators.add_operator(ada, "grace@example.com", PASSWORD, Role.OPERATOR)
    await operators.disable_operator(ada, "grace@example.com", now=NOW)

    refusals = []
    for email, password in [(ADA, "wrong password!"), ("eve@example.com", PASSWORD), ("grace@example.com", PASSWORD)]:
        with pytest.raises(LoginRefused) as refused:
            await operators.log_in(ada, email, password, NOW)
        refusals.append((type(refused.value), str(refused.value)))

    assert refusals == [(LoginRefused, "wrong email or password")] * 3


async def test_an_email_that_is_not_one_is_refused_in_the_same_words(ada: Sessions) -> None:
    with pytest.raises(LoginRefused) as refused:
        await operators.log_in(ada, "ada at example.com", PASSWORD, NOW)

    assert (type(refused.value), str(refused.value)) == (LoginRefused, "wrong email or password")


async def test_after_five_failures_the_next_attempt_must_wait_and_even_the_right_password_is_not_checked(
    ada: Sessions,
) -> None:
    await fail_logins(ada, ADA, 5, NOW)

    with pytest.raises(LoginThrottled) as throttled:
        await operators.log_in(ada, ADA, PASSWORD, NOW + timedelta(milliseconds=500))

    assert throttled.value.retry_after_seconds == 1
    assert str(throttled.value) == "too many failed logins"
    assert (await stored(ada)).last_login_at is None


async def test_once_the_wait_is_over_the_right_password_logs_in(ada: Sessions) -> None:
    await fail_logins(ada, ADA, 5, NOW)

    operator = await operators.log_in(ada, ADA, PASSWORD, NOW + timedelta(seconds=1))

    assert operator.last_login_at == NOW + timedelta(seconds=1)


async def test_the_wait_doubles_with_each_failure_and_never_exceeds_a_minute(ada: Sessions) -> None:
    await fail_logins(ada, ADA, 5, NOW)
    moment = NOW
    waits = []
    for _ in range(9):
        with pytest.raises(LoginThrottled) as throttled:
            await operators.log_in(ada, ADA, PASSWORD, moment)
        waits.append(throttled.value.retry_after_seconds)
        moment += timedelta(seconds=throttled.value.retry_after_seconds)
        await fail_logins(ada, ADA, 1, moment)

    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]


async def test_attempts_while_waiting_do_not_push_the_wait_further_out(ada: Sessions) -> None:
    await fail_logins(ada, ADA, 5, NOW)
    for tenth in range(1, 10):
        with pytest.raises(LoginThrottled):
            await operators.log_in(ada, ADA, "still guessing", NOW + timedelta(seconds=tenth / 10))

    operator = await operators.log_in(ada, ADA, PASSWORD, NOW + timedelta(seconds=1))

    assert operator.email == ADA


async def test_guesses_sent_all_at_once_get_no_more_than_five_checked(ada: Sessions) -> None:
    guesses = [operators.log_in(ada, ADA, f"guess number {number}", NOW) for number in range(10)]

    outcomes = await asyncio.gather(*guesses, return_exceptions=True)

    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["LoginRefused"] * 5 + ["LoginThrottled"] * 5


async def test_an_email_nobody_has_is_throttled_like_a_real_one(ada: Sessions) -> None:
    await fail_logins(ada, "eve@example.com", 5, NOW)

    with pytest.raises(LoginThrottled) as throttled:
        await operators.log_in(ada, "eve@example.com", PASSWORD, NOW)

    assert throttled.value.retry_after_seconds == 1


async def test_failures_of_one_email_do_not_slow_down_another(ada: Sessions) -> None:
    await fail_logins(ada, "eve@example.com", 8, NOW)

    assert (await operators.log_in(ada, ADA, PASSWORD, NOW)).email == ADA


async def test_a_successful_login_starts_the_count_again(ada: Sessions) -> None:
    await fail_logins(ada, ADA, 4, NOW)
    await operators.log_in(ada, ADA, PASSWORD, NOW)

    await fail_logins(ada, ADA, 4, NOW)

    assert (await operators.log_in(ada, ADA, PASSWORD, NOW)).email == ADA
    async with ada() as session:
        assert await session.get(LoginFailureRecord, ADA) is None


async def test_a_hash_made_with_weaker_parameters_is_replaced_at_the_next_login(ada: Sessions) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    async with ada.begin() as session:
        (await session.scalars(select(OperatorRecord))).one().password_hash = weak

    await operators.log_in(ada, ADA, PASSWORD, NOW)

    rehashed = (await stored(ada)).password_hash
    assert rehashed != weak
    assert extract_parameters(rehashed) == PASSWORD_HASHING
    assert (await operators.log_in(ada, ADA, PASSWORD, NOW)).email == ADA


async def test_a_hash_already_strong_enough_is_kept_at_login(ada: Sessions) -> None:
    before = (await stored(ada)).password_hash

    await operators.log_in(ada, ADA, PASSWORD, NOW)

    assert (await stored(ada)).password_hash == before


async def test_every_refusal_is_logged_with_the_email_and_why_but_never_the_password(
    ada: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    await operators.add_operator(ada, "grace@example.com", PASSWORD, Role.OPERATOR)
    await operators.disable_operator(ada, "grace@example.com", now=NOW)
    caplog.set_level(logging.INFO, logger="oms.auth")
    guesses = [
        (ADA, "Secret-Guess-1"),
        ("eve@example.com", "Secret-Guess-2"),
        ("grace@example.com", PASSWORD),
        ("Secret-Guess-3", "typed into the wrong field"),
    ]
    for email, password in guesses:
        with pytest.raises(LoginRefused):
            await operators.log_in(ada, email, password, NOW)
    await fail_logins(ada, ADA, 4, NOW)
    with pytest.raises(LoginThrottled):
        await operators.log_in(ada, ADA, "Secret-Guess-4", NOW)

    refusals = [record.getMessage() for record in caplog.records if record.name == "oms.auth"]
    assert refusals[:4] + refusals[-1:] == [
        "login refused for ada@example.com: wrong password",
        "login refused for eve@example.com: unknown email",
        "login refused for grace@example.com: operator disabled",
        "login refused: not an email address (14 characters)",
        "login refused for ada@example.com: too many failures, still waiting (1 s)",
    ]
    assert len(refusals) == 9
    assert "Secret-Guess" not in caplog.text
    assert PASSWORD not in caplog.text


async def test_a_disabled_operator_cannot_log_in_with_the_right_password(ada: Sessions) -> None:
    disabled = await operators.disable_operator(ada, ADA, now=NOW)

    with pytest.raises(LoginRefused):
        await operators.log_in(ada, ADA, PASSWORD, NOW + timedelta(minutes=1))
    assert (disabled.active, disabled.disabled_at) == (False, NOW)
    assert (await operators.list_operators(ada))[0].active is False


async def test_after_a_password_change_only_the_new_password_logs_in(ada: Sessions) -> None:
    await operators.change_password(ada, ADA, "a brand new passphrase", now=NOW)

    with pytest.raises(LoginRefused):
        await operators.log_in(ada, ADA, PASSWORD, NOW)
    assert (await operators.log_in(ada, ADA, "a brand new passphrase", NOW)).email == ADA


# --- console sessions ---------------------------------------------------------------------------------------


async def test_a_session_is_found_by_its_token_and_each_visit_moves_its_idle_clock(ada: Sessions) -> None:
    started = await operators.start_session(ada, ADA, NOW)

    later = NOW + timedelta(minutes=20)
    found = await operators.find_session(ada, started.token, later, IDLE, LIFETIME)
    again = await operators.find_session(ada, started.token, later + timedelta(minutes=20), IDLE, LIFETIME)

    assert found is not None
    assert again is not None
    assert (found.operator.email, found.csrf_token, found.started_at, found.last_seen_at) == (
        ADA,
        started.csrf_token,
        NOW,
        later,
    )
    assert again.last_seen_at == later + timedelta(minutes=20)


async def test_a_lookup_that_does_not_touch_the_session_leaves_its_idle_clock_alone(ada: Sessions) -> None:
    started = await operators.start_session(ada, ADA, NOW)
    for minutes in (10, 20):
        background = await operators.find_session(
            ada, started.token, NOW + timedelta(minutes=minutes), IDLE, LIFETIME, touch=False
        )
        assert background is not None
        assert background.last_seen_at == NOW

    assert await operators.find_session(ada, started.token, NOW + IDLE, IDLE, LIFETIME, touch=False) is None


async def test_a_session_left_idle_too_long_is_gone_and_recorded_as_ended(ada: Sessions) -> None:
    started = await operators.start_session(ada, ADA, NOW)

    found = await operators.find_session(ada, started.token, NOW + IDLE, IDLE, LIFETIME)

    assert found is None
    assert [record.ended_at for record in await kept_session(ada)] == [NOW + IDLE]
    assert await operators.find_session(ada, started.token, NOW + timedelta(minutes=1), IDLE, LIFETIME) is None


async def test_a_session_in_constant_use_still_ends_after_its_lifetime(ada: Sessions) -> None:
    started = await operators.start_session(ada, ADA, NOW)
    moment = NOW
    while moment + timedelta(minutes=20) < NOW + LIFETIME:
        moment += timedelta(minutes=20)
        assert await operators.find_session(ada, started.token, moment, IDLE, LIFETIME) is not None

    found = await operators.find_session(ada, started.token, NOW + LIFETIME, IDLE, LIFETIME)

    assert found is None
    assert [record.ended_at for record in await kept_session(ada)] == [NOW + LIFETIME]


async def test_logging_out_ends_the_session_on_the_server(ada: Sessions) -> None:
    started = await operators.start_session(ada, ADA, NOW)

    await operators.end_session(ada, started.token, NOW + timedelta(minutes=5))

    assert await operators.find_session(ada, started.token, NOW + timedelta(minutes=6), IDLE, LIFETIME) is None
    assert [record.ended_at for record in await kept_session(ada)] == [NOW + timedelta(minutes=5)]


async def test_a_token_nobody_was_given_finds_no_session(ada: Sessions) -> None:
    await operators.start_session(ada, ADA, NOW)

    assert await operators.find_session(ada, "made-up-token", NOW, IDLE, LIFETIME) is None


async def test_each_login_gets_a_new_token_and_a_new_csrf_token(ada: Sessions) -> None:
    first = await operators.start_session(ada, ADA, NOW)
    second = await operators.start_session(ada, ADA, NOW)

    assert first.token != second.token
    assert first.csrf_token != second.csrf_token
    assert len(first.token) >= 43
    found = await operators.find_session(ada, first.token, NOW, IDLE, LIFETIME)
    assert found is not None
    assert found.csrf_token == first.csrf_token


async def test_the_database_keeps_only_a_hash_of_the_session_token(ada: Sessions) -> None:
    started = await operators.start_session(ada, ADA, NOW)

    [record] = await kept_session(ada)

    assert started.token not in record.token_hash
    assert len(record.token_hash) == 64
    assert await operators.find_session(ada, record.token_hash, NOW, IDLE, LIFETIME) is None


async def test_disabling_an_operator_ends_all_their_sessions(ada: Sessions) -> None:
    first = await operators.start_session(ada, ADA, NOW)
    second = await operators.start_session(ada, ADA, NOW)

    await operators.disable_operator(ada, ADA, now=NOW + timedelta(minutes=1))

    for token in (first.token, second.token):
        assert await operators.find_session(ada, token, NOW + timedelta(minutes=2), IDLE, LIFETIME) is None
    assert [record.ended_at for record in await kept_session(ada)] == [NOW + timedelta(minutes=1)] * 2
    with pytest.raises(LoginRefused):
        await operators.start_session(ada, ADA, NOW + timedelta(minutes=2))


async def test_changing_the_password_ends_all_sessions_of_that_operator_only(ada: Sessions) -> None:
    await operators.add_operator(ada, "grace@example.com", PASSWORD, Role.VIEWER)
    adas = await operators.start_session(ada, ADA, NOW)
    graces = await operators.start_session(ada, "grace@example.com", NOW)

    await operators.change_password(ada, ADA, "a brand new passphrase", now=NOW + timedelta(minutes=1))

    assert await operators.find_session(ada, adas.token, NOW + timedelta(minutes=2), IDLE, LIFETIME) is None
    assert await operators.find_session(ada, graces.token, NOW + timedelta(minutes=2), IDLE, LIFETIME) is not None


# --- the demo operator --------------------------------------------------------------------------------------


async def test_the_first_start_makes_a_demo_operator_whose_password_is_shown_once(sessions: Sessions) -> None:
    password = await operators.ensure_demo_operator(sessions, "demo@example.com")

    assert password is not None
    assert len(password) == 16
    assert password not in (await stored(sessions, "demo@example.com")).password_hash
    operator = await operators.log_in(sessions, "demo@example.com", password, NOW)
    assert operator.role is Role.OPERATOR
    assert await operators.ensure_demo_operator(sessions, "demo@example.com") is None


async def test_no_demo_operator_is_made_when_any_operator_exists(ada: Sessions) -> None:
    await operators.disable_operator(ada, ADA)

    assert await operators.ensure_demo_operator(ada, "demo@example.com") is None
    assert [one.email for one in await operators.list_operators(ada)] == [ADA]
