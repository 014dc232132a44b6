"""The base of every conversation: a `Flow` has one method per step.

A step method is named `step_<id>` and takes the person's input, or None when the step is
first shown:

    async def step_login(self, user_input: Input | None = None) -> Step:
        if user_input is None:
            return self.form("login", Field("login"))
        login = str(user_input["login"]).strip()
        if await already_connected(...):
            return self.form("login", Field("login"), error="connection_duplicate")
        self.data["login"] = login
        return await self.step_password()

It validates, keeps what it needs in `self.data` (JSON, never a secret in clear), does
the work through core services, and returns the next step's result, usually by calling
that step with None. It never commits: the manager (core/flows/manager.py) runs it in a
savepoint of the inbound event's transaction and stores the flow's new step and data in
the same transaction, so a step and its effects land together or not at all. A step that
raises a `CourierError` leaves the flow at its last good step, shown again with the
error's key; nothing it did is kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from pydantic import SecretStr
from sqlmodel.ext.asyncio.session import AsyncSession

from core.flows.steps import Abort, Choice, Done, Field, Form, Option, Progress, Text
from core.models import Member
from core.models.base import utcnow
from core.permissions import Action, allows

__all__ = [
    "Actor",
    "Context",
    "Field",
    "Flow",
    "Input",
    "Later",
    "Services",
    "secret_of",
    "step_method",
]

#: The person's input: form values by field name, or {"option": id} for a button.
Input = Mapping[str, Any]
#: Work to start once the step's transaction committed (a connection's first run, a call
#: to outside software). What it returns, if anything, is the outcome the flow waits for:
#: the manager gives it to the flow as input at the step that asked for the work (a
#: `Progress`), in a transaction of its own, and the interface shows the step that follows.
Later = Callable[[], Awaitable[Input | None]]


class Services(Protocol):
    """What flows may reach beyond the database: each interface's runtime provides it.
    Flows ask for a part by name (`context.service("vault")`), so a flow needing a part
    the interface lacks fails at once and clearly, rather than a Protocol growing a
    member for every flow."""

    def get(self, name: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class Actor:
    """Who talks to the flow: a member of `workspace_id`, or (joining) nobody yet."""

    telegram_user_id: int | None
    member: Member | None
    workspace_id: int | None
    #: The person's language, for the rare step that words something stored (a filename).
    language: str = "en"

    def may(self, action: Action, *, resource_owner_id: int | None = None) -> bool:
        return (
            self.member is not None
            and self.workspace_id is not None
            and allows(
                self.member,
                action,
                workspace_id=self.workspace_id,
                resource_owner_id=resource_owner_id,
            )
        )


@dataclass(slots=True)
class Context:
    session: AsyncSession
    actor: Actor
    services: Services
    now: datetime = field(default_factory=utcnow)
    #: Filled by steps, run by the interface after the commit.
    later: list[Later] = field(default_factory=list)

    def service(self, name: str) -> Any:
        part = self.services.get(name)
        if part is None:
            raise LookupError(f"this interface provides no {name!r} to flows")
        return part

    @property
    def member(self) -> Member:
        """The acting member; flows other than joining are only started for members."""
        assert self.actor.member is not None, "a member-only flow was started by a stranger"
        return self.actor.member

    @property
    def workspace_id(self) -> int:
        assert self.actor.workspace_id is not None
        return self.actor.workspace_id


class Flow:
    """One conversation. Subclasses set `name`, `first` (the step it starts at) and write
    `step_<id>` methods; `self.data` is what the flow remembers between steps."""

    name: ClassVar[str]
    #: The first step's id: `step_<first>` is called with the start's arguments as input.
    first: ClassVar[str] = "start"
    #: The action a person must be allowed in the workspace to start this flow.
    requires: ClassVar[Action | None] = None

    def __init__(self, context: Context, data: dict[str, Any] | None = None) -> None:
        self.context = context
        self.data: dict[str, Any] = data if data is not None else {}

    # Results, keyed under `flows.<name>.`: the locale file words them.

    def key(self, suffix: str) -> str:
        return f"flows.{self.name}.{suffix}"

    def text(self, suffix: str, **params: object) -> Text:
        return Text(self.key(suffix), params)

    def error(self, key: str, **params: object) -> Text:
        """A flow's own error (`flows.<name>.error.<key>`)."""
        return Text(self.key(f"error.{key}"), params)

    def option(self, ident: str, label: str | None = None, **params: object) -> Option:
        """A button; its label is `flows.<name>.option.<label or id>`."""
        return Option(ident, self.text(f"option.{label or ident}", **params))

    def form(
        self,
        step_id: str,
        *fields: Field,
        options: tuple[Option, ...] = (),
        error: str | Text | None = None,
        note: Text | None = None,
        details: tuple[Text, ...] = (),
        **params: object,
    ) -> Form:
        return Form(
            self.name,
            step_id,
            self.text(step_id, **params),
            fields or (Field(step_id),),
            options,
            self.error(error) if isinstance(error, str) else error,
            note,
            details,
        )

    def choice(
        self,
        step_id: str,
        options: tuple[Option, ...],
        *,
        error: str | Text | None = None,
        note: Text | None = None,
        columns: int = 1,
        details: tuple[Text, ...] = (),
        **params: object,
    ) -> Choice:
        return Choice(
            self.name,
            step_id,
            self.text(step_id, **params),
            options,
            self.error(error) if isinstance(error, str) else error,
            note,
            columns,
            details,
        )

    def progress(
        self, step_id: str, *, options: tuple[Option, ...] = (), **params: object
    ) -> Progress:
        return Progress(self.name, step_id, self.text(step_id, **params), options)

    def done(
        self,
        result: str,
        *,
        note: Text | None = None,
        details: tuple[Text, ...] = (),
        **params: object,
    ) -> Done:
        return Done(self.name, self.text(result, **params), note, details)

    def abort(self, reason: str | Text, **params: object) -> Abort:
        text = reason if isinstance(reason, Text) else self.text(f"abort.{reason}", **params)
        return Abort(self.name, text)

    def later(self, work: Later) -> None:
        self.context.later.append(work)


def secret_of(user_input: Input, name: str) -> str:
    """A secret field's value in clear, for the step to seal or use at once: the bot
    passes a SecretStr; another interface (a test) may pass plain text."""
    value = user_input.get(name)
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value or "")


def step_method(flow: Flow, step_id: str) -> Callable[[Input | None], Awaitable[Any]]:
    method = getattr(flow, f"step_{step_id}", None)
    if method is None or not callable(method):
        raise LookupError(f"flow {flow.name!r} has no step {step_id!r}")
    return method  # type: ignore[no-any-return]
