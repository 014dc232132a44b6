"""`/connections`: each connection's supplier, login and state, last and next fetch, and
the one action that fixes a state that needs the person (the reference page's
troubleshooting list, in the bot's words). Owners and admins act on every connection, a
member on their own (core/services/connection_controls.py checks); the others they only
look at. "Update the credentials" and "Reconnect" start core's flows (core/flows)."""

from __future__ import annotations

from datetime import datetime

from aiogram import Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import Cancel, ConnectionAction, ConnectionVerb, owned
from bot.context import Actor, Deps, Replies
from bot.flows import begin
from bot.i18n import Texts
from bot.refusals import refusal
from core.errors import IllegalTransition, NotAllowed
from core.models import Connection, ConnectionState
from core.permissions import Action
from core.services import connection_controls as controls
from core.services.connections import ConnectionView, connection_view, connection_views
from core.services.supplier_sign_in import CONSENT_ERRORS

S = ConnectionState

#: The states that need the person, and the button that fixes each.
FIX: dict[ConnectionState, ConnectionVerb] = {
    S.NEEDS_USER: "fetch",
    S.AUTH_FAILED: "update",
    S.ACTION_REQUIRED: "reconnect",
    S.TEMP_ERROR: "fetch",
    S.DISABLED: "resume",
    S.BROKEN: "reconnect",
}
#: The verbs that open a conversation: core's flow of that name, started on the press.
FLOWS: dict[ConnectionVerb, str] = {"update": "credentials", "reconnect": "reconnect"}
#: A login longer than this is cut on a button (the whole of it is in the list's text).
BUTTON_LOGIN = 32


def _when(value: datetime | None, texts: Texts, empty: str) -> str:
    # In the workspace's time zone and the person's language, as every time in the chat.
    return texts.moment(value, style="short") if value is not None else texts(empty)


def explain(state: ConnectionState, error: str | None = None) -> str | None:
    """The key of the one sentence a state that needs action says, if any."""
    if state == S.AUTH_FAILED and error in CONSENT_ERRORS:
        return f"connections.help_{error}"
    if state in FIX or state in (S.AWAITING_CODE, S.AWAITING_APPROVAL):
        return f"connections.help_{state}"
    return None


def detail(view: ConnectionView, texts: Texts) -> str:
    text = texts(
        "connections.detail",
        supplier=view.supplier,
        login=view.login,
        state=texts(f"connections.state_{view.state}"),
        last=_when(view.last_attempt_at, texts, "common.never"),
        next=_when(view.next_fetch_at, texts, "common.not_planned"),
    )
    key = explain(view.state, view.last_error)
    return f"{text}\n\n{texts(key)}" if key else text


def pick_label(number: int, view: ConnectionView, texts: Texts) -> str:
    """A list's button: two logins at one supplier must be told apart at a glance."""
    login = view.login if len(view.login) <= BUTTON_LOGIN else view.login[: BUTTON_LOGIN - 1] + "…"
    return texts(
        "connections.pick",
        number=number,
        supplier=view.supplier,
        login=login,
        state=texts(f"connections.short_{view.state}"),
    )


def actions(view: ConnectionView, texts: Texts) -> InlineKeyboardMarkup:
    verbs: list[ConnectionVerb] = []
    fix = FIX.get(view.state)
    if fix:
        verbs.append(fix)
    if view.state != S.DISABLED and "fetch" not in verbs:
        verbs.append("fetch")
    if "update" not in verbs:
        verbs.append("update")
    verbs.append("resume" if view.state == S.DISABLED else "pause")
    verbs.append("remove")
    builder = InlineKeyboardBuilder()
    for verb in dict.fromkeys(verbs):
        builder.button(
            text=texts(f"connections.{verb}"),
            callback_data=ConnectionAction(do=verb, id=view.id),
        )
    builder.adjust(1)
    return builder.as_markup()


