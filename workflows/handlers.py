"""An order's Signals and Updates, one of each per command of `domain.commands.COMMANDS`, reading their raw input.

Left to itself the SDK decodes a Signal's input before any handler runs: input that does not fit the payload model
is dropped with a traceback in the worker's log and no trace in the order, and input of more than one value reaches
the handler as extra arguments and fails the workflow task on every retry. These handlers take the input raw and
decode it themselves, so a malformed payload, a refused command and a Signal of no command's name are all noted in
the order's timeline as rejected with the reason, and logged in one line.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.commands import (
        COMMANDS,
        UNKNOWN_SIGNAL_REJECTED,
        Command,
        CommandAccepted,
        CommandPayload,
        MalformedCommand,
        OrderSituation,
        command_rejected,
        readable,
        unknown_signal,
    )

R = TypeVar("R")

# Encodings of a Temporal payload: JSON, and the "no value" a sender gives by leaving the input empty.
JSON = b"json/plain"
NO_VALUE = b"binary/null"


class CommandRefused(Exception):
    """An operator command that is not valid in the order's current state; the message says why."""


class CommandTaker(Protocol):
    """The order as its command handlers see it."""

    @property
    def order_id(self) -> str: ...

    def situation(self) -> OrderSituation:
        """What the refusal rules and replies read of the order now."""
        ...

    def take(self, command: Command, payload: CommandPayload, *, by_update: bool = False) -> None:
        """Take an accepted command in and note it in the timeline, in the name of whoever gave it; `by_update`:
        it came as an Update, which the history holds only once the workflow task that accepts it completes."""
        ...

    def note_rejected(self, event: str, reason: str, by: str | None) -> None:
        """Note a refused Signal in the timeline."""
        ...


def register(order: CommandTaker) -> None:
    """Give the running workflow a Signal and an Update for every command, and a Signal for every other name."""
    for command in COMMANDS:
        workflow.set_signal_handler(command.value, one_input(_signal(order, command)))
        workflow.set_update_handler(
            command.value, one_input(_update(order, command)), validator=one_input(_validator(order, command))
        )
    workflow.set_dynamic_signal_handler(_unknown_signal(order))


def read(command: Command, inputs: tuple[Any, ...]) -> CommandPayload:
    """The command's payload from what the sender gave: nothing, or one JSON value."""
    if len(inputs) > 1:
        raise MalformedCommand(f"input: {command.value} takes one JSON object; {len(inputs)} values were sent")
    data: bytes | None = None
    if inputs:
        raw = inputs[0]
        encoding = raw.payload.metadata.get("encoding", b"") if isinstance(raw, RawValue) else b""
        if encoding == JSON:
            data = raw.payload.data
        elif encoding != NO_VALUE:
            sent = readable(encoding.decode("utf-8", "replace")) or "no encoding"
            raise MalformedCommand(f"input: {command.value} takes a JSON object; it was sent as {sent}")
    payload: CommandPayload = COMMANDS[command].read(data)
    return payload


def _signal(order: CommandTaker, command: Command) -> Callable[..., None]:
    def on_signal(*inputs: Any) -> None:
        try:
            payload = read(command, inputs)
        except MalformedCommand as malformed:
            _reject(order, command_rejected(command.value), str(malformed), None)
            return
        reason = COMMANDS[command].refusal(order.situation(), payload)
        if reason is not None:
            _reject(order, command_rejected(command.value), reason, payload.by)
            return
        order.take(command, payload)

    return on_signal


def _validator(order: CommandTaker, command: Command) -> Callable[..., None]:
    # Runs only when the Update arrives, never on replay; a refusal goes back to the caller and leaves no history.
    def validate(*inputs: Any) -> None:
        try:
            payload = read(command, inputs)
        except MalformedCommand as malformed:
            raise CommandRefused(f"{command.value} refused for order {order.order_id}: {malformed}") from None
        reason = COMMANDS[command].refusal(order.situation(), payload)
        if reason is not None:
            raise CommandRefused(f"{command.value} refused for order {order.order_id}: {reason}")

    return validate


def _update(order: CommandTaker, command: Command) -> Callable[..., CommandAccepted]:
    def on_update(*inputs: Any) -> CommandAccepted:
        try:
            payload = read(command, inputs)
        except MalformedCommand as malformed:
            # The validator let it through, so only an Update accepted by older code can get here, on replay.
            raise ApplicationError(f"{command.value}: {malformed}", non_retryable=True) from None
        order.take(command, payload, by_update=True)
        after = order.situation()
        started = after.view.refunds[-1] if command in (Command.REFUND, Command.CANCEL) else None
        return CommandAccepted(
            order_id=order.order_id,
            command=command,
            status=after.status,
            message=COMMANDS[command].reply(after, payload),
            refund=started,
        )

    return on_update


def _unknown_signal(order: CommandTaker) -> Callable[[str, Sequence[RawValue]], None]:
    # The SDK hands a dynamic handler the Signal's name and its input raw, as many values as were sent.
    def on_unknown(name: str, inputs: Sequence[RawValue]) -> None:
        _reject(order, UNKNOWN_SIGNAL_REJECTED, unknown_signal(name), None)

    return on_unknown


def _reject(order: CommandTaker, event: str, reason: str, by: str | None) -> None:
    order.note_rejected(event, reason, by)
    # One line; the logger stays quiet on replay.
    workflow.logger.warning("order %s: %s: %s", order.order_id, event, reason)


def one_input(handler: Callable[..., R]) -> Callable[..., R]:
    """`handler` as the SDK should see it: one optional raw input.

    The SDK reads a handler's parameters to decode its input: with this signature it hands over one value raw, or
    nothing when none was sent, and, when a sender gave several, all of them (decoded) for `read` to refuse.
    """
    parameter = inspect.Parameter("payload", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=RawValue)
    handler.__signature__ = inspect.Signature([parameter])  # type: ignore[attr-defined]
    handler.__annotations__ = {"payload": RawValue}
    return handler