async def show_all(
    message: Message,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    texts: Texts,
    say: Replies,
) -> None:
    assert actor.workspace is not None
    assert actor.workspace_id is not None
    await state.clear()
    views = await connection_views(session=session, workspace_id=actor.workspace_id)
    if not views:
        say(message.answer(texts("connections.empty")))
        return
    lines = [
        texts(
            "connections.header",
            workspace_line=texts("common.workspace_line", name=actor.workspace.name),
        )
    ]
    builder = InlineKeyboardBuilder()
    for number, view in enumerate(views, start=1):
        lines.append(
            texts(
                "connections.line",
                number=number,
                supplier=view.supplier,
                login=view.login,
                state=texts(f"connections.state_{view.state}"),
                last=_when(view.last_attempt_at, texts, "common.never"),
                next=_when(view.next_fetch_at, texts, "common.not_planned"),
            )
        )
        key = explain(view.state, view.last_error)
        if key:
            lines.append(f"   {texts(key)}")
        builder.button(
            text=pick_label(number, view, texts),
            callback_data=ConnectionAction(do="show", id=view.id),
        )
    builder.adjust(1)
    say(message.answer("\n".join(lines), reply_markup=builder.as_markup()))


async def act(
    query: CallbackQuery,
    callback_data: ConnectionAction,
    actor: Actor,
    session: AsyncSession,
    state: FSMContext,
    deps: Deps,
    callback_answer: CallbackAnswer,
    texts: Texts,
    say: Replies,
) -> None:
    connection = await owned(
        session=session,
        workspace_id=actor.workspace_id,
        kind="connection",
        ident=callback_data.id,
        presser=actor.telegram_user_id,
    )
    if (
        not isinstance(connection, Connection)
        or not isinstance(query.message, Message)
        or actor.member is None
        or actor.workspace_id is None
    ):
        callback_answer.text = texts("common.expired")
        return
    view = await connection_view(
        session=session, workspace_id=actor.workspace_id, connection_id=callback_data.id
    )
    message, verb = query.message, callback_data.do
    if verb == "show":
        allowed = actor.may(Action.MANAGE_CONNECTIONS, resource_owner_id=view.owner_member_id)
        markup = actions(view, texts) if allowed else None
        say(message.answer(detail(view, texts), reply_markup=markup))
        return
    target = controls.Target(actor.member, actor.workspace_id, view.id)
    if verb in FLOWS:
        try:  # a press nobody may act on is refused on the spot, as the other verbs
            await controls.controlled(session=session, target=target)
        except NotAllowed as err:
            callback_answer.text = refusal(err, texts)
            return
        await state.clear()  # one conversation at a time: the flow replaces any other
        await begin(
            FLOWS[verb],
            message=message,
            actor=actor,
            session=session,
            deps=deps,
            texts=texts,
            say=say,
            args={"connection_id": view.id},
        )
        return
    connection_id = view.id

    async def run_now_later() -> None:
        deps.runs.start(connection_id)

    try:
        if verb in ("fetch", "resume"):
            run = controls.resume if verb == "resume" else controls.run_now
            await run(session=session, target=target, interactive_for=controls.INTERACTIVE_FOR)
            if connection.claimed_by is None:  # a run in flight already does it
                say.then(run_now_later)
            key = "connections.resumed" if verb == "resume" else "connections.fetch_requested"
            say(message.answer(texts(key, supplier=view.supplier)))
        elif verb == "pause":
            await controls.pause(session=session, target=target)
            say(message.answer(texts("connections.paused", supplier=view.supplier)))
        elif verb == "remove":
            # Asked only of who may remove it.
            await controls.controlled(session=session, target=target)
            builder = InlineKeyboardBuilder()
            builder.button(
                text=texts("connections.confirm_yes"),
                callback_data=ConnectionAction(do="rm", id=connection_id),
            )
            builder.button(text=texts("common.cancel_button"), callback_data=Cancel())
            builder.adjust(1)
            say(
                message.answer(
                    texts("connections.confirm_remove", supplier=view.supplier),
                    reply_markup=builder.as_markup(),
                )
            )
        elif verb == "rm":
            await controls.remove(session=session, target=target)
            say(message.edit_text(texts("connections.removed", supplier=view.supplier)))
    except NotAllowed as err:
        callback_answer.text = refusal(err, texts)
    except IllegalTransition:  # pressed twice, or the state moved on
        callback_answer.text = texts("common.expired")


def build() -> Router:
    """A fresh router (a router joins one dispatcher only), its handlers in order."""
    router = Router(name="connections")
    router.message.register(show_all, Command("connections"), StateFilter("*"))
    router.callback_query.register(act, ConnectionAction.filter(), StateFilter("*"))
    return router
